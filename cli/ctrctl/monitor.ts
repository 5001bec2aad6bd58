// ctrctl top CONTAINER [ps OPTIONS] and stats --no-stream [CONTAINER...]: what runs in a container and what it
// uses. top asks the task for its pids (Tasks.ListPids) and shows them as the host's ps does, as docker top
// does. stats takes two readings of Tasks.Metrics (containerd's cgroups v1 or v2 Metrics, as the shim reports
// them) half a second apart, for the CPU rate; network counters come from the container's /proc/PID/net/dev.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { failedPrecondition } from '../../lib/errdefs.js';
import type { Any } from '../../gen/google/protobuf/any.js';
import { Metrics as V1Metrics } from '../../gen/io/containerd/cgroups/v1/metrics.js';
import { Metrics as V2Metrics } from '../../gen/io/containerd/cgroups/v2/metrics.js';
import { unary } from '../../lib/grpc/client.js';
import { withClients } from './connect.js';
import { findContainer, listContainers, stateOf, type ContainerInfo } from './container-state.js';
import { formatArgument, parseFormat, renderFormat, type OutputFormat } from './go-template.js';
import { print } from './output.js';
import { runtimeClients } from './runtime-clients.js';
import { goFormatG, humanSize } from './units.js';

const execFileP = promisify(execFile);

// ---- top ----

/** docker's top: ps's header, and the rows whose PID is one of the container's. */
export function filterPs(output: string, pids: ReadonlySet<number>): string[] {
  const lines = output.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0] ?? '';
  const pidColumn = header.trim().split(/\s+/).indexOf('PID');
  if (pidColumn < 0) throw failedPrecondition(`couldn't find PID field in ps output`);
  const rows = lines.slice(1).filter((l) => pids.has(Number(l.trim().split(/\s+/)[pidColumn])));
  return [header, ...rows];
}

function addTopCommand(program: Command): void {
  program
    .command('top')
    .description('display the running processes of a container')
    .argument('<container>', 'name or ID')
    .argument('[ps-options...]', 'options for ps (default -ef)')
    .passThroughOptions()
    .action(async (input: string, psArgs: string[], _o: unknown, command: Command) => {
      const pids = await withClients(command, async (c) => {
        const rc = runtimeClients(c);
        const info = await findContainer(rc, input);
        if (!stateOf(info).running) throw failedPrecondition(`container ${info.container.id} is not running`);
        const { processes } = await unary(rc.tasks, rc.tasks.listPids, { containerId: info.container.id });
        return new Set(processes.map((p) => p.pid));
      });
      const { stdout } = await execFileP('ps', psArgs.length > 0 ? psArgs : ['-ef'], { maxBuffer: 64 * 1024 * 1024 });
      print(filterPs(stdout, pids).join('\n'));
    });
}

// ---- stats ----

interface Sample {
  cpuNs: number;
  at: number;
  memUsage: number;
  memLimit: number;
  pids: number;
  blkRead: number;
  blkWrite: number;
  netRx: number;
  netTx: number;
}

/** The container's network namespace, read through its pid (cgroup metrics carry no network counters). */
function netOf(pid: number): { rx: number; tx: number } {
  let rx = 0;
  let tx = 0;
  try {
    for (const line of readFileSync(`/proc/${pid}/net/dev`, 'utf8').split('\n').slice(2)) {
      const [name, rest] = line.split(':');
      if (!rest || name!.trim() === 'lo') continue;
      const f = rest.trim().split(/\s+/).map(Number);
      rx += f[0] ?? 0;
      tx += f[8] ?? 0;
    }
  } catch {
    // The process is gone.
  }
  return { rx, tx };
}

/** One reading: the task's cgroup metrics from Tasks.Metrics (cgroups v1 or v2, as the shim reports them). */
export function sample(metric: Any | undefined, pid: number, at = Date.now()): Sample {
  const net = netOf(pid);
  const base = { at, netRx: net.rx, netTx: net.tx };
  // uint64 counters come as bigint; numbers are exact enough for a display.
  const n = (v: bigint | undefined) => Number(v ?? 0n);
  if (metric?.typeUrl === 'io.containerd.cgroups.v2.Metrics') {
    const m = V2Metrics.decode(metric.value);
    const io = m.io?.usage ?? [];
    return {
      ...base,
      cpuNs: n(m.cpu?.usageUsec) * 1000,
      memUsage: Math.max(0, n(m.memory?.usage) - n(m.memory?.inactiveFile)),
      memLimit: n(m.memory?.usageLimit) || Infinity,
      pids: n(m.pids?.current),
      blkRead: io.reduce((sum, e) => sum + Number(e.rbytes), 0),
      blkWrite: io.reduce((sum, e) => sum + Number(e.wbytes), 0),
    };
  }
  if (metric?.typeUrl === 'io.containerd.cgroups.v1.Metrics') {
    const m = V1Metrics.decode(metric.value);
    const io = m.blkio?.ioServiceBytesRecursive ?? [];
    const bytes = (op: string) => io.filter((e) => e.op === op).reduce((sum, e) => sum + Number(e.value), 0);
    return {
      ...base,
      cpuNs: n(m.cpu?.usage?.total),
      memUsage: Math.max(0, n(m.memory?.usage?.usage) - n(m.memory?.totalInactiveFile)),
      memLimit: n(m.memory?.usage?.limit) || Infinity,
      pids: n(m.pids?.current),
      blkRead: bytes('Read'),
      blkWrite: bytes('Write'),
    };
  }
  return { ...base, cpuNs: 0, memUsage: 0, memLimit: Infinity, pids: 0, blkRead: 0, blkWrite: 0 };
}

const binaryUnits = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** go-units BytesSize: "%.4g" of binary units. */
export function bytesSize(n: number): string {
  let size = n;
  let unit = 0;
  while (size >= 1024 && unit < binaryUnits.length - 1) {
    size /= 1024;
    unit++;
  }
  return `${goFormatG(size, 4)}${binaryUnits[unit]}`;
}

const statsHeaders = {
  Container: 'CONTAINER',
  ID: 'CONTAINER ID',
  Name: 'NAME',
  CPUPerc: 'CPU %',
  MemUsage: 'MEM USAGE / LIMIT',
  MemPerc: 'MEM %',
  NetIO: 'NET I/O',
  BlockIO: 'BLOCK I/O',
  PIDs: 'PIDS',
};

export function statsRow(info: ContainerInfo, first: Sample, second: Sample): Record<string, string> {
  const wall = (second.at - first.at) * 1e6;
  const cpu = wall > 0 ? ((second.cpuNs - first.cpuNs) / wall) * 100 : 0;
  const limit = Number.isFinite(second.memLimit) && second.memLimit > 0 && second.memLimit < totalmem() ? second.memLimit : totalmem();
  return {
    BlockIO: `${humanSize(second.blkRead, 3)} / ${humanSize(second.blkWrite, 3)}`,
    CPUPerc: `${Math.max(0, cpu).toFixed(2)}%`,
    Container: info.container.id.slice(0, 12),
    ID: info.container.id.slice(0, 12),
    MemPerc: `${((second.memUsage / limit) * 100).toFixed(2)}%`,
    MemUsage: `${bytesSize(second.memUsage)} / ${bytesSize(limit)}`,
    Name: info.name,
    NetIO: `${humanSize(second.netRx, 3)} / ${humanSize(second.netTx, 3)}`,
    PIDs: String(second.pids),
  };
}

function addStatsCommand(program: Command): void {
  program
    .command('stats')
    .description('display a snapshot of containers resource usage (running ones, or those named)')
    .argument('[container...]', 'names or IDs')
    .option('-a, --all', 'show all containers (default shows just running)')
    .option('--no-stream', 'print one reading and exit (the only mode of ctrctl)')
    .option('--no-trunc', "don't truncate output")
    .option('--format <template>', 'format output with a Go template', formatArgument)
    .action(async (inputs: string[], o: { all?: boolean; trunc: boolean; format?: OutputFormat }, command: Command) => {
      const rows = await withClients(command, async (c) => {
        const rc = runtimeClients(c);
        const infos = inputs.length > 0 ? await Promise.all(inputs.map((i) => findContainer(rc, i))) : (await listContainers(rc)).filter((i) => o.all || stateOf(i).running);
        const read = async () => {
          const running = infos.filter((i) => stateOf(i).running).map((i) => `id==${i.container.id}`);
          const { metrics } = running.length ? await unary(c.tasks, c.tasks.metrics, { filters: running }) : { metrics: [] };
          const byId = new Map(metrics.map((m) => [m.id, m.data]));
          return infos.map((i) => sample(byId.get(i.container.id), stateOf(i).pid));
        };
        const first = await read();
        // CPU % is a rate: a second reading a moment later, as docker's first streamed line compares two.
        await new Promise((r) => setTimeout(r, 500));
        const second = await read();
        return infos.map((info, k) => {
          const row = statsRow(info, first[k]!, second[k]!);
          if (!o.trunc) row.ID = info.container.id;
          return row;
        });
      });
      const format =
        o.format ?? parseFormat('table {{.ID}}\\t{{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}\\t{{.MemPerc}}\\t{{.NetIO}}\\t{{.BlockIO}}\\t{{.PIDs}}');
      process.stdout.write(renderFormat(format, rows, statsHeaders));
    });
}

export function addMonitorCommands(program: Command): void {
  addTopCommand(program);
  addStatsCommand(program);
}
