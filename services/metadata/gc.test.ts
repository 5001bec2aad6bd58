import { mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetadataDB } from './db.js';
import { GarbageCollector } from './gc.js';
import { LocalContentStore } from '../content/local-store.js';
import { ContentStore } from '../content/store.js';
import { LeaseStore } from '../leases/store.js';
import { ImageStore } from '../images/store.js';
import { silentLogger } from '../../lib/log.js';
import { sha256 } from '../../lib/digest.js';

describe('GarbageCollector', () => {
  let dir: string;
  let db: MetadataDB;
  let local: LocalContentStore;
  let leases: LeaseStore;
  let content: ContentStore;
  let images: ImageStore;
  let gc: GarbageCollector;
  const removed: Array<[string, number]> = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctrd-gc-'));
    db = MetadataDB.open(join(dir, 'meta.db'));
    local = new LocalContentStore(join(dir, 'content'));
    leases = new LeaseStore(db);
    content = new ContentStore(db, local, leases);
    images = new ImageStore(db);
    gc = new GarbageCollector(db, local, leases, silentLogger, { ingestExpiryMs: 60_000, debounceMs: 10, mutationThreshold: 3 });
    removed.length = 0;
    gc.addSnapshotter('overlayfs', (sn, id) => removed.push([sn, id]));
  });
  afterEach(() => {
    gc.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
    expect(existsSync(dir)).toBe(false);
  });

  async function put(ns: string, data: string, labels: Record<string, string> = {}, lease?: string) {
    return (await content.writeBlob(ns, `ref-${data}`, Buffer.from(data), { labels, ...(lease ? { lease } : {}) })).digest;
  }
  const blobs = () => local.listBlobs().sort();
  const snapshot = (ns: string, key: string, parent: number | null, labels: Record<string, string> = {}) =>
    Number(
      db.sql
        .prepare(
          "INSERT INTO snapshots (namespace, snapshotter, key, parent_id, kind, labels, created_at, updated_at) VALUES (?, 'overlayfs', ?, ?, 'committed', ?, 0, 0)",
        )
        .run(ns, key, parent, JSON.stringify(labels)).lastInsertRowid,
    );

  it('keeps what an image reaches through gc.ref labels and sweeps the rest, rows and files', async () => {
    db.ensureNamespace('default');
    const base = snapshot('default', 'sha256:chain1', null);
    const top = snapshot('default', 'sha256:chain2', base);
    const orphanSnap = snapshot('default', 'orphan', null);
    const layer = await put('default', 'layer');
    const config = await put('default', 'config', { 'containerd.io/gc.ref.snapshot.overlayfs': 'sha256:chain2' });
    const manifest = await put('default', 'manifest', {
      'containerd.io/gc.ref.content.config': config,
      'containerd.io/gc.ref.content.l.0': layer,
    });
    const garbage = await put('default', 'garbage');
    images.create('default', { name: 'img', labels: {}, target: { mediaType: 'm', digest: manifest, size: 8, annotations: {} } });

    const stats = await gc.collect();
    expect(stats).toMatchObject({ contentRows: 1, blobs: 1, snapshots: 1 });
    expect(blobs()).toEqual([layer, config, manifest].sort());
    expect(blobs()).not.toContain(garbage);
    expect(removed).toEqual([['overlayfs', orphanSnap]]);
    expect((db.sql.prepare('SELECT id FROM snapshots ORDER BY id').all() as Array<{ id: number }>).map((r) => r.id)).toEqual([base, top]);

    // Without the image, everything goes, children before parents.
    images.delete('default', 'img');
    removed.length = 0;
    const all = await gc.collect();
    expect(all).toMatchObject({ contentRows: 3, blobs: 3, snapshots: 2 });
    expect(blobs()).toEqual([]);
    expect(removed.map(([, id]) => id)).toEqual([top, base]);
  });

  it('keeps the snapshot a container stands on, and its parents', async () => {
    db.ensureNamespace('default');
    const base = snapshot('default', 'sha256:base', null);
    const rw = Number(
      db.sql
        .prepare("INSERT INTO snapshots (namespace, snapshotter, key, parent_id, kind, labels, created_at, updated_at) VALUES ('default', 'overlayfs', 'c1', ?, 'active', '{}', 0, 0)")
        .run(base).lastInsertRowid,
    );
    db.sql
      .prepare("INSERT INTO containers (namespace, id, runtime_name, snapshotter, snapshot_key, created_at, updated_at) VALUES ('default', 'c1', 'io.containerd.runc.v2', 'overlayfs', 'c1', 0, 0)")
      .run();
    expect((await gc.collect()).snapshots).toBe(0);
    db.sql.prepare("DELETE FROM containers WHERE id = 'c1'").run();
    expect((await gc.collect()).snapshots).toBe(2);
    expect(removed.map(([, id]) => id)).toEqual([rw, base]);
  });

  it('keeps what live leases hold and what is labelled gc.root or not yet expired', async () => {
    leases.create('default', 'l1', {});
    const leased = await put('default', 'leased', {}, 'l1');
    const rooted = await put('default', 'rooted', { 'containerd.io/gc.root': '' });
    const future = await put('default', 'future', { 'containerd.io/gc.expire': new Date(Date.now() + 60_000).toISOString() });
    const past = await put('default', 'past', { 'containerd.io/gc.expire': new Date(Date.now() - 60_000).toISOString() });
    await gc.collect();
    expect(blobs()).toEqual([leased, rooted, future].sort());
    expect(blobs()).not.toContain(past);
    leases.delete('default', 'l1');
    await gc.collect();
    expect(blobs()).toEqual([rooted, future].sort());
  });

  it('deletes expired leases and then what only they held', async () => {
    leases.create('default', 'old', { 'containerd.io/gc.expire': new Date(Date.now() + 50).toISOString() });
    const d = await put('default', 'held-by-old', {}, 'old');
    await gc.collect();
    expect(blobs()).toContain(d);
    await new Promise((r) => setTimeout(r, 60));
    const stats = await gc.collect();
    expect(stats.leases).toBe(1);
    expect(leases.exists('default', 'old')).toBe(false);
    expect(blobs()).not.toContain(d);
  });

  it('keeps a blob that another namespace still owns', async () => {
    const d = await put('a', 'shared');
    leases.create('b', 'keep', {});
    db.ensureNamespace('b');
    db.sql.prepare("INSERT INTO content (namespace, digest, size, labels, created_at, updated_at) VALUES ('b', ?, 6, '{}', 0, 0)").run(d);
    leases.addResource('b', 'keep', { type: 'content', id: d });
    const stats = await gc.collect();
    expect(stats.contentRows).toBe(1); // a's row
    expect(blobs()).toEqual([d]);
  });

  it('removes blob files that no row refers to (left by a crash between rename and row)', async () => {
    const orphan = sha256('orphan');
    writeFileSync(join(dir, 'content', 'blobs', 'sha256', orphan.slice(7)), 'orphan');
    expect((await gc.collect()).blobs).toBe(1);
    expect(blobs()).toEqual([]);
  });

  it('removes ingests that are stale and unleased, keeps fresh, leased and locked ones', async () => {
    const open = await content.writer('default', 'locked', { total: 0, expected: '', lease: undefined });
    const stale = await content.writer('default', 'stale', { total: 0, expected: '', lease: undefined });
    await stale.close();
    leases.create('default', 'l', {});
    const held = await content.writer('default', 'held', { total: 0, expected: '', lease: 'l' });
    await held.close();
    const fresh = await content.writer('default', 'fresh', { total: 0, expected: '', lease: undefined });
    await fresh.close();
    const old = new GarbageCollector(db, local, leases, silentLogger, { ingestExpiryMs: 0, debounceMs: 10, mutationThreshold: 3 });
    // With a zero expiry every unleased, unlocked ingest is stale; 'fresh' stays under the default gc.
    expect((await gc.collect()).ingests).toBe(0);
    const stats = await old.collect();
    expect(stats.ingests).toBe(2);
    expect(content.listStatuses('default', []).map((s) => s.ref).sort()).toEqual(['held', 'locked']);
    await open.close();
    old.close();
    expect(readdirSync(join(dir, 'content', 'ingest')).length).toBe(2);
  });

  it('dirty() schedules a collection only once the mutation threshold is reached', async () => {
    const d = await put('default', 'y');
    gc.dirty();
    gc.dirty();
    await new Promise((r) => setTimeout(r, 60));
    expect(blobs()).toContain(d);
    gc.dirty();
    await new Promise((r) => setTimeout(r, 60));
    expect(blobs()).not.toContain(d);
  });

  it('schedule() debounces many deletions into one collection', async () => {
    const d = await put('default', 'x');
    for (let i = 0; i < 5; i++) gc.schedule();
    await new Promise((r) => setTimeout(r, 100));
    expect(blobs()).not.toContain(d);
  });
});
