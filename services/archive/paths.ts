// Paths inside an image archive. A tar entry's name, and a symlink's or hardlink's target, come from outside:
// each is cleaned into a relative path inside the archive or refused, never resolved against the host.
import { posix } from 'node:path';
import { invalidArgument } from '../../lib/errdefs.js';

/** An entry's name as a clean relative path ("./blobs//sha256/x" is "blobs/sha256/x"); traversal is refused. */
export function entryPath(name: string): string {
  if (name.includes('\0')) throw invalidArgument(`archive entry ${JSON.stringify(name)}: the path holds a NUL byte`);
  if (name.startsWith('/')) throw invalidArgument(`archive entry "${name}": absolute paths are not allowed in an image archive`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw invalidArgument(`archive entry "${name}": the path leaves the archive ("..")`);
  if (parts.length === 0) throw invalidArgument(`archive entry "${name}": empty path`);
  return parts.join('/');
}

/**
 * Where a link entry points, as an archive path: a symlink's target relative to its own directory (skopeo
 * writes "<id>/layer.tar -> ../<hex>.tar"), a hardlink's relative to the archive's root. A target outside the
 * archive is refused.
 */
export function linkTarget(path: string, target: string, kind: 'symlink' | 'link'): string {
  if (target === '' || target.includes('\0')) throw invalidArgument(`archive entry "${path}": ${kind} without a valid target`);
  if (target.startsWith('/')) throw invalidArgument(`archive entry "${path}": ${kind} to the absolute path "${target}" leaves the archive`);
  const joined = posix.normalize(kind === 'symlink' ? posix.join(posix.dirname(path), target) : target);
  if (joined === '..' || joined.startsWith('../')) {
    throw invalidArgument(`archive entry "${path}": ${kind} to "${target}" leaves the archive`);
  }
  return entryPath(joined);
}

/** The digest an OCI layout's blob path names ("blobs/sha256/<hex>"), or undefined for any other path. */
export function blobPathDigest(path: string): string | undefined {
  const m = /^blobs\/([^/]+)\/([^/]+)$/.exec(path);
  return m ? `${m[1]}:${m[2]}` : undefined;
}

export const blobPath = (digest: string) => `blobs/${digest.replace(':', '/')}`;
