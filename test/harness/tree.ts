// A full listing of a directory tree, to compare two unpacked root filesystems: type, mode, owner, size,
// link target and content checksum of every entry (times are left out: they differ by design).
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';
  mode: string;
  uid: number;
  gid: number;
  size?: number;
  link?: string;
  sha256?: string;
  /** For devices: major,minor. */
  rdev?: string;
}

export function listTree(root: string): Record<string, TreeEntry> {
  const out: Record<string, TreeEntry> = {};
  const walk = (rel: string) => {
    const path = join(root, rel);
    const st = lstatSync(path);
    const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
    const base = { mode, uid: st.uid, gid: st.gid };
    if (st.isDirectory()) {
      if (rel !== '') out[rel] = { type: 'dir', ...base };
      for (const name of readdirSync(path).sort()) walk(rel === '' ? name : `${rel}/${name}`);
    } else if (st.isSymbolicLink()) {
      out[rel] = { type: 'symlink', ...base, mode: '0777', link: readlinkSync(path) };
    } else if (st.isFile()) {
      out[rel] = { type: 'file', ...base, size: st.size, sha256: createHash('sha256').update(readFileSync(path)).digest('hex') };
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      out[rel] = { type: st.isCharacterDevice() ? 'char' : 'block', ...base, rdev: `${Math.floor(st.rdev / 256)},${st.rdev % 256}` };
    } else if (st.isFIFO()) {
      out[rel] = { type: 'fifo', ...base };
    } else {
      out[rel] = { type: 'socket', ...base };
    }
  };
  walk('');
  return out;
}
