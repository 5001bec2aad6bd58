// The docker-style image operations ctrd offers beyond containerd's API: summaries (ID, size, created),
// lookup by name, short ID or digest, tag, rmi with docker's Untagged/Deleted answers, prune, disk usage.
// It works on the image and content stores; deletions hand over to the garbage collector.
import type { ContentStore } from '../content/store.js';
import type { GarbageCollector } from '../metadata/gc.js';
import type { ImageStore } from './store.js';
import type { Publisher } from '../events/exchange.js';
import { pack } from '../events/payload.js';
import { ImageCreate, ImageDelete, ImageUpdate } from '../../gen/containerd/services/images/v1/image_events.js';
import type { Image } from './types.js';
import { resolveImage, type ResolvedImage } from './manifest.js';
import { failedPrecondition, invalidArgument, isNotFound, notFound } from '../../lib/errdefs.js';
import { familiarString, formatReference, parseReference } from '../../lib/registry/reference.js';
import { defaultPlatform, formatPlatform, onlyPlatform, type PlatformMatcher } from '../../lib/registry/platform.js';
import type { Logger } from '../../lib/log.js';
import { parseDigest } from '../../lib/digest.js';

export interface ImageSummary {
  name: string;
  target: Image['target'];
  /** The config digest: docker's image ID ('' when the content is not all there). */
  id: string;
  created: Date | undefined;
  /** What a pull fetches: manifest, config and layers (compressed). */
  size: number;
  /** The unpacked snapshots' size, 0 when not unpacked or unknown. */
  unpackedSize: number;
  platform: string;
  labels: Record<string, string>;
  repoDigest: string;
}

export interface RemoveResult {
  reference: string;
  untagged: string[];
  deleted: string[];
  error?: string;
}

/** Reports the disk usage of an image's unpacked snapshots (a snapshotter's business). */
export type UnpackedSize = (ns: string, resolved: ResolvedImage) => number;

export interface ImageEvents {
  created(ns: string, image: Image): void;
  updated(ns: string, image: Image): void;
  deleted(ns: string, name: string): void;
}

/** Image events with containerd's topics and payloads. */
export function imageEventsOn(publisher: Publisher): ImageEvents {
  return {
    created: (ns, img) =>
      publisher.publish(ns, '/images/create', pack('containerd.services.images.v1.ImageCreate', ImageCreate, img)),
    updated: (ns, img) =>
      publisher.publish(ns, '/images/update', pack('containerd.services.images.v1.ImageUpdate', ImageUpdate, img)),
    deleted: (ns, name) =>
      publisher.publish(ns, '/images/delete', pack('containerd.services.images.v1.ImageDelete', ImageDelete, { name })),
  };
}

/** What the image manager learns from other owners: snapshot sizes, and which containers use which image. */
export interface ImageManagerHooks {
  unpackedSize?: UnpackedSize;
  snapshotUsage?: (ns: string) => { count: number; size: number };
  /** The containers of a namespace and the image name each was made from. */
  containerUsers?: (ns: string) => Array<{ id: string; image: string }>;
}

export class ImageManager {
  readonly platform: PlatformMatcher;

  constructor(
    private readonly images: ImageStore,
    private readonly content: ContentStore,
    private readonly gc: GarbageCollector,
    private readonly events: ImageEvents,
    private readonly log: Logger,
    private readonly hooks: ImageManagerHooks = {},
  ) {
    this.platform = onlyPlatform(defaultPlatform());
  }

  async resolve(ns: string, image: Image): Promise<ResolvedImage> {
    const t = image.target;
    return resolveImage(this.content, ns, { mediaType: t.mediaType, digest: parseDigest(t.digest), size: t.size }, this.platform);
  }

  async summary(ns: string, image: Image): Promise<ImageSummary> {
    return (await this.describe(ns, image)).summary;
  }

  /** The summary, and the resolved image when its content is all there. */
  private async describe(ns: string, image: Image): Promise<{ summary: ImageSummary; resolved?: ResolvedImage }> {
    const base: ImageSummary = {
      name: image.name,
      target: image.target,
      id: '',
      created: undefined,
      size: image.target.size,
      unpackedSize: 0,
      platform: '',
      labels: image.labels,
      repoDigest: repoDigest(image),
    };
    let r: ResolvedImage;
    try {
      r = await this.resolve(ns, image);
    } catch (err) {
      // An image whose content is incomplete still lists, with what is known.
      this.log.debug({ ns, image: image.name, err }, 'image content incomplete');
      return { summary: base };
    }
    const created = r.config.created ? new Date(r.config.created) : undefined;
    const summary: ImageSummary = {
      ...base,
      id: r.manifest.config.digest,
      created: created && !Number.isNaN(created.getTime()) ? created : undefined,
      size: r.manifestDescriptor.size + r.manifest.config.size + r.manifest.layers.reduce((n, l) => n + l.size, 0),
      unpackedSize: (this.hooks.unpackedSize?.(ns, r) ?? 0),
      platform: formatPlatform({
        os: r.config.os ?? 'linux',
        architecture: r.config.architecture ?? 'unknown',
        ...(r.config.variant ? { variant: r.config.variant } : {}),
      }),
    };
    return { summary, resolved: r };
  }

  async list(ns: string, filters: readonly string[]): Promise<ImageSummary[]> {
    return Promise.all(this.images.list(ns, filters).map((img) => this.summary(ns, img)));
  }

  /**
   * The images a user means by `ref`: the image of that name (busybox means docker.io/library/busybox:latest),
   * else those whose ID or target digest starts with it (sha256:abc..., abc...; 12 hex characters or more).
   */
  async lookup(ns: string, ref: string): Promise<Array<{ image: Image; summary: ImageSummary; resolved?: ResolvedImage }>> {
    if (ref === '') throw invalidArgument('image reference must not be empty');
    const byName = this.byName(ns, ref);
    if (byName) return [{ image: byName, ...(await this.describe(ns, byName)) }];
    const hex = ref.replace(/^sha256:/, '');
    if (/^[a-f0-9]{1,64}$/.test(hex)) {
      const all = await Promise.all(this.images.list(ns, []).map(async (image) => ({ image, ...(await this.describe(ns, image)) })));
      const found = all.filter(({ image, summary }) => summary.id.slice(7).startsWith(hex) || image.target.digest.slice(7).startsWith(hex));
      if (found.length > 0) return found;
    }
    throw notFound(`no such image: ${ref}`);
  }

  private byName(ns: string, ref: string): Image | undefined {
    const names = [ref];
    try {
      names.unshift(formatReference(parseReference(ref)));
    } catch {
      // Not a reference: an ID, or a name that only the image store knows as is.
    }
    for (const name of names) {
      try {
        return this.images.get(ns, name);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return undefined;
  }

  async inspect(ns: string, ref: string): Promise<{ summary: ImageSummary; names: string[]; resolved: ResolvedImage }> {
    const [first, ...rest] = await this.lookup(ns, ref);
    if (rest.length > 0 && first!.summary.id !== '' && rest.some((r) => r.summary.id !== first!.summary.id)) {
      throw failedPrecondition(`"${ref}" is ambiguous: it matches several images`);
    }
    // What lookup resolved; an image whose content is incomplete fails here, naming what is missing.
    const resolved = first!.resolved ?? (await this.resolve(ns, first!.image));
    const names = (await this.list(ns, [])).filter((s) => s.id === first!.summary.id).map((s) => s.name);
    return { summary: first!.summary, names, resolved };
  }

  /** docker tag SOURCE TARGET: TARGET names SOURCE's target from now on (an existing TARGET is moved). */
  async tag(ns: string, source: string, target: string): Promise<ImageSummary> {
    const found = await this.lookup(ns, source);
    // Several names of one image (one ID) are one source; several IDs are ambiguous.
    if (new Set(found.map((f) => f.summary.id || f.image.target.digest)).size > 1) {
      throw failedPrecondition(`"${source}" is ambiguous: it matches several images`);
    }
    const src = found[0];
    const name = formatReference(parseReference(target));
    if (parseReference(target).digest) throw invalidArgument(`cannot tag with a digest reference "${target}"`);
    let image: Image;
    try {
      image = this.images.create(ns, { name, labels: src!.image.labels, target: src!.image.target });
      this.events.created(ns, image);
    } catch (err) {
      if ((err as { kind?: string }).kind !== 'already-exists') throw err;
      image = this.images.update(ns, { name, labels: src!.image.labels, target: src!.image.target }, ['target']);
      this.events.updated(ns, image);
      this.gc.dirty();
    }
    return this.summary(ns, image);
  }

  /**
   * docker rmi: a name is untagged, and the image is deleted with its last name. An ID that several names
   * share needs force. Each reference is answered on its own; one failing does not stop the others.
   */
  async remove(ns: string, refs: readonly string[], force: boolean): Promise<RemoveResult[]> {
    const results: RemoveResult[] = [];
    for (const reference of refs) {
      const result: RemoveResult = { reference, untagged: [], deleted: [] };
      try {
        const matches = await this.lookup(ns, reference);
        const ids = new Set(matches.map((m) => m.summary.id || m.image.target.digest));
        const byName = matches.length === 1 && this.byName(ns, reference) !== undefined;
        if (!byName && matches.length > 1 && !force) {
          throw failedPrecondition(
            `conflict: unable to delete ${short(reference)} (must be forced) - image is referenced in multiple repositories`,
          );
        }
        // An image a container uses keeps its last name unless forced; untagging one of several names is fine.
        const all = await this.list(ns, []);
        const removing = new Set(matches.map((m) => m.image.name));
        for (const id of ids) {
          const names = all.filter((s) => (s.id || s.target.digest) === id).map((s) => s.name);
          if (!names.every((n) => removing.has(n))) continue;
          const user = (this.hooks.containerUsers?.(ns) ?? []).find((c) => names.includes(c.image));
          if (user && !force) {
            throw failedPrecondition(
              `conflict: unable to remove repository reference "${reference}" (must force) - container ${user.id} is using its referenced image ${short(id)}`,
            );
          }
        }
        for (const { image } of matches) {
          this.images.delete(ns, image.name);
          this.events.deleted(ns, image.name);
          for (const line of [displayName(image.name), repoDigest(image)]) {
            if (!result.untagged.includes(line)) result.untagged.push(line);
          }
        }
        const remaining = new Set((await this.list(ns, [])).map((s) => s.id || s.target.digest));
        for (const id of ids) if (!remaining.has(id)) result.deleted.push(id);
      } catch (err) {
        result.error = (err as Error).message;
      }
      results.push(result);
    }
    if (results.some((r) => r.deleted.length > 0)) await this.gc.collect();
    return results;
  }

  /** Space used in the namespace by images (what their pulls fetched), content blobs, and snapshots. */
  async diskUsage(ns: string) {
    const images = await this.list(ns, []);
    const blobs = this.content.list(ns, []);
    const snapshots = this.hooks.snapshotUsage?.(ns) ?? { count: 0, size: 0 };
    const imagesSize = images.reduce((n, s) => n + s.size, 0);
    return {
      images: images.length,
      imagesSize,
      imagesReclaimable: imagesSize,
      contentBlobs: blobs.length,
      contentSize: blobs.reduce((n, c) => n + c.size, 0),
      snapshots: snapshots.count,
      snapshotsSize: snapshots.size,
    };
  }

  /** Removes dangling images (names without a tag), or all images with `all`, then collects garbage. */
  async prune(ns: string, all: boolean) {
    const before = this.content.list(ns, []).reduce((n, c) => n + c.size, 0);
    const used = new Set((this.hooks.containerUsers?.(ns) ?? []).map((c) => c.image));
    const doomed = (await this.list(ns, [])).filter((s) => (all || isDangling(s.name)) && !used.has(s.name));
    const results = await this.remove(ns, doomed.map((s) => s.name), true);
    const after = this.content.list(ns, []).reduce((n, c) => n + c.size, 0);
    return {
      untagged: results.flatMap((r) => r.untagged),
      deleted: results.flatMap((r) => r.deleted),
      reclaimed: Math.max(0, before - after),
    };
  }
}

/** An image name with no tag (a bare digest reference, or not a reference at all) is dangling. */
export function isDangling(name: string): boolean {
  try {
    return parseReference(name).tag === undefined || /@sha256:/.test(name);
  } catch {
    return true;
  }
}

function displayName(name: string): string {
  try {
    return familiarString(parseReference(name));
  } catch {
    return name;
  }
}

function repoDigest(image: Image): string {
  try {
    const ref = parseReference(image.name);
    return `${familiarString({ domain: ref.domain, path: ref.path })}@${image.target.digest}`;
  } catch {
    return `${image.name}@${image.target.digest}`;
  }
}

const short = (idOrRef: string) => idOrRef.replace(/^sha256:/, '').slice(0, 12);

