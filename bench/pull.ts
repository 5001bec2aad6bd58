// The pull benchmark: ctrd's ImageService.Pull of test images from a real registry (Debian's docker-registry
// on 127.0.0.1, plain http), every pull cold, beside in the same run
//   - containerd's own `ctr images pull` against a real containerd (Debian's package) on a temp root, when it
//     is installed and starts: it fetches into containerd's content store and unpacks into its overlayfs
//     snapshotter, as ctrd does;
//   - `skopeo copy` into an OCI layout directory: the transfer and its digest checks, without an unpack.
// For each image it reports the median time of each tool, its MB/s, ctrd's time ÷ each reference's (< 1: ctrd
// is faster), when the last layer was fetched and how long the unpack took, and the CPU and peak RSS of the
// daemons and the clients.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ServiceError } from '@grpc/grpc-js';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { BlobState, type ImageSummary, type PullResponse } from '../gen/ctrd/services/images/v1/images.js';
import { unary, type Clients } from '../lib/grpc/client.js';
import { revision } from '../lib/version.js';
import { isAlive, run, TestDaemon, waitFor, type RunResult } from '../test/harness/daemon.js';
import { skopeoEnv, type PushedImage } from '../test/harness/images.js';
import { mountsUnder } from '../test/harness/mounts.js';
import { startRegistry, type TestRegistry } from '../test/harness/registry.js';
import { Containerd, containerdVersion } from './containerd.js';
import { deadline, loadDefaults, parseCount, processCpuSec, stopDaemon, table } from './load.js';
import { median } from './stats.js';

export type PullTool = 'ctrd' | 'containerd' | 'skopeo';
export const pullImages = ['multilayer', 'big'] as const;
export type PullImageName = (typeof pullImages)[number];

export interface PullParams {
  /** Timed pulls of each image by each tool. */
  runs: number;
  images: PullImageName[];
  /** Also against a real containerd, when it is installed. */
  containerd: boolean;
  /** The whole benchmark fails after this many seconds. */
  timeoutSec: number;
}

export const pullDefaults: PullParams = { runs: 5, images: [...pullImages], containerd: true, timeoutSec: loadDefaults.timeoutSec };

/** One timed pull. */
export interface PullRun {
  wallSec: number;
  /** When every layer was in the content store, from the start (ctrd: its progress stream; containerd: the time less ctr's unpack). */
  fetchedSec?: number;
  /** ctrd: the layers' extractions summed (they overlap the fetches); containerd: ctr's unpack, which starts after the fetch. */
  unpackSec?: number;
  /** ctrd's own account of the pull: its 'pulled' log line. */
  daemonSec?: number;
  /** CPU seconds (user + system) of the daemon during the pull; the client's: ctr or skopeo, or this process for ctrd. */
  daemonCpuSec?: number;
  clientCpuSec: number;
  /** Peak RSS during the pull, KiB: the daemon's (VmHWM, reset just before), ctr's or skopeo's (GNU time). */
  daemonPeakRssKiB?: number;
  clientPeakRssKiB?: number;
}

export interface ToolSummary {
  tool: PullTool;
  runs: PullRun[];
  /** Medians over the runs (of each figure on its own). */
  median: Omit<PullRun, 'wallSec'> & { wallSec: number };
  minSec: number;
  maxSec: number;
  /** Bytes fetched ÷ 10^6 ÷ the median time. */
  mbPerSec: number;
}

export interface ImageResult {
  name: PullImageName;
  ref: string;
  layers: number;
  /** What a pull fetches: the manifest, the config and the layers, as stored (compressed). */
  fetchBytes: number;
  /** The layers' uncompressed tars. */
  unpackedBytes: number;
  tools: Partial<Record<PullTool, ToolSummary>>;
  /** ctrd's median time ÷ the tool's median time: < 1 means ctrd is faster. */
  ratio: { containerd?: number; skopeo?: number };
}

export interface PullResult {
  benchmark: 'pull';
  revision: string;
  node: string;
  cpus: number;
  params: PullParams;
  versions: { containerd?: string; skopeo: string };
  /** Why containerd is not in the comparison, when it is not. */
  containerdSkipped?: string;
  /** Median seconds of a bare `ctr version`: the part of containerd's every time that is ctr starting up. */
  ctrStartupSec?: number;
  /** Whether the daemons' peak RSS could be reset before each pull (/proc/PID/clear_refs); if not, it is the process's lifetime peak. */
  peakRssPerPull: boolean;
  images: ImageResult[];
}

const mb = 1e6;
const namespace = 'default';
const timeBin = '/usr/bin/time';

// --- flags ---------------------------------------------------------------------------------------------------

function parseImages(s: string): PullImageName[] {
  const names = s.split(',').map((x) => x.trim()).filter((x) => x !== '');
  const bad = names.filter((n) => !(pullImages as readonly string[]).includes(n));
  if (names.length === 0 || bad.length > 0) throw new InvalidArgumentError(`images are a comma-separated list of ${pullImages.join(', ')}`);
  return [...new Set(names)] as PullImageName[];
}

function addOptions(cmd: Command): void {
  const d = pullDefaults;
  cmd
    .addOption(new Option('--runs <n>', 'pull: timed pulls of each image by each tool').argParser(parseCount).default(d.runs))
    .addOption(new Option('--images <list>', `pull: the images, of ${pullImages.join(', ')}`).argParser(parseImages).default(d.images, d.images.join(',')))
    .addOption(new Option('--no-containerd', 'pull: leave containerd out even when it is installed'));
}

function paramsFrom(flags: Record<string, unknown>): PullParams {
  return {
    runs: flags['runs'] as number,
    images: flags['images'] as PullImageName[],
    containerd: flags['containerd'] !== false,
    timeoutSec: flags['timeout'] as number,
  };
}

// --- measuring -----------------------------------------------------------------------------------------------

/** Resets a process's peak RSS to its current RSS (proc(5), clear_refs "5"); false where that is not allowed. */
function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

function peakRssKiB(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** The median of each figure that every run has. */
function summarize(tool: PullTool, runs: PullRun[], fetchBytes: number): ToolSummary {
  const keys = ['fetchedSec', 'unpackSec', 'daemonSec', 'daemonCpuSec', 'clientCpuSec', 'daemonPeakRssKiB', 'clientPeakRssKiB'] as const;
  const med: ToolSummary['median'] = { wallSec: median(runs.map((r) => r.wallSec)), clientCpuSec: median(runs.map((r) => r.clientCpuSec)) };
  for (const k of keys) {
    const xs = runs.map((r) => r[k]);
    if (xs.every((x): x is number => x !== undefined && !Number.isNaN(x))) med[k] = median(xs);
  }
  const walls = runs.map((r) => r.wallSec);
  return { tool, runs, median: med, minSec: Math.min(...walls), maxSec: Math.max(...walls), mbPerSec: fetchBytes / mb / med.wallSec };
}

interface Timed {
  result: RunResult;
  wallSec: number;
  cpuSec: number;
  peakRssKiB: number;
}

/**
 * Runs a command under GNU time, for its CPU and peak RSS; the wall time is this process's, from spawn to
 * exit (GNU time's own start adds about a millisecond).
 */
async function timed(dir: string, cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<Timed> {
  const out = join(dir, `time-${process.hrtime.bigint()}`);
  const t0 = performance.now();
  const result = await run(timeBin, ['-f', '%U %S %M', '-o', out, cmd, ...args], { env: env ?? process.env, timeoutMs: 120_000 });
  const wallSec = (performance.now() - t0) / 1000;
  // GNU time prefixes "Command exited with non-zero status N" to its line when the command failed.
  const line = existsSync(out) ? readFileSync(out, 'utf8').trim().split('\n').pop()! : '';
  rmSync(out, { force: true });
  const [user, sys, rss] = line.split(' ').map(Number);
  return { result, wallSec, cpuSec: (user ?? NaN) + (sys ?? NaN), peakRssKiB: rss ?? NaN };
}

function failed(what: string, r: RunResult): Error {
  return new Error(`${what} exited with ${r.code}:\n${(r.stderr || r.stdout).trim().split('\n').slice(-10).join('\n')}`);
}

/** Entries of a directory, none if it is not there. */
function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Waits until the content and snapshot directories of a containerd-style root are empty: the next pull is cold. */
async function waitCold(who: string, root: string): Promise<void> {
  const dirs = [join(root, 'io.containerd.content.v1.content', 'blobs', 'sha256'), join(root, 'io.containerd.snapshotter.v1.overlayfs', 'snapshots')];
  try {
    await waitFor(`${who}'s content and snapshots to be removed`, () => dirs.every((d) => entries(d).length === 0), 10_000);
  } catch {
    throw new Error(`${who} is not cold after removing the image: ${dirs.map((d) => `${d} holds ${entries(d).length}`).join(', ')}`);
  }
}

function snapshotCount(root: string): number {
  return entries(join(root, 'io.containerd.snapshotter.v1.overlayfs', 'snapshots')).length;
}

// --- the tools -----------------------------------------------------------------------------------------------

/** ctrd: ImageService.Pull over gRPC, each progress message timestamped on arrival. */
function ctrdPull(clients: Clients, reference: string): Promise<{ image: ImageSummary; events: Array<{ t: number; res: PullResponse }> }> {
  const t0 = performance.now();
  const events: Array<{ t: number; res: PullResponse }> = [];
  return new Promise((resolve, reject) => {
    const call = clients.ctrdImages.pull({ reference, platform: '', snapshotter: 'overlayfs', auth: undefined });
    call.on('data', (res: PullResponse) => events.push({ t: (performance.now() - t0) / 1000, res }));
    call.on('error', (err: ServiceError) => reject(new Error(`ctrd pull of ${reference}: ${err.details || err.message}`)));
    call.on('end', () => {
      const image = events[events.length - 1]?.res.image;
      if (image) resolve({ image, events });
      else reject(new Error(`ctrd pull of ${reference} ended without the image`));
    });
  });
}

/** From the progress stream: when the last layer was fetched, and the layers' extraction times summed. */
function ctrdPhases(events: Array<{ t: number; res: PullResponse }>): { fetchedSec: number; unpackSec: number } {
  const fetched = new Map<string, number>();
  const extracting = new Map<string, number>();
  const extracted = new Map<string, number>();
  for (const { t, res } of events) {
    for (const b of res.progress?.blobs ?? []) {
      if (b.kind !== 'layer') continue;
      const d = b.descriptor!.digest;
      if (b.state >= BlobState.BLOB_STATE_EXISTS && b.state <= BlobState.BLOB_STATE_EXTRACTED && !fetched.has(d)) fetched.set(d, t);
      if (b.state === BlobState.BLOB_STATE_EXTRACTING && !extracting.has(d)) extracting.set(d, t);
      if (b.state === BlobState.BLOB_STATE_EXTRACTED && !extracted.has(d)) extracted.set(d, t);
    }
  }
  let unpackSec = 0;
  for (const [d, end] of extracted) unpackSec += end - (extracting.get(d) ?? end);
  return { fetchedSec: Math.max(0, ...fetched.values()), unpackSec };
}

/** The ms of the last 'pulled' line ctrd logged since offset (the log is JSON lines, written synchronously). */
function loggedPullMs(logPath: string, offset: number): number | undefined {
  let ms: number | undefined;
  for (const line of readFileSync(logPath).subarray(offset).toString('utf8').split('\n')) {
    if (!line.includes('"pulled"')) continue;
    try {
      const entry = JSON.parse(line) as { msg?: string; ms?: number };
      if (entry.msg === 'pulled' && typeof entry.ms === 'number') ms = entry.ms;
    } catch {
      // a line that is not JSON (a pretty-printed log) has no figure for us
    }
  }
  return ms;
}

/** A Go duration as ctr prints it ("1.234s", "812.5ms", "1m2.5s"), in seconds. */
export function goDurationSec(s: string): number {
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 1e-3, 'µs': 1e-6, us: 1e-6, ns: 1e-9 };
  let total = 0;
  let matched = '';
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|µs|us|ns)/g)) {
    total += Number(m[1]) * units[m[2]!]!;
    matched += m[0];
  }
  return matched === s ? total : NaN;
}

async function skopeoVersion(): Promise<string> {
  const r = await run('skopeo', ['--version']);
  return r.stdout.trim().replace(/^skopeo version /, '');
}

// --- the run -------------------------------------------------------------------------------------------------

interface Tools {
  ctrd: { daemon: TestDaemon; clients: Clients };
  containerd?: Containerd;
  /** GNU time's output, and a fresh directory per skopeo run (its caches too), under this one. */
  dir: string;
}

/** One pull, timed, checked, then undone (untimed) so that the next one starts cold. */
async function pullOnce(tools: Tools, tool: PullTool, image: PushedImage): Promise<PullRun> {
  // The previous run's writeback is not this run's cost.
  await run('sync', []);
  switch (tool) {
    case 'ctrd': {
      const { daemon, clients } = tools.ctrd;
      const pid = daemon.pid!;
      const logOffset = readFileSync(daemon.logPath).length;
      const reset = resetPeakRss(pid);
      const cpu0 = processCpuSec(pid);
      const bench0 = process.cpuUsage();
      const t0 = performance.now();
      const { image: pulled, events } = await ctrdPull(clients, image.ref);
      const wallSec = (performance.now() - t0) / 1000;
      const daemonCpuSec = processCpuSec(pid) - cpu0;
      const bench = process.cpuUsage(bench0);
      const daemonPeakRssKiB = reset ? peakRssKiB(pid) : NaN;
      if (pulled.target?.digest !== image.manifest.digest) throw new Error(`ctrd pulled ${pulled.target?.digest}, expected ${image.manifest.digest}`);
      const snapshots = snapshotCount(daemon.root);
      if (snapshots !== image.layers.length) throw new Error(`ctrd left ${snapshots} overlayfs snapshots for ${image.layers.length} layers`);
      const loggedMs = loggedPullMs(daemon.logPath, logOffset);
      const removed = await unary(clients.ctrdImages, clients.ctrdImages.remove, { references: [image.ref], force: false });
      const err = removed.results.find((r) => r.error)?.error;
      if (err) throw new Error(`ctrd could not remove ${image.ref}: ${err}`);
      await waitCold('ctrd', daemon.root);
      return {
        wallSec,
        ...ctrdPhases(events),
        ...(loggedMs !== undefined ? { daemonSec: loggedMs / 1000 } : {}),
        daemonCpuSec,
        clientCpuSec: (bench.user + bench.system) / 1e6,
        daemonPeakRssKiB,
      };
    }
    case 'containerd': {
      const c = tools.containerd!;
      const reset = resetPeakRss(c.pid);
      const cpu0 = processCpuSec(c.pid);
      const t = await timed(tools.dir, 'ctr', c.ctrArgs(['images', 'pull', '--plain-http', image.ref]));
      const daemonCpuSec = processCpuSec(c.pid) - cpu0;
      const daemonPeakRssKiB = reset ? peakRssKiB(c.pid) : NaN;
      if (t.result.code !== 0) throw failed(`ctr images pull ${image.ref}`, t.result);
      const snapshots = snapshotCount(c.root);
      if (snapshots !== image.layers.length) throw new Error(`containerd left ${snapshots} overlayfs snapshots for ${image.layers.length} layers`);
      // ctr fetches everything, then unpacks, and prints "done: DURATION" for the unpack.
      const done = /^done: (\S+)/m.exec(t.result.stdout);
      const unpackSec = done ? goDurationSec(done[1]!) : NaN;
      const rm = await c.ctr(['images', 'rm', '--sync', image.ref]);
      if (rm.code !== 0) throw failed(`ctr images rm --sync ${image.ref}`, rm);
      await waitCold('containerd', c.root);
      return {
        wallSec: t.wallSec,
        ...(Number.isNaN(unpackSec) ? {} : { unpackSec, fetchedSec: t.wallSec - unpackSec }),
        daemonCpuSec,
        clientCpuSec: t.cpuSec,
        daemonPeakRssKiB,
        clientPeakRssKiB: t.peakRssKiB,
      };
    }
    case 'skopeo': {
      const dir = mkdtempSync(join(tools.dir, 'skopeo-'));
      try {
        // As the images harness runs it: caches and policy lookups under the run's own dir, not /var/lib/containers.
        const env = skopeoEnv(join(dir, 'home'));
        const dest = join(dir, 'oci');
        const t = await timed(
          tools.dir,
          'skopeo',
          ['--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', `docker://${image.ref}`, `oci:${dest}:latest`],
          env,
        );
        if (t.result.code !== 0) throw failed(`skopeo copy ${image.ref}`, t.result);
        const missing = image.layers.filter((l) => !existsSync(join(dest, 'blobs', 'sha256', l.descriptor.digest.slice(7))));
        if (missing.length > 0) throw new Error(`skopeo copy of ${image.ref} lacks layers ${missing.map((l) => l.descriptor.digest).join(', ')}`);
        return { wallSec: t.wallSec, clientCpuSec: t.cpuSec, clientPeakRssKiB: t.peakRssKiB };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    default:
      throw new Error(`unknown tool ${String(tool)}`);
  }
}

export async function runPull(p: PullParams, progress: (line: string) => void): Promise<PullResult> {
  const dir = mkdtempSync(join(tmpdir(), 'ctrd-bench-pull-'));
  const daemon = new TestDaemon(['--log-level', 'info']);
  const harness = await import('../test/harness/images.js');
  let registry: TestRegistry | undefined;
  let containerd: Containerd | undefined;
  let clients: Clients | undefined;
  const pids: number[] = [];
  const limit = deadline(p.timeoutSec, 'pull');
  // Ctrl-C mid-run still stops what this run started, by PID, and removes the temp dirs.
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`bench: ${signal}: cleaning up\n`);
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    for (const d of [dir, daemon.dir]) {
      for (const m of mountsUnder(d).reverse()) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
    }
    for (const d of [dir, daemon.dir, registry?.dir, harness.testImagesDir()]) if (d) rmSync(d, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const skopeo = await skopeoVersion();
    registry = await limit.race(startRegistry());
    pids.push(registry.pid);
    progress(`registry pid ${registry.pid} on ${registry.host}; building and pushing ${p.images.join(', ')}`);
    const pushed: Record<PullImageName, (r: TestRegistry) => Promise<PushedImage>> = { multilayer: harness.pushMultilayer, big: harness.pushBig };
    const images: PushedImage[] = [];
    for (const name of p.images) images.push(await limit.race(pushed[name](registry)));

    await limit.race(daemon.start());
    pids.push(daemon.pid!);
    clients = daemon.clients(namespace);
    progress(`ctrd pid ${daemon.pid} serving on ${daemon.address}`);

    let containerdSkipped: string | undefined;
    let containerdVer: string | undefined;
    let ctrStartupSec: number | undefined;
    if (!p.containerd) containerdSkipped = 'left out (--no-containerd)';
    else if (!(containerdVer = await containerdVersion())) containerdSkipped = 'containerd is not installed';
    else {
      try {
        containerd = await limit.race(Containerd.start(join(dir, 'containerd')));
        pids.push(containerd.pid);
        progress(`containerd ${containerdVer} pid ${containerd.pid} serving on ${containerd.address}`);
        const startups: number[] = [];
        for (let i = 0; i < 5; i++) {
          const t = await timed(dir, 'ctr', containerd.ctrArgs(['version']));
          if (t.result.code !== 0) throw failed('ctr version', t.result);
          startups.push(t.wallSec);
        }
        ctrStartupSec = median(startups);
      } catch (err) {
        containerdSkipped = `containerd could not start here: ${(err as Error).message}`;
        await containerd?.stop();
        containerd = undefined;
      }
    }
    if (containerdSkipped) progress(`containerd: ${containerdSkipped}; comparing ctrd with skopeo only`);

    const peakRssPerPull = resetPeakRss(daemon.pid!);
    const tools: Tools = { ctrd: { daemon, clients }, ...(containerd ? { containerd } : {}), dir };
    const toolList: PullTool[] = ['ctrd', ...(containerd ? (['containerd'] as const) : []), 'skopeo'];

    // Untimed: every tool pulls the first image once, so that no timed pull pays for a first time (ctrd's JIT,
    // the daemons' first connection to the registry, skopeo's policy and cache files).
    progress(`warm-up: ${toolList.join(', ')} pull ${images[0]!.ref} once`);
    for (const tool of toolList) await limit.race(pullOnce(tools, tool, images[0]!));

    const results: ImageResult[] = [];
    for (const image of images) {
      const name = p.images[images.indexOf(image)]!;
      const fetchBytes = image.manifest.size + image.config.size + image.layers.reduce((n, l) => n + l.descriptor.size, 0);
      const unpackedBytes = image.layers.reduce((n, l) => n + l.uncompressedSize, 0);
      progress(`${image.ref}: ${image.layers.length} layers, ${bytesText(fetchBytes)} fetched; ${p.runs} runs of ${toolList.join(', ')}`);
      const runs = new Map<PullTool, PullRun[]>(toolList.map((t) => [t, []]));
      for (let r = 0; r < p.runs; r++) {
        // The order turns each round, so that no tool always follows the same one.
        const order = toolList.map((_, i) => toolList[(i + r) % toolList.length]!);
        const line: string[] = [];
        for (const tool of order) {
          const one = await limit.race(pullOnce(tools, tool, image));
          runs.get(tool)!.push(one);
          line.push(`${tool} ${one.wallSec.toFixed(3)} s`);
        }
        progress(`  run ${r + 1}/${p.runs}: ${line.join(', ')}`);
      }
      const summaries = Object.fromEntries(toolList.map((t) => [t, summarize(t, runs.get(t)!, fetchBytes)])) as Partial<Record<PullTool, ToolSummary>>;
      const ctrd = summaries.ctrd!.median.wallSec;
      results.push({
        name,
        ref: image.ref,
        layers: image.layers.length,
        fetchBytes,
        unpackedBytes,
        tools: summaries,
        ratio: {
          ...(summaries.containerd ? { containerd: ctrd / summaries.containerd.median.wallSec } : {}),
          skopeo: ctrd / summaries.skopeo!.median.wallSec,
        },
      });
    }
    return {
      benchmark: 'pull',
      revision,
      node: process.version,
      cpus: cpus().length,
      params: p,
      versions: { ...(containerdVer && containerd ? { containerd: containerdVer } : {}), skopeo },
      ...(containerdSkipped ? { containerdSkipped } : {}),
      ...(ctrStartupSec !== undefined ? { ctrStartupSec } : {}),
      peakRssPerPull,
      images: results,
    };
  } finally {
    limit.clear();
    clients?.close();
    const dirs = [dir, daemon.dir, registry?.dir, harness.testImagesDir()].filter((d): d is string => d !== undefined);
    try {
      await containerd?.stop();
      await stopDaemon(daemon);
      await registry?.stop();
    } finally {
      for (const d of [dir, daemon.dir]) for (const m of mountsUnder(d).reverse()) await run('umount', ['-l', m]);
      harness.removeTestImages();
      rmSync(dir, { recursive: true, force: true });
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
    const alive = pids.filter(isAlive);
    if (alive.length > 0) throw new Error(`pids ${alive.join(', ')} are still running after the benchmark`);
    const left = dirs.filter((d) => existsSync(d));
    if (left.length > 0) throw new Error(`${left.join(', ')} still there after the benchmark`);
    const mounted = dirs.flatMap((d) => mountsUnder(d));
    if (mounted.length > 0) throw new Error(`${mounted.join(', ')} still mounted after the benchmark`);
    progress(`stopped pids ${pids.join(', ')}, removed ${dirs.join(', ')}`);
  }
}

// --- the report ----------------------------------------------------------------------------------------------

const f = (n: number | undefined, digits = 3) => (n === undefined || Number.isNaN(n) ? '' : n.toFixed(digits));
const mib = (kib: number | undefined) => (kib === undefined || Number.isNaN(kib) ? '' : (kib / 1024).toFixed(0));

function bytesText(n: number): string {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

const toolLabel: Record<PullTool, string> = {
  ctrd: 'ctrd (ImageService.Pull)',
  containerd: 'containerd (ctr images pull)',
  skopeo: 'skopeo copy to oci: (no unpack)',
};

export function formatPull(r: PullResult): string {
  const versions = [r.versions.containerd ? `containerd ${r.versions.containerd}` : undefined, `skopeo ${r.versions.skopeo}`].filter(Boolean);
  const out = [
    `ctrd pull benchmark — revision ${r.revision}, node ${r.node}, ${r.cpus} CPUs; ${versions.join(', ')}`,
    '',
    `Each pull is cold (the image removed and its content and snapshots collected after the one before; \`sync\` before it),`,
    `from docker-registry on 127.0.0.1; median of ${r.params.runs} runs per tool, the tools in turning order. MB = 10^6 bytes fetched`,
    '(manifest, config, layers); ratio = ctrd\'s median time ÷ the tool\'s (< 1: ctrd is faster). "fetched s": when the last layer',
    'was in the content store; "unpack s": ctrd, its layer extractions summed (they overlap the fetch); containerd, ctr\'s unpack, which',
    'starts after the fetch. CPU s: the daemon\'s / the client\'s (ctr, skopeo; for ctrd, the benchmark\'s gRPC client). Peak RSS,',
    `MiB: ${r.peakRssPerPull ? "the daemon's during the pull (VmHWM, reset before each)" : "the daemon's lifetime peak (VmHWM; clear_refs not allowed)"} / the client's (GNU time).`,
  ];
  if (r.containerdSkipped) out.push(`containerd: ${r.containerdSkipped}.`);
  if (r.ctrStartupSec !== undefined) out.push(`A bare \`ctr version\` takes ${f(r.ctrStartupSec)} s: that much of containerd's every time is ctr starting up.`);
  for (const img of r.images) {
    const ctrd = img.tools.ctrd!;
    out.push(
      '',
      `${img.ref}: ${img.layers} layers, ${bytesText(img.fetchBytes)} fetched, ${bytesText(img.unpackedBytes)} unpacked` +
        (ctrd.median.daemonSec !== undefined ? `; ctrd logged 'pulled' in ${f(ctrd.median.daemonSec)} s (median)` : ''),
    );
    const rows: string[][] = [
      ['', 'median s', 'min s', 'max s', 'MB/s', 'ratio', 'fetched s', 'unpack s', 'CPU s daemon / client', 'peak RSS MiB daemon / client'],
    ];
    for (const tool of ['ctrd', 'containerd', 'skopeo'] as const) {
      const s = img.tools[tool];
      if (!s) continue;
      const m = s.median;
      const ratio = tool === 'ctrd' ? '' : f(img.ratio[tool], 2);
      rows.push([
        toolLabel[tool],
        f(m.wallSec),
        f(s.minSec),
        f(s.maxSec),
        f(s.mbPerSec, s.mbPerSec < 10 ? 2 : 1),
        ratio,
        f(m.fetchedSec),
        f(m.unpackSec),
        `${m.daemonCpuSec !== undefined ? f(m.daemonCpuSec, 2) : '-'} / ${f(m.clientCpuSec, 2)}`,
        `${m.daemonPeakRssKiB !== undefined ? mib(m.daemonPeakRssKiB) : '-'} / ${m.clientPeakRssKiB !== undefined ? mib(m.clientPeakRssKiB) : '-'}`,
      ]);
    }
    out.push(table(rows));
  }
  return out.join('\n');
}

/** The benchmark as bench/run.ts lists it. */
export const pullBenchmark = {
  name: 'pull',
  description: 'cold pulls from a local registry against containerd (ctr images pull) and skopeo copy',
  addOptions,
  run: (flags: Record<string, unknown>, progress: (line: string) => void) => runPull(paramsFrom(flags), progress),
  format: formatPull,
};
