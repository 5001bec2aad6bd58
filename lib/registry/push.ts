// Pushing to a registry (distribution's API, as docker and containerd push): a blob is looked for with HEAD,
// mounted from another repository of the same registry when one is known to have it, else uploaded in chunks
// (POST opens an upload, each PATCH carries its Content-Range, PUT ?digest= closes it, the registry checks the
// digest); manifests go last, with their media type, children before the index that names them. The pusher
// reads nothing itself: the caller hands it a way to open a blob at an offset (the content store, for ctrd).
import type { Readable } from 'node:stream';
import { parseDigest } from '../digest.js';
import { CtrdError, failedPrecondition, invalidArgument, kindOf, unavailable, wrap } from '../errdefs.js';
import { silentLogger, type Logger } from '../log.js';
import { repositoryScope } from './auth.js';
import type { RegistryClient } from './client.js';
import { readErrorMessage, statusMessage } from './errors.js';
import type { RegistryEndpoint } from './hosts.js';
import { maxManifestSize, type Descriptor } from './manifest.js';
import { formatReference, repositoryName, type Reference } from './reference.js';
import { backoffDelay, defaultRetry, discard, sleep, type HttpRequest, type HttpResponse } from './transport.js';

/** Opens a blob's bytes from an offset to its end. */
export type BlobSource = (offset: number) => Readable | Promise<Readable>;

export type BlobPushResult = { outcome: 'exists' } | { outcome: 'mounted'; from: string } | { outcome: 'pushed' };

export interface PushBlobOptions {
  /** Repositories (paths) of the same registry known to have the blob: the first is asked for a mount. */
  mountFrom?: readonly string[];
  /** Called when the upload starts (offset 0) and each time the registry has taken a chunk. */
  onUpload?: (offset: number) => void;
  signal?: AbortSignal;
}

export interface RegistryPusherOptions {
  /** Bytes per PATCH; the last chunk is shorter. */
  chunkSize?: number;
  logger?: Logger;
}

/** containerd's default is one stream; chunks let a broken upload resume from what the registry has. */
export const defaultChunkSize = 8 << 20;
/** A broken upload is picked up again (from the registry's Range) at most this many times. */
const maxResumes = 4;

/** The repository's push scope (pull,push) and the operation's name, for messages that say what was refused. */
async function pushError(res: HttpResponse, ref: Reference, what: string, scope: string): Promise<CtrdError> {
  // A HEAD's answer has no body: distribution's own words for the two refusals stand in.
  const registryWords =
    (await readErrorMessage(res)) ??
    (res.status === 401 ? 'authentication required' : res.status === 403 ? 'requested access to the resource is denied' : undefined);
  const repo = repositoryName(ref);
  const base = `${what}: ${statusMessage(res.status, registryWords)}`;
  if (res.status === 401) {
    return new CtrdError('unauthenticated', `${base} (${ref.domain} wants credentials with ${scope} access to ${ref.path})`);
  }
  if (res.status === 403) return new CtrdError('permission-denied', `${base} (no ${scope} access to repository ${repo})`);
  if (res.status === 404) return new CtrdError('not-found', `${what}: not found${registryWords ? ` (${registryWords})` : ''}`);
  if (res.status === 400) return new CtrdError('invalid-argument', base);
  if (res.status === 405) return new CtrdError('not-implemented', `${base} (${ref.domain} does not take pushes)`);
  if (res.status === 429) return new CtrdError('resource-exhausted', base);
  if (res.status >= 500) return new CtrdError('unavailable', base);
  return new CtrdError('unknown', base);
}

function locationOf(res: HttpResponse, what: string): URL {
  const location = res.headers.location;
  if (typeof location !== 'string' || location === '') throw unavailable(`${what}: the registry answered ${res.status} without a Location`);
  try {
    return new URL(location, res.url);
  } catch (err) {
    throw unavailable(`${what}: the registry answered an invalid Location "${location}"`, err);
  }
}

/** The end of an upload's Range header ("0-1023" means 1024 bytes taken; none or "0-0" on an empty one). */
function rangeEnd(res: HttpResponse): number | undefined {
  const m = /^(?:bytes=)?0-(\d+)$/.exec(String(res.headers.range ?? '').trim());
  return m ? Number(m[1]) + 1 : undefined;
}

/** Reads a stream into buffers of exactly `size` bytes (the last one shorter, never empty). */
async function* chunksOf(stream: Readable, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let held = 0;
  for await (const piece of stream as AsyncIterable<Buffer>) {
    let rest = piece;
    while (held + rest.length >= size) {
      const take = size - held;
      parts.push(rest.subarray(0, take));
      yield Buffer.concat(parts, size);
      parts = [];
      held = 0;
      rest = rest.subarray(take);
    }
    if (rest.length > 0) {
      parts.push(rest);
      held += rest.length;
    }
  }
  if (held > 0) yield Buffer.concat(parts, held);
}

export class RegistryPusher {
  private readonly chunkSize: number;
  private readonly log: Logger;

  constructor(
    private readonly client: RegistryClient,
    opts: RegistryPusherOptions = {},
  ) {
    this.chunkSize = opts.chunkSize ?? defaultChunkSize;
    if (!Number.isSafeInteger(this.chunkSize) || this.chunkSize < 1) throw invalidArgument(`push chunk size must be a positive integer, got ${this.chunkSize}`);
    this.log = opts.logger ?? silentLogger;
  }

  /** The registry itself: mirrors take no pushes. */
  private endpoint(ref: Reference): RegistryEndpoint {
    const ep = this.client.endpoints(ref.domain, 'push')[0];
    if (!ep) throw invalidArgument(`${ref.domain}: no endpoint takes pushes`);
    return ep;
  }

  private async send(ref: Reference, req: HttpRequest, extraScopes: readonly string[] = []): Promise<HttpResponse> {
    try {
      return await this.client.send(this.endpoint(ref), ref, req, true, extraScopes);
    } catch (err) {
      // The client names the reference; a push's messages name it once, at the top.
      const prefix = `${formatReference(ref)}: `;
      if (err instanceof CtrdError && err.message.startsWith(prefix)) throw new CtrdError(err.kind, err.message.slice(prefix.length), { cause: err });
      throw err;
    }
  }

  /** HEAD on the blob in the repository: 200 means the registry has it there. */
  async blobExists(ref: Reference, desc: Descriptor, opts: { signal?: AbortSignal } = {}): Promise<boolean> {
    const digest = parseDigest(desc.digest);
    const ep = this.endpoint(ref);
    const res = await this.send(ref, { method: 'HEAD', url: this.client.url(ep, ref, `blobs/${digest}`), ...signalOf(opts) });
    res.body.resume(); // a HEAD has no body
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await pushError(res, ref, `blob ${digest}`, 'pull,push');
  }

  /**
   * Puts a blob into the repository unless it is there: HEAD, then a mount from a repository that has it,
   * then a chunked upload. Resolves with what happened; errors name the blob and the repository.
   */
  async pushBlob(ref: Reference, desc: Descriptor, open: BlobSource, opts: PushBlobOptions = {}): Promise<BlobPushResult> {
    const digest = parseDigest(desc.digest);
    const what = `blob ${digest}`;
    if (!Number.isSafeInteger(desc.size) || desc.size < 0) throw invalidArgument(`${what}: invalid size ${desc.size}`);
    try {
      if (await this.blobExists(ref, desc, opts)) return { outcome: 'exists' };
      const ep = this.endpoint(ref);
      let upload: URL | undefined;
      const from = opts.mountFrom?.find((r) => r !== ref.path);
      if (from !== undefined) {
        const url = this.client.url(ep, ref, 'blobs/uploads/');
        url.searchParams.set('mount', digest);
        url.searchParams.set('from', from);
        const res = await this.send(ref, { method: 'POST', url, body: '', ...signalOf(opts) }, [repositoryScope(from)]);
        if (res.status === 201) {
          discard(res);
          this.log.debug({ digest, from, to: ref.path }, 'blob mounted');
          return { outcome: 'mounted', from };
        }
        if (res.status === 202) {
          // The registry could not mount it and opened an upload instead: use it.
          discard(res);
          upload = locationOf(res, what);
        } else if (res.status === 401 || res.status === 403) {
          // No pull access to the source: an upload of our own still works.
          this.log.debug({ digest, from, status: res.status }, 'cross-repository mount refused, uploading');
          discard(res);
        } else {
          throw await pushError(res, ref, `${what}: mount from ${from}`, 'pull,push');
        }
      }
      await this.upload(ref, desc, upload ?? (await this.startUpload(ref, what, opts)), open, opts);
      return { outcome: 'pushed' };
    } catch (err) {
      throw wrap(err, what);
    }
  }

  /** POST: a new upload session, at the URL the answer's Location names. */
  private async startUpload(ref: Reference, what: string, opts: PushBlobOptions): Promise<URL> {
    const url = this.client.url(this.endpoint(ref), ref, 'blobs/uploads/');
    const res = await this.send(ref, { method: 'POST', url, body: '', ...signalOf(opts) });
    if (res.status !== 202) throw await pushError(res, ref, `${what}: starting the upload`, 'pull,push');
    discard(res);
    return locationOf(res, what);
  }

  /**
   * PATCHes the blob in chunks from where the registry stands, then PUTs ?digest=. A failed upload is
   * cancelled (DELETE), so the registry drops what it took.
   */
  private async upload(ref: Reference, desc: Descriptor, start: URL, open: BlobSource, opts: PushBlobOptions): Promise<void> {
    // Every answer names the upload's next URL: the session follows it, so a failure cancels the current one.
    const session = { location: start };
    try {
      await this.sendChunks(ref, desc, session, open, opts);
    } catch (err) {
      await this.cancelUpload(ref, session.location);
      throw err;
    }
  }

  private async sendChunks(ref: Reference, desc: Descriptor, session: { location: URL }, open: BlobSource, opts: PushBlobOptions): Promise<void> {
    const digest = desc.digest;
    const what = `blob ${digest}`;
    let offset = 0;
    opts.onUpload?.(0);
    for (let resumes = 0; offset < desc.size; ) {
      const stream = await open(offset);
      let failure: unknown;
      try {
        for await (const chunk of chunksOf(stream, this.chunkSize)) {
          const end = offset + chunk.length;
          const range = `${offset}-${end - 1}`;
          if (end > desc.size) throw failedPrecondition(`${what}: the local blob has more than its ${desc.size} bytes`);
          const res = await this.send(ref, {
            method: 'PATCH',
            url: session.location,
            headers: { 'content-type': 'application/octet-stream', 'content-range': range },
            body: chunk,
            // A PATCH resent after the registry took part of it would not fit: a failure asks where it stands.
            retry: false,
            ...signalOf(opts),
          });
          if (res.status !== 202) {
            const err = await pushError(res, ref, `${what}: chunk ${range}`, 'pull,push');
            if (res.status !== 416 && res.status < 500) throw err;
            failure = err;
            break;
          }
          discard(res);
          session.location = locationOf(res, what);
          const taken = rangeEnd(res);
          if (taken !== undefined && taken !== end) {
            failure = unavailable(`${what}: the registry has ${taken} bytes after a chunk that ended at ${end}`);
            break;
          }
          offset = end;
          opts.onUpload?.(offset);
        }
      } catch (err) {
        // A connection broken mid-chunk (Unavailable) is resumed; anything else ends the upload.
        if (kindOf(err) !== 'unavailable' || opts.signal?.aborted) throw err;
        failure = err;
      } finally {
        stream.destroy();
      }
      if (failure === undefined) {
        if (offset !== desc.size) throw failedPrecondition(`${what}: the local blob ended after ${offset} of ${desc.size} bytes`);
        break;
      }
      if (++resumes > maxResumes) throw failure;
      await sleep(backoffDelay(defaultRetry, resumes), opts.signal);
      try {
        ({ location: session.location, offset } = await this.uploadStatus(ref, session.location, what, opts));
        this.log.debug({ digest, offset, resumes, err: (failure as Error).message }, 'blob upload broken, resuming');
      } catch (err) {
        if (kindOf(err) === 'canceled') throw err;
        // distribution forgets (and cancels) an upload asked about with a state older than what it took, as
        // after a chunk whose answer was lost: a new upload starts from the first byte.
        this.log.debug({ digest, resumes, err: (err as Error).message }, 'blob upload lost, starting it again');
        await this.cancelUpload(ref, session.location);
        session.location = await this.startUpload(ref, what, opts);
        offset = 0;
        opts.onUpload?.(0);
      }
    }
    const put = new URL(session.location);
    put.searchParams.set('digest', digest);
    const res = await this.send(ref, { method: 'PUT', url: put, body: '', headers: { 'content-type': 'application/octet-stream' }, ...signalOf(opts) });
    if (res.status !== 201 && res.status !== 204) throw await pushError(res, ref, `${what}: completing the upload`, 'pull,push');
    discard(res);
    const served = res.headers['docker-content-digest'];
    if (typeof served === 'string' && served.trim() !== digest) {
      throw failedPrecondition(`${what}: the registry stored it as ${served.trim()}`);
    }
  }

  /** DELETE on an upload that failed, so the registry drops what it took; a failure here is only logged. */
  private async cancelUpload(ref: Reference, location: URL): Promise<void> {
    try {
      const res = await this.send(ref, { method: 'DELETE', url: location, retry: false });
      discard(res);
    } catch (err) {
      this.log.debug({ url: location.href, err: (err as Error).message }, 'could not cancel a failed upload');
    }
  }

  /** GET on an upload: where it stands (204 with Range), to resume a broken one. */
  private async uploadStatus(ref: Reference, location: URL, what: string, opts: PushBlobOptions): Promise<{ location: URL; offset: number }> {
    const res = await this.send(ref, { method: 'GET', url: location, ...signalOf(opts) });
    if (res.status !== 204) throw await pushError(res, ref, `${what}: upload status`, 'pull,push');
    discard(res);
    const taken = rangeEnd(res) ?? 0;
    return { location: res.headers.location ? locationOf(res, what) : location, offset: taken };
  }

  /**
   * PUTs a manifest or index under a tag or its digest, with its media type as Content-Type. The registry
   * checks that what it names is there, so children go first.
   */
  async pushManifest(ref: Reference, desc: Descriptor, bytes: Buffer, reference: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const digest = parseDigest(desc.digest);
    const what = `manifest ${reference === digest ? digest : `${reference} (${digest})`}`;
    if (bytes.length > maxManifestSize) throw invalidArgument(`${what} is larger than 4 MiB`);
    const ep = this.endpoint(ref);
    const res = await this.send(ref, {
      method: 'PUT',
      url: this.client.url(ep, ref, `manifests/${reference}`),
      headers: { 'content-type': desc.mediaType },
      body: bytes,
      ...signalOf(opts),
    });
    if (res.status !== 201 && res.status !== 200 && res.status !== 204) throw await pushError(res, ref, what, 'pull,push');
    discard(res);
    const served = res.headers['docker-content-digest'];
    if (typeof served === 'string' && served.trim() !== digest) {
      throw failedPrecondition(`${what}: the registry stored it as ${served.trim()}`);
    }
  }
}

const signalOf = (o: { signal?: AbortSignal | undefined }) => (o.signal ? { signal: o.signal } : {});
