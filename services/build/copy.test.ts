// COPY and ADD on real files: sources and their checks, docker's destination rules, owners and modes, ADD's
// archives and URLs, and the checksum the layer cache keys on. The context as ctrctl sends it and the daemon
// receives it (with .dockerignore applied on both sides).
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IgnoreMatcher } from '../../lib/build/dockerignore.js';
import { kindOf } from '../../lib/errdefs.js';
import { contextTar, openContext } from '../../cli/ctrctl/build-context.js';
import { pruneIgnored, receiveContext } from './context.js';
import { prepareCopy, type CopySourceSpec } from './copy.js';

let work: string;
let server: Server;
let base: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ctrd-copy-'));
  server = createServer((req, res) => {
    if (req.url === '/files/notes.txt') {
      res.writeHead(200, { 'last-modified': 'Wed, 21 Oct 2015 07:28:00 GMT' });
      res.end('remote notes\n');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(work, { recursive: true, force: true });
  expect(existsSync(work)).toBe(false);
});

/** A fresh directory with these files (text each; a name ending in / is a directory). */
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(work, 't-'));
  for (const [name, body] of Object.entries(files)) {
    if (name.endsWith('/')) mkdirSync(join(dir, name), { recursive: true });
    else {
      mkdirSync(join(dir, name, '..'), { recursive: true });
      writeFileSync(join(dir, name), body);
    }
  }
  return dir;
}

function spec(sourceRoot: string, sources: string[], extra: Partial<CopySourceSpec> = {}): CopySourceSpec {
  return { sourceRoot, sourceKind: 'context', sources, add: false, tempDir: mkdtempSync(join(work, 'dl-')), ...extra };
}

/** Copies into a fresh root with /etc/passwd and /etc/group; the root. */
async function copy(s: CopySourceSpec, dest: string, more: { workdir?: string; chown?: string; chmod?: string; root?: string } = {}): Promise<string> {
  const root = more.root ?? tree({ 'etc/passwd': 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n', 'etc/group': 'root:x:0:\nstaff:x:50:\n' });
  const p = await prepareCopy(s);
  try {
    await p.copyTo({ root, dest, workdir: more.workdir ?? '/', chown: more.chown, chmod: more.chmod });
  } finally {
    await p.dispose();
  }
  return root;
}

const read = (root: string, path: string) => readFileSync(join(root, path), 'utf8');

describe('COPY sources', () => {
  const ctx = () => tree({ 'a.txt': 'A', 'b.txt': 'B', 'c.md': 'C', 'dir/x': 'X', 'dir/sub/y': 'Y' });

  it('a file to a path, into a directory (trailing /), and relative to WORKDIR', async () => {
    const c = ctx();
    expect(read(await copy(spec(c, ['a.txt']), '/renamed'), 'renamed')).toBe('A');
    expect(read(await copy(spec(c, ['a.txt']), '/into/'), 'into/a.txt')).toBe('A');
    expect(read(await copy(spec(c, ['a.txt']), 'rel/', { workdir: '/app' }), 'app/rel/a.txt')).toBe('A');
  });

  it('a directory copies its contents; globs and several sources go into a directory', async () => {
    const c = ctx();
    const r = await copy(spec(c, ['dir']), '/dst');
    expect(readdirSync(join(r, 'dst')).sort()).toEqual(['sub', 'x']);
    expect(read(r, 'dst/sub/y')).toBe('Y');
    const g = await copy(spec(c, ['*.txt', 'c.md']), '/many');
    expect(readdirSync(join(g, 'many')).sort()).toEqual(['a.txt', 'b.txt', 'c.md']);
  });

  it('a file onto an existing directory goes inside it', async () => {
    const c = ctx();
    const root = tree({ 'srv/': '' });
    expect(read(await copy(spec(c, ['a.txt']), '/srv', { root }), 'srv/a.txt')).toBe('A');
  });

  it('owned by 0:0 unless --chown (names from the target root); modes kept unless --chmod', async () => {
    const c = ctx();
    chmodSync(join(c, 'a.txt'), 0o640);
    const plain = await copy(spec(c, ['a.txt']), '/f');
    expect(lstatSync(join(plain, 'f'))).toMatchObject({ uid: 0, gid: 0 });
    expect(lstatSync(join(plain, 'f')).mode & 0o7777).toBe(0o640);
    const owned = await copy(spec(c, ['dir']), '/d', { chown: 'app:staff', chmod: '0751' });
    expect(lstatSync(join(owned, 'd/sub/y'))).toMatchObject({ uid: 1000, gid: 50 });
    expect(lstatSync(join(owned, 'd/sub/y')).mode & 0o7777).toBe(0o751);
    expect(lstatSync(join(await copy(spec(c, ['a.txt']), '/n', { chown: '7:8' }), 'n'))).toMatchObject({ uid: 7, gid: 8 });
    await expect(copy(spec(c, ['a.txt']), '/x', { chown: 'nobody' })).rejects.toThrow('unable to find user nobody');
    await expect(copy(spec(c, ['a.txt']), '/x', { chmod: 'rwx' })).rejects.toThrow('invalid chmod parameter: rwx');
  });

  it('refuses a path leaving the context, a missing source, and a glob matching nothing, naming them', async () => {
    const c = ctx();
    const err = await prepareCopy(spec(c, ['../x'])).catch((e: unknown) => e);
    expect([kindOf(err), (err as Error).message]).toEqual(['invalid-argument', 'forbidden path outside the build context: ../x']);
    const missing = await prepareCopy(spec(c, ['nope.txt'])).catch((e: unknown) => e);
    expect([kindOf(missing), (missing as Error).message]).toEqual(['not-found', 'file not found in build context or excluded by .dockerignore: stat nope.txt: file does not exist']);
    await expect(prepareCopy(spec(c, ['*.nothing']))).rejects.toThrow('no source files were specified');
  });

  it('a symlink leading out of the context is followed inside it, never outside', async () => {
    const outside = tree({ 'secret': 'host file' });
    const c = tree({ 'inside/secret': 'context file' });
    // An absolute link is read as if the context were /; a relative one climbing out stops at its root.
    symlinkSync('/inside/secret', join(c, 'link'));
    symlinkSync(`../../../../..${outside}/secret`, join(c, 'climb'));
    expect(read(await copy(spec(c, ['link']), '/got'), 'got')).toBe('context file');
    await expect(prepareCopy(spec(c, ['climb']))).rejects.toThrow('file not found in build context');
  });
});

describe('ADD', () => {
  it('extracts local tar archives (gzip, xz) with their owners; a file named .tar that is no tar is copied', async () => {
    const src = tree({ 'pkg/bin/tool': '#!/bin/sh\n', 'pkg/README': 'read me' });
    const c = tree({ 'fake.tar': 'not a tar at all' });
    execFileSync('tar', ['--owner=42', '--group=43', '-czf', join(c, 'pkg.tar.gz'), '-C', src, 'pkg']);
    execFileSync('tar', ['-cJf', join(c, 'pkg.tar.xz'), '-C', src, 'pkg']);
    const r = await copy(spec(c, ['pkg.tar.gz'], { add: true }), '/opt/');
    expect(read(r, 'opt/pkg/README')).toBe('read me');
    expect(lstatSync(join(r, 'opt/pkg/README'))).toMatchObject({ uid: 42, gid: 43 });
    expect(read(await copy(spec(c, ['pkg.tar.xz'], { add: true }), '/x'), 'x/pkg/bin/tool')).toBe('#!/bin/sh\n');
    expect(read(await copy(spec(c, ['fake.tar'], { add: true }), '/f/'), 'f/fake.tar')).toBe('not a tar at all');
    // COPY never extracts.
    expect(lstatSync(join(await copy(spec(c, ['pkg.tar.gz']), '/c/'), 'c/pkg.tar.gz')).isFile()).toBe(true);
  });

  it('downloads a URL (mode 0600, its Last-Modified time); an unreachable one is Unavailable; COPY takes no URL', async () => {
    const c = tree({});
    const r = await copy(spec(c, [`${base}/files/notes.txt`], { add: true }), '/docs/');
    expect(read(r, 'docs/notes.txt')).toBe('remote notes\n');
    const st = lstatSync(join(r, 'docs/notes.txt'));
    expect(st.mode & 0o7777).toBe(0o600);
    expect(st.mtime.toISOString()).toBe('2015-10-21T07:28:00.000Z');
    // A port nothing listens on: a server's, closed again.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const gone = await prepareCopy(spec(c, [`http://127.0.0.1:${port}/x`], { add: true })).catch((e: unknown) => e);
    expect(kindOf(gone)).toBe('unavailable');
    expect((gone as Error).message).toBe(`ADD http://127.0.0.1:${port}/x: cannot fetch a remote URL (not supported offline): ECONNREFUSED`);
    await expect(prepareCopy(spec(c, [`${base}/files/notes.txt`]))).rejects.toThrow("source can't be a URL for COPY");
    await expect(prepareCopy(spec(c, [`${base}/missing`], { add: true }))).rejects.toThrow('404');
  });
});

describe('the checksum the cache keys on', () => {
  it('changes with a content, mode or name, not with a time', async () => {
    const c = tree({ 'dir/a': 'one', 'dir/b': 'two' });
    const sum = async () => (await prepareCopy(spec(c, ['dir']))).checksum;
    const first = await sum();
    expect(await sum()).toBe(first);
    utimesSync(join(c, 'dir/a'), new Date(0), new Date(0));
    expect(await sum()).toBe(first);
    writeFileSync(join(c, 'dir/a'), 'ONE');
    const content = await sum();
    expect(content).not.toBe(first);
    chmodSync(join(c, 'dir/a'), 0o600);
    const mode = await sum();
    expect(mode).not.toBe(content);
    writeFileSync(join(c, 'dir/c'), 'two');
    rmSync(join(c, 'dir/b'));
    expect(await sum()).not.toBe(mode);
    const p = await prepareCopy(spec(c, ['dir']));
    expect(p.summary).toBe(`dir:${p.checksum}`);
  });
});

describe('the context, sent and received', () => {
  it('ctrctl leaves out what .dockerignore excludes but the Dockerfile; the daemon applies it again', async () => {
    const c = tree({ Dockerfile: 'FROM scratch\n', '.dockerignore': '*.log\nDockerfile\nsecrets\n!secrets/public.pem\n', 'app.js': 'x', 'debug.log': 'no', 'secrets/key': 'no', 'secrets/public.pem': 'yes' });
    symlinkSync('app.js', join(c, 'link'));
    const { root, ignore } = await openContext(c);
    const dest = mkdtempSync(join(work, 'recv-'));
    const got = await receiveContext(contextTar(root, ignore, { always: ['Dockerfile', '.dockerignore'] }), dest);
    expect(got.entries).toBeGreaterThan(0);
    expect(readdirSync(dest).sort()).toEqual(['.dockerignore', 'Dockerfile', 'app.js', 'link', 'secrets']);
    expect(readdirSync(join(dest, 'secrets'))).toEqual(['public.pem']);
    expect(lstatSync(join(dest, 'link')).isSymbolicLink()).toBe(true);
    await pruneIgnored(dest, IgnoreMatcher.parse(readFileSync(join(dest, '.dockerignore'), 'utf8')));
    expect(readdirSync(dest).sort()).toEqual(['.dockerignore', 'app.js', 'link', 'secrets']);
  });

  it('a tar from elsewhere (gzip) is filtered by the daemon; an entry leaving the context is refused', async () => {
    const src = tree({ 'keep.txt': 'k', 'drop.tmp': 'd', '.dockerignore': '*.tmp\n' });
    const dest = mkdtempSync(join(work, 'recv-'));
    const tgz = execFileSync('tar', ['-cz', '-C', src, '.']);
    await receiveContext(Readable.from([tgz]), dest);
    await pruneIgnored(dest, IgnoreMatcher.parse('*.tmp\n'));
    expect(readdirSync(dest).sort()).toEqual(['.dockerignore', 'keep.txt']);
    const evil = execFileSync('tar', ['-c', '-P', '--transform', 's,^,../,', '-C', src, 'keep.txt']);
    await expect(receiveContext(Readable.from([evil]), mkdtempSync(join(work, 'recv-')))).rejects.toThrow('leaves the directory it is extracted into');
  });

  it('a context that is a symlink loop, or missing, is refused before anything is sent', async () => {
    const loop = join(work, 'loop');
    symlinkSync('loop', loop);
    await expect(openContext(loop)).rejects.toThrow('unable to prepare context: unable to evaluate symlinks in context path: lstat');
    await expect(openContext(join(work, 'nothing'))).rejects.toThrow('unable to prepare context: path');
  });
});
