// The bytes of the content store, without namespaces: blobs under blobs/sha256/<hex>, made read-only once
// committed, and ingests under ingest/<sha256(key)>/{data,meta.json}. A blob appears only by rename after its
// size and digest were verified, so a reader never sees a partial blob. An ingest survives a daemon crash and
// resumes from the length of its data file. One writer per ingest at a time: the lock lives in this process.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { hexOf, type Digest } from '../../lib/digest.js';
import { errnoCode, failedPrecondition, invalidArgument, notFound, outOfRange, unavailable } from '../../lib/errdefs.js';
import type { IngestStatus } from './types.js';

interface IngestMeta {
  ns: string;
  ref: string;
  total: number;
  expected: string;
  startedAt: number;
}

export interface WriterStatus extends IngestStatus {
  digest: Digest;
}

const ingestDirName = (ns: string, ref: string) => createHash('sha256').update(`${ns}/${ref}`).digest('hex');

export class LocalContentStore {
  readonly blobsDir: string;
  readonly ingestDir: string;
  private readonly locks = new Map<string, { since: Date; writer: Writer }>();

  constructor(readonly root: string) {
    this.blobsDir = join(root, 'blobs', 'sha256');
    this.ingestDir = join(root, 'ingest');
    mkdirSync(this.blobsDir, { recursive: true, mode: 0o700 });
    mkdirSync(this.ingestDir, { recursive: true, mode: 0o700 });
    // Ingests a crash left half-removed (renamed aside, not yet deleted) are finished off.
    for (const name of readdirSync(this.ingestDir)) {
      if (isRemoving(name)) rmSync(join(this.ingestDir, name), { recursive: true, force: true });
    }
  }

  blobPath(digest: Digest): string {
    return join(this.blobsDir, hexOf(digest));
  }

  /** The size of a committed blob, or undefined when it is not on disk. */
  blobSize(digest: Digest): number | undefined {
    try {
      return statSync(this.blobPath(digest)).size;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Streams [offset, offset+size) of a blob; size 0 reads to the end. */
  read(digest: Digest, blobSize: number, offset: number, size: number, chunkSize = 1 << 20): Readable {
    if (offset < 0) throw invalidArgument(`read offset ${offset} of ${digest} must not be negative`);
    if (size < 0) throw invalidArgument(`read size ${size} of ${digest} must not be negative`);
    if (offset > blobSize) throw outOfRange(`read offset ${offset} is beyond the end of ${digest} (size ${blobSize})`);
    const end = size === 0 ? blobSize : Math.min(blobSize, offset + size);
    if (end === offset) return createReadStream('/dev/null');
    return createReadStream(this.blobPath(digest), { start: offset, end: end - 1, highWaterMark: chunkSize });
  }

  deleteBlob(digest: Digest): void {
    rmSync(this.blobPath(digest), { force: true });
  }

  /** The digests of every committed blob on disk. */
  listBlobs(): Digest[] {
    return readdirSync(this.blobsDir)
      .filter((name) => /^[a-f0-9]{64}$/.test(name))
      .map((hex) => `sha256:${hex}` as Digest);
  }

  /** Whether a writer holds the ingest of (ns, ref) right now. */
  isLocked(ns: string, ref: string): boolean {
    return this.locks.has(ingestDirName(ns, ref));
  }

  /** Every ingest on disk, of one namespace or all. */
  listIngests(ns?: string): Array<IngestStatus & { ns: string }> {
    const out: Array<IngestStatus & { ns: string }> = [];
    for (const name of readdirSync(this.ingestDir)) {
      if (isRemoving(name)) continue;
      const status = this.readIngest(join(this.ingestDir, name));
      if (status && (ns === undefined || status.ns === ns)) out.push(status);
    }
    return out.sort((a, b) => a.ref.localeCompare(b.ref));
  }

  ingestStatus(ns: string, ref: string): IngestStatus {
    const status = this.readIngest(join(this.ingestDir, ingestDirName(ns, ref)));
    if (!status) throw notFound(`ingest "${ref}": not found`);
    return status;
  }

  private readIngest(dir: string): (IngestStatus & { ns: string }) | undefined {
    let meta: IngestMeta;
    try {
      meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as IngestMeta;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined;
      throw err;
    }
    let offset = 0;
    let updatedAt = new Date(meta.startedAt);
    try {
      const st = statSync(join(dir, 'data'));
      offset = st.size;
      updatedAt = st.mtime;
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    return {
      ns: meta.ns,
      ref: meta.ref,
      offset,
      total: meta.total,
      expected: meta.expected,
      startedAt: new Date(meta.startedAt),
      updatedAt,
    };
  }

  /**
   * Opens the ingest of (ns, ref) for writing, creating it or resuming it from its data on disk.
   * A second writer while the first is open gets Unavailable, which containerd's clients retry.
   */
  async writer(ns: string, ref: string, opts: { total: number; expected: string }): Promise<Writer> {
    const key = ingestDirName(ns, ref);
    const held = this.locks.get(key);
    if (held) {
      throw unavailable(`ref "${ref}" locked: another write is in progress since ${held.since.toISOString()}`);
    }
    const dir = join(this.ingestDir, key);
    const writer = new Writer(this, key, dir, ref);
    this.locks.set(key, { since: new Date(), writer });
    try {
      await writer.open(ns, opts);
      return writer;
    } catch (err) {
      this.locks.delete(key);
      await writer.close();
      throw err;
    }
  }

  /** Removes an ingest; a writer that holds it fails on its next call. */
  async abort(ns: string, ref: string): Promise<void> {
    const key = ingestDirName(ns, ref);
    const dir = join(this.ingestDir, key);
    if (!existsSync(join(dir, 'meta.json'))) throw notFound(`ingest "${ref}": not found`);
    const held = this.locks.get(key);
    if (held) await held.writer.close();
    removeDir(dir);
  }

  /** @internal called by Writer.close */
  release(key: string, writer: Writer): void {
    if (this.locks.get(key)?.writer === writer) this.locks.delete(key);
  }
}

const removingMark = '.removing-';
const isRemoving = (name: string) => name.includes(removingMark);

/** Removes a directory by renaming it aside first, so a crash never leaves a half-removed ingest in place. */
function removeDir(dir: string): void {
  const aside = `${dir}${removingMark}${process.pid}-${Date.now()}`;
  try {
    renameSync(dir, aside);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  rmSync(aside, { recursive: true, force: true });
}

/** Bytes a writer may have on their way to the file at once. */
const maxPendingBytes = 8 << 20;

async function writeAll(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

export class Writer {
  private fh: FileHandle | undefined;
  private digester: Hash = createHash('sha256');
  private pending: Promise<void> = Promise.resolve();
  private pendingBytes = 0;
  private writeError: unknown;
  private offset = 0;
  private meta!: IngestMeta;
  private updatedAt = new Date();
  private closed = false;

  constructor(
    private readonly store: LocalContentStore,
    private readonly key: string,
    private readonly dir: string,
    readonly ref: string,
  ) {}

  /** @internal */
  async open(ns: string, opts: { total: number; expected: string }): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const metaPath = join(this.dir, 'meta.json');
    try {
      this.meta = JSON.parse(readFileSync(metaPath, 'utf8')) as IngestMeta;
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
      this.meta = { ns, ref: this.ref, total: opts.total, expected: opts.expected, startedAt: Date.now() };
      writeFileSync(metaPath, JSON.stringify(this.meta), { mode: 0o600 });
    }
    this.setExpectations(opts);
    this.fh = await open(join(this.dir, 'data'), 'a+', 0o600);
    // A resumed ingest: hash what is already there so that the digest covers every byte.
    const st = await this.fh.stat();
    if (st.size > 0) {
      for await (const chunk of this.fh.createReadStream({ start: 0, end: st.size - 1, autoClose: false })) {
        this.digester.update(chunk as Buffer);
      }
    }
    this.offset = st.size;
    this.updatedAt = st.mtime;
  }

  /** Records a total or expected digest given on any message of the stream. */
  setExpectations(opts: { total?: number; expected?: string }): void {
    let changed = false;
    if (opts.total !== undefined && opts.total > 0 && opts.total !== this.meta.total) {
      this.meta.total = opts.total;
      changed = true;
    }
    if (opts.expected && opts.expected !== this.meta.expected) {
      this.meta.expected = opts.expected;
      changed = true;
    }
    if (changed) writeFileSync(join(this.dir, 'meta.json'), JSON.stringify(this.meta), { mode: 0o600 });
  }

  /** A copy of the running sha256 of what was written: a resumed download can verify the whole blob. */
  hash(): Hash {
    return this.digester.copy();
  }

  status(): WriterStatus {
    return {
      ref: this.ref,
      offset: this.offset,
      total: this.meta.total,
      expected: this.meta.expected,
      startedAt: new Date(this.meta.startedAt),
      updatedAt: this.updatedAt,
      digest: `sha256:${this.digester.copy().digest('hex')}`,
    };
  }

  private handle(): FileHandle {
    if (this.closed || !this.fh) throw failedPrecondition(`ingest "${this.ref}" was aborted or closed`);
    return this.fh;
  }

  /**
   * Writes data at offset, which must be the current end; offset 0 on a non-empty ingest restarts it. The
   * bytes are hashed and counted at once and reach the file behind the caller's back, in order, with at
   * most maxPendingBytes in flight: a lock-step client gets its answer without waiting for the disk. A
   * failed write surfaces on the next call; commit waits for every byte.
   */
  async write(offset: number, data: Uint8Array): Promise<void> {
    const fh = this.handle();
    this.throwWriteError();
    if (offset < 0) throw invalidArgument(`write offset ${offset} of "${this.ref}" must not be negative`);
    if (offset > 0 && offset !== this.offset) {
      throw outOfRange(`write at offset ${offset} of "${this.ref}" must occur at the current offset ${this.offset}`);
    }
    if (offset === 0 && this.offset > 0) {
      await this.flush();
      await fh.truncate(0);
      this.digester = createHash('sha256');
      this.offset = 0;
    }
    if (data.length === 0) return;
    const at = this.offset;
    this.digester.update(data);
    this.offset += data.length;
    this.updatedAt = new Date();
    this.pendingBytes += data.length;
    this.pending = this.pending
      .then(() => writeAll(fh, data, at))
      .catch((err: unknown) => {
        this.writeError ??= err;
      })
      .finally(() => {
        this.pendingBytes -= data.length;
      });
    if (this.pendingBytes > maxPendingBytes) await this.flush();
  }

  /** Waits until every byte written so far is in the file. */
  async flush(): Promise<void> {
    await this.pending;
    this.throwWriteError();
  }

  private throwWriteError(): void {
    if (this.writeError !== undefined) throw this.writeError;
  }

  /**
   * Verifies size and digest and moves the data into place as a read-only blob. Returns the digest and
   * whether the blob was already there (then the ingest is dropped). When the data can never match (wrong
   * digest, more bytes than announced) the ingest is discarded and nothing is committed; when bytes are
   * only missing, it stays for the writer to finish.
   */
  async commit(size: number, expected: string): Promise<{ digest: Digest; existed: boolean }> {
    const fh = this.handle();
    await this.flush();
    const want = { size: size > 0 ? size : this.meta.total, digest: expected || this.meta.expected };
    if (want.size > 0 && want.size !== this.offset) {
      const message = `commit of "${this.ref}": unexpected commit size ${this.offset}, expected ${want.size}`;
      if (this.offset < want.size) throw failedPrecondition(message);
      await this.discard();
      throw failedPrecondition(`${message}; the ingest was discarded`);
    }
    const digest: Digest = `sha256:${this.digester.copy().digest('hex')}`;
    if (want.digest && want.digest !== digest) {
      await this.discard();
      throw failedPrecondition(
        `commit of "${this.ref}": unexpected commit digest ${digest}, expected ${want.digest}; the ingest was discarded`,
      );
    }
    await fh.sync();
    // The file is closed but the ref stays locked until the blob is in place and the ingest is gone:
    // a writer that got the ref in between would open the very file that becomes the blob.
    await this.closeFile();
    try {
      const target = this.store.blobPath(digest);
      const existed = existsSync(target);
      if (!existed) {
        chmodSync(join(this.dir, 'data'), 0o444);
        renameSync(join(this.dir, 'data'), target);
      }
      removeDir(this.dir);
      return { digest, existed };
    } finally {
      await this.close();
    }
  }

  private async discard(): Promise<void> {
    await this.closeFile();
    try {
      removeDir(this.dir);
    } finally {
      await this.close();
    }
  }

  private async closeFile(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await this.pending;
    await fh?.close();
  }

  /** Closes the file and frees the ref for the next writer. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.closeFile();
    this.store.release(this.key, this);
  }
}
