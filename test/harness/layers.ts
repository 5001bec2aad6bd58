// Layers for tests: tars built with tar-stream's packer (an encoder independent of ctrd's), raw entries
// through ctrd's own header encoder (binary xattrs, odd type flags), compression with zlib and the zstd
// command, and listings of trees that compare everything a layer can carry.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack, type Header } from 'tar-stream';
import { native } from '../../lib/native.js';
import { encodeHeader, endOfArchive, padding, type TarEntry } from '../../services/diff/tar-header.js';

export type PackEntry = Partial<Header> & { name: string; body?: string | Buffer };

/** A tar of entries written by tar-stream's packer, end-of-archive included. */
export async function packTar(entries: readonly PackEntry[]): Promise<Buffer> {
  const p = pack();
  for (const { body, ...header } of entries) {
    const h = { mtime: new Date(1_600_000_000_000), uid: 0, gid: 0, ...header };
    // A file entry without a body is empty: tar-stream would wait for its data otherwise.
    const isFile = h.type === undefined || h.type === 'file' || h.type === 'contiguous-file';
    if (body === undefined && !isFile) p.entry(h);
    else p.entry(h, body ?? '');
  }
  p.finalize();
  const parts: Buffer[] = [];
  for await (const chunk of p) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** One entry through ctrd's encoder: header blocks, content and padding. */
export function rawEntry(entry: TarEntry, body: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([encodeHeader({ ...entry, size: body.length }), body, padding(body.length)]);
}

export function rawTar(...entries: Buffer[]): Buffer {
  return Buffer.concat([...entries, endOfArchive]);
}

export const gzip = (data: Buffer): Buffer => gzipSync(data);

export function hasZstd(): boolean {
  return spawnSync('zstd', ['--version']).status === 0;
}

export function zstd(data: Buffer): Buffer {
  const r = spawnSync('zstd', ['-q', '-c', '-3'], { input: data, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr.toString()}`);
  return r.stdout;
}

export const sha256Of = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

export interface Listed {
  type: string;
  mode: string;
  uid: number;
  gid: number;
  /** Seconds: what a tar keeps. */
  mtime: number;
  size?: number;
  sha256?: string;
  linkname?: string;
  rdev?: number;
  xattrs?: Record<string, string>;
  /** The first path (in listing order) sharing this file's inode, for hardlinks. */
  sameInodeAs?: string;
}

/**
 * Everything a layer can say about each path under root (the root itself left out): type, mode, owner,
 * mtime in seconds, content digest, link target, device number, xattrs (overlayfs's own left out).
 */
export function listTree(root: string, opts: { mtimes?: 'all' | 'files' | 'none' } = {}): Record<string, Listed> {
  const out: Record<string, Listed> = {};
  const inodes = new Map<string, string>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const full = join(root, path);
      const st = lstatSync(full);
      const type = st.isDirectory()
        ? 'dir'
        : st.isFile()
          ? 'file'
          : st.isSymbolicLink()
            ? 'symlink'
            : st.isCharacterDevice()
              ? 'char'
              : st.isBlockDevice()
                ? 'block'
                : st.isFIFO()
                  ? 'fifo'
                  : 'other';
      const entry: Listed = { type, mode: (st.mode & 0o7777).toString(8), uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) };
      const mtimes = opts.mtimes ?? 'all';
      if (mtimes === 'none' || (mtimes === 'files' && type === 'dir')) entry.mtime = 0;
      if (type === 'file') {
        entry.size = st.size;
        entry.sha256 = sha256Of(readFileSync(full));
        if (st.nlink > 1) {
          const key = `${st.dev}:${st.ino}`;
          const first = inodes.get(key);
          if (first === undefined) inodes.set(key, path);
          else entry.sameInodeAs = first;
        }
      }
      if (type === 'symlink') entry.linkname = readlinkSync(full);
      if (type === 'char' || type === 'block') entry.rdev = st.rdev;
      const xattrs: Record<string, string> = {};
      for (const x of native().llistxattr(full).sort()) {
        if (!x.startsWith('trusted.overlay.')) xattrs[x] = native().lgetxattr(full, x)!.toString('hex');
      }
      if (Object.keys(xattrs).length > 0) entry.xattrs = xattrs;
      out[path] = entry;
      if (type === 'dir') walk(path);
    }
  };
  walk('');
  return out;
}

/** Copies a tree with everything a layer can carry (cp -a keeps owners, modes, times, xattrs, hardlinks). */
export function copyTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  const r = spawnSync('cp', ['-a', '--', `${from}/.`, to]);
  if (r.status !== 0) throw new Error(`cp -a failed: ${r.stderr.toString()}`);
}

/** A valid security.capability value (VFS_CAP_REVISION_2, effective, permitted CAP_NET_RAW): binary bytes. */
export function netRawCapability(): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt32LE(0x02000001, 0);
  b.writeUInt32LE(1 << 13, 4);
  return b;
}
