// Snapshots as clients see them: keys per namespace and snapshotter (rows of the snapshots table) over the
// directories of each snapshotter backend, as containerd's metadata snapshotter over overlay and native.
// A row's id names its directory, so a commit only changes the row. One transaction per operation:
//   create   the backend builds the directory aside (slow, outside the transaction); then one transaction
//            checks again, adds the row and renames the directory into place. Any failure removes the
//            directory: a failed prepare leaves no row and no directory.
//   remove   one transaction deletes the row and renames the directory aside; it is deleted after the commit.
// Under a lease, a new key becomes the lease's resource (snapshots/<snapshotter>), as in containerd.
import type { MetadataDB } from '../metadata/db.js';
import { parseLabels } from '../metadata/db.js';
import type { LeaseStore } from '../leases/store.js';
import { alreadyExists, errnoCode, failedPrecondition, invalidArgument, notFound } from '../../lib/errdefs.js';
import { compileFilters, recordReader } from '../../lib/filters.js';
import { applyLabelMask, validateLabels, type Labels } from '../../lib/labels.js';
import { silentLogger, type Logger } from '../../lib/log.js';
import {
  snapshotFilterFields,
  type DetachedDir,
  type Mount,
  type SnapshotInfo,
  type SnapshotKind,
  type SnapshotRecord,
  type SnapshotRef,
  type Snapshotter,
  type StagedDir,
  type Usage,
} from './types.js';

/** The label by which a client names the committed snapshot it means to make (containerd's unpacker). */
export const snapshotRefLabel = 'containerd.io/snapshot.ref';

interface SnapshotRow {
  id: number;
  namespace: string;
  snapshotter: string;
  key: string;
  parent_id: number | null;
  parent_key: string | null;
  kind: SnapshotKind;
  labels: string;
  created_at: number;
  updated_at: number;
}

const select = `
  SELECT s.id, s.namespace, s.snapshotter, s.key, s.parent_id, p.key AS parent_key, s.kind, s.labels,
         s.created_at, s.updated_at
  FROM snapshots s LEFT JOIN snapshots p ON p.id = s.parent_id`;

const toInfo = (r: SnapshotRow): SnapshotInfo => ({
  name: r.key,
  parent: r.parent_key ?? '',
  kind: r.kind,
  labels: parseLabels(r.labels),
  createdAt: new Date(r.created_at),
  updatedAt: new Date(r.updated_at),
});

const leaseResource = (snapshotter: string, key: string) => ({ type: `snapshots/${snapshotter}`, id: key });

export interface LeaseOption {
  /** The lease the client works under (the containerd-lease header). */
  lease?: string | undefined;
}

export class SnapshotStore {
  private readonly backends: ReadonlyMap<string, Snapshotter>;
  /** Snapshots that prepares in progress build on, by row id: they cannot be removed meanwhile. */
  private readonly pinned = new Map<number, number>();

  constructor(
    private readonly db: MetadataDB,
    private readonly leases: LeaseStore,
    snapshotters: readonly Snapshotter[],
    private readonly log: Logger = silentLogger,
  ) {
    this.backends = new Map(snapshotters.map((s) => [s.name, s]));
    for (const s of snapshotters) s.recover(this.liveIds(s.name));
  }

  /** The names of the snapshotters, as clients pass them. */
  names(): string[] {
    return [...this.backends.keys()];
  }

  snapshotter(name: string): Snapshotter {
    if (name === '') throw invalidArgument('snapshotter argument missing');
    const s = this.backends.get(name);
    if (!s) throw invalidArgument(`snapshotter "${name}" not found (loaded: ${this.names().join(', ')})`);
    return s;
  }

  private row(ns: string, snapshotter: string, key: string): SnapshotRow | undefined {
    return this.db
      .stmt(`${select} WHERE s.namespace = ? AND s.snapshotter = ? AND s.key = ?`)
      .get(ns, snapshotter, key) as SnapshotRow | undefined;
  }

  private mustExist(ns: string, snapshotter: string, key: string): SnapshotRow {
    if (key === '') throw invalidArgument('snapshot key must not be empty');
    const row = this.row(ns, snapshotter, key);
    if (!row) throw notFound(`snapshot "${key}": not found`);
    return row;
  }

  /** The ids of a snapshot's ancestors, nearest first. */
  private parentIds(parentId: number | null): string[] {
    if (parentId === null) return [];
    const rows = this.db
      .stmt(
        `WITH RECURSIVE chain(id, parent_id, depth) AS (
           SELECT id, parent_id, 0 FROM snapshots WHERE id = ?
           UNION ALL SELECT s.id, s.parent_id, c.depth + 1 FROM snapshots s JOIN chain c ON s.id = c.parent_id)
         SELECT id FROM chain ORDER BY depth`,
      )
      .all(parentId) as Array<{ id: number }>;
    return rows.map((r) => String(r.id));
  }

  private ref(row: SnapshotRow): SnapshotRef {
    return { id: String(row.id), kind: row.kind, parentIds: this.parentIds(row.parent_id) };
  }

  private liveIds(snapshotter: string): Set<string> {
    const rows = this.db.stmt('SELECT id FROM snapshots WHERE snapshotter = ?').all(snapshotter) as Array<{ id: number }>;
    return new Set(rows.map((r) => String(r.id)));
  }

  /** Everything a new snapshot needs that is already in the database; returns its parent's row. */
  private checkNew(ns: string, snapshotter: string, key: string, parent: string, labels: Labels, lease: string | undefined) {
    const target = labels[snapshotRefLabel];
    if (target !== undefined && target !== '' && this.row(ns, snapshotter, target)) {
      throw alreadyExists(`target snapshot "${target}": already exists`);
    }
    if (this.row(ns, snapshotter, key)) throw alreadyExists(`snapshot "${key}": already exists`);
    if (lease !== undefined && !this.leases.exists(ns, lease)) throw notFound(`lease "${lease}": not found`);
    if (parent === '') return undefined;
    const p = this.row(ns, snapshotter, parent);
    if (!p) throw notFound(`parent snapshot "${parent}": not found`);
    if (p.kind !== 'committed') throw invalidArgument(`parent "${parent}" is not a committed snapshot (it is ${p.kind})`);
    return p;
  }

  /** An active (writable) snapshot on parent ('' for none); returns its mounts. */
  prepare(ns: string, snapshotter: string, key: string, parent: string, labels: Labels, opts: LeaseOption = {}): Promise<Mount[]> {
    return this.create('active', ns, snapshotter, key, parent, labels, opts.lease);
  }

  /** A read-only snapshot of parent; returns its mounts. */
  view(ns: string, snapshotter: string, key: string, parent: string, labels: Labels, opts: LeaseOption = {}): Promise<Mount[]> {
    return this.create('view', ns, snapshotter, key, parent, labels, opts.lease);
  }

  private async create(
    kind: 'active' | 'view',
    ns: string,
    snapshotter: string,
    key: string,
    parent: string,
    labels: Labels,
    lease: string | undefined,
  ): Promise<Mount[]> {
    const backend = this.snapshotter(snapshotter);
    if (key === '') throw invalidArgument('snapshot key must not be empty');
    const checked = validateLabels(labels);
    const parentRow = this.checkNew(ns, snapshotter, key, parent, checked, lease);
    const parentIds = parentRow ? this.parentIds(parentRow.id) : [];
    if (parentRow) this.pin(parentRow.id);
    try {
      const staged = await backend.stage(kind, parentIds);
      let id: string;
      try {
        id = this.db.tx(() => {
          const p = this.checkNew(ns, snapshotter, key, parent, checked, lease);
          if (p?.id !== parentRow?.id) throw failedPrecondition(`parent snapshot "${parent}" changed while "${key}" was prepared`);
          const now = Date.now();
          this.db.ensureNamespace(ns, now);
          const { lastInsertRowid } = this.db
            .stmt(
              `INSERT INTO snapshots (namespace, snapshotter, key, parent_id, kind, labels, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
            )
            .run(ns, snapshotter, key, parentRow?.id ?? null, kind, JSON.stringify(checked), now, now);
          if (lease !== undefined) this.leases.addResource(ns, lease, leaseResource(snapshotter, key));
          const id = String(lastInsertRowid);
          backend.place(staged, id);
          return id;
        });
      } catch (err) {
        await this.discard(backend, staged);
        throw err;
      }
      return backend.mounts({ id, kind, parentIds });
    } finally {
      if (parentRow) this.unpin(parentRow.id);
    }
  }

  private async discard(backend: Snapshotter, staged: StagedDir): Promise<void> {
    try {
      await backend.discard(staged);
    } catch (err) {
      this.log.error({ err, snapshotter: backend.name, path: staged.path }, 'removing the directory of a failed prepare failed');
    }
  }

  private pin(id: number): void {
    this.pinned.set(id, (this.pinned.get(id) ?? 0) + 1);
  }

  private unpin(id: number): void {
    const n = (this.pinned.get(id) ?? 1) - 1;
    if (n === 0) this.pinned.delete(id);
    else this.pinned.set(id, n);
  }

  /** The mounts of an active snapshot or a view. */
  mounts(ns: string, snapshotter: string, key: string): Mount[] {
    const backend = this.snapshotter(snapshotter);
    const row = this.mustExist(ns, snapshotter, key);
    if (row.kind === 'committed') throw failedPrecondition(`snapshot "${key}" is committed: only an active snapshot or a view has mounts`);
    return backend.mounts(this.ref(row));
  }

  /** Turns the active snapshot key into the committed snapshot name; its directory stays as it is. */
  commit(ns: string, snapshotter: string, name: string, key: string, labels: Labels, opts: LeaseOption = {}): void {
    this.snapshotter(snapshotter);
    if (name === '') throw invalidArgument('committed snapshot name must not be empty');
    if (key === '') throw invalidArgument('snapshot key must not be empty');
    const checked = validateLabels(labels);
    const { lease } = opts;
    this.db.tx(() => {
      // containerd's order of checks: the name, the lease, then the active snapshot.
      if (this.row(ns, snapshotter, name)) throw alreadyExists(`snapshot "${name}": already exists`);
      if (lease !== undefined) this.leases.addResource(ns, lease, leaseResource(snapshotter, name));
      const active = this.mustExist(ns, snapshotter, key);
      if (active.kind !== 'active') throw failedPrecondition(`snapshot "${key}" is not active (it is ${active.kind})`);
      const now = Date.now();
      // The committed snapshot gets the labels of the commit, not those of the active one, as in containerd.
      this.db
        .stmt("UPDATE snapshots SET key = ?, kind = 'committed', labels = ?, created_at = ?, updated_at = ? WHERE id = ?")
        .run(name, JSON.stringify(checked), now, now, active.id);
      if (lease !== undefined) this.leases.deleteResource(ns, lease, leaseResource(snapshotter, key));
    });
  }

  /** Removes a snapshot that no other stands on; its directory goes after the row. */
  async remove(ns: string, snapshotter: string, key: string, opts: LeaseOption = {}): Promise<void> {
    const backend = this.snapshotter(snapshotter);
    const { lease } = opts;
    await this.removeRow(backend, () => {
      const row = this.mustExist(ns, snapshotter, key);
      if (lease !== undefined && this.leases.exists(ns, lease)) {
        this.leases.deleteResource(ns, lease, leaseResource(snapshotter, key));
      }
      return row;
    });
  }

  /** Removes a snapshot by its row id, whatever its namespace (for the garbage collector). */
  async removeById(id: number): Promise<void> {
    const found = this.db.stmt('SELECT snapshotter FROM snapshots WHERE id = ?').get(id) as { snapshotter: string } | undefined;
    if (!found) throw notFound(`snapshot with id ${id}: not found`);
    const backend = this.snapshotter(found.snapshotter);
    await this.removeRow(backend, () => {
      const row = this.db.stmt(`${select} WHERE s.id = ?`).get(id) as SnapshotRow | undefined;
      if (!row) throw notFound(`snapshot with id ${id}: not found`);
      return row;
    });
  }

  private async removeRow(backend: Snapshotter, find: () => SnapshotRow): Promise<void> {
    let detached: DetachedDir | undefined;
    try {
      this.db.tx(() => {
        const row = find();
        const child = this.db.stmt('SELECT key FROM snapshots WHERE parent_id = ? ORDER BY key LIMIT 1').get(row.id) as
          | { key: string }
          | undefined;
        if (child) throw failedPrecondition(`cannot remove snapshot "${row.key}": snapshot "${child.key}" has it as parent`);
        if (this.pinned.has(row.id)) {
          throw failedPrecondition(`cannot remove snapshot "${row.key}": a snapshot is being prepared on it`);
        }
        this.db.stmt('DELETE FROM snapshots WHERE id = ?').run(row.id);
        detached = backend.detach(String(row.id));
      });
    } catch (err) {
      if (detached) this.reattach(backend, detached);
      throw err;
    }
    if (detached) await this.purge(backend, detached);
  }

  private reattach(backend: Snapshotter, dir: DetachedDir): void {
    try {
      backend.reattach(dir);
    } catch (err) {
      // The row is still there: recover() puts the directory back at the next start.
      this.log.error({ err, snapshotter: backend.name, path: dir.path }, 'putting back the directory of a snapshot failed');
    }
  }

  private async purge(backend: Snapshotter, dir: DetachedDir): Promise<void> {
    try {
      await backend.purge(dir);
    } catch (err) {
      // The row is gone: the directory is garbage that the next cleanup removes.
      this.log.warn({ err, snapshotter: backend.name, path: dir.path }, 'removing a snapshot directory failed');
    }
  }

  /**
   * Removes the directory of a snapshot whose row is already gone (the garbage collector deletes rows
   * itself): renamed aside now, deleted in the background.
   */
  removeDirectory(snapshotter: string, id: number): void {
    try {
      const backend = this.snapshotter(snapshotter);
      const dir = backend.detach(String(id));
      if (dir) void this.purge(backend, dir);
    } catch (err) {
      // The row is gone: the directory is garbage that the next cleanup removes.
      this.log.warn({ err, snapshotter, id }, 'removing a snapshot directory failed');
    }
  }

  stat(ns: string, snapshotter: string, key: string): SnapshotInfo {
    this.snapshotter(snapshotter);
    return toInfo(this.mustExist(ns, snapshotter, key));
  }

  /** Updates labels by field mask ("labels", "labels.<key>"; empty: all labels); nothing else can change. */
  update(ns: string, snapshotter: string, info: { name: string; labels: Labels }, paths: readonly string[]): SnapshotInfo {
    this.snapshotter(snapshotter);
    if (info.name === '') throw invalidArgument('snapshot name must not be empty');
    const update = validateLabels(info.labels);
    return this.db.tx(() => {
      const row = this.mustExist(ns, snapshotter, info.name);
      const next = applyLabelMask(parseLabels(row.labels), update, paths);
      if (next.rest.length > 0) throw invalidArgument(`cannot update "${next.rest[0]}" field on snapshot "${info.name}"`);
      const labels = validateLabels(next.labels);
      const now = Date.now();
      this.db.stmt('UPDATE snapshots SET labels = ?, updated_at = ? WHERE id = ?').run(JSON.stringify(labels), now, row.id);
      return { ...toInfo(row), labels, updatedAt: new Date(now) };
    });
  }

  /** The snapshots of a namespace and snapshotter, by name (containerd walks its keys in byte order). */
  list(ns: string, snapshotter: string, filters: readonly string[]): SnapshotInfo[] {
    this.snapshotter(snapshotter);
    const match = compileFilters(filters, snapshotFilterFields, recordReader<SnapshotInfo>());
    const rows = this.db
      .stmt(`${select} WHERE s.namespace = ? AND s.snapshotter = ? ORDER BY s.key`)
      .all(ns, snapshotter) as SnapshotRow[];
    return rows.map(toInfo).filter(match);
  }

  async usage(ns: string, snapshotter: string, key: string): Promise<Usage> {
    const backend = this.snapshotter(snapshotter);
    const row = this.mustExist(ns, snapshotter, key);
    try {
      return await backend.usage(this.ref(row));
    } catch (err) {
      // Removed while it was measured.
      if (errnoCode(err) === 'ENOENT' && !this.row(ns, snapshotter, key)) throw notFound(`snapshot "${key}": not found`);
      throw err;
    }
  }

  /** Removes every directory of the snapshotter that no row refers to; returns how many went. */
  async cleanup(snapshotter: string): Promise<number> {
    const backend = this.snapshotter(snapshotter);
    // Rows and directories are read in one synchronous step: no prepare places a directory in between.
    const orphans = backend.orphans(this.liveIds(snapshotter));
    for (const dir of orphans) await this.purge(backend, dir);
    if (orphans.length > 0) this.log.info({ snapshotter, removed: orphans.length }, 'snapshot cleanup removed orphan directories');
    return orphans.length;
  }

  /** Every snapshot row of every namespace and snapshotter. */
  listAll(): SnapshotRecord[] {
    const rows = this.db.stmt(`${select} ORDER BY s.id`).all() as SnapshotRow[];
    return rows.map((r) => ({
      id: r.id,
      namespace: r.namespace,
      snapshotter: r.snapshotter,
      key: r.key,
      parentId: r.parent_id,
      parent: r.parent_key ?? '',
      kind: r.kind,
      labels: parseLabels(r.labels),
    }));
  }
}
