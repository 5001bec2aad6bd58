// What the snapshot store adds over its backends, beyond the conformance suite: snapshotters by name side
// by side, containerd's target-snapshot label, races between creates, and the entry points of the
// garbage collector.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetadataDB } from '../metadata/db.js';
import { LeaseStore } from '../leases/store.js';
import { NativeSnapshotter } from './native.js';
import { OverlaySnapshotter } from './overlay.js';
import { SnapshotStore, snapshotRefLabel } from './store.js';
import { CtrdError } from '../../lib/errdefs.js';

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<CtrdError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(CtrdError);
    return err as CtrdError;
  }
  throw new Error('expected an error');
}

describe('SnapshotStore', () => {
  let top: string;
  let db: MetadataDB;
  let store: SnapshotStore;
  let overlay: OverlaySnapshotter;
  let native: NativeSnapshotter;
  const dirs = (root: string) => readdirSync(join(root, 'snapshots')).sort();

  beforeEach(() => {
    top = mkdtempSync(join(tmpdir(), 'ctrd-snapshot-store-'));
    db = MetadataDB.open(join(top, 'meta.db'));
    overlay = new OverlaySnapshotter(join(top, 'io.containerd.snapshotter.v1.overlayfs'));
    native = new NativeSnapshotter(join(top, 'io.containerd.snapshotter.v1.native'));
    store = new SnapshotStore(db, new LeaseStore(db), [overlay, native]);
  });

  afterEach(() => {
    db.close();
    rmSync(top, { recursive: true, force: true });
    expect(existsSync(top)).toBe(false);
  });

  it('an unknown or missing snapshotter is invalid-argument naming it', async () => {
    expect(store.names()).toEqual(['overlayfs', 'native']);
    const err = await rejection(store.prepare('default', 'zfs', 'k', '', {}));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toBe('snapshotter "zfs" not found (loaded: overlayfs, native)');
    expect((await rejection(() => store.list('default', '', []))).kind).toBe('invalid-argument');
    expect((await rejection(() => store.stat('default', 'zfs', 'k'))).message).toContain('"zfs"');
    expect((await rejection(store.cleanup('zfs'))).kind).toBe('invalid-argument');
  });

  it('each snapshotter has its own keys and directories', async () => {
    await store.prepare('default', 'overlayfs', 'k', '', { on: 'overlay' });
    await store.prepare('default', 'native', 'k', '', { on: 'native' });
    expect(store.stat('default', 'overlayfs', 'k').labels).toEqual({ on: 'overlay' });
    expect(store.stat('default', 'native', 'k').labels).toEqual({ on: 'native' });
    expect(dirs(overlay.root)).toEqual(['1']);
    expect(dirs(native.root)).toEqual(['2']);
    await store.remove('default', 'native', 'k');
    expect(store.list('default', 'overlayfs', []).map((i) => i.name)).toEqual(['k']);
    expect(store.list('default', 'native', [])).toEqual([]);
    expect(dirs(native.root)).toEqual([]);
    // A parent is looked up in the same snapshotter only.
    store.commit('default', 'overlayfs', 'c', 'k', {});
    expect((await rejection(store.prepare('default', 'native', 'n', 'c', {}))).kind).toBe('not-found');
  });

  it('a prepare whose target snapshot (containerd.io/snapshot.ref) exists is already-exists', async () => {
    await store.prepare('default', 'overlayfs', 'extract-1 sha256:aa', '', {});
    store.commit('default', 'overlayfs', 'sha256:aa', 'extract-1 sha256:aa', {});
    const err = await rejection(store.prepare('default', 'overlayfs', 'extract-2 sha256:aa', '', { [snapshotRefLabel]: 'sha256:aa' }));
    expect(err.kind).toBe('already-exists');
    expect(err.message).toContain('target snapshot "sha256:aa"');
    await store.prepare('default', 'overlayfs', 'extract-3 sha256:bb', 'sha256:aa', { [snapshotRefLabel]: 'sha256:bb' });
    expect(store.stat('default', 'overlayfs', 'extract-3 sha256:bb').labels).toEqual({ [snapshotRefLabel]: 'sha256:bb' });
  });

  it('of two concurrent prepares of one key, one wins and the other leaves nothing', async () => {
    const results = await Promise.allSettled([
      store.prepare('default', 'native', 'same', '', {}),
      store.prepare('default', 'native', 'same', '', {}),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect((failed.reason as CtrdError).kind).toBe('already-exists');
    expect(dirs(native.root)).toHaveLength(1);
    expect(store.listAll()).toHaveLength(1);
  });

  describe('for the garbage collector', () => {
    beforeEach(async () => {
      await store.prepare('ns-a', 'overlayfs', 'base-k', '', { 'containerd.io/gc.root': 'x' });
      store.commit('ns-a', 'overlayfs', 'base', 'base-k', { 'containerd.io/gc.root': 'x' });
      await store.prepare('ns-a', 'overlayfs', 'top', 'base', {});
      await store.view('ns-b', 'native', 'v', '', {});
    });

    it('listAll has every row of every namespace and snapshotter', () => {
      expect(store.listAll()).toEqual([
        { id: 1, namespace: 'ns-a', snapshotter: 'overlayfs', key: 'base', parentId: null, parent: '', kind: 'committed', labels: { 'containerd.io/gc.root': 'x' } },
        { id: 2, namespace: 'ns-a', snapshotter: 'overlayfs', key: 'top', parentId: 1, parent: 'base', kind: 'active', labels: {} },
        { id: 3, namespace: 'ns-b', snapshotter: 'native', key: 'v', parentId: null, parent: '', kind: 'view', labels: {} },
      ]);
    });

    it('removeById removes a row and its directory, never one with children', async () => {
      const err = await rejection(store.removeById(1));
      expect(err.kind).toBe('failed-precondition');
      expect(err.message).toContain('"top"');
      await store.removeById(2);
      await store.removeById(1);
      await store.removeById(3);
      expect(store.listAll()).toEqual([]);
      expect(dirs(overlay.root)).toEqual([]);
      expect(dirs(native.root)).toEqual([]);
      expect((await rejection(store.removeById(1))).kind).toBe('not-found');
    });

    it('removeDirectory removes the directory of a row that is already gone', async () => {
      db.sql.prepare('DELETE FROM snapshots WHERE id = 2').run();
      store.removeDirectory('overlayfs', 2);
      expect(dirs(overlay.root)).not.toContain('2');
      await new Promise((r) => setTimeout(r, 50));
      expect(dirs(overlay.root)).toEqual(['1']);
      store.removeDirectory('overlayfs', 2);
    });

    it('cleanup of one snapshotter leaves the other alone', async () => {
      db.sql.prepare('DELETE FROM snapshots WHERE id = 3').run();
      db.sql.prepare('DELETE FROM snapshots WHERE id = 2').run();
      expect(await store.cleanup('overlayfs')).toBe(1);
      expect(dirs(overlay.root)).toEqual(['1']);
      expect(dirs(native.root)).toEqual(['3']);
      expect(await store.cleanup('native')).toBe(1);
      expect(dirs(native.root)).toEqual([]);
    });
  });
});
