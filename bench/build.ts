// The build benchmark: one Dockerfile of 10 steps (ENV, WORKDIR, COPY of a few MiB of files, two RUNs, an ADD of
// a tar.gz, LABEL, CMD) on the test busybox from a local registry, built by ctrd (`ctrctl build`) and, in the
// same run on the same context, by Debian's buildah (`buildah bud --isolation chroot`, on the vfs storage
// driver and on overlay when it works here). Each round builds cold (no cache: ctrd --no-cache, buildah
// --no-cache --layers) and warm (the cache of the rounds before: ctrd's layer cache, buildah --layers), the
// sides in Thue–Morse order. Reports the medians and ctrd ÷ buildah for each phase: below 1, ctrd is faster.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Option, type Command } from 'commander';
import { revision } from '../lib/version.js';
import { run, TestDaemon } from '../test/harness/daemon.js';
import { writeRandomFile } from '../test/harness/files.js';
import { pushBusybox, removeTestImages } from '../test/harness/images.js';
import { mountsUnder } from '../test/harness/mounts.js';
import { startRegistry } from '../test/harness/registry.js';
import { loadDefaults, parseCount, table } from './load.js';
import { median, thueMorse } from './stats.js';

export interface BuildParams {
  runs: number;
  /** MiB of random files the context's COPY takes. */
  contextMiB: number;
  timeoutSec: number;
}

type Side = 'ctrd' | 'buildah-vfs' | 'buildah-overlay';

export interface BuildResult {
  benchmark: 'build';
  revision: string;
  node: string;
  cpus: number;
  buildah: string;
  params: BuildParams;
  /** Seconds of each build, per side and phase. */
  cold: Partial<Record<Side, number[]>>;
  warm: Partial<Record<Side, number[]>>;
  /** Why a side was left out (buildah on overlay where the kernel or storage refuses it). */
  skipped: Partial<Record<Side, string>>;
}

function addOptions(cmd: Command): void {
  cmd.addOption(new Option('--build-runs <n>', 'build: rounds of a cold and a warm build per side').argParser(parseCount).default(5));
  cmd.addOption(new Option('--context-mib <n>', 'build: MiB of files in the context').argParser(parseCount).default(4));
}

/** The context: a Dockerfile of 10 instructions, random files, a small tar.gz for ADD. */
function makeContext(dir: string, image: string, mib: number): void {
  const data = join(dir, 'data');
  mkdirSync(data, { recursive: true });
  for (let i = 0; i < mib; i++) writeRandomFile(join(data, `blob-${i}`), 1 << 20);
  const vendor = join(dir, 'vendor-src', 'lib');
  mkdirSync(vendor, { recursive: true });
  for (let i = 0; i < 20; i++) writeFileSync(join(vendor, `mod${i}.txt`), `module ${i}\n`.repeat(100));
  execFileSync('tar', ['-czf', join(dir, 'bundle.tar.gz'), '-C', join(dir, 'vendor-src'), 'lib']);
  rmSync(join(dir, 'vendor-src'), { recursive: true });
  writeFileSync(join(dir, 'config.json'), '{"mode":"bench"}\n');
  writeFileSync(
    join(dir, 'Dockerfile'),
    `FROM ${image}
ENV APP=/app MODE=bench
WORKDIR /app
COPY data/ /app/data/
RUN mkdir -p /app/out && for i in $(seq 1 50); do echo line $i >> /app/out/log; done
ADD bundle.tar.gz /app/vendor/
COPY config.json /app/
RUN sha256sum /app/data/* > /app/out/sums
LABEL bench=build
CMD ["cat", "/app/out/sums"]
`,
  );
}

export async function runBuild(p: BuildParams, progress: (line: string) => void): Promise<BuildResult> {
  const work = mkdtempSync(join(tmpdir(), 'ctrd-bench-build-'));
  const d = new TestDaemon(['--log-level', 'warn']);
  const reg = await startRegistry();
  try {
    const version = await run('buildah', ['--version']).catch(() => undefined);
    if (!version || version.code !== 0) throw new Error('buildah is not installed: apt-get install buildah (npm run setup -- --test installs it)');
    await d.start();
    const image = (await pushBusybox(reg)).latest.ref;
    const ctx = join(work, 'context');
    makeContext(ctx, image, p.contextMiB);
    const policy = join(work, 'policy.json');
    writeFileSync(policy, '{"default":[{"type":"insecureAcceptAnything"}]}\n');

    const ctrd = async (phase: 'cold' | 'warm', i: number) => {
      const args = ['build', '--network', 'none', '-q', '-t', `bench:${phase}-${i}`, ...(phase === 'cold' ? ['--no-cache'] : []), ctx];
      const t0 = performance.now();
      const r = await d.ctrctl(args, { timeoutMs: p.timeoutSec * 1000 });
      const sec = (performance.now() - t0) / 1000;
      if (r.code !== 0) throw new Error(`ctrctl ${args.join(' ')}: ${r.stderr.slice(-2000)}`);
      return sec;
    };
    const buildah = (driver: 'vfs' | 'overlay') => {
      const root = join(work, `buildah-${driver}`);
      const global = ['--root', join(root, 'root'), '--runroot', join(root, 'run'), '--storage-driver', driver];
      return async (phase: 'cold' | 'warm', i: number) => {
        const args = [...global, 'bud', '--isolation', 'chroot', '--signature-policy', policy, '--tls-verify=false', '--layers', '-q', '-t', `bench:${phase}-${i}`, ...(phase === 'cold' ? ['--no-cache'] : []), ctx];
        const t0 = performance.now();
        const r = await run('buildah', args, { timeoutMs: p.timeoutSec * 1000, env: { ...process.env, BUILDAH_ISOLATION: 'chroot' } });
        const sec = (performance.now() - t0) / 1000;
        if (r.code !== 0) throw new Error(`buildah ${args.join(' ')}: ${r.stderr.slice(-2000)}`);
        return sec;
      };
    };
    const builders: Partial<Record<Side, (phase: 'cold' | 'warm', i: number) => Promise<number>>> = { ctrd, 'buildah-vfs': buildah('vfs'), 'buildah-overlay': buildah('overlay') };
    const skipped: BuildResult['skipped'] = {};
    // Untimed: each side pulls the base image and fills its cache once.
    for (const side of Object.keys(builders) as Side[]) {
      try {
        await builders[side]!('warm', 0);
      } catch (err) {
        if (side !== 'buildah-overlay') throw err;
        skipped[side] = (err as Error).message.split('\n').slice(-3).join(' ').slice(0, 300);
        delete builders[side];
        progress(`buildah on overlay left out: ${skipped[side]}`);
      }
    }
    const sides = Object.keys(builders) as Side[];
    const cold: BuildResult['cold'] = {};
    const warm: BuildResult['warm'] = {};
    for (let i = 1; i <= p.runs; i++) {
      const order = thueMorse(i) ? [...sides].reverse() : sides;
      for (const side of order) {
        (cold[side] ??= []).push(await builders[side]!('cold', i));
        (warm[side] ??= []).push(await builders[side]!('warm', i));
      }
      progress(`  ${i}/${p.runs}: ${sides.map((s) => `${s} cold ${median(cold[s]!).toFixed(2)} s, warm ${median(warm[s]!).toFixed(2)} s`).join('; ')}`);
    }
    return { benchmark: 'build', revision, node: process.version, cpus: cpus().length, buildah: version.stdout.trim(), params: p, cold, warm, skipped };
  } finally {
    await reg.stop();
    await d.cleanup();
    removeTestImages();
    // buildah's overlay storage may leave its layers mounted.
    for (const m of mountsUnder(work).reverse()) execFileSync('umount', ['-l', m]);
    rmSync(work, { recursive: true, force: true });
  }
}

const f = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(2));

export function formatBuild(r: BuildResult): string {
  const sides: Side[] = ['ctrd', 'buildah-vfs', 'buildah-overlay'];
  const ratio = (phase: 'cold' | 'warm', ref: Side) => {
    const a = r[phase].ctrd;
    const b = r[phase][ref];
    return a && b ? f(median(a) / median(b)) : '-';
  };
  return [
    `ctrd build benchmark — revision ${r.revision}, node ${r.node}, ${r.cpus} CPUs, ${r.buildah}`,
    '',
    `One Dockerfile of 10 steps (two RUNs, two COPYs of ${r.params.contextMiB} MiB and a file, an ADD of a tar.gz) on busybox from a`,
    `local registry, ${r.params.runs} rounds; cold = no cache, warm = the cache of the rounds before. Reference: buildah bud`,
    '--isolation chroot --layers on the same context. ratio = ctrd ÷ buildah (below 1: ctrd is faster).',
    table([
      ['', 'cold median s', 'warm median s'],
      ...sides.filter((s) => r.cold[s]).map((s) => [s, f(median(r.cold[s]!)), f(median(r.warm[s]!))]),
      ['ratio ctrd ÷ buildah-vfs', ratio('cold', 'buildah-vfs'), ratio('warm', 'buildah-vfs')],
      ['ratio ctrd ÷ buildah-overlay', ratio('cold', 'buildah-overlay'), ratio('warm', 'buildah-overlay')],
    ]),
    ...Object.entries(r.skipped).map(([s, why]) => `${s} left out: ${why}`),
  ].join('\n');
}

export const buildBenchmark = {
  name: 'build',
  description: 'a Dockerfile built cold and warm, against buildah',
  addOptions,
  run: (flags: Record<string, unknown>, progress: (line: string) => void) =>
    runBuild(
      { runs: flags['buildRuns'] as number, contextMiB: flags['contextMib'] as number, timeoutSec: (flags['timeout'] as number | undefined) ?? loadDefaults.timeoutSec },
      progress,
    ),
  format: formatBuild,
};
