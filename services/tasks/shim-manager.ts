// Tasks on shim v2 processes (containerd runtime/v2): the bundle, the shim's `start` that prints its ttrpc
// address (or the shared shim of the task's group, shim-groups.ts), the task's lifetime through the shim,
// and the teardown. Shims outlive the daemon: a restarted
// daemon finds them again from their bundles (load). A shim that dies is cleaned up with `<shim> delete`,
// its task reported as exited, and kept as a stopped task until it is deleted.
import fs from 'node:fs';
import path from 'node:path';
import { Any } from '../../gen/google/protobuf/any.js';
import type { Mount } from '../../gen/containerd/types/mount.js';
import { ConnectRequest, ConnectResponse, CreateTaskRequest, CreateTaskResponse, DeleteRequest, type DeleteResponse, StateRequest, StateResponse } from '../../gen/containerd/task/v2/shim.js';
import { TaskDelete, TaskExit } from '../../gen/containerd/events/task.js';
import { Empty } from '../../gen/google/protobuf/empty.js';
import { Status } from '../../gen/containerd/v1/types/task.js';
import { alreadyExists, failedPrecondition, invalidArgument, notFound, wrap } from '../../lib/errdefs.js';
import type { Logger } from '../../lib/log.js';
import { socketPath, TtrpcClient } from '../../lib/ttrpc/client.js';
import { ctrdShimBinary, type RuntimeConfig, type ShimGrouping } from '../../daemon/config.js';
import type { Publisher } from '../events/exchange.js';
import { pack } from '../events/payload.js';
import type { Container } from '../containers/types.js';
import { Bundle, openLogFifo, searchPath, shimDelete, startShim, type ShimCommand } from './bundle.js';
import { Shim, type Exit, type TaskIO } from './shim.js';
import { groupKey, ShimGroups } from './shim-groups.js';

const taskService = 'containerd.task.v2.Task';
/** What containerd reports for a task whose shim died: killed (128 + SIGKILL). */
const deadShimExitStatus = 137;

export interface ShimManagerOptions {
  /** The daemon's state dir; bundles go under `<state>/io.containerd.runtime.v2.task/<ns>/<id>`. */
  state: string;
  /** The daemon's root dir; each bundle's `work` links to `<root>/io.containerd.runtime.v2.task/<ns>/<id>`. */
  root: string;
  /** The daemon's gRPC socket; the shim's events go to `<address>.ttrpc`. */
  grpcAddress: string;
  /** What the shim runs as `<bin> publish ...` for the events it does not forward over ttrpc. */
  publishBinary: string;
  /** Runtime names to shim binaries and their sharing (the config's [runtimes] table). */
  runtimes: Record<string, RuntimeConfig>;
  /** Sets up a task's networking before it is made (the spec it gets) and undoes it once it is deleted. */
  networking?: TaskNetworking;
}

export interface TaskNetworking {
  /** The spec the task is made with; nothing is left behind when it throws. */
  setUp(ns: string, container: Container): Promise<Uint8Array>;
  tearDown(ns: string, id: string): Promise<void>;
}

/** How a runtime's shims are shared, and for how long an emptied one is kept. */
interface Sharing {
  grouping: ShimGrouping;
  idleSeconds: number;
}

const defaultIdleSeconds = 10;

export class ShimManager {
  private readonly shims = new Map<string, Shim>();
  private readonly creating = new Set<string>();
  /** Each task's group key and its runtime's idle time. */
  private readonly groupOf = new Map<string, { key: string; idleSeconds: number }>();
  private readonly groups: ShimGroups;

  constructor(
    private readonly options: ShimManagerOptions,
    private readonly events: Publisher,
    private readonly log: Logger,
  ) {
    this.groups = new ShimGroups(log);
  }

  /** The sharing of a shim binary: its [runtimes] entry, else ctrd's shim shares by namespace, others not at all. */
  private sharing(binary: string): Sharing {
    const entry = Object.values(this.options.runtimes).find((r) => r.shim === binary);
    return {
      grouping: entry?.group ?? (binary === ctrdShimBinary ? 'namespace' : 'container'),
      idleSeconds: entry?.idle_timeout ?? defaultIdleSeconds,
    };
  }

  /** The group a task's shim belongs to; a task alone gets a key of its own. */
  private group(ns: string, id: string, binary: string, spec: Uint8Array): { key: string; idleSeconds: number } {
    const { grouping, idleSeconds } = this.sharing(binary);
    const key = groupKey(grouping, ns, binary, annotationsOf(spec));
    return key === undefined ? { key: `${ns}\0${id}\0alone`, idleSeconds: 0 } : { key, idleSeconds };
  }

  /** Whether the task exists (running or not), for the network sandboxes. */
  has(ns: string, id: string): boolean {
    return this.shims.has(key(ns, id)) || this.creating.has(key(ns, id));
  }

  get(ns: string, id: string): Shim {
    const shim = this.shims.get(key(ns, id));
    if (!shim) throw notFound(`task ${id} not found`);
    return shim;
  }

  list(ns: string): Shim[] {
    return [...this.shims.values()].filter((s) => s.ns === ns);
  }

  private command(binary: string, ns: string, id: string): ShimCommand {
    return { binary, ns, id, grpcAddress: this.options.grpcAddress, publishBinary: this.options.publishBinary };
  }

  /** Bundle, shim, Task.Create; undone as a whole if any step fails. */
  async create(ns: string, container: Container, rootfs: Mount[], io: TaskIO, options: Any | undefined): Promise<{ shim: Shim; pid: number }> {
    const k = key(ns, container.id);
    if (this.shims.has(k) || this.creating.has(k)) throw alreadyExists(`task ${container.id} already exists`);
    if (container.spec.typeUrl === '' || container.spec.value.length === 0) throw invalidArgument(`container ${container.id} has no spec`);
    validateSpec(container.id, container.spec.value);
    const cmd = this.command(resolveShim(container.runtime.name, this.options.runtimes), ns, container.id);
    const group = this.group(ns, container.id, cmd.binary, container.spec.value);
    this.creating.add(k);
    const log = this.log.child({ ns, id: container.id });
    const bundle = Bundle.at(this.options.state, this.options.root, ns, container.id);
    let client: TtrpcClient | undefined;
    let logReader: ReturnType<typeof openLogFifo> | undefined;
    let address = '';
    let shimPid = 0;
    let madeBundle = false;
    let startedShim = false;
    let networked = false;
    try {
      const spec = this.options.networking ? await this.options.networking.setUp(ns, container) : container.spec.value;
      networked = this.options.networking !== undefined;
      bundle.create(spec);
      madeBundle = true;
      logReader = openLogFifo(bundle, log);
      const runtimeOptions = container.runtime.options;
      const startOptions = runtimeOptions ? Buffer.from(Any.encode(runtimeOptions).finish()) : Buffer.alloc(0);
      const acquired = await this.groups.acquire(group.key, () => startShim(cmd, bundle, startOptions));
      address = acquired.address;
      startedShim = acquired.started;
      // `start` wrote the address of the shim it made; a shared shim's is written here, as containerd does for a pod's tasks.
      if (!startedShim) fs.writeFileSync(bundle.file('address'), address);
      fs.writeFileSync(bundle.file('shim-binary-path'), cmd.binary);
      client = await TtrpcClient.connect(address, { namespace: ns });
      shimPid = (await client.unary(taskService, 'Connect', ConnectRequest, ConnectResponse, { id: container.id }, { timeoutMs: 10_000 })).shimPid;
      this.groups.connected(group.key, address, shimPid);
      const created = await client.unary(
        taskService,
        'Create',
        CreateTaskRequest,
        CreateTaskResponse,
        { id: container.id, bundle: bundle.path, rootfs, ...io, checkpoint: '', parentCheckpoint: '', options: options ?? runtimeOptions },
        { timeoutMs: 60_000 },
      );
      const shim = new Shim(ns, container.id, bundle, cmd, address, shimPid, created.pid, io, client, logReader);
      this.groupOf.set(k, group);
      this.adopt(shim);
      log.info({ pid: created.pid, shimPid, shim: cmd.binary, sharedShim: !startedShim }, 'task created');
      return { shim, pid: created.pid };
    } catch (err) {
      // As containerd does: the shim deletes what it made, then goes (unless other tasks keep it); `<shim>
      // delete` cleans what it left of this task.
      if (client) {
        await client.unary(taskService, 'Delete', DeleteRequest, Empty, { id: container.id, execId: '' }, { timeoutMs: 5_000 }).catch(() => undefined);
        await client.close();
      }
      if (address) {
        await this.groups.release(group.key, address, startedShim ? 0 : group.idleSeconds);
        await shimDelete(cmd, bundle).catch((e: unknown) => log.warn({ err: e }, 'shim delete after a failed create'));
      }
      logReader?.destroy();
      if (madeBundle) bundle.remove(log);
      if (networked) await this.options.networking!.tearDown(ns, container.id).catch((e: unknown) => log.error({ err: e }, 'undoing the network of a task that was not made'));
      throw wrap(err, `create task ${container.id}`);
    } finally {
      this.creating.delete(k);
    }
  }

  /** Takes a connected shim in, and watches its connection: a shim that goes unasked died. */
  private adopt(shim: Shim): void {
    const k = key(shim.ns, shim.id);
    this.shims.set(k, shim);
    void shim.lost().then(async (died) => {
      if (died && this.shims.get(k) === shim) await this.cleanupDead(shim, 'its connection was lost');
    });
  }

  /**
   * A shim that is gone: its task is stopped at once (killed, as containerd reports it) and the exit is
   * published; `<shim> delete` then cleans the runtime's state and the rootfs mount it left, and Tasks.Delete
   * waits for that before it removes the task.
   */
  private async cleanupDead(shim: Shim, why: string): Promise<void> {
    const log = this.log.child({ ns: shim.ns, id: shim.id });
    log.warn({ shimPid: shim.shimPid, why }, 'shim died; cleaning up after it');
    const group = this.groupOf.get(key(shim.ns, shim.id));
    if (group) this.groups.forget(group.key, shim.address);
    const exit: Exit = { pid: shim.taskPid, exitStatus: deadShimExitStatus, exitedAt: new Date() };
    const cleaned = (async () => {
      try {
        await shimDelete(shim.command, shim.bundle);
      } catch (err) {
        log.error({ err }, 'shim delete failed');
      }
      if (shim.address) fs.rmSync(socketPath(shim.address), { force: true });
      shim.logReader.destroy();
    })();
    shim.recordDeath(exit, cleaned);
    this.events.publish(shim.ns, '/tasks/exit', pack('containerd.events.TaskExit', TaskExit, { containerId: shim.id, id: shim.id, ...exit }));
    await cleaned;
  }

  /** Task.Delete (refused while the task runs), then the shim goes and the bundle with it. */
  async delete(ns: string, id: string): Promise<DeleteResponse> {
    const shim = this.get(ns, id);
    const state = await shim.state();
    if (state.status === Status.RUNNING || state.status === Status.PAUSED || state.status === Status.PAUSING) {
      throw failedPrecondition(`task ${id} must be stopped before deletion: ${Status[state.status]!.toLowerCase()}`);
    }
    const res = await shim.delete();
    this.shims.delete(key(ns, id));
    const group = this.groupOf.get(key(ns, id));
    this.groupOf.delete(key(ns, id));
    const log = this.log.child({ ns, id });
    if (shim.dead) {
      await shim.cleanedUp;
      this.events.publish(ns, '/tasks/delete', pack('containerd.events.TaskDelete', TaskDelete, { containerId: id, id, pid: res.pid, exitStatus: res.exitStatus, exitedAt: res.exitedAt }));
      shim.bundle.remove(log);
    } else {
      // Renamed away first: should the daemon die before the shim is gone, the task stays deleted.
      const retired = shim.bundle.retire();
      await shim.detach();
      if (group) await this.groups.release(group.key, shim.address, group.idleSeconds);
      retired.remove(log);
    }
    await this.options.networking?.tearDown(ns, id).catch((err: unknown) => log.error({ err }, 'tearing down the network of a deleted task'));
    return res;
  }

  /**
   * After a restart: every bundle in the state dir is a task whose shim may still run. A live shim is
   * connected to again; one that cannot be reached is cleaned up as dead; a bundle whose shim never
   * started (the daemon died while creating it) is removed.
   */
  async load(): Promise<void> {
    const bundles = Bundle.list(this.options.state, this.options.root, this.log);
    await Promise.all(
      bundles.map((b) => this.loadOne(b).catch((err: unknown) => this.log.error({ err, bundle: b.path }, 'cannot load the task of a bundle; leaving it'))),
    );
  }

  private async loadOne(bundle: Bundle): Promise<void> {
    const ns = path.basename(path.dirname(bundle.path));
    const id = path.basename(bundle.path);
    const log = this.log.child({ ns, id });
    const address = bundle.read('address');
    const binary = bundle.read('shim-binary-path');
    if (!address || !binary) {
      log.warn({ bundle: bundle.path }, 'removing the bundle of a task whose shim never started');
      bundle.remove(log);
      return;
    }
    const cmd = this.command(binary, ns, id);
    const logReader = openLogFifo(bundle, log);
    let client: TtrpcClient | undefined;
    try {
      client = await TtrpcClient.connect(address, { namespace: ns, connectTimeoutMs: 2_000 });
      const connected = await client.unary(taskService, 'Connect', ConnectRequest, ConnectResponse, { id }, { timeoutMs: 5_000 });
      const state = await client.unary(taskService, 'State', StateRequest, StateResponse, { id, execId: '' }, { timeoutMs: 5_000 });
      const io = { stdin: state.stdin, stdout: state.stdout, stderr: state.stderr, terminal: state.terminal };
      const group = this.group(ns, id, binary, fs.readFileSync(bundle.file('config.json')));
      this.groups.adopt(group.key, address, connected.shimPid);
      this.groupOf.set(key(ns, id), group);
      this.adopt(new Shim(ns, id, bundle, cmd, address, connected.shimPid, connected.taskPid || state.pid, io, client, logReader));
      log.info({ shimPid: connected.shimPid, pid: state.pid }, 'reconnected to a running shim');
    } catch (err) {
      await client?.close();
      log.warn({ err }, 'cannot reach the shim of a task');
      const pid = Number(bundle.read('init.pid') ?? 0) || 0;
      const shim = new Shim(ns, id, bundle, cmd, address, 0, pid, { stdin: '', stdout: '', stderr: '', terminal: false }, undefined, logReader);
      this.shims.set(key(ns, id), shim);
      await this.cleanupDead(shim, 'it could not be reached after a restart');
    }
  }

  /** The daemon is stopping: shims with tasks keep running, only the connections go; idle shims go. */
  async detachAll(): Promise<void> {
    await Promise.all([...this.shims.values()].map((s) => s.detach()));
    this.shims.clear();
    await this.groups.closeIdle();
  }
}

const key = (ns: string, id: string) => `${ns}/${id}`;

/** The spec's annotations (a task's group may be named there); none when the spec cannot be read. */
function annotationsOf(spec: Uint8Array): Record<string, string> {
  try {
    const a = (JSON.parse(Buffer.from(spec).toString('utf8')) as { annotations?: unknown }).annotations;
    return typeof a === 'object' && a !== null ? (a as Record<string, string>) : {};
  } catch {
    return {};
  }
}

/** The spec must be JSON with a process, as a runtime needs; caught here, before anything is made. */
function validateSpec(id: string, value: Uint8Array): void {
  let spec: unknown;
  try {
    spec = JSON.parse(Buffer.from(value).toString('utf8'));
  } catch (err) {
    throw invalidArgument(`container ${id}: spec is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw invalidArgument(`container ${id}: spec is not a JSON object`);
  const proc = (spec as { process?: unknown }).process;
  if (typeof proc !== 'object' || proc === null) throw invalidArgument(`container ${id}: spec has no process`);
  const args = (proc as { args?: unknown }).args;
  if (!Array.isArray(args) || args.length === 0 || args.some((a) => typeof a !== 'string')) {
    throw invalidArgument(`container ${id}: spec process.args must be a non-empty list of strings`);
  }
}

/**
 * The shim binary for a runtime: an absolute path is that binary (as containerd allows); a name in the
 * [runtimes] table is its shim; any other name follows containerd's rule and is looked up on PATH.
 */
export function resolveShim(runtime: string, table: Record<string, { shim: string }>): string {
  const candidate = runtime.startsWith('/') ? runtime : table[runtime]?.shim;
  if (candidate !== undefined) {
    if (!isExecutable(candidate)) throw notFound(`runtime "${runtime}": shim binary ${candidate} does not exist or is not executable`);
    return candidate;
  }
  const name = shimBinaryName(runtime);
  const found = searchPath.map((dir) => path.join(dir, name)).find(isExecutable);
  if (!found) throw notFound(`runtime "${runtime}" is not known: no shim binary ${name} on PATH and no [runtimes] entry`);
  return found;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** containerd's rule: io.containerd.runc.v2 -> containerd-shim-runc-v2 (the last two dot components). */
export function shimBinaryName(runtime: string): string {
  const parts = runtime.split('.');
  if (parts.length < 2 || parts.some((p) => p === '' || p.includes('/'))) throw invalidArgument(`invalid runtime name "${runtime}"`);
  return `containerd-shim-${parts[parts.length - 2]}-${parts[parts.length - 1]}`;
}
