// The container's processes, made in the shim itself by the addon (lib/native.ts spawnContainer) from a plan
// (plan.ts): spawnInit for a container's init, held before execve until release(); spawnExec for a process
// in a running container, which runs as soon as it is set up. Between spawn and proceed() the caller puts
// the process in its cgroups; the process is the shim's child either way, and the shim's reaper reaps it.
import fs from 'node:fs';
import net from 'node:net';
import util from 'node:util';
import { CtrdError, failedPrecondition, invalidArgument } from '../../lib/errdefs.js';
import { native, type ChildFailure, type ContainerOp } from '../../lib/native.js';
import { planExec, planInit, type JoinPlan, type ProcessPlan } from './plan.js';
import type { OciProcessJson, OciSpecJson } from './spec-types.js';

export interface SpawnedProcess {
  /** Host pid of the process (the container's init or the exec'd process). Its parent is the calling (shim) process, which is a child subreaper and reaps it (do NOT waitpid it yourself; shims/reaper.ts reaps every non-libuv child). */
  readonly pid: number;
  /** Lets the child go on past its first stop (the caller joins cgroups between spawn and proceed). */
  proceed(): void;
  /** Resolves once the child has done all its set-up and is held just before execve; rejects with a CtrdError naming the failed step, errno code and path. For spawnExec, ready() and release() are the same wait. */
  ready(): Promise<void>;
  /** Releases the held child: resolves once execve succeeded (the sync socket reads EOF because it is CLOEXEC), rejects with the child's error (e.g. ENOENT of the binary). */
  release(): Promise<void>;
  /** Closes our end of the sync channel; a child still held then exits on its own (reads EOF -> _exit). */
  close(): void;
}

export interface SpawnOptions {
  /** fds for the child's 0, 1, 2 (already open in the shim; the child dup2's them); 'null' means /dev/null. */
  stdio: [number | 'null', number | 'null', number | 'null'];
  /** A listening unix socket (shims/stdio.ts, native().consoleSocket) that gets the pty master when the process has a terminal. */
  consoleSocket?: string;
  /** A compiled seccomp BPF program (struct sock_filter[] bytes), or undefined for none. */
  seccomp?: Buffer;
}

/** The container's init, held before execve until release(). rootfs is already mounted at spec.root.path resolved against bundle. */
export function spawnInit(spec: OciSpecJson, bundle: string, opts: SpawnOptions & { noPivotRoot?: boolean }): SpawnedProcess {
  const plan = planInit(spec, bundle, { noPivotRoot: opts.noPivotRoot });
  return launch({ cloneFlags: plan.cloneFlags, join: plan.join, ops: plan.ops, hold: true, process: plan.process, idMaps: plan.idMaps }, opts);
}

/** A process in the running container of initPid, in every namespace the init has that the host does not share. The caller joins the cgroup between spawn and proceed. */
export function spawnExec(initPid: number, process: OciProcessJson, opts: SpawnOptions): SpawnedProcess {
  const plan = planExec(initPid, process);
  return launch({ cloneFlags: 0, join: plan.join, ops: [], hold: false, process: plan.process }, opts);
}

interface Launch {
  cloneFlags: number;
  join: JoinPlan[];
  ops: ContainerOp[];
  hold: boolean;
  process: ProcessPlan;
  idMaps?: { uid: string; gid: string };
}

function launch(what: Launch, opts: SpawnOptions): SpawnedProcess {
  const p = what.process;
  if (p.terminal && opts.consoleSocket === undefined) throw invalidArgument('process.terminal needs a console socket');
  if (!p.terminal && opts.consoleSocket !== undefined) throw invalidArgument('a console socket needs process.terminal');
  const opened: number[] = [];
  const open = (file: string, flags: string, purpose: string) => {
    try {
      const fd = fs.openSync(file, flags);
      opened.push(fd);
      return fd;
    } catch (err) {
      throw invalidArgument(`${purpose} ${file}: ${(err as Error).message}`, err);
    }
  };
  try {
    let devNull: number | undefined;
    const stdio = opts.stdio.map((s) => (s === 'null' ? (devNull ??= open('/dev/null', 'r+', 'stdio')) : s)) as [number, number, number];
    const join = what.join.map((j) => ({ fd: open(j.path, 'r', `${j.type} namespace`), type: j.flag }));
    let console: { socket: number; rows: number; cols: number; mount: boolean } | undefined;
    if (opts.consoleSocket !== undefined) {
      let socket: number;
      try {
        socket = native().connectUnix(opts.consoleSocket);
      } catch (err) {
        throw new CtrdError('unknown', `console socket ${opts.consoleSocket}: ${(err as Error).message}`, { cause: err });
      }
      opened.push(socket);
      console = { socket, rows: p.consoleSize?.rows ?? 0, cols: p.consoleSize?.cols ?? 0, mount: p.mountConsole };
    }
    const result = native().spawnContainer({
      cloneFlags: what.cloneFlags,
      join,
      ops: what.ops,
      hold: what.hold,
      process: {
        args: p.args,
        env: p.env,
        executables: p.executables,
        cwd: p.cwd,
        uid: p.uid,
        gid: p.gid,
        additionalGids: p.additionalGids,
        setgroups: p.setgroups,
        umask: p.umask,
        rlimits: p.rlimits,
        capabilities: p.capabilities,
        noNewPrivileges: p.noNewPrivileges,
        stdio,
        console,
        seccomp: opts.seccomp ? { filter: opts.seccomp, flags: p.seccompFlags } : undefined,
      },
    });
    if ('failure' in result) throw describeFailure(result.failure, what);
    const spawned = new Spawned(result.pid, result.fd, what);
    try {
      // Before the child proceeds: it does nothing until then, and needs its ids mapped for all of it. The
      // shim is root with CAP_SETGID, so setgroups stays allowed (additionalGids need it).
      if (what.idMaps) {
        fs.writeFileSync(`/proc/${result.pid}/uid_map`, what.idMaps.uid);
        fs.writeFileSync(`/proc/${result.pid}/gid_map`, what.idMaps.gid);
      }
      // From here: lowering the score needs CAP_SYS_RESOURCE in the host's user namespace.
      if (p.oomScoreAdj !== undefined) fs.writeFileSync(`/proc/${result.pid}/oom_score_adj`, String(p.oomScoreAdj));
    } catch (err) {
      spawned.abandon();
      throw new CtrdError('unknown', `set up container process ${result.pid}: ${(err as Error).message}`, { cause: err });
    }
    return spawned;
  } finally {
    for (const fd of opened) fs.closeSync(fd);
  }
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(err: Error): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // the caller may never ask
  return { promise, resolve, reject };
}

/** Record sizes on the sync socket (addon/src/container.cc): 'R', and 'E' with four int32s. */
const errorRecordSize = 17;

class Spawned implements SpawnedProcess {
  private readonly socket: net.Socket;
  private buffer: Buffer = Buffer.alloc(0);
  private proceeded = false;
  private released = false;
  private done = false;
  private readonly readyWait = deferred();
  private readonly execWait = deferred();

  constructor(
    readonly pid: number,
    fd: number,
    private readonly what: Launch,
  ) {
    this.socket = new net.Socket({ fd, readable: true, writable: true });
    this.socket.on('data', (b: Buffer) => this.onData(b));
    this.socket.on('end', () => this.onEnd());
    // EPIPE or ECONNRESET on a write: the child is gone, which the end tells the same way.
    this.socket.on('error', () => this.onEnd());
    this.socket.on('close', () => this.onEnd());
  }

  proceed(): void {
    if (this.proceeded) throw failedPrecondition(`container process ${this.pid}: proceed() was called already`);
    this.proceeded = true;
    this.send('c');
  }

  ready(): Promise<void> {
    return this.what.hold ? this.readyWait.promise : this.execWait.promise;
  }

  release(): Promise<void> {
    if (!this.what.hold) return this.execWait.promise;
    if (!this.proceeded) return Promise.reject(failedPrecondition(`container process ${this.pid}: release() before proceed()`));
    if (!this.released) {
      this.released = true;
      this.send('s');
    }
    return this.execWait.promise;
  }

  close(): void {
    this.finish(new CtrdError('canceled', `container process ${this.pid}: closed before it ran`));
  }

  /** A child that must not go on (its set-up in the parent failed): killed, and reaped here, as no one else knows it. */
  abandon(): void {
    this.close();
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {
      // gone already
    }
    const pause = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < 1000 && native().waitpid(this.pid) === undefined; i++) Atomics.wait(pause, 0, 0, 1);
  }

  private send(byte: string): void {
    if (!this.done) this.socket.write(byte);
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length > 0 && !this.done) {
      const tag = String.fromCharCode(this.buffer[0]!);
      if (tag === 'R') {
        this.buffer = this.buffer.subarray(1);
        this.readyWait.resolve();
      } else if (tag === 'E') {
        if (this.buffer.length < errorRecordSize) return;
        const b = this.buffer;
        const failure: ChildFailure = {
          step: native().containerConstants.steps[b.readInt32LE(1)] ?? 'unknown',
          index: b.readInt32LE(5),
          detail: b.readInt32LE(9),
          errno: b.readInt32LE(13),
        };
        this.finish(describeFailure(failure, this.what));
      } else {
        this.finish(new CtrdError('internal', `container process ${this.pid}: unexpected ${JSON.stringify(tag)} on the sync socket`));
      }
    }
  }

  /** EOF: execve closed the child's end, or the child is gone. */
  private onEnd(): void {
    if (this.done) return;
    if (this.what.hold ? this.released : this.proceeded) {
      this.readyWait.resolve();
      this.execWait.resolve();
      this.finish();
      return;
    }
    this.finish(new CtrdError('unknown', `container process ${this.pid} exited before it ${this.proceeded ? 'was ready' : 'could proceed'}`));
  }

  private finish(err?: Error): void {
    if (this.done) return;
    this.done = true;
    if (err) {
      this.readyWait.reject(err);
      this.execWait.reject(err);
    }
    this.socket.destroy();
  }
}

const consoleSteps = [
  '',
  'open /dev/ptmx',
  'unlock the pty',
  'get the pty number',
  'open the pty slave',
  'set the terminal size',
  'send the pty master to the console socket',
  'make the pty the controlling terminal',
  'bind the pty on /dev/console',
];

/** The child's failure in words: the step, what it acted on, and the errno. */
export function describeFailure(f: ChildFailure, what: Pick<Launch, 'ops' | 'join' | 'process'>): CtrdError {
  const [code, message] = util.getSystemErrorMap().get(-f.errno) ?? [`errno ${f.errno}`, 'unknown error'];
  const p = what.process;
  const name = p.args[0]!;
  const capName = (bit: number) => Object.entries(native().containerConstants.capabilities).find(([, v]) => v === bit)?.[0] ?? `capability ${bit}`;
  const step = (() => {
    switch (f.step) {
      case 'op':
        return `${what.ops[f.index]?.label ?? `set-up step ${f.index}`}${['', ' (remount)', ' (propagation)'][f.detail] ?? ''}`;
      case 'setns':
        return `join ${what.join[f.index]?.type} namespace ${what.join[f.index]?.path}`;
      case 'clone':
        return 'clone the container process';
      case 'sync':
        return 'read from the sync socket';
      case 'rlimit': {
        const resource = p.rlimits[f.index]?.resource;
        return `setrlimit ${Object.entries(native().containerConstants.rlimits).find(([, v]) => v === resource)?.[0] ?? resource}`;
      }
      case 'setsid':
        return 'setsid';
      case 'console':
        return `console: ${consoleSteps[f.detail] ?? 'set up the pty'}`;
      case 'stdio':
        return `${f.detail === 1 ? 'chown' : 'dup2'} stdio fd ${f.index}`;
      case 'seccomp':
        return 'load the seccomp filter';
      case 'capbset':
        return `drop ${capName(f.index)} from the bounding set`;
      case 'keepcaps':
        return 'prctl PR_SET_KEEPCAPS';
      case 'setgroups':
        return `setgroups [${p.additionalGids.join(' ')}]`;
      case 'setgid':
        return `setresgid ${p.gid}`;
      case 'setuid':
        return `setresuid ${p.uid}`;
      case 'capset':
        return 'capset';
      case 'ambient':
        return f.index < 0 ? 'clear the ambient capabilities' : `raise ambient ${capName(f.index)}`;
      case 'chdir':
        return `chdir to cwd ${JSON.stringify(p.cwd)}`;
      case 'nnp':
        return 'prctl PR_SET_NO_NEW_PRIVS';
      case 'lookup':
        return undefined;
      case 'exec':
        return `exec ${p.executables[f.index] ?? name}`;
      default:
        return `${f.step} ${f.index}`;
    }
  })();
  if (step === undefined) {
    // runc's (Go's exec.LookPath's) words, which containerd's users know.
    if (!name.includes('/')) return invalidArgument(`exec: ${JSON.stringify(name)}: executable file not found in $PATH`);
    return invalidArgument(code === 'ENOENT' ? `exec: ${JSON.stringify(name)}: stat ${name}: ${message}` : `exec: ${JSON.stringify(name)}: ${message}`);
  }
  return new CtrdError('unknown', `${step}: ${code} (${message})`);
}
