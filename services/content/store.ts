// The content store as clients see it: blobs owned per namespace (rows in the metadata database) over the
// shared bytes of LocalContentStore, as containerd's "shared" content policy. Writes made under a lease are
// recorded as the lease's resources. A blob's row is committed only after its bytes are in place.
import type { Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { MetadataDB } from '../metadata/db.js';
import { parseLabels } from '../metadata/db.js';
import type { LeaseStore } from '../leases/store.js';
import { LocalContentStore, type Writer, type WriterStatus } from './local-store.js';
import { contentFilterFields, ingestFilterFields, type ContentInfo, type IngestStatus } from './types.js';
import { parseDigest, type Digest } from '../../lib/digest.js';
import { alreadyExists, invalidArgument, notFound } from '../../lib/errdefs.js';
import { applyLabelMask, validateLabels, type Labels } from '../../lib/labels.js';
import { compileFilters, recordReader } from '../../lib/filters.js';

interface ContentRow {
  digest: string;
  size: number;
  labels: string;
  created_at: number;
  updated_at: number;
}

const toInfo = (r: ContentRow): ContentInfo => ({
  digest: r.digest as Digest,
  size: r.size,
  labels: parseLabels(r.labels),
  createdAt: new Date(r.created_at),
  updatedAt: new Date(r.updated_at),
});

export class ContentStore {
  constructor(
    private readonly db: MetadataDB,
    readonly local: LocalContentStore,
    private readonly leases: LeaseStore,
  ) {}

  private row(ns: string, digest: Digest): ContentRow | undefined {
    return this.db
      .stmt('SELECT digest, size, labels, created_at, updated_at FROM content WHERE namespace = ? AND digest = ?')
      .get(ns, digest) as ContentRow | undefined;
  }

  info(ns: string, dgst: string): ContentInfo {
    const digest = parseDigest(dgst);
    const row = this.row(ns, digest);
    if (!row) throw notFound(`content ${digest}: not found`);
    return toInfo(row);
  }

  /** Updates labels by field mask ("labels", "labels.<key>"); no other field of a blob can change. */
  update(ns: string, dgst: string, labels: Labels, paths: readonly string[]): ContentInfo {
    const digest = parseDigest(dgst);
    const update = validateLabels(labels);
    return this.db.tx(() => {
      const current = this.info(ns, digest);
      const next = applyLabelMask(current.labels, update, paths);
      if (next.rest.length > 0) {
        throw invalidArgument(`cannot update field "${next.rest[0]}" of content ${digest}: only labels can change`);
      }
      validateLabels(next.labels);
      const now = Date.now();
      this.db
        .stmt('UPDATE content SET labels = ?, updated_at = ? WHERE namespace = ? AND digest = ?')
        .run(JSON.stringify(next.labels), now, ns, digest);
      return { ...current, labels: next.labels, updatedAt: new Date(now) };
    });
  }

  list(ns: string, filters: readonly string[]): ContentInfo[] {
    const match = compileFilters(filters, contentFilterFields, recordReader<ContentInfo>());
    const rows = this.db
      .stmt('SELECT digest, size, labels, created_at, updated_at FROM content WHERE namespace = ? ORDER BY digest')
      .all(ns) as ContentRow[];
    return rows.map(toInfo).filter(match);
  }

  /** Removes the namespace's row; the bytes go when no namespace and no lease refers to them any more. */
  delete(ns: string, dgst: string): void {
    const digest = parseDigest(dgst);
    this.db.tx(() => {
      if (!this.row(ns, digest)) throw notFound(`content ${digest}: not found`);
      this.db.stmt('DELETE FROM content WHERE namespace = ? AND digest = ?').run(ns, digest);
      const stillUsed = this.db.stmt('SELECT 1 FROM content WHERE digest = ? LIMIT 1').get(digest) !== undefined;
      if (!stillUsed && !this.leases.isHeld('content', digest)) this.local.deleteBlob(digest);
    });
  }

  read(ns: string, dgst: string, offset: number, size: number): Readable {
    const info = this.info(ns, dgst);
    return this.local.read(info.digest, info.size, offset, size);
  }

  /** A whole blob in memory: for small ones (manifests, configs); the caller bounds the size. */
  async readAll(ns: string, dgst: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.read(ns, dgst, 0, 0)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /** Writes bytes held in memory as one blob; AlreadyExists when the namespace has it (as writer()). */
  async writeBlob(
    ns: string,
    ref: string,
    data: Buffer,
    opts: { expected?: string; labels?: Labels; lease?: string } = {},
  ): Promise<ContentInfo> {
    const expected = opts.expected ?? '';
    const w = await this.writer(ns, ref, { total: data.length, expected, lease: opts.lease });
    try {
      await w.write(0, data);
      return await w.commit(data.length, expected, opts.labels ?? {});
    } finally {
      await w.close();
    }
  }

  status(ns: string, ref: string): IngestStatus {
    if (ref === '') throw invalidArgument('ingest ref must not be empty');
    return this.local.ingestStatus(ns, ref);
  }

  listStatuses(ns: string, filters: readonly string[]): IngestStatus[] {
    const match = compileFilters(filters, ingestFilterFields, recordReader<IngestStatus>());
    return this.local.listIngests(ns).filter(match);
  }

  async abort(ns: string, ref: string): Promise<void> {
    if (ref === '') throw invalidArgument('ingest ref must not be empty');
    await this.local.abort(ns, ref);
  }

  /** Whether the namespace has writes in progress (they keep it from being deleted). */
  hasIngests(ns: string): boolean {
    return this.local.listIngests(ns).length > 0;
  }

  /**
   * Opens a write. When the expected blob is already committed in this namespace, or its bytes are on disk
   * from another namespace (then this namespace gets its row), the answer is AlreadyExists: nothing to write.
   */
  async writer(
    ns: string,
    ref: string,
    opts: { total: number; expected: string; lease: string | undefined },
  ): Promise<NamespacedWriter> {
    if (ref === '') throw invalidArgument('first message of a write must carry a ref');
    if (opts.total < 0) throw invalidArgument(`write of "${ref}": total ${opts.total} must not be negative`);
    const expected = opts.expected === '' ? undefined : parseDigest(opts.expected);
    if (opts.lease !== undefined && !this.leases.exists(ns, opts.lease)) {
      throw notFound(`lease "${opts.lease}": not found`);
    }
    if (expected) this.adoptExisting(ns, expected, opts.lease);
    const writer = await this.local.writer(ns, ref, { total: opts.total, expected: expected ?? '' });
    try {
      // As in containerd, a namespace exists from its first write on (and cannot be deleted under it).
      this.db.tx(() => {
        this.db.ensureNamespace(ns);
        if (opts.lease !== undefined) this.leases.addResource(ns, opts.lease, { type: 'ingests', id: ref });
      });
    } catch (err) {
      await writer.close();
      throw err;
    }
    return new NamespacedWriter(this, writer, ns, opts.lease);
  }

  private adoptExisting(ns: string, digest: Digest, lease: string | undefined): void {
    if (this.row(ns, digest)) {
      // As containerd: the writer's lease now holds the blob too, so no collection takes it from under the
      // client between "already exists" and the reference the client is about to make.
      if (lease !== undefined) this.leases.addResource(ns, lease, { type: 'content', id: digest });
      throw alreadyExists(`content ${digest}: already exists`);
    }
    const size = this.local.blobSize(digest);
    if (size === undefined) return;
    this.addRow(ns, digest, size, {}, lease);
    throw alreadyExists(`content ${digest}: already exists`);
  }

  /** @internal the row that makes a committed blob visible in a namespace */
  addRow(ns: string, digest: Digest, size: number, labels: Labels, lease: string | undefined): ContentInfo {
    return this.db.tx(() => {
      const now = Date.now();
      this.db.ensureNamespace(ns, now);
      this.db
        .stmt(
          'INSERT INTO content (namespace, digest, size, labels, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
        )
        .run(ns, digest, size, JSON.stringify(labels), now, now);
      if (lease !== undefined && this.leases.exists(ns, lease)) {
        this.leases.addResource(ns, lease, { type: 'content', id: digest });
      }
      return { digest, size, labels, createdAt: new Date(now), updatedAt: new Date(now) };
    });
  }

  /** @internal */
  hasRow(ns: string, digest: Digest): boolean {
    return this.row(ns, digest) !== undefined;
  }
}

export class NamespacedWriter {
  constructor(
    private readonly store: ContentStore,
    private readonly writer: Writer,
    private readonly ns: string,
    private readonly lease: string | undefined,
  ) {}

  get ref(): string {
    return this.writer.ref;
  }

  status(): WriterStatus {
    return this.writer.status();
  }

  /** A copy of the running sha256 of the bytes written so far. */
  hash(): Hash {
    return this.writer.hash();
  }

  setExpectations(opts: { total?: number; expected?: string }): void {
    if (opts.expected) parseDigest(opts.expected);
    if (opts.total !== undefined && opts.total < 0) throw invalidArgument(`total ${opts.total} must not be negative`);
    this.writer.setExpectations(opts);
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    return this.writer.write(offset, data);
  }

  /** Waits until every byte written so far is in the file (a write is answered before that). */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  /** Commits the blob; AlreadyExists when this namespace already had it (the bytes are then dropped). */
  async commit(size: number, expected: string, labels: Labels): Promise<ContentInfo> {
    if (size < 0) throw invalidArgument(`commit size ${size} must not be negative`);
    if (expected !== '') parseDigest(expected);
    const checked = validateLabels(labels);
    const { digest } = await this.writer.commit(size, expected);
    if (this.store.hasRow(this.ns, digest)) throw alreadyExists(`content ${digest}: already exists`);
    return this.store.addRow(this.ns, digest, this.writer.status().offset, checked, this.lease);
  }

  close(): Promise<void> {
    return this.writer.close();
  }
}
