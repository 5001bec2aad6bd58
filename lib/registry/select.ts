// Choosing the manifest for a platform from an index, as containerd's images.Manifest does: entries that
// match (or carry no platform) sorted by the matcher's preference, entries without a platform last.
import { notFound } from '../errdefs.js';
import type { Descriptor, ImageIndex } from './manifest.js';
import { isIndexType, isManifestType } from './media-types.js';
import { formatPlatform, type PlatformMatcher } from './platform.js';

/** The index's entries that could serve the platform, best first. */
export function platformCandidates(index: ImageIndex, matcher: PlatformMatcher): Descriptor[] {
  const candidates = index.manifests.filter(
    (d) => (isManifestType(d.mediaType) || isIndexType(d.mediaType)) && (d.platform === undefined || matcher.match(d.platform)),
  );
  // Array.prototype.sort is stable, as containerd's sort.SliceStable.
  return candidates.sort((a, b) => {
    if (a.platform === undefined) return b.platform === undefined ? 0 : 1;
    if (b.platform === undefined) return -1;
    return matcher.compare(a.platform, b.platform);
  });
}

/** The best entry for the platform; NotFound "no match for platform in manifest" naming what there is. */
export function selectPlatform(index: ImageIndex, matcher: PlatformMatcher, name: string): Descriptor {
  const best = platformCandidates(index, matcher)[0];
  if (best) return best;
  const have = index.manifests.map((d) => (d.platform ? formatPlatform(d.platform) : d.mediaType)).join(', ') || 'no manifests';
  throw notFound(`no match for platform in manifest ${name}: want ${formatPlatform(matcher.platform)}, have ${have}`);
}
