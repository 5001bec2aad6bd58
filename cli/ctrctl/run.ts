// ctrctl run and create, docker's flags:
//   run [-d] [-i] [-t] [--rm] [--name N] [-e K=V]... [-w DIR] [-u USER[:GROUP]] [--hostname H] [-m 64m] [--cpus 0.5]
//       [--cpuset-cpus 0-1] [--pids-limit N] [--privileged] [--cap-add CAP]... [--cap-drop CAP]...
//       [--security-opt OPT]... [--read-only] [--sysctl K=V]... [--ulimit NAME=SOFT[:HARD]]...
//       [--network N]... [--network-alias A]... [-p SPEC]... [-P] [--expose P]... [--dns IP]... [--dns-search D]...
//       [--dns-option O]... [--add-host H:IP]... [--link C[:ALIAS]]...
//       [--entrypoint E] [--restart POLICY] [--runtime NAME|/abs/shim] [--snapshotter S] IMAGE [CMD...]
//   create (the same, without -d and --rm)
// Exit status as docker run's: the container's, or 125 when ctrctl could not run it.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Option, type Command } from 'commander';
import { errorMessage } from './output.js';
import { connect, globalFlags } from './connect.js';
import { createContainer, defaultRuntime, defaultSnapshotter, validateHostname, type CreateFlags } from './container-create.js';
import { containerName } from './names.js';
import { deleteTask, removeContainer, runAttached, startDetached, statusOfStartError } from './lifecycle.js';
import { parseLogOpts } from './logs.js';
import { ExitStatus, print } from './output.js';
import { runtimeClients, type RuntimeClients } from './runtime-clients.js';
import type { ContainerInfo } from './container-state.js';
import { parseResources, parseSecurity, parseSysctls, parseUlimits } from './spec.js';
import { isAbsolute } from 'node:path';
import { invalidArgument } from '../../lib/errdefs.js';
import { parseNetworkFlags, type NetworkFlagValues } from './network-flags.js';
import { publishAllLabel } from './port.js';
import { boundingCapabilities } from '../../lib/oci/capabilities.js';
import { parseRestartPolicy } from '../../lib/restart-policy.js';
import { parseSignal, stopSignalLabel, stopTimeoutLabel } from './signals.js';
import { checkBindSources, parseMountFlags } from './mounts.js';
import { collect, keyValue } from './flags.js';

/** docker run's status for its own failures (the container never ran). */
export const runFailure = 125;

/** run/create's flags: the networking ones are network-flags.ts's. */
interface RunOptions extends NetworkFlagValues {
  detach?: boolean;
  interactive?: boolean;
  tty?: boolean;
  rm?: boolean;
  name?: string;
  env: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  memory?: string;
  cpus?: string;
  cpusetCpus?: string;
  pidsLimit?: string;
  privileged?: boolean;
  capAdd: string[];
  capDrop: string[];
  securityOpt: string[];
  readOnly?: boolean;
  sysctl: string[];
  ulimit: string[];
  entrypoint?: string;
  runtime: string;
  snapshotter: string;
  logOpt: string[];
  detachKeys?: string;
  restart: string;
  label: string[];
  stopSignal?: string;
  stopTimeout?: string;
  volume: string[];
  mount: string[];
  tmpfs: string[];
  volumesFrom: string[];
}


function addCreateOptions(cmd: Command): Command {
  return cmd
    .argument('<image>', 'the image: a name or an ID')
    .argument('[command...]', 'the command and its arguments (instead of the image Cmd)')
    .option('--name <name>', 'assign a name to the container')
    .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', collect, [])
    .option('-l, --label <KEY=VALUE>', 'set metadata on the container (repeatable)', collect, [])
    .option('-p, --publish <[IP:][HOST_PORT:]PORT[/PROTO]>', "publish a container's port to the host (repeatable)", collect, [])
    .option('--net, --network <network>', 'connect the container to a network: NAME, bridge, none, host or container:NAME|ID (repeatable)', collect, [])
    .option('--alias, --network-alias <alias>', 'add a network-scoped alias for the container (repeatable)', collect, [])
    .option('-P, --publish-all', 'publish all exposed ports to ephemeral host ports')
    .option('--expose <port[-port][/proto]>', 'expose a port or a range of ports (repeatable)', collect, [])
    .option('--dns <ip>', 'set custom DNS servers (repeatable)', collect, [])
    .option('--dns-search <domain>', 'set custom DNS search domains (repeatable)', collect, [])
    .option('--dns-option <option>', 'set DNS options (repeatable)', collect, [])
    .option('--add-host <host:ip>', 'add a custom host-to-IP mapping (repeatable)', collect, [])
    .option('--link <name[:alias]>', 'add a link to another container (repeatable)', collect, [])
    .option('--stop-signal <signal>', 'signal to stop the container (default: the image STOPSIGNAL, or SIGTERM)')
    .option('--stop-timeout <seconds>', 'seconds to wait for the stop signal before SIGKILL (default 10)')
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user>', 'username or UID (format: <name|uid>[:<group|gid>])')
    .option('-i, --interactive', 'keep STDIN open and pass it to the container')
    .option('-t, --tty', 'allocate a pseudo-TTY')
    .option('--hostname <name>', 'container host name')
    .option('-m, --memory <bytes>', 'memory limit (e.g. 64m, 1g)')
    .option('--cpus <number>', 'number of CPUs (e.g. 0.5)')
    .option('--cpuset-cpus <list>', 'CPUs in which to allow execution (0-3, 0,1)')
    .option('--pids-limit <n>', 'tune container pids limit (-1 for unlimited)')
    .option('--privileged', 'give extended privileges to this container (all capabilities and devices, no seccomp)')
    .option('--cap-add <cap>', 'add a Linux capability (repeatable; ALL for all)', collect, [])
    .option('--cap-drop <cap>', 'drop a Linux capability (repeatable; ALL for all)', collect, [])
    .option('--security-opt <opt>', 'security options: seccomp=unconfined|<profile.json>, no-new-privileges, systempaths=unconfined (repeatable)', collect, [])
    .option('--read-only', "mount the container's root filesystem as read only")
    .option('--sysctl <KEY=VALUE>', 'set a namespaced kernel parameter (net.*, fs.mqueue.*, kernel IPC; repeatable)', collect, [])
    .option('--ulimit <NAME=SOFT[:HARD]>', 'set a resource limit (e.g. nofile=1024:2048; repeatable)', collect, [])
    .option('--entrypoint <cmd>', 'overwrite the default ENTRYPOINT of the image')
    .option('--restart <policy>', 'restart policy when the container exits: no, on-failure[:max-retries], always, unless-stopped', 'no')
    .option('--runtime <name>', 'runtime to use: a name (io.containerd.runc.v2) or a shim path', defaultRuntime)
    .addOption(new Option('--snapshotter <name>', 'snapshotter for the container rootfs').default(defaultSnapshotter))
    .option('--log-opt <opt>', 'log driver options: max-size=10m, max-file=3 (repeatable; default: the daemon\'s [logs])', collect, [])
    .option('-v, --volume <spec>', 'bind mount a volume: NAME:/path[:ro], /host/path:/path[:ro], or /path for an anonymous one (repeatable)', collect, [])
    .option('--mount <spec>', 'attach a filesystem mount: type=bind|volume|tmpfs,source=...,target=...[,readonly] (repeatable)', collect, [])
    .option('--tmpfs <path[:options]>', 'mount a tmpfs directory (repeatable)', collect, [])
    .option('--volumes-from <container[:ro|rw]>', "mount the volumes of the specified container (repeatable)", collect, [])
    .passThroughOptions();
}

/** Every flag checked, before anything is asked of ctrd. */
function createFlags(o: RunOptions): CreateFlags {
  const resources = parseResources({ memory: o.memory, cpus: o.cpus, cpusetCpus: o.cpusetCpus, pidsLimit: o.pidsLimit }, availableParallelism());
  if (o.workdir !== undefined && !isAbsolute(o.workdir)) {
    throw invalidArgument(`the working directory '${o.workdir}' is invalid, it needs to be an absolute path`);
  }
  if (o.runtime === '') throw invalidArgument('--runtime must not be empty');
  const network = parseNetworkFlags(o);
  const security = parseSecurity(
    { privileged: o.privileged, capAdd: o.capAdd, capDrop: o.capDrop, securityOpt: o.securityOpt, readOnly: o.readOnly },
    // The shim that runs the container is on this host, with the bounding set ctrctl has (as containerd's client assumes).
    { readProfile: (path) => readFileSync(path, 'utf8'), capabilities: boundingCapabilities(readFileSync('/proc/self/status', 'utf8')) },
  );
  const mounts = parseMountFlags({ volume: o.volume, mount: o.mount, tmpfs: o.tmpfs, volumesFrom: o.volumesFrom });
  checkBindSources(mounts.mounts);
  return {
    mounts,
    network,
    name: o.name,
    env: o.env,
    workdir: o.workdir,
    user: o.user,
    hostname: o.hostname === undefined ? undefined : validateHostname(o.hostname),
    entrypoint: o.entrypoint,
    runtime: o.runtime,
    snapshotter: o.snapshotter,
    tty: Boolean(o.tty),
    resources,
    security,
    sysctls: parseSysctls(o.sysctl),
    ulimits: parseUlimits(o.ulimit),
    openStdin: Boolean(o.interactive),
    log: parseLogOpts(o.logOpt),
    restart: parseRestartPolicy(o.restart),
    labels: { ...parseLabels(o.label), ...stopLabels(o.stopSignal, o.stopTimeout), ...(o.publishAll ? { [publishAllLabel]: 'true' } : {}) },
  };
}

/** --label K=V or K (an empty value); ctrd's and containerd's own label prefixes are not the person's to set. */
function parseLabels(flags: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of flags) {
    const [key, value] = keyValue('label', f);
    if (key.startsWith('io.ctrd/') || key.startsWith('containerd.io/')) throw invalidArgument(`invalid label '${f}': the prefix of ${key} is reserved`);
    out[key] = value;
  }
  return out;
}

/** --stop-signal and --stop-timeout, checked and kept in the container's labels for stop and restart. */
function stopLabels(signal: string | undefined, timeout: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (signal !== undefined) {
    parseSignal(signal);
    out[stopSignalLabel] = signal;
  }
  if (timeout !== undefined) {
    if (!/^-?\d+$/.test(timeout)) throw invalidArgument(`invalid argument "${timeout}" for "--stop-timeout": a whole number of seconds`);
    out[stopTimeoutLabel] = timeout;
  }
  return out;
}

/**
 * A container whose task could not start stays, as docker's does (Created, to inspect and remove), with no
 * task left; with --rm it goes.
 */
async function afterFailedStart(rc: RuntimeClients, info: ContainerInfo, rm: boolean): Promise<void> {
  if (rm) await removeContainer(rc, info, true, true).catch(() => undefined);
  else await deleteTask(rc, info.container.id, false).catch(() => undefined);
}

/** docker's "docker: <message>." for its own failures, then status 125. */
function failRun(err: unknown, status = runFailure): never {
  if (err instanceof ExitStatus) throw err;
  process.stderr.write(`ctrctl: ${errorMessage(err)}\n`);
  throw new ExitStatus(status);
}

async function runCommand(image: string, args: string[], o: RunOptions, command: Command, start: boolean): Promise<void> {
  let flags: CreateFlags;
  try {
    if (o.detach && o.rm) throw invalidArgument('--rm with -d is not supported by ctrctl yet (nothing would remove the container when it exits)');
    flags = createFlags(o);
    if (o.rm && flags.restart.name !== 'no') throw invalidArgument('conflicting options: cannot specify both --restart and --rm');
  } catch (err) {
    failRun(err);
  }
  const g = globalFlags(command);
  let c;
  try {
    c = await connect(g);
  } catch (err) {
    failRun(err);
  }
  let code = 0;
  try {
    const rc = runtimeClients(c);
    let created;
    try {
      created = await createContainer(c, (lease) => runtimeClients(c, lease || undefined), image, args, flags);
    } catch (err) {
      failRun(err);
    }
    const info = { container: created.container, task: undefined, name: containerName(created.container) };
    if (!start) {
      print(info.container.id);
      return;
    }
    if (o.detach) {
      try {
        await startDetached(rc, info);
      } catch (err) {
        await afterFailedStart(rc, info, Boolean(o.rm));
        failRun(err, statusOfStartError(err, runFailure));
      }
      print(info.container.id);
      return;
    }
    try {
      const res = await runAttached(rc, info, {
        stdin: Boolean(o.interactive),
        tty: Boolean(o.tty),
        detachKeys: o.detachKeys ?? '',
        closeStdinOnEnd: true,
        sigProxy: true,
      });
      // Detached with the detach keys: the container runs on, and nothing is printed.
      if (res === 'detached') return;
      code = res;
    } catch (err) {
      await afterFailedStart(rc, info, Boolean(o.rm));
      failRun(err, statusOfStartError(err, runFailure));
    }
    if (o.rm) await removeContainer(rc, info, true, true);
  } finally {
    c.close();
  }
  if (code !== 0) throw new ExitStatus(code);
}

export function addRunCommands(program: Command): void {
  addCreateOptions(program.command('run').description('create and run a new container from an image'))
    .option('-d, --detach', 'run the container in the background and print its ID')
    .option('--rm', 'automatically remove the container when it exits')
    .option('--detach-keys <keys>', 'override the key sequence for detaching a container (default ctrl-p,ctrl-q)')
    .action((image: string, args: string[], o: RunOptions, command: Command) => runCommand(image, args, o, command, true));
  addCreateOptions(program.command('create').description('create a new container'))
    .action((image: string, args: string[], o: RunOptions, command: Command) => runCommand(image, args, o, command, false));
}
