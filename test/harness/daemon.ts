// A real ctrd for tests: the built daemon (dist/) as a child process on a temp root, state dir and socket.
// Every test daemon is stopped by PID and its temp dir removed; cleanup() checks that nothing is left.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { projectRoot } from '../../lib/project-root.js';
import { ctrdShimBinary } from '../../daemon/config.js';
import { isAlive } from '../../lib/process.js';
import { Clients, unary } from '../../lib/grpc/client.js';
import { NamespaceCreate } from '../../gen/containerd/events/namespace.js';
import { networkLeftovers, removeBridgesForTest } from './network.js';

export const ctrdBin = join(projectRoot, 'bin', 'ctrd.js');
export const ctrctlBin = join(projectRoot, 'bin', 'ctrctl.js');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never throws for a non-zero exit (tests assert on it). */
export function run(
  cmd: string,
  args: readonly string[],
  opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv; timeoutMs?: number; stdinFile?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const stdinFd = opts.stdinFile === undefined ? undefined : openSync(opts.stdinFile, 'r');
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: [stdinFd ?? 'pipe', 'pipe', 'pipe'] });
    if (stdinFd !== undefined) closeSync(stdinFd);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : -1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    if (child.stdin) {
      child.stdin.on('error', () => {}); // the command may exit before reading all of its input
      child.stdin.end(opts.input);
    }
  });
}

function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export class TestDaemon {
  readonly dir: string;
  readonly root: string;
  readonly state: string;
  readonly address: string;
  readonly logPath: string;
  private child: ChildProcess | undefined;
  private exited: Promise<unknown> | undefined;
  private readonly pids: number[] = [];
  /** The default network's bridge device: one of its own, removed by cleanup(). */
  readonly bridge = `ctrdt${randomBytes(3).toString('hex')}`;

  constructor(
    readonly extraArgs: readonly string[] = [],
    /** Run on ctrd's own defaults (benchmarks), not the tests' (idle shims go at once). */
    private readonly opts: { defaults?: boolean } = {},
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'ctrd-test-'));
    this.root = join(this.dir, 'root');
    this.state = join(this.dir, 'state');
    this.address = join(this.dir, 'ctrd.sock');
    this.logPath = join(this.dir, 'ctrd.log');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<this> {
    const log = openSync(this.logPath, 'a');
    const child = spawn(
      process.execPath,
      [ctrdBin, '--root', this.root, '--state', this.state, '--address', this.address, '--log-level', 'debug', ...this.configArgs(), ...this.extraArgs],
      { stdio: ['ignore', log, log] },
    );
    closeSync(log);
    this.child = child;
    this.pids.push(child.pid!);
    this.exited = once(child, 'exit');
    let exitedEarly = false;
    void this.exited.then(() => (exitedEarly = true));
    await waitFor('ctrd to serve', async () => {
      if (exitedEarly) throw new Error(`ctrd exited during start-up:\n${this.log()}`);
      return existsSync(this.address) && (await canConnect(this.address));
    });
    return this;
  }

  /**
   * Unless the test brings its own: the defaults, but an emptied shared shim goes at once (idle_timeout 0), so
   * that a test sees its shims gone when its tasks are.
   */
  private configArgs(): string[] {
    if (this.extraArgs.includes('--config')) return [];
    const file = join(this.dir, 'config.toml');
    if (this.opts.defaults) writeFileSync(file, 'version = 2\n');
    else {
      writeFileSync(
        file,
        `version = 2\n[network]\ndefault_bridge = "${this.bridge}"\n` +
          `[runtimes."io.containerd.runc.v2"]\nshim = ${JSON.stringify(ctrdShimBinary)}\ngroup = "namespace"\nidle_timeout = 0\n`,
      );
    }
    return ['--config', file];
  }

  log(): string {
    return existsSync(this.logPath) ? readFileSync(this.logPath, 'utf8') : '';
  }

  /** Graceful stop (SIGTERM); resolves with the exit code. */
  async stop(): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    child.kill('SIGTERM');
    const [code] = (await this.exited) as [number | null];
    this.child = undefined;
    return code;
  }

  /** A crash: SIGKILL, no chance to clean up. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    child.kill('SIGKILL');
    await this.exited;
    this.child = undefined;
  }

  ctr(
    args: readonly string[],
    opts: { input?: string | Buffer; namespace?: string; timeoutMs?: number; stdinFile?: string } = {},
  ): Promise<RunResult> {
    const ns = opts.namespace ? ['-n', opts.namespace] : [];
    return run('ctr', ['-a', this.address, ...ns, ...args], opts);
  }

  ctrctl(args: readonly string[], opts: { input?: string; namespace?: string; timeoutMs?: number } = {}): Promise<RunResult> {
    const env = { ...process.env, CTRD_ADDRESS: this.address, CTRD_NAMESPACE: opts.namespace ?? 'default' };
    return run(process.execPath, [ctrctlBin, ...args], { ...opts, env });
  }

  /**
   * Starts the stock `ctr events` against this daemon and returns once its subscription is in place: probe
   * events are published until ctr prints one, so no event after this call is missed.
   */
  async ctrEvents(): Promise<CtrEvents> {
    const child = spawn('ctr', ['-a', this.address, 'events'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.pids.push(child.pid!);
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    const c = this.clients();
    const probe = {
      typeUrl: 'containerd.events.NamespaceCreate',
      value: Buffer.from(NamespaceCreate.encode({ name: 'probe', labels: {} }).finish()),
    };
    try {
      for (let i = 0; i < 400 && !out.includes('/test/probe'); i++) {
        await unary(c.events, c.events.publish, { topic: '/test/probe', event: probe });
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      c.close();
    }
    if (!out.includes('/test/probe')) throw new Error('ctr events printed no probe event');
    return {
      text: () => out,
      stop: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const closed = once(child, 'close');
        child.kill('SIGTERM');
        await closed;
      },
    };
  }

  clients(namespace = 'default', lease?: string): Clients {
    return new Clients({ address: this.address, namespace, lease });
  }

  /** Stops the daemon, removes the temp dir, and fails if any process it started is still alive. */
  async cleanup(): Promise<void> {
    await this.stop();
    // The default network's bridge outlives the daemon (as docker0 does); the test's goes with the test.
    await removeBridgesForTest([this.bridge]);
    const left = networkLeftovers({ bridges: [this.bridge], containerIds: [], netnsDir: join(this.state, 'io.ctrd.networks.v1') });
    if (left.length > 0) throw new Error(`network leftovers after cleanup:\n${left.join('\n')}`);
    rmSync(this.dir, { recursive: true, force: true });
    for (const pid of this.pids) {
      if (isAlive(pid)) throw new Error(`test daemon pid ${pid} is still running after cleanup`);
    }
    if (existsSync(this.dir)) throw new Error(`${this.dir} is still there after cleanup`);
  }
}

export interface CtrEvents {
  /** What ctr events printed so far. */
  text(): string;
  stop(): Promise<void>;
}

export { isAlive } from '../../lib/process.js';
