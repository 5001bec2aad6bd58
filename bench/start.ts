// The start benchmark: stock `ctr run --rm IMAGE ID true`, N times, against ctrd and against a real
// containerd with runc in the same run (bench/pair.ts), the two alternating in Thue–Morse order so that a
// drift in the machine's state weighs on both alike. One run is the whole of what a user waits for: ctr
// starting, the container record, the snapshot, the shim, runc create and start, the exit, the delete.
// Reports the median, p90 and mean per side, ctrd's ÷ containerd's, and the daemons' CPU per run.
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Option, type Command } from 'commander';
import { revision } from '../lib/version.js';
import { loadDefaults, parseCount, processCpuSec, table } from './load.js';
import { addRuntimeOption, ctrFailed, runtimeFrom, withPair, type Pair, type PairInfo, type SideName } from './pair.js';
import { shimsOf } from '../test/harness/tasks.js';
import { waitFor } from '../test/harness/daemon.js';
import { mean, median, percentile, thueMorse } from './stats.js';

export interface StartParams {
  /** Timed runs per side. */
  starts: number;
  runtime?: string;
  timeoutSec: number;
}

export const startDefaults: StartParams = { starts: 30, timeoutSec: loadDefaults.timeoutSec };

export interface StartSummary {
  /** Wall seconds of each `ctr run --rm`, in the order run. */
  runsSec: number[];
  medianSec: number;
  p90Sec: number;
  meanSec: number;
  minSec: number;
  maxSec: number;
  /** The daemon's CPU seconds (user + system) over the timed runs ÷ the runs. */
  daemonCpuSecPerRun: number;
}

/** A column of the benchmark: one daemon, and the `ctr run` flags that pick its runtime. */
export interface StartColumn {
  label: string;
  side: SideName;
  args: string[];
}

export interface StartResult {
  benchmark: 'start';
  revision: string;
  node: string;
  cpus: number;
  params: StartParams;
  image: string;
  info: PairInfo;
  columns: Array<StartColumn & { summary: StartSummary; ratio: { median: number; p90: number; mean: number; daemonCpu: number } }>;
}

function addOptions(cmd: Command): void {
  cmd.addOption(new Option('--starts <n>', 'start: timed `ctr run --rm` per daemon').argParser(parseCount).default(startDefaults.starts));
  addRuntimeOption(cmd);
}

function paramsFrom(flags: Record<string, unknown>): StartParams {
  const runtime = runtimeFrom(flags);
  return { starts: flags['starts'] as number, ...(runtime !== undefined ? { runtime } : {}), timeoutSec: flags['timeout'] as number };
}

/** One `ctr run --rm IMAGE ID true`, timed, with the daemon's CPU meanwhile. */
async function startOnce(pair: Pair, column: StartColumn, id: string): Promise<{ wallSec: number; cpuSec: number }> {
  const side = pair[column.side];
  pair.track(id);
  const cpu0 = processCpuSec(side.pid);
  const t0 = performance.now();
  const r = await side.ctr(['run', '--rm', ...column.args, pair.image, id, 'true'], 60_000);
  const wallSec = (performance.now() - t0) / 1000;
  const cpuSec = processCpuSec(side.pid) - cpu0;
  if (r.code !== 0) throw ctrFailed(`${column.label}: ctr run --rm ${id}`, r);
  return { wallSec, cpuSec };
}

/**
 * ctrd on its default runtime (the native backend, unless --runtime says otherwise), ctrd with runc through
 * the same shim (`--runc-binary runc`), and containerd with runc.
 */
function columnsOf(pair: Pair): StartColumn[] {
  return [
    { label: pair.ctrdRuntimeArgs.length > 0 ? `ctrd ${pair.ctrdRuntimeArgs.join(' ')}` : 'ctrd (default: native)', side: 'ctrd', args: pair.ctrdRuntimeArgs },
    ...(pair.ctrdRuntimeArgs.length > 0 ? [] : [{ label: 'ctrd --runc-binary runc', side: 'ctrd' as const, args: ['--runc-binary', 'runc'] }]),
    { label: 'containerd (runc)', side: 'containerd', args: [] },
  ];
}

function summarize(runs: Array<{ wallSec: number; cpuSec: number }>): StartSummary {
  const w = runs.map((r) => r.wallSec);
  return {
    runsSec: w,
    medianSec: median(w),
    p90Sec: percentile(w, 90),
    meanSec: mean(w),
    minSec: Math.min(...w),
    maxSec: Math.max(...w),
    daemonCpuSecPerRun: runs.reduce((a, r) => a + r.cpuSec, 0) / runs.length,
  };
}

export async function runStart(p: StartParams, progress: (line: string) => void): Promise<StartResult> {
  return withPair('start', p, progress, async (pair, info) => {
    const columns = columnsOf(pair);
    progress(`columns: ${columns.map((c) => c.label).join(', ')}; warm-up: one untimed run on each`);
    for (const [i, c] of columns.entries()) await pair.race(startOnce(pair, c, `${pair.token}-${i}-warm`));
    const runs = columns.map(() => [] as Array<{ wallSec: number; cpuSec: number }>);
    for (let i = 0; i < p.starts; i++) {
      // Each round runs every column once, in an order that turns over from round to round (Thue–Morse).
      const order = columns.map((_, k) => k);
      if (thueMorse(i)) order.reverse();
      for (const k of order) runs[k]!.push(await pair.race(startOnce(pair, columns[k]!, `${pair.token}-${k}-${i}`)));
      if ((i + 1) % 10 === 0 || i + 1 === p.starts) {
        progress(`  ${i + 1}/${p.starts}: median of the last 10: ${columns.map((c, k) => `${c.label} ${median(runs[k]!.slice(-10).map((r) => r.wallSec)).toFixed(3)} s`).join(', ')}`);
      }
    }
    for (const side of [pair.ctrd, pair.containerd]) {
      const ls = await side.ctr(['containers', 'ls', '-q']);
      // ctrd keeps an emptied shared shim for its idle_timeout (10 s by default) before it shuts it down.
      await waitFor('the idle shims to go', () => shimsOf(side.address).length === 0, 20_000).catch(() => undefined);
      const shims = shimsOf(side.address);
      if (ls.stdout.trim() !== '' || shims.length > 0) throw new Error(`${side.name} kept containers (${ls.stdout.trim()}) or shims (${shims.join(', ')}) after ctr run --rm`);
    }
    const summaries = runs.map(summarize);
    const reference = summaries[summaries.length - 1]!;
    return {
      benchmark: 'start',
      revision,
      node: process.version,
      cpus: cpus().length,
      params: p,
      image: pair.image,
      info,
      columns: columns.map((c, k) => {
        const s = summaries[k]!;
        return {
          ...c,
          summary: s,
          ratio: {
            median: s.medianSec / reference.medianSec,
            p90: s.p90Sec / reference.p90Sec,
            mean: s.meanSec / reference.meanSec,
            daemonCpu: s.daemonCpuSecPerRun / reference.daemonCpuSecPerRun,
          },
        };
      }),
    };
  });
}

const f = (n: number, digits = 3) => (Number.isNaN(n) ? '' : n.toFixed(digits));

export function formatStart(r: StartResult): string {
  return [
    `ctrd start benchmark — revision ${r.revision}, node ${r.node}, ${r.cpus} CPUs; containerd ${r.info.containerd}, runc ${r.info.runc}`,
    '',
    `\`ctr run --rm ${r.image} ID true\`, ${r.params.starts} timed runs per column after one untimed, the columns taking turns in`,
    `Thue–Morse order. ctrd's default runtime: ${r.info.ctrdRuntime}; containerd's: its default, io.containerd.runc.v2.`,
    'ratio = the column ÷ containerd (< 1: faster than containerd). daemon CPU: the daemon process alone (not the shim, runc or ctr), per run.',
    `A bare \`ctr version\` takes ${f(r.info.ctrStartupSec)} s: that much of every run is ctr starting up.`,
    table([
      ['', 'median s', 'p90 s', 'mean s', 'min s', 'max s', 'daemon CPU ms/run', 'median ratio'],
      ...r.columns.map((c) => [c.label, f(c.summary.medianSec), f(c.summary.p90Sec), f(c.summary.meanSec), f(c.summary.minSec), f(c.summary.maxSec), f(c.summary.daemonCpuSecPerRun * 1000, 1), f(c.ratio.median, 2)]),
    ]),
  ].join('\n');
}

/** The benchmark as bench/run.ts lists it. */
export const startBenchmark = {
  name: 'start',
  description: '`ctr run --rm busybox true` against containerd with runc',
  addOptions,
  run: (flags: Record<string, unknown>, progress: (line: string) => void) => runStart(paramsFrom(flags), progress),
  format: formatStart,
};
