// The two formats of an image archive, as JSON in and out. The Docker archive: manifest.json, a list of
// {Config, RepoTags, Layers} naming files of the tar, and the legacy `repositories` ({repo: {tag: id}}). The
// OCI image layout: oci-layout and index.json, whose entries name the image through annotations. What is read
// comes from outside and is checked field by field; names are normalised the way `docker` reads them.
import { invalidArgument } from '../../lib/errdefs.js';
import type { Descriptor } from '../../lib/registry/manifest.js';
import { mediaTypes } from '../../lib/registry/media-types.js';
import { familiarString, formatReference, parseReference } from '../../lib/registry/reference.js';

export const ociLayoutFile = 'oci-layout';
export const ociIndexFile = 'index.json';
export const dockerManifestFile = 'manifest.json';
export const repositoriesFile = 'repositories';
/** The archive's own JSON files, read whole; a larger one is refused. */
export const metadataFiles = new Set([ociLayoutFile, ociIndexFile, dockerManifestFile, repositoriesFile]);
export const maxMetadataSize = 4 << 20;

/** containerd's and docker's annotation for the full image name of an index.json entry. */
export const imageNameAnnotation = 'io.containerd.image.name';
/** OCI's: the tag (docker and containerd write the tag; skopeo writes what it was given, e.g. "test/app:v1"). */
export const refNameAnnotation = 'org.opencontainers.image.ref.name';

/** Docker schema 2's uncompressed layer, which lib/registry does not need. */
export const dockerLayerTar = 'application/vnd.docker.image.rootfs.diff.tar';

export interface DockerManifestEntry {
  config: string;
  /** Normalised names ("docker.io/library/busybox:latest"). */
  repoTags: string[];
  layers: string[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseJson(bytes: Buffer, file: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw invalidArgument(`${file} in the archive is not valid JSON: ${(err as Error).message}`);
  }
}

/** A name from an archive, normalised; it must carry a tag (RepoTags) or a tag or digest (annotations). */
function archiveName(name: string, where: string, digestAllowed: boolean): string {
  let ref;
  try {
    ref = parseReference(name);
  } catch (err) {
    throw invalidArgument(`${where}: ${(err as Error).message}`);
  }
  if (!digestAllowed && ref.digest) throw invalidArgument(`${where}: "${name}" is not a tag`);
  return formatReference(ref);
}

export function parseDockerManifest(bytes: Buffer): DockerManifestEntry[] {
  const json = parseJson(bytes, dockerManifestFile);
  if (!Array.isArray(json)) throw invalidArgument(`${dockerManifestFile} in the archive is not a list of images`);
  return json.map((e: unknown, i) => {
    const where = `${dockerManifestFile}[${i}]`;
    if (!isObject(e)) throw invalidArgument(`${where}: not an object`);
    if (typeof e.Config !== 'string' || e.Config === '') throw invalidArgument(`${where}: no Config file`);
    const tags = e.RepoTags ?? [];
    if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string')) throw invalidArgument(`${where}: RepoTags must be a list of names`);
    const layers = e.Layers ?? [];
    if (!Array.isArray(layers) || layers.some((l) => typeof l !== 'string' || l === '')) {
      throw invalidArgument(`${where}: Layers must be a list of files`);
    }
    return {
      config: e.Config,
      repoTags: (tags as string[]).map((t) => archiveName(t, `${where}: RepoTags`, false)),
      layers: layers as string[],
    };
  });
}

/**
 * The name an index.json entry gives its image: io.containerd.image.name, else a ref.name that is a
 * reference of its own ("test/app:v1"); a bare tag ("latest") names nothing without a repository.
 */
export function ociEntryName(d: Descriptor, where: string): string | undefined {
  const full = d.annotations?.[imageNameAnnotation];
  if (full) return archiveName(full, `${where}: ${imageNameAnnotation}`, true);
  const ref = d.annotations?.[refNameAnnotation];
  if (ref && /[/:@]/.test(ref)) return archiveName(ref, `${where}: ${refNameAnnotation}`, true);
  return undefined;
}

export function checkOciLayout(bytes: Buffer): void {
  const json = parseJson(bytes, ociLayoutFile);
  if (!isObject(json) || typeof json.imageLayoutVersion !== 'string') {
    throw invalidArgument(`${ociLayoutFile} in the archive has no imageLayoutVersion`);
  }
  if (!json.imageLayoutVersion.startsWith('1.')) {
    throw invalidArgument(`${ociLayoutFile}: image layout version "${json.imageLayoutVersion}" is not supported (want 1.x)`);
  }
}

// ---- writing ----

/** One image of a saved archive: its root, the platform manifest docker's format describes, its names. */
export interface SavedImage {
  root: Descriptor;
  /** Full names ("docker.io/library/busybox:latest", or a digest reference). */
  names: string[];
  config: Descriptor;
  layers: Descriptor[];
}

const blobFile = (d: Descriptor) => `blobs/${d.digest.replace(':', '/')}`;

export function ociLayoutJson(): Buffer {
  return Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' }));
}

/** index.json: an entry per name (docker's and containerd's annotations), one without any for a nameless image. */
export function ociIndexJson(images: readonly SavedImage[]): Buffer {
  const manifests = images.flatMap((img) => {
    const { mediaType, digest, size } = img.root;
    if (img.names.length === 0) return [{ mediaType, digest, size }];
    return img.names.map((name) => {
      const tag = parseReference(name).tag;
      const annotations: Record<string, string> = { [imageNameAnnotation]: name };
      if (tag !== undefined && !name.includes('@')) annotations[refNameAnnotation] = tag;
      return { mediaType, digest, size, annotations };
    });
  });
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests }));
}

const tagsOf = (img: SavedImage) => img.names.filter((n) => !n.includes('@')).map((n) => familiarString(parseReference(n)));

/** manifest.json as docker writes it: the blob files of each image's config and layers, RepoTags familiar. */
export function dockerManifestJson(images: readonly SavedImage[]): Buffer {
  return Buffer.from(
    JSON.stringify(images.map((img) => ({ Config: blobFile(img.config), RepoTags: tagsOf(img), Layers: img.layers.map(blobFile) }))),
  );
}

/**
 * The legacy `repositories`: repository -> tag -> the hex of the image's top layer, as docker writes it (a
 * loader reads it only when there is no manifest.json). Images without a tag or a layer have no line.
 */
export function repositoriesJson(images: readonly SavedImage[]): Buffer {
  const repos: Record<string, Record<string, string>> = {};
  for (const img of images) {
    const top = img.layers[img.layers.length - 1];
    if (!top) continue;
    for (const name of img.names) {
      const ref = parseReference(name);
      if (ref.tag === undefined || name.includes('@')) continue;
      const repo = familiarString({ domain: ref.domain, path: ref.path });
      (repos[repo] ??= {})[ref.tag] = top.digest.slice('sha256:'.length);
    }
  }
  return Buffer.from(JSON.stringify(repos));
}
