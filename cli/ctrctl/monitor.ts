// ctrctl top CONTAINER [ps OPTIONS] and stats --no-stream [CONTAINER...]: what runs in a container and what it
// uses. top asks the task for its pids (Tasks.ListPids) and shows them as the host's ps does, as docker top
// does. stats reads the container's cgroup (v1 or v2) on this host: ctrd's Tasks.Metrics answers with cgroups
// Metrics messages whose protos ctrctl does not have yet.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { failedPrecondition } from '../../lib/errdefs.js';
import { unary } from '../../lib/grpc/client.js';
import { withClients } from './connect.js';
import { findContainer, listContainers, specOf, stateOf, type ContainerInfo } from './container-state.js';
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

const cgroupRoot = '/sys/fs/cgroup';
const isV2 = () => existsSync(join(cgroupRoot, 'cgroup.controllers'));

function readNumber(path: string): number {
  try {
    const v = readFileSync(path, 'utf8').trim();
    return v === 'max' ? Infinity : Number(v) || 0;
  } catch {
    return 0;
  }
}

function readKeyed(path: string): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const [k, v] = line.trim().split(/\s+/);
      if (k && v !== undefined) out.set(k, Number(v));
    }
  } catch {
    // No such controller here: nothing to add.
  }
  return out;
}

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

/** One reading of a container's cgroup (the spec's cgroupsPath) and of its network namespace. */
export function sample(cgroupsPath: string, pid: number): Sample {
  const rel = cgroupsPath.replace(/^\/+/, '');
  const net = netOf(pid);
  let blkRead = 0;
  let blkWrite = 0;
  if (isV2()) {
    const dir = join(cgroupRoot, rel);
    for (const line of (() => {
      try {
        return readFileSync(join(dir, 'io.stat'), 'utf8').split('\n');
      } catch {
        return [];
      }
    })()) {
      blkRead += Number(/rbytes=(\d+)/.exec(line)?.[1] ?? 0);
      blkWrite += Number(/wbytes=(\d+)/.exec(line)?.[1] ?? 0);
    }
    const memStat = readKeyed(join(dir, 'memory.stat'));
    return {
      cpuNs: (readKeyed(join(dir, 'cpu.stat')).get('usage_usec') ?? 0) * 1000,
      at: Date.now(),
      memUsage: Math.max(0, readNumber(join(dir, 'memory.current')) - (memStat.get('inactive_file') ?? 0)),
      memLimit: readNumber(join(dir, 'memory.max')),
      pids: readNumber(join(dir, 'pids.current')),
      blkRead,
      blkWrite,
      netRx: net.rx,
      netTx: net.tx,
    };
  }
  const v1 = (controller: string, file: string) => join(cgroupRoot, controller, rel, file);
  try {
    for (const line of readFileSync(v1('blkio', 'blkio.throttle.io_service_bytes'), 'utf8').split('\n')) {
      const [, op, n] = line.trim().split(/\s+/);
      if (op === 'Read') blkRead += Number(n);
      if (op === 'Write') blkWrite += Number(n);
    }
  } catch {
    // No blkio accounting.
  }
  const memStat = readKeyed(v1('memory', 'memory.stat'));
  return {
    cpuNs: readNumber(v1('cpuacct', 'cpuacct.usage')),
    at: Date.now(),
    memUsage: Math.max(0, readNumber(v1('memory', 'memory.usage_in_bytes')) - (memStat.get('total_inactive_file') ?? 0)),
    memLimit: readNumber(v1('memory', 'memory.limit_in_bytes')),
    pids: readNumber(v1('pids', 'pids.current')),
    blkRead,
    blkWrite,
    netRx: net.rx,
    netTx: net.tx,
  };
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
      const infos = await withClients(command, async (c) => {
        const rc = runtimeClients(c);
        if (inputs.length > 0) return Promise.all(inputs.map((i) => findContainer(rc, i)));
        return (await listContainers(rc)).filter((i) => o.all || stateOf(i).running);
      });
      const paths = infos.map((i) => specOf(i.container).linux?.cgroupsPath ?? '');
      const pids = infos.map((i) => stateOf(i).pid);
      const first = infos.map((_, k) => sample(paths[k]!, pids[k]!));
      // CPU % is a rate: a second reading a moment later, as docker's first streamed line compares two.
      await new Promise((r) => setTimeout(r, 500));
      const rows = infos.map((info, k) => {
        const row = statsRow(info, first[k]!, sample(paths[k]!, pids[k]!));
        if (!o.trunc) row.ID = info.container.id;
        return row;
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
