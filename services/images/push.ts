// Pushing an image from the content store to its registry (docker push): every blob of its manifests (config
// and layers) is checked with HEAD, mounted from another repository of the same registry when the blob's
// distribution source label names one, or uploaded in chunks; then the manifests, children before the index,
// the root under the tag. An index whose platforms are not all here is pushed as this machine's platform's
// manifest, as docker pushes what it has. Each blob pushed is labelled with the repository, so a later push
// to another repository of the registry can mount it. And docker login's check of credentials.
import { randomBytes } from 'node:crypto';
import type { ContentStore } from '../content/store.js';
import type { LeaseStore } from '../leases/store.js';
import type { ImageStore } from './store.js';
import type { BlobKind } from './pull.js';
import { readBlob } from './manifest.js';
import { RegistryClient, type RegistryClientOptions } from '../../lib/registry/client.js';
import { dockerConfigCredentials, staticCredentials, type Credentials } from '../../lib/registry/credentials.js';
import { limit } from '../../lib/registry/limit.js';
import { checkLogin, loginRegistry } from '../../lib/registry/login.js';
import { parseManifest, type Descriptor } from '../../lib/registry/manifest.js';
import { isIndexType } from '../../lib/registry/media-types.js';
import { defaultPlatform, onlyPlatform, type PlatformMatcher } from '../../lib/registry/platform.js';
import { RegistryPusher } from '../../lib/registry/push.js';
import { familiarString, formatReference, parseReference, repositoryName, type Reference } from '../../lib/registry/reference.js';
import { selectPlatform } from '../../lib/registry/select.js';
import { parseDigest, type Digest } from '../../lib/digest.js';
import { failedPrecondition, invalidArgument, isNotFound, kindOf, notFound, wrap } from '../../lib/errdefs.js';
import type { Logger } from '../../lib/log.js';

export type PushBlobState = 'preparing' | 'waiting' | 'pushing' | 'exists' | 'mounted' | 'pushed' | 'failed';

export interface PushBlobProgress {
  descriptor: Descriptor;
  kind: BlobKind;
  state: PushBlobState;
  /** Bytes the registry has taken. */
  offset: number;
  total: number;
  /** The repository a mounted blob came from. */
  mountedFrom: string;
}

export interface PushOptions {
  auth?: Credentials;
  signal?: AbortSignal;
  /** Called on every change of state, and as chunks are taken; the caller throttles what it forwards. */
  onProgress?: (blobs: readonly PushBlobProgress[]) => void;
}

export interface PushResult {
  /** The normalized reference pushed. */
  reference: string;
  tag: string;
  /** What the tag names in the registry now. */
  digest: Digest;
  size: number;
}

export interface PusherOptions {
  /** Blobs uploaded at once (docker's max-concurrent-uploads is 5). */
  concurrency: number;
  registry: Omit<RegistryClientOptions, 'credentials' | 'logger'>;
  /** Bytes per PATCH of an upload. */
  chunkSize?: number;
}

/** Marks the leases of pushes; one a crash left expires with its gc.expire. */
export const pushLeaseLabel = 'ctrd.io/push';
const leaseExpiryMs = 60 * 60 * 1000;

/** containerd's label naming the repositories of a registry a blob is known in, comma-separated. */
export const distributionSourceLabel = (domain: string) => `containerd.io/distribution.source.${domain}`;

interface PlannedManifest {
  descriptor: Descriptor;
  bytes: Buffer;
  kind: 'manifest' | 'index';
}

/** What a push sends: blobs first (any order), then manifests in order (children first, the root last). */
interface Plan {
  root: Descriptor;
  blobs: Array<{ descriptor: Descriptor; kind: BlobKind }>;
  manifests: PlannedManifest[];
}

/** docker leaves foreign (non-distributable) layers to the URLs they name. */
const isForeign = (d: Descriptor) => /foreign|nondistributable/.test(d.mediaType);

export class Pusher {
  private readonly platform: PlatformMatcher = onlyPlatform(defaultPlatform());

  constructor(
    private readonly content: ContentStore,
    private readonly images: ImageStore,
    private readonly leases: LeaseStore,
    private readonly log: Logger,
    private readonly opts: PusherOptions,
  ) {}

  async push(ns: string, reference: string, opts: PushOptions = {}): Promise<PushResult> {
    const ref = parseReference(reference);
    if (ref.digest !== undefined) throw invalidArgument(`cannot push a digest reference "${reference}": push a tag`);
    const name = formatReference(ref);
    let image;
    try {
      image = this.images.get(ns, name);
    } catch (err) {
      if (isNotFound(err)) throw notFound(`An image does not exist locally with the tag: ${familiarString(ref)}`);
      throw err;
    }
    const target: Descriptor = { mediaType: image.target.mediaType, digest: parseDigest(image.target.digest), size: image.target.size };
    // A lease holds what is being pushed: an rmi meanwhile must not let the garbage collector take it mid-upload.
    const lease = this.leases.create(ns, `push-${Date.now()}-${randomBytes(4).toString('hex')}`, {
      'containerd.io/gc.expire': new Date(Date.now() + leaseExpiryMs).toISOString(),
      [pushLeaseLabel]: name,
    }).id;
    try {
      return await this.pushHeld(ns, name, ref, target, lease, opts);
    } finally {
      this.leases.delete(ns, lease);
    }
  }

  private async pushHeld(ns: string, name: string, ref: Reference, target: Descriptor, lease: string, opts: PushOptions): Promise<PushResult> {
    // Everything is read and checked before the first request: an incomplete image fails here, having sent nothing.
    const plan = await this.plan(ns, target, name);
    for (const d of [...plan.manifests.map((m) => m.descriptor), ...plan.blobs.map((b) => b.descriptor)]) {
      this.leases.addResource(ns, lease, { type: 'content', id: d.digest });
    }
    const log = this.log.child({ ns, image: name });
    const client = new RegistryClient({
      ...this.opts.registry,
      ...(opts.auth ? { credentials: staticCredentials({ [ref.domain]: opts.auth }) } : {}),
      logger: log,
    });
    const pusher = new RegistryPusher(client, { logger: log, ...(this.opts.chunkSize !== undefined ? { chunkSize: this.opts.chunkSize } : {}) });
    const progress = new Progress(opts.onProgress);
    const started = Date.now();
    try {
      await this.run(ns, ref, plan, pusher, progress, opts.signal);
      log.info({ digest: plan.root.digest, ms: Date.now() - started }, 'pushed');
      return { reference: name, tag: ref.tag!, digest: plan.root.digest, size: plan.root.size };
    } catch (err) {
      log.warn({ err, ms: Date.now() - started }, 'push failed');
      throw wrap(err, `push ${name}`);
    } finally {
      client.close();
    }
  }

  private async run(ns: string, ref: Reference, plan: Plan, pusher: RegistryPusher, progress: Progress, signal: AbortSignal | undefined): Promise<void> {
    // All at once, so that the first report lists every blob (a client orders its lines by it).
    const entries = progress.addAll(plan.blobs);
    const run = limit(this.opts.concurrency);
    // The limiter hands out its slots in order: the ones past the first `concurrency` wait.
    entries.forEach((p, i) => i >= this.opts.concurrency && progress.set(p, 'waiting'));
    const uploads = plan.blobs.map((b, i) =>
      run(async () => {
        const p = entries[i]!;
        const desc = b.descriptor;
        try {
          const result = await pusher.pushBlob(ref, desc, (offset) => this.content.read(ns, desc.digest, offset, 0), {
            mountFrom: this.sources(ns, ref, desc.digest),
            onUpload: (offset) => progress.set(p, 'pushing', offset),
            ...(signal ? { signal } : {}),
          });
          if (result.outcome === 'mounted') p.mountedFrom = result.from;
          progress.set(p, result.outcome === 'exists' ? 'exists' : result.outcome, desc.size);
          this.addSource(ns, ref, desc.digest);
        } catch (err) {
          progress.set(p, 'failed');
          throw err;
        }
      }),
    );
    // One failure must not leave the others' rejections unhandled while Promise.all reports the first.
    uploads.forEach((u) => u.catch(() => undefined));
    await Promise.all(uploads);
    for (const m of plan.manifests) {
      const p = progress.add(m.descriptor, m.kind);
      const root = m.descriptor.digest === plan.root.digest;
      progress.set(p, 'pushing', 0);
      try {
        await pusher.pushManifest(ref, m.descriptor, m.bytes, root ? ref.tag! : m.descriptor.digest, signal ? { signal } : {});
      } catch (err) {
        progress.set(p, 'failed');
        throw err;
      }
      progress.set(p, 'pushed', m.descriptor.size);
      this.addSource(ns, ref, m.descriptor.digest);
    }
  }

  /** Reads the image's manifests from the content store and lists what to send. */
  private async plan(ns: string, target: Descriptor, name: string): Promise<Plan> {
    const whole = await this.collect(ns, target, 0);
    if (whole.complete) return { root: target, blobs: whole.blobs, manifests: whole.manifests };
    // Some platforms of the index are not here (a pull fetches one): push this platform's manifest, as docker does.
    const bytes = await this.readManifest(ns, target, name);
    const fetched = parseManifest(target, bytes, `${name}@${target.digest}`);
    if (fetched.kind !== 'index') throw failedPrecondition(`${name}: ${whole.missing} is not in the content store`);
    const chosen = selectPlatform(fetched.index, this.platform, `${name}@${target.digest}`);
    const one = await this.collect(ns, chosen, 1);
    if (!one.complete) throw failedPrecondition(`${name}: ${one.missing} is not in the content store; pull the image again`);
    this.log.info({ ns, image: name, index: target.digest, manifest: chosen.digest }, 'index incomplete: pushing this platform\'s manifest');
    return { root: chosen, blobs: one.blobs, manifests: one.manifests };
  }

  private async collect(
    ns: string,
    desc: Descriptor,
    depth: number,
  ): Promise<{ complete: true; blobs: Plan['blobs']; manifests: PlannedManifest[] } | { complete: false; missing: string }> {
    if (depth > 4) throw invalidArgument(`index ${desc.digest} nests indexes too deep`);
    if (!this.has(ns, desc.digest)) return { complete: false, missing: `manifest ${desc.digest}` };
    const bytes = await this.readManifest(ns, desc, desc.digest);
    const fetched = parseManifest(desc, bytes, desc.digest);
    if (fetched.kind === 'manifest') {
      const blobs: Plan['blobs'] = [{ descriptor: fetched.manifest.config, kind: 'config' }];
      for (const l of fetched.manifest.layers) {
        if (isForeign(l)) continue;
        if (!blobs.some((b) => b.descriptor.digest === l.digest)) blobs.push({ descriptor: l, kind: 'layer' });
      }
      for (const b of blobs) if (!this.has(ns, b.descriptor.digest)) return { complete: false, missing: `${b.kind} ${b.descriptor.digest}` };
      return { complete: true, blobs, manifests: [{ descriptor: desc, bytes, kind: 'manifest' }] };
    }
    const blobs: Plan['blobs'] = [];
    const manifests: PlannedManifest[] = [];
    for (const child of fetched.index.manifests) {
      const sub = await this.collect(ns, child, depth + 1);
      if (!sub.complete) return sub;
      for (const b of sub.blobs) if (!blobs.some((x) => x.descriptor.digest === b.descriptor.digest)) blobs.push(b);
      for (const m of sub.manifests) if (!manifests.some((x) => x.descriptor.digest === m.descriptor.digest)) manifests.push(m);
    }
    manifests.push({ descriptor: desc, bytes, kind: isIndexType(desc.mediaType) ? 'index' : 'manifest' });
    return { complete: true, blobs, manifests };
  }

  private readManifest(ns: string, desc: Descriptor, what: string): Promise<Buffer> {
    return readBlob(this.content, ns, desc, `manifest of ${what}`);
  }

  private has(ns: string, digest: string): boolean {
    try {
      this.content.info(ns, digest);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Other repositories of the registry the blob came from or went to. */
  private sources(ns: string, ref: Reference, digest: string): string[] {
    const value = this.content.info(ns, digest).labels[distributionSourceLabel(ref.domain)] ?? '';
    return value.split(',').filter((r) => r !== '' && r !== ref.path);
  }

  /** Records that the repository has the blob now; a label that cannot be written costs only a later mount. */
  private addSource(ns: string, ref: Reference, digest: string): void {
    const key = distributionSourceLabel(ref.domain);
    try {
      const current = this.content.info(ns, digest).labels[key] ?? '';
      const repos = new Set(current.split(',').filter((r) => r !== ''));
      if (repos.has(ref.path)) return;
      repos.add(ref.path);
      this.content.update(ns, digest, { [key]: [...repos].sort().join(',') }, [`labels.${key}`]);
    } catch (err) {
      this.log.warn({ ns, digest, repository: repositoryName(ref), err }, 'could not label the blob with the repository it was pushed to');
    }
  }

  /**
   * docker login's check against the registry a server names. Without credentials, the daemon's own (its
   * docker config.json) are checked.
   */
  async login(server: string, auth: Credentials | undefined, signal?: AbortSignal): Promise<void> {
    const registry = loginRegistry(server);
    const creds = auth ?? (await dockerConfigCredentials()(registry));
    if (!creds) throw invalidArgument(`login to ${registry}: no credentials given, and the daemon has none for it`);
    try {
      await checkLogin(server, creds, {
        ...(this.opts.registry.hosts ? { hosts: this.opts.registry.hosts } : {}),
        ...(this.opts.registry.plainHttp ? { plainHttp: true } : {}),
        logger: this.log.child({ registry }),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      this.log.info({ registry, user: creds.username, kind: kindOf(err), err: (err as Error).message }, 'login refused');
      throw err;
    }
    this.log.info({ registry, user: creds.username }, 'login checked');
  }
}

/** The push's blobs in the order they were first seen, reported on every change. */
class Progress {
  private readonly blobs: PushBlobProgress[] = [];

  constructor(private readonly onChange: ((blobs: readonly PushBlobProgress[]) => void) | undefined) {}

  add(descriptor: Descriptor, kind: BlobKind): PushBlobProgress {
    return this.addAll([{ descriptor, kind }])[0]!;
  }

  addAll(blobs: ReadonlyArray<{ descriptor: Descriptor; kind: BlobKind }>): PushBlobProgress[] {
    const added = blobs.map((b) => {
      const existing = this.blobs.find((x) => x.descriptor.digest === b.descriptor.digest);
      if (existing) return existing;
      const p: PushBlobProgress = { descriptor: b.descriptor, kind: b.kind, state: 'preparing', offset: 0, total: b.descriptor.size, mountedFrom: '' };
      this.blobs.push(p);
      return p;
    });
    this.onChange?.(this.blobs);
    return added;
  }

  set(b: PushBlobProgress, state: PushBlobState, offset = b.offset): void {
    b.state = state;
    b.offset = offset;
    this.onChange?.(this.blobs);
  }
}
