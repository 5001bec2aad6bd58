// Domain types of the snapshot service, and the interface of a snapshotter backend. A backend owns the
// directories under its root and describes how to mount them; it knows nothing of namespaces, keys or the
// metadata database. The store (store.ts) gives snapshots their keys and rows, and calls the backend.
import type { Labels } from '../../lib/labels.js';

/** active: writable, prepared on a parent; view: read-only; committed: immutable, a parent for others. */
export type SnapshotKind = 'view' | 'active' | 'committed';

export interface SnapshotInfo {
  /** The key of an active snapshot or a view, the name of a committed one. */
  name: string;
  /** The name of the parent, '' when there is none. */
  parent: string;
  kind: SnapshotKind;
  labels: Labels;
  createdAt: Date;
  updatedAt: Date;
}

export interface Usage {
  /** Bytes on disk (allocated blocks), each inode counted once. */
  size: number;
  inodes: number;
}

/** A mount as containerd describes it: the client (or shim) runs `mount -t type source target -o options`. */
export interface Mount {
  type: string;
  source: string;
  options: string[];
}

/** Every field of a row, as the garbage collector sees them across namespaces. */
export interface SnapshotRecord {
  id: number;
  namespace: string;
  snapshotter: string;
  key: string;
  parentId: number | null;
  /** The key of the parent, '' when there is none. */
  parent: string;
  kind: SnapshotKind;
  labels: Labels;
}

/** containerd's snapshot filter fields (snapshots/storage adaptSnapshot). */
export const snapshotFilterFields = { kind: 'value', name: 'value', parent: 'value', labels: 'map' } as const;

/** What a backend knows of a snapshot: its directory id, its kind, and its parents' ids, nearest first. */
export interface SnapshotRef {
  id: string;
  kind: SnapshotKind;
  parentIds: readonly string[];
}

/** A new snapshot's directory, built aside under a temporary name until it is placed under its id. */
export interface StagedDir {
  /** Undefined when the snapshot needs no directory of its own (a native view on a parent). */
  readonly path: string | undefined;
}

/** A snapshot directory renamed aside on its way out: put back if the removal does not commit. */
export interface DetachedDir {
  readonly id: string;
  readonly path: string;
}

export interface Snapshotter {
  /** The name clients use: "overlayfs", "native". */
  readonly name: string;
  /** <root>/io.containerd.snapshotter.v1.<name> */
  readonly root: string;

  /** Builds the directory of a new snapshot aside (a copy of the parent for native); slow work goes here. */
  stage(kind: 'active' | 'view', parentIds: readonly string[]): Promise<StagedDir>;
  /**
   * Renames a staged directory into place as snapshot `id`. Synchronous and cheap: the store runs it inside
   * the transaction that adds the row, so that either both exist or neither does.
   */
  place(staged: StagedDir, id: string): void;
  /** Removes what stage() made, placed or not: the row that was to refer to it was never committed. */
  discard(staged: StagedDir): Promise<void>;

  /** The mounts of an active snapshot or a view. */
  mounts(ref: SnapshotRef): Mount[];
  /** The disk usage of the snapshot's own directory (its upper layer for overlayfs). */
  usage(ref: SnapshotRef): Promise<Usage>;

  /** Renames a snapshot's directory aside (synchronous, inside the transaction that deletes the row). */
  detach(id: string): DetachedDir | undefined;
  /** Puts a detached directory back when its removal was not committed. */
  reattach(dir: DetachedDir): void;
  /** Deletes a detached directory. */
  purge(dir: DetachedDir): Promise<void>;

  /** At start: puts back directories a crash left detached while their row still exists. */
  recover(live: ReadonlySet<string>): void;
  /** Detaches every directory that belongs to no live snapshot and is not being built; the caller purges them. */
  orphans(live: ReadonlySet<string>): DetachedDir[];
}
