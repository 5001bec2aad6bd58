// The snapshot store's conformance suite: every snapshotter backend runs the same cases (containerd's
// snapshots/testsuite does the same for its snapshotters). The mounts a backend describes are really
// mounted with mount(8), written and read through, and unmounted. Each case gets a fresh root and checks
// that it leaves no mount and no directory behind.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetadataDB } from '../../services/metadata/db.js';
import { LeaseStore } from '../../services/leases/store.js';
import { NamespaceStore } from '../../services/namespaces/store.js';
import { SnapshotStore } from '../../services/snapshots/store.js';
import { OverlaySnapshotter } from '../../services/snapshots/overlay.js';
import { NativeSnapshotter } from '../../services/snapshots/native.js';
import type { Mount, SnapshotInfo, Snapshotter } from '../../services/snapshots/types.js';
import { Mounter, mountsUnder } from '../harness/mounts.js';
import { expectKind } from '../harness/errors.js';

interface Backend {
  name: string;
  make(root: string): Snapshotter;
}

const backends: Backend[] = [
  { name: 'overlayfs', make: (root) => new OverlaySnapshotter(join(root, 'io.containerd.snapshotter.v1.overlayfs')) },
  { name: 'native', make: (root) => new NativeSnapshotter(join(root, 'io.containerd.snapshotter.v1.native')) },
];

/** One running instance over a root dir; opening another on the same root is what a restart makes of it. */
interface Instance {
  db: MetadataDB;
  leases: LeaseStore;
  namespaces: NamespaceStore;
  store: SnapshotStore;
  backend: Snapshotter;
  close(): void;
}



const tops: string[] = [];

afterAll(() => {
  for (const t of tops) expect(existsSync(t), `${t} was left behind`).toBe(false);
});

describe.each(backends)('snapshot store conformance: $name', (backend) => {
  const sn = backend.name;
  const ns = 'default';
  let top: string;
  let root: string;
  let work: string;
  let s: Instance;
  let instances: Instance[];
  let mounter: Mounter;
  let points = 0;

  beforeEach(() => {
    top = mkdtempSync(join(tmpdir(), `ctrd-snapshots-conformance-${sn}-`));
    tops.push(top);
    root = join(top, 'root');
    work = join(top, 'mnt');
    mkdirSync(work);
    instances = [];
    mounter = new Mounter();
    s = open();
  });

  afterEach(async () => {
    await mounter.unmountAll();
    expect(mountsUnder(top)).toEqual([]);
    for (const i of instances) i.close();
    rmSync(top, { recursive: true, force: true });
    expect(existsSync(top)).toBe(false);
  });

  function open(): Instance {
    const db = MetadataDB.open(join(root, 'meta.db'));
    const leases = new LeaseStore(db);
    const b = backend.make(root);
    const i: Instance = {
      db,
      leases,
      namespaces: new NamespaceStore(db),
      store: new SnapshotStore(db, leases, [b]),
      backend: b,
      close: () => db.close(),
    };
    instances.push(i);
    return i;
  }

  /** What is on disk in the backend's snapshots dir. */
  const dirs = () => readdirSync(join(s.backend.root, 'snapshots')).sort();
  const rows = () => s.store.listAll().map((r) => `${r.namespace}/${r.key}`).sort();

  /** Mounts the given mounts on a fresh mount point and returns it. */
  async function mountAt(mounts: Mount[]): Promise<string> {
    const target = join(work, `m${points++}`);
    mkdirSync(target);
    await mounter.mount(mounts, target);
    return target;
  }

  /** Prepares key on parent, runs fn on the mounted snapshot, unmounts, and commits it as name. */
  async function layer(name: string, parent: string, fn: (dir: string) => void): Promise<void> {
    const key = `${name}-active`;
    const target = await mountAt(await s.store.prepare(ns, sn, key, parent, {}));
    fn(target);
    await mounter.unmount(target);
    s.store.commit(ns, sn, name, key, {});
  }

  const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8');

  /** Three layers: base (a=1, dir/x), l2 (a=2, +b, -dir/x), l3 (+c). */
  async function threeLayers(): Promise<void> {
    await layer('base', '', (d) => {
      writeFileSync(join(d, 'a'), '1');
      mkdirSync(join(d, 'dir'));
      writeFileSync(join(d, 'dir', 'x'), 'x');
    });
    await layer('l2', 'base', (d) => {
      expect(read(d, 'a')).toBe('1');
      writeFileSync(join(d, 'a'), '2');
      writeFileSync(join(d, 'b'), 'b');
      rmSync(join(d, 'dir', 'x'));
    });
    await layer('l3', 'l2', (d) => {
      writeFileSync(join(d, 'c'), 'c');
    });
  }

  describe('prepare, commit, view', () => {
    it('builds a chain of layers whose mounts show each layer over its parents', async () => {
      await threeLayers();
      const top = await mountAt(await s.store.prepare(ns, sn, 'container', 'l3', {}));
      expect(read(top, 'a')).toBe('2');
      expect(read(top, 'b')).toBe('b');
      expect(read(top, 'c')).toBe('c');
      expect(existsSync(join(top, 'dir', 'x'))).toBe(false);
      expect(readdirSync(join(top, 'dir'))).toEqual([]);
      writeFileSync(join(top, 'new'), 'new');
      writeFileSync(join(top, 'a'), 'changed on top');

      // The layers below are untouched by what the active snapshot on top did.
      const base = await mountAt(await s.store.view(ns, sn, 'base-view', 'base', {}));
      expect(read(base, 'a')).toBe('1');
      expect(read(base, 'dir/x')).toBe('x');
      expect(existsSync(join(base, 'b'))).toBe(false);
      const l3 = await mountAt(await s.store.view(ns, sn, 'l3-view', 'l3', {}));
      expect(read(l3, 'a')).toBe('2');
      expect(existsSync(join(l3, 'new'))).toBe(false);

      // The active snapshot's mounts can be asked for again and show the same tree.
      const again = await mountAt(s.store.mounts(ns, sn, 'container'));
      expect(read(again, 'new')).toBe('new');
      expect(read(again, 'a')).toBe('changed on top');
    });

    it('a view is read-only, on one parent or on several', async () => {
      await threeLayers();
      for (const [key, parent] of [['v-one', 'base'], ['v-many', 'l3']] as const) {
        const dir = await mountAt(await s.store.view(ns, sn, key, parent, {}));
        expect(() => writeFileSync(join(dir, 'a'), 'nope')).toThrow(/EROFS|read-only/i);
        expect(() => mkdirSync(join(dir, 'newdir'))).toThrow(/EROFS|read-only/i);
        expect(s.store.stat(ns, sn, key)).toMatchObject({ name: key, parent, kind: 'view' });
      }
    });

    it('a view without a parent is an empty read-only tree', async () => {
      const dir = await mountAt(await s.store.view(ns, sn, 'empty-view', '', {}));
      expect(readdirSync(dir)).toEqual([]);
      expect(() => writeFileSync(join(dir, 'a'), 'nope')).toThrow(/EROFS|read-only/i);
    });

    it('stat and list report names, parents, kinds and times', async () => {
      const before = Date.now();
      await threeLayers();
      await s.store.prepare(ns, sn, 'act', 'l3', { a: '1' });
      await s.store.view(ns, sn, 'vw', 'l2', {});
      const stat = s.store.stat(ns, sn, 'l2');
      expect(stat).toMatchObject({ name: 'l2', parent: 'base', kind: 'committed', labels: {} });
      expect(stat.createdAt.getTime()).toBeGreaterThanOrEqual(before);
      expect(stat.updatedAt.getTime()).toBe(stat.createdAt.getTime());
      const summary = (i: SnapshotInfo) => [i.name, i.parent, i.kind];
      expect(s.store.list(ns, sn, []).map(summary)).toEqual([
        ['act', 'l3', 'active'],
        ['base', '', 'committed'],
        ['l2', 'base', 'committed'],
        ['l3', 'l2', 'committed'],
        ['vw', 'l2', 'view'],
      ]);
      expect(s.store.stat(ns, sn, 'act').labels).toEqual({ a: '1' });
    });

    it('keys are any string: spaces, slashes, colons, as ctr uses them', async () => {
      const key = 'extract-1700000000000000000-AbCd sha256:0123456789abcdef/with slash';
      const dir = await mountAt(await s.store.prepare(ns, sn, key, '', {}));
      writeFileSync(join(dir, 'f'), 'f');
      await mounter.unmount(dir);
      const name = 'sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
      s.store.commit(ns, sn, name, key, {});
      await s.store.prepare(ns, sn, 'a container id with spaces', name, {});
      expect(s.store.stat(ns, sn, 'a container id with spaces').parent).toBe(name);
      expect(read(await mountAt(s.store.mounts(ns, sn, 'a container id with spaces')), 'f')).toBe('f');
    });

    it('commit keeps the directory, drops the key and gives the name the labels of the commit', async () => {
      const dir = await mountAt(await s.store.prepare(ns, sn, 'k', '', { 'on-active': 'x' }));
      writeFileSync(join(dir, 'f'), 'data');
      await mounter.unmount(dir);
      const onDisk = dirs();
      s.store.commit(ns, sn, 'c', 'k', { 'on-commit': 'y' });
      expect(dirs()).toEqual(onDisk);
      await expectKind(() => s.store.stat(ns, sn, 'k'), 'not-found', '"k"');
      expect(s.store.stat(ns, sn, 'c')).toMatchObject({ name: 'c', kind: 'committed', labels: { 'on-commit': 'y' } });
      const view = await mountAt(await s.store.view(ns, sn, 'v', 'c', {}));
      expect(read(view, 'f')).toBe('data');
    });
  });

  describe('errors change nothing', () => {
    let before: { rows: string[]; dirs: string[] };

    beforeEach(async () => {
      await threeLayers();
      await s.store.prepare(ns, sn, 'active', 'l3', {});
      await s.store.view(ns, sn, 'view', 'l3', {});
      before = { rows: rows(), dirs: dirs() };
    });

    afterEach(() => {
      expect({ rows: rows(), dirs: dirs() }).toEqual(before);
    });

    it('prepare of an existing key is already-exists', async () => {
      await expectKind(() => s.store.prepare(ns, sn, 'l2', '', {}), 'already-exists', 'snapshot "l2": already exists');
      await expectKind(() => s.store.prepare(ns, sn, 'active', 'l3', {}), 'already-exists', '"active"');
      await expectKind(() => s.store.view(ns, sn, 'view', 'l3', {}), 'already-exists', '"view"');
    });

    it('prepare on a missing parent is not-found, on an uncommitted one invalid-argument', async () => {
      await expectKind(() => s.store.prepare(ns, sn, 'x', 'nope', {}), 'not-found', 'parent snapshot "nope"');
      await expectKind(() => s.store.view(ns, sn, 'x', 'nope', {}), 'not-found', '"nope"');
      await expectKind(() => s.store.prepare(ns, sn, 'x', 'active', {}), 'invalid-argument', 'parent "active" is not a committed snapshot');
      await expectKind(() => s.store.prepare(ns, sn, 'x', 'view', {}), 'invalid-argument', '"view"');
    });

    it('an empty key or a bad label is invalid-argument', async () => {
      await expectKind(() => s.store.prepare(ns, sn, '', '', {}), 'invalid-argument', 'key must not be empty');
      await expectKind(() => s.store.prepare(ns, sn, 'x', '', { '': 'v' }), 'invalid-argument', 'label key');
      await expectKind(() => s.store.prepare(ns, sn, 'x', '', { k: 'v'.repeat(5000) }), 'invalid-argument', 'maximum size');
    });

    it('commit of a view, of a committed snapshot, of a missing key, or onto a taken name fails', async () => {
      await expectKind(() => s.store.commit(ns, sn, 'new', 'view', {}), 'failed-precondition', 'snapshot "view" is not active');
      await expectKind(() => s.store.commit(ns, sn, 'new', 'l2', {}), 'failed-precondition', '"l2" is not active');
      await expectKind(() => s.store.commit(ns, sn, 'new', 'missing', {}), 'not-found', 'snapshot "missing": not found');
      await expectKind(() => s.store.commit(ns, sn, 'l2', 'active', {}), 'already-exists', 'snapshot "l2": already exists');
      await expectKind(() => s.store.commit(ns, sn, 'active', 'active', {}), 'already-exists');
      await expectKind(() => s.store.commit(ns, sn, '', 'active', {}), 'invalid-argument');
      await expectKind(() => s.store.commit(ns, sn, 'new', 'active', { '': 'x' }), 'invalid-argument');
    });

    it('remove of a snapshot with children is failed-precondition, of a missing one not-found', async () => {
      await expectKind(() => s.store.remove(ns, sn, 'l3'), 'failed-precondition', /cannot remove snapshot "l3": snapshot "(active|view)" has it as parent/);
      await expectKind(() => s.store.remove(ns, sn, 'base'), 'failed-precondition', '"l2"');
      await expectKind(() => s.store.remove(ns, sn, 'missing'), 'not-found', '"missing"');
    });

    it('mounts of a committed snapshot is failed-precondition, of a missing one not-found', async () => {
      await expectKind(() => s.store.mounts(ns, sn, 'l2'), 'failed-precondition', '"l2" is committed');
      await expectKind(() => s.store.mounts(ns, sn, 'missing'), 'not-found');
    });

    it('a prepare whose staged directory cannot be built leaves nothing', async () => {
      // The parent's directory vanished behind the store's back: building on it fails.
      const id = String(s.store.listAll().find((r) => r.key === 'l3')!.id);
      const aside = join(s.backend.root, `l3-aside`);
      renameSync(join(s.backend.root, 'snapshots', id), aside);
      try {
        await expect(s.store.prepare(ns, sn, 'doomed', 'l3', {})).rejects.toThrow(/ENOENT|No such file/);
      } finally {
        renameSync(aside, join(s.backend.root, 'snapshots', id));
      }
    });

    it('a prepare whose lease is deleted while its directory is built leaves nothing', async () => {
      s.leases.create(ns, 'short', {});
      const preparing = s.store.prepare(ns, sn, 'leased', 'l3', {}, { lease: 'short' });
      s.leases.delete(ns, 'short');
      await expectKind(() => preparing, 'not-found', 'lease "short"');
    });
  });

  describe('remove', () => {
    it('removes leaves, then their parents, with their directories', async () => {
      await threeLayers();
      await s.store.prepare(ns, sn, 'active', 'l3', {});
      await s.store.view(ns, sn, 'view', 'l3', {});
      for (const key of ['active', 'view', 'l3', 'l2', 'base']) await s.store.remove(ns, sn, key);
      expect(rows()).toEqual([]);
      expect(dirs()).toEqual([]);
    });

    it('refuses to remove a parent while a snapshot is being prepared on it', async () => {
      await layer('base', '', (d) => writeFileSync(join(d, 'f'), 'f'));
      const preparing = s.store.prepare(ns, sn, 'child', 'base', {});
      await expectKind(() => s.store.remove(ns, sn, 'base'), 'failed-precondition', 'being prepared');
      await preparing;
      await s.store.remove(ns, sn, 'child');
      await s.store.remove(ns, sn, 'base');
      expect(dirs()).toEqual([]);
    });

    it('a key can be used again once removed', async () => {
      const d1 = await mountAt(await s.store.prepare(ns, sn, 'again', '', {}));
      writeFileSync(join(d1, 'old'), 'old');
      await mounter.unmount(d1);
      await s.store.remove(ns, sn, 'again');
      const d2 = await mountAt(await s.store.prepare(ns, sn, 'again', '', {}));
      expect(readdirSync(d2)).toEqual([]);
    });
  });

  describe('usage', () => {
    it('grows with what is written to an active snapshot and stays with the committed one', async () => {
      const dir = await mountAt(await s.store.prepare(ns, sn, 'k', '', {}));
      const empty = await s.store.usage(ns, sn, 'k');
      expect(empty.inodes).toBe(1);
      writeFileSync(join(dir, 'big'), Buffer.alloc(1 << 20, 1));
      mkdirSync(join(dir, 'sub'));
      writeFileSync(join(dir, 'sub', 'small'), 'x');
      const full = await s.store.usage(ns, sn, 'k');
      expect(full.inodes).toBe(empty.inodes + 3);
      expect(full.size).toBeGreaterThanOrEqual(empty.size + (1 << 20));
      await mounter.unmount(dir);
      s.store.commit(ns, sn, 'c', 'k', {});
      expect(await s.store.usage(ns, sn, 'c')).toEqual(full);
      // A layer on top counts only its own changes.
      const child = await mountAt(await s.store.prepare(ns, sn, 'child', 'c', {}));
      const own = await s.store.usage(ns, sn, 'child');
      writeFileSync(join(child, 'more'), Buffer.alloc(64 << 10, 2));
      expect((await s.store.usage(ns, sn, 'child')).size).toBeGreaterThan(own.size);
      await expectKind(() => s.store.usage(ns, sn, 'missing'), 'not-found');
    });
  });

  describe('cleanup', () => {
    it('removes directories no snapshot owns and keeps the others', async () => {
      await threeLayers();
      await s.store.prepare(ns, sn, 'active', 'l3', {});
      const owned = dirs();
      const snapshots = join(s.backend.root, 'snapshots');
      for (const stray of ['9999', 'new-123456', 'rm-7-abcd', 'junk']) {
        mkdirSync(join(snapshots, stray, 'deep'), { recursive: true });
        writeFileSync(join(snapshots, stray, 'deep', 'f'), 'garbage');
      }
      expect(await s.store.cleanup(sn)).toBe(4);
      expect(dirs()).toEqual(owned);
      expect(await s.store.cleanup(sn)).toBe(0);
      const dir = await mountAt(s.store.mounts(ns, sn, 'active'));
      expect(read(dir, 'c')).toBe('c');
    });
  });

  describe('labels and filters', () => {
    beforeEach(async () => {
      await threeLayers();
      s.store.update(ns, sn, { name: 'base', labels: { tier: 'bottom', 'containerd.io/gc.root': 'x' } }, []);
      s.store.update(ns, sn, { name: 'l3', labels: { tier: 'top' } }, ['labels']);
      await s.store.prepare(ns, sn, 'active', 'l3', { owner: 'me' });
      await s.store.view(ns, sn, 'view', 'l2', {});
    });

    it('update by "labels" replaces them, "labels.<key>" sets or deletes one', async () => {
      const before = s.store.stat(ns, sn, 'base');
      expect(before.labels).toEqual({ tier: 'bottom', 'containerd.io/gc.root': 'x' });
      const info = s.store.update(ns, sn, { name: 'base', labels: { extra: '1' } }, ['labels.extra', 'labels.tier']);
      expect(info.labels).toEqual({ extra: '1', 'containerd.io/gc.root': 'x' });
      expect(info.updatedAt.getTime()).toBeGreaterThanOrEqual(before.updatedAt.getTime());
      expect(s.store.stat(ns, sn, 'base').labels).toEqual({ extra: '1', 'containerd.io/gc.root': 'x' });
      expect(s.store.update(ns, sn, { name: 'base', labels: { only: 'me' } }, ['labels']).labels).toEqual({ only: 'me' });
      expect(s.store.update(ns, sn, { name: 'active', labels: {} }, ['labels.owner']).labels).toEqual({});
    });

    it('update of another field, of a missing snapshot, or with a bad label fails and changes nothing', async () => {
      await expectKind(
        () => s.store.update(ns, sn, { name: 'base', labels: { a: 'b' } }, ['labels.a', 'parent']),
        'invalid-argument',
        'cannot update "parent" field on snapshot "base"',
      );
      await expectKind(() => s.store.update(ns, sn, { name: 'missing', labels: {} }, []), 'not-found', '"missing"');
      await expectKind(() => s.store.update(ns, sn, { name: '', labels: {} }, []), 'invalid-argument');
      await expectKind(() => s.store.update(ns, sn, { name: 'base', labels: { '': 'x' } }, []), 'invalid-argument');
      expect(s.store.stat(ns, sn, 'base').labels).toEqual({ tier: 'bottom', 'containerd.io/gc.root': 'x' });
    });

    it('list filters by kind, name, parent and labels; an unknown field is invalid-argument', async () => {
      const list = (...f: string[]) => s.store.list(ns, sn, f).map((i) => i.name);
      expect(list('kind==committed')).toEqual(['base', 'l2', 'l3']);
      expect(list('kind==active')).toEqual(['active']);
      expect(list('kind==view')).toEqual(['view']);
      expect(list('kind!=committed')).toEqual(['active', 'view']);
      expect(list('name==l2')).toEqual(['l2']);
      expect(list('name~=^l')).toEqual(['l2', 'l3']);
      expect(list('parent==l2')).toEqual(['l3', 'view']);
      expect(list('parent')).toEqual(['active', 'l2', 'l3', 'view']);
      expect(list('labels.tier')).toEqual(['base', 'l3']);
      expect(list('labels.tier==top')).toEqual(['l3']);
      expect(list('labels."containerd.io/gc.root"')).toEqual(['base']);
      expect(list('kind==committed,labels.tier', 'labels.owner==me')).toEqual(['active', 'base', 'l3']);
      await expectKind(() => s.store.list(ns, sn, ['size==1']), 'invalid-argument', 'unknown field "size"');
    });
  });

  describe('restart', () => {
    it('a store opened again on the same root has every snapshot, and their mounts work', async () => {
      await threeLayers();
      const dir = await mountAt(await s.store.prepare(ns, sn, 'active', 'l3', { keep: 'me' }));
      writeFileSync(join(dir, 'written'), 'before restart');
      await mounter.unmount(dir);
      await s.store.view(ns, sn, 'view', 'l2', {});
      const list = s.store.list(ns, sn, []);
      const onDisk = dirs();
      s.close();

      s = open();
      expect(s.store.list(ns, sn, [])).toEqual(list);
      expect(dirs()).toEqual(onDisk);
      const again = await mountAt(s.store.mounts(ns, sn, 'active'));
      expect(read(again, 'written')).toBe('before restart');
      expect(read(again, 'c')).toBe('c');
      const view = await mountAt(s.store.mounts(ns, sn, 'view'));
      expect(read(view, 'b')).toBe('b');
      // And it goes on from there: the ids of new snapshots do not collide with the old ones.
      await mounter.unmount(again);
      s.store.commit(ns, sn, 'l4', 'active', {});
      const l5 = await mountAt(await s.store.prepare(ns, sn, 'l5', 'l4', {}));
      expect(read(l5, 'written')).toBe('before restart');
      expect(await s.store.cleanup(sn)).toBe(0);
    });

    it('a removal that a crash interrupted before its commit is undone at start', async () => {
      const dir = await mountAt(await s.store.prepare(ns, sn, 'k', '', {}));
      writeFileSync(join(dir, 'f'), 'kept');
      await mounter.unmount(dir);
      const id = String(s.store.listAll()[0]!.id);
      // The directory was renamed aside, then the daemon died before the row's deletion committed.
      renameSync(join(s.backend.root, 'snapshots', id), join(s.backend.root, 'snapshots', `rm-${id}-deadbeef`));
      s.close();
      s = open();
      expect(dirs()).toEqual([id]);
      expect(read(await mountAt(s.store.mounts(ns, sn, 'k')), 'f')).toBe('kept');
    });
  });

  describe('namespaces and leases', () => {
    it('the same key in two namespaces are two snapshots; a namespace comes with its first snapshot', async () => {
      await s.store.prepare('ns-a', sn, 'k', '', { in: 'a' });
      await s.store.prepare('ns-b', sn, 'k', '', { in: 'b' });
      expect(s.store.stat('ns-a', sn, 'k').labels).toEqual({ in: 'a' });
      expect(s.store.stat('ns-b', sn, 'k').labels).toEqual({ in: 'b' });
      expect(s.namespaces.list().map((n) => n.name)).toEqual(['ns-a', 'ns-b']);
      await expectKind(() => s.namespaces.delete('ns-a'), 'failed-precondition', 'snapshots');
      await s.store.remove('ns-a', sn, 'k');
      s.namespaces.delete('ns-a');
      expect(s.store.stat('ns-b', sn, 'k').name).toBe('k');
      await expectKind(() => s.store.prepare('ns-b', sn, 'k2', 'base-of-a', {}), 'not-found');
    });

    it('a snapshot made under a lease is its resource; commit moves it to the name', async () => {
      s.leases.create(ns, 'pull', {});
      await s.store.prepare(ns, sn, 'extract k', '', {}, { lease: 'pull' });
      expect(s.leases.listResources(ns, 'pull')).toEqual([{ type: `snapshots/${sn}`, id: 'extract k' }]);
      s.store.commit(ns, sn, 'layer', 'extract k', {}, { lease: 'pull' });
      expect(s.leases.listResources(ns, 'pull')).toEqual([{ type: `snapshots/${sn}`, id: 'layer' }]);
      await s.store.view(ns, sn, 'v', 'layer', {}, { lease: 'pull' });
      await s.store.remove(ns, sn, 'v', { lease: 'pull' });
      expect(s.leases.listResources(ns, 'pull')).toEqual([{ type: `snapshots/${sn}`, id: 'layer' }]);
    });

    it('a lease that does not exist is not-found, and nothing is made', async () => {
      await expectKind(() => s.store.prepare(ns, sn, 'k', '', {}, { lease: 'nope' }), 'not-found', 'lease "nope"');
      expect(rows()).toEqual([]);
      expect(dirs()).toEqual([]);
      await s.store.prepare(ns, sn, 'k', '', {});
      await expectKind(() => s.store.commit(ns, sn, 'c', 'k', {}, { lease: 'nope' }), 'not-found', 'lease "nope"');
      expect(s.store.stat(ns, sn, 'k').kind).toBe('active');
    });
  });
});
