// Making an image from layers already in the content store and a config, as commit and import end: the
// config and manifest blobs (with the gc.ref labels that keep what they point at), every layer unpacked into
// the snapshotter with the shared Unpacker (layers already unpacked are found by their chain ID), the config
// labelled with the top snapshot, and the image record, with the image events the puller publishes. All of
// it under a lease that the caller's work shares: a failure anywhere leaves only garbage for the collector.
import { createHash, randomBytes } from 'node:crypto';
import type { ContentStore } from '../content/store.js';
import type { LeaseStore } from '../leases/store.js';
import type { GarbageCollector } from '../metadata/gc.js';
import type { ImageEvents } from '../images/manager.js';
import { recordImage } from '../images/record.js';
import type { ImageStore } from '../images/store.js';
import type { Image } from '../images/types.js';
import { chainIds, type ImageConfig } from '../images/manifest.js';
import { unpackLayers, type Unpacker } from '../images/unpack.js';
import { mediaTypes } from '../../lib/registry/media-types.js';
import { plainDescriptor, type Descriptor } from '../../lib/registry/manifest.js';
import { formatReference, parseReference } from '../../lib/registry/reference.js';
import { invalidArgument, isAlreadyExists } from '../../lib/errdefs.js';
import type { Digest } from '../../lib/digest.js';
import type { Logger } from '../../lib/log.js';

/** Marks the leases of commits and imports (they expire by themselves should the daemon die meanwhile). */
export const newImageLeaseLabel = 'ctrd.io/new-image';
const leaseExpiryMs = 60 * 60 * 1000;

export type ManifestFlavour = 'oci' | 'docker';

export interface NewImageRequest {
  /** A reference as the person typed it, or '' for an untagged image. */
  reference: string;
  snapshotter: string;
  config: ImageConfig & Record<string, unknown>;
  /** Every layer, bottom first, one per config diff ID; all in the content store. */
  layers: Descriptor[];
  flavour: ManifestFlavour;
  /** More references the image is recorded under (a build's further -t). */
  moreReferences?: readonly string[];
  /** Labels on the config blob beside the ones made here: a build's gc.ref labels to what only it keeps. */
  configLabels?: Record<string, string>;
  signal?: AbortSignal;
}

export interface NewImageResult {
  image: Image;
  configDigest: Digest;
}

/** The image record's name for a reference; '' is untagged: "<none>@<manifest digest>", as no reference parses. */
export function imageName(reference: string): string {
  if (reference === '') return '';
  const ref = parseReference(reference);
  if (ref.digest) throw invalidArgument(`refusing to create a tag with a digest reference: ${reference}`);
  return formatReference(ref);
}

export const layerMediaType = (flavour: ManifestFlavour) => (flavour === 'docker' ? mediaTypes.dockerLayerGzip : mediaTypes.ociLayerGzip);

export class ImageMaker {
  constructor(
    private readonly content: ContentStore,
    private readonly images: ImageStore,
    private readonly leases: LeaseStore,
    private readonly unpacker: Unpacker,
    private readonly gc: GarbageCollector,
    private readonly events: ImageEvents,
    private readonly log: Logger,
  ) {
    // The leases of commits and imports that died with the last daemon: what they held is garbage now.
    for (const l of leases.deleteLabelled(newImageLeaseLabel)) log.info({ ns: l.ns, lease: l.id }, 'removed the lease of an interrupted commit or import');
  }

  /** Runs fn under a new lease, removed after; a failure has what it made collected soon. */
  async withLease<T>(ns: string, what: string, fn: (lease: string) => Promise<T>): Promise<T> {
    const lease = this.leases.create(ns, `${what}-${Date.now()}-${randomBytes(4).toString('hex')}`, {
      'containerd.io/gc.expire': new Date(Date.now() + leaseExpiryMs).toISOString(),
      [newImageLeaseLabel]: what,
    }).id;
    try {
      const result = await fn(lease);
      this.leases.delete(ns, lease);
      this.gc.dirty();
      return result;
    } catch (err) {
      this.leases.delete(ns, lease);
      this.gc.schedule();
      throw err;
    }
  }

  /** Config, manifest, unpack, record: see the top of this file. */
  async make(ns: string, lease: string, req: NewImageRequest): Promise<NewImageResult> {
    const name = imageName(req.reference);
    const more = (req.moreReferences ?? []).map(imageName);
    const docker = req.flavour === 'docker';
    const diffIds = req.config.rootfs.diff_ids;
    if (diffIds.length !== req.layers.length) throw invalidArgument(`${diffIds.length} diff IDs for ${req.layers.length} layers`);
    for (const l of req.layers) this.leases.addResource(ns, lease, { type: 'content', id: l.digest });

    const configBytes = Buffer.from(JSON.stringify(req.config));
    const configDesc: Descriptor = { mediaType: docker ? mediaTypes.dockerConfig : mediaTypes.ociConfig, digest: sha256(configBytes), size: configBytes.length };
    await this.put(ns, lease, 'config', configDesc, configBytes, req.configLabels ?? {});

    const manifest = {
      schemaVersion: 2,
      mediaType: docker ? mediaTypes.dockerManifest : mediaTypes.ociManifest,
      config: configDesc,
      layers: req.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const manifestDesc: Descriptor = { mediaType: manifest.mediaType, digest: sha256(manifestBytes), size: manifestBytes.length };
    const labels: Record<string, string> = { 'containerd.io/gc.ref.content.config': configDesc.digest };
    req.layers.forEach((l, i) => (labels[`containerd.io/gc.ref.content.l.${i}`] = l.digest));
    await this.put(ns, lease, 'manifest', manifestDesc, manifestBytes, labels);

    const chain = chainIds(diffIds);
    await this.unpacker.all(ns, lease, req.snapshotter, unpackLayers(req.layers, diffIds, chain), req.signal);
    if (chain.length > 0) this.unpacker.labelConfig(ns, configDesc.digest, req.snapshotter, chain[chain.length - 1]!);

    const image = recordImage(this.images, this.events, ns, name || `<none>@${manifestDesc.digest}`, plainDescriptor(manifestDesc));
    for (const other of more) if (other !== name) recordImage(this.images, this.events, ns, other, plainDescriptor(manifestDesc));
    this.log.info({ ns, image: image.name, id: configDesc.digest }, 'image made');
    return { image, configDigest: configDesc.digest };
  }

  private async put(ns: string, lease: string, kind: string, desc: Descriptor, bytes: Buffer, labels: Record<string, string>): Promise<void> {
    try {
      await this.content.writeBlob(ns, `${kind}-${desc.digest}`, bytes, { expected: desc.digest, labels, lease });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      if (Object.keys(labels).length > 0) this.content.update(ns, desc.digest, labels, Object.keys(labels).map((k) => `labels.${k}`));
    }
  }

}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;
