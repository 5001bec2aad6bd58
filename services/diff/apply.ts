// Applying a layer onto a directory, as containerd's archive.Apply: the blob streams through decompression
// and a sha256 of the uncompressed bytes (the diff ID) into a tar parser, and each entry is written under
// the root, with every path resolved inside it (resolve-in-root.ts): nothing a layer says can write outside.
//
// Two whiteout modes. 'overlay': root is an overlayfs upperdir; ".wh.X" becomes the char device 0/0 X and
// ".wh..wh..opq" the xattr trusted.overlay.opaque=y on its directory. 'plain': root is the whole tree;
// ".wh.X" deletes X, and ".wh..wh..opq" deletes what the directory holds that this layer did not write.
import { createHash } from 'node:crypto';
import { constants as fsConstants, type Stats } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, readdir, rm, symlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline, Transform, type Readable } from 'node:stream';
import type { Extract, Header } from 'tar-stream';
import { digestOf, type Digest } from '../../lib/digest.js';
import { CtrdError, errnoCode, invalidArgument, wrap } from '../../lib/errdefs.js';
import type { Logger } from '../../lib/log.js';
import { native } from '../../lib/native.js';
import { decompressor, detectCompression, magicLength, peek } from './compression.js';
import { cleanRelative, isInside, resolveInRoot } from './resolve-in-root.js';
import { entryMeta, tarExtractor, type EntryMeta } from './tar-reader.js';
import type { Compression } from './types.js';

export type WhiteoutMode = 'overlay' | 'plain';

export interface ApplyTarget {
  /** The directory the layer is written into: a whole tree, or an overlayfs upperdir. */
  readonly root: string;
  readonly whiteouts: WhiteoutMode;
}

export interface AppliedLayer {
  /** The sha256 of the uncompressed tar: the layer's diff ID. */
  digest: Digest;
  /** Bytes of uncompressed tar. */
  size: number;
}

export interface ApplyLayerOptions {
  /** What the layer is called in errors: its digest. */
  readonly name: string;
  /** Whether the blob is compressed (its media type says); which compression is told by its magic bytes. */
  readonly compression: Compression;
  readonly log?: Logger;
  readonly signal?: AbortSignal;
}

export const whiteoutPrefix = '.wh.';
export const whiteoutMetaPrefix = '.wh..wh.';
export const opaqueWhiteout = '.wh..wh..opq';
export const overlayOpaqueXattr = 'trusted.overlay.opaque';

/**
 * Applies the layer in blob onto target.root. A corrupt or truncated stream fails with InvalidArgument naming
 * the layer; what was written until then stays (the caller removes the snapshot), and nothing is written
 * outside target.root.
 */
export async function applyLayer(target: ApplyTarget, blob: Readable, opts: ApplyLayerOptions): Promise<AppliedLayer> {
  let source = blob;
  let compression: Compression = 'none';
  if (opts.compression !== 'none') {
    const peeked = await peek(blob, magicLength);
    source = peeked.stream;
    compression = detectCompression(peeked.head);
  }

  const hash = createHash('sha256');
  let size = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  // Data errors (decompression, tar format) are told apart from failures to write the files.
  let dataError: unknown;
  const decoder = decompressor(compression);
  const onPipelineDone = (err: unknown) => {
    if (err) dataError ??= err;
  };
  const uncompressed = decoder ? pipeline(source, decoder, counter, onPipelineDone) : pipeline(source, counter, onPipelineDone);

  const tar = tarExtractor();
  tar.on('error', (err: unknown) => {
    dataError ??= err;
  });
  const feeding = feed(uncompressed, tar, (err) => {
    dataError ??= err;
  });

  const applier = new Applier(target, opts);
  const entries = tar[Symbol.asyncIterator]();
  try {
    for (;;) {
      opts.signal?.throwIfAborted();
      let next: IteratorResult<Readable & { header: Header }>;
      try {
        next = (await entries.next()) as IteratorResult<Readable & { header: Header }>;
      } catch (err) {
        throw layerError(opts.name, dataError ?? err);
      }
      if (next.done) break;
      const entry = next.value;
      try {
        await applier.entry(entry.header, entry);
      } catch (err) {
        if (dataError !== undefined) throw layerError(opts.name, dataError);
        throw wrap(err, `apply layer ${opts.name}: entry "${entry.header.name}"`);
      }
      await drain(entry);
    }
    await feeding;
    if (dataError !== undefined) throw layerError(opts.name, dataError);
    await applier.finish();
  } finally {
    tar.destroy();
    uncompressed.destroy();
  }
  return { digest: digestOf(hash), size };
}

/** Writes src into the tar parser with backpressure; a failure of src destroys the parser with it. */
async function feed(src: Readable, tar: Extract, onError: (err: unknown) => void): Promise<void> {
  try {
    for await (const chunk of src) {
      if (tar.destroyed) return;
      if (!tar.write(chunk as Buffer)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            tar.off('drain', done);
            tar.off('close', done);
            resolve();
          };
          tar.on('drain', done);
          tar.on('close', done);
        });
      }
    }
    if (!tar.destroyed) tar.end(undefined);
  } catch (err) {
    onError(err);
    tar.destroy(err instanceof Error ? err : new Error(String(err)));
  }
}

/** Reads what is left of an entry: tar-stream moves to the next header only once the data is consumed. */
async function drain(entry: Readable): Promise<void> {
  try {
    for await (const _ of entry) {
      // discard
    }
  } catch {
    // The error is the parser's, reported by the entry loop.
  }
}

function layerError(name: string, err: unknown): Error {
  if (err instanceof CtrdError) return err;
  // A failure to read the blob itself (EIO...) is not the layer's fault.
  if (err instanceof Error && 'syscall' in err) return wrap(err, `read layer ${name}`);
  const message = err instanceof Error ? err.message : String(err);
  return invalidArgument(`layer ${name}: ${message}`, err);
}

/** The per-entry work: paths, whiteouts, file creation, metadata, and the directory times left for last. */
class Applier {
  /** Paths this layer wrote, and their ancestors: what a plain-mode opaque directory keeps. */
  private readonly written = new Set<string>();
  private readonly dirTimes: Array<{ name: string; atime: number; mtime: number }> = [];

  constructor(
    private readonly target: ApplyTarget,
    private readonly opts: ApplyLayerOptions,
  ) {}

  async entry(header: Header, data: Readable): Promise<void> {
    const name = cleanRelative(header.name);
    if (name === '') return; // the root itself, as containerd ignores it
    const root = this.target.root;
    const path = await resolveInRoot(root, name);
    if (!isInside(root, path) || path === root) throw invalidArgument(`"${header.name}" resolves outside the layer root`);
    const dir = dirname(path);
    const base = basename(path);

    if (base === opaqueWhiteout) return this.opaque(dir, header);
    if (name.split('/').some((part) => part.startsWith(whiteoutMetaPrefix))) {
      this.opts.log?.debug({ name: header.name }, 'skipping aufs metadata entry');
      return;
    }
    if (base.startsWith(whiteoutPrefix)) return this.whiteout(dir, base.slice(whiteoutPrefix.length), header);

    await mkdir(dir, { recursive: true, mode: 0o755 });
    const meta = entryMeta(header);
    const existing = await lstatOrUndefined(path);
    if (!(await makeNode(path, header, data, existing, () => this.hardlink(header, path)))) {
      throw invalidArgument(`unsupported tar entry type "${String(header.type)}"`);
    }
    this.markWritten(path);
    await this.setMeta(path, header, meta);
  }

  private async hardlink(header: Header, path: string): Promise<void> {
    const linkname = header.linkname ?? '';
    const target = await resolveInRoot(this.target.root, linkname);
    const st = await lstatOrUndefined(target);
    if (!st || target === this.target.root) {
      throw invalidArgument(`hardlink target "${linkname}" is not in the layer root`);
    }
    if (st.isDirectory()) throw invalidArgument(`hardlink target "${linkname}" is a directory`);
    await link(target, path);
  }

  /** Owner, xattrs, then mode (chown clears setuid and setgid), then times; a directory's times come last. */
  private async setMeta(path: string, header: Header, meta: EntryMeta): Promise<void> {
    await lchown(path, meta.uid, meta.gid);
    for (const [key, value] of meta.xattrs) {
      try {
        native().lsetxattr(path, key, value);
      } catch (err) {
        if (errnoCode(err) !== 'ENOTSUP') throw err;
        this.opts.log?.warn({ path, xattr: key }, 'xattr not supported by the filesystem; ignored');
      }
    }
    const isLink = header.type === 'symlink' || (header.type === 'link' && (await lstat(path)).isSymbolicLink());
    if (!isLink) await chmod(path, meta.mode);
    if (header.type === 'directory') {
      this.dirTimes.push({ name: relativeName(this.target.root, path), atime: meta.atime, mtime: meta.mtime });
    } else {
      await lutimes(path, meta.atime, meta.mtime);
    }
  }

  private async whiteout(dir: string, name: string, header: Header): Promise<void> {
    if (name === '' || name === '.' || name === '..') throw invalidArgument(`invalid whiteout "${header.name}"`);
    const path = join(dir, name);
    if (this.target.whiteouts === 'plain') {
      await rm(path, { recursive: true, force: true });
      return;
    }
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await rm(path, { recursive: true, force: true });
    const meta = entryMeta(header);
    native().mknod(path, fsConstants.S_IFCHR, 0, 0);
    await lchown(path, meta.uid, meta.gid);
    this.markWritten(path);
  }

  private async opaque(dir: string, header: Header): Promise<void> {
    const st = await lstatOrUndefined(dir);
    if (st && !st.isDirectory()) throw invalidArgument(`opaque whiteout "${header.name}": parent is not a directory`);
    if (this.target.whiteouts === 'overlay') {
      await mkdir(dir, { recursive: true, mode: 0o755 });
      native().lsetxattr(dir, overlayOpaqueXattr, Buffer.from('y'));
      return;
    }
    if (st) await this.removeUnwritten(dir);
  }

  /** Removes what dir holds that this layer did not write, descending into what it did write. */
  private async removeUnwritten(dir: string): Promise<void> {
    for (const ent of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, ent.name);
      if (!this.written.has(path)) await rm(path, { recursive: true, force: true });
      else if (ent.isDirectory()) await this.removeUnwritten(path);
    }
  }

  private markWritten(path: string): void {
    for (let p = path; p !== this.target.root && !this.written.has(p); p = dirname(p)) this.written.add(p);
  }

  /** Sets the times of the layer's directories, now that nothing more is written into them. */
  async finish(): Promise<void> {
    for (const { name, atime, mtime } of this.dirTimes) {
      // A later entry may have replaced the directory: resolve again, and touch only a directory.
      const path = await resolveInRoot(this.target.root, name);
      const st = await lstatOrUndefined(path);
      if (st?.isDirectory()) await lutimes(path, atime, mtime);
    }
  }
}

/**
 * Makes a tar entry's node at path: what is there goes first (a directory stays for a directory); the hard link
 * through `hardlink`, as each extractor checks its target its own way. False for a type it does not make (a
 * layer refuses it, a copy skips it).
 */
export async function makeNode(path: string, header: Header, data: Readable, existing: Stats | undefined, hardlink: () => Promise<void>): Promise<boolean> {
  if (existing && !(existing.isDirectory() && header.type === 'directory')) await rm(path, { recursive: true, force: true });
  switch (header.type) {
    case 'directory':
      if (!existing?.isDirectory()) await mkdir(path, { mode: 0o700 });
      return true;
    case 'file':
    case 'contiguous-file':
      await writeFile(path, data);
      return true;
    case 'symlink':
      await symlink(header.linkname ?? '', path);
      return true;
    case 'link':
      await hardlink();
      return true;
    case 'character-device':
    case 'block-device':
    case 'fifo': {
      const kind = header.type === 'fifo' ? fsConstants.S_IFIFO : header.type === 'block-device' ? fsConstants.S_IFBLK : fsConstants.S_IFCHR;
      native().mknod(path, kind | 0o600, header.devmajor ?? 0, header.devminor ?? 0);
      return true;
    }
    default:
      return false;
  }
}

/** Writes a new file (never through a link, never over one that is there) from a stream. */
export async function writeFile(path: string, data: Readable): Promise<void> {
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fsConstants;
  const file = await open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  try {
    for await (const chunk of data) {
      const buf = chunk as Buffer;
      for (let done = 0; done < buf.length; ) done += (await file.write(buf, done)).bytesWritten;
    }
  } finally {
    await file.close();
  }
}

export async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined;
    throw err;
  }
}

function relativeName(root: string, path: string): string {
  return path === root ? '' : path.slice(root.length + 1);
}
