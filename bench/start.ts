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
import { addRuntimeOption, ctrFailed, runtimeFrom, withPair, type Pair, type PairInfo, type Side, type SideName } from './pair.js';
import { shimsOf } from '../test/harness/tasks.js';
import { waitFor } from '../test/harness/daemon.js';
import { mean, median, percentile } from './stats.js';

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

export interface StartResult {
  benchmark: 'start';
  revision: string;
  node: string;
  cpus: number;
  params: StartParams;
  image: string;
  info: PairInfo;
  sides: Record<SideName, StartSummary>;
  /** ctrd's ÷ containerd's: > 1 means ctrd is slower. */
  ratio: { median: number; p90: number; mean: number; daemonCpu: number };
}

function addOptions(cmd: Command): void {
  cmd.addOption(new Option('--starts <n>', 'start: timed `ctr run --rm` per daemon').argParser(parseCount).default(startDefaults.starts));
  addRuntimeOption(cmd);
}

function paramsFrom(flags: Record<string, unknown>): StartParams {
  const runtime = runtimeFrom(flags);
  return { starts: flags['starts'] as number, ...(runtime !== undefined ? { runtime } : {}), timeoutSec: flags['timeout'] as number };
}

/** 0 1 1 0 1 0 0 1 ...: whether the i-th round runs containerd first. */
function thueMorse(i: number): boolean {
  let bits = 0;
  for (let n = i; n > 0; n >>= 1) bits += n & 1;
  return bits % 2 === 1;
}

/** One `ctr run --rm IMAGE ID true`, timed, with the daemon's CPU meanwhile. */
async function startOnce(pair: Pair, side: Side, id: string): Promise<{ wallSec: number; cpuSec: number }> {
  pair.track(id);
  const runtime = side.name === 'ctrd' ? pair.ctrdRuntimeArgs : [];
  const cpu0 = processCpuSec(side.pid);
  const t0 = performance.now();
  const r = await side.ctr(['run', '--rm', ...runtime, pair.image, id, 'true'], 60_000);
  const wallSec = (performance.now() - t0) / 1000;
  const cpuSec = processCpuSec(side.pid) - cpu0;
  if (r.code !== 0) throw ctrFailed(`${side.name}: ctr run --rm ${id}`, r);
  return { wallSec, cpuSec };
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
    const sides: Side[] = [pair.ctrd, pair.containerd];
    progress(`ctrd's runtime: ${info.ctrdRuntime}; warm-up: one untimed run on each`);
    for (const side of sides) await pair.race(startOnce(pair, side, `${pair.token}-${side.name}-warm`));
    const runs: Record<SideName, Array<{ wallSec: number; cpuSec: number }>> = { ctrd: [], containerd: [] };
    for (let i = 0; i < p.starts; i++) {
      const order = thueMorse(i) ? [pair.containerd, pair.ctrd] : [pair.ctrd, pair.containerd];
      for (const side of order) runs[side.name].push(await pair.race(startOnce(pair, side, `${pair.token}-${side.name}-${i}`)));
      if ((i + 1) % 10 === 0 || i + 1 === p.starts) {
        const last = (s: SideName) => median(runs[s].slice(-10).map((r) => r.wallSec)).toFixed(3);
        progress(`  ${i + 1}/${p.starts}: median of the last 10, ctrd ${last('ctrd')} s, containerd ${last('containerd')} s`);
      }
    }
    for (const side of sides) {
      const ls = await side.ctr(['containers', 'ls', '-q']);
      // ctrd keeps an emptied shared shim for its idle_timeout (10 s by default) before it shuts it down.
      await waitFor('the idle shims to go', () => shimsOf(side.address).length === 0, 20_000).catch(() => undefined);
      const shims = shimsOf(side.address);
      if (ls.stdout.trim() !== '' || shims.length > 0) throw new Error(`${side.name} kept containers (${ls.stdout.trim()}) or shims (${shims.join(', ')}) after ctr run --rm`);
    }
    const ctrd = summarize(runs.ctrd);
    const containerd = summarize(runs.containerd);
    return {
      benchmark: 'start',
      revision,
      node: process.version,
      cpus: cpus().length,
      params: p,
      image: pair.image,
      info,
      sides: { ctrd, containerd },
      ratio: {
        median: ctrd.medianSec / containerd.medianSec,
        p90: ctrd.p90Sec / containerd.p90Sec,
        mean: ctrd.meanSec / containerd.meanSec,
        daemonCpu: ctrd.daemonCpuSecPerRun / containerd.daemonCpuSecPerRun,
      },
    };
  });
}

const f = (n: number, digits = 3) => (Number.isNaN(n) ? '' : n.toFixed(digits));

export function formatStart(r: StartResult): string {
  const row = (label: string, s: StartSummary) => [label, f(s.medianSec), f(s.p90Sec), f(s.meanSec), f(s.minSec), f(s.maxSec), f(s.daemonCpuSecPerRun * 1000, 1)];
  return [
    `ctrd start benchmark — revision ${r.revision}, node ${r.node}, ${r.cpus} CPUs; containerd ${r.info.containerd}, runc ${r.info.runc}`,
    '',
    `\`ctr run --rm ${r.image} ID true\`, ${r.params.starts} timed runs per daemon after one untimed, the daemons alternating in`,
    `Thue–Morse order. ctrd's containers run on: ${r.info.ctrdRuntime}; containerd's on its default, io.containerd.runc.v2.`,
    'ratio = ctrd ÷ containerd (> 1: ctrd is slower). daemon CPU: the daemon process alone (not the shim, runc or ctr), per run.',
    `A bare \`ctr version\` takes ${f(r.info.ctrStartupSec)} s: that much of every run is ctr starting up.`,
    table([
      ['', 'median s', 'p90 s', 'mean s', 'min s', 'max s', 'daemon CPU ms/run'],
      row('ctrd (ctr run --rm)', r.sides.ctrd),
      row('containerd (ctr run --rm)', r.sides.containerd),
      ['ratio ctrd ÷ containerd', f(r.ratio.median, 2), f(r.ratio.p90, 2), f(r.ratio.mean, 2), '', '', f(r.ratio.daemonCpu, 2)],
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
