// containerd.task.v2.Task for one container: the init process and its exec processes, each with its state
// machine (process-state.ts), its stdio (stdio.ts) and its exit (reaper.ts), over a Backend that drives
// the runtime. Events go out in containerd's order: create -> start -> exit -> delete, exec-added ->
// exec-started -> exit; an exit waits for its start to be published.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  TaskCreate,
  TaskDelete,
  TaskExecAdded,
  TaskExecStarted,
  TaskExit,
  TaskOOM,
  TaskPaused,
  TaskResumed,
  TaskStart,
} from '../gen/containerd/events/task.js';
import { Options as RuncOptions, ProcessDetails } from '../gen/containerd/runc/v1/oci.js';
import type { Any } from '../gen/google/protobuf/any.js';
import type { Mount } from '../gen/containerd/types/mount.js';
import { Status, type ProcessInfo } from '../gen/containerd/v1/types/task.js';
import type {
  CloseIORequest,
  CreateTaskRequest,
  DeleteResponse,
  ExecProcessRequest,
  KillRequest,
  ResizePtyRequest,
  StateResponse,
  UpdateTaskRequest,
  WaitResponse,
} from '../gen/containerd/task/v2/shim.js';
import { alreadyExists, CtrdError, failedPrecondition, invalidArgument, notFound, notImplemented, wrap } from '../lib/errdefs.js';
import { mountOne, unmountAll } from '../services/diff/mounts.js';
import { readBundleSpec, type Backend, type BundleSpec } from './backend.js';
import { cgroupDirsLeft, isCgroup2 } from './cgroups/paths.js';
import { watchOom, type OomWatcher } from './cgroups/oom.js';
import type { EventSink } from './events.js';
import type { ShimLogger } from './log.js';
import { ProcessState, type ProcessStatus } from './process-state.js';
import type { Exit, Reaper } from './reaper.js';
import { ProcessIO, type IOContext, type StdioPaths } from './stdio.js';
import { isAttachUri } from '../lib/attach-frames.js';
import { validateIdentifier } from '../lib/identifiers.js';

export const shimVersion = 'ctrd-shim-v2';

/** How the backend is chosen from the runtime options of Create. */
export type BackendFactory = (opts: { binary: string; root: string; bundle: string; log: ShimLogger }) => Backend;

export interface ServiceOptions {
  id: string;
  namespace: string;
  publisher: EventSink;
  reaper: Reaper;
  log: ShimLogger;
  backend: BackendFactory;
  /** Where console sockets are made (short paths: sun_path has 108 bytes). */
  socketDir: string;
  /** The OCI runtime when the Create options name none. */
  defaultBinary: string;
  /** Called once the task is deleted: the group forgets it. */
  gone: () => void;
}

class Proc {
  readonly state = new ProcessState();
  pid = 0;
  exitStatus = 0;
  exitedAt: Date | undefined;
  io: ProcessIO | undefined;
  /** Set while Start runs: the exit of a process is published only after its start. */
  starting: Promise<void> | undefined;
  private markExited!: () => void;
  readonly exited = new Promise<void>((resolve) => (this.markExited = resolve));

  constructor(
    readonly execId: string,
    readonly paths: StdioPaths,
    readonly spec?: Any,
  ) {}

  setExited(exit: Exit): void {
    this.exitStatus = exit.status;
    this.exitedAt = exit.exitedAt;
    this.markExited();
  }
}

const statusEnum: Record<ProcessStatus, Status> = {
  created: Status.CREATED,
  running: Status.RUNNING,
  paused: Status.PAUSED,
  stopped: Status.STOPPED,
  deleted: Status.STOPPED,
};

export class TaskService {
  private init: Proc | undefined;
  private readonly execs = new Map<string, Proc>();
  private backend: Backend | undefined;
  private bundle = '';
  private rootfsMounted = false;
  private cgroupsPath = '';
  private oom: OomWatcher | undefined;
  private creating = false;
  private readonly log: ShimLogger;

  constructor(private readonly o: ServiceOptions) {
    this.log = o.log;
  }

  get id(): string {
    return this.o.id;
  }

  /** The init's pid once created, else 0. */
  get taskPid(): number {
    return this.init?.pid ?? 0;
  }

  private checkId(id: string): void {
    if (id !== this.o.id) throw notFound(`task ${id} not found`);
  }

  private proc(id: string, execId: string): Proc {
    this.checkId(id);
    const init = this.init;
    if (!init || init.state.status === 'deleted') throw notFound(`task ${id} not found`);
    if (execId === '') return init;
    const p = this.execs.get(execId);
    if (!p) throw notFound(`exec ${execId} of task ${id} not found`);
    return p;
  }

  private ioContext(): IOContext {
    const reaper = this.o.reaper;
    return {
      socketDir: this.o.socketDir,
      log: this.log,
      containerId: this.o.id,
      namespace: this.o.namespace,
      spawn: (command, args, options) => reaper.spawn(command, args, options),
    };
  }

  private runtime(): Backend {
    if (!this.backend) throw failedPrecondition(`task ${this.o.id} was not created`);
    return this.backend;
  }

  private publish<T>(topic: string, typeName: string, codec: { encode(m: T): { finish(): Uint8Array } }, event: T): void {
    this.o.publisher.publish(topic, typeName, codec, event);
  }

  async create(req: CreateTaskRequest): Promise<{ pid: number }> {
    this.checkId(req.id);
    if (this.init || this.creating) throw alreadyExists(`task ${req.id} already exists`);
    if (req.checkpoint !== '') throw notImplemented('checkpoint restore is not supported by the ctrd shim');
    if (!path.isAbsolute(req.bundle)) throw invalidArgument(`bundle "${req.bundle}" must be an absolute path`);
    const spec = readBundleSpec(req.bundle);
    const cgroupsPath = cgroupsPathOf(spec);
    const options = runtimeOptions(req.options);
    const runtimeRoot = options.root || path.join('/run/ctrd/runc', this.o.namespace);
    // Before anything is made: a failed create must never delete another container of the same id.
    if (fs.existsSync(path.join(runtimeRoot, req.id))) throw alreadyExists(`container ${req.id} already exists in ${runtimeRoot}`);
    this.creating = true;
    const bundle = req.bundle;
    const rootfs = path.join(bundle, 'rootfs');
    const binary = options.binaryName || this.o.defaultBinary;
    const backend = this.o.backend({
      binary,
      root: runtimeRoot,
      bundle,
      log: this.log,
    });
    const paths: StdioPaths = { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal };
    const init = new Proc('', paths);
    let runtimeCreated = false;
    /** Where a create's time goes (ms), in its log line. */
    const timings = { mount: 0, io: 0, runtime: 0 };
    try {
      this.rootfsMounted = req.rootfs.length > 0;
      const t0 = performance.now();
      mountRootfs(req.rootfs, rootfs);
      timings.mount = performance.now() - t0;
      init.io = await ProcessIO.open(paths, this.ioContext());
      timings.io = performance.now() - t0 - timings.mount;
      const pidFile = path.join(bundle, 'init.pid');
      runtimeCreated = true;
      const t1 = performance.now();
      await backend.create({
        id: req.id,
        bundle,
        spec,
        stdio: init.io.child,
        pidFile,
        noPivotRoot: options.noPivotRoot,
        noNewKeyring: options.noNewKeyring,
      });
      timings.runtime = performance.now() - t1;
      init.io.started();
      init.pid = readPid(pidFile);
    } catch (err) {
      init.io?.destroy();
      if (runtimeCreated) await backend.delete(req.id, true).catch((e: unknown) => this.log.debug({ err: e }, 'delete after a failed create'));
      if (this.rootfsMounted) await unmountAll(rootfs).catch((e: unknown) => this.log.error({ err: e, rootfs }, 'cannot unmount rootfs'));
      this.rootfsMounted = false;
      this.removeCgroup(cgroupsPath);
      this.creating = false;
      throw wrap(err, `create task ${req.id}`);
    }
    this.creating = false;
    writeRuntimeFile(bundle, { binary, root: runtimeRoot });
    if (init.io.attachSocket) fs.writeFileSync(path.join(bundle, attachFileName), init.io.attachSocket);
    this.backend = backend;
    this.bundle = bundle;
    this.init = init;
    this.cgroupsPath = cgroupsPath || cgroupOf(init.pid);
    this.o.reaper.watch(init.pid, (exit) => void this.onExit(init, exit));
    if (this.cgroupsPath !== '') {
      this.oom = watchOom(this.cgroupsPath, () => this.publish('/tasks/oom', 'containerd.events.TaskOOM', TaskOOM, { containerId: this.o.id }), this.log);
    }
    this.publish('/tasks/create', 'containerd.events.TaskCreate', TaskCreate, {
      containerId: req.id,
      bundle,
      rootfs: req.rootfs,
      io: { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal },
      checkpoint: req.checkpoint,
      pid: init.pid,
    });
    this.log.info({ taskPid: init.pid, cgroupsPath: this.cgroupsPath, ms: roundAll(timings) }, 'task created');
    return { pid: init.pid };
  }

  /** Cgroup directories the runtime left behind after a failed create (runc removes them itself). */
  private removeCgroup(cgroupsPath: string): void {
    if (cgroupsPath === '') return;
    for (const dir of cgroupDirsLeft(cgroupsPath)) {
      try {
        fs.rmdirSync(dir);
      } catch (err) {
        this.log.warn({ err, dir }, 'cannot remove the cgroup of a failed create');
      }
    }
  }

  async start(id: string, execId: string): Promise<{ pid: number }> {
    const p = this.proc(id, execId);
    if (p.starting) throw failedPrecondition(`${describe(id, execId)} is already starting`);
    p.state.check('start');
    if (execId !== '') this.init!.state.check('exec');
    const backend = this.runtime();
    p.starting = execId === '' ? this.startInit(p, backend) : this.startExec(p, backend);
    await p.starting;
    return { pid: p.pid };
  }

  private async startInit(p: Proc, backend: Backend): Promise<void> {
    await backend.start(this.o.id);
    p.state.apply('start');
    this.publish('/tasks/start', 'containerd.events.TaskStart', TaskStart, { containerId: this.o.id, pid: p.pid });
  }

  private async startExec(p: Proc, backend: Backend): Promise<void> {
    const base = path.join(this.bundle, `exec-${p.execId}`);
    const processFile = `${base}.process.json`;
    const pidFile = `${base}.pid`;
    try {
      p.io = await ProcessIO.open(p.paths, this.ioContext());
      if (p.io.attachSocket) fs.writeFileSync(path.join(this.bundle, execAttachFileName(p.execId)), p.io.attachSocket);
      fs.writeFileSync(processFile, Buffer.from(p.spec!.value));
      await backend.exec({ id: this.o.id, processFile, stdio: p.io.child, pidFile });
      p.io.started();
      p.pid = readPid(pidFile);
    } catch (err) {
      p.io?.destroy();
      p.io = undefined;
      p.starting = undefined;
      throw wrap(err, `start exec ${p.execId}`);
    } finally {
      fs.rmSync(processFile, { force: true });
      fs.rmSync(pidFile, { force: true });
    }
    p.state.apply('start');
    this.o.reaper.watch(p.pid, (exit) => void this.onExit(p, exit));
    this.publish('/tasks/exec-started', 'containerd.events.TaskExecStarted', TaskExecStarted, { containerId: this.o.id, execId: p.execId, pid: p.pid });
  }

  private async onExit(p: Proc, exit: Exit): Promise<void> {
    await p.starting?.catch(() => {});
    if (p.state.status === 'stopped' || p.state.status === 'deleted') return;
    p.state.apply('exit');
    p.setExited(exit);
    p.io?.processExited(exit.status);
    this.log.info({ execId: p.execId, processPid: exit.pid, status: exit.status }, 'process exited');
    this.publish('/tasks/exit', 'containerd.events.TaskExit', TaskExit, {
      containerId: this.o.id,
      id: p.execId || this.o.id,
      pid: exit.pid,
      exitStatus: exit.status,
      exitedAt: exit.exitedAt,
    });
  }

  async delete(id: string, execId: string): Promise<DeleteResponse> {
    const p = this.proc(id, execId);
    p.state.check('delete');
    if (execId !== '') {
      p.state.apply('delete');
      this.execs.delete(execId);
      p.io?.destroy();
      fs.rmSync(path.join(this.bundle, execAttachFileName(execId)), { force: true });
      return { pid: p.pid, exitStatus: p.exitStatus, exitedAt: p.exitedAt };
    }
    const backend = this.runtime();
    if (p.state.status === 'created') {
      // Never started: the runtime kills the held process; its exit is what Wait reports.
      await backend.delete(id, true);
      await Promise.race([p.exited, sleep(2_000)]);
      if (p.state.status === 'created') {
        p.state.apply('exit');
        p.setExited({ pid: p.pid, status: 137, exitedAt: new Date() });
      }
    } else {
      await backend.delete(id, true);
    }
    this.oom?.close();
    for (const e of this.execs.values()) e.io?.destroy();
    this.execs.clear();
    // ctr has read to EOF before it deletes; a writer still open here has nobody left to serve.
    await Promise.race([p.io?.drained, sleep(1_000)]);
    p.io?.destroy();
    if (this.rootfsMounted) {
      await unmountAll(path.join(this.bundle, 'rootfs'));
      this.rootfsMounted = false;
    }
    p.state.apply('delete');
    this.publish('/tasks/delete', 'containerd.events.TaskDelete', TaskDelete, {
      containerId: id,
      pid: p.pid,
      exitStatus: p.exitStatus,
      exitedAt: p.exitedAt,
      id,
    });
    this.o.gone();
    return { pid: p.pid, exitStatus: p.exitStatus, exitedAt: p.exitedAt };
  }

  async kill(req: KillRequest): Promise<void> {
    const p = this.proc(req.id, req.execId);
    p.state.check('kill');
    if (req.execId !== '') {
      if (p.pid === 0) throw notFound(`exec ${req.execId} has not started`);
      try {
        process.kill(p.pid, req.signal);
      } catch (err) {
        throw notFound('process already finished', err);
      }
      return;
    }
    try {
      await this.runtime().kill(req.id, req.signal, req.all);
    } catch (err) {
      // It exited while we asked: containerd says the same.
      if (p.state.status === 'stopped' || /not running|does not exist|no such process/i.test((err as Error).message)) {
        throw notFound('process already finished', err);
      }
      throw err;
    }
  }

  exec(req: ExecProcessRequest): void {
    const init = this.proc(req.id, '');
    if (req.execId === '') throw invalidArgument('exec id must not be empty');
    if (this.execs.has(req.execId)) throw alreadyExists(`id ${req.execId}: already exists`);
    init.state.check('exec');
    if (!req.spec || req.spec.value.length === 0) throw invalidArgument(`exec ${req.execId}: a process spec is required`);
    // Its attach socket is named in a bundle file that carries the exec id.
    if (isAttachUri(req.stdout)) validateIdentifier(req.execId, 'exec id');
    this.execs.set(req.execId, new Proc(req.execId, { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal }, req.spec));
    this.publish('/tasks/exec-added', 'containerd.events.TaskExecAdded', TaskExecAdded, { containerId: req.id, execId: req.execId });
  }

  state(id: string, execId: string): StateResponse {
    const p = this.proc(id, execId);
    return {
      id: execId || id,
      bundle: this.bundle,
      pid: p.pid,
      status: statusEnum[p.state.status],
      stdin: p.paths.stdin,
      stdout: p.paths.stdout,
      stderr: p.paths.stderr,
      terminal: p.paths.terminal,
      exitStatus: p.exitStatus,
      exitedAt: p.exitedAt,
      execId,
    };
  }

  async wait(id: string, execId: string): Promise<WaitResponse> {
    const p = this.proc(id, execId);
    await p.exited;
    return { exitStatus: p.exitStatus, exitedAt: p.exitedAt };
  }

  async pids(id: string): Promise<ProcessInfo[]> {
    this.proc(id, '');
    const pids = await this.runtime().pids(id);
    return pids.map((pid) => {
      const exec = [...this.execs.values()].find((e) => e.pid === pid);
      return {
        pid,
        info: exec ? { typeUrl: 'containerd.runc.v1.ProcessDetails', value: Buffer.from(ProcessDetails.encode({ execId: exec.execId }).finish()) } : undefined,
      };
    });
  }

  async pause(id: string): Promise<void> {
    const p = this.proc(id, '');
    p.state.check('pause');
    await this.runtime().pause(id);
    p.state.apply('pause');
    this.publish('/tasks/paused', 'containerd.events.TaskPaused', TaskPaused, { containerId: id });
  }

  async resume(id: string): Promise<void> {
    const p = this.proc(id, '');
    p.state.check('resume');
    await this.runtime().resume(id);
    p.state.apply('resume');
    this.publish('/tasks/resumed', 'containerd.events.TaskResumed', TaskResumed, { containerId: id });
  }

  async update(req: UpdateTaskRequest): Promise<void> {
    const p = this.proc(req.id, '');
    p.state.check('update');
    if (!req.resources || req.resources.value.length === 0) throw invalidArgument('update: resources are required');
    await this.runtime().update(req.id, Buffer.from(req.resources.value).toString('utf8'));
  }

  closeIO(req: CloseIORequest): void {
    const p = this.proc(req.id, req.execId);
    if (req.stdin) p.io?.closeStdin();
  }

  resizePty(req: ResizePtyRequest): void {
    const p = this.proc(req.id, req.execId);
    p.io?.resize(req.width, req.height);
  }

  async stats(id: string): Promise<{ stats: Any }> {
    const p = this.proc(id, '');
    if (this.cgroupsPath === '') throw failedPrecondition(`task ${id} has no cgroup`);
    if (p.state.status === 'stopped') throw notFound(`task ${id} has stopped: no cgroup to read`);
    // The metrics messages load on the first Stats: most shims are never asked.
    const { cgroupMetrics } = await import('./cgroups/metrics.js');
    return { stats: cgroupMetrics(this.cgroupsPath) };
  }

  checkpoint(): never {
    throw notImplemented('checkpoint is not supported by the ctrd shim');
  }
}

function roundAll(t: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Math.round(v * 100) / 100]));
}

function describe(id: string, execId: string): string {
  return execId ? `exec ${execId} of task ${id}` : `task ${id}`;
}

/** The spec's cgroup path, or '' when it names none or a systemd one (slice:prefix:name). */
function cgroupsPathOf(spec: BundleSpec): string {
  const cg = spec.linux?.cgroupsPath;
  return typeof cg === 'string' && !cg.includes(':') ? cg : '';
}

/** containerd.runc.v1.Options from Create (ctr run --runc-binary sets binary_name); defaults otherwise. */
export function runtimeOptions(any: Any | undefined): RuncOptions {
  if (any && any.typeUrl.endsWith('runc.v1.Options') && any.value.length > 0) {
    try {
      return RuncOptions.decode(any.value);
    } catch (err) {
      throw invalidArgument(`runtime options: ${(err as Error).message}`, err);
    }
  }
  return RuncOptions.fromPartial({});
}

function mountRootfs(mounts: readonly Mount[], target: string): void {
  for (const m of mounts) {
    try {
      mountOne(m, target);
    } catch (err) {
      throw wrap(err, `mount rootfs (${m.type} ${m.source}) on ${target}`);
    }
  }
}

function readPid(file: string): number {
  const pid = Number(fs.readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new CtrdError('internal', `${file} holds no pid`);
  return pid;
}

/** The cgroup of a process when the spec names none: its memory hierarchy (v1) or its only one (v2). */
function cgroupOf(pid: number): string {
  try {
    const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
    const v2 = isCgroup2();
    for (const line of lines) {
      const [, controllers, p] = line.split(':');
      if (p === undefined) continue;
      if (v2 ? controllers === '' : controllers!.split(',').includes('memory')) return p;
    }
  } catch {
    // gone already
  }
  return '';
}

/** What `delete` needs to find the container again when the server is gone. */
export interface RuntimeFile {
  binary: string;
  root: string;
}

export const runtimeFileName = 'ctrd-shim-runtime.json';

/** The bundle file naming the task's attach socket (json-file stdio only): the daemon's streams service reads it. */
export const attachFileName = 'attach';

/** The bundle file naming an exec's attach socket (attach:// stdio). */
export const execAttachFileName = (execId: string) => `attach-exec-${execId}`;

function writeRuntimeFile(bundle: string, r: RuntimeFile): void {
  fs.writeFileSync(path.join(bundle, runtimeFileName), JSON.stringify(r));
}
