// One shim v2 per task (containerd runtime/v2): the bundle (config.json, rootfs/, the log FIFO), the shim's
// `start` that prints its ttrpc address, the ttrpc client, and the teardown (Delete, Shutdown, bundle gone).
// Any shim binary named after the runtime works; Debian's containerd-shim-runc-v2 is the one tested.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Any } from '../../gen/google/protobuf/any.js';
import { Empty } from '../../gen/google/protobuf/empty.js';
import type { Mount } from '../../gen/containerd/types/mount.js';
import {
  ConnectRequest,
  ConnectResponse,
  CreateTaskRequest,
  CreateTaskResponse,
  DeleteRequest,
  DeleteResponse,
  KillRequest,
  ShutdownRequest,
  StartRequest,
  StartResponse,
  StateRequest,
  StateResponse,
  WaitRequest,
  WaitResponse,
} from '../../gen/containerd/task/v2/shim.js';
import { alreadyExists, CtrdError, invalidArgument, notFound, wrap } from '../../lib/errdefs.js';
import type { Logger } from '../../lib/log.js';
import { socketPath, TtrpcClient } from '../../lib/ttrpc/client.js';
import type { Container } from '../containers/types.js';
import { isAlive } from '../../lib/process.js';

const taskService = 'containerd.task.v2.Task';

export interface TaskIO {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

export interface ShimManagerOptions {
  /** The daemon's state dir; bundles go under `<state>/io.containerd.runtime.v2.task/<ns>/<id>`. */
  state: string;
  /** The daemon's gRPC socket; the shim's events go to `<address>.ttrpc`. */
  grpcAddress: string;
  /** What the shim runs as `<bin> publish ...` for the events it does not forward over ttrpc. */
  publishBinary: string;
  /** Runtime names to shim binaries (the config's [runtimes] table). */
  runtimes: Record<string, { shim: string }>;
}

/** A running shim serving one task. */
export class Shim {
  private closing: Promise<void> | undefined;

  constructor(
    readonly ns: string,
    readonly id: string,
    readonly bundle: string,
    readonly address: string,
    readonly shimPid: number,
    readonly io: TaskIO,
    private readonly client: TtrpcClient,
    private readonly logReader: net.Socket,
  ) {}

  state(execId = ''): Promise<StateResponse> {
    return this.client.unary(taskService, 'State', StateRequest, StateResponse, { id: this.id, execId }, { timeoutMs: 10_000 });
  }

  start(execId = ''): Promise<StartResponse> {
    return this.client.unary(taskService, 'Start', StartRequest, StartResponse, { id: this.id, execId }, { timeoutMs: 30_000 });
  }

  /** Blocks until the process exits. */
  wait(execId = '', signal?: AbortSignal): Promise<WaitResponse> {
    return this.client.unary(taskService, 'Wait', WaitRequest, WaitResponse, { id: this.id, execId }, signal ? { signal } : {});
  }

  async kill(signal: number, all: boolean, execId = ''): Promise<void> {
    await this.client.unary(taskService, 'Kill', KillRequest, Empty, { id: this.id, execId, signal, all }, { timeoutMs: 10_000 });
  }

  delete(execId = ''): Promise<DeleteResponse> {
    return this.client.unary(taskService, 'Delete', DeleteRequest, DeleteResponse, { id: this.id, execId }, { timeoutMs: 30_000 });
  }

  /** Asks the shim to exit, waits for it to go, then removes its socket and the bundle. */
  close(log: Logger): Promise<void> {
    this.closing ??= (async () => {
      // The shim may drop the connection before its reply is out; either way it took the call.
      await this.client
        .unary(taskService, 'Shutdown', ShutdownRequest, Empty, { id: this.id, now: true }, { timeoutMs: 5_000 })
        .catch((err: unknown) => {
          if (!(err instanceof CtrdError && err.kind === 'unavailable')) log.warn({ err }, 'shim shutdown failed');
        });
      if (!(await waitGone(this.shimPid, 10_000))) {
        log.warn({ pid: this.shimPid }, 'shim did not exit after Shutdown; killing it');
        killQuietly(this.shimPid);
        await waitGone(this.shimPid, 5_000);
      }
      await this.client.close();
      fs.rmSync(socketPath(this.address), { force: true });
      this.logReader.destroy();
      removeBundle(this.bundle, log);
    })();
    return this.closing;
  }
}

export class ShimManager {
  private readonly shims = new Map<string, Shim>();
  private readonly creating = new Set<string>();

  constructor(
    private readonly options: ShimManagerOptions,
    private readonly log: Logger,
  ) {}

  get(ns: string, id: string): Shim {
    const shim = this.shims.get(key(ns, id));
    if (!shim) throw notFound(`task ${id} not found`);
    return shim;
  }

  list(ns: string): Shim[] {
    return [...this.shims.values()].filter((s) => s.ns === ns);
  }

  /** Bundle, shim, Task.Create; undone as a whole if any step fails. */
  async create(ns: string, container: Container, rootfs: Mount[], io: TaskIO, options: Any | undefined): Promise<{ shim: Shim; pid: number }> {
    const k = key(ns, container.id);
    if (this.shims.has(k) || this.creating.has(k)) throw alreadyExists(`task ${container.id} already exists`);
    if (container.spec.typeUrl === '' || container.spec.value.length === 0) throw invalidArgument(`container ${container.id} has no spec`);
    const binary = resolveShim(container.runtime.name, this.options.runtimes);
    this.creating.add(k);
    const log = this.log.child({ ns, id: container.id });
    const bundle = path.join(this.options.state, 'io.containerd.runtime.v2.task', ns, container.id);
    let logReader: net.Socket | undefined;
    let client: TtrpcClient | undefined;
    let address = '';
    let shimPid = 0;
    try {
      fs.mkdirSync(path.dirname(bundle), { recursive: true, mode: 0o711 });
      fs.mkdirSync(bundle, { mode: 0o711 });
      fs.mkdirSync(path.join(bundle, 'rootfs'), { mode: 0o711 });
      fs.writeFileSync(path.join(bundle, 'config.json'), container.spec.value);
      logReader = openLogFifo(path.join(bundle, 'log'), log);

      const runtimeOptions = container.runtime.options;
      address = await startShim(binary, bundle, ns, container.id, this.options, runtimeOptions ? Buffer.from(Any.encode(runtimeOptions).finish()) : Buffer.alloc(0));
      fs.writeFileSync(path.join(bundle, 'shim-binary-path'), binary);
      client = await TtrpcClient.connect(address, { namespace: ns });
      const connected = await client.unary(taskService, 'Connect', ConnectRequest, ConnectResponse, { id: container.id }, { timeoutMs: 10_000 });
      shimPid = connected.shimPid;
      const created = await client.unary(
        taskService,
        'Create',
        CreateTaskRequest,
        CreateTaskResponse,
        {
          id: container.id,
          bundle,
          rootfs,
          terminal: io.terminal,
          stdin: io.stdin,
          stdout: io.stdout,
          stderr: io.stderr,
          checkpoint: '',
          parentCheckpoint: '',
          options: options ?? runtimeOptions,
        },
        { timeoutMs: 60_000 },
      );
      const shim = new Shim(ns, container.id, bundle, address, shimPid, io, client, logReader);
      this.shims.set(k, shim);
      log.info({ pid: created.pid, shimPid }, 'task created');
      return { shim, pid: created.pid };
    } catch (err) {
      if (client) {
        const c = client;
        await c.unary(taskService, 'Shutdown', ShutdownRequest, Empty, { id: container.id, now: true }, { timeoutMs: 5_000 }).catch(() => {});
        if (shimPid && !(await waitGone(shimPid, 5_000))) killQuietly(shimPid);
        await c.close();
      }
      if (address) fs.rmSync(socketPath(address), { force: true });
      logReader?.destroy();
      if (fs.existsSync(bundle)) removeBundle(bundle, log);
      throw wrap(err, `create task ${container.id}`);
    } finally {
      this.creating.delete(k);
    }
  }

  /** Task.Delete, then the shim goes and the bundle with it. */
  async delete(ns: string, id: string): Promise<DeleteResponse> {
    const shim = this.get(ns, id);
    const res = await shim.delete();
    this.shims.delete(key(ns, id));
    await shim.close(this.log.child({ ns, id }));
    return res;
  }
}

const key = (ns: string, id: string) => `${ns}/${id}`;

// runc lives in /usr/sbin, which a daemon started from a plain user PATH may not have.
const searchPath = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].filter(
  (d, i, all) => d !== '' && all.indexOf(d) === i,
);

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

/** The shim dup2's the log FIFO over its stderr and will not start without it; we keep its reader. */
function openLogFifo(file: string, log: Logger): net.Socket {
  execFileSync('mkfifo', ['-m', '0600', file]);
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  const reader = new net.Socket({ fd, readable: true, writable: false });
  let pending = '';
  reader.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) log.info({ shim: line }, 'shim log');
  });
  reader.on('error', (err) => log.debug({ err }, 'shim log reader'));
  return reader;
}

function startShim(binary: string, bundle: string, ns: string, id: string, o: ShimManagerOptions, stdin: Buffer): Promise<string> {
  const args = ['-namespace', ns, '-address', o.grpcAddress, '-publish-binary', o.publishBinary, '-id', id, 'start'];
  const pathEnv = searchPath.join(':');
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, {
      cwd: bundle,
      env: { ...process.env, PATH: pathEnv, TTRPC_ADDRESS: `${o.grpcAddress}.ttrpc`, GOMAXPROCS: '2' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => out.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new CtrdError('unavailable', `start shim ${binary}: ${err.message}`, { cause: err }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const text = Buffer.concat(out).toString('utf8').trim();
      if (code !== 0) reject(new CtrdError('unavailable', `shim ${binary} start exited ${code ?? signal}: ${text}`));
      else if (!text.startsWith('unix://') && !text.startsWith('/')) reject(new CtrdError('unavailable', `shim ${binary} printed no address: ${text}`));
      else resolve(text);
    });
    child.stdin.on('error', () => {});
    child.stdin.end(stdin);
  });
}

/** The shim unmounts rootfs on Delete; should it not have, unmount before removing, never through a mount. */
function removeBundle(bundle: string, log: Logger): void {
  const rootfs = path.join(bundle, 'rootfs');
  if (isMountPoint(rootfs)) {
    try {
      execFileSync('umount', [rootfs]);
    } catch (err) {
      log.error({ err, rootfs }, 'cannot unmount the task rootfs; leaving the bundle');
      return;
    }
  }
  fs.rmSync(bundle, { recursive: true, force: true });
}

function isMountPoint(dir: string): boolean {
  return fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[1]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) === dir);
}


function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}
