// docker load inside the daemon. The tar is read once, as it arrives: each file goes into the content store
// under a lease (a blob named by its digest, as an OCI layout's are, is verified against that digest as it is
// written; any other file is stored by the digest of its bytes and checked against what names it later). Then
// the archive's index.json (OCI) or manifest.json (Docker) says what the images are; a Docker archive's images
// get a manifest made for them. Each image is unpacked into the snapshotter with the shared Unpacker, and only
// then named. A load that fails anywhere deletes its lease and ingests and collects: nothing is left.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { extract, type Header } from 'tar-stream';
import type { ContentStore } from '../content/store.js';
import type { LeaseStore } from '../leases/store.js';
import type { SnapshotStore } from '../snapshots/store.js';
import type { GarbageCollector } from '../metadata/gc.js';
import type { ImageStore } from '../images/store.js';
import { recordImage } from '../images/record.js';
import type { ImageEvents } from '../images/manager.js';
import { chainIds, parseConfig, readBlob, resolveImage, type ImageConfig } from '../images/manifest.js';
import { unpackLayers, type Unpacker, type UnpackState } from '../images/unpack.js';
import { decompressor, detectCompression, peek } from '../diff/compression.js';
import type { Compression } from '../diff/types.js';
import { failedPrecondition, invalidArgument, isAlreadyExists, isNotFound, wrap } from '../../lib/errdefs.js';
import { parseDigest, sha256, type Digest } from '../../lib/digest.js';
import { maxManifestSize, parseManifest, type Descriptor, type ImageManifest } from '../../lib/registry/manifest.js';
import { isIndexType, isManifestType, mediaTypes } from '../../lib/registry/media-types.js';
import type { PlatformMatcher } from '../../lib/registry/platform.js';
import type { Logger } from '../../lib/log.js';
import { blobPathDigest, entryPath, linkTarget } from './paths.js';
import {
  checkOciLayout,
  dockerLayerTar,
  dockerManifestFile,
  maxMetadataSize,
  metadataFiles,
  ociEntryName,
  ociIndexFile,
  ociLayoutFile,
  parseDockerManifest,
} from './formats.js';
import { archiveLeaseExpiryMs, archiveLeaseLabel } from './save.js';

export type LayerState = 'waiting' | 'exists' | 'unpacking' | 'unpacked' | 'failed';

export interface LayerProgress {
  descriptor: Descriptor;
  state: LayerState;
}

export interface LoadProgress {
  received: number;
  entry: string;
  entryOffset: number;
  entrySize: number;
  layers: LayerProgress[];
}

export interface LoadOptions {
  snapshotter?: string;
  signal?: AbortSignal;
  /** Called as bytes arrive and on every change of a layer's state; the caller throttles what it forwards. */
  onProgress?: (p: LoadProgress) => void;
}

export interface LoadedImage {
  /** The record's name; '' for an image the archive does not name. */
  name: string;
  /** The config digest of the daemon's platform's manifest ('' when the image has none for it). */
  id: string;
  target: Descriptor;
}

export interface LoaderOptions {
  defaultSnapshotter: string;
  platform: PlatformMatcher;
}

/** The record name of an image loaded without a name: no reference parses it, so it lists as <none>. */
export const unnamedImage = (digest: string) => `<none>@${digest}`;

interface StoredFile {
  digest: Digest;
  size: number;
}

/** What the tar held: files stored as blobs, links between paths, and the format's own JSON files. */
class ArchiveFiles {
  readonly files = new Map<string, StoredFile>();
  readonly links = new Map<string, string>();
  readonly metadata = new Map<string, Buffer>();
  readonly digests = new Map<string, StoredFile>();

  resolve(path: string): StoredFile | undefined {
    let p = entryPath(path);
    for (let hops = 0; hops < 16; hops++) {
      const f = this.files.get(p);
      if (f) return f;
      const next = this.links.get(p);
      if (next === undefined) return undefined;
      p = next;
    }
    throw invalidArgument(`archive path "${path}": too many links`);
  }
}

interface Root {
  root: Descriptor;
  names: string[];
}

/** A tar entry's data, as tar-stream hands it out. */
type EntryBody = AsyncIterable<Buffer> & { resume(): unknown };

const legacyFile = /^[a-f0-9]{64}\/(json|VERSION)$/;

export class Loader {
  constructor(
    private readonly content: ContentStore,
    private readonly images: ImageStore,
    private readonly leases: LeaseStore,
    private readonly snapshots: SnapshotStore,
    private readonly unpacker: Unpacker,
    private readonly gc: GarbageCollector,
    private readonly events: ImageEvents,
    private readonly log: Logger,
    private readonly opts: LoaderOptions,
  ) {}

  async load(ns: string, source: AsyncIterable<Uint8Array>, opts: LoadOptions = {}): Promise<LoadedImage[]> {
    const snapshotter = opts.snapshotter || this.opts.defaultSnapshotter;
    this.snapshots.snapshotter(snapshotter); // an unknown snapshotter fails before anything is read
    const lease = this.leases.create(ns, `load-${Date.now()}-${randomBytes(4).toString('hex')}`, {
      'containerd.io/gc.expire': new Date(Date.now() + archiveLeaseExpiryMs).toISOString(),
      [archiveLeaseLabel]: 'load',
    }).id;
    const ingests: string[] = [];
    const progress: LoadProgress = { received: 0, entry: '', entryOffset: 0, entrySize: 0, layers: [] };
    const report = () => opts.onProgress?.(progress);
    const started = Date.now();
    try {
      const files = await this.read(ns, lease, source, ingests, progress, report, opts.signal);
      const roots = files.metadata.has(ociIndexFile) ? await this.ociRoots(ns, files) : await this.dockerRoots(ns, lease, files);
      if (roots.length === 0) throw invalidArgument('the archive holds no image');
      const ids = await this.unpack(ns, lease, snapshotter, roots, progress, report, opts.signal);
      const loaded = this.record(ns, roots, ids);
      this.leases.delete(ns, lease);
      // A name moved to the loaded image may leave the image it had unreferenced.
      this.gc.dirty();
      this.log.info({ ns, images: loaded.length, bytes: progress.received, ms: Date.now() - started }, 'loaded');
      return loaded;
    } catch (err) {
      this.log.warn({ ns, err, ms: Date.now() - started }, 'load failed');
      for (const ref of ingests) {
        await this.content.abort(ns, ref).catch((e: unknown) => {
          if (!isNotFound(e)) this.log.warn({ ns, ref, err: e }, 'aborting an ingest of a failed load');
        });
      }
      this.leases.delete(ns, lease);
      // What the failed load stored is garbage now; it goes before the client hears of the failure.
      await this.gc.collect().catch((e: unknown) => this.log.warn({ ns, err: e }, 'collecting after a failed load'));
      throw err;
    }
  }

  // ---- reading the tar ----

  private async read(
    ns: string,
    lease: string,
    source: AsyncIterable<Uint8Array>,
    ingests: string[],
    progress: LoadProgress,
    report: () => void,
    signal: AbortSignal | undefined,
  ): Promise<ArchiveFiles> {
    const counted = Readable.from(
      (async function* () {
        for await (const chunk of source) {
          progress.received += chunk.length;
          yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
        }
      })(),
      { objectMode: false },
    );
    const { head, stream } = await peek(counted, 4);
    if (head.length === 0) throw invalidArgument('the archive is empty');
    const compression: Compression = detectCompression(head);
    const plain = decompressor(compression);
    const tar = extract();
    const input = plain ? stream.pipe(plain) : stream;
    const fail = (err: Error) => tar.destroy(err);
    stream.once('error', fail);
    plain?.once('error', (err) => fail(invalidArgument(`the archive is not a valid ${compression} stream: ${err.message}`)));
    input.pipe(tar as unknown as NodeJS.WritableStream);

    const files = new ArchiveFiles();
    const seen = new Set<string>();
    let current = '';
    try {
      for await (const e of tar) {
        signal?.throwIfAborted();
        const header = e.header;
        const path = entryPath(header.name);
        current = path;
        if (seen.has(path) && header.type !== 'directory') throw invalidArgument(`archive entry "${path}" appears twice`);
        seen.add(path);
        progress.entry = path;
        progress.entryOffset = 0;
        progress.entrySize = header.size ?? 0;
        report();
        await this.entry(ns, lease, files, path, header, e as unknown as EntryBody, ingests, progress, report);
        progress.entry = '';
        current = '';
      }
    } catch (err) {
      stream.destroy();
      throw tarError(err, current);
    }
    progress.entry = '';
    report();
    return files;
  }

  private async entry(
    ns: string,
    lease: string,
    files: ArchiveFiles,
    path: string,
    header: Header,
    body: EntryBody,
    ingests: string[],
    progress: LoadProgress,
    report: () => void,
  ): Promise<void> {
    switch (header.type) {
      case 'directory':
        body.resume();
        return;
      case 'symlink':
      case 'link':
        files.links.set(path, linkTarget(path, header.linkname ?? '', header.type));
        body.resume();
        return;
      case 'file':
      case 'contiguous-file':
        break;
      default:
        throw invalidArgument(`archive entry "${path}": a ${header.type ?? 'special file'} has no place in an image archive`);
    }
    if (metadataFiles.has(path)) {
      if ((header.size ?? 0) > maxMetadataSize) throw invalidArgument(`archive entry "${path}" is larger than ${maxMetadataSize} bytes`);
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk);
      files.metadata.set(path, Buffer.concat(chunks));
      return;
    }
    if (legacyFile.test(path)) {
      // Docker's v1 metadata beside each layer: manifest.json says all a loader needs.
      for await (const _ of body);
      return;
    }
    let expected: Digest | undefined;
    const named = blobPathDigest(path);
    if (named !== undefined) {
      try {
        expected = parseDigest(named);
      } catch (err) {
        throw wrap(err, `archive entry "${path}"`);
      }
    }
    const stored = await this.store(ns, lease, path, header.size ?? 0, expected, body, ingests, progress, report);
    files.files.set(path, stored);
    files.digests.set(stored.digest, stored);
  }

  /** Writes one file into the content store; a blob named by its digest must have that digest. */
  private async store(
    ns: string,
    lease: string,
    path: string,
    size: number,
    expected: Digest | undefined,
    body: AsyncIterable<Buffer>,
    ingests: string[],
    progress: LoadProgress,
    report: () => void,
  ): Promise<StoredFile> {
    const mismatch = (got: string) =>
      failedPrecondition(`archive entry "${path}": its content has digest ${got}, but its name says ${expected}`);
    const ref = `${lease}-${ingests.length}`;
    let writer;
    try {
      writer = await this.content.writer(ns, ref, { total: size, expected: expected ?? '', lease });
    } catch (err) {
      if (!isAlreadyExists(err) || expected === undefined) throw err;
      // The blob is here already (and now held by the lease); the archive's copy must still be what it says.
      const hash = createHash('sha256');
      for await (const chunk of body) {
        hash.update(chunk);
        progress.entryOffset += chunk.length;
        report();
      }
      const got = `sha256:${hash.digest('hex')}`;
      if (got !== expected) throw mismatch(got);
      return { digest: expected, size };
    }
    ingests.push(ref);
    try {
      let offset = 0;
      for await (const chunk of body) {
        await writer.write(offset, chunk);
        offset += chunk.length;
        progress.entryOffset = offset;
        report();
      }
      const digest = parseDigest(writer.status().digest);
      if (expected !== undefined && digest !== expected) throw mismatch(digest);
      try {
        await writer.commit(offset, expected ?? '', {});
      } catch (err) {
        if (!isAlreadyExists(err)) throw wrap(err, `archive entry "${path}"`);
        this.leases.addResource(ns, lease, { type: 'content', id: digest });
      }
      return { digest, size: offset };
    } finally {
      await writer.close();
    }
  }

  // ---- what the images are ----

  /** The images of an OCI layout: index.json's entries, each tree checked blob by blob and labelled for GC. */
  private async ociRoots(ns: string, files: ArchiveFiles): Promise<Root[]> {
    const layout = files.metadata.get(ociLayoutFile);
    if (layout) checkOciLayout(layout);
    const bytes = files.metadata.get(ociIndexFile)!;
    const fetched = parseManifest({ mediaType: mediaTypes.ociIndex, digest: sha256(bytes), size: bytes.length }, bytes, ociIndexFile);
    if (fetched.kind !== 'index') throw invalidArgument(`${ociIndexFile} of the archive is not an image index`);
    // Docker 25's archives name images in both files; a nameless index.json entry takes manifest.json's tags.
    const dockerTags = new Map<string, string[]>();
    const dockerBytes = files.metadata.get(dockerManifestFile);
    if (dockerBytes) {
      for (const e of parseDockerManifest(dockerBytes)) {
        const config = files.resolve(e.config);
        if (config) dockerTags.set(config.digest, [...(dockerTags.get(config.digest) ?? []), ...e.repoTags]);
      }
    }
    const roots = new Map<string, Root>();
    for (const [i, d] of fetched.index.manifests.entries()) {
      const where = `${ociIndexFile} manifests[${i}]`;
      if (!isIndexType(d.mediaType) && !isManifestType(d.mediaType)) {
        throw invalidArgument(`${where}: media type "${d.mediaType}" is not an image manifest or index`);
      }
      const name = ociEntryName(d, where);
      let root = roots.get(d.digest);
      if (!root) {
        const configs = await this.checkTree(ns, files, { mediaType: d.mediaType, digest: d.digest, size: d.size }, true, 0);
        root = { root: { mediaType: d.mediaType, digest: d.digest, size: d.size }, names: [] };
        roots.set(d.digest, root);
        if (name === undefined) for (const c of configs) for (const t of dockerTags.get(c) ?? []) addName(root, t);
      }
      if (name !== undefined) addName(root, name);
    }
    return [...roots.values()];
  }

  /**
   * Checks that a blob is in the archive with the size its descriptor says, and, for a manifest or index, its
   * children; labels each with the GC references to its children. An index may lack children (an archive of
   * one platform of a multi-platform image), not all of them. Returns the config digests found.
   */
  private async checkTree(ns: string, files: ArchiveFiles, desc: Descriptor, required: boolean, depth: number): Promise<string[]> {
    if (depth > 4) throw invalidArgument(`index ${desc.digest} nests indexes too deep`);
    if (!this.inArchive(files, desc, required ? 'the image' : '')) return [];
    const fetched = parseManifest(desc, await readBlob(this.content, ns, desc, 'manifest'), desc.digest);
    const labels: Record<string, string> = {};
    const configs: string[] = [];
    if (fetched.kind === 'index') {
      const children = fetched.index.manifests.filter((m) => isIndexType(m.mediaType) || isManifestType(m.mediaType));
      for (const [i, child] of children.entries()) {
        labels[`containerd.io/gc.ref.content.m.${i}`] = child.digest;
        configs.push(...(await this.checkTree(ns, files, child, false, depth + 1)));
      }
      if (children.length > 0 && configs.length === 0) {
        throw failedPrecondition(`index ${desc.digest}: none of its manifests is in the archive`);
      }
    } else {
      const m = fetched.manifest;
      this.inArchive(files, m.config, `the config of manifest ${desc.digest}`);
      parseConfig(await readBlob(this.content, ns, m.config, 'config'), m.config, m.layers.length);
      labels['containerd.io/gc.ref.content.config'] = m.config.digest;
      m.layers.forEach((l, i) => {
        this.inArchive(files, l, `layer ${i} of manifest ${desc.digest}`);
        labels[`containerd.io/gc.ref.content.l.${i}`] = l.digest;
      });
      configs.push(m.config.digest);
    }
    this.content.update(ns, desc.digest, labels, Object.keys(labels).map((k) => `labels.${k}`));
    return configs;
  }

  /** Whether the blob came in the archive, with the right size; `what` set means it must have. */
  private inArchive(files: ArchiveFiles, desc: Descriptor, what: string): boolean {
    const f = files.digests.get(desc.digest);
    if (!f) {
      if (what) throw failedPrecondition(`blob ${desc.digest} (${what}) is not in the archive`);
      return false;
    }
    if (f.size !== desc.size) {
      throw failedPrecondition(`blob ${desc.digest} has ${f.size} bytes in the archive, but its descriptor says ${desc.size}`);
    }
    return true;
  }

  /** The images of a Docker archive: manifest.json's entries, each given a manifest of its config and layers. */
  private async dockerRoots(ns: string, lease: string, files: ArchiveFiles): Promise<Root[]> {
    const bytes = files.metadata.get(dockerManifestFile);
    if (!bytes) {
      throw invalidArgument(`the archive has neither ${ociIndexFile} nor ${dockerManifestFile}: not an OCI layout or a Docker archive of docker 1.10 or later`);
    }
    const roots: Root[] = [];
    for (const [i, e] of parseDockerManifest(bytes).entries()) {
      const where = `${dockerManifestFile}[${i}]`;
      const configFile = files.resolve(e.config);
      if (!configFile) throw failedPrecondition(`${where}: config "${e.config}" is not in the archive`);
      if (configFile.size > maxManifestSize) throw invalidArgument(`${where}: config "${e.config}" is larger than ${maxManifestSize} bytes`);
      const configDesc: Descriptor = { mediaType: mediaTypes.dockerConfig, digest: configFile.digest, size: configFile.size };
      const config: ImageConfig = parseConfig(await this.content.readAll(ns, configFile.digest), configDesc, e.layers.length);
      const layers: Array<{ digest: Digest; size: number; compression: Compression }> = [];
      for (const [j, p] of e.layers.entries()) {
        const f = files.resolve(p);
        if (!f) throw failedPrecondition(`${where}: layer "${p}" is not in the archive`);
        const compression = await this.compressionOf(ns, f.digest);
        // An uncompressed layer is its own diff ID; a compressed one is checked as it is unpacked.
        const diffId = config.rootfs.diff_ids[j];
        if (compression === 'none' && f.digest !== diffId) {
          throw failedPrecondition(`${where}: layer "${p}" has digest ${f.digest}, but the config ${configFile.digest} says its diff ID is ${diffId}`);
        }
        layers.push({ ...f, compression });
      }
      // Docker schema 2 as docker and containerd make it for an archive; OCI types where Docker has none (zstd).
      const oci = layers.some((l) => l.compression === 'zstd');
      const layerType = (c: Compression) =>
        oci ? { none: mediaTypes.ociLayer, gzip: mediaTypes.ociLayerGzip, zstd: mediaTypes.ociLayerZstd }[c] : c === 'gzip' ? mediaTypes.dockerLayerGzip : dockerLayerTar;
      const manifest: ImageManifest = {
        schemaVersion: 2,
        mediaType: oci ? mediaTypes.ociManifest : mediaTypes.dockerManifest,
        config: { ...configDesc, mediaType: oci ? mediaTypes.ociConfig : mediaTypes.dockerConfig },
        layers: layers.map((l) => ({ mediaType: layerType(l.compression), digest: l.digest, size: l.size })),
      };
      const manifestBytes = Buffer.from(JSON.stringify(manifest));
      const root: Descriptor = { mediaType: manifest.mediaType!, digest: sha256(manifestBytes), size: manifestBytes.length };
      const labels: Record<string, string> = { 'containerd.io/gc.ref.content.config': configFile.digest };
      layers.forEach((l, j) => (labels[`containerd.io/gc.ref.content.l.${j}`] = l.digest));
      try {
        await this.content.writeBlob(ns, `${lease}-manifest-${i}`, manifestBytes, { expected: root.digest, labels, lease });
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        this.content.update(ns, root.digest, labels, Object.keys(labels).map((k) => `labels.${k}`));
      }
      const existing = roots.find((r) => r.root.digest === root.digest);
      const target = existing ?? { root, names: [] };
      if (!existing) roots.push(target);
      for (const t of e.repoTags) addName(target, t);
    }
    return roots;
  }

  private async compressionOf(ns: string, digest: Digest): Promise<Compression> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.content.read(ns, digest, 0, 4)) chunks.push(chunk as Buffer);
    return detectCompression(Buffer.concat(chunks));
  }

  // ---- unpacking and naming ----

  /** Unpacks each image's manifest for the daemon's platform; returns the image IDs (config digests). */
  private async unpack(
    ns: string,
    lease: string,
    snapshotter: string,
    roots: readonly Root[],
    progress: LoadProgress,
    report: () => void,
    signal: AbortSignal | undefined,
  ): Promise<Map<string, string>> {
    const ids = new Map<string, string>();
    const plans = [];
    for (const r of roots) {
      let resolved;
      try {
        resolved = await resolveImage(this.content, ns, r.root, this.opts.platform);
      } catch (err) {
        // An image of another platform only is loaded, as docker does, but there is nothing to unpack here.
        if (!isNotFound(err)) throw err;
        this.log.info({ ns, target: r.root.digest, err }, 'loaded image has no manifest for this platform: not unpacked');
        continue;
      }
      ids.set(r.root.digest, resolved.manifest.config.digest);
      const steps = unpackLayers(resolved.manifest.layers, resolved.config.rootfs.diff_ids, chainIds(resolved.config.rootfs.diff_ids));
      plans.push({ config: resolved.manifest.config.digest, steps });
    }
    const layers = new Map<string, LayerProgress>();
    for (const p of plans) {
      for (const s of p.steps) {
        if (!layers.has(s.chainId)) layers.set(s.chainId, { descriptor: s.layer, state: 'waiting' });
      }
    }
    progress.layers = [...layers.values()];
    report();
    const states: Record<UnpackState, LayerState> = { exists: 'exists', extracting: 'unpacking', extracted: 'unpacked', failed: 'failed' };
    for (const p of plans) {
      for (const s of p.steps) {
        const l = layers.get(s.chainId)!;
        try {
          await this.unpacker.layer(ns, lease, snapshotter, s, (state) => {
            if (!(l.state === 'unpacked' && state === 'exists')) l.state = states[state];
            report();
          }, signal);
        } catch (err) {
          throw wrap(err, `unpacking layer ${s.layer.digest}`);
        }
      }
      const top = p.steps[p.steps.length - 1];
      if (top) this.unpacker.labelConfig(ns, p.config, snapshotter, top.chainId);
    }
    return ids;
  }

  /** Names each image (a name another image had moves, as docker load does); a nameless one gets a record of its own. */
  private record(ns: string, roots: readonly Root[], ids: Map<string, string>): LoadedImage[] {
    const loaded: LoadedImage[] = [];
    for (const r of roots) {
      const target = { ...r.root, annotations: {} };
      const id = ids.get(r.root.digest) ?? '';
      let names = r.names;
      if (names.length === 0) {
        // A nameless image that some record already holds needs no record of its own.
        const held = this.images.list(ns, []).some((img) => img.target.digest === r.root.digest);
        names = held ? [] : [unnamedImage(r.root.digest)];
        loaded.push({ name: '', id, target: r.root });
      }
      for (const name of names) {
        recordImage(this.images, this.events, ns, name, target);
        if (r.names.length > 0) loaded.push({ name, id, target: r.root });
      }
    }
    return loaded;
  }

}

function addName(root: Root, name: string): void {
  if (!root.names.includes(name)) root.names.push(name);
}

/** tar-stream's errors in words a person can act on, naming the entry; our own errors pass as they are. */
function tarError(err: unknown, entry: string): unknown {
  if (!(err instanceof Error) || 'kind' in err) return err;
  const where = entry ? ` inside entry "${entry}"` : '';
  if (/Unexpected end of data/.test(err.message)) return invalidArgument(`the archive is truncated: the tar ends${where}`);
  if (/Invalid tar header|Header exceeds|Invalid header/.test(err.message)) {
    return invalidArgument(`the archive is not a valid tar${entry ? ` after entry "${entry}"` : ''}: ${err.message}`);
  }
  return err;
}
