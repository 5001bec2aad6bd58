// applyLayer on the real filesystem: every entry type and attribute, both whiteout modes (the overlay one
// checked through a real overlay mount), diff IDs, broken streams, and every way a layer could try to write
// outside its root.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CtrdError } from '../../lib/errdefs.js';
import { native } from '../../lib/native.js';
import {
  copyTree,
  gzip,
  hasZstd,
  listTree,
  netRawCapability,
  packTar,
  rawEntry,
  rawTar,
  sha256Of,
  zstd,
  type PackEntry,
} from '../../test/harness/layers.js';
import { applyLayer, type WhiteoutMode } from './apply.js';
import { mountsUnder } from './mounts.js';
import { endOfArchive } from './tar-header.js';
import type { Compression } from './types.js';

let base: string;
let root: string;
let outside: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'ctrd-apply-'));
  root = join(base, 'root');
  outside = join(base, 'outside');
  mkdirSync(root);
  mkdirSync(join(outside, 'dir'), { recursive: true });
  writeFileSync(join(outside, 'canary'), 'canary');
  writeFileSync(join(outside, 'dir', 'canary2'), 'canary2');
});

afterEach(() => {
  expect(mountsUnder(base)).toEqual([]);
  rmSync(base, { recursive: true, force: true });
});

const layerName = 'sha256:' + 'ab'.repeat(32);

function apply(dir: string, data: Buffer, opts: { whiteouts?: WhiteoutMode; compression?: Compression } = {}) {
  return applyLayer({ root: dir, whiteouts: opts.whiteouts ?? 'plain' }, Readable.from([data]), {
    name: layerName,
    compression: opts.compression ?? 'none',
  });
}

async function applyError(dir: string, data: Buffer, opts: { whiteouts?: WhiteoutMode; compression?: Compression } = {}): Promise<CtrdError> {
  const err = await apply(dir, data, opts).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CtrdError);
  return err as CtrdError;
}

/** A tar-stream tar without its end-of-archive, so that raw entries can follow. */
async function packed(entries: PackEntry[]): Promise<Buffer> {
  const tar = await packTar(entries);
  return tar.subarray(0, tar.length - endOfArchive.length);
}

const T = (s: number) => new Date(s * 1000);

describe('applyLayer', () => {
  it('writes every entry type with its owner, mode, times and xattrs', async () => {
    const cap = netRawCapability();
    const binary = Buffer.from([0x00, 0xff, 0x80, 0x0a]);
    const tar = Buffer.concat([
      await packed([
        { name: 'etc/', type: 'directory', mode: 0o755, mtime: T(1_000_000_000) },
        { name: 'etc/passwd', mode: 0o644, body: 'root:x:0:0::/root:/bin/sh\n', mtime: T(1_000_000_001) },
        { name: 'home/', type: 'directory', mode: 0o755, mtime: T(1_000_000_002) },
        { name: 'home/user/', type: 'directory', mode: 0o700, uid: 1000, gid: 1000, mtime: T(1_000_000_003) },
        { name: 'home/user/.profile', mode: 0o600, uid: 1000, gid: 1000, body: 'PS1=$\n', mtime: T(1_000_000_004) },
        { name: 'usr/', type: 'directory', mode: 0o755, mtime: T(1_000_000_005) },
        { name: 'usr/bin/', type: 'directory', mode: 0o755, mtime: T(1_000_000_006) },
        { name: 'usr/bin/busybox', mode: 0o755, body: 'ELF', mtime: T(1_000_000_007) },
        { name: 'usr/bin/su', mode: 0o4755, uid: 0, gid: 0, body: 'su', mtime: T(1_000_000_008) },
        { name: 'usr/bin/su2', type: 'link', linkname: 'usr/bin/su', mode: 0o4755, mtime: T(1_000_000_008) },
        { name: 'usr/bin/sh', type: 'symlink', linkname: 'busybox', uid: 5, gid: 6, mtime: T(1_000_000_009) },
        { name: 'tmp/', type: 'directory', mode: 0o1777, mtime: T(1_000_000_010) },
        { name: 'srv/', type: 'directory', mode: 0o2775, gid: 50, mtime: T(1_000_000_011) },
        { name: 'dev/', type: 'directory', mode: 0o755, mtime: T(1_000_000_012) },
        { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666, mtime: T(1_000_000_013) },
        { name: 'dev/loop0', type: 'block-device', devmajor: 7, devminor: 0, mode: 0o660, gid: 6, mtime: T(1_000_000_014) },
        { name: 'run/', type: 'directory', mode: 0o755, mtime: T(1_000_000_015) },
        { name: 'run/fifo', type: 'fifo', mode: 0o620, uid: 7, mtime: T(1_000_000_016) },
      ]),
      rawEntry(
        {
          name: 'usr/bin/ping',
          type: 'file',
          mode: 0o755,
          uid: 0,
          gid: 0,
          size: 0,
          mtime: 1_000_000_017,
          xattrs: new Map([
            ['security.capability', cap],
            ['user.note', Buffer.from('pings')],
          ]),
        },
        Buffer.from('ping'),
      ),
      rawEntry({ name: 'usr/lib', type: 'symlink', linkname: '../lib', mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 1_000_000_018, xattrs: new Map([['trusted.on-link', binary]]) }),
      rawEntry({ name: 'srv/data', type: 'directory', mode: 0o750, uid: 33, gid: 33, size: 0, mtime: 1_000_000_019, xattrs: new Map([['trusted.bin', binary]]) }),
      endOfArchive,
    ]);

    const applied = await apply(root, tar);
    expect(applied).toEqual({ digest: sha256Of(tar), size: tar.length });

    const listing = listTree(root);
    const su = listing['usr/bin/su']!;
    expect(listing).toEqual({
      dev: { type: 'dir', mode: '755', uid: 0, gid: 0, mtime: 1_000_000_012 },
      'dev/loop0': { type: 'block', mode: '660', uid: 0, gid: 6, mtime: 1_000_000_014, rdev: 0x700 },
      'dev/null': { type: 'char', mode: '666', uid: 0, gid: 0, mtime: 1_000_000_013, rdev: 0x103 },
      etc: { type: 'dir', mode: '755', uid: 0, gid: 0, mtime: 1_000_000_000 },
      'etc/passwd': { type: 'file', mode: '644', uid: 0, gid: 0, mtime: 1_000_000_001, size: 26, sha256: sha256Of(Buffer.from('root:x:0:0::/root:/bin/sh\n')) },
      home: { type: 'dir', mode: '755', uid: 0, gid: 0, mtime: 1_000_000_002 },
      'home/user': { type: 'dir', mode: '700', uid: 1000, gid: 1000, mtime: 1_000_000_003 },
      'home/user/.profile': { type: 'file', mode: '600', uid: 1000, gid: 1000, mtime: 1_000_000_004, size: 6, sha256: sha256Of(Buffer.from('PS1=$\n')) },
      run: { type: 'dir', mode: '755', uid: 0, gid: 0, mtime: 1_000_000_015 },
      'run/fifo': { type: 'fifo', mode: '620', uid: 7, gid: 0, mtime: 1_000_000_016 },
      srv: { type: 'dir', mode: '2775', uid: 0, gid: 50, mtime: 1_000_000_011 },
      'srv/data': { type: 'dir', mode: '750', uid: 33, gid: 33, mtime: 1_000_000_019, xattrs: { 'trusted.bin': binary.toString('hex') } },
      tmp: { type: 'dir', mode: '1777', uid: 0, gid: 0, mtime: 1_000_000_010 },
      usr: { type: 'dir', mode: '755', uid: 0, gid: 0, mtime: 1_000_000_005 },
      'usr/bin': { type: 'dir', mode: '755', uid: 0, gid: 0, mtime: 1_000_000_006 },
      'usr/bin/busybox': { type: 'file', mode: '755', uid: 0, gid: 0, mtime: 1_000_000_007, size: 3, sha256: sha256Of(Buffer.from('ELF')) },
      'usr/bin/ping': {
        type: 'file',
        mode: '755',
        uid: 0,
        gid: 0,
        mtime: 1_000_000_017,
        size: 4,
        sha256: sha256Of(Buffer.from('ping')),
        xattrs: { 'security.capability': cap.toString('hex'), 'user.note': Buffer.from('pings').toString('hex') },
      },
      'usr/bin/sh': { type: 'symlink', mode: '777', uid: 5, gid: 6, mtime: 1_000_000_009, linkname: 'busybox' },
      'usr/bin/su': { type: 'file', mode: '4755', uid: 0, gid: 0, mtime: 1_000_000_008, size: 2, sha256: su.sha256 },
      'usr/bin/su2': { type: 'file', mode: '4755', uid: 0, gid: 0, mtime: 1_000_000_008, size: 2, sha256: su.sha256, sameInodeAs: 'usr/bin/su' },
      'usr/lib': { type: 'symlink', mode: '777', uid: 0, gid: 0, mtime: 1_000_000_018, linkname: '../lib', xattrs: { 'trusted.on-link': binary.toString('hex') } },
    });
    expect(lstatSync(join(root, 'usr/bin/su')).nlink).toBe(2);
  });

  it('creates missing parent directories 0755', async () => {
    await apply(root, await packTar([{ name: 'a/b/c/file', body: 'x', mode: 0o640 }]));
    const listing = listTree(root, { mtimes: 'none' });
    expect(listing['a']).toMatchObject({ type: 'dir', mode: '755' });
    expect(listing['a/b/c']).toMatchObject({ type: 'dir', mode: '755' });
    expect(listing['a/b/c/file']).toMatchObject({ type: 'file', mode: '640' });
  });

  it('sets a directory times after its contents, and sub-second PAX times', async () => {
    const tar = rawTar(
      rawEntry({ name: 'd', type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1_234_567_890 }),
      rawEntry({ name: 'd/f', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1_000 }, Buffer.from('x')),
      rawEntry({ name: 'd/sub', type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 2_000 }),
      rawEntry({ name: 'd/sub/g', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 3_000 }),
    );
    await apply(root, tar);
    expect(lstatSync(join(root, 'd')).mtimeMs).toBe(1_234_567_890_000);
    expect(lstatSync(join(root, 'd/sub')).mtimeMs).toBe(2_000_000);
    expect(lstatSync(join(root, 'd/f')).mtimeMs).toBe(1_000_000);
  });

  it('gives the digest and size of the uncompressed tar for gzip and plain layers, and sniffs the format', async () => {
    const tar = await packTar([{ name: 'f', body: 'gzip me' }, { name: 'g', body: Buffer.alloc(100_000, 7) }]);
    for (const [data, compression] of [
      [gzip(tar), 'gzip'],
      [tar, 'none'],
      // A compressed media type over a plain tar still applies, as containerd's DecompressStream sniffs.
      [tar, 'gzip'],
    ] as const) {
      const dir = mkdtempSync(join(base, 'r-'));
      expect(await apply(dir, data, { compression })).toEqual({ digest: sha256Of(tar), size: tar.length });
      expect(sha256Of(readFileSync(join(dir, 'g')))).toBe(sha256Of(Buffer.alloc(100_000, 7)));
    }
  });

  it.skipIf(!hasZstd())('applies zstd layers (zstd command present)', async () => {
    const big = Buffer.alloc(3 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251;
    const tar = await packTar([{ name: 'f', body: 'zstd me' }, { name: 'big', body: big }]);
    expect(await apply(root, zstd(tar), { compression: 'zstd' })).toEqual({ digest: sha256Of(tar), size: tar.length });
    expect(readFileSync(join(root, 'f'), 'utf8')).toBe('zstd me');
    expect(sha256Of(readFileSync(join(root, 'big')))).toBe(sha256Of(big));
  });

  it('reads the blob in small chunks', async () => {
    const tar = await packTar([{ name: 'a/' , type: 'directory'}, { name: 'a/f', body: Buffer.alloc(5000, 1) }]);
    const z = gzip(tar);
    const chunks: Buffer[] = [];
    for (let i = 0; i < z.length; i += 3) chunks.push(z.subarray(i, i + 3));
    const applied = await applyLayer({ root, whiteouts: 'plain' }, Readable.from(chunks), { name: layerName, compression: 'gzip' });
    expect(applied.digest).toBe(sha256Of(tar));
    expect(sha256Of(readFileSync(join(root, 'a/f')))).toBe(sha256Of(Buffer.alloc(5000, 1)));
  });

  it('replaces what is there, and merges into an existing directory', async () => {
    mkdirSync(join(root, 'was-dir/sub'), { recursive: true });
    writeFileSync(join(root, 'was-dir/sub/x'), 'x');
    writeFileSync(join(root, 'was-file'), 'x');
    writeFileSync(join(root, 'was-file2'), 'x');
    mkdirSync(join(root, 'dir'), { mode: 0o700 });
    writeFileSync(join(root, 'dir/keep'), 'keep');
    await apply(
      root,
      await packTar([
        { name: 'was-dir', body: 'now a file' },
        { name: 'was-file/', type: 'directory', mode: 0o711 },
        { name: 'was-file2', type: 'symlink', linkname: 'target' },
        { name: 'dir/', type: 'directory', mode: 0o755, uid: 9 },
        { name: 'dir/new', body: 'new' },
      ]),
    );
    const listing = listTree(root, { mtimes: 'none' });
    expect(listing['was-dir']).toMatchObject({ type: 'file', size: 10 });
    expect(listing['was-file']).toMatchObject({ type: 'dir', mode: '711' });
    expect(listing['was-file2']).toMatchObject({ type: 'symlink', linkname: 'target' });
    expect(listing['dir']).toMatchObject({ type: 'dir', mode: '755', uid: 9 });
    expect(Object.keys(listing).filter((p) => p.startsWith('dir/'))).toEqual(['dir/keep', 'dir/new']);
  });

  it('plain mode: whiteouts delete lower files and opaque directories keep only what the layer wrote', async () => {
    await apply(
      root,
      await packTar([
        { name: 'a/', type: 'directory' },
        { name: 'a/keep', body: 'k' },
        { name: 'a/gone', body: 'g' },
        { name: 'a/dir/', type: 'directory' },
        { name: 'a/dir/x', body: 'x' },
        { name: 'b/', type: 'directory' },
        { name: 'b/old1', body: '1' },
        { name: 'b/sub/', type: 'directory' },
        { name: 'b/sub/old2', body: '2' },
        { name: 'b/early', body: 'lower' },
        { name: 'c', body: 'c' },
      ]),
    );
    await apply(
      root,
      await packTar([
        { name: 'a/', type: 'directory' },
        { name: 'a/.wh.gone' },
        { name: 'a/.wh.dir' },
        { name: 'a/.wh.not-there' },
        { name: 'b/', type: 'directory' },
        // Written before the opaque marker, and still kept: opacity hides lower layers only.
        { name: 'b/early', body: 'this layer' },
        { name: 'b/.wh..wh..opq' },
        { name: 'b/new', body: 'n' },
        { name: 'b/sub/', type: 'directory' },
        { name: 'b/sub/new2', body: 'n2' },
        { name: '.wh.c' },
      ]),
    );
    expect(Object.keys(listTree(root))).toEqual(['a', 'a/keep', 'b', 'b/early', 'b/new', 'b/sub', 'b/sub/new2']);
    expect(readFileSync(join(root, 'b/early'), 'utf8')).toBe('this layer');
  });

  it('overlay mode: whiteouts are char 0/0 devices, opaque dirs an xattr, and the mounted view equals plain mode', async () => {
    const lowerLayer = await packTar([
      { name: 'a/', type: 'directory', mode: 0o755 },
      { name: 'a/keep', body: 'k' },
      { name: 'a/gone', body: 'g' },
      { name: 'a/dir/', type: 'directory' },
      { name: 'a/dir/x', body: 'x' },
      { name: 'b/', type: 'directory', mode: 0o750 },
      { name: 'b/old1', body: '1' },
      { name: 'b/sub/', type: 'directory' },
      { name: 'b/sub/old2', body: '2' },
      { name: 'c', body: 'c' },
    ]);
    const layer = await packTar([
      { name: 'a/', type: 'directory', mode: 0o755 },
      { name: 'a/.wh.gone', uid: 12, gid: 34 },
      { name: 'a/.wh.dir' },
      { name: 'a/added', body: 'added', uid: 5 },
      { name: 'b/', type: 'directory', mode: 0o750 },
      { name: 'b/.wh..wh..opq' },
      { name: 'b/new', body: 'n' },
      { name: 'b/sub/', type: 'directory' },
      { name: 'b/sub/new2', body: 'n2' },
      { name: '.wh.c' },
    ]);
    const lower = join(base, 'lower');
    const upper = join(base, 'upper');
    const work = join(base, 'work');
    const merged = join(base, 'merged');
    const plain = join(base, 'plain');
    for (const d of [lower, upper, work, merged]) mkdirSync(d);
    await apply(lower, lowerLayer);
    copyTree(lower, plain);

    const inUpper = await apply(upper, layer, { whiteouts: 'overlay' });
    const inPlain = await apply(plain, layer);
    expect(inUpper).toEqual(inPlain);

    const gone = lstatSync(join(upper, 'a/gone'));
    expect(gone.isCharacterDevice() && gone.rdev === 0).toBe(true);
    expect([gone.uid, gone.gid]).toEqual([12, 34]);
    expect(lstatSync(join(upper, 'a/dir')).isCharacterDevice()).toBe(true);
    expect(lstatSync(join(upper, 'c')).isCharacterDevice()).toBe(true);
    expect(native().lgetxattr(join(upper, 'b'), 'trusted.overlay.opaque')).toEqual(Buffer.from('y'));
    expect(native().lgetxattr(join(upper, 'a'), 'trusted.overlay.opaque')).toBeUndefined();
    expect(existsSync(join(upper, 'b/old1'))).toBe(false);

    native().mount('overlay', merged, 'overlay', 0, `lowerdir=${lower},upperdir=${upper},workdir=${work}`);
    try {
      expect(Object.keys(listTree(merged))).toEqual(['a', 'a/added', 'a/keep', 'b', 'b/new', 'b/sub', 'b/sub/new2']);
      expect(listTree(merged, { mtimes: 'files' })).toEqual(listTree(plain, { mtimes: 'files' }));
    } finally {
      native().umount2(merged, 0);
    }
  });

  it('skips the root entry and aufs metadata', async () => {
    const tar = await packTar([
      { name: './', type: 'directory', mode: 0o700 },
      { name: '.wh..wh.plnk/', type: 'directory' },
      { name: '.wh..wh.plnk/12.34', body: 'x' },
      { name: 'f', body: 'f' },
    ]);
    const before = lstatSync(root).mode;
    await apply(root, tar);
    expect(readdirSync(root)).toEqual(['f']);
    expect(lstatSync(root).mode).toBe(before);
  });

  it('rejects whiteouts of nothing with InvalidArgument', async () => {
    for (const name of ['.wh.', 'd/.wh.']) {
      const err = await applyError(root, await packTar([{ name }]));
      expect(err.kind).toBe('invalid-argument');
      expect(err.message).toMatch(/invalid whiteout/);
    }
  });

  it('rejects an unsupported entry type with InvalidArgument', async () => {
    const entry = rawEntry({ name: 'sparse', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 });
    entry.write('S', 156, 'ascii');
    entry.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of entry.subarray(0, 512)) sum += b;
    entry.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
    const err = await applyError(root, rawTar(entry));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toMatch(/unsupported tar entry type/);
  });

  describe('broken layers fail with InvalidArgument naming the layer, and write nothing outside', () => {
    let tar: Buffer;
    beforeEach(async () => {
      const noise = Buffer.alloc(200_000);
      for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
      tar = await packTar([{ name: 'first', body: 'ok' }, { name: 'noise', body: noise }, { name: 'last', body: 'ok' }]);
    });

    const cases: Array<[string, () => Buffer, Compression]> = [
      [
        'a corrupt gzip stream',
        () => {
          const z = Buffer.from(gzip(tar));
          for (let i = 2000; i < 2100; i++) z[i] = z[i]! ^ 0x5a;
          return z;
        },
        'gzip',
      ],
      ['a truncated gzip stream', () => gzip(tar).subarray(0, 5000), 'gzip'],
      ['a truncated tar', () => tar.subarray(0, 100_000), 'none'],
      ['a tar cut inside a header', () => tar.subarray(0, 700), 'none'],
      ['bytes that are no tar', () => Buffer.alloc(4096, 0x41), 'none'],
      ['a gzip of bytes that are no tar', () => gzip(Buffer.alloc(4096, 0x41)), 'gzip'],
    ];
    if (hasZstd()) {
      cases.push(['a truncated zstd stream', () => zstd(tar).subarray(0, 3000), 'zstd']);
      // fzstd does not check the frame checksum: corrupt block data may decode to other bytes, which the
      // caller's diff ID check catches. Corrupt framing is detected here.
      cases.push([
        'a zstd stream with a corrupt frame header',
        () => {
          const z = Buffer.from(zstd(tar));
          z[4] = z[4]! ^ 0xff;
          return z;
        },
        'zstd',
      ]);
    }

    it.each(cases)('%s', async (_name, data, compression) => {
      const before = listTree(outside);
      const err = await applyError(root, data(), { compression });
      expect(err.kind).toBe('invalid-argument');
      expect(err.message).toContain(`layer ${layerName}`);
      expect(listTree(outside)).toEqual(before);
      expect(readdirSync(base).sort()).toEqual(['outside', 'root']);
    });
  });
});

describe('SECURITY: nothing a layer says writes outside its root', () => {
  const token = `ctrd-escape-${process.pid}`;

  // Each case builds its layer knowing where "outside" is (a sibling of the root, with canaries in it).
  const cases: Array<{ name: string; layer: (outside: string) => Promise<Buffer>; fails?: RegExp }> = [
    {
      name: '../ components',
      layer: async (out) =>
        packTar([
          { name: '../outside/canary', body: 'pwned' },
          { name: `../../../../../../../../../..${out}/new`, body: 'pwned' },
          { name: `../../../../../../../../../../tmp/${token}`, body: 'pwned' },
          { name: 'a/../../../outside/dir/', type: 'directory', mode: 0o777 },
        ]),
    },
    {
      name: 'absolute paths',
      layer: async (out) =>
        packTar([
          { name: `${out}/canary`, body: 'pwned' },
          { name: `${out}/dir/`, type: 'directory', mode: 0o777, uid: 4321 },
          { name: `/tmp/${token}`, body: 'pwned' },
        ]),
    },
    {
      name: 'an absolute symlink followed by entries written through it',
      layer: async (out) =>
        packTar([
          { name: 'evil', type: 'symlink', linkname: out },
          { name: 'evil/canary', body: 'pwned' },
          { name: 'evil/new', body: 'pwned' },
          { name: 'evil/dir/', type: 'directory', mode: 0o777, uid: 4321 },
          { name: 'evil/dir/canary2', body: 'pwned' },
          { name: 'evil/dev', type: 'character-device', devmajor: 1, devminor: 3 },
          { name: 'evil/fifo', type: 'fifo' },
          { name: 'evil/sym', type: 'symlink', linkname: '/etc/shadow' },
        ]),
    },
    {
      name: 'a relative symlink climbing out, followed by entries written through it',
      layer: async (out) =>
        packTar([
          { name: 'a/', type: 'directory' },
          { name: 'a/rel', type: 'symlink', linkname: `../../../../../../../../../../..${out}` },
          { name: 'a/rel/canary', body: 'pwned' },
          { name: 'a/up', type: 'symlink', linkname: '../..' },
          { name: 'a/up/outside/canary', body: 'pwned' },
          { name: 'a/up/outside/dir/canary2', body: 'pwned' },
        ]),
    },
    {
      name: 'a symlink chain out of the root',
      layer: async (out) =>
        packTar([
          { name: 'one', type: 'symlink', linkname: 'two/..' },
          { name: 'two', type: 'symlink', linkname: '../..' },
          { name: 'one/outside/canary', body: 'pwned' },
          { name: 'three', type: 'symlink', linkname: `/../../..${out}/dir` },
          { name: 'three/canary2', body: 'pwned' },
        ]),
    },
    {
      name: 'a hardlink to a file outside, by ../',
      layer: async () => packTar([{ name: 'hl', type: 'link', linkname: '../outside/canary' }]),
      fails: /hardlink target/,
    },
    {
      name: 'a hardlink to a file outside, by an absolute path',
      layer: async (out) => packTar([{ name: 'hl', type: 'link', linkname: `${out}/canary` }]),
      fails: /hardlink target/,
    },
    {
      name: 'a hardlink to a file outside, through a symlink',
      layer: async (out) =>
        packTar([
          { name: 'evil', type: 'symlink', linkname: out },
          { name: 'hl', type: 'link', linkname: 'evil/canary' },
        ]),
      fails: /hardlink target/,
    },
    {
      name: 'a file entry replacing a symlink to a file outside',
      layer: async (out) =>
        packTar([
          { name: 'evil', type: 'symlink', linkname: `${out}/canary` },
          { name: 'evil', body: 'pwned', mode: 0o777, uid: 4321 },
        ]),
    },
    {
      name: 'owner, mode, times and xattrs of a symlink to a file outside',
      layer: async (out) =>
        Buffer.concat([
          await packed([
            { name: 'evil', type: 'symlink', linkname: `${out}/canary`, uid: 4321, gid: 4321, mode: 0o777, mtime: T(5) },
            { name: 'evil2', type: 'link', linkname: 'evil', mode: 0o777, uid: 4321, mtime: T(5) },
          ]),
          rawEntry({
            name: 'evil3',
            type: 'symlink',
            linkname: `${out}/canary`,
            mode: 0o777,
            uid: 4321,
            gid: 0,
            size: 0,
            mtime: 5,
            xattrs: new Map([['trusted.pwned', Buffer.from('1')]]),
          }),
          endOfArchive,
        ]),
    },
    {
      name: 'a directory entry over a symlink to a directory outside',
      layer: async (out) =>
        packTar([
          { name: 'd', type: 'symlink', linkname: `${out}/dir` },
          { name: 'd/', type: 'directory', mode: 0o777, uid: 4321, mtime: T(5) },
          { name: 'd/canary2', body: 'pwned' },
        ]),
    },
    {
      name: "a directory replaced by a symlink before its times are set",
      layer: async (out) =>
        packTar([
          { name: 'a/', type: 'directory', mode: 0o777, mtime: T(5) },
          { name: 'a', type: 'symlink', linkname: `${out}/dir` },
        ]),
    },
    {
      name: 'whiteouts through a symlink',
      layer: async (out) =>
        packTar([
          { name: 'evil', type: 'symlink', linkname: out },
          { name: 'evil/.wh.canary' },
          { name: 'evil/.wh.dir' },
          { name: '../.wh.outside' },
          { name: `${out}/.wh.canary` },
        ]),
    },
    {
      name: 'an opaque directory through a symlink',
      layer: async (out) =>
        packTar([
          { name: 'evil', type: 'symlink', linkname: `${out}/dir` },
          { name: 'evil/.wh..wh..opq' },
          { name: 'up', type: 'symlink', linkname: '../..' },
          { name: 'up/.wh..wh..opq' },
        ]),
    },
    {
      name: 'a symlink loop',
      layer: async () =>
        packTar([
          { name: 'loop', type: 'symlink', linkname: 'loop' },
          { name: 'loop/x', body: 'pwned' },
        ]),
      fails: /too many levels of symbolic links/,
    },
  ];

  for (const whiteouts of ['plain', 'overlay'] as const) {
    describe(`${whiteouts} mode`, () => {
      it.each(cases)('$name', async ({ layer, fails }) => {
        const before = listTree(outside);
        const outsideStat = lstatSync(outside);
        const data = await layer(outside);
        if (fails) {
          const err = await applyError(root, data, { whiteouts });
          expect(err.kind).toBe('invalid-argument');
          expect(err.message).toMatch(fails);
        } else {
          await apply(root, data, { whiteouts });
        }
        expect(listTree(outside)).toEqual(before);
        expect(lstatSync(join(outside, 'canary')).nlink).toBe(1);
        expect(readFileSync(join(outside, 'canary'), 'utf8')).toBe('canary');
        expect(lstatSync(outside)).toMatchObject({ mode: outsideStat.mode, uid: outsideStat.uid, mtimeMs: outsideStat.mtimeMs });
        expect(readdirSync(base).sort()).toEqual(['outside', 'root']);
        expect(existsSync(`/tmp/${token}`)).toBe(false);
      });
    });
  }

  it('a symlink inside the root still points where the layer said (it is data, not followed)', async () => {
    await apply(root, await packTar([{ name: 'etc', type: 'symlink', linkname: '/etc' }]));
    expect(lstatSync(join(root, 'etc')).isSymbolicLink()).toBe(true);
  });

  it('clamped entries land under the root', async () => {
    await apply(root, await packTar([{ name: '../../x/y', body: 'y' }, { name: 'evil', type: 'symlink', linkname: '/' }, { name: 'evil/z', body: 'z' }]));
    expect(readFileSync(join(root, 'x/y'), 'utf8')).toBe('y');
    expect(readFileSync(join(root, 'z'), 'utf8')).toBe('z');
  });
});
