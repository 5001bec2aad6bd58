// Paths from a layer, resolved inside the directory they are written to, as securejoin and containerd's
// fs.RootPath do: every component is looked at with lstat, and a symlink is followed with its target read
// as if root were "/". Neither "..", nor an absolute name, nor a symlink (absolute or relative) leads out.
import { lstat, readFile, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { errnoCode, invalidArgument, kindOf } from '../../lib/errdefs.js';

/** Symlinks followed in one resolution before giving up (Linux's own limit is 40; securejoin's 255). */
export const maxSymlinks = 255;

/**
 * A name as a clean relative path, "/", "." and ".." resolved lexically as if the name were absolute:
 * "../../etc/passwd" is "etc/passwd", "./a//b/" is "a/b", "/" and ".." are "" (the root itself).
 */
export function cleanRelative(name: string): string {
  return posix.normalize('/' + name).replace(/^\/+/, '').replace(/\/+$/, '');
}

/**
 * The path inside root for name. Symlinks among the parent components are followed inside root; the last
 * component is never followed: callers act on it with lstat, lchown, unlink... and replace what is there.
 * Components that do not exist are taken literally. The result is root or starts with root + "/".
 */
export async function resolveInRoot(root: string, name: string): Promise<string> {
  const parts = cleanRelative(name).split('/').filter((p) => p !== '');
  const last = parts.pop();
  if (last === undefined) return root;
  return join(root, ...(await resolveComponents(root, parts, name)), last);
}

/** The path inside root for name with every component followed, the last one too: a directory to work in. */
export async function resolveDirInRoot(root: string, name: string): Promise<string> {
  const parts = cleanRelative(name).split('/').filter((p) => p !== '');
  return join(root, ...(await resolveComponents(root, parts, name)));
}

async function resolveComponents(root: string, parts: readonly string[], name: string): Promise<string[]> {
  const resolved: string[] = [];
  // A stack of the components still to walk, the next one last.
  const pending = [...parts].reverse();
  let links = 0;
  while (pending.length > 0) {
    const part = pending.pop()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      // Every resolved component is a real directory (or missing): its parent is the one before it.
      resolved.pop();
      continue;
    }
    const path = join(root, ...resolved, part);
    let isLink: boolean;
    try {
      isLink = (await lstat(path)).isSymbolicLink();
    } catch (err) {
      const code = errnoCode(err);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      isLink = false;
    }
    if (!isLink) {
      resolved.push(part);
      continue;
    }
    if (++links > maxSymlinks) throw invalidArgument(`"${name}": too many levels of symbolic links`);
    const target = await readlink(path);
    if (target.startsWith('/')) resolved.length = 0;
    pending.push(...target.split('/').reverse());
  }
  return resolved;
}

/** Whether path is root or below it (lexically; both absolute and clean). */
export function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith('/') ? root : root + '/');
}

/**
 * A regular file of root as text, every symlink on the way followed inside root (never out to the host's
 * files): '' when there is none (missing, not a regular file, or larger than maxBytes).
 */
export async function readFileInRoot(root: string, name: string, maxBytes = 4 << 20): Promise<string> {
  try {
    const path = await resolveDirInRoot(root, name);
    const st = await lstat(path);
    if (!st.isFile() || st.size > maxBytes) return '';
    return await readFile(path, 'utf8');
  } catch (err) {
    if (['ENOENT', 'ENOTDIR', 'ELOOP'].includes(errnoCode(err) ?? '') || kindOf(err) === 'invalid-argument') return '';
    throw err;
  }
}
