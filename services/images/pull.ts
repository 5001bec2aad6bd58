// Pulling an image inside the daemon: resolve through the registry client, fetch every blob into the content
// store (resuming an ingest a crash left, several layers at once), unpack each layer into the snapshotter as
// soon as it and the ones below it are there, and record the image last. A lease holds everything while the
// pull runs; what a failed pull leaves is garbage once the lease is gone.
import { randomBytes } from 'node:crypto';
import type { ContentStore } from '../content/store.js';
import type { LeaseStore } from '../leases/store.js';
import type { SnapshotStore } from '../snapshots/store.js';
import type { GarbageCollector } from '../metadata/gc.js';
import type { ImageStore } from './store.js';
import type { Image } from './types.js';
import type { ImageEvents } from './manager.js';
import { chainIds, parseConfig } from './manifest.js';
import { unpackLayers, type Unpacker } from './unpack.js';
import { recordImage } from './record.js';
import { RegistryClient, type RegistryClientOptions } from '../../lib/registry/client.js';
import { staticCredentials } from '../../lib/registry/credentials.js';
import { limit } from '../../lib/registry/limit.js';
import { plainDescriptor, type Descriptor } from '../../lib/registry/manifest.js';
import { formatReference, parseReference, repositoryName, type Reference } from '../../lib/registry/reference.js';
import { isAlreadyExists, wrap } from '../../lib/errdefs.js';
import type { Logger } from '../../lib/log.js';

export type BlobKind = 'index' | 'manifest' | 'config' | 'layer';
export type BlobState = 'waiting' | 'downloading' | 'exists' | 'downloaded' | 'extracting' | 'extracted' | 'failed';

export interface BlobProgress {
  descriptor: Descriptor;
  kind: BlobKind;
  state: BlobState;
  offset: number;
  total: number;
}

export interface PullOptions {
  platform?: string;
  snapshotter?: string;
  auth?: { username: string; password: string };
  signal?: AbortSignal;
  /** Called on every change of state, and as bytes arrive; the caller throttles what it forwards. */
  onProgress?: (blobs: readonly BlobProgress[]) => void;
}

export interface PullerOptions {
  defaultSnapshotter: string;
  /** Layers fetched at once. */
  concurrency: number;
  registry: Omit<RegistryClientOptions, 'credentials' | 'logger'>;
}

/** Marks the leases of ctrd's own pulls: a daemon that starts again deletes those a crash left behind. */
export const pullLeaseLabel = 'ctrd.io/pull';
/** How long a pull's lease outlives a daemon that died during the pull. */
const leaseExpiryMs = 60 * 60 * 1000;

export class Puller {
  constructor(
    private readonly content: ContentStore,
    private readonly images: ImageStore,
    private readonly leases: LeaseStore,
    private readonly snapshots: SnapshotStore,
    private readonly unpacker: Unpacker,
    private readonly gc: GarbageCollector,
    private readonly events: ImageEvents,
    private readonly log: Logger,
    private readonly opts: PullerOptions,
  ) {}

  async pull(ns: string, reference: string, opts: PullOptions = {}): Promise<Image> {
    const ref = parseReference(reference);
    const name = formatReference(ref);
    const snapshotter = opts.snapshotter || this.opts.defaultSnapshotter;
    this.snapshots.snapshotter(snapshotter); // an unknown snapshotter fails before anything is fetched
    const log = this.log.child({ ns, image: name });
    const client = new RegistryClient({
      ...this.opts.registry,
      ...(opts.auth ? { credentials: staticCredentials({ [ref.domain]: opts.auth }) } : {}),
      logger: log,
    });
    const lease = this.leases.create(ns, `pull-${Date.now()}-${randomBytes(4).toString('hex')}`, {
      'containerd.io/gc.expire': new Date(Date.now() + leaseExpiryMs).toISOString(),
      [pullLeaseLabel]: name,
    }).id;
    const progress = new Progress(opts.onProgress);
    const started = Date.now();
    try {
      const image = await this.run(ns, ref, name, snapshotter, lease, client, progress, opts);
      log.info({ target: image.target.digest, ms: Date.now() - started }, 'pulled');
      this.leases.delete(ns, lease);
      // A target the image had before may be unreferenced now.
      this.gc.dirty();
      return image;
    } catch (err) {
      log.warn({ err, ms: Date.now() - started }, 'pull failed');
      // What the failed pull fetched is garbage once its lease is gone: it goes soon, not at some later time.
      this.leases.delete(ns, lease);
      this.gc.schedule();
      throw err;
    } finally {
      client.close();
    }
  }

  private async run(
    ns: string,
    ref: Reference,
    name: string,
    snapshotter: string,
    lease: string,
    client: RegistryClient,
    progress: Progress,
    opts: PullOptions,
  ): Promise<Image> {
    const { signal } = opts;
    const resolved = await client.resolveImage(ref, { ...(opts.platform ? { platform: opts.platform } : {}), signal });
    const source = { [`containerd.io/distribution.source.${ref.domain}`]: ref.path };

    // Indexes and the manifest came whole with the resolve: store their exact bytes, with the gc.ref labels
    // that keep their children once the image record points at the root.
    for (const idx of resolved.indexes) {
      const labels: Record<string, string> = { ...source };
      idx.index.manifests.forEach((m, i) => (labels[`containerd.io/gc.ref.content.m.${i}`] = m.digest));
      await this.putBytes(ns, lease, 'index', idx.descriptor, idx.bytes, labels, progress);
    }
    const manifest = resolved.manifest.manifest;
    const manifestLabels: Record<string, string> = { ...source, 'containerd.io/gc.ref.content.config': manifest.config.digest };
    manifest.layers.forEach((l, i) => (manifestLabels[`containerd.io/gc.ref.content.l.${i}`] = l.digest));
    await this.putBytes(ns, lease, 'manifest', resolved.manifest.descriptor, resolved.manifest.bytes, manifestLabels, progress);

    // Config first (the diff IDs), the layers at once but bounded, each unpacked in order as soon as it can be.
    for (const l of manifest.layers) progress.add(l, 'layer');
    await this.fetch(ns, lease, ref, client, manifest.config, 'config', source, progress, signal);
    const configBytes = await this.content.readAll(ns, manifest.config.digest);
    const config = parseConfig(configBytes, manifest.config, manifest.layers.length);
    const diffIds = config.rootfs.diff_ids;
    const chain = chainIds(diffIds);

    const run = limit(this.opts.concurrency);
    const downloads = manifest.layers.map((layer) =>
      run(() => this.fetch(ns, lease, ref, client, layer, 'layer', source, progress, signal)),
    );
    // A failed download must not leave others' rejections unhandled while the unpack loop waits in order.
    downloads.forEach((d) => d.catch(() => undefined));
    const steps = unpackLayers(manifest.layers, diffIds, chain);
    for (let i = 0; i < steps.length; i++) {
      await downloads[i];
      const p = progress.find(steps[i]!.layer);
      await this.unpacker.layer(ns, lease, snapshotter, steps[i]!, (state) => progress.set(p, state === 'exists' ? 'extracted' : state), signal);
    }
    await Promise.all(downloads);
    if (chain.length > 0) this.unpacker.labelConfig(ns, manifest.config.digest, snapshotter, chain[chain.length - 1]!);
    return recordImage(this.images, this.events, ns, name, plainDescriptor(resolved.root));
  }

  /** Stores bytes we already hold (a manifest or index); an existing blob gets the labels it lacks. */
  private async putBytes(
    ns: string,
    lease: string,
    kind: BlobKind,
    desc: Descriptor,
    bytes: Buffer,
    labels: Record<string, string>,
    progress: Progress,
  ): Promise<void> {
    const p = progress.add(desc, kind);
    try {
      await this.content.writeBlob(ns, `${kind}-${desc.digest}`, bytes, { expected: desc.digest, labels, lease });
      progress.set(p, 'downloaded', desc.size);
      return;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    this.addLabels(ns, desc.digest, labels);
    progress.set(p, 'exists', desc.size);
  }

  private addLabels(ns: string, digest: string, labels: Record<string, string>): void {
    this.content.update(ns, digest, labels, Object.keys(labels).map((k) => `labels.${k}`));
  }

  /** Fetches a blob into the content store, resuming the ingest of an earlier attempt from its offset. */
  private async fetch(
    ns: string,
    lease: string,
    ref: Reference,
    client: RegistryClient,
    desc: Descriptor,
    kind: BlobKind,
    labels: Record<string, string>,
    progress: Progress,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const p = progress.add(desc, kind);
    let writer;
    try {
      writer = await this.content.writer(ns, `${kind}-${desc.digest}`, { total: desc.size, expected: desc.digest, lease });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      this.addLabels(ns, desc.digest, labels);
      progress.set(p, 'exists', desc.size);
      return;
    }
    try {
      let offset = writer.status().offset;
      progress.set(p, 'downloading', offset);
      if (offset > desc.size) {
        await writer.write(0, Buffer.alloc(0)); // more than the blob: start again
        offset = 0;
      }
      const body = await client.fetchBlob(ref, desc, { offset, ...(offset > 0 ? { hash: writer.hash() } : {}), signal });
      for await (const chunk of body) {
        await writer.write(offset, chunk as Buffer);
        offset += (chunk as Buffer).length;
        progress.set(p, 'downloading', offset);
      }
      await writer.commit(desc.size, desc.digest, labels);
      progress.set(p, 'downloaded', desc.size);
    } catch (err) {
      if (isAlreadyExists(err)) {
        progress.set(p, 'exists', desc.size);
        return;
      }
      progress.set(p, 'failed');
      throw wrap(err, `${kind} ${desc.digest} of ${repositoryName(ref)}`);
    } finally {
      await writer.close();
    }
  }
}

/** The pull's blobs in the order they were first seen, reported on every change. */
class Progress {
  private readonly blobs: BlobProgress[] = [];

  constructor(private readonly onChange: ((blobs: readonly BlobProgress[]) => void) | undefined) {}

  add(descriptor: Descriptor, kind: BlobKind): BlobProgress {
    const existing = this.blobs.find((b) => b.descriptor.digest === descriptor.digest);
    if (existing) return existing;
    const b: BlobProgress = { descriptor, kind, state: 'waiting', offset: 0, total: descriptor.size };
    this.blobs.push(b);
    this.onChange?.(this.blobs);
    return b;
  }

  find(descriptor: Descriptor): BlobProgress {
    return this.add(descriptor, 'layer');
  }

  set(b: BlobProgress, state: BlobState, offset = b.offset): void {
    // A layer that was there already stays "exists" through its unpack, as docker shows "Already exists".
    if (!(b.state === 'exists' && state === 'extracted')) b.state = state;
    b.offset = offset;
    this.onChange?.(this.blobs);
  }
}
