// The changes from a lower tree to an upper one, in a deterministic order (each directory's names sorted,
// a directory before what it holds). Two ways, as containerd has them:
//   walkChanges     a double walk comparing both trees name by name: added, modified, deleted;
//   overlayChanges  when upper is an overlayfs upperdir over exactly the lower layers, a walk of the upperdir
//                   alone: a char device 0/0 is a deletion, trusted.overlay.opaque=y an opaque directory.
import { constants as fsConstants, type BigIntStats } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../../lib/errdefs.js';
import { native } from '../../lib/native.js';

export type ChangeKind = 'add' | 'modify' | 'delete' | 'opaque';

export interface Change {
  kind: ChangeKind;
  /** Relative to the tree's root, "/"-separated. */
  path: string;
}

/** overlayfs's own attributes, never part of a layer. */
export const overlayXattrPrefix = 'trusted.overlay.';

/** Attributes of an upperdir the fast walk cannot read right: renamed dirs, metadata-only copies, xattr whiteouts. */
const needsMergedView = ['trusted.overlay.redirect', 'trusted.overlay.metacopy', 'trusted.overlay.whiteout', 'trusted.overlay.whiteouts'];

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The changes from lower to upper, comparing name, type, mode, owner, size, mtime, link target and xattrs. */
export async function walkChanges(lower: string, upper: string): Promise<Change[]> {
  const out: Change[] = [];
  await walkBoth(lower, upper, '', true, out);
  return out;
}

async function walkBoth(lower: string, upper: string, rel: string, inLower: boolean, out: Change[]): Promise<void> {
  const upperNames = new Set(await readdir(join(upper, rel)));
  const lowerNames = new Set(inLower ? await readdirOrEmpty(join(lower, rel)) : []);
  for (const name of [...new Set([...lowerNames, ...upperNames])].sort(byName)) {
    const path = rel === '' ? name : `${rel}/${name}`;
    if (!upperNames.has(name)) {
      out.push({ kind: 'delete', path });
      continue;
    }
    const us = await lstat(join(upper, path), { bigint: true });
    const ls = lowerNames.has(name) ? await lstat(join(lower, path), { bigint: true }) : undefined;
    if (!ls) {
      out.push({ kind: 'add', path });
    } else if (!(await sameFile(join(lower, path), ls, join(upper, path), us))) {
      out.push({ kind: 'modify', path });
    }
    if (us.isDirectory()) await walkBoth(lower, upper, path, ls?.isDirectory() ?? false, out);
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return [];
    throw err;
  }
}

async function sameFile(lp: string, ls: BigIntStats, up: string, us: BigIntStats): Promise<boolean> {
  if (ls.mode !== us.mode || ls.uid !== us.uid || ls.gid !== us.gid) return false;
  if ((us.isCharacterDevice() || us.isBlockDevice()) && ls.rdev !== us.rdev) return false;
  if (!sameXattrs(lp, up)) return false;
  if (us.isSymbolicLink() && (await readlink(lp)) !== (await readlink(up))) return false;
  if (!us.isFile()) return ls.mtimeNs === us.mtimeNs;
  if (ls.size !== us.size) return false;
  const second = 1_000_000_000n;
  if (ls.mtimeNs / second !== us.mtimeNs / second) return false;
  // Times a tar truncated to the second may hide a change: then the content decides (containerd does too).
  if (ls.mtimeNs % second === 0n && us.mtimeNs % second === 0n) return us.size === 0n || (await sameContent(lp, up));
  return ls.mtimeNs === us.mtimeNs;
}

/** The attributes of path that belong in a layer (overlayfs's own left out), sorted by name. */
export function layerXattrs(path: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const name of native().llistxattr(path).sort(byName)) {
    if (name.startsWith(overlayXattrPrefix)) continue;
    const value = native().lgetxattr(path, name);
    if (value !== undefined) out.set(name, value);
  }
  return out;
}

function sameXattrs(a: string, b: string): boolean {
  const xa = layerXattrs(a);
  const xb = layerXattrs(b);
  if (xa.size !== xb.size) return false;
  for (const [k, v] of xa) if (!xb.get(k)?.equals(v)) return false;
  return true;
}

async function sameContent(a: string, b: string): Promise<boolean> {
  const fa = await open(a, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  try {
    const fb = await open(b, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    try {
      const ba = Buffer.alloc(1 << 16);
      const bb = Buffer.alloc(1 << 16);
      for (;;) {
        const ra = await readFull(fa, ba);
        const rb = await readFull(fb, bb);
        if (ra !== rb || !ba.subarray(0, ra).equals(bb.subarray(0, rb))) return false;
        if (ra < ba.length) return true;
      }
    } finally {
      await fb.close();
    }
  } finally {
    await fa.close();
  }
}

async function readFull(fh: Awaited<ReturnType<typeof open>>, buf: Buffer): Promise<number> {
  let n = 0;
  while (n < buf.length) {
    const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
    if (bytesRead === 0) break;
    n += bytesRead;
  }
  return n;
}

/**
 * The changes an overlayfs upperdir holds, or undefined when the upperdir uses features only the merged
 * view resolves (redirected directories, metacopy): then the caller walks both trees.
 */
export async function overlayChanges(upperdir: string): Promise<Change[] | undefined> {
  const out: Change[] = [];
  return (await walkUpper(upperdir, '', out)) ? out : undefined;
}

async function walkUpper(upper: string, rel: string, out: Change[]): Promise<boolean> {
  for (const name of (await readdir(join(upper, rel))).sort(byName)) {
    const path = rel === '' ? name : `${rel}/${name}`;
    const full = join(upper, path);
    const st = await lstat(full);
    if (st.isCharacterDevice() && st.rdev === 0) {
      out.push({ kind: 'delete', path });
      continue;
    }
    const names = native().llistxattr(full);
    if (names.some((n) => needsMergedView.includes(n))) return false;
    out.push({ kind: 'modify', path });
    if (st.isDirectory()) {
      if (native().lgetxattr(full, 'trusted.overlay.opaque')?.toString() === 'y') out.push({ kind: 'opaque', path });
      if (!(await walkUpper(upper, path, out))) return false;
    }
  }
  return true;
}
