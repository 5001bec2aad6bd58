// The registry client: resolves references to root descriptors, fetches manifests and indexes (checked, at
// most 4 MiB), picks a platform's manifest, and streams blobs verified by size and sha256, resumable with
// Range. It returns descriptors, bytes and streams; writing them anywhere is the caller's business.
import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { digestOf, parseDigest, sha256, type Digest } from '../digest.js';
import { canceled, failedPrecondition, invalidArgument, kindOf, notFound, unavailable, wrap } from '../errdefs.js';
import { silentLogger, type Logger } from '../log.js';
import { ctrdVersion } from '../version.js';
import { Authorizer, repositoryScope } from './auth.js';
import { dockerConfigCredentials, type CredentialsProvider } from './credentials.js';
import { statusError } from './errors.js';
import { registryEndpoints, type Capability, type HostsConfig, type RegistryEndpoint } from './hosts.js';
import { maxManifestSize, parseManifest, sniffManifestType, type Descriptor, type FetchedManifest } from './manifest.js';
import { bareMediaType, isGenericType, isIndexType, isManifestType, manifestAccept } from './media-types.js';
import { defaultPlatform, onlyPlatform, type Platform, type PlatformMatcher } from './platform.js';
import { formatReference, referenceObject, repositoryName, toReference, type Reference } from './reference.js';
import { selectPlatform } from './select.js';
import { backoffDelay, discard, readBody, sleep, Transport, type HttpRequest, type HttpResponse, type RetryOptions } from './transport.js';

export interface RegistryClientOptions {
  /** Per registry host: mirrors, insecure, skipVerify. */
  hosts?: HostsConfig;
  /** Where credentials come from; Docker's config.json when not given. */
  credentials?: CredentialsProvider;
  /** Plain http for every registry (ctr --plain-http). */
  plainHttp?: boolean;
  retry?: Partial<RetryOptions>;
  /** Idle time after which a request or a body read fails. */
  timeoutMs?: number;
  userAgent?: string;
  logger?: Logger;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface FetchBlobOptions extends CallOptions {
  /** Start at this byte (the caller has the ones before it). */
  offset?: number;
  /**
   * A sha256 Hash of the first `offset` bytes (it is copied, not changed), so that a resumed stream can
   * still check the whole blob's digest. Without it a resumed stream checks the size only, unless the
   * registry ignores Range and resends everything.
   */
  hash?: Hash;
}

export interface ResolveImageOptions extends CallOptions {
  /** A specifier ("linux/arm64"), a platform, or a matcher; this machine's platform by default. */
  platform?: string | Platform | PlatformMatcher;
}

export interface ResolvedImage {
  ref: Reference;
  /** What the reference names: an index or a manifest. */
  root: Descriptor;
  /** The indexes passed through to reach the manifest, root first (empty when root is the manifest). */
  indexes: Array<Extract<FetchedManifest, { kind: 'index' }>>;
  manifest: Extract<FetchedManifest, { kind: 'manifest' }>;
}

/** Index inside index inside... deeper than this is refused. */
const maxIndexDepth = 4;

const isMatcher = (p: unknown): p is PlatformMatcher => typeof p === 'object' && p !== null && 'match' in p;

export class RegistryClient {
  private readonly transport: Transport;
  private readonly auth: Authorizer;
  private readonly hosts: HostsConfig;
  private readonly plainHttp: boolean;
  private readonly log: Logger;

  constructor(opts: RegistryClientOptions = {}) {
    this.log = opts.logger ?? silentLogger;
    this.transport = new Transport({
      ...(opts.retry ? { retry: opts.retry } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      userAgent: opts.userAgent ?? `ctrd/${ctrdVersion}`,
      logger: this.log,
    });
    this.auth = new Authorizer(this.transport, opts.credentials ?? dockerConfigCredentials(), this.log);
    this.hosts = opts.hosts ?? {};
    this.plainHttp = opts.plainHttp === true;
  }

  /** Closes idle connections. */
  close(): void {
    this.transport.close();
  }

  /** The endpoints tried for a registry, in order (mirrors first). */
  endpoints(registry: string, capability: Capability): RegistryEndpoint[] {
    return registryEndpoints(registry, this.hosts, { plainHttp: this.plainHttp }).filter((e) => e.capabilities.includes(capability));
  }

  /**
   * The root descriptor a reference names: HEAD on the manifest (GET when HEAD says too little or fails),
   * mediaType from Content-Type, digest from Docker-Content-Digest or computed from the body.
   */
  async resolve(reference: string | Reference, opts: CallOptions = {}): Promise<Descriptor> {
    const ref = toReference(reference);
    return this.onEndpoints(ref, 'resolve', (ep, last) => this.resolveAt(ep, last, ref, opts.signal));
  }

  /** Fetches a manifest or index by descriptor: at most 4 MiB, digest and size checked, JSON of a known type. */
  async fetchManifest(reference: string | Reference, desc: Descriptor, opts: CallOptions = {}): Promise<FetchedManifest> {
    const ref = toReference(reference);
    const digest = parseDigest(desc.digest);
    const name = `${repositoryName(ref)}@${digest}`;
    if (desc.size > maxManifestSize) throw invalidArgument(`manifest ${name} is larger than 4 MiB (${desc.size} bytes)`);
    const type = bareMediaType(desc.mediaType);
    if (!isGenericType(type) && !isIndexType(type) && !isManifestType(type)) {
      throw invalidArgument(`manifest ${name}: unknown media type "${desc.mediaType}"`);
    }
    return this.onEndpoints(ref, 'pull', async (ep, last) => {
      const accept = isGenericType(type) ? manifestAccept : `${type}, ${manifestAccept}`;
      const res = await this.send(ep, ref, { method: 'GET', url: this.url(ep, ref, `manifests/${digest}`), headers: { accept }, retry: last, ...signalOf(opts) });
      if (res.status !== 200) throw await statusError(res, name);
      const bytes = await readBody(res, maxManifestSize, () => invalidArgument(`manifest ${name} is larger than 4 MiB`));
      const actual = sha256(bytes);
      if (actual !== digest) throw failedPrecondition(`manifest ${name}: digest mismatch: got ${actual} (${bytes.length} bytes)`);
      if (bytes.length !== desc.size) throw failedPrecondition(`manifest ${name}: size mismatch: got ${bytes.length} bytes, descriptor says ${desc.size}`);
      const served = bareMediaType(res.headers['content-type']);
      const mediaType = isGenericType(type) && !isGenericType(served) ? served : type;
      return parseManifest({ ...desc, mediaType }, bytes, name);
    });
  }

  /** Resolves a reference down to one platform's manifest (through any indexes). */
  async resolveImage(reference: string | Reference, opts: ResolveImageOptions = {}): Promise<ResolvedImage> {
    const ref = toReference(reference);
    const matcher = isMatcher(opts.platform) ? opts.platform : onlyPlatform(opts.platform ?? defaultPlatform());
    const root = await this.resolve(ref, opts);
    const indexes: ResolvedImage['indexes'] = [];
    let desc = root;
    for (let depth = 0; depth <= maxIndexDepth; depth++) {
      const fetched = await this.fetchManifest(ref, desc, opts);
      if (fetched.kind === 'manifest') return { ref, root, indexes, manifest: fetched };
      indexes.push(fetched);
      desc = selectPlatform(fetched.index, matcher, `${repositoryName(ref)}@${fetched.descriptor.digest}`);
    }
    throw invalidArgument(`${formatReference(ref)}: indexes nested deeper than ${maxIndexDepth}`);
  }

  /**
   * A blob as a stream that checks its size and sha256 as it goes: too many bytes or a wrong digest fail the
   * stream (FailedPrecondition, naming the digest); a body cut short is resumed with Range from where it
   * broke, up to the retry bound, then fails (Unavailable). Errors before the first byte reject the promise.
   */
  async fetchBlob(reference: string | Reference, desc: Descriptor, opts: FetchBlobOptions = {}): Promise<Readable> {
    const ref = toReference(reference);
    const digest = parseDigest(desc.digest);
    const size = desc.size;
    if (!Number.isSafeInteger(size) || size < 0) throw invalidArgument(`blob ${digest}: invalid size ${size}`);
    const offset = opts.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > size) {
      throw invalidArgument(`blob ${digest}: offset ${offset} is outside its ${size} bytes`);
    }
    const state: BlobState = {
      ref,
      digest,
      size,
      pos: offset,
      hash: opts.hash ? opts.hash.copy() : offset === 0 ? createHash('sha256') : undefined,
      hashedUpTo: offset,
      ...signalOf(opts),
    };
    if (offset === size) {
      checkDigest(state);
      return Readable.from([], { objectMode: false });
    }
    let endpoint: RegistryEndpoint | undefined;
    const first = await this.onEndpoints(ref, 'pull', async (ep, last) => {
      const body = await this.openBlob(ep, state, last);
      endpoint = ep;
      return body;
    });
    let current: BlobBody = first;
    const stream = Readable.from(this.blobChunks(state, endpoint!, first, (b) => (current = b)), { objectMode: false });
    stream.once('close', () => current.res.body.destroy());
    return stream;
  }

  private async *blobChunks(s: BlobState, ep: RegistryEndpoint, first: BlobBody, setCurrent: (b: BlobBody) => void): AsyncGenerator<Buffer> {
    let body = first;
    for (let opens = 1; ; opens++) {
      let at = body.start;
      if (at === 0 && s.pos > 0) {
        // A whole body (Range ignored): hash all of it, hand on only what the caller lacks.
        s.hash = createHash('sha256');
        s.hashedUpTo = 0;
      } else if (s.hashedUpTo !== at) {
        s.hash = undefined; // an earlier body broke before reaching the resume point: the prefix is unhashed
      }
      let failure: unknown;
      const it = (body.res.body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
      for (;;) {
        // Only the read is guarded: an error thrown in at the yield (the consumer destroyed us) must end the
        // generator, not look like a broken body to resume.
        let step: IteratorResult<Buffer>;
        try {
          step = await it.next();
        } catch (err) {
          if (s.signal?.aborted) throw canceled(`blob ${s.digest}: canceled`);
          failure = err;
          break;
        }
        if (step.done) break;
        const chunk = step.value;
        const end = at + chunk.length;
        if (end > s.size) throw failedPrecondition(`blob ${s.digest}: registry sent more than the descriptor's ${s.size} bytes`);
        if (s.hash) {
          s.hash.update(chunk);
          s.hashedUpTo = end;
        }
        const from = at;
        at = end;
        if (end > s.pos) {
          const out = chunk.subarray(Math.max(0, s.pos - from));
          s.pos = end;
          yield out;
        }
      }
      // Every byte is in (a connection that broke after the last one loses nothing): the digest decides.
      if (at === s.size) break;
      const why = failure instanceof Error ? failure.message : 'the body ended early';
      if (opens >= this.transport.retry.attempts) {
        throw unavailable(`blob ${s.digest}: body cut short after ${s.pos} of ${s.size} bytes (${why}), ${opens} tries`, failure);
      }
      const delay = backoffDelay(this.transport.retry, opens);
      this.log.debug({ digest: s.digest, pos: s.pos, size: s.size, delay, err: why }, 'blob body cut short, resuming');
      await sleep(delay, s.signal);
      body = await this.openBlob(ep, s, true);
      setCurrent(body);
    }
    checkDigest(s);
  }

  /** One GET of a blob from s.pos; 206 must start there, 200 is the whole blob. */
  private async openBlob(ep: RegistryEndpoint, s: BlobState, retry: boolean): Promise<BlobBody> {
    const headers: Record<string, string> = { accept: '*/*' };
    if (s.pos > 0) headers.range = `bytes=${s.pos}-`;
    const res = await this.send(ep, s.ref, { method: 'GET', url: this.url(ep, s.ref, `blobs/${s.digest}`), headers, retry, ...signalOf(s) });
    const name = `blob ${s.digest}`;
    if (res.status === 206) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
      if (!range || Number(range[1]) !== s.pos) {
        discard(res);
        throw unavailable(`${name}: asked for bytes from ${s.pos}, the registry answered Content-Range "${res.headers['content-range'] ?? ''}"`);
      }
      if (range[3] !== '*' && Number(range[3]) !== s.size) {
        discard(res);
        throw failedPrecondition(`${name}: registry has ${range[3]} bytes, the descriptor says ${s.size}`);
      }
      return { res, start: s.pos };
    }
    if (res.status === 200) {
      const length = res.headers['content-length'];
      if (length !== undefined && Number(length) !== s.size) {
        discard(res);
        throw failedPrecondition(`${name}: registry sends ${length} bytes, the descriptor says ${s.size}`);
      }
      return { res, start: 0 };
    }
    throw await statusError(res, `${repositoryName(s.ref)}: ${name}`);
  }

  private async resolveAt(ep: RegistryEndpoint, last: boolean, ref: Reference, signal: AbortSignal | undefined): Promise<Descriptor> {
    const name = formatReference(ref);
    const url = this.url(ep, ref, `manifests/${referenceObject(ref)}`);
    const req = { url, headers: { accept: manifestAccept }, retry: last, ...(signal ? { signal } : {}) };
    const head = await this.send(ep, ref, { ...req, method: 'HEAD' });
    head.body.resume(); // a HEAD has no body, whatever its Content-Length says
    if (head.status === 404) throw notFound(`${name}: not found`);
    if (head.status === 429 || head.status >= 500) throw await statusError(head, name);
    if (head.status === 200) {
      const mediaType = bareMediaType(head.headers['content-type']);
      const size = Number(head.headers['content-length'] ?? NaN);
      const served = headerDigest(head);
      if (served !== undefined && ref.digest !== undefined && served !== ref.digest) {
        throw failedPrecondition(`${name}: registry answered with digest ${served}`);
      }
      const digest = ref.digest ?? served;
      if (digest !== undefined && !isGenericType(mediaType) && Number.isSafeInteger(size) && size >= 0) {
        return { mediaType, digest, size };
      }
    }
    // HEAD said too little, or failed: a GET has the body to hash, or the registry's words for the failure.
    const res = await this.send(ep, ref, { ...req, method: 'GET' });
    if (res.status !== 200) throw await statusError(res, name);
    const bytes = await readBody(res, maxManifestSize, () => invalidArgument(`manifest ${name} is larger than 4 MiB`));
    const actual = sha256(bytes);
    if (ref.digest !== undefined && actual !== ref.digest) throw failedPrecondition(`${name}: digest mismatch: got ${actual}`);
    const servedDigest = headerDigest(res);
    if (servedDigest !== undefined && servedDigest !== actual) {
      throw failedPrecondition(`${name}: registry says digest ${servedDigest} but the body's is ${actual}`);
    }
    const servedType = bareMediaType(res.headers['content-type']);
    const mediaType = isGenericType(servedType) ? (sniffManifestType(bytes) ?? servedType) : servedType;
    return { mediaType, digest: actual, size: bytes.length };
  }

  /** Runs a request on each endpoint with the capability in turn until one answers; the last error stands. */
  private async onEndpoints<T>(ref: Reference, capability: Capability, fn: (ep: RegistryEndpoint, last: boolean) => Promise<T>): Promise<T> {
    const endpoints = this.endpoints(ref.domain, capability);
    for (let i = 0; ; i++) {
      const ep = endpoints[i]!;
      const last = i === endpoints.length - 1;
      try {
        return await fn(ep, last);
      } catch (err) {
        if (last || kindOf(err) === 'canceled') throw err;
        this.log.warn({ host: ep.host, ref: formatReference(ref), err: (err as Error).message }, 'registry mirror failed, trying the next host');
      }
    }
  }

  /**
   * A request with the repository's auth: the known Authorization first, one new challenge round on a 401.
   * `push` asks for pull,push on the repository; `extraScopes` are asked for beside it (a cross-repository
   * mount needs pull on its source). The pusher (push.ts) sends its requests through here too.
   */
  async send(ep: RegistryEndpoint, ref: Reference, req: HttpRequest, push = false, extraScopes: readonly string[] = []): Promise<HttpResponse> {
    const scopes = [repositoryScope(ref.path, push), ...extraScopes];
    const context = formatReference(ref);
    let authorization: string | undefined;
    try {
      authorization = await this.auth.authorization(ep.host, scopes, req.signal);
    } catch (err) {
      throw wrap(err, context);
    }
    for (let fresh = false; ; fresh = true) {
      const headers = { ...req.headers, ...(authorization ? { authorization } : {}) };
      const res = await this.transport.request({ ...req, headers, skipVerify: ep.skipVerify });
      if (res.status !== 401 || fresh) return res;
      discard(res);
      try {
        authorization = await this.auth.challenge(ep.host, res.headers['www-authenticate'], scopes, req.signal);
      } catch (err) {
        throw wrap(err, context);
      }
    }
  }

  /** The URL of something in the repository on an endpoint: blobs/..., manifests/..., blobs/uploads/. */
  url(ep: RegistryEndpoint, ref: Reference, suffix: string): URL {
    const url = new URL(`${ep.scheme}://${ep.host}${ep.path}/${ref.path}/${suffix}`);
    if (ep.namespace !== undefined) url.searchParams.set('ns', ep.namespace);
    return url;
  }
}

interface BlobState {
  ref: Reference;
  digest: Digest;
  size: number;
  /** Bytes the caller has: the offset, then each one handed on. */
  pos: number;
  /** sha256 of bytes [0, hashedUpTo), when known. */
  hash: Hash | undefined;
  hashedUpTo: number;
  signal?: AbortSignal;
}

interface BlobBody {
  res: HttpResponse;
  /** The blob offset of the body's first byte. */
  start: number;
}

function checkDigest(s: BlobState): void {
  if (!s.hash || s.hashedUpTo !== s.size) return;
  const actual = digestOf(s.hash);
  if (actual !== s.digest) throw failedPrecondition(`blob ${s.digest}: digest mismatch: got ${actual}`);
}

function headerDigest(res: HttpResponse): Digest | undefined {
  const h = res.headers['docker-content-digest'];
  if (typeof h !== 'string') return undefined;
  try {
    return parseDigest(h.trim());
  } catch {
    return undefined;
  }
}

const signalOf = (o: { signal?: AbortSignal | undefined }) => (o.signal ? { signal: o.signal } : {});
