import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.js';
import { MetadataDB } from '../metadata/db.js';
import { errorOf, expectKind } from '../../test/harness/errors.js';
import { VolumeStore } from './store.js';
import type { MountUser } from './types.js';

describe('VolumeStore', () => {
  let dir: string;
  let root: string;
  let db: MetadataDB;
  let users: Record<string, MountUser[]>;
  let store: VolumeStore;
  const open = () => new VolumeStore(db, root, (ns) => users[ns] ?? [], silentLogger);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctrd-volumes-'));
    root = join(dir, 'volumes');
    mkdirSync(root);
    db = MetadataDB.open(':memory:');
    users = {};
    store = open();
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const names = (ns = 'default', filters: string[] = []) => store.list(ns, filters).map((v) => v.volume.name);

  it('creates the directory and the row; a second create of the name returns the first, unchanged', () => {
    const { volume, created } = store.create('default', { name: 'data', labels: { a: 'b' } });
    expect(created).toBe(true);
    expect(volume).toMatchObject({ name: 'data', driver: 'local', labels: { a: 'b' }, options: {}, anonymous: false });
    expect(volume.mountpoint).toBe(join(root, 'default', 'data', '_data'));
    expect(statSync(volume.mountpoint).mode & 0o7777).toBe(0o755);
    const again = store.create('default', { name: 'data', labels: { other: 'x' } });
    expect(again.created).toBe(false);
    expect(again.volume).toEqual(volume);
    // Namespaced: the same name elsewhere is another volume.
    expect(store.create('other', { name: 'data' }).created).toBe(true);
    expect(names('other')).toEqual(['data']);
    expect(db.namespaceContents('default')).toEqual(['volumes']);
  });

  it('makes up a 64-hex name when none is given, and keeps whether it is anonymous', () => {
    const { volume } = store.create('default', { anonymous: true });
    expect(volume.name).toMatch(/^[0-9a-f]{64}$/);
    expect(store.get('default', volume.name).anonymous).toBe(true);
  });

  it('refuses bad names, drivers, options and labels before making anything', () => {
    for (const name of ['a', '-x', 'a b', '../x', 'a/b', '.hidden', 'x'.repeat(256)]) {
      const err = errorOf(() => store.create('default', { name }));
      expect(err.kind, name).toBe('invalid-argument');
      expect(err.message).toContain(`"${name}" includes invalid characters for a local volume name`);
    }
    expect(errorOf(() => store.create('default', { name: 'v1', driver: 'nfs' })).message).toContain('plugin "nfs" not found');
    expect(errorOf(() => store.create('default', { name: 'v1', options: { type: 'tmpfs' } })).message).toContain('"type"');
    expect(errorOf(() => store.create('default', { name: 'v1', labels: { '': 'x' } })).kind).toBe('invalid-argument');
    expect(names()).toEqual([]);
    expect(existsSync(join(root, 'default')) ? readdirSync(join(root, 'default')) : []).toEqual([]);
  });

  it('removes the row and the data; a missing volume is NotFound unless forced', async () => {
    const { volume } = store.create('default', { name: 'gone' });
    writeFileSync(join(volume.mountpoint, 'f'), 'x');
    expect(await store.remove('default', 'gone')).toEqual(volume);
    expect(existsSync(join(root, 'default', 'gone'))).toBe(false);
    expect(readdirSync(join(root, '.trash'))).toEqual([]);
    await expectKind(() => store.remove('default', 'gone'), 'not-found', 'gone');
    expect(await store.remove('default', 'gone', { force: true })).toBeUndefined();
  });

  it('a volume that a container mounts is in use: not removed, force or not, and not dangling', async () => {
    const { volume } = store.create('default', { name: 'busy' });
    store.create('default', { name: 'free' });
    users.default = [
      { id: 'c1', sources: [join(volume.mountpoint, 'sub') + '/'] },
      { id: 'c2', sources: ['/elsewhere', join(root, 'default', 'busy', '_data', '..', '_data')] },
      { id: 'c3', sources: [join(root, 'default', 'busybox')] },
    ];
    await expectKind(() => store.remove('default', 'busy'), 'failed-precondition', 'remove busy: volume is in use - [c1, c2]');
    await expectKind(() => store.remove('default', 'busy', { force: true }), 'failed-precondition', 'in use');
    expect(existsSync(volume.mountpoint)).toBe(true);
    expect(names('default', ['dangling=true'])).toEqual(['free']);
    expect(names('default', ['dangling=false'])).toEqual(['busy']);
    expect(store.list('default').find((v) => v.volume.name === 'busy')!.usedBy).toEqual(['c1', 'c2']);
    users.default = [];
    await store.remove('default', 'busy');
    expect(names()).toEqual(['free']);
  });

  it('a volume made under a lease is in use while that lease lives', async () => {
    const live = new Set(['l1']);
    store = new VolumeStore(db, root, () => [], silentLogger, (ns, id) => ns === 'default' && live.has(id));
    store.create('default', { name: 'held', lease: 'l1', anonymous: true });
    await expectKind(() => store.remove('default', 'held'), 'failed-precondition', 'remove held: volume is in use - [lease l1]');
    expect((await store.prune('default', { all: true })).deleted).toEqual([]);
    // Its maker may undo it, under that lease.
    store.create('default', { name: 'undone', lease: 'l1' });
    expect(await store.remove('default', 'undone', { lease: 'l1' })).toMatchObject({ name: 'undone' });
    live.delete('l1');
    expect((await store.prune('default')).deleted).toEqual(['held']);
  });

  it('filters by name, label, driver and dangling; unknown filters are errors', () => {
    store.create('default', { name: 'web-data', labels: { app: 'web', tier: 'front' } });
    store.create('default', { name: 'db-data', labels: { app: 'db' } });
    expect(names('default', ['name=web'])).toEqual(['web-data']);
    expect(names('default', ['name=data'])).toEqual(['db-data', 'web-data']);
    expect(names('default', ['name=web', 'name=db'])).toEqual(['db-data', 'web-data']);
    expect(names('default', ['label=app'])).toEqual(['db-data', 'web-data']);
    expect(names('default', ['label=app=db'])).toEqual(['db-data']);
    expect(names('default', ['label=app', 'label=tier'])).toEqual(['web-data']);
    expect(names('default', ['driver=local'])).toHaveLength(2);
    expect(errorOf(() => store.list('default', ['color=red'])).message).toContain("invalid filter 'color'");
    expect(errorOf(() => store.list('default', ['dangling=maybe'])).kind).toBe('invalid-argument');
    expect(errorOf(() => store.list('default', ['dangling=true', 'dangling=false'])).message).toContain('conflicting');
  });

  it('prunes unused anonymous volumes, with all the named ones too, never one in use; label filters narrow it', async () => {
    const anon = store.create('default', { anonymous: true }).volume;
    writeFileSync(join(anon.mountpoint, 'blob'), Buffer.alloc(10_000));
    const busyAnon = store.create('default', { anonymous: true }).volume;
    store.create('default', { name: 'named', labels: { keep: 'yes' } });
    store.create('default', { name: 'named2' });
    users.default = [{ id: 'c', sources: [busyAnon.mountpoint] }];
    const first = await store.prune('default');
    expect(first.deleted).toEqual([anon.name]);
    expect(first.reclaimed).toBeGreaterThanOrEqual(10_000);
    expect((await store.prune('default', { all: true, filters: ['label!=keep'] })).deleted).toEqual(['named2']);
    expect((await store.prune('default', { all: true, filters: ['label=keep=yes'] })).deleted).toEqual(['named']);
    expect(names()).toEqual([busyAnon.name]);
    await expectKind(() => store.prune('default', { filters: ['dangling=true'] }), 'invalid-argument', 'dangling');
  });

  it('opening collects what a crash left: temporary directories, directories without a row, the trash', async () => {
    store.create('default', { name: 'kept' });
    mkdirSync(join(root, 'default', '.tmp-0123'));
    mkdirSync(join(root, 'default', 'orphan', '_data'), { recursive: true });
    writeFileSync(join(root, 'default', 'orphan', '_data', 'f'), 'x');
    mkdirSync(join(root, '.trash', 'half-removed'), { recursive: true });
    store = open();
    await new Promise((r) => setTimeout(r, 50));
    expect(readdirSync(join(root, 'default'))).toEqual(['kept']);
    expect(readdirSync(join(root, '.trash'))).toEqual([]);
    // A directory without a row is no obstacle to a new volume of that name either.
    mkdirSync(join(root, 'default', 'again', '_data'), { recursive: true });
    writeFileSync(join(root, 'default', 'again', '_data', 'stale'), 'x');
    const { volume } = store.create('default', { name: 'again' });
    expect(readdirSync(volume.mountpoint)).toEqual([]);
  });

  it('a failed insert removes the directory it made', () => {
    db.sql.exec('CREATE TRIGGER no_volumes BEFORE INSERT ON volumes BEGIN SELECT RAISE(ABORT, \'refused\'); END;');
    expect(() => store.create('default', { name: 'never' })).toThrow('refused');
    expect(readdirSync(join(root, 'default'))).toEqual([]);
  });
});
