// ctrd and a real containerd side by side for the container benchmarks (bench/start, bench/density): a
// registry on 127.0.0.1 with the test busybox pushed, ctrd (the built dist/) and containerd (Debian's, with
// runc) each on its own temp root, state and socket, the image pulled into both with stock ctr, in a
// namespace of the run's own. withPair() runs a benchmark between them and then removes everything the run
// started or made — daemons, registry, shims and their containers, mounts, temp dirs, what shims and ctr
// left in /run/containerd, the containers' cgroups — even when the benchmark fails or is interrupted, ending
// only processes it started, by PID, and fails if anything is left.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Option, type Command } from 'commander';
import { defaultConfig } from '../daemon/config.js';
import { resolveShim } from '../services/tasks/shim-manager.js';
import { isAlive, run, TestDaemon, type RunResult } from '../test/harness/daemon.js';
import { pushBusybox, removeTestImages, testImagesDir } from '../test/harness/images.js';
import { mountsUnder } from '../test/harness/mounts.js';
import { startRegistry, type TestRegistry } from '../test/harness/registry.js';
import { Containerd, containerdVersion } from './containerd.js';
import { deadline, stopDaemon } from './load.js';
import { HostTraces, killShimsOf, sleepSync } from './shims.js';
import { shimsOf } from '../test/harness/tasks.js';
import { median } from './stats.js';

export type SideName = 'ctrd' | 'containerd';

/** One daemon under test, driven with stock ctr. */
export interface Side {
  name: SideName;
  pid: number;
  address: string;
  /** Its temp dir: root, state, socket; every mount of its containers is under it. */
  dir: string;
  /** ctr -a ADDRESS -n NAMESPACE args... */
  ctr(args: readonly string[], timeoutMs?: number): Promise<RunResult>;
}

export interface Pair {
  ctrd: Side;
  containerd: Side;
  /** The busybox image, pulled into both. */
  image: string;
  namespace: string;
  /** Names the run's containers: `${token}-...`. */
  token: string;
  /** Call before creating a container, so that cleanup knows its traces. */
  track(id: string): void;
  /** `--runtime X` for ctrd's `ctr run`, or nothing for the default. */
  ctrdRuntimeArgs: string[];
  /** Rejects when the benchmark's --timeout is past. */
  race<T>(p: Promise<T>): Promise<T>;
}

export interface PairInfo {
  containerd: string;
  runc: string;
  /** What ctrd's containers run on: the --runtime given, or the default and the shim it resolves to. */
  ctrdRuntime: string;
  /** Median of five bare `ctr version` calls against containerd: ctr's own start-up and one round trip. */
  ctrStartupSec: number;
}

export interface PairParams {
  /** A runtime name or an absolute shim path for ctrd's containers; undefined: ctr's default (io.containerd.runc.v2). */
  runtime?: string;
  timeoutSec: number;
}

/** The --runtime flag, shared by bench/start and bench/density. */
export function addRuntimeOption(cmd: Command): void {
  if (cmd.options.some((o) => o.long === '--runtime')) return;
  cmd.addOption(
    new Option(
      '--runtime <name|path>',
      "start, density: the runtime of ctrd's containers (ctr run --runtime): a name (io.containerd.runc.v2) or a shim's absolute path; containerd's always use its default",
    ),
  );
}

export function runtimeFrom(flags: Record<string, unknown>): string | undefined {
  return typeof flags['runtime'] === 'string' ? flags['runtime'] : undefined;
}

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? (r.stdout.split('\n')[0] ?? '').trim() : 'unknown';
}

/** What ctrd's containers run on: the runtime given, or the shim the daemon's default config maps io.containerd.runc.v2 to. */
function ctrdRuntimeText(runtime: string | undefined): string {
  if (runtime !== undefined) return runtime;
  const name = 'io.containerd.runc.v2';
  return `default, ${name} (${resolveShim(name, defaultConfig().runtimes)})`;
}

/**
 * Starts the registry, ctrd and containerd, pulls busybox into both, runs fn between them, and cleans up
 * (see the file's head). progress gets a line per step.
 */
export async function withPair<R>(
  benchmark: string,
  p: PairParams,
  progress: (line: string) => void,
  fn: (pair: Pair, info: PairInfo) => Promise<R>,
): Promise<R> {
  const token = randomBytes(3).toString('hex');
  const namespace = `bench-${token}`;
  const dir = mkdtempSync(join(tmpdir(), `ctrd-bench-${benchmark}-`));
  // Debug logging writes lines per call; a benchmark measures the daemon, not its log.
  const daemon = new TestDaemon(['--log-level', 'warn'], { defaults: true });
  const containerdDir = join(dir, 'containerd');
  const containerdAddress = join(containerdDir, 'containerd.sock');
  const traces = new HostTraces(namespace);
  traces.daemon(daemon.address);
  traces.daemon(containerdAddress);
  let registry: TestRegistry | undefined;
  let containerd: Containerd | undefined;
  const pids: number[] = [];
  const limit = deadline(p.timeoutSec, benchmark);
  const tempDirs = () => [dir, daemon.dir, registry?.dir, testImagesDir()].filter((d): d is string => d !== undefined);

  /** Shims and their containers first (they hold mounts in the daemons' dirs), then those mounts. */
  const killContainers = (): number[] => {
    const killed = [daemon.address, containerdAddress].flatMap(killShimsOf);
    for (const d of [dir, daemon.dir]) for (const m of mountsUnder(d).reverse()) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
    return killed;
  };

  // Ctrl-C mid-run still stops what this run started, by PID, and removes what it made.
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`bench: ${signal}: cleaning up\n`);
    killContainers();
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 200 && pids.some(isAlive); i++) sleepSync(25);
    killContainers();
    traces.remove();
    for (const d of tempDirs()) rmSync(d, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const version = await containerdVersion();
    if (!version) throw new Error('containerd is not installed: this benchmark compares ctrd with it');
    registry = await limit.race(startRegistry());
    pids.push(registry.pid);
    progress(`registry pid ${registry.pid} on ${registry.host}; building and pushing test/busybox`);
    const image = (await limit.race(pushBusybox(registry))).latest.ref;

    await limit.race(daemon.start());
    pids.push(daemon.pid!);
    progress(`ctrd pid ${daemon.pid} serving on ${daemon.address}`);
    containerd = await limit.race(Containerd.start(containerdDir, namespace));
    pids.push(containerd.pid);
    progress(`containerd ${version} pid ${containerd.pid} serving on ${containerd.address}`);

    const c = containerd;
    const sides: Record<SideName, Side> = {
      ctrd: {
        name: 'ctrd',
        pid: daemon.pid!,
        address: daemon.address,
        dir: daemon.dir,
        ctr: (args, timeoutMs = 120_000) => run('ctr', ['-a', daemon.address, '-n', namespace, ...args], { timeoutMs }),
      },
      containerd: { name: 'containerd', pid: c.pid, address: c.address, dir: c.dir, ctr: (args, timeoutMs = 120_000) => run('ctr', c.ctrArgs(args), { timeoutMs }) },
    };
    for (const side of Object.values(sides)) {
      const r = await limit.race(side.ctr(['images', 'pull', '--plain-http', image]));
      if (r.code !== 0) throw ctrFailed(`${side.name}: ctr images pull ${image}`, r);
    }
    progress(`pulled ${image} into both, namespace ${namespace}`);

    const startups: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const r = await sides.containerd.ctr(['version']);
      startups.push((performance.now() - t0) / 1000);
      if (r.code !== 0) throw ctrFailed('ctr version', r);
    }
    const info: PairInfo = {
      containerd: version,
      runc: firstLine('runc', ['--version']).replace(/^runc version /, ''),
      ctrdRuntime: ctrdRuntimeText(p.runtime),
      ctrStartupSec: median(startups),
    };
    const pair: Pair = {
      ...sides,
      image,
      namespace,
      token,
      track: (id) => traces.container(id),
      ctrdRuntimeArgs: p.runtime === undefined ? [] : ['--runtime', p.runtime],
      race: (x) => limit.race(x),
    };
    return await fn(pair, info);
  } finally {
    limit.clear();
    const killed = killContainers();
    if (killed.length > 0) progress(`killed leftover shims and their containers: pids ${killed.join(', ')}`);
    const dirs = tempDirs();
    try {
      await containerd?.stop();
      await stopDaemon(daemon);
      await registry?.stop();
    } finally {
      killContainers();
      removeTestImages();
      const left = traces.remove();
      rmSync(dir, { recursive: true, force: true });
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      if (left.length > 0) throw new Error(`left on the host after the benchmark: ${left.join(', ')}`);
    }
    const alive = [...pids.filter(isAlive), ...shimsOf(daemon.address), ...shimsOf(containerdAddress)];
    if (alive.length > 0) throw new Error(`pids ${alive.join(', ')} are still running after the benchmark`);
    const leftDirs = dirs.filter((d) => existsSync(d));
    if (leftDirs.length > 0) throw new Error(`${leftDirs.join(', ')} still there after the benchmark`);
    const mounted = dirs.flatMap((d) => mountsUnder(d));
    if (mounted.length > 0) throw new Error(`${mounted.join(', ')} still mounted after the benchmark`);
    progress(`stopped pids ${pids.join(', ')}, removed ${dirs.join(', ')} and the run's traces in /run/containerd and the cgroups`);
  }
}

export function ctrFailed(what: string, r: RunResult): Error {
  return new Error(`${what} exited with ${r.code}:\n${(r.stderr || r.stdout).trim().split('\n').slice(-10).join('\n')}`);
}
