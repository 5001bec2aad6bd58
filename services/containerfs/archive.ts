// Tar archives of paths inside a root and back, as docker cp, export and import need them. Everything is
// resolved inside the root (resolve-in-root.ts): a name, a symlink on the way or a hardlink target never
// leads out of it. A tar from outside is checked whole (checkTar) before extractTar writes anything: an
// entry, hardlink or symlink that would leave the directory it is extracted into is InvalidArgument naming
// it, as docker's breakout check. Used by the daemon (container side) and by ctrctl (host side).
import type { BigIntStats } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, readdir, stat } from 'node:fs/promises';
import { dirname, join, posix, relative } from 'node:path';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import type { Header } from 'tar-stream';
import { errnoCode, failedPrecondition, invalidArgument, notFound } from '../../lib/errdefs.js';
import { native } from '../../lib/native.js';
import { layerXattrs } from '../diff/changes.js';
import { cleanRelative, isInside, resolveDirInRoot, resolveInRoot } from '../diff/resolve-in-root.js';
import { encodeHeader, endOfArchive, padding } from '../diff/tar-header.js';
import { entryMeta, tarExtractor } from '../diff/tar-reader.js';
import { fileContent, tarEntryOf } from '../diff/layer-tar.js';
import { lstatOrUndefined, makeNode } from '../diff/apply.js';

/** What a path is, as docker's X-Docker-Container-Path-Stat says it. */
export interface PathInfo {
  name: string;
  size: number;
  /** st_mode: type and permission bits. */
  mode: number;
  mtime: Date;
  /** A symlink's target, every link followed inside the root, as an absolute path of the root. */
  linkTarget: string;
  uid: number;
  gid: number;
}

/**
 * lstat, except for a process's root (/proc/<pid>/root, a running container's root), which is a magic link
 * to a directory: that one is followed.
 */
export function lstatEntry(path: string) {
  return /^\/proc\/\d+\/root$/.test(path) ? stat(path, { bigint: true }) : lstat(path, { bigint: true });
}

/** Whether a path names a directory's contents or the directory itself for sure: "x/" and "x/." do. */
export const endsInDirectory = (path: string) => path.endsWith('/') || path.endsWith('/.') || path === '.';

/**
 * Where path is inside root: the last component is not followed, unless the path ends in "/" or "/." (then
 * it is the directory itself, as docker's ResolvePath).
 */
export async function hostPathInRoot(root: string, path: string): Promise<string> {
  return endsInDirectory(path) ? resolveDirInRoot(root, path) : resolveInRoot(root, path);
}

/** The stat of path inside root; NotFound naming the path when nothing is there. */
export async function statInRoot(root: string, path: string): Promise<PathInfo> {
  const host = await hostPathInRoot(root, path);
  let st: BigIntStats;
  try {
    st = await lstatEntry(host);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') throw notFound(`Could not find the file ${path} in container`);
    throw err;
  }
  let linkTarget = '';
  if (st.isSymbolicLink()) linkTarget = '/' + relative(root, await resolveDirInRoot(root, path));
  const abs = '/' + cleanRelative(path);
  return {
    name: abs === '/' ? '/' : posix.basename(abs),
    size: Number(st.size),
    mode: Number(st.mode),
    mtime: new Date(Number(st.mtimeNs / 1_000_000n)),
    linkTarget,
    uid: Number(st.uid),
    gid: Number(st.gid),
  };
}

// ---- writing ----

export interface TreeTarOptions {
  /** Directories whose contents are left out (pseudo filesystems mounted in a running container). */
  readonly skipContents?: ReadonlySet<string>;
  /**
   * With name '': decides for each entry by its name: 'take' it, 'skip' it and what is below it, or leave
   * it out but look 'below' it (a build context's .dockerignore). Everything is taken without one.
   */
  readonly filter?: (name: string, isDir: boolean) => 'take' | 'skip' | 'below';
  readonly signal?: AbortSignal;
}

/**
 * The tar of the tree at host (a file, a directory, anything), its entries named from name: "name" (or
 * "name/") for host itself, then "name/child"... With name '' host itself is left out and its children are
 * named "child", as docker export writes a root. Owners, modes, times (seconds), xattrs, links kept; files
 * that share an inode become hardlinks to the first name written; sockets are left out.
 */
export async function* treeTar(host: string, name: string, opts: TreeTarOptions = {}): AsyncGenerator<Buffer> {
  const firstNameOfInode = new Map<string, string>();
  async function* walk(path: string, entryName: string): AsyncGenerator<Buffer> {
    opts.signal?.throwIfAborted();
    const st = await lstatEntry(path);
    const verdict = entryName !== '' && opts.filter ? opts.filter(entryName, st.isDirectory()) : 'take';
    if (verdict === 'skip') return;
    if (entryName !== '' && verdict === 'take') yield* entry(path, entryName, st, firstNameOfInode);
    if (!st.isDirectory() || opts.skipContents?.has(path)) return;
    const names = (await readdir(path)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const child of names) yield* walk(join(path, child), entryName === '' ? child : `${entryName}/${child}`);
  }
  yield* walk(host, name);
  yield endOfArchive;
}

async function* entry(path: string, name: string, st: BigIntStats, firstNameOfInode: Map<string, string>): AsyncGenerator<Buffer> {
  const e = await tarEntryOf(path, name, st, firstNameOfInode, xattrsOf);
  if (!e) return;
  yield encodeHeader(e);
  if (e.type === 'file' && e.size > 0) {
    yield* fileContent(path, e.size, 'pad');
    yield padding(e.size);
  }
}

/** The xattrs of a path; none where the filesystem has none to give (proc, sysfs). */
function xattrsOf(path: string): Map<string, Buffer> {
  try {
    return layerXattrs(path);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EACCES' || code === 'EPERM') return new Map();
    throw err;
  }
}

// ---- checking ----

/** An entry's name as a clean relative path, or undefined when it climbs out of where it is extracted. */
export function cleanEntryName(name: string): string | undefined {
  const n = posix.normalize(name.replace(/^\/+/, ''));
  if (n === '..' || n.startsWith('../')) return undefined;
  return n === '.' || n === './' ? '' : n.replace(/\/+$/, '').replace(/^\.\//, '');
}

/** Refuses an entry that leaves the directory it is extracted into: by its name, hardlink or relative symlink. */
export function checkEntry(header: Header): void {
  const name = cleanEntryName(header.name);
  if (name === undefined) throw invalidArgument(`tar entry "${header.name}" leaves the directory it is extracted into`);
  if (header.type === 'link' && cleanEntryName(header.linkname ?? '') === undefined) {
    throw invalidArgument(`tar entry "${header.name}": hardlink to "${header.linkname ?? ''}" leaves the directory it is extracted into`);
  }
  if (header.type === 'symlink') {
    const target = header.linkname ?? '';
    if (!target.startsWith('/') && cleanEntryName(posix.join(posix.dirname(name), target)) === undefined) {
      throw invalidArgument(`tar entry "${header.name}": symlink to "${target}" leaves the directory it is extracted into`);
    }
  }
}

export interface TarSummary {
  entries: number;
  /** Bytes of tar read. */
  size: number;
}

/**
 * Reads a whole tar, handing each chunk to onChunk (a spool, a hash, a compressor) and checking every entry
 * (checkEntry). A truncated or corrupt tar is InvalidArgument. onChunk's backpressure is respected.
 */
export async function checkTar(src: AsyncIterable<Buffer>, onChunk: (chunk: Buffer) => Promise<void> | void = () => undefined): Promise<TarSummary> {
  const ex = tarExtractor();
  let entries = 0;
  let size = 0;
  let failure: unknown;
  ex.on('entry', (header, stream, next) => {
    // The parser's failure reaches the entry too: it is reported once, by the parser.
    stream.on('error', () => undefined);
    try {
      checkEntry(header);
      entries++;
    } catch (err) {
      failure ??= err;
      ex.destroy(err as Error);
      return;
    }
    stream.on('end', next);
    stream.resume();
  });
  const finished = new Promise<void>((resolve, reject) => {
    ex.on('finish', resolve);
    ex.on('close', () => (failure ? reject(failure) : resolve()));
    ex.on('error', (err) => {
      failure ??= err;
      reject(failure);
    });
  });
  finished.catch(() => undefined);
  try {
    for await (const chunk of src) {
      if (failure) break;
      size += chunk.length;
      await onChunk(chunk);
      if (!ex.write(chunk)) await Promise.race([once(ex, 'drain'), finished]);
    }
    if (!failure) ex.end(undefined);
    await finished;
  } catch (err) {
    ex.destroy();
    throw tarError(failure ?? err);
  }
  if (failure) throw tarError(failure);
  return { entries, size };
}

function tarError(err: unknown): Error {
  // Our own kinds, and failures to read or write files (not the tar's fault), stay what they are.
  if (err instanceof Error && ('kind' in err || 'syscall' in err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return invalidArgument(`invalid tar: ${message}`, err);
}

// ---- extracting ----

export type Owner = { keep: true } | { keep: false; uid: number; gid: number } | { keep: false; uid?: undefined; gid?: undefined };

export interface ExtractOptions {
  /** Let a file replace a directory and a directory a file; refused otherwise (docker's NoOverwriteDirNonDir). */
  readonly allowOverwriteDirWithFile?: boolean;
  /** The tar's owners, fixed ones, or none set at all (files belong to whoever extracts). */
  readonly owner: Owner;
  /** Renames entries (and hardlink targets) before they are extracted: docker's archive rebasing. */
  readonly rename?: (name: string) => string;
  /** Permission bits every entry gets in place of its own (a build's COPY --chmod). */
  readonly chmod?: number;
  readonly signal?: AbortSignal;
}

/**
 * Extracts a tar (already checked) into dir, a directory inside root. Every name is resolved inside root.
 * With dryRun nothing is written: the conflicts (a directory and a file replacing each other) are found
 * first, so that a refused copy changes nothing.
 */
export async function extractTar(root: string, dir: string, src: Readable, opts: ExtractOptions, dryRun = false): Promise<number> {
  if (!isInside(root, dir)) throw invalidArgument(`"${dir}" is not inside "${root}"`);
  const base = relative(root, dir);
  const ex = tarExtractor();
  src.on('error', (err) => ex.destroy(err));
  src.pipe(ex);
  const dirTimes: Array<{ path: string; atime: number; mtime: number }> = [];
  let count = 0;
  try {
    for await (const e of ex as AsyncIterable<Readable & { header: Header }>) {
      opts.signal?.throwIfAborted();
      e.on('error', () => undefined); // the parser's failure, reported by the loop
      const header = e.header;
      checkEntry(header);
      const name = rename(opts, cleanEntryName(header.name)!);
      if (name === '' || ['pax-header', 'pax-global-header', 'gnu-long-path', 'gnu-long-link-path'].includes(header.type ?? '')) {
        e.resume();
        continue;
      }
      const path = await resolveInRoot(root, posix.join(base, name));
      if (!isInside(root, path) || path === root) throw invalidArgument(`tar entry "${header.name}" resolves outside the container root`);
      const existing = await lstatOrUndefined(path);
      const isDir = header.type === 'directory';
      if (existing && !opts.allowOverwriteDirWithFile) {
        if (existing.isDirectory() && !isDir) throw failedPrecondition(`cannot overwrite directory "${'/' + relative(root, path)}" with non-directory "${header.name}"`);
        if (!existing.isDirectory() && isDir) throw failedPrecondition(`cannot overwrite non-directory "${'/' + relative(root, path)}" with directory "${header.name}"`);
      }
      if (dryRun) {
        e.resume();
        count++;
        continue;
      }
      await mkdir(dirname(path), { recursive: true, mode: 0o755 });
      const made = await makeNode(path, header, e, existing, async () => {
        const target = await resolveInRoot(root, posix.join(base, rename(opts, cleanEntryName(header.linkname ?? '')!)));
        const st = await lstatOrUndefined(target);
        if (!st || st.isDirectory() || !isInside(root, target)) throw invalidArgument(`tar entry "${header.name}": hardlink target "${header.linkname ?? ''}" is not a file in the archive`);
        await link(target, path);
      });
      if (!made) {
        e.resume();
        continue;
      }
      e.resume();
      count++;
      const meta = entryMeta(header);
      if (opts.owner.keep) await lchown(path, meta.uid, meta.gid);
      else if (opts.owner.uid !== undefined) await lchown(path, opts.owner.uid, opts.owner.gid);
      for (const [key, value] of meta.xattrs) {
        try {
          native().lsetxattr(path, key, value);
        } catch (err) {
          if (!['ENOTSUP', 'EOPNOTSUPP', 'EPERM'].includes(errnoCode(err) ?? '')) throw err;
        }
      }
      const st = await lstat(path);
      if (!st.isSymbolicLink()) await chmod(path, opts.chmod ?? meta.mode);
      if (isDir) dirTimes.push({ path, atime: meta.atime, mtime: meta.mtime });
      else await lutimes(path, meta.atime, meta.mtime);
    }
  } catch (err) {
    throw err instanceof Error && 'kind' in err ? err : tarError(err);
  } finally {
    ex.destroy();
    src.unpipe(ex);
  }
  // Directory times last: what was written into them moved their mtime.
  for (const { path, atime, mtime } of dirTimes.reverse()) {
    const st = await lstatOrUndefined(path);
    if (st?.isDirectory()) await lutimes(path, atime, mtime);
  }
  return count;
}

function rename(opts: ExtractOptions, name: string): string {
  if (!opts.rename) return name;
  const renamed = cleanEntryName(opts.rename(name));
  if (renamed === undefined) throw invalidArgument(`tar entry "${name}" leaves the directory it is extracted into`);
  return renamed;
}

/**
 * docker's RebaseArchiveEntries as a rename: an entry named oldBase, or below it, takes newBase instead
 * ("." as oldBase renames the entries of a directory's contents).
 */
export function rebase(oldBase: string, newBase: string): (name: string) => string {
  const from = oldBase === '.' ? '' : oldBase;
  return (name) => {
    if (from === '') return name === '' ? newBase : `${newBase}/${name}`;
    if (name === from) return newBase;
    if (name.startsWith(from + '/')) return newBase + name.slice(from.length);
    return name;
  };
}
