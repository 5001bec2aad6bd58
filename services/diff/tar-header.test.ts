// ctrd's tar header encoder read back by two independent readers: tar-stream (with the raw PAX hook) and
// GNU tar.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { rawEntry, rawTar } from '../../test/harness/layers.js';
import { decodePaxRecords, entryMeta, tarExtractor, type EntryMeta } from './tar-reader.js';
import { encodePaxRecords, type TarEntry } from './tar-header.js';

interface Read {
  name: string;
  type: string;
  linkname: string | null;
  size: number;
  devmajor: number;
  devminor: number;
  meta: EntryMeta;
  body: Buffer;
}

async function readTar(data: Buffer): Promise<Read[]> {
  const ex = tarExtractor();
  Readable.from([data]).pipe(ex as unknown as NodeJS.WritableStream);
  const out: Read[] = [];
  for await (const entry of ex) {
    const parts: Buffer[] = [];
    for await (const c of entry) parts.push(c as Buffer);
    const h = entry.header;
    out.push({
      name: h.name,
      type: h.type,
      linkname: h.linkname ?? null,
      size: h.size,
      devmajor: h.devmajor,
      devminor: h.devminor,
      meta: entryMeta(h),
      body: Buffer.concat(parts),
    });
  }
  return out;
}

const base: TarEntry = { name: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1_600_000_000 };

describe('encodeHeader', () => {
  it('writes plain ustar entries tar-stream reads back', async () => {
    const entries = [
      rawEntry({ ...base, name: 'dir', type: 'directory', mode: 0o2755, uid: 1000, gid: 100 }),
      rawEntry({ ...base, name: 'dir/file', mode: 0o4711 }, Buffer.from('hello')),
      rawEntry({ ...base, name: 'dir/link', type: 'symlink', linkname: '../target' }),
      rawEntry({ ...base, name: 'dir/hard', type: 'link', linkname: 'dir/file' }),
      rawEntry({ ...base, name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3 }),
      rawEntry({ ...base, name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0 }),
      rawEntry({ ...base, name: 'fifo', type: 'fifo' }),
    ];
    const read = await readTar(rawTar(...entries));
    expect(read.map((r) => [r.name, r.type])).toEqual([
      ['dir/', 'directory'],
      ['dir/file', 'file'],
      ['dir/link', 'symlink'],
      ['dir/hard', 'link'],
      ['dev/null', 'character-device'],
      ['dev/sda', 'block-device'],
      ['fifo', 'fifo'],
    ]);
    expect(read[0]!.meta).toMatchObject({ mode: 0o2755, uid: 1000, gid: 100, mtime: 1_600_000_000 });
    expect(read[1]!.meta.mode).toBe(0o4711);
    expect(read[1]!.body.toString()).toBe('hello');
    expect(read[2]!.linkname).toBe('../target');
    expect(read[3]!.linkname).toBe('dir/file');
    expect([read[4]!.devmajor, read[4]!.devminor]).toEqual([1, 3]);
    expect([read[5]!.devmajor, read[5]!.devminor]).toEqual([8, 0]);
  });

  it('uses PAX for long and non-ASCII names, large ids and binary xattrs', async () => {
    const longName = `${'d'.repeat(120)}/${'e'.repeat(120)}/${'f'.repeat(90)}`;
    const splittable = `${'p'.repeat(140)}/${'n'.repeat(90)}`;
    const binary = Buffer.from([0x00, 0xff, 0xfe, 0x0a, 0x3d, 0x20, 0x80]);
    const read = await readTar(
      rawTar(
        rawEntry({ ...base, name: longName }, Buffer.from('x')),
        rawEntry({ ...base, name: splittable }),
        rawEntry({ ...base, name: 'ünïcödé/名前' }),
        rawEntry({ ...base, name: 'l', type: 'symlink', linkname: 't'.repeat(200) }),
        rawEntry({ ...base, name: 'big', uid: 5_000_000, gid: 3_000_000, mtime: 99_999_999_999 }),
        rawEntry({
          ...base,
          name: 'x',
          xattrs: new Map([
            ['trusted.bin', binary],
            ['user.text', Buffer.from('a=b c\n')],
          ]),
        }),
      ),
    );
    expect(read.map((r) => r.name)).toEqual([longName, splittable, 'ünïcödé/名前', 'l', 'big', 'x']);
    expect(read[0]!.body.toString()).toBe('x');
    expect(read[3]!.linkname).toBe('t'.repeat(200));
    expect(read[4]!.meta).toMatchObject({ uid: 5_000_000, gid: 3_000_000, mtime: 99_999_999_999 });
    expect(read[5]!.meta.xattrs).toEqual(
      new Map([
        ['trusted.bin', binary],
        ['user.text', Buffer.from('a=b c\n')],
      ]),
    );
  });

  it('is read the same by GNU tar', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctrd-tarheader-'));
    try {
      const longName = `${'a'.repeat(150)}/${'b'.repeat(150)}`;
      const tar = rawTar(
        rawEntry({ ...base, name: 'dir', type: 'directory', mode: 0o755 }),
        rawEntry({ ...base, name: 'dir/file', uid: 3_000_000 }, Buffer.from('hello')),
        rawEntry({ ...base, name: longName }),
        rawEntry({ ...base, name: 'l', type: 'symlink', linkname: '/' + 'c'.repeat(150) }),
      );
      writeFileSync(join(dir, 'layer.tar'), tar);
      const r = spawnSync('tar', ['--numeric-owner', '-tvf', join(dir, 'layer.tar')], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines).toHaveLength(4);
      expect(lines[0]).toMatch(/^drwxr-xr-x 0\/0 +0 .* dir\/$/);
      expect(lines[1]).toMatch(/^-rw-r--r-- 3000000\/0 +5 .* dir\/file$/);
      expect(lines[2]!.endsWith(` ${longName}`)).toBe(true);
      expect(lines[3]!.endsWith(` l -> /${'c'.repeat(150)}`)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('PAX records', () => {
  it('encode and decode with lengths that count themselves', () => {
    for (const size of [0, 1, 5, 6, 7, 90, 95, 96, 97, 994, 995, 996, 9994, 9995]) {
      const records = new Map([['k', Buffer.alloc(size, 0x61)]]);
      const encoded = encodePaxRecords(records);
      const length = Number(encoded.toString('ascii', 0, encoded.indexOf(0x20)));
      expect(length, `value of ${size} bytes`).toBe(encoded.length);
      expect(decodePaxRecords(encoded)).toEqual(records);
    }
  });

  it('stop at a malformed record', () => {
    expect(decodePaxRecords(Buffer.from('11 path=ab\nzz garbage'))).toEqual(new Map([['path', Buffer.from('ab')]]));
  });
});
