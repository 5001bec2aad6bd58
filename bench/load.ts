// The load benchmark: a real ctrd (the built daemon, on a temp root) driven by many clients at once, each
// figure beside a reference measured in the same run. It measures
//   1. unary throughput: small calls (Version.Version and Namespaces.Get, alternating) with a bounded number
//      in flight, spread over one connection per client; the reference is a bare grpc-js server in its own
//      process answering the same methods with constants, i.e. the transport alone on this machine;
//   2. concurrent ingest: each client writes a distinct blob through containerd's lock-step Content.Write;
//   3. read back: each client streams its blob back with Content.Read and verifies size and digest;
//   4. single-client ingest of one larger blob;
// and reports each ingest's MB/s against sha256sum's MB/s on a file of the same bytes, as a ratio (and against
// `openssl dgst -sha256` when installed: coreutils' sha256sum has its own SHA-256, without the CPU's SHA
// instructions that OpenSSL, and so Node and ctrd, use).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { once } from 'node:events';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { credentials, InterceptingCall, type ClientOptions, type Interceptor, type ServiceError } from '@grpc/grpc-js';
import { InvalidArgumentError, Option, type Command } from 'commander';
import {
  ContentClient,
  WriteAction,
  type ReadContentResponse,
  type WriteContentRequest,
  type WriteContentResponse,
} from '../gen/containerd/services/content/v1/content.js';
import { NamespacesClient } from '../gen/containerd/services/namespaces/v1/namespace.js';
import { VersionClient } from '../gen/containerd/services/version/v1/version.js';
import { unary } from '../lib/grpc/client.js';
import { namespaceHeader } from '../lib/grpc/context.js';
import { projectRoot } from '../lib/project-root.js';
import { revision } from '../lib/version.js';
import { isAlive, TestDaemon } from '../test/harness/daemon.js';

export interface LoadParams {
  /** Concurrent clients, each on its own connection. */
  clients: number;
  /** Unary calls in all. */
  calls: number;
  /** Unary calls in flight at once. */
  inFlight: number;
  /** Bytes of each client's blob in the concurrent ingest. */
  blobSize: number;
  /** Bytes of the single-client ingest. */
  singleSize: number;
  /** Bytes per WRITE message. */
  chunkSize: number;
  /** The whole run fails after this many seconds. */
  timeoutSec: number;
}

export const loadDefaults: LoadParams = {
  clients: 32,
  calls: 10_000,
  inFlight: 32,
  blobSize: 16 << 20,
  singleSize: 256 << 20,
  chunkSize: 1 << 20,
  timeoutSec: 300,
};

/** CPU used by a process during a phase, in cores (CPU seconds / wall seconds). */
interface CpuShare {
  ctrd: number;
  bench: number;
}

interface Transfer {
  bytes: number;
  wallSec: number;
  mbPerSec: number;
  cpuCores: CpuShare;
}

interface Reference {
  tool: 'sha256sum' | 'openssl';
  bytes: number;
  wallSec: number;
  mbPerSec: number;
}

interface UnaryRun {
  /** What answered: ctrd, or the bare grpc-js server. */
  server: 'ctrd' | 'grpc-js';
  wallSec: number;
  callsPerSec: number;
  latencyMs: { mean: number; p50: number; p99: number; max: number };
  /** For the grpc-js run, "ctrd" is the reference server's process. */
  cpuCores: CpuShare;
}

export interface LoadResult {
  benchmark: 'load';
  revision: string;
  node: string;
  cpus: number;
  params: LoadParams;
  unary: {
    calls: number;
    inFlight: number;
    connections: number;
    methods: string[];
    ctrd: UnaryRun;
    reference: UnaryRun;
    /** ctrd calls/s ÷ bare grpc-js calls/s. */
    ratio: number;
  };
  concurrent: {
    clients: number;
    blobBytes: number;
    ingest: Transfer;
    read: Transfer;
    reference: Reference;
    /** ctrd ingest MB/s ÷ sha256sum MB/s. */
    ratio: number;
    /** A second, informative reference: OpenSSL's SHA-256 (as Node's) where sha256sum has its own. */
    openssl?: Reference;
    opensslRatio?: number;
  };
  single: {
    ingest: Transfer;
    reference: Reference;
    /** ctrd ingest MB/s ÷ sha256sum MB/s. */
    ratio: number;
    openssl?: Reference;
    opensslRatio?: number;
  };
}

const mb = 1e6;
const namespace = 'bench';
const maxMessageSize = 16 << 20;

// --- flags ---------------------------------------------------------------------------------------------------

const sizeUnits: Record<string, number> = { '': 1, k: 1 << 10, kib: 1 << 10, m: 1 << 20, mib: 1 << 20, g: 1 << 30, gib: 1 << 30 };

/** "16MiB", "16M", "1g", "4096": binary units only, so that a size means one thing. */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(s.trim());
  const unit = m ? sizeUnits[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new InvalidArgumentError(`"${s}" is not a size (e.g. 4096, 512KiB, 16MiB, 1GiB)`);
  const n = Math.round(Number(m[1]) * unit);
  if (n <= 0) throw new InvalidArgumentError(`size "${s}" must be positive`);
  return n;
}

export function parseCount(s: string): number {
  if (!/^\d+$/.test(s) || Number(s) <= 0) throw new InvalidArgumentError(`"${s}" is not a positive whole number`);
  return Number(s);
}

export function sizeText(n: number): string {
  if (n % (1 << 30) === 0) return `${n / (1 << 30)} GiB`;
  if (n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n % (1 << 10) === 0) return `${n / (1 << 10)} KiB`;
  return `${n} B`;
}

function addOptions(cmd: Command): void {
  const d = loadDefaults;
  cmd
    .addOption(new Option('--clients <n>', 'concurrent clients, one connection each').argParser(parseCount).default(d.clients))
    .addOption(new Option('--calls <n>', 'unary calls in all').argParser(parseCount).default(d.calls))
    .addOption(new Option('--in-flight <n>', 'unary calls in flight at once').argParser(parseCount).default(d.inFlight))
    .addOption(new Option('--blob-size <size>', "each client's blob").argParser(parseSize).default(d.blobSize, sizeText(d.blobSize)))
    .addOption(
      new Option('--single-size <size>', 'the single-client blob').argParser(parseSize).default(d.singleSize, sizeText(d.singleSize)),
    )
    .addOption(
      new Option('--chunk-size <size>', 'bytes per Write message').argParser(parseSize).default(d.chunkSize, sizeText(d.chunkSize)),
    )
    .addOption(new Option('--timeout <seconds>', 'give up on each benchmark after this long').argParser(parseCount).default(d.timeoutSec));
}

function paramsFrom(flags: Record<string, unknown>): LoadParams {
  const p: LoadParams = {
    clients: flags['clients'] as number,
    calls: flags['calls'] as number,
    inFlight: flags['inFlight'] as number,
    blobSize: flags['blobSize'] as number,
    singleSize: flags['singleSize'] as number,
    chunkSize: flags['chunkSize'] as number,
    timeoutSec: flags['timeout'] as number,
  };
  // Leave room for the message's other fields under the 16 MiB limit both ends keep.
  if (p.chunkSize > maxMessageSize - (64 << 10)) throw new InvalidArgumentError(`--chunk-size must be under ${sizeText(maxMessageSize)}`);
  return p;
}

// --- clients -------------------------------------------------------------------------------------------------

function namespaceInterceptor(ns: string): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set(namespaceHeader, ns);
        next(metadata, listener);
      },
    });
}

/**
 * One benchmark client: the services it calls on one connection of its own. lib/grpc/client's Clients would
 * do, but grpc-js shares one connection among all channels with equal options (its global subchannel pool),
 * and 32 clients on one connection is not the load of 32 clients.
 */
class BenchClient {
  readonly version: VersionClient;
  readonly namespaces: NamespacesClient;
  readonly content: ContentClient;

  constructor(address: string, ns: string) {
    const target = `unix://${address}`;
    const creds = credentials.createInsecure();
    const options: Partial<ClientOptions> = {
      interceptors: [namespaceInterceptor(ns)],
      'grpc.use_local_subchannel_pool': 1,
      'grpc.max_receive_message_length': maxMessageSize,
      'grpc.max_send_message_length': maxMessageSize,
    };
    this.version = new VersionClient(target, creds, options);
    const shared = { ...options, channelOverride: this.version.getChannel() };
    this.namespaces = new NamespacesClient(target, creds, shared);
    this.content = new ContentClient(target, creds, shared);
  }

  close(): void {
    this.version.close();
  }
}

// --- the protocol --------------------------------------------------------------------------------------------

const blankWrite: WriteContentRequest = { action: WriteAction.STAT, ref: '', total: 0, expected: '', offset: 0, data: Buffer.alloc(0), labels: {} };

function grpcError(what: string, err: ServiceError): Error {
  return new Error(`${what}: ${err.details || err.message} (grpc code ${err.code})`);
}

/** Ingests data under ref with containerd's lock-step Write: STAT, WRITE per chunk, COMMIT; one reply each. */
function ingest(content: ContentClient, ref: string, data: Buffer, expected: string, chunkSize: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = content.write();
    const total = data.length;
    let offset = 0;
    let sent = 0;
    let waiting: WriteAction = WriteAction.STAT;
    let committed = false;
    const send = (req: Partial<WriteContentRequest>) => call.write({ ...blankWrite, ...req });
    const fail = (message: string) => {
      reject(new Error(`ingest of ${ref}: ${message}`));
      call.cancel();
    };
    const next = () => {
      if (offset < total) {
        sent = Math.min(chunkSize, total - offset);
        waiting = WriteAction.WRITE;
        send({ action: WriteAction.WRITE, offset, data: data.subarray(offset, offset + sent) });
      } else {
        waiting = WriteAction.COMMIT;
        send({ action: WriteAction.COMMIT, total, expected });
        call.end();
      }
    };
    call.on('data', (res: WriteContentResponse) => {
      if (res.action !== waiting) return fail(`reply to action ${waiting} has action ${res.action}`);
      switch (waiting) {
        case WriteAction.STAT:
          // An ingest the server already holds part of resumes at its offset, as containerd's clients do.
          if (res.offset > total) return fail(`STAT reports offset ${res.offset} beyond total ${total}`);
          offset = res.offset;
          return next();
        case WriteAction.WRITE:
          if (res.offset !== offset + sent) return fail(`WRITE at ${offset} of ${sent} bytes replied offset ${res.offset}`);
          offset = res.offset;
          return next();
        case WriteAction.COMMIT:
          if (res.digest !== expected) return fail(`committed as ${res.digest}, expected ${expected}`);
          committed = true;
          return undefined;
        default:
          return fail(`unexpected reply action ${res.action}`);
      }
    });
    call.on('error', (err: ServiceError) => reject(grpcError(`ingest of ${ref}`, err)));
    call.on('end', () => (committed ? resolve() : reject(new Error(`ingest of ${ref}: the stream ended before the commit`))));
    send({ action: WriteAction.STAT, ref, total, expected });
  });
}

/** Streams a blob back and checks that the bytes are the blob's: contiguous, the right size and digest. */
function readBack(content: ContentClient, digest: string, size: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let offset = 0;
    const call = content.read({ digest, offset: 0, size: 0 });
    call.on('data', (res: ReadContentResponse) => {
      if (res.offset !== offset) {
        reject(new Error(`read of ${digest}: chunk at offset ${res.offset}, expected ${offset}`));
        call.cancel();
        return;
      }
      hash.update(res.data);
      offset += res.data.length;
    });
    call.on('error', (err: ServiceError) => reject(grpcError(`read of ${digest}`, err)));
    call.on('end', () => {
      const got = `sha256:${hash.digest('hex')}`;
      if (offset !== size) reject(new Error(`read of ${digest}: ${offset} bytes, expected ${size}`));
      else if (got !== digest) reject(new Error(`read of ${digest}: the bytes hash to ${got}`));
      else resolve();
    });
  });
}

// --- measuring -----------------------------------------------------------------------------------------------

const clockTicks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function processCpuSec(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of proc(5), utime and stime, counted from field 3 (the state) after the command name.
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

/** Times fn, with the CPU that ctrd and this process used meanwhile. */
async function measure<T>(daemonPid: number, fn: () => Promise<T>): Promise<{ value: T; wallSec: number; cpuCores: CpuShare }> {
  const ctrd0 = processCpuSec(daemonPid);
  const bench0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const wallSec = (performance.now() - t0) / 1000;
  const bench = process.cpuUsage(bench0);
  return {
    value,
    wallSec,
    cpuCores: {
      ctrd: (processCpuSec(daemonPid) - ctrd0) / wallSec,
      bench: (bench.user + bench.system) / 1e6 / wallSec,
    },
  };
}

function transfer(bytes: number, m: { wallSec: number; cpuCores: CpuShare }): Transfer {
  return { bytes, wallSec: m.wallSec, mbPerSec: bytes / mb / m.wallSec, cpuCores: m.cpuCores };
}

/** Runs a hashing tool over the file, timed from spawn to exit; its answer is checked. */
async function hashTool(tool: Reference['tool'], path: string, bytes: number, expected: string): Promise<Reference> {
  // Both print the hex digest first: "HEX  path", and with -r, "HEX *path".
  const args = tool === 'sha256sum' ? [path] : ['dgst', '-sha256', '-r', path];
  const t0 = performance.now();
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => chunks.push(b));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new Error(`${tool} ${path} exited with ${code}`)),
    );
  });
  const wallSec = (performance.now() - t0) / 1000;
  const hex = out.trim().split(/\s+/)[0];
  if (`sha256:${hex}` !== expected) throw new Error(`${tool} ${path} gave ${hex}, expected ${expected}`);
  return { tool, bytes, wallSec, mbPerSec: bytes / mb / wallSec };
}

/** The references over one file: sha256sum (the issue's), and openssl when it is installed. */
async function references(path: string, bytes: number, expected: string, openssl: boolean) {
  const reference = await hashTool('sha256sum', path, bytes, expected);
  const ossl = openssl ? await hashTool('openssl', path, bytes, expected) : undefined;
  return { reference, openssl: ossl };
}

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function compare(t: Transfer, refs: { reference: Reference; openssl: Reference | undefined }) {
  return {
    reference: refs.reference,
    ratio: t.mbPerSec / refs.reference.mbPerSec,
    ...(refs.openssl ? { openssl: refs.openssl, opensslRatio: t.mbPerSec / refs.openssl.mbPerSec } : {}),
  };
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Random blobs, also written one after another to file (the reference's input); returns their digests. */
function makeBlobs(count: number, size: number, file: string): { blobs: Buffer[]; digests: string[]; fileDigest: string } {
  const blobs: Buffer[] = [];
  const digests: string[] = [];
  const whole = createHash('sha256');
  const fd = openSync(file, 'w');
  try {
    for (let i = 0; i < count; i++) {
      const b = randomBytes(size);
      blobs.push(b);
      digests.push(`sha256:${createHash('sha256').update(b).digest('hex')}`);
      whole.update(b);
      for (let done = 0; done < b.length; ) done += writeSync(fd, b, done, b.length - done);
    }
    // On disk before any clock starts, so that no timed phase shares the machine with their writeback;
    // they stay in the page cache for the reference to read.
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return { blobs, digests, fileDigest: `sha256:${whole.digest('hex')}` };
}

// --- the run -------------------------------------------------------------------------------------------------

/** Issues `calls` unary calls, `inFlight` at a time; worker w keeps to client w, so each connection has its share. */
async function unaryCalls(calls: number, inFlight: number, clients: BenchClient[], latencies?: Float64Array): Promise<void> {
  let issued = 0;
  const worker = async (w: number) => {
    const c = clients[w % clients.length]!;
    for (let i = issued++; i < calls; i = issued++) {
      const t0 = performance.now();
      if (i % 2 === 0) await unary(c.version, c.version.version, {});
      else await unary(c.namespaces, c.namespaces.get, { name: namespace });
      if (latencies) latencies[i] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, calls) }, (_, w) => worker(w)));
}

interface UnaryTarget {
  server: UnaryRun['server'];
  clients: BenchClient[];
  pid: number;
}

/**
 * The same calls to ctrd and to the reference, in quarters taken in Thue–Morse order (R C C R C R R C): each
 * server's quarters sit at positions with the same sum and the same sum of squares, so a drift during the
 * phase (the JIT, the heap, the host) that is linear or quadratic in time weighs on both alike. A plain
 * R C C R order measurably favoured whichever server ran in the middle.
 */
async function runUnary(p: LoadParams, ctrd: UnaryTarget, reference: UnaryTarget): Promise<{ ctrd: UnaryRun; reference: UnaryRun }> {
  const inFlight = Math.min(p.inFlight, p.calls);
  // Untimed: connects every client and lets the JIT see the client's code before the clock starts.
  const warmUp = Math.max(p.clients, Math.min(2000, Math.floor(p.calls / 5)));
  for (const t of [reference, ctrd]) await unaryCalls(warmUp, inFlight, t.clients);
  const quarters = [0, 1, 2, 3].map((q) => Math.floor(((q + 1) * p.calls) / 4) - Math.floor((q * p.calls) / 4));
  const runs = new Map<UnaryTarget, { latencies: Float64Array; done: number; wallSec: number; ctrdSec: number; benchSec: number }>();
  for (const t of [ctrd, reference]) runs.set(t, { latencies: new Float64Array(p.calls), done: 0, wallSec: 0, ctrdSec: 0, benchSec: 0 });
  const order = [reference, ctrd, ctrd, reference, ctrd, reference, reference, ctrd];
  const taken = new Map<UnaryTarget, number>();
  for (const t of order) {
    const r = runs.get(t)!;
    const q = taken.get(t) ?? 0;
    taken.set(t, q + 1);
    const n = quarters[q]!;
    const m = await measure(t.pid, () => unaryCalls(n, inFlight, t.clients, r.latencies.subarray(r.done, r.done + n)));
    r.done += n;
    r.wallSec += m.wallSec;
    r.ctrdSec += m.cpuCores.ctrd * m.wallSec;
    r.benchSec += m.cpuCores.bench * m.wallSec;
  }
  const result = (t: UnaryTarget): UnaryRun => {
    const r = runs.get(t)!;
    const sorted = r.latencies.slice().sort();
    return {
      server: t.server,
      wallSec: r.wallSec,
      callsPerSec: p.calls / r.wallSec,
      latencyMs: {
        mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        max: sorted[sorted.length - 1]!,
      },
      cpuCores: { ctrd: r.ctrdSec / r.wallSec, bench: r.benchSec / r.wallSec },
    };
  };
  return { ctrd: result(ctrd), reference: result(reference) };
}

/**
 * The unary reference: grpc-js alone, in a process of its own as ctrd is, serving the same generated
 * services with the same message limits and answering with constants: no namespace check, no database, no log.
 */
const referenceServerSource = `
import { Server, ServerCredentials } from '@grpc/grpc-js';
const gen = process.argv[1];
const { VersionService } = await import(gen + '/containerd/services/version/v1/version.js');
const { NamespacesService } = await import(gen + '/containerd/services/namespaces/v1/namespace.js');
const limit = ${maxMessageSize};
const server = new Server({ 'grpc.max_receive_message_length': limit, 'grpc.max_send_message_length': limit });
server.addService(VersionService, { version: (_call, cb) => cb(null, { version: 'reference', revision: 'reference' }) });
server.addService(NamespacesService, { get: (call, cb) => cb(null, { namespace: { name: call.request.name, labels: {} } }) });
server.bindAsync('unix://' + process.argv[2], ServerCredentials.createInsecure(), (err) => {
  if (err) throw err;
  process.stdout.write('ready\\n');
});
process.on('SIGTERM', () => process.exit(0));
`;

class ReferenceServer {
  private constructor(
    readonly child: ChildProcess,
    readonly address: string,
  ) {}

  static async start(dir: string): Promise<ReferenceServer> {
    const address = join(dir, 'grpc-js.sock');
    const gen = pathToFileURL(join(projectRoot, 'dist', 'gen')).href;
    // Run from the checkout so that '@grpc/grpc-js' resolves to ctrd's own copy.
    const child = spawn(process.execPath, ['--input-type=module', '-e', referenceServerSource, gen, address], {
      cwd: projectRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const server = new ReferenceServer(child, address);
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.once('data', () => resolve());
        child.once('error', reject);
        child.once('exit', (code) => reject(new Error(`the grpc-js reference server exited with ${code} before serving`)));
      });
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Stops it by its PID; SIGKILL if SIGTERM is not enough. */
  async stop(): Promise<void> {
    const c = this.child;
    if (c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, 'exit');
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

/** Fails with a clear message when the run outlives its time; the caller's finally cleans up. */
export function deadline(seconds: number, benchmark = 'load'): { race<T>(p: Promise<T>): Promise<T>; clear(): void } {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the ${benchmark} benchmark did not finish within ${seconds} s (--timeout)`)), seconds * 1000);
  });
  expired.catch(() => {});
  return { race: (p) => Promise.race([p, expired]), clear: () => clearTimeout(timer) };
}

/** Stops the daemon by its PID and removes its temp dir; SIGKILL if it does not stop in time. */
export async function stopDaemon(d: TestDaemon): Promise<void> {
  const pid = d.pid;
  const graceful = d.cleanup();
  const late = await Promise.race([graceful.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 15_000).unref())]);
  if (late) {
    process.stderr.write(`bench: ctrd (pid ${pid}) did not stop on SIGTERM within 15 s; killing it\n`);
    await d.kill9();
    await graceful;
  }
}

export async function runLoad(p: LoadParams, progress: (line: string) => void): Promise<LoadResult> {
  const totalBytes = p.clients * p.blobSize;
  const dir = mkdtempSync(join(tmpdir(), 'ctrd-bench-'));
  // Debug logging writes a line per call; a benchmark measures the daemon, not its log.
  const daemon = new TestDaemon(['--log-level', 'warn']);
  let reference: ReferenceServer | undefined;
  let clients: BenchClient[] = [];
  let referenceClients: BenchClient[] = [];
  const pids: number[] = [];
  const limit = deadline(p.timeoutSec);
  // Ctrl-C mid-run still stops what this run started, by PID, and removes the temp dirs.
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`bench: ${signal}: cleaning up\n`);
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(daemon.dir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await limit.race(daemon.start());
    const daemonPid = daemon.pid!;
    pids.push(daemonPid);
    progress(`ctrd pid ${daemonPid} serving on ${daemon.address}`);
    clients = Array.from({ length: p.clients }, () => new BenchClient(daemon.address, namespace));
    const first = clients[0]!;
    await limit.race(unary(first.namespaces, first.namespaces.create, { namespace: { name: namespace, labels: {} } }));

    reference = await limit.race(ReferenceServer.start(dir));
    pids.push(reference.pid);
    referenceClients = Array.from({ length: p.clients }, () => new BenchClient(reference!.address, namespace));
    progress(`unary: ${p.calls} calls, ${p.inFlight} in flight over ${p.clients} connections, to ctrd and to bare grpc-js (pid ${reference.pid})`);
    const unaryRuns = await limit.race(
      runUnary(p, { server: 'ctrd', clients, pid: daemonPid }, { server: 'grpc-js', clients: referenceClients, pid: reference.pid }),
    );
    for (const c of referenceClients) c.close();
    await reference.stop();

    // Made after the unary phase, whose figures their hundreds of MiB in this process's heap would disturb.
    progress(`generating ${p.clients} × ${sizeText(p.blobSize)} and 1 × ${sizeText(p.singleSize)} of random bytes in ${dir}`);
    const many = makeBlobs(p.clients, p.blobSize, join(dir, 'concurrent.bin'));
    const single = makeBlobs(1, p.singleSize, join(dir, 'single.bin'));

    const runId = randomBytes(4).toString('hex');
    progress(`ingest: ${p.clients} clients × ${sizeText(p.blobSize)}`);
    const ingestM = await limit.race(
      measure(daemonPid, () =>
        Promise.all(clients.map((c, i) => ingest(c.content, `bench-${runId}-${i}`, many.blobs[i]!, many.digests[i]!, p.chunkSize))),
      ),
    );
    progress(`read back and verify: ${p.clients} clients`);
    const readM = await limit.race(
      measure(daemonPid, () => Promise.all(clients.map((c, i) => readBack(c.content, many.digests[i]!, p.blobSize)))),
    );
    const openssl = hasOpenssl();
    const tools = openssl ? 'sha256sum and openssl' : 'sha256sum (no openssl installed)';
    progress(`${tools} over ${sizeText(totalBytes)}`);
    const manyRef = await limit.race(references(join(dir, 'concurrent.bin'), totalBytes, many.fileDigest, openssl));

    progress(`single-client ingest of ${sizeText(p.singleSize)}`);
    const singleM = await limit.race(
      measure(daemonPid, () => ingest(first.content, `bench-${runId}-single`, single.blobs[0]!, single.digests[0]!, p.chunkSize)),
    );
    progress(`${tools} over ${sizeText(p.singleSize)}`);
    const singleRef = await limit.race(references(join(dir, 'single.bin'), p.singleSize, single.fileDigest, openssl));

    const ingestT = transfer(totalBytes, ingestM);
    const singleT = transfer(p.singleSize, singleM);
    return {
      benchmark: 'load',
      revision,
      node: process.version,
      cpus: cpus().length,
      params: p,
      unary: {
        calls: p.calls,
        inFlight: Math.min(p.inFlight, p.calls),
        connections: p.clients,
        methods: ['containerd.services.version.v1.Version/Version', 'containerd.services.namespaces.v1.Namespaces/Get'],
        ...unaryRuns,
        ratio: unaryRuns.ctrd.callsPerSec / unaryRuns.reference.callsPerSec,
      },
      concurrent: {
        clients: p.clients,
        blobBytes: p.blobSize,
        ingest: ingestT,
        read: transfer(totalBytes, readM),
        ...compare(ingestT, manyRef),
      },
      single: { ingest: singleT, ...compare(singleT, singleRef) },
    };
  } finally {
    limit.clear();
    for (const c of [...referenceClients, ...clients]) c.close();
    try {
      await reference?.stop();
      await stopDaemon(daemon);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
    const alive = pids.filter(isAlive);
    if (alive.length > 0) throw new Error(`pids ${alive.join(', ')} are still running after the benchmark`);
    if (existsSync(dir)) throw new Error(`${dir} is still there after the benchmark`);
    progress(`stopped pids ${pids.join(', ')}, removed ${dir} and ${daemon.dir}`);
  }
}

// --- the report ----------------------------------------------------------------------------------------------

/** Plain-text columns: the first left-aligned, the rest right-aligned. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('   ').trimEnd()).join('\n');
}

const f = (n: number, digits = 1) => n.toFixed(digits);

export function formatLoad(r: LoadResult): string {
  const u = r.unary;
  const c = r.concurrent;
  const s = r.single;
  const cores = (x: CpuShare) => [f(x.ctrd, 2), f(x.bench, 2)];
  const withOpenssl = c.openssl !== undefined;
  const refs = (x: { reference: Reference; ratio: number; openssl?: Reference; opensslRatio?: number }) => [
    f(x.reference.mbPerSec),
    f(x.ratio, 3),
    ...(withOpenssl ? [x.openssl ? f(x.openssl.mbPerSec) : '', x.opensslRatio !== undefined ? f(x.opensslRatio, 3) : ''] : []),
  ];
  const row = (name: string, t: Transfer, ref: string[]) => [name, sizeText(t.bytes), f(t.wallSec, 2), f(t.mbPerSec), ...ref, ...cores(t.cpuCores)];
  const unaryRow = (name: string, x: UnaryRun, ratio: string) => {
    const l = x.latencyMs;
    return [name, f(x.callsPerSec, 0), ratio, f(l.mean, 2), f(l.p50, 2), f(l.p99, 2), f(l.max, 2), f(x.wallSec, 2), ...cores(x.cpuCores)];
  };
  return [
    `ctrd load benchmark — revision ${r.revision}, node ${r.node}, ${r.cpus} CPUs`,
    '',
    `Unary: ${u.calls} calls alternating Version.Version and Namespaces.Get, ${u.inFlight} in flight over ${u.connections} connections;`,
    'ratio = ctrd calls/s ÷ bare grpc-js calls/s, in this run; "server cores" is the CPU of the process that answered',
    table([
      ['', 'calls/s', 'ratio', 'mean ms', 'p50 ms', 'p99 ms', 'max ms', 'wall s', 'server cores', 'bench cores'],
      unaryRow('ctrd', u.ctrd, f(u.ratio, 3)),
      unaryRow('bare grpc-js (reference)', u.reference, ''),
    ]),
    '',
    "Content: MB = 10^6 bytes; ratio = ctrd MB/s ÷ the tool's MB/s over a file of the same bytes, in this run",
    table([
      ['', 'bytes', 'wall s', 'MB/s', 'sha256sum MB/s', 'ratio', ...(withOpenssl ? ['openssl MB/s', 'ratio'] : []), 'ctrd cores', 'bench cores'],
      row(`ingest, ${c.clients} clients × ${sizeText(c.blobBytes)}`, c.ingest, refs(c)),
      row(`read + verify, ${c.clients} clients`, c.read, withOpenssl ? ['', '', '', ''] : ['', '']),
      row(`ingest, 1 client × ${sizeText(s.ingest.bytes)}`, s.ingest, refs(s)),
    ]),
  ].join('\n');
}

/** The benchmark as bench/run.ts lists it. */
export const loadBenchmark = {
  name: 'load',
  description: `${loadDefaults.clients} concurrent clients: unary calls against bare grpc-js, blob ingest and read-back against sha256sum`,
  addOptions,
  run: (flags: Record<string, unknown>, progress: (line: string) => void) => runLoad(paramsFrom(flags), progress),
  format: formatLoad,
};
