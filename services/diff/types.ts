// Domain types of the diff service: layers (changesets as tar, maybe compressed) applied onto mounts, and
// computed from two mount sets. Differ is the interface every differ implements (ctrd has the walking one).
import { notImplemented } from '../../lib/errdefs.js';
import type { Labels } from '../../lib/labels.js';

/** A mount as containerd describes it (snapshotters return these): `mount -t type source <dir> -o options`. */
export interface Mount {
  readonly type: string;
  readonly source: string;
  readonly options: readonly string[];
}

export interface Descriptor {
  mediaType: string;
  /** "sha256:<hex>"; one from a request is checked with parseDigest before use. */
  digest: string;
  size: number;
}

export const mediaTypes = {
  layer: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  layerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  layerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  layerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerZstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export type Compression = 'none' | 'gzip' | 'zstd';

const compressionOf: Readonly<Record<string, Compression>> = {
  [mediaTypes.layer]: 'none',
  [mediaTypes.layerGzip]: 'gzip',
  [mediaTypes.layerZstd]: 'zstd',
  [mediaTypes.layerNondistributable]: 'none',
  [mediaTypes.layerNondistributableGzip]: 'gzip',
  [mediaTypes.layerNondistributableZstd]: 'zstd',
  [mediaTypes.dockerLayer]: 'none',
  [mediaTypes.dockerLayerGzip]: 'gzip',
  [mediaTypes.dockerLayerZstd]: 'zstd',
  [mediaTypes.dockerForeignLayer]: 'none',
  [mediaTypes.dockerForeignLayerGzip]: 'gzip',
};

/** How a layer of this media type is compressed; NotImplemented for anything that is not a known layer. */
export function layerCompression(mediaType: string): Compression {
  const c = compressionOf[mediaType];
  if (c === undefined) throw notImplemented(`unsupported diff media type: "${mediaType}"`);
  return c;
}

/** The label a Diff result carries: the digest of its uncompressed tar (the image config's diff_id). */
export const uncompressedLabel = 'containerd.io/uncompressed';

export interface ApplyOptions {
  readonly signal?: AbortSignal;
}

export interface DiffOptions {
  /** The media type of the layer to produce; a gzipped OCI layer when absent. */
  readonly mediaType?: string;
  /** The content store ingest ref to write through; generated when absent. */
  readonly ref?: string;
  readonly labels?: Labels;
  /** The lease the new blob is written under. */
  readonly lease?: string;
  readonly signal?: AbortSignal;
}

export interface Differ {
  /**
   * Applies the layer blob desc (from the content store of ns) onto mounts, and returns the descriptor of the
   * uncompressed tar that was applied: its digest is the layer's diff ID.
   */
  apply(ns: string, desc: Descriptor, mounts: readonly Mount[], opts?: ApplyOptions): Promise<Descriptor>;
  /** Computes the changes from lower to upper as a layer, writes it into the content store of ns. */
  diff(ns: string, lower: readonly Mount[], upper: readonly Mount[], opts?: DiffOptions): Promise<Descriptor>;
}
