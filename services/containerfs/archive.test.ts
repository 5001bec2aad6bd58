import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Header } from 'tar-stream';
import { checkEntry, checkTar, cleanEntryName, extractTar, rebase, statInRoot, treeTar } from './archive.js';
import { encodeHeader, endOfArchive, padding, type TarEntry } from '../diff/tar-header.js';

const entry = (e: Partial<TarEntry> & { name: string }, body = Buffer.alloc(0)) =>
  Buffer.concat([encodeHeader({ type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, ...e, size: body.length }), body, padding(body.length)]);
const tarOf = (...entries: Buffer[]) => Buffer.concat([...entries, endOfArchive]);
const h = (name: string, more: Partial<Header> = {}) => ({ name, type: 'file', ...more }) as Header;

async function collect(gen: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of gen) parts.push(p);
  return Buffer.concat(parts);
}

describe('entry checks', () => {
  it('cleans names and refuses those that climb out', () => {
    expect(cleanEntryName('./a//b/')).toBe('a/b');
    expect(cleanEntryName('/etc/passwd')).toBe('etc/passwd');
    expect(cleanEntryName('./')).toBe('');
    expect(cleanEntryName('a/../../b')).toBeUndefined();
    expect(() => checkEntry(h('../x'))).toThrow('tar entry "../x" leaves the directory it is extracted into');
    expect(() => checkEntry(h('a', { type: 'link', linkname: '../../etc/shadow' }))).toThrow('hardlink to "../../etc/shadow"');
    expect(() => checkEntry(h('a/b', { type: 'symlink', linkname: '../../x' }))).toThrow('symlink to "../../x"');
    expect(() => checkEntry(h('a/b', { type: 'symlink', linkname: '/etc/passwd' }))).not.toThrow();
    expect(() => checkEntry(h('a/b', { type: 'symlink', linkname: '../c' }))).not.toThrow();
  });

  it('rebases names as docker does', () => {
    expect(rebase('src', 'dst')('src')).toBe('dst');
    expect(rebase('src', 'dst')('src/a/b')).toBe('dst/a/b');
    expect(rebase('src', 'dst')('srcx')).toBe('srcx');
    expect(rebase('.', 'dst')('')).toBe('dst');
    expect(rebase('.', 'dst')('a')).toBe('dst/a');
  });

  it('checkTar counts a good tar and refuses a truncated or traversing one', async () => {
    const good = tarOf(entry({ name: 'a' }, Buffer.from('hello')), entry({ name: 'd/', type: 'directory', mode: 0o755 }));
    expect(await checkTar(Readable.from([good]))).toEqual({ entries: 2, size: good.length });
    await expect(checkTar(Readable.from([good.subarray(0, 700)]))).rejects.toThrow(/invalid tar: Unexpected end of data/);
    await expect(checkTar(Readable.from([tarOf(entry({ name: 'ok' }), entry({ name: 'x/../../y' }))]))).rejects.toThrow('"x/../../y"');
  });
});

describe('extractTar and treeTar', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'containerfs-archive-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('extracts inside the root only, symlinks on the way followed inside it', async () => {
    const root = path.join(dir, 'root');
    fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
    fs.symlinkSync('/etc', path.join(root, 'escape'));
    const tar = tarOf(entry({ name: 'escape/file', uid: 12, gid: 34, mode: 0o600 }, Buffer.from('inside')));
    expect(await extractTar(root, root, Readable.from([tar]), { owner: { keep: true } })).toBe(1);
    const st = fs.statSync(path.join(root, 'etc', 'file'));
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([12, 34, 0o600]);
    expect(fs.readFileSync(path.join(root, 'etc', 'file'), 'utf8')).toBe('inside');
    expect(fs.existsSync('/etc/file') && fs.readFileSync('/etc/file', 'utf8') === 'inside').toBe(false);
  });

  it('refuses to replace a directory with a file unless allowed, in a dry run first', async () => {
    const root = path.join(dir, 'root');
    fs.mkdirSync(path.join(root, 'd'), { recursive: true });
    const tar = tarOf(entry({ name: 'new' }, Buffer.from('x')), entry({ name: 'd' }, Buffer.from('x')));
    await expect(extractTar(root, root, Readable.from([tar]), { owner: { keep: false } }, true)).rejects.toThrow('cannot overwrite directory "/d" with non-directory "d"');
    expect(fs.existsSync(path.join(root, 'new'))).toBe(false);
    await extractTar(root, root, Readable.from([tar]), { owner: { keep: false }, allowOverwriteDirWithFile: true });
    expect(fs.readFileSync(path.join(root, 'd'), 'utf8')).toBe('x');
  });

  it('treeTar round-trips a tree through extractTar, renamed, and statInRoot describes a symlink by its target', async () => {
    const src = path.join(dir, 'src');
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(src, 'sub', 'f'), 'data');
    fs.linkSync(path.join(src, 'sub', 'f'), path.join(src, 'hard'));
    fs.symlinkSync('sub/f', path.join(src, 'soft'));
    const tar = await collect(treeTar(src, 'src'));
    const out = path.join(dir, 'out');
    fs.mkdirSync(out);
    await extractTar(out, out, Readable.from([tar]), { owner: { keep: true }, rename: rebase('src', 'copy') });
    expect(fs.readFileSync(path.join(out, 'copy', 'sub', 'f'), 'utf8')).toBe('data');
    expect(fs.statSync(path.join(out, 'copy', 'hard')).ino).toBe(fs.statSync(path.join(out, 'copy', 'sub', 'f')).ino);
    expect(fs.readlinkSync(path.join(out, 'copy', 'soft'))).toBe('sub/f');
    const st = await statInRoot(out, '/copy/soft');
    expect([st.name, st.linkTarget]).toEqual(['soft', '/copy/sub/f']);
    await expect(statInRoot(out, '/nothing')).rejects.toThrow('Could not find the file /nothing in container');
  });
});
