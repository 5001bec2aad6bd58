// Garbage collection: mark and sweep over containerd's label scheme, across every namespace.
//   roots:  images (their target), containers (their snapshot), leases that have not expired (their resources), content and snapshots
//           labelled containerd.io/gc.root or with a containerd.io/gc.expire still in the future
//   edges:  containerd.io/gc.ref.content[.*]=<digest>, containerd.io/gc.ref.snapshot.<snapshotter>[/*]=<key>
//           on content and snapshots; a snapshot's parent
//   sweep:  unmarked content rows, unmarked snapshots (children first), blob files no row refers to, expired
//           leases, ingests no lease holds that nobody wrote to for ingestExpiry
// Every change to rows and files happens synchronously in one tick, so no request interleaves between the
// decision and the deletion; only the removal of renamed-aside directories finishes later.
import type { MetadataDB } from './db.js';
import { parseLabels } from './db.js';
import type { LocalContentStore } from '../content/local-store.js';
import type { LeaseStore } from '../leases/store.js';
import type { Logger } from '../../lib/log.js';
import type { Labels } from '../../lib/labels.js';

export const gcRootLabel = 'containerd.io/gc.root';
export const gcExpireLabel = 'containerd.io/gc.expire';
const contentRefPrefix = 'containerd.io/gc.ref.content';
const snapshotRefPrefix = 'containerd.io/gc.ref.snapshot.';

export interface GcStats {
  contentRows: number;
  blobs: number;
  snapshots: number;
  leases: number;
  ingests: number;
  ms: number;
}

/** Removes the directory of a snapshot whose row is gone: the snapshotter owns its directories. */
export type SnapshotDirRemover = (snapshotter: string, id: number) => void;

interface SnapshotRow {
  id: number;
  namespace: string;
  snapshotter: string;
  key: string;
  parent_id: number | null;
  labels: string;
}

function isRooted(labels: Labels, now: number): boolean {
  if (labels[gcRootLabel] !== undefined) return true;
  const expire = labels[gcExpireLabel];
  if (expire === undefined) return false;
  const t = Date.parse(expire);
  return !Number.isNaN(t) && t > now;
}

export interface GcOptions {
  /** An ingest no lease holds is garbage once nobody wrote to it for this long. */
  ingestExpiryMs: number;
  /** How long schedule() waits for more deletions before it collects. */
  debounceMs: number;
  /** After this many deletions reported by dirty(), a collection is scheduled (containerd's mutation threshold). */
  mutationThreshold: number;
}

export const defaultGcOptions: GcOptions = { ingestExpiryMs: 60 * 60 * 1000, debounceMs: 200, mutationThreshold: 100 };

export class GarbageCollector {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<GcStats> | undefined;
  private readonly removers = new Map<string, SnapshotDirRemover>();
  private readonly followers: Array<(stats: GcStats) => void> = [];

  constructor(
    private readonly db: MetadataDB,
    private readonly content: LocalContentStore,
    private readonly leases: LeaseStore,
    private readonly log: Logger,
    private readonly opts: GcOptions = defaultGcOptions,
  ) {}

  private mutations = 0;

  /**
   * Records a deletion that may have made something garbage. As containerd's scheduler, a collection follows
   * only after many of them: an unreferenced snapshot a client just prepared is not swept from under it.
   */
  dirty(): void {
    if (++this.mutations >= this.opts.mutationThreshold) this.schedule();
  }

  /** Registers the snapshotter that owns the directories of snapshots with its name. */
  addSnapshotter(name: string, remove: SnapshotDirRemover): void {
    this.removers.set(name, remove);
  }

  /** Collects soon, once deletions have settled. */
  schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.collect().catch((err: unknown) => this.log.error({ err }, 'garbage collection failed'));
    }, this.opts.debounceMs);
    this.timer.unref();
  }

  /** Collects now; a collection already running is awaited and followed by a fresh one. */
  async collect(): Promise<GcStats> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.running) await this.running.catch(() => undefined);
    this.mutations = 0;
    this.running = this.run();
    try {
      return await this.running;
    } finally {
      this.running = undefined;
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  /** Runs fn after every collection that removed content rows: for owners of rows that name content (the build cache). */
  afterCollect(fn: (stats: GcStats) => void): void {
    this.followers.push(fn);
  }

  private async run(): Promise<GcStats> {
    const started = Date.now();
    const stats = this.sweep(started);
    // Ingests are the one part that may wait (a writer may be closing); each is checked again when removed.
    for (const ing of this.staleIngests(started)) {
      try {
        if (this.content.isLocked(ing.ns, ing.ref)) continue;
        await this.content.abort(ing.ns, ing.ref);
        stats.ingests++;
      } catch (err) {
        this.log.warn({ err, ns: ing.ns, ref: ing.ref }, 'gc: removing a stale ingest failed');
      }
    }
    stats.ms = Date.now() - started;
    if (stats.contentRows > 0) {
      for (const fn of this.followers) {
        try {
          fn(stats);
        } catch (err) {
          this.log.error({ err }, 'gc: a follower of the collection failed');
        }
      }
    }
    if (stats.contentRows + stats.blobs + stats.snapshots + stats.leases + stats.ingests > 0) {
      this.log.info(stats, 'garbage collected');
    } else {
      this.log.debug(stats, 'garbage collection found nothing');
    }
    return stats;
  }

  private staleIngests(now: number) {
    const held = new Set(
      (this.db.sql.prepare("SELECT namespace, id FROM lease_resources WHERE type = 'ingests'").all() as Array<{
        namespace: string;
        id: string;
      }>).map((r) => `${r.namespace}\0${r.id}`),
    );
    return this.content
      .listIngests()
      .filter((i) => !held.has(`${i.ns}\0${i.ref}`) && now - i.updatedAt.getTime() >= this.opts.ingestExpiryMs);
  }

  private sweep(now: number): GcStats {
    const stats: GcStats = { contentRows: 0, blobs: 0, snapshots: 0, leases: 0, ingests: 0, ms: 0 };
    stats.leases = this.leases.deleteExpired(new Date(now)).length;
    const sql = this.db.sql;

    const contentRows = sql.prepare('SELECT namespace, digest, labels FROM content').all() as Array<{
      namespace: string;
      digest: string;
      labels: string;
    }>;
    const content = new Map(contentRows.map((r) => [`${r.namespace}\0${r.digest}`, parseLabels(r.labels)]));
    const snapshotRows = sql.prepare('SELECT id, namespace, snapshotter, key, parent_id, labels FROM snapshots').all() as SnapshotRow[];
    const snapshotsById = new Map(snapshotRows.map((r) => [r.id, r]));
    const snapshotsByKey = new Map(snapshotRows.map((r) => [`${r.namespace}\0${r.snapshotter}\0${r.key}`, r]));

    const markedContent = new Set<string>();
    const markedSnapshots = new Set<number>();
    const work: Array<() => void> = [];

    const markContent = (ns: string, digest: string) => {
      const k = `${ns}\0${digest}`;
      if (markedContent.has(k)) return;
      markedContent.add(k);
      const labels = content.get(k);
      if (labels) work.push(() => followRefs(ns, labels));
    };
    const markSnapshot = (row: SnapshotRow | undefined) => {
      if (!row || markedSnapshots.has(row.id)) return;
      markedSnapshots.add(row.id);
      work.push(() => {
        if (row.parent_id !== null) markSnapshot(snapshotsById.get(row.parent_id));
        followRefs(row.namespace, parseLabels(row.labels));
      });
    };
    const followRefs = (ns: string, labels: Labels) => {
      for (const [key, value] of Object.entries(labels)) {
        if (key === contentRefPrefix || key.startsWith(`${contentRefPrefix}.`)) {
          markContent(ns, value);
        } else if (key.startsWith(snapshotRefPrefix)) {
          const snapshotter = key.slice(snapshotRefPrefix.length).split('/')[0]!;
          markSnapshot(snapshotsByKey.get(`${ns}\0${snapshotter}\0${value}`));
        }
      }
    };

    // Roots.
    for (const r of sql.prepare('SELECT namespace, target_digest FROM images').all() as Array<{ namespace: string; target_digest: string }>) {
      markContent(r.namespace, r.target_digest);
    }
    for (const r of sql.prepare('SELECT namespace, type, id FROM lease_resources').all() as Array<{
      namespace: string;
      type: string;
      id: string;
    }>) {
      if (r.type === 'content') markContent(r.namespace, r.id);
      else if (r.type.startsWith('snapshots/')) {
        markSnapshot(snapshotsByKey.get(`${r.namespace}\0${r.type.slice('snapshots/'.length)}\0${r.id}`));
      }
    }
    // Containers hold their snapshot, and what their gc.ref labels name.
    for (const r of sql.prepare('SELECT namespace, snapshotter, snapshot_key, labels FROM containers').all() as Array<{
      namespace: string;
      snapshotter: string;
      snapshot_key: string;
      labels: string;
    }>) {
      if (r.snapshot_key !== '') markSnapshot(snapshotsByKey.get(`${r.namespace}\0${r.snapshotter}\0${r.snapshot_key}`));
      followRefs(r.namespace, parseLabels(r.labels));
    }
    for (const [k, labels] of content) {
      if (isRooted(labels, now)) markContent(k.split('\0')[0]!, k.split('\0')[1]!);
    }
    for (const row of snapshotRows) if (isRooted(parseLabels(row.labels), now)) markSnapshot(row);
    while (work.length > 0) work.pop()!();

    // Sweep rows, then the files no row refers to any more.
    const deadSnapshots = snapshotRows.filter((r) => !markedSnapshots.has(r.id));
    const removalOrder: SnapshotRow[] = [];
    this.db.tx(() => {
      const delContent = sql.prepare('DELETE FROM content WHERE namespace = ? AND digest = ?');
      for (const k of content.keys()) {
        if (markedContent.has(k)) continue;
        const [ns, digest] = k.split('\0') as [string, string];
        delContent.run(ns, digest);
        stats.contentRows++;
      }
      // Children before parents: a parent row cannot go while a child row stands on it.
      const delSnapshot = sql.prepare('DELETE FROM snapshots WHERE id = ?');
      const remaining = new Set(deadSnapshots.map((r) => r.id));
      while (remaining.size > 0) {
        const parents = new Set(snapshotRows.filter((r) => remaining.has(r.id)).map((r) => r.parent_id));
        const leaves = [...remaining].filter((id) => !parents.has(id));
        for (const id of leaves) {
          delSnapshot.run(id);
          remaining.delete(id);
          removalOrder.push(snapshotsById.get(id)!);
        }
      }
    });
    for (const row of removalOrder) {
      const remove = this.removers.get(row.snapshotter);
      if (!remove) {
        this.log.warn({ snapshotter: row.snapshotter, id: row.id }, 'gc: no snapshotter to remove a snapshot directory');
        continue;
      }
      remove(row.snapshotter, row.id);
      stats.snapshots++;
    }

    const referenced = new Set(
      (sql.prepare('SELECT DISTINCT digest FROM content').all() as Array<{ digest: string }>).map((r) => r.digest),
    );
    for (const r of sql.prepare("SELECT DISTINCT id FROM lease_resources WHERE type = 'content'").all() as Array<{ id: string }>) {
      referenced.add(r.id);
    }
    for (const digest of this.content.listBlobs()) {
      if (referenced.has(digest)) continue;
      this.content.deleteBlob(digest);
      stats.blobs++;
    }
    return stats;
  }
}
