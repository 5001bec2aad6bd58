// COPY and ADD into a build step's root filesystem, with docker's rules:
//   sources   paths of the context (a `..` leaving it is refused) or of a stage's or image's root (COPY
//             --from), symlinks followed inside that root; Go filepath.Match globs; ADD's http(s) URLs are
//             downloaded (a host that cannot be reached is Unavailable: the builder runs offline)
//   dest      relative to WORKDIR; a directory when it ends in '/', when there are several sources (or a
//             glob), or when it is one already; parents made as needed
//   copying   a directory copies its contents; ADD extracts a local tar archive (plain, gzip, bzip2, xz, zstd)
//             into the destination; everything is owned by 0:0 unless --chown (an archive keeps its owners),
//             with its own mode unless --chmod; times kept
// prepareCopy resolves the sources and checksums them for the layer cache (names, types, modes, owners,
// sizes, contents; not times, as docker), before anything is written.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, rm, utimes } from 'node:fs/promises';
import { basename, join, posix } from 'node:path';
import { PassThrough, pipeline, Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { errnoCode, invalidArgument, notFound, unavailable } from '../../lib/errdefs.js';
import { resolveUser } from '../../lib/oci/user.js';
import { globRegExp } from '../../lib/build/dockerignore.js';
import { decompressor, detectCompression } from '../diff/compression.js';
import { readFileInRoot, resolveDirInRoot, resolveInRoot } from '../diff/resolve-in-root.js';
import { extractTar, treeTar, type Owner } from '../containerfs/archive.js';

export interface CopySourceSpec {
  sourceRoot: string;
  sourceKind: 'context' | 'rootfs';
  sources: string[];
  add: boolean;
  tempDir: string;
  signal?: AbortSignal;
}

export interface CopyTarget {
  root: string;
  dest: string;
  workdir: string;
  chown?: string;
  chmod?: string;
}

export interface PreparedCopy {
  checksum: string;
  summary: string;
  copyTo(target: CopyTarget, signal?: AbortSignal): Promise<void>;
  dispose(): Promise<void>;
}

/** One source, resolved: where it is on the host and the name it is copied under. */
interface Source {
  host: string;
  name: string;
  isDir: boolean;
  /** ADD only: how the local archive is compressed; undefined when it is not a tar to extract. */
  archive?: ArchiveKind;
}

type ArchiveKind = 'none' | 'gzip' | 'zstd' | 'bzip2' | 'xz';

const hasGlob = (s: string) => /(^|[^\\])[*?[]/.test(s);
const downloadTimeoutMs = 30_000;

export async function prepareCopy(spec: CopySourceSpec): Promise<PreparedCopy> {
  if (spec.sources.length === 0) throw invalidArgument('no source files were specified');
  const sources: Source[] = [];
  let downloads = 0;
  for (const src of spec.sources) {
    spec.signal?.throwIfAborted();
    if (/^https?:\/\//i.test(src)) {
      if (!spec.add) throw invalidArgument(`source can't be a URL for COPY: ${src}`);
      sources.push(await download(src, join(spec.tempDir, `download-${downloads++}`), spec.signal));
      continue;
    }
    const found = await resolveSources(spec, src);
    if (spec.add) for (const s of found) if (!s.isDir) s.archive = await archiveKind(s.host);
    sources.push(...found);
  }
  const hash = createHash('sha256');
  for (const s of sources) await checksumTree(hash, s.host, s.name, spec.signal);
  const checksum = hash.digest('hex');
  const kind = sources.length > 1 ? 'multi' : sources[0]!.isDir ? 'dir' : 'file';
  const manyDests = sources.length > 1 || spec.sources.some(hasGlob);
  return {
    checksum,
    summary: `${kind}:${checksum}`,
    copyTo: (target, signal) => copyTo(sources, manyDests, target, signal),
    dispose: async () => {
      for (let i = 0; i < downloads; i++) await rm(join(spec.tempDir, `download-${i}`), { recursive: true, force: true });
    },
  };
}

/** The sources a word names: itself, or what its glob matches. */
async function resolveSources(spec: CopySourceSpec, src: string): Promise<Source[]> {
  let rel = src;
  if (spec.sourceKind === 'context') {
    const clean = posix.normalize(src);
    if (clean === '..' || clean.startsWith('../')) throw invalidArgument(`forbidden path outside the build context: ${src}`);
    rel = clean.replace(/^\/+/, '');
  }
  const names = hasGlob(rel) ? await glob(spec.sourceRoot, rel) : [rel];
  if (names.length === 0) throw invalidArgument(`no source files were specified: nothing matches ${src}`);
  const out: Source[] = [];
  for (const name of names) {
    const host = await resolveDirInRoot(spec.sourceRoot, name);
    let st;
    try {
      st = await lstat(host);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') {
        throw notFound(`file not found in build context or excluded by .dockerignore: stat ${src}: file does not exist`);
      }
      throw err;
    }
    out.push({ host, name: basename(posix.normalize(`/${name}`)) || '.', isDir: st.isDirectory() });
  }
  return out;
}

/** Go's filepath.Glob inside root, component by component; the matches' names, sorted. */
async function glob(root: string, pattern: string): Promise<string[]> {
  let found = [''];
  for (const part of pattern.split('/').filter((p) => p !== '' && p !== '.')) {
    const next: string[] = [];
    for (const dir of found) {
      if (!hasGlob(part)) {
        next.push(dir === '' ? part : `${dir}/${part}`);
        continue;
      }
      const re = globRegExp(part);
      let names: string[];
      try {
        names = await readdir(await resolveDirInRoot(root, dir));
      } catch (err) {
        if (['ENOENT', 'ENOTDIR'].includes(errnoCode(err) ?? '')) continue;
        throw err;
      }
      for (const n of names.sort()) if (re.test(n)) next.push(dir === '' ? n : `${dir}/${n}`);
    }
    found = next;
  }
  const existing: string[] = [];
  for (const f of found) if (await lstat(await resolveInRoot(root, f)).then(() => true, () => false)) existing.push(f);
  return existing;
}

/** Adds a tree to the checksum: every entry's name, type, mode, owner, size and content (not its times). */
async function checksumTree(hash: ReturnType<typeof createHash>, host: string, name: string, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  const st = await lstat(host);
  const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other';
  let content = '';
  if (st.isFile()) {
    const h = createHash('sha256');
    for await (const chunk of createReadStream(host)) h.update(chunk as Buffer);
    content = h.digest('hex');
  } else if (st.isSymbolicLink()) content = await readlink(host);
  hash.update(`${JSON.stringify([name, type, st.mode & 0o7777, st.uid, st.gid, st.isFile() ? st.size : 0, content])}\n`);
  if (!st.isDirectory()) return;
  for (const child of (await readdir(host)).sort()) await checksumTree(hash, join(host, child), `${name}/${child}`, signal);
}

/** What a file is as ADD sees it: a tar (compressed or not) to extract, or undefined for a plain file. */
async function archiveKind(file: string): Promise<ArchiveKind | undefined> {
  const head = Buffer.alloc(512);
  const fh = await open(file, 'r');
  let n: number;
  try {
    n = (await fh.read(head, 0, 512, 0)).bytesRead;
  } finally {
    await fh.close();
  }
  const first = head.subarray(0, n);
  let kind: ArchiveKind = 'none';
  if (first.subarray(0, 3).toString('latin1') === 'BZh') kind = 'bzip2';
  else if (first.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) kind = 'xz';
  else {
    const c = detectCompression(first);
    if (c === 'gzip' || c === 'zstd') kind = c;
  }
  const plainHead = kind === 'none' ? first : await firstBytes(decompress(createReadStream(file), kind), 512);
  return isTarHeader(plainHead) ? kind : undefined;
}

/** A tar header block: its checksum adds up (ustar or old v7). */
function isTarHeader(b: Buffer): boolean {
  if (b.length < 512) return false;
  const stored = Number.parseInt(b.subarray(148, 156).toString('latin1').replace(/\0.*$/, '').trim(), 8);
  if (Number.isNaN(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : b[i]!;
  return sum === stored;
}

function decompress(src: Readable, kind: ArchiveKind): Readable {
  if (kind === 'none') return src;
  if (kind === 'gzip' || kind === 'zstd') return pipeline(src, decompressor(kind)!, () => undefined);
  const child = spawn(kind, ['-dc'], { stdio: ['pipe', 'pipe', 'ignore'] });
  const out = new PassThrough();
  src.pipe(child.stdin);
  child.stdin.on('error', () => undefined);
  child.stdout.pipe(out);
  child.on('error', (err) => out.destroy(err));
  child.on('close', (code) => {
    if (code !== 0 && code !== null) out.destroy(invalidArgument(`${kind} -dc failed with exit status ${code}`));
  });
  out.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
  return out;
}

async function firstBytes(src: Readable, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  try {
    for await (const chunk of src) {
      parts.push(chunk as Buffer);
      got += (chunk as Buffer).length;
      if (got >= n) break;
    }
  } catch {
    // Not what it claimed to be: not an archive.
  } finally {
    src.destroy();
  }
  return Buffer.concat(parts).subarray(0, n);
}

/** ADD <url>: the file, named from the URL's path, mode 0600, its time from Last-Modified. */
async function download(url: string, dir: string, signal?: AbortSignal): Promise<Source> {
  let name = '';
  try {
    name = basename(decodeURIComponent(new URL(url).pathname));
  } catch {
    throw invalidArgument(`ADD ${url}: not a valid URL`);
  }
  if (name === '' || name === '/') name = 'index.html';
  const timeout = AbortSignal.timeout(downloadTimeoutMs);
  let res: Response;
  try {
    res = await fetch(url, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout, redirect: 'follow' });
  } catch (err) {
    signal?.throwIfAborted();
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw unavailable(`ADD ${url}: cannot fetch a remote URL (not supported offline): ${cause?.code ?? cause?.message ?? (err as Error).message}`, err);
  }
  if (!res.ok || !res.body) throw unavailable(`ADD ${url}: cannot fetch a remote URL: ${res.status} ${res.statusText}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, name);
  const out = createWriteStream(file, { mode: 0o600 });
  await finished(Readable.fromWeb(res.body as Parameters<typeof Readable.fromWeb>[0]).pipe(out));
  const modified = Date.parse(res.headers.get('last-modified') ?? '');
  if (!Number.isNaN(modified)) await utimes(file, new Date(modified), new Date(modified));
  return { host: file, name, isDir: false };
}

/** --chown in the target's users and groups; --chmod as octal. */
async function ownership(target: CopyTarget): Promise<{ owner?: { uid: number; gid: number }; chmod?: number }> {
  const out: { owner?: { uid: number; gid: number }; chmod?: number } = {};
  if (target.chown !== undefined && target.chown !== '') {
    const u = resolveUser(target.chown, await readFileInRoot(target.root, 'etc/passwd'), await readFileInRoot(target.root, 'etc/group'));
    out.owner = { uid: u.uid, gid: u.gid };
  }
  if (target.chmod !== undefined && target.chmod !== '') {
    if (!/^[0-7]{3,4}$/.test(target.chmod)) throw invalidArgument(`invalid chmod parameter: ${target.chmod}: must be octal, as 0755`);
    out.chmod = Number.parseInt(target.chmod, 8);
  }
  return out;
}

async function copyTo(sources: readonly Source[], manyDests: boolean, target: CopyTarget, signal?: AbortSignal): Promise<void> {
  const { owner, chmod } = await ownership(target);
  const destPath = posix.isAbsolute(target.dest) ? target.dest : posix.join(target.workdir || '/', target.dest);
  const destHost = await resolveDirInRoot(target.root, destPath);
  const existing = await lstat(destHost).catch(() => undefined);
  const destIsDir = target.dest.endsWith('/') || target.dest.endsWith('/.') || manyDests || existing?.isDirectory() === true;
  const fixed: Owner = owner ? { keep: false, ...owner } : { keep: false, uid: 0, gid: 0 };
  const makeDir = async (dir: string) => {
    await mkdir(dir, { recursive: true, mode: 0o755 });
  };
  for (const s of sources) {
    signal?.throwIfAborted();
    if (s.isDir || s.archive !== undefined) {
      await makeDir(destHost);
      const tar = s.isDir ? Readable.from(treeTar(s.host, '', { signal })) : decompress(createReadStream(s.host), s.archive!);
      await extractTar(target.root, destHost, tar, { owner: s.isDir || owner ? fixed : { keep: true }, chmod, signal, allowOverwriteDirWithFile: false });
      continue;
    }
    const parent = destIsDir ? destHost : posix.dirname(destHost);
    const name = destIsDir ? s.name : posix.basename(destHost);
    await makeDir(parent);
    await extractTar(target.root, parent, Readable.from(treeTar(s.host, name, { signal })), { owner: fixed, chmod, signal });
  }
}
