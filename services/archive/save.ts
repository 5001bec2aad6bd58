// docker save inside the daemon: the named images' blobs, byte for byte from the content store, in one tar that
// is both an OCI image layout and a Docker archive (formats.ts). The images and every blob are found before the
// first byte is written, and a lease holds the blobs while the tar streams out.
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pack as tarPack, type Pack } from 'tar-stream';
import type { ContentStore } from '../content/store.js';
import type { LeaseStore } from '../leases/store.js';
import type { ImageManager } from '../images/manager.js';
import type { ImageStore } from '../images/store.js';
import type { Image } from '../images/types.js';
import { readBlob, resolveImage } from '../images/manifest.js';
import { canceled, failedPrecondition, invalidArgument, isNotFound, wrap } from '../../lib/errdefs.js';
import { parseManifest, type Descriptor, type ImageManifest } from '../../lib/registry/manifest.js';
import { isIndexType, isManifestType } from '../../lib/registry/media-types.js';
import { formatReference, parseReference, repositoryName } from '../../lib/registry/reference.js';
import { parseDigest } from '../../lib/digest.js';
import type { Logger } from '../../lib/log.js';
import { blobPath } from './paths.js';
import {
  dockerManifestFile,
  dockerManifestJson,
  ociIndexFile,
  ociIndexJson,
  ociLayoutFile,
  ociLayoutJson,
  repositoriesFile,
  repositoriesJson,
  type SavedImage,
} from './formats.js';

export interface SaveProgress {
  written: number;
  total: number;
  blobsWritten: number;
  blobsTotal: number;
}

export interface SaveOptions {
  signal?: AbortSignal;
  onProgress?: (p: SaveProgress) => void;
}

/** Marks the leases of saves and loads: a daemon that starts again deletes those a crash left behind. */
export const archiveLeaseLabel = 'ctrd.io/archive';
export const archiveLeaseExpiryMs = 60 * 60 * 1000;
/** Every entry's time: the same images make the same archive. */
const epoch = new Date(0);
const maxIndexDepth = 4;

interface Plan {
  images: SavedImage[];
  /** Every blob once, in the order written. */
  blobs: Descriptor[];
}

export class Saver {
  constructor(
    private readonly content: ContentStore,
    private readonly images: ImageStore,
    private readonly manager: ImageManager,
    private readonly leases: LeaseStore,
    private readonly log: Logger,
  ) {}

  /** Resolves the images and their blobs, then returns the tar, which streams as it is read. */
  async save(ns: string, references: readonly string[], opts: SaveOptions = {}): Promise<Readable> {
    if (references.length === 0) throw invalidArgument('save needs at least one image');
    const roots = await this.select(ns, references);
    const plan = await this.plan(ns, roots);
    const lease = this.leases.create(ns, `save-${Date.now()}-${randomBytes(4).toString('hex')}`, {
      'containerd.io/gc.expire': new Date(Date.now() + archiveLeaseExpiryMs).toISOString(),
      [archiveLeaseLabel]: 'save',
    }).id;
    try {
      for (const b of plan.blobs) this.leases.addResource(ns, lease, { type: 'content', id: b.digest });
    } catch (err) {
      this.leases.delete(ns, lease);
      throw err;
    }
    const pack = tarPack();
    const started = Date.now();
    void this.write(ns, plan, pack, opts)
      .then(() => this.log.info({ ns, images: plan.images.length, blobs: plan.blobs.length, ms: Date.now() - started }, 'saved'))
      .catch((err: unknown) => {
        this.log.warn({ ns, err }, 'save failed');
        pack.destroy(err as Error);
      })
      .finally(() => this.leases.delete(ns, lease));
    return pack as unknown as Readable;
  }

  /** The images the references name, each root once with every name it was asked by. */
  private async select(ns: string, references: readonly string[]): Promise<Map<string, { image: Image; names: Set<string> }>> {
    const roots = new Map<string, { image: Image; names: Set<string> }>();
    const add = (image: Image, name: string | undefined) => {
      const r = roots.get(image.target.digest) ?? { image, names: new Set<string>() };
      roots.set(image.target.digest, r);
      if (name !== undefined) r.names.add(name);
    };
    for (const reference of references) {
      const repo = repositoryOnly(reference);
      if (repo !== undefined) {
        // docker save NAME: every tag of the repository.
        const tagged = this.images.list(ns, []).filter((img) => {
          const ref = tryParse(img.name);
          return ref !== undefined && repositoryName(ref) === repo && ref.tag !== undefined && ref.digest === undefined;
        });
        for (const img of tagged) add(img, img.name);
        if (tagged.length > 0) continue;
      }
      const found = await this.manager.lookup(ns, reference);
      const normalized = tryParse(reference);
      const byName = found.length === 1 && (found[0]!.image.name === reference || (normalized && found[0]!.image.name === formatReference(normalized)));
      if (byName) {
        add(found[0]!.image, found[0]!.image.name);
        continue;
      }
      // An ID names the image, not its names: docker writes no RepoTags for it.
      const targets = new Set(found.map((f) => f.summary.id || f.image.target.digest));
      if (targets.size > 1) throw failedPrecondition(`"${reference}" is ambiguous: it matches several images`);
      add(found[0]!.image, undefined);
    }
    return roots;
  }

  private async plan(ns: string, roots: Map<string, { image: Image; names: Set<string> }>): Promise<Plan> {
    const blobs = new Map<string, Descriptor>();
    const images: SavedImage[] = [];
    for (const { image, names } of roots.values()) {
      const t = image.target;
      const root: Descriptor = { mediaType: t.mediaType, digest: parseDigest(t.digest), size: t.size };
      try {
        const manifests = await this.walk(ns, root, blobs, 0);
        const chosen = await this.platformManifest(ns, root, manifests);
        images.push({ root, names: [...names], config: chosen.config, layers: chosen.layers });
      } catch (err) {
        throw wrap(err, `image ${image.name}`);
      }
    }
    return { images, blobs: [...blobs.values()] };
  }

  /**
   * Adds the blobs under a root and returns its complete manifests. An index's children that are not here
   * (a pull fetches one platform) are left out, as are manifests whose config or layers are missing.
   */
  private async walk(ns: string, desc: Descriptor, blobs: Map<string, Descriptor>, depth: number): Promise<ImageManifest[]> {
    if (depth > maxIndexDepth) throw invalidArgument(`index ${desc.digest} nests indexes too deep`);
    const fetched = parseManifest(desc, await readBlob(this.content, ns, desc, 'manifest'), desc.digest);
    if (fetched.kind === 'manifest') {
      const m = fetched.manifest;
      for (const d of [m.config, ...m.layers]) {
        const size = this.content.info(ns, d.digest).size;
        if (size !== d.size) throw failedPrecondition(`blob ${d.digest} has ${size} bytes, but manifest ${desc.digest} says ${d.size}`);
      }
      blobs.set(desc.digest, desc);
      for (const d of [m.config, ...m.layers]) blobs.set(d.digest, d);
      return [m];
    }
    blobs.set(desc.digest, desc);
    const manifests: ImageManifest[] = [];
    for (const child of fetched.index.manifests) {
      if (!isIndexType(child.mediaType) && !isManifestType(child.mediaType)) continue;
      const inner = new Map<string, Descriptor>();
      try {
        manifests.push(...(await this.walk(ns, child, inner, depth + 1)));
      } catch (err) {
        if (!isNotFound(err)) throw err;
        continue;
      }
      for (const [k, v] of inner) blobs.set(k, v);
    }
    return manifests;
  }

  /** The manifest docker's manifest.json describes: the daemon's platform's, else the first complete one. */
  private async platformManifest(ns: string, root: Descriptor, complete: ImageManifest[]): Promise<ImageManifest> {
    try {
      const r = await resolveImage(this.content, ns, root, this.manager.platform);
      if (complete.some((m) => m.config.digest === r.manifest.config.digest)) return r.manifest;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const first = complete[0];
    if (!first) throw failedPrecondition(`no manifest of ${root.digest} has all its blobs in the content store`);
    return first;
  }

  private async write(ns: string, plan: Plan, pack: Pack, opts: SaveOptions): Promise<void> {
    const progress: SaveProgress = {
      written: 0,
      total: plan.blobs.reduce((n, b) => n + b.size, 0),
      blobsWritten: 0,
      blobsTotal: plan.blobs.length,
    };
    opts.onProgress?.({ ...progress });
    await entry(pack, ociLayoutFile, ociLayoutJson());
    await directory(pack, 'blobs/');
    await directory(pack, 'blobs/sha256/');
    for (const blob of plan.blobs) {
      opts.signal?.throwIfAborted();
      let sink!: ReturnType<Pack['entry']>;
      const done = new Promise<void>((resolve, reject) => {
        const header = { name: blobPath(blob.digest), size: blob.size, mode: 0o644, mtime: epoch, uid: 0, gid: 0, type: 'file' as const };
        sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
      });
      done.catch(() => undefined); // awaited below, unless the reader went away first
      for await (const chunk of this.content.read(ns, blob.digest, 0, 0)) {
        progress.written += (chunk as Buffer).length;
        if (!sink.write(chunk as Buffer)) await drained(sink);
        // The reader went away (the tar was destroyed): nothing waits for the rest.
        if (sink.destroyed) throw canceled(`save: the archive's reader went away while writing ${blob.digest}`);
        opts.onProgress?.({ ...progress });
      }
      sink.end(undefined);
      await done;
      progress.blobsWritten++;
      opts.onProgress?.({ ...progress });
    }
    await entry(pack, ociIndexFile, ociIndexJson(plan.images));
    await entry(pack, dockerManifestFile, dockerManifestJson(plan.images));
    await entry(pack, repositoriesFile, repositoriesJson(plan.images));
    pack.finalize();
  }
}

/** Resolves when the entry's stream can take more, or is gone. */
function drained(sink: ReturnType<Pack['entry']>): Promise<void> {
  return new Promise((resolve) => {
    const go = () => {
      sink.off('drain', go);
      sink.off('close', go);
      resolve();
    };
    sink.on('drain', go);
    sink.on('close', go);
  });
}

function entry(pack: Pack, name: string, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry({ name, size: data.length, mode: 0o644, mtime: epoch, uid: 0, gid: 0 }, data, (err) => (err ? reject(err) : resolve()));
  });
}

function directory(pack: Pack, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry({ name, type: 'directory', mode: 0o755, mtime: epoch, uid: 0, gid: 0 }, (err) => (err ? reject(err) : resolve()));
  });
}

function tryParse(name: string) {
  try {
    return parseReference(name);
  } catch {
    return undefined;
  }
}

/** The repository a reference names when it has neither tag nor digest ("busybox"), else undefined. */
function repositoryOnly(reference: string): string | undefined {
  if (reference.includes('@') || reference.lastIndexOf(':') > reference.lastIndexOf('/')) return undefined;
  const ref = tryParse(reference);
  return ref ? repositoryName(ref) : undefined;
}
