// OCI descriptors, manifests and indexes as typed values, checked field by field: manifest bytes come from a
// registry and are untrusted until every digest, size and media type in them has been validated.
import { parseDigest, type Digest } from '../digest.js';
import { invalidArgument } from '../errdefs.js';
import { isGenericType, isIndexType, isManifestType, isSchema1Type, mediaTypes } from './media-types.js';
import type { Platform } from './platform.js';

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

/** The four fields a record or a wire message keeps of a descriptor, its annotations set (empty when none). */
export function plainDescriptor(d: Pick<Descriptor, 'mediaType' | 'digest' | 'size' | 'annotations'>) {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size, annotations: d.annotations ?? {} };
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** A manifest or index as fetched: its descriptor, its exact bytes (to store) and the checked value. */
export type FetchedManifest =
  | { kind: 'index'; descriptor: Descriptor; bytes: Buffer; index: ImageIndex }
  | { kind: 'manifest'; descriptor: Descriptor; bytes: Buffer; manifest: ImageManifest };

/** The largest manifest or index ctrd reads, as containerd (remotes/docker: 4 MiB). */
export const maxManifestSize = 4 << 20;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function stringMap(v: unknown, where: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v) || Object.values(v).some((x) => typeof x !== 'string')) {
    throw invalidArgument(`${where}: must be an object of strings`);
  }
  return v as Record<string, string>;
}

function optionalString(v: unknown, where: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalidArgument(`${where}: must be a string`);
  return v;
}

function parsePlatformField(v: unknown, where: string): Platform | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v) || typeof v.os !== 'string' || typeof v.architecture !== 'string') {
    throw invalidArgument(`${where}: platform needs string "os" and "architecture"`);
  }
  const p: Platform = { os: v.os, architecture: v.architecture };
  const variant = optionalString(v.variant, `${where}.variant`);
  if (variant !== undefined) p.variant = variant;
  const osVersion = optionalString(v['os.version'], `${where}["os.version"]`);
  if (osVersion !== undefined) p['os.version'] = osVersion;
  if (v['os.features'] !== undefined) {
    const f = v['os.features'];
    if (!Array.isArray(f) || f.some((x) => typeof x !== 'string')) throw invalidArgument(`${where}["os.features"]: must be strings`);
    p['os.features'] = f as string[];
  }
  return p;
}

/** Checks one descriptor from untrusted JSON; `where` names it in errors ("manifest sha256:...: layers[2]"). */
export function parseDescriptor(v: unknown, where: string): Descriptor {
  if (!isObject(v)) throw invalidArgument(`${where}: descriptor must be an object`);
  if (typeof v.mediaType !== 'string' || v.mediaType === '') throw invalidArgument(`${where}: descriptor has no mediaType`);
  if (typeof v.digest !== 'string') throw invalidArgument(`${where}: descriptor has no digest`);
  let digest: Digest;
  try {
    digest = parseDigest(v.digest);
  } catch (err) {
    throw invalidArgument(`${where}: ${(err as Error).message}`, err);
  }
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) {
    throw invalidArgument(`${where}: descriptor size must be a non-negative integer, got ${JSON.stringify(v.size)}`);
  }
  const d: Descriptor = { mediaType: v.mediaType, digest, size: v.size };
  if (v.urls !== undefined && v.urls !== null) {
    if (!Array.isArray(v.urls) || v.urls.some((u) => typeof u !== 'string')) throw invalidArgument(`${where}: urls must be strings`);
    d.urls = v.urls as string[];
  }
  const annotations = stringMap(v.annotations, `${where}: annotations`);
  if (annotations) d.annotations = annotations;
  const platform = parsePlatformField(v.platform, `${where}: platform`);
  if (platform) d.platform = platform;
  const artifactType = optionalString(v.artifactType, `${where}: artifactType`);
  if (artifactType !== undefined) d.artifactType = artifactType;
  return d;
}

function descriptors(v: unknown, where: string): Descriptor[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalidArgument(`${where}: must be an array`);
  return v.map((x, i) => parseDescriptor(x, `${where}[${i}]`));
}

/** The kind a manifest body declares or shows: its mediaType field, else its shape (OCI allows no mediaType). */
function detectMediaType(json: Json): string | undefined {
  if (typeof json.mediaType === 'string' && json.mediaType !== '') return json.mediaType;
  if (Array.isArray(json.manifests)) return mediaTypes.ociIndex;
  if (isObject(json.config) && Array.isArray(json.layers)) return mediaTypes.ociManifest;
  if (json.schemaVersion === 1) return mediaTypes.dockerSchema1;
  return undefined;
}

/** The media type manifest bytes declare or show, for a registry that serves them as application/json. */
export function sniffManifestType(bytes: Buffer): string | undefined {
  try {
    const json: unknown = JSON.parse(bytes.toString('utf8'));
    return isObject(json) ? detectMediaType(json) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Parses and checks manifest or index bytes served as `mediaType` (the descriptor's or the Content-Type).
 * `name` identifies it in errors (e.g. "127.0.0.1:5000/test/busybox@sha256:...").
 */
export function parseManifest(descriptor: Descriptor, bytes: Buffer, name: string): FetchedManifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw invalidArgument(`manifest ${name} (media type "${descriptor.mediaType}") is not valid JSON: ${(err as Error).message}`, err);
  }
  if (!isObject(json)) throw invalidArgument(`manifest ${name} is not a JSON object`);
  const declared = detectMediaType(json);
  let mediaType = descriptor.mediaType;
  if (isGenericType(mediaType) && declared !== undefined) mediaType = declared;
  if (isSchema1Type(mediaType) || (declared !== undefined && isSchema1Type(declared))) {
    throw invalidArgument(`manifest ${name}: Docker schema 1 manifests ("${mediaType}") are not supported`);
  }
  if (!isIndexType(mediaType) && !isManifestType(mediaType)) {
    throw invalidArgument(`manifest ${name}: unknown media type "${mediaType}"`);
  }
  if (typeof json.mediaType === 'string' && json.mediaType !== '' && json.mediaType !== mediaType) {
    throw invalidArgument(`manifest ${name}: body declares media type "${json.mediaType}" but was served as "${mediaType}"`);
  }
  if (json.schemaVersion !== 2) {
    throw invalidArgument(`manifest ${name}: schemaVersion must be 2, got ${JSON.stringify(json.schemaVersion)}`);
  }
  const where = `manifest ${name}`;
  const common = {
    schemaVersion: 2 as const,
    ...(typeof json.mediaType === 'string' ? { mediaType: json.mediaType } : {}),
    ...(json.subject !== undefined && json.subject !== null ? { subject: parseDescriptor(json.subject, `${where}: subject`) } : {}),
    ...(typeof json.artifactType === 'string' ? { artifactType: json.artifactType } : {}),
    ...(json.annotations !== undefined ? { annotations: stringMap(json.annotations, `${where}: annotations`) ?? {} } : {}),
  };
  const desc: Descriptor = { ...descriptor, mediaType };
  if (isIndexType(mediaType)) {
    if (!Array.isArray(json.manifests)) throw invalidArgument(`${where}: index has no "manifests" array`);
    return { kind: 'index', descriptor: desc, bytes, index: { ...common, manifests: descriptors(json.manifests, `${where}: manifests`) } };
  }
  if (!isObject(json.config)) throw invalidArgument(`${where}: manifest has no "config" descriptor`);
  if (!Array.isArray(json.layers)) throw invalidArgument(`${where}: manifest has no "layers" array`);
  return {
    kind: 'manifest',
    descriptor: desc,
    bytes,
    manifest: { ...common, config: parseDescriptor(json.config, `${where}: config`), layers: descriptors(json.layers, `${where}: layers`) },
  };
}
