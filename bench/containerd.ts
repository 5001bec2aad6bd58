// A real containerd (Debian's package) for the benchmarks to compare with: its own root, state, sockets and
// config in a temp dir, no CRI, stopped by PID. bench/pull, bench/start and bench/density share it.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, waitFor, type RunResult } from '../test/harness/daemon.js';
import { mountsUnder } from '../test/harness/mounts.js';

/** A real containerd on a temp root, with a config that keeps every path it writes under that root. */
export class Containerd {
  private constructor(
    readonly dir: string,
    readonly pid: number,
    private readonly exited: Promise<unknown>,
    private readonly child: ReturnType<typeof spawn>,
    /** The namespace of every ctr command this object runs. */
    readonly namespace: string,
  ) {}

  get root(): string {
    return join(this.dir, 'root');
  }

  get address(): string {
    return join(this.dir, 'containerd.sock');
  }

  static async start(dir: string, namespace = 'default'): Promise<Containerd> {
    mkdirSync(dir, { recursive: true });
    const config = join(dir, 'config.toml');
    // No CRI (it wants CNI and more); the opt plugin would create /opt/containerd; no debug or metrics socket.
    writeFileSync(
      config,
      `version = 2
root = "${join(dir, 'root')}"
state = "${join(dir, 'state')}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "${join(dir, 'containerd.sock')}"
[ttrpc]
  address = "${join(dir, 'containerd.sock.ttrpc')}"
[debug]
  address = ""
  level = "warn"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "${join(dir, 'opt')}"
`,
    );
    const logPath = join(dir, 'containerd.log');
    const log = openSync(logPath, 'a');
    const child = spawn(
      'containerd',
      ['--config', config, '--root', join(dir, 'root'), '--state', join(dir, 'state'), '--address', join(dir, 'containerd.sock')],
      { stdio: ['ignore', log, log] },
    );
    closeSync(log);
    const exited = once(child, 'exit');
    let gone = false;
    void exited.then(() => (gone = true));
    const c = new Containerd(dir, child.pid!, exited, child, namespace);
    try {
      await waitFor('containerd to serve', async () => {
        if (gone) throw new Error(`containerd exited during start-up:\n${readFileSync(logPath, 'utf8').trim()}`);
        return existsSync(c.address) && (await c.ctr(['version'])).code === 0;
      });
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  ctr(args: readonly string[]): Promise<RunResult> {
    return run('ctr', this.ctrArgs(args), { timeoutMs: 120_000 });
  }

  ctrArgs(args: readonly string[]): string[] {
    return ['-a', this.address, '-n', this.namespace, ...args];
  }

  /** Stops it by its PID (SIGKILL after 15 s), then unmounts whatever is left under its dir. */
  async stop(): Promise<void> {
    const c = this.child;
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 15_000);
      await this.exited;
      clearTimeout(timer);
    }
    for (const m of mountsUnder(this.dir).reverse()) await run('umount', ['-l', m]);
  }
}


export async function containerdVersion(): Promise<string | undefined> {
  try {
    const r = await run('containerd', ['--version']);
    return r.code === 0 ? r.stdout.trim().split(/\s+/)[2] : undefined;
  } catch {
    return undefined;
  }
}
