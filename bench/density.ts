// The density benchmark: K containers (`ctr run -d IMAGE ID sleep 1000`) on ctrd, then the same on a real
// containerd with runc (bench/pair.ts), one daemon at a time so that neither's shims share pages with the
// other's. With all K running, it reads every shim's /proc/PID/smaps_rollup (Pss; Private_Clean +
// Private_Dirty: what the shim alone holds) and the daemon's own memory; then kills and deletes every task
// and container with stock ctr (task kill -s 9, task rm, c rm) and checks that nothing is left: no shim of
// that daemon, no mount under its dirs, no runc state. Reports per-shim median, mean and total per daemon,
// ctrd's ÷ containerd's, and the daemons' memory idle, with K running, and after.
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Option, type Command } from 'commander';
import { revision } from '../lib/version.js';
import { waitFor } from '../test/harness/daemon.js';
import { mountsUnder } from '../test/harness/mounts.js';
import { loadDefaults, parseCount, table } from './load.js';
import { addRuntimeOption, ctrFailed, runtimeFrom, withPair, type Pair, type PairInfo, type Side, type SideName } from './pair.js';
import { memoryOf, runDir, type Memory } from './shims.js';
import { shimsOf } from '../test/harness/tasks.js';
import { mean, median, sum } from './stats.js';

export interface DensityParams {
  /** Containers per daemon. */
  containers: number;
  /** ctr commands at once while starting and removing them. */
  parallel: number;
  runtime?: string;
  timeoutSec: number;
}

export const densityDefaults: DensityParams = { containers: 200, parallel: 4, timeoutSec: loadDefaults.timeoutSec };

/** Per-shim figures, KiB. */
export interface ShimFigure {
  median: number;
  mean: number;
  total: number;
}

export interface DensitySide {
  /** Shim processes found with all K containers running (one per container for containerd-shim-runc-v2). */
  shims: number;
  pss: ShimFigure;
  private: ShimFigure;
  rss: ShimFigure;
  /** Every shim's figures, KiB. */
  perShim: Memory[];
  /**
   * Per container, KiB: the shims' PSS and private memory summed and divided by K (one shim per container,
   * or one shared by many), and the drop of the host's MemAvailable from before the first start to all K
   * running, divided by K (the containers' own processes, the kernel's namespaces, cgroups and mounts included).
   */
  perContainer: { pss: number; private: number; memAvailable: number };
  daemon: { idle: Memory; running: Memory; after: Memory };
  /** Wall seconds to start the K containers, and to kill and remove them. */
  startSec: number;
  teardownSec: number;
  /** Median ms of each ctr command, run `parallel` at a time. */
  opsMs: Record<Op, number>;
}

export const ops = ['run -d', 'task kill -s 9', 'task rm', 'c rm'] as const;
export type Op = (typeof ops)[number];

export interface DensityResult {
  benchmark: 'density';
  revision: string;
  node: string;
  cpus: number;
  params: DensityParams;
  image: string;
  info: PairInfo;
  sides: Record<SideName, DensitySide>;
  /** ctrd's ÷ containerd's (> 1: ctrd's use more). */
  ratio: {
    pssMedian: number;
    pssTotal: number;
    privateMedian: number;
    privateTotal: number;
    daemonRunningPss: number;
    startSec: number;
    perContainerPss: number;
    perContainerPrivate: number;
    perContainerMemAvailable: number;
  };
}

function addOptions(cmd: Command): void {
  const d = densityDefaults;
  cmd
    .addOption(new Option('--containers <k>', 'density: containers per daemon').argParser(parseCount).default(d.containers))
    .addOption(new Option('--parallel <n>', 'density: ctr commands at once while starting and removing them').argParser(parseCount).default(d.parallel));
  addRuntimeOption(cmd);
}

function paramsFrom(flags: Record<string, unknown>): DensityParams {
  const runtime = runtimeFrom(flags);
  return {
    containers: flags['containers'] as number,
    parallel: flags['parallel'] as number,
    ...(runtime !== undefined ? { runtime } : {}),
    timeoutSec: flags['timeout'] as number,
  };
}

/** fn over items, at most n at a time; the first failure rejects (the rest still settle). */
async function pool<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (next < items.length && errors.length === 0) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (errors.length > 0) throw errors[0];
}

function figure(xs: number[]): ShimFigure {
  return { median: median(xs), mean: mean(xs), total: sum(xs) };
}

/** `ctr task ls` as id → status. */
async function taskStatuses(side: Side): Promise<Map<string, string>> {
  const r = await side.ctr(['tasks', 'ls']);
  if (r.code !== 0) throw ctrFailed(`${side.name}: ctr tasks ls`, r);
  const out = new Map<string, string>();
  for (const line of r.stdout.trim().split('\n').slice(1)) {
    const [id, , status] = line.trim().split(/\s+/);
    if (id && status) out.set(id, status);
  }
  return out;
}

async function oneSide(pair: Pair, side: Side, p: DensityParams, progress: (line: string) => void): Promise<DensitySide> {
  const ids = Array.from({ length: p.containers }, (_, i) => `${pair.token}-${side.name}-d${i}`);
  const runtime = side.name === 'ctrd' ? pair.ctrdRuntimeArgs : [];
  const idle = memoryOf(side.pid);
  const available0 = memAvailableKiB();
  const opMs = new Map<Op, number[]>(ops.map((o) => [o, []]));
  /** One ctr command, timed; fails the run if ctr fails. */
  const ctr = async (op: Op, args: string[], id: string) => {
    const t = performance.now();
    const r = await side.ctr(args, 60_000);
    opMs.get(op)!.push(performance.now() - t);
    if (r.code !== 0) throw ctrFailed(`${side.name}: ctr ${op} ${id}`, r);
  };

  progress(`${side.name}: starting ${p.containers} containers, ${p.parallel} ctr run -d at a time`);
  const t0 = performance.now();
  let started = 0;
  await pair.race(
    pool(ids, p.parallel, async (id) => {
      pair.track(id);
      await ctr('run -d', ['run', '-d', ...runtime, pair.image, id, 'sleep', '1000'], id);
      if (++started % 50 === 0) progress(`  ${side.name}: ${started}/${p.containers} started`);
    }),
  );
  const startSec = (performance.now() - t0) / 1000;
  const statuses = await taskStatuses(side);
  const notRunning = ids.filter((id) => statuses.get(id) !== 'RUNNING');
  if (notRunning.length > 0) throw new Error(`${side.name}: ${notRunning.length} tasks are not RUNNING, e.g. ${notRunning.slice(0, 3).map((id) => `${id} ${statuses.get(id) ?? 'missing'}`).join(', ')}`);

  // The Go shim's `start` re-executes itself and exits: wait until only the long-lived ones are left.
  let shims = shimsOf(side.address);
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const now = shimsOf(side.address);
    if (now.length === shims.length) break;
    shims = now;
  }
  const perShim = shims.map(memoryOf);
  const running = memoryOf(side.pid);
  const perContainer = {
    pss: sum(perShim.map((m) => m.pssKiB)) / p.containers,
    private: sum(perShim.map((m) => m.privateKiB)) / p.containers,
    memAvailable: (available0 - memAvailableKiB()) / p.containers,
  };
  progress(`${side.name}: ${shims.length} shims, median PSS ${(median(perShim.map((m) => m.pssKiB)) / 1024).toFixed(2)} MiB; removing the containers`);

  const t1 = performance.now();
  await pair.race(
    pool(ids, p.parallel, async (id) => {
      await ctr('task kill -s 9', ['tasks', 'kill', '-s', '9', id], id);
    }),
  );
  await pair.race(
    waitFor(
      `${side.name}'s tasks to stop`,
      async () => [...(await taskStatuses(side)).values()].every((s) => s === 'STOPPED'),
      60_000,
    ),
  );
  await pair.race(
    pool(ids, p.parallel, async (id) => {
      await ctr('task rm', ['tasks', 'rm', id], id);
      await ctr('c rm', ['containers', 'rm', id], id);
    }),
  );
  const teardownSec = (performance.now() - t1) / 1000;

  // Nothing left: no shim, no mount, no task or container, no runc state.
  // ctrd keeps an emptied shared shim for its idle_timeout (10 s by default).
  await waitFor(`${side.name}'s shims to exit`, () => shimsOf(side.address).length === 0, 30_000).catch(() => {
    throw new Error(`${side.name}: shims ${shimsOf(side.address).join(', ')} still running after every container was removed`);
  });
  const mounts = mountsUnder(side.dir);
  if (mounts.length > 0) throw new Error(`${side.name}: still mounted after every container was removed: ${mounts.slice(0, 5).join(', ')}`);
  for (const what of ['tasks', 'containers']) {
    const r = await side.ctr([what, 'ls', '-q']);
    if (r.code !== 0 || r.stdout.trim() !== '') throw new Error(`${side.name}: ctr ${what} ls still lists ${r.stdout.trim().split('\n').length}: ${r.stderr}`);
  }
  let runcState: string[] = [];
  try {
    runcState = readdirSync(join(runDir, 'runc', pair.namespace)).filter((id) => ids.includes(id));
  } catch {
    // no runc state dir for the namespace: nothing left
  }
  if (runcState.length > 0) throw new Error(`${side.name}: runc state left for ${runcState.slice(0, 5).join(', ')}`);
  const after = memoryOf(side.pid);
  progress(`${side.name}: removed all in ${teardownSec.toFixed(1)} s; nothing left`);

  return {
    shims: shims.length,
    pss: figure(perShim.map((m) => m.pssKiB)),
    private: figure(perShim.map((m) => m.privateKiB)),
    rss: figure(perShim.map((m) => m.rssKiB)),
    perShim,
    perContainer,
    daemon: { idle, running, after },
    startSec,
    teardownSec,
    opsMs: Object.fromEntries(ops.map((o) => [o, median(opMs.get(o)!)])) as Record<Op, number>,
  };
}

export async function runDensity(p: DensityParams, progress: (line: string) => void): Promise<DensityResult> {
  return withPair('density', p, progress, async (pair, info) => {
    progress(`ctrd's runtime: ${info.ctrdRuntime}`);
    const ctrd = await oneSide(pair, pair.ctrd, p, progress);
    const containerd = await oneSide(pair, pair.containerd, p, progress);
    return {
      benchmark: 'density',
      revision,
      node: process.version,
      cpus: cpus().length,
      params: p,
      image: pair.image,
      info,
      sides: { ctrd, containerd },
      ratio: {
        pssMedian: ctrd.pss.median / containerd.pss.median,
        pssTotal: ctrd.pss.total / containerd.pss.total,
        privateMedian: ctrd.private.median / containerd.private.median,
        privateTotal: ctrd.private.total / containerd.private.total,
        daemonRunningPss: ctrd.daemon.running.pssKiB / containerd.daemon.running.pssKiB,
        startSec: ctrd.startSec / containerd.startSec,
        perContainerPss: ctrd.perContainer.pss / containerd.perContainer.pss,
        perContainerPrivate: ctrd.perContainer.private / containerd.perContainer.private,
        perContainerMemAvailable: ctrd.perContainer.memAvailable / containerd.perContainer.memAvailable,
      },
    };
  });
}

const mib = (kib: number, digits = 2) => (Number.isNaN(kib) ? '' : (kib / 1024).toFixed(digits));
const f = (n: number, digits = 2) => (Number.isNaN(n) ? '' : n.toFixed(digits));

export function formatDensity(r: DensityResult): string {
  const k = r.params.containers;
  const shimRow = (label: string, s: DensitySide) => [
    label,
    String(s.shims),
    mib(s.pss.median),
    mib(s.pss.mean),
    mib(s.pss.total, 0),
    mib(s.private.median),
    mib(s.private.mean),
    mib(s.private.total, 0),
    mib(s.rss.median),
    f(s.startSec, 1),
    f(s.teardownSec, 1),
  ];
  const mem = (m: Memory) => `${mib(m.rssKiB, 0)} / ${mib(m.pssKiB, 0)} / ${mib(m.privateKiB, 0)}`;
  const daemonRow = (label: string, s: DensitySide) => [label, mem(s.daemon.idle), mem(s.daemon.running), mem(s.daemon.after)];
  return [
    `ctrd density benchmark — revision ${r.revision}, node ${r.node}, ${r.cpus} CPUs; containerd ${r.info.containerd}, runc ${r.info.runc}`,
    '',
    `${k} containers per daemon (\`ctr run -d ${r.image} ID sleep 1000\`, ${r.params.parallel} at a time), ctrd's first, then containerd's,`,
    `each daemon's removed (task kill -s 9, task rm, c rm) and checked gone before the next. ctrd's containers run on:`,
    `${r.info.ctrdRuntime}; containerd's on its default, io.containerd.runc.v2.`,
    'Per shim process, MiB, with all running (/proc/PID/smaps_rollup; private = Private_Clean + Private_Dirty, what the shim alone',
    "holds; PSS shares the shims' common pages among them). ratio = ctrd ÷ containerd (> 1: ctrd's use more).",
    table([
      ['', 'shims', 'PSS median', 'PSS mean', 'PSS total', 'private median', 'private mean', 'private total', 'RSS median', 'start all s', 'remove all s'],
      shimRow('ctrd', r.sides.ctrd),
      shimRow('containerd', r.sides.containerd),
      ['ratio ctrd ÷ containerd', '', f(r.ratio.pssMedian), '', f(r.ratio.pssTotal), f(r.ratio.privateMedian), '', f(r.ratio.privateTotal), '', f(r.ratio.startSec), ''],
    ]),
    '',
    `Per container, MiB: the shims' memory summed ÷ ${k}, and the host's MemAvailable drop from none to ${k} running ÷ ${k}`,
    table([
      ['', 'shim PSS', 'shim private', 'MemAvailable drop'],
      ...(['ctrd', 'containerd'] as const).map((n) => [n, mib(r.sides[n].perContainer.pss), mib(r.sides[n].perContainer.private), mib(r.sides[n].perContainer.memAvailable)]),
      ['ratio ctrd ÷ containerd', f(r.ratio.perContainerPss), f(r.ratio.perContainerPrivate), f(r.ratio.perContainerMemAvailable)],
    ]),
    '',
    `The daemon process itself, MiB RSS / PSS / private: idle (image pulled), with ${k} running, after removing them; ratio of PSS running ${f(r.ratio.daemonRunningPss)}`,
    table([['', 'idle', `${k} running`, 'after'], daemonRow('ctrd', r.sides.ctrd), daemonRow('containerd', r.sides.containerd)]),
    '',
    `Each ctr command, median ms (${r.params.parallel} at a time; "remove all s" above also waits for the tasks to stop between kill and rm)`,
    table([
      ['', ...ops],
      ['ctrd', ...ops.map((o) => f(r.sides.ctrd.opsMs[o], 0))],
      ['containerd', ...ops.map((o) => f(r.sides.containerd.opsMs[o], 0))],
      ['ratio ctrd ÷ containerd', ...ops.map((o) => f(r.sides.ctrd.opsMs[o] / r.sides.containerd.opsMs[o]))],
    ]),
  ].join('\n');
}

/** The benchmark as bench/run.ts lists it. */
export const densityBenchmark = {
  name: 'density',
  description: 'the memory of K running containers\' shims, and the daemon\'s, against containerd with runc',
  addOptions,
  run: (flags: Record<string, unknown>, progress: (line: string) => void) => runDensity(paramsFrom(flags), progress),
  format: formatDensity,
};

function memAvailableKiB(): number {
  const m = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) : NaN;
}
