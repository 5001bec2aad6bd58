// The content store's conformance suite: every backend of ContentStore runs the same cases (containerd's
// content/testsuite does the same for its stores). Each case gets a fresh root dir and removes it after.
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentStore, type NamespacedWriter } from '../../services/content/store.js';
import { LocalContentStore } from '../../services/content/local-store.js';
import { MetadataDB } from '../../services/metadata/db.js';
import { LeaseStore } from '../../services/leases/store.js';
import { NamespaceStore } from '../../services/namespaces/store.js';
import { hexOf, sha256, type Digest } from '../../lib/digest.js';
import type { Labels } from '../../lib/labels.js';
import { expectKind } from '../harness/errors.js';

/** One running instance of a backend over a root dir; restart() is what a daemon restart makes of it. */
interface Instance {
  content: ContentStore;
  leases: LeaseStore;
  namespaces: NamespaceStore;
  db: MetadataDB;
  /** The committed blobs on disk, by hex. */
  blobFiles(): string[];
  /** Whether anything of an ingest is left on disk (data, meta or a half-removed directory). */
  ingestEntries(): string[];
  /** The bytes of a committed blob as they are on disk (a read through the store stops at the recorded size). */
  blobBytes(digest: Digest): Buffer;
  /** The permission bits of a committed blob's file. */
  blobMode(digest: Digest): number;
  /** Leaves the one ingest on disk as a crash in the middle of its removal would. */
  crashDuringIngestRemoval(): void;
  close(): void;
}

interface Backend {
  name: string;
  open(root: string): Instance;
}

const backends: Backend[] = [
  {
    name: 'LocalContentStore + SQLite metadata',
    open(root) {
      const db = MetadataDB.open(join(root, 'meta.db'));
      const local = new LocalContentStore(join(root, 'content'));
      const leases = new LeaseStore(db);
      const content = new ContentStore(db, local, leases);
      const namespaces = new NamespaceStore(db, [(ns) => (content.hasIngests(ns) ? ['ingests'] : [])]);
      return {
        content,
        leases,
        namespaces,
        db,
        blobFiles: () => readdirSync(local.blobsDir).sort(),
        ingestEntries: () => readdirSync(local.ingestDir),
        blobBytes: (digest) => readFileSync(local.blobPath(digest)),
        blobMode: (digest) => statSync(local.blobPath(digest)).mode & 0o777,
        crashDuringIngestRemoval: () => {
          // removeDir renames an ingest aside, then deletes it: the daemon died between the two.
          const [dir, ...more] = readdirSync(local.ingestDir);
          expect(more).toEqual([]);
          renameSync(join(local.ingestDir, dir!), join(local.ingestDir, `${dir}.removing-1-2`));
        },
        close: () => db.close(),
      };
    },
  },
];

function chunks(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}



const tops: string[] = [];

afterAll(() => {
  for (const t of tops) expect(existsSync(t), `${t} was left behind`).toBe(false);
});

describe.each(backends)('content store conformance: $name', (backend) => {
  let root: string;
  let store: Instance;
  let instances: Instance[];
  let writers: NamespacedWriter[];
  let refs = 0;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'ctrd-content-conformance-'));
    tops.push(root);
    instances = [];
    writers = [];
    store = open();
  });

  afterEach(async () => {
    for (const w of writers) await w.close();
    for (const i of instances) i.close();
    rmSync(root, { recursive: true, force: true });
    expect(existsSync(root)).toBe(false);
  });

  function open(): Instance {
    const i = backend.open(root);
    instances.push(i);
    return i;
  }

  async function writer(
    ns: string,
    ref: string,
    opts: { total?: number; expected?: string; lease?: string } = {},
    on: Instance = store,
  ): Promise<NamespacedWriter> {
    const w = await on.content.writer(ns, ref, { total: opts.total ?? 0, expected: opts.expected ?? '', lease: opts.lease });
    writers.push(w);
    return w;
  }

  async function commitBlob(ns: string, data: Buffer | string, labels: Labels = {}, lease?: string) {
    const bytes = Buffer.from(data);
    const digest = sha256(bytes);
    const w = await writer(ns, `commit-${refs++}`, { total: bytes.length, expected: digest, lease });
    await w.write(0, bytes);
    const info = await w.commit(bytes.length, digest, labels);
    return { digest, info, bytes };
  }

  describe('write, commit, read', () => {
    it('commits a blob written in chunks and reads it back', async () => {
      const data = Buffer.from('the quick brown fox jumps over the lazy dog, '.repeat(100));
      const digest = sha256(data);
      const before = Date.now();
      const w = await writer('default', 'fox', { total: data.length, expected: digest });
      let offset = 0;
      for (const c of chunks(data, 333)) {
        await w.write(offset, c);
        offset += c.length;
        expect(w.status().offset).toBe(offset);
      }
      expect(w.status()).toMatchObject({ ref: 'fox', offset: data.length, total: data.length, expected: digest, digest });
      const info = await w.commit(data.length, digest, { 'containerd.io/gc.root': 'x' });
      expect(info).toMatchObject({ digest, size: data.length, labels: { 'containerd.io/gc.root': 'x' } });
      expect(info.createdAt.getTime()).toBeGreaterThanOrEqual(before);
      expect(store.content.info('default', digest)).toEqual(info);
      expect(await readAll(store.content.read('default', digest, 0, 0))).toEqual(data);
      expect(store.blobFiles()).toEqual([hexOf(digest)]);
      expect(store.blobBytes(digest)).toEqual(data);
      expect(store.content.listStatuses('default', [])).toEqual([]);
      expect(store.ingestEntries()).toEqual([]);
    });

    it('commits without an announced size or digest, and an empty blob', async () => {
      const w = await writer('default', 'loose');
      await w.write(0, Buffer.from('abc'));
      expect((await w.commit(0, '', {})).digest).toBe(sha256('abc'));
      const e = await writer('default', 'empty');
      const info = await e.commit(0, '', {});
      expect(info).toMatchObject({ digest: sha256(''), size: 0 });
      expect(await readAll(store.content.read('default', sha256(''), 0, 0))).toEqual(Buffer.alloc(0));
    });

    it('a committed blob is read-only on disk and survives a restart', async () => {
      const { digest, bytes } = await commitBlob('default', 'persistent');
      const again = open();
      expect(again.content.info('default', digest).size).toBe(bytes.length);
      expect(await readAll(again.content.read('default', digest, 0, 0))).toEqual(bytes);
      expect(again.blobMode(digest) & 0o222).toBe(0);
    });

    it('keeps namespaces apart', async () => {
      const { digest } = await commitBlob('ns-a', 'only in a');
      await expectKind(() => store.content.info('ns-b', digest), 'not-found', `content ${digest}: not found`);
      await expectKind(() => store.content.read('ns-b', digest, 0, 0), 'not-found', digest);
      expect(store.content.list('ns-b', [])).toEqual([]);
    });

    it('refuses bad writer arguments before touching the disk', async () => {
      await expectKind(() => store.content.writer('default', '', { total: 0, expected: '', lease: undefined }), 'invalid-argument', /ref/);
      await expectKind(() => store.content.writer('default', 'r', { total: -1, expected: '', lease: undefined }), 'invalid-argument', 'total -1');
      await expectKind(() => store.content.writer('default', 'r', { total: 0, expected: 'sha256:xyz', lease: undefined }), 'invalid-argument', 'sha256:xyz');
      const w = await writer('default', 'r');
      await expectKind(() => w.setExpectations({ expected: 'md5:abc' }), 'invalid-argument');
      await expectKind(() => w.setExpectations({ total: -5 }), 'invalid-argument', 'total -5');
      await expectKind(() => w.commit(-1, '', {}), 'invalid-argument', 'commit size -1');
      await expectKind(() => w.commit(0, 'nope', {}), 'invalid-argument', '"nope"');
      await expectKind(() => w.commit(0, '', { '': 'x' }), 'invalid-argument', /label key/);
      expect(store.blobFiles()).toEqual([]);
      expect(store.content.listStatuses('default', []).map((s) => s.ref)).toEqual(['r']);
    });
  });

  describe('resuming', () => {
    const data = Buffer.from('0123456789'.repeat(50));
    const digest = sha256(data);
    const half = 250;

    it('a new writer on a closed ingest reports its offset and finishes it', async () => {
      const first = await writer('default', 'resume', { total: data.length, expected: digest });
      await first.write(0, data.subarray(0, half));
      await first.close();
      expect(store.content.status('default', 'resume')).toMatchObject({ ref: 'resume', offset: half, total: data.length, expected: digest });

      const second = await writer('default', 'resume', { total: data.length, expected: digest });
      expect(second.status()).toMatchObject({ offset: half, digest: sha256(data.subarray(0, half)) });
      await second.write(half, data.subarray(half));
      const info = await second.commit(data.length, digest, {});
      expect(info.digest).toBe(digest);
      expect(await readAll(store.content.read('default', digest, 0, 0))).toEqual(data);
    });

    it('a writer after a crash (new store objects on the same dir) resumes from the bytes on disk', async () => {
      const first = await writer('default', 'crash', { total: data.length, expected: digest });
      await first.write(0, data.subarray(0, half));
      // A write is answered before its bytes reach the file; a crash keeps what did. Here all of them did.
      await first.flush();
      // The daemon dies here: its writer is never closed, its lock dies with the process.
      const restarted = open();
      expect(restarted.content.status('default', 'crash')).toMatchObject({ offset: half, total: data.length, expected: digest });
      // The expectations given to the first writer were kept on disk: none need repeating.
      const second = await writer('default', 'crash', {}, restarted);
      expect(second.status()).toMatchObject({ offset: half, total: data.length, expected: digest, digest: sha256(data.subarray(0, half)) });
      await second.write(half, data.subarray(half));
      expect((await second.commit(0, '', {})).digest).toBe(digest);
      expect(await readAll(restarted.content.read('default', digest, 0, 0))).toEqual(data);
    });

    // LocalContentStore.listIngests reads every entry of ingest/, including the "<key>.removing-<pid>-<ms>"
    // directories removeDir renames aside: after a crash between rename and rm, the leftover is listed as a
    // live ingest for ever. Abort cannot remove it (it looks for <key>, not the renamed dir) and hasIngests
    // keeps its namespace from being deleted.
    it('an ingest half-removed by a crash (renamed aside, not yet deleted) is not an ingest after restart', async () => {
      const w = await writer('default', 'half-removed', { total: 10 });
      await w.write(0, Buffer.from('abc'));
      await w.close();
      store.crashDuringIngestRemoval();
      const restarted = open();
      expect(restarted.content.listStatuses('default', [])).toEqual([]);
      expect(restarted.content.hasIngests('default')).toBe(false);
    });
  });

  describe('locking and write offsets', () => {
    it('a second writer on a locked ref gets unavailable until the first one closes', async () => {
      const first = await writer('default', 'locked');
      await first.write(0, Buffer.from('abc'));
      await expectKind(() => writer('default', 'locked'), 'unavailable', 'ref "locked" locked');
      // The same ref in another namespace is another ingest.
      await (await writer('other', 'locked')).write(0, Buffer.from('x'));
      await first.close();
      const second = await writer('default', 'locked');
      expect(second.status().offset).toBe(3);
    });

    // Writer.commit calls this.close() (which releases the ref's lock) before it renames the data file into
    // blobs/sha256 and removes the ingest dir. In that window a retrying writer (containerd's OpenWriter
    // retries Unavailable) gets the lock, opens the same data file and resumes at its end; once the rename
    // is done its file handle IS the committed blob, and its writes change a blob whose name is its digest.
    it('a writer that gets the ref while a commit is under way can neither resume it nor change the blob', async () => {
      const w = await writer('default', 'committing');
      await w.write(0, Buffer.from('hello'));
      let settled = false;
      const commit = w.commit(0, '', {}).finally(() => (settled = true));
      let second: NamespacedWriter | undefined;
      for (let i = 0; i < 5000 && !settled && !second; i++) {
        await new Promise((resolve) => setImmediate(resolve));
        second = await writer('default', 'committing').catch(() => undefined);
      }
      const { digest } = await commit;
      expect(digest).toBe(sha256('hello'));
      let resumedAt = 0;
      if (second) {
        resumedAt = second.status().offset;
        await second.write(resumedAt, Buffer.from(' world')).catch(() => undefined);
        await second.close();
      }
      expect(store.blobBytes(digest).toString()).toBe('hello');
      expect(resumedAt).toBe(0);
    });

    it('a write at another offset than the current end is out-of-range', async () => {
      const w = await writer('default', 'offsets');
      await w.write(0, Buffer.from('abcd'));
      const err = await expectKind(() => w.write(2, Buffer.from('x')), 'out-of-range', '"offsets"');
      expect(err.message).toContain('current offset 4');
      await expectKind(() => w.write(9, Buffer.from('x')), 'out-of-range');
      await expectKind(() => w.write(-1, Buffer.from('x')), 'invalid-argument', 'offset -1');
      expect(w.status().offset).toBe(4);
      await w.write(4, Buffer.from('e'));
      expect(w.status()).toMatchObject({ offset: 5, digest: sha256('abcde') });
    });

    it('offset 0 on a non-empty ingest starts it over', async () => {
      const w = await writer('default', 'restart');
      await w.write(0, Buffer.from('first attempt'));
      await w.write(0, Buffer.from('xyz'));
      expect(w.status()).toMatchObject({ offset: 3, digest: sha256('xyz') });
      await w.close();
      expect(store.content.status('default', 'restart').offset).toBe(3);
      // Also after a resume, where the hash was rebuilt from the bytes on disk.
      const again = await writer('default', 'restart');
      await again.write(0, Buffer.from('final'));
      const info = await again.commit(5, sha256('final'), {});
      expect(await readAll(store.content.read('default', info.digest, 0, 0))).toEqual(Buffer.from('final'));
    });
  });

  describe('commit verification', () => {
    it('a wrong digest is failed-precondition: nothing committed, the ingest is gone', async () => {
      const w = await writer('default', 'wrong-digest');
      await w.write(0, Buffer.from('actual bytes'));
      const claimed = sha256('other bytes');
      const err = await expectKind(() => w.commit(0, claimed, {}), 'failed-precondition', '"wrong-digest"');
      expect(err.message).toContain(`expected ${claimed}`);
      expect(err.message).toContain(sha256('actual bytes'));
      expect(store.blobFiles()).toEqual([]);
      expect(store.ingestEntries()).toEqual([]);
      await expectKind(() => store.content.status('default', 'wrong-digest'), 'not-found', '"wrong-digest"');
      await expectKind(() => store.content.info('default', sha256('actual bytes')), 'not-found');
      await expectKind(() => w.write(12, Buffer.from('more')), 'failed-precondition');
    });

    it('the digest announced when the writer opened is checked at commit too', async () => {
      const w = await writer('default', 'announced', { expected: sha256('promised') });
      await w.write(0, Buffer.from('delivered'));
      await expectKind(() => w.commit(0, '', {}), 'failed-precondition', `expected ${sha256('promised')}`);
      expect(store.blobFiles()).toEqual([]);
      expect(store.ingestEntries()).toEqual([]);
    });

    it('more bytes than the expected size is failed-precondition: nothing committed, the ingest is gone', async () => {
      const w = await writer('default', 'too-long', { total: 5 });
      await w.write(0, Buffer.from('12345678'));
      await expectKind(() => w.commit(5, '', {}), 'failed-precondition', 'unexpected commit size 8, expected 5');
      expect(store.blobFiles()).toEqual([]);
      expect(store.ingestEntries()).toEqual([]);
      await expectKind(() => store.content.status('default', 'too-long'), 'not-found');
    });

    it('fewer bytes than the expected size is failed-precondition and the ingest stays to be finished', async () => {
      const w = await writer('default', 'too-short', { total: 10 });
      await w.write(0, Buffer.from('12345'));
      await expectKind(() => w.commit(0, '', {}), 'failed-precondition', 'unexpected commit size 5, expected 10');
      expect(store.blobFiles()).toEqual([]);
      expect(store.content.status('default', 'too-short').offset).toBe(5);
      await w.write(5, Buffer.from('67890'));
      expect((await w.commit(10, '', {})).digest).toBe(sha256('1234567890'));
    });
  });

  describe('already exists', () => {
    it('a writer expecting a digest the namespace already has gets already-exists and makes no ingest', async () => {
      const { digest } = await commitBlob('default', 'present');
      await expectKind(
        () => writer('default', 'again', { expected: digest }),
        'already-exists',
        `content ${digest}: already exists`,
      );
      expect(store.content.listStatuses('default', [])).toEqual([]);
      expect(store.ingestEntries()).toEqual([]);
    });

    it('committing bytes the namespace already has is already-exists and keeps the blob', async () => {
      const { digest, info } = await commitBlob('default', 'same bytes', { first: 'yes' });
      const w = await writer('default', 'dup');
      await w.write(0, Buffer.from('same bytes'));
      await expectKind(() => w.commit(0, '', { second: 'yes' }), 'already-exists', digest);
      expect(store.content.info('default', digest)).toEqual(info);
      expect(store.blobFiles()).toEqual([hexOf(digest)]);
      expect(store.ingestEntries()).toEqual([]);
      expect(await readAll(store.content.read('default', digest, 0, 0))).toEqual(Buffer.from('same bytes'));
    });

    it('shared policy: a blob committed in A is adopted by B on a writer that expects it', async () => {
      const { digest, bytes } = await commitBlob('ns-a', 'shared blob');
      await expectKind(() => writer('ns-b', 'adopt', { expected: digest }), 'already-exists', digest);
      expect(store.content.info('ns-b', digest)).toMatchObject({ digest, size: bytes.length, labels: {} });
      expect(await readAll(store.content.read('ns-b', digest, 0, 0))).toEqual(bytes);
      expect(store.content.listStatuses('ns-b', [])).toEqual([]);
      expect(store.blobFiles()).toEqual([hexOf(digest)]);
    });

    it('shared policy: B committing bytes A already has gets its own row, one file on disk', async () => {
      const { digest } = await commitBlob('ns-a', 'twice written');
      const w = await writer('ns-b', 'own');
      await w.write(0, Buffer.from('twice written'));
      const info = await w.commit(0, '', { mine: 'b' });
      expect(info).toMatchObject({ digest, labels: { mine: 'b' } });
      expect(store.content.info('ns-a', digest).labels).toEqual({});
      expect(store.blobFiles()).toEqual([hexOf(digest)]);
    });
  });

  describe('read', () => {
    const data = Buffer.from('abcdefghijklmnopqrstuvwxyz');
    let digest: Digest;

    beforeEach(async () => {
      digest = (await commitBlob('default', data)).digest;
    });

    it('reads a range; size 0 reads to the end; a size past the end stops at the end', async () => {
      expect((await readAll(store.content.read('default', digest, 2, 3))).toString()).toBe('cde');
      expect((await readAll(store.content.read('default', digest, 20, 0))).toString()).toBe('uvwxyz');
      expect((await readAll(store.content.read('default', digest, 24, 100))).toString()).toBe('yz');
      expect((await readAll(store.content.read('default', digest, 26, 0))).length).toBe(0);
    });

    it('an offset past the end is out-of-range, a negative one invalid-argument', async () => {
      await expectKind(() => store.content.read('default', digest, 27, 0), 'out-of-range', digest);
      await expectKind(() => store.content.read('default', digest, -1, 0), 'invalid-argument', digest);
      await expectKind(() => store.content.read('default', digest, 0, -1), 'invalid-argument', digest);
    });

    it('reading a digest that is not there is not-found; a malformed one invalid-argument', async () => {
      const missing = sha256('missing');
      await expectKind(() => store.content.read('default', missing, 0, 0), 'not-found', missing);
      await expectKind(() => store.content.read('default', 'sha256:short', 0, 0), 'invalid-argument');
    });
  });

  describe('delete', () => {
    it('removes the row and, when nothing else refers to it, the blob file', async () => {
      const { digest } = await commitBlob('default', 'to delete');
      store.content.delete('default', digest);
      await expectKind(() => store.content.info('default', digest), 'not-found');
      expect(store.blobFiles()).toEqual([]);
      await expectKind(() => store.content.delete('default', digest), 'not-found', `content ${digest}: not found`);
      await expectKind(() => store.content.delete('default', 'bogus'), 'invalid-argument');
    });

    it('keeps the blob file while another namespace has it', async () => {
      const { digest, bytes } = await commitBlob('ns-a', 'in two namespaces');
      await expectKind(() => writer('ns-b', 'x', { expected: digest }), 'already-exists');
      store.content.delete('ns-a', digest);
      await expectKind(() => store.content.info('ns-a', digest), 'not-found');
      expect(store.blobFiles()).toEqual([hexOf(digest)]);
      expect(await readAll(store.content.read('ns-b', digest, 0, 0))).toEqual(bytes);
      store.content.delete('ns-b', digest);
      expect(store.blobFiles()).toEqual([]);
    });

    it('keeps the blob file while a lease holds it', async () => {
      store.leases.create('default', 'hold', {});
      const { digest } = await commitBlob('default', 'leased', {}, 'hold');
      store.content.delete('default', digest);
      await expectKind(() => store.content.info('default', digest), 'not-found');
      expect(store.blobFiles()).toEqual([hexOf(digest)]);
    });
  });

  describe('update labels', () => {
    let digest: Digest;

    beforeEach(async () => {
      digest = (await commitBlob('default', 'labelled', { a: '1', b: '2' })).digest;
    });

    it('"labels" replaces them all', async () => {
      const info = store.content.update('default', digest, { c: '3' }, ['labels']);
      expect(info.labels).toEqual({ c: '3' });
      expect(store.content.info('default', digest).labels).toEqual({ c: '3' });
    });

    it('"labels.<key>" sets and deletes one key', async () => {
      expect(store.content.update('default', digest, { c: '3' }, ['labels.c']).labels).toEqual({ a: '1', b: '2', c: '3' });
      expect(store.content.update('default', digest, {}, ['labels.a']).labels).toEqual({ b: '2', c: '3' });
      const info = store.content.info('default', digest);
      expect(info.labels).toEqual({ b: '2', c: '3' });
      expect(info.updatedAt.getTime()).toBeGreaterThanOrEqual(info.createdAt.getTime());
    });

    it('an unknown path is invalid-argument and changes nothing', async () => {
      const err = await expectKind(() => store.content.update('default', digest, { a: 'x' }, ['labels.a', 'size']), 'invalid-argument', '"size"');
      expect(err.message).toContain(digest);
      expect(store.content.info('default', digest).labels).toEqual({ a: '1', b: '2' });
    });

    it('updating a blob the namespace lacks is not-found', async () => {
      await expectKind(() => store.content.update('other', digest, {}, ['labels']), 'not-found', digest);
    });
  });

  describe('list', () => {
    let small: Digest;
    let big: Digest;
    let plain: Digest;

    beforeEach(async () => {
      small = (await commitBlob('default', 'tiny', { kind: 'config', 'containerd.io/distribution.source.docker.io': 'library/x' })).digest;
      big = (await commitBlob('default', 'a much larger blob', { kind: 'layer' })).digest;
      plain = (await commitBlob('default', 'plain')).digest;
      await commitBlob('other', 'elsewhere', { kind: 'config' });
    });

    it('lists the blobs of a namespace, by digest', () => {
      expect(store.content.list('default', []).map((i) => i.digest)).toEqual([small, big, plain].sort());
    });

    it('filters by digest, size and labels', () => {
      const list = (...f: string[]) => store.content.list('default', f).map((i) => i.digest).sort();
      expect(list(`digest==${big}`)).toEqual([big]);
      expect(list('size==4')).toEqual([small]);
      expect(list('size!=4')).toEqual([big, plain].sort());
      expect(list('labels."kind"==config')).toEqual([small]);
      expect(list('labels.kind~=^(config|layer)$')).toEqual([small, big].sort());
      expect(list('labels."containerd.io/distribution.source.docker.io"')).toEqual([small]);
      expect(list('labels.kind==layer', `digest==${plain}`)).toEqual([big, plain].sort());
      expect(list('labels.kind==nothing')).toEqual([]);
    });

    it('an unknown field is invalid-argument', async () => {
      await expectKind(() => store.content.list('default', ['mediatype==x']), 'invalid-argument', 'unknown field "mediatype"');
    });
  });

  describe('ingest statuses and abort', () => {
    it('status, listStatuses (with filters) and abort', async () => {
      const a = await writer('default', 'ref-a', { total: 10 });
      await a.write(0, Buffer.from('12'));
      const b = await writer('default', 'ref-b', { expected: sha256('b') });
      await b.write(0, Buffer.from('b'));
      await (await writer('other', 'ref-c')).write(0, Buffer.from('c'));

      expect(store.content.listStatuses('default', []).map((s) => [s.ref, s.offset, s.total, s.expected])).toEqual([
        ['ref-a', 2, 10, ''],
        ['ref-b', 1, 0, sha256('b')],
      ]);
      expect(store.content.listStatuses('default', ['ref==ref-b']).map((s) => s.ref)).toEqual(['ref-b']);
      expect(store.content.listStatuses('default', ['total==10']).map((s) => s.ref)).toEqual(['ref-a']);
      expect(store.content.listStatuses('default', [`expected==${sha256('b')}`]).map((s) => s.ref)).toEqual(['ref-b']);
      await expectKind(() => store.content.listStatuses('default', ['offset==2']), 'invalid-argument', 'unknown field "offset"');

      const st = store.content.status('default', 'ref-a');
      expect(st).toMatchObject({ ref: 'ref-a', offset: 2, total: 10, expected: '' });
      expect(st.startedAt.getTime()).toBeLessThanOrEqual(st.updatedAt.getTime() + 1000);
      await expectKind(() => store.content.status('default', 'ref-c'), 'not-found', 'ingest "ref-c": not found');
      await expectKind(() => store.content.status('default', ''), 'invalid-argument');

      await store.content.abort('default', 'ref-a');
      await expectKind(() => store.content.status('default', 'ref-a'), 'not-found');
      expect(store.content.listStatuses('default', []).map((s) => s.ref)).toEqual(['ref-b']);
      // The writer that held the aborted ingest fails on its next call; the ref is free again.
      await expectKind(() => a.write(2, Buffer.from('3')), 'failed-precondition', '"ref-a"');
      expect((await writer('default', 'ref-a')).status().offset).toBe(0);

      await expectKind(() => store.content.abort('default', 'never'), 'not-found', 'ingest "never": not found');
      await expectKind(() => store.content.abort('default', ''), 'invalid-argument');
      expect(store.content.listStatuses('other', []).map((s) => s.ref)).toEqual(['ref-c']);
    });
  });

  describe('leases', () => {
    it('a write under a lease records the ingest and then the content as its resources', async () => {
      store.leases.create('default', 'pull', {});
      const w = await writer('default', 'leased-ref', { lease: 'pull' });
      expect(store.leases.listResources('default', 'pull')).toEqual([{ type: 'ingests', id: 'leased-ref' }]);
      await w.write(0, Buffer.from('leased'));
      const { digest } = await w.commit(0, '', {});
      expect(store.leases.listResources('default', 'pull')).toEqual(
        expect.arrayContaining([{ type: 'content', id: digest }, { type: 'ingests', id: 'leased-ref' }]),
      );
      expect(store.leases.isHeld('content', digest)).toBe(true);
    });

    it('adopting a shared blob under a lease records it too', async () => {
      const { digest } = await commitBlob('ns-a', 'adopt me');
      store.leases.create('ns-b', 'pull', {});
      await expectKind(() => writer('ns-b', 'r', { expected: digest, lease: 'pull' }), 'already-exists');
      expect(store.leases.listResources('ns-b', 'pull')).toEqual([{ type: 'content', id: digest }]);
    });

    // ContentStore.writer checks the lease, awaits local.writer (which takes the ref's lock and opens the
    // data file), then calls leases.addResource. When the lease is deleted during that await, addResource
    // throws and the local writer is never closed: the ref stays locked (Unavailable) until the daemon
    // restarts, and its file handle leaks.
    it('a writer whose lease is deleted while it opens leaves the ref free', async () => {
      store.leases.create('default', 'short', {});
      const opening = writer('default', 'contended', { lease: 'short' });
      store.leases.delete('default', 'short');
      await expectKind(() => opening, 'not-found', 'lease "short"');
      const again = await writer('default', 'contended');
      expect(again.status().offset).toBe(0);
    });

    it('a lease that does not exist is not-found and no ingest is made', async () => {
      store.leases.create('other', 'elsewhere', {});
      await expectKind(() => writer('default', 'r', { lease: 'nope' }), 'not-found', 'lease "nope": not found');
      await expectKind(() => writer('default', 'r', { lease: 'elsewhere' }), 'not-found', 'lease "elsewhere"');
      expect(store.content.listStatuses('default', [])).toEqual([]);
      expect(store.ingestEntries()).toEqual([]);
    });
  });

  describe('namespace deletion', () => {
    it('is refused while an ingest or a blob remains', async () => {
      store.namespaces.create({ name: 'team', labels: {} });
      const w = await writer('team', 'in-progress');
      await w.write(0, Buffer.from('partial'));
      await expectKind(() => store.namespaces.delete('team'), 'failed-precondition', 'namespace "team" must be empty, but it still has ingests');

      await w.write(7, Buffer.from(' and done'));
      const { digest } = await w.commit(0, '', {});
      await expectKind(() => store.namespaces.delete('team'), 'failed-precondition', 'still has blobs');

      store.content.delete('team', digest);
      store.namespaces.delete('team');
      expect(store.namespaces.list().map((n) => n.name)).not.toContain('team');
    });

    it('an aborted ingest no longer holds the namespace', async () => {
      store.namespaces.create({ name: 'team', labels: {} });
      const w = await writer('team', 'abandoned');
      await w.write(0, Buffer.from('x'));
      await expectKind(() => store.namespaces.delete('team'), 'failed-precondition', 'ingests');
      await store.content.abort('team', 'abandoned');
      store.namespaces.delete('team');
      expect(store.namespaces.list()).toEqual([]);
    });

    // containerd's metadata content store creates the namespace's bucket when a write starts
    // (createIngestBucket), so a namespace holding only an ingest exists: ctr namespaces ls shows it and
    // Delete refuses with FailedPrecondition. ctrd makes no namespace row for an ingest.
    it('a namespace that holds only an ingest exists, as in containerd', async () => {
      const w = await writer('only-ingest', 'r');
      await w.write(0, Buffer.from('x'));
      expect(store.namespaces.list().map((n) => n.name)).toContain('only-ingest');
      await expectKind(() => store.namespaces.delete('only-ingest'), 'failed-precondition', 'ingests');
    });
  });
});
