// Reading an image out of the content store: the index, the manifest for a platform, the config, and the
// chain IDs its snapshots are named by. The bytes are checked by the same parser as bytes from a registry
// (lib/registry/manifest.ts): what is stored came from outside once.
import { createHash } from 'node:crypto';
import type { ContentStore } from '../content/store.js';
import { invalidArgument } from '../../lib/errdefs.js';
import { maxManifestSize, parseManifest, type Descriptor, type ImageManifest } from '../../lib/registry/manifest.js';
import { selectPlatform } from '../../lib/registry/select.js';
import type { PlatformMatcher } from '../../lib/registry/platform.js';
import { parseDigest } from '../../lib/digest.js';

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture?: string;
  os?: string;
  variant?: string;
  config?: Record<string, unknown>;
  rootfs: { type: string; diff_ids: string[] };
  history?: Array<{ created?: string; created_by?: string; comment?: string; empty_layer?: boolean; author?: string }>;
}

/** A resolved image: the platform's manifest and config, with the chain IDs of its layers. */
export interface ResolvedImage {
  target: Descriptor;
  manifestDescriptor: Descriptor;
  manifest: ImageManifest;
  config: ImageConfig;
  chainIds: string[];
}

/** ChainID(1) = DiffID(1); ChainID(n) = sha256(ChainID(n-1) + " " + DiffID(n)) (OCI image spec). */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const id of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? id : `sha256:${createHash('sha256').update(`${prev} ${id}`).digest('hex')}`);
  }
  return out;
}

export async function readBlob(content: ContentStore, ns: string, desc: Descriptor, what: string): Promise<Buffer> {
  const info = content.info(ns, desc.digest);
  if (info.size > maxManifestSize) throw invalidArgument(`${what} ${desc.digest} is larger than ${maxManifestSize} bytes`);
  return content.readAll(ns, desc.digest);
}

/** Checks an image config from untrusted JSON: it must list one diff ID per layer. */
export function parseConfig(bytes: Buffer, desc: Descriptor, layers: number): ImageConfig {
  let c: Partial<ImageConfig>;
  try {
    c = JSON.parse(bytes.toString('utf8')) as Partial<ImageConfig>;
  } catch (err) {
    throw invalidArgument(`config ${desc.digest} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof c !== 'object' || c === null || !c.rootfs || !Array.isArray(c.rootfs.diff_ids)) {
    throw invalidArgument(`config ${desc.digest}: no rootfs.diff_ids`);
  }
  if (c.rootfs.diff_ids.length !== layers) {
    throw invalidArgument(`config ${desc.digest}: ${c.rootfs.diff_ids.length} diff_ids for ${layers} layers`);
  }
  for (const id of c.rootfs.diff_ids) parseDigest(String(id));
  return c as ImageConfig;
}

/** From an image's target down to one platform's manifest and config, all read from the content store. */
export async function resolveImage(
  content: ContentStore,
  ns: string,
  target: Descriptor,
  platform: PlatformMatcher,
): Promise<ResolvedImage> {
  let desc = target;
  for (let depth = 0; ; depth++) {
    const fetched = parseManifest(desc, await readBlob(content, ns, desc, 'manifest'), desc.digest);
    if (fetched.kind === 'manifest') {
      const manifest = fetched.manifest;
      const config = parseConfig(await readBlob(content, ns, manifest.config, 'config'), manifest.config, manifest.layers.length);
      return { target, manifestDescriptor: fetched.descriptor, manifest, config, chainIds: chainIds(config.rootfs.diff_ids) };
    }
    if (depth > 4) throw invalidArgument(`index ${target.digest} nests indexes too deep`);
    desc = selectPlatform(fetched.index, platform, desc.digest);
  }
}
