// ctrctl's container verbs besides run and exec, docker's names, flags and output:
//   ps [-a] [-q] [--no-trunc] [--format T]     start [-a] C...       stop [-t S] C...      restart [-t S] C...
//   kill [-s SIGNAL] C...                      rm [-f] C...           wait C...             pause C...   unpause C...
//   inspect [-f T] C...                        logs [-f] [--tail N] [-t] [--since T] [--until T] C (logs.ts)
//   attach [--detach-keys K] [--no-stdin] C (attach.ts)
// Every C is a name, a full ID or a unique ID prefix. As docker: each one is tried in turn, failures reported,
// and the status is 1 when any failed.
import type { Command } from 'commander';
import { Status } from '../../gen/containerd/v1/types/task.js';
import { failedPrecondition, invalidArgument, isNotFound } from '../../lib/errdefs.js';
import type { Inspector } from './inspect.js';
import { unary } from '../../lib/grpc/client.js';
import { parseReference, familiarString } from '../../lib/registry/reference.js';
import { withClients } from './connect.js';
import { addAttachCommand } from './attach.js';
import { addLogsCommand, logPathOf } from './logs.js';
import {
  findContainer,
  listContainers,
  recordStopByHand,
  specOf,
  stateOf,
  statusText,
  storedConfig,
  type ContainerInfo,
} from './container-state.js';
import { formatArgument, parseFormat, renderFormat, type OutputFormat } from './go-template.js';
import { kill, removeContainer, runAttached, startDetached, stopContainer, waitProcess } from './lifecycle.js';
import { ExitStatus, print, printError } from './output.js';
import { runtimeClients, type RuntimeClients } from './runtime-clients.js';
import { parseSignal, stopTimeoutLabel } from './signals.js';
import { resourcesOf } from './spec.js';
import { compilePsFilters, listsStopped, parsePsFilters } from './ps-filters.js';
import type { Clients } from '../../lib/grpc/client.js';
import { policyOf, restartCountOf, restartLabels, type RestartPolicy } from '../../lib/restart-policy.js';
import { mountsOf } from './mounts.js';
import { createdSince, goTimeString, humanSize } from './units.js';
import { collect } from './flags.js';
import { endpointsByContainer } from './network.js';
import { exposedPorts, hostConfigNetwork, networkOf, networkSettings, portsColumn, psNetworks } from './port.js';
import type { Endpoint } from '../../gen/ctrd/services/networks/v1/networks.js';

/** docker's formatter.Ellipsis. */
function ellipsis(s: string, width: number): string {
  const chars = [...s];
  return chars.length <= width ? s : `${chars.slice(0, width - 1).join('')}…`;
}

function imageShown(info: ContainerInfo): string {
  const stored = storedConfig(info.container)?.Image;
  if (stored) return stored;
  try {
    return familiarString(parseReference(info.container.image));
  } catch {
    return info.container.image;
  }
}

// ---- ps ----

const psHeaders = {
  ID: 'CONTAINER ID',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Ports: 'PORTS',
  State: 'STATE',
  Status: 'STATUS',
  Size: 'SIZE',
  Names: 'NAMES',
  Labels: 'LABELS',
  Mounts: 'MOUNTS',
  Networks: 'NETWORKS',
};

function psRow(info: ContainerInfo, trunc: boolean, now: number): Record<string, string> {
  const c = info.container;
  const state = stateOf(info);
  const args = specOf(c).process?.args ?? [];
  const command = args.join(' ');
  return {
    Command: `"${trunc ? ellipsis(command, 20) : command}"`,
    CreatedAt: c.createdAt ? goTimeString(c.createdAt) : '',
    ID: trunc ? c.id.slice(0, 12) : c.id,
    Image: imageShown(info),
    Labels: Object.keys(c.labels)
      .sort()
      .map((k) => `${k}=${c.labels[k]}`)
      .join(','),
    LocalVolumes: '0',
    Mounts: mountsOf(c)
      .map((m) => (m.Type === 'volume' ? m.Name! : m.Source))
      .filter((s) => s !== '')
      .join(','),
    Names: info.name,
    Networks: '',
    Ports: '',
    RunningFor: createdSince(c.createdAt, now),
    Size: '',
    State: state.status,
    Status: statusText(state, now),
  };
}

interface PsOptions {
  all?: boolean;
  quiet?: boolean;
  trunc: boolean;
  format?: OutputFormat;
  filter: string[];
  size?: boolean;
  last?: string;
  latest?: boolean;
}

/** docker ps -s: the writable layer, and with the image's unpacked size the virtual size. */
async function sizeText(c: Clients, info: ContainerInfo, imageSizes: Map<string, number>): Promise<string> {
  const rc = runtimeClients(c);
  const k = info.container;
  let rw = 0;
  if (k.snapshotKey) rw = (await unary(rc.snapshots, rc.snapshots.usage, { snapshotter: k.snapshotter, key: k.snapshotKey }).catch(() => ({ size: 0 }))).size;
  if (!imageSizes.has(k.image)) {
    const res = await unary(c.ctrdImages, c.ctrdImages.inspect, { reference: k.image }).catch(() => undefined);
    imageSizes.set(k.image, res?.image?.unpackedSize ?? 0);
  }
  return `${humanSize(rw)} (virtual ${humanSize(rw + imageSizes.get(k.image)!)})`;
}

function addPsCommand(program: Command): void {
  program
    .command('ps')
    .description('list containers (running ones; -a for all)')
    .option('-a, --all', 'show all containers (default shows just running)')
    .option('-q, --quiet', 'only display container IDs')
    .option('--no-trunc', "don't truncate output")
    .option('--format <template>', "format output with a Go template ('table ...' for a table, 'json')", formatArgument)
    .option('-f, --filter <filter>', 'filter output: id, name, label, exited, status, ancestor, before, since, network, publish, expose (repeatable)', collect, [])
    .option('-s, --size', 'display total file sizes')
    .option('-n, --last <n>', 'show n last created containers (includes all states)')
    .option('-l, --latest', 'show the latest created container (includes all states)')
    .action(async (o: PsOptions, command: Command) => {
      const filters = parsePsFilters(o.filter);
      const last = o.latest ? 1 : o.last === undefined ? -1 : Number(o.last);
      if (!Number.isInteger(last)) throw invalidArgument(`invalid argument "${o.last}" for "-n, --last": not an integer`);
      const now = Date.now();
      const rows = await withClients(command, async (c) => {
        const all = await listContainers(runtimeClients(c));
        const match = await compilePsFilters(c, filters, all);
        const showAll = o.all || last > 0 || listsStopped(filters);
        let shown = all
          .filter((i) => (showAll || stateOf(i).running) && match(i))
          // Newest first, as docker lists them.
          .sort((a, b) => (b.container.createdAt?.getTime() ?? 0) - (a.container.createdAt?.getTime() ?? 0));
        if (last > 0) shown = shown.slice(0, last);
        const imageSizes = new Map<string, number>();
        const endpoints = await endpointsByContainer(c, shown.filter(isRunning).map((i) => i.container.id));
        const out: Array<Record<string, string>> = [];
        for (const i of shown) {
          const n = networkOf(i.container);
          const ports = portsColumn(n, endpoints.get(i.container.id) ?? []);
          const networks = psNetworks(n, endpoints.get(i.container.id) ?? []);
          out.push({ ...psRow(i, o.trunc, now), Ports: ports, Networks: networks, ...(o.size ? { Size: await sizeText(c, i, imageSizes) } : {}) });
        }
        return out;
      });
      if (o.quiet && !o.format) {
        if (rows.length > 0) print(rows.map((r) => r.ID).join('\n'));
        return;
      }
      const columns = `table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.RunningFor}}\\t{{.Status}}\\t{{.Ports}}\\t{{.Names}}${o.size ? '\\t{{.Size}}' : ''}`;
      const format = o.format ?? parseFormat(columns);
      process.stdout.write(renderFormat(format, rows, psHeaders));
    });
}

// ---- the verbs that act on each container in turn ----

/** Runs fn for each argument, reporting failures as docker does, and fails the verb when one failed. */
async function eachContainer(
  command: Command,
  inputs: readonly string[],
  fn: (rc: RuntimeClients, info: ContainerInfo, input: string, ns: string) => Promise<void>,
): Promise<void> {
  let failed = false;
  await withClients(command, async (c, flags) => {
    const rc = runtimeClients(c);
    for (const input of inputs) {
      try {
        await fn(rc, await findContainer(rc, input), input, flags.namespace);
      } catch (err) {
        if (err instanceof ExitStatus) throw err;
        printError(err);
        failed = true;
      }
    }
  });
  if (failed) throw new ExitStatus(1);
}

const isRunning = (info: ContainerInfo) => stateOf(info).running;

function addStartCommand(program: Command): void {
  program
    .command('start')
    .description('start one or more stopped containers')
    .argument('<container...>', 'names or IDs')
    .option('-a, --attach', "attach stdout/stderr and forward the container's exit status")
    .option('-i, --interactive', "attach the container's STDIN")
    .option('--detach-keys <keys>', 'override the key sequence for detaching a container (default ctrl-p,ctrl-q)')
    .action(async (inputs: string[], o: { attach?: boolean; interactive?: boolean; detachKeys?: string }, command: Command) => {
      if ((o.attach || o.interactive) && inputs.length > 1) throw failedPrecondition('you cannot start and attach multiple containers at once');
      let code = 0;
      await eachContainer(command, inputs, async (rc, info, input) => {
        if (o.attach || o.interactive) {
          const tty = Boolean(specOf(info.container).process?.terminal);
          const res = await runAttached(rc, info, { stdin: Boolean(o.interactive), tty, detachKeys: o.detachKeys ?? '', closeStdinOnEnd: true, sigProxy: true });
          if (res !== 'detached') code = res;
          return;
        }
        if (!isRunning(info)) await startDetached(rc, info);
        print(input);
      });
      if (code !== 0) throw new ExitStatus(code);
    });
}

function parseTimeout(v: string): number {
  if (!/^-?\d+$/.test(v)) throw invalidArgument(`invalid timeout "${v}": a whole number of seconds`);
  const n = Number(v);
  // docker: -1 waits for ever; ctrctl caps that at a day.
  return n < 0 ? 86_400 : n;
}

/** -t as given, else the container's --stop-timeout, else docker's 10 seconds. */
function timeoutOf(flag: number | undefined, info: ContainerInfo): number {
  if (flag !== undefined) return flag;
  const own = info.container.labels[stopTimeoutLabel];
  return own !== undefined && /^-?\d+$/.test(own) ? parseTimeout(own) : 10;
}

function addStopCommands(program: Command): void {
  program
    .command('stop')
    .description('stop one or more running containers: the stop signal, then SIGKILL after the timeout')
    .argument('<container...>', 'names or IDs')
    .option('-t, --time <seconds>', "seconds to wait before killing the container (default: its --stop-timeout, or 10)")
    .option('-s, --signal <signal>', 'signal to send (default: the image stop signal, or SIGTERM)')
    .action(async (inputs: string[], o: { time?: string; signal?: string }, command: Command) => {
      const timeout = o.time === undefined ? undefined : parseTimeout(o.time);
      const signal = o.signal === undefined ? undefined : parseSignal(o.signal);
      await eachContainer(command, inputs, async (rc, info, input) => {
        await stopContainer(rc, info, timeoutOf(timeout, info), signal);
        print(input);
      });
    });
  program
    .command('restart')
    .description('restart one or more containers')
    .argument('<container...>', 'names or IDs')
    .option('-t, --time <seconds>', "seconds to wait before killing the container (default: its --stop-timeout, or 10)")
    .action(async (inputs: string[], o: { time?: string }, command: Command) => {
      const timeout = o.time === undefined ? undefined : parseTimeout(o.time);
      await eachContainer(command, inputs, async (rc, info, input) => {
        await stopContainer(rc, info, timeoutOf(timeout, info));
        await startDetached(rc, { ...info, task: undefined });
        print(input);
      });
    });
  program
    .command('kill')
    .description('kill one or more running containers')
    .argument('<container...>', 'names or IDs')
    .option('-s, --signal <signal>', 'signal to send to the container', 'KILL')
    .action(async (inputs: string[], o: { signal: string }, command: Command) => {
      const signal = parseSignal(o.signal);
      await eachContainer(command, inputs, async (rc, info, input) => {
        if (!isRunning(info)) throw failedPrecondition(`Cannot kill container: ${input}: Container ${info.container.id} is not running`);
        // As docker: a container killed by hand is not brought back by its restart policy.
        if (info.container.labels[restartLabels.policy]) await recordStopByHand(rc, info.container.id);
        await kill(rc, info.container.id, signal);
        print(input);
      });
    });
}

function addRemoveCommand(program: Command): void {
  program
    .command('rm')
    .description('remove one or more containers')
    .argument('<container...>', 'names or IDs')
    .option('-f, --force', 'force the removal of a running container (uses SIGKILL)')
    .option('-v, --volumes', 'remove the anonymous volumes associated with the container')
    .action(async (inputs: string[], o: { force?: boolean; volumes?: boolean }, command: Command) => {
      await eachContainer(command, inputs, async (rc, info, input) => {
        await removeContainer(rc, info, Boolean(o.force), Boolean(o.volumes));
        print(input);
      });
    });
}

function addWaitCommand(program: Command): void {
  program
    .command('wait')
    .description("block until one or more containers stop, then print their exit codes")
    .argument('<container...>', 'names or IDs')
    .action(async (inputs: string[], _o: unknown, command: Command) => {
      await eachContainer(command, inputs, async (rc, info) => {
        if (!info.task) {
          print(String(stateOf(info).exitCode));
          return;
        }
        const res = await waitProcess(rc, info.container.id);
        print(String(res?.exitStatus ?? 0));
      });
    });
}

function addPauseCommands(program: Command): void {
  program
    .command('pause')
    .description('pause all processes within one or more containers')
    .argument('<container...>', 'names or IDs')
    .action(async (inputs: string[], _o: unknown, command: Command) => {
      await eachContainer(command, inputs, async (rc, info, input) => {
        const s = stateOf(info);
        if (!s.running) throw failedPrecondition(`container ${info.container.id} is not running`);
        if (s.paused) throw failedPrecondition(`container ${info.container.id} is already paused`);
        await unary(rc.tasks, rc.tasks.pause, { containerId: info.container.id });
        print(input);
      });
    });
  program
    .command('unpause')
    .description('unpause all processes within one or more containers')
    .argument('<container...>', 'names or IDs')
    .action(async (inputs: string[], _o: unknown, command: Command) => {
      await eachContainer(command, inputs, async (rc, info, input) => {
        if (info.task?.status !== Status.PAUSED) throw failedPrecondition(`container ${info.container.id} is not paused`);
        await unary(rc.tasks, rc.tasks.resume, { containerId: info.container.id });
        print(input);
      });
    });
}

// ---- inspect ----

/** docker's zero time, for times that are not set. */
const zeroTime = '0001-01-01T00:00:00Z';

function restartPolicyObject(labels: Record<string, string>): { Name: string; MaximumRetryCount: number } {
  let p: RestartPolicy;
  try {
    p = policyOf(labels);
  } catch {
    p = { name: 'no' };
  }
  return { Name: p.name, MaximumRetryCount: p.name === 'on-failure' ? p.maxRetries : 0 };
}

/** What inspect shows of a container's networking beyond its record: its endpoints, its networks' IDs, linked names. */
export interface NetworkView {
  endpoints: Endpoint[];
  networkIds: Map<string, string>;
  names: Map<string, string>;
}

async function networkView(c: Clients, info: ContainerInfo): Promise<NetworkView> {
  const rc = runtimeClients(c);
  const n = networkOf(info.container);
  const endpoints = info.task ? ((await endpointsByContainer(c, [info.container.id])).get(info.container.id) ?? []) : [];
  const networkIds = new Map<string, string>();
  for (const a of n?.mode === 'networks' ? n.networks : []) {
    if (endpoints.some((e) => e.network === a.name)) continue;
    const got = await unary(rc.networks, rc.networks.get, { name: a.name }).catch(() => undefined);
    if (got?.network) networkIds.set(a.name, got.network.id);
  }
  const names = new Map<string, string>();
  if ((n?.links.length ?? 0) > 0) for (const i of await listContainers(rc)) names.set(i.container.id, i.name);
  return { endpoints, networkIds, names };
}

export function inspectObject(info: ContainerInfo, net: NetworkView = { endpoints: [], networkIds: new Map(), names: new Map() }): Record<string, unknown> {
  const c = info.container;
  const spec = specOf(c);
  const state = stateOf(info);
  const stored = storedConfig(c);
  const args = spec.process?.args ?? [];
  const user = spec.process?.user;
  const resources = resourcesOf(spec);
  return {
    Id: c.id,
    Created: c.createdAt?.toISOString() ?? zeroTime,
    Path: args[0] ?? '',
    Args: args.slice(1),
    State: {
      Status: state.status,
      Running: state.running,
      Paused: state.paused,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: state.pid,
      ExitCode: state.exitCode,
      Error: '',
      StartedAt: state.startedAt?.toISOString() ?? zeroTime,
      FinishedAt: state.finishedAt?.toISOString() ?? zeroTime,
    },
    Image: c.image,
    Name: `/${info.name}`,
    RestartCount: restartCountOf(c.labels),
    Driver: c.snapshotter,
    Platform: 'linux',
    HostConfig: {
      Memory: resources.Memory,
      NanoCpus: resources.NanoCpus,
      CpusetCpus: resources.CpusetCpus,
      PidsLimit: resources.PidsLimit,
      Runtime: c.runtime?.name ?? '',
      CgroupParent: '',
      RestartPolicy: restartPolicyObject(c.labels),
      ...hostConfigNetwork(c, net.names, info.name),
    },
    Config: {
      Hostname: spec.hostname ?? '',
      User: user ? `${user.uid}:${user.gid}` : '',
      Tty: Boolean(spec.process?.terminal),
      Env: spec.process?.env ?? [],
      Cmd: stored?.Cmd ?? args,
      Image: stored?.Image ?? c.image,
      WorkingDir: spec.process?.cwd ?? '',
      Entrypoint: stored ? (stored.Entrypoint.length > 0 ? stored.Entrypoint : null) : null,
      Labels: c.labels,
      StopSignal: c.labels['io.containerd.image.config.stop-signal'] ?? '',
      ExposedPorts: exposedPorts(c),
    },
    NetworkSettings: networkSettings(c, net.endpoints, net.networkIds),
    LogPath: logPathOf(c.labels),
    Mounts: mountsOf(c, spec),
    Spec: spec,
  };
}

/** Containers for docker's inspect: by name, full ID or unique ID prefix; undefined when there is none. */
export const containerInspector: Inspector = {
  type: 'container',
  async find(c, input) {
    try {
      const info = await findContainer(runtimeClients(c), input);
      return inspectObject(info, await networkView(c, info));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  },
};

export function addContainerCommands(program: Command): void {
  addPsCommand(program);
  addStartCommand(program);
  addStopCommands(program);
  addRemoveCommand(program);
  addWaitCommand(program);
  addPauseCommands(program);
  addLogsCommand(program);
  addAttachCommand(program);
}
