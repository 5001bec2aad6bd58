import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetadataDB } from '../metadata/db.js';
import { ContainerStore } from './store.js';
import { errorOf } from '../../test/harness/errors.js';
import type { ContainerInput } from './types.js';

const specUrl = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
const spec = (json: object = { ociVersion: '1.0.2' }) => ({ typeUrl: specUrl, value: Buffer.from(JSON.stringify(json)) });

const input = (id: string, more: Partial<ContainerInput> = {}): ContainerInput => ({
  id,
  labels: {},
  image: 'docker.io/library/busybox:latest',
  runtime: { name: 'io.containerd.runc.v2', options: undefined },
  spec: spec(),
  snapshotter: 'overlayfs',
  snapshotKey: id,
  extensions: {},
  ...more,
});

describe('ContainerStore', () => {
  let db: MetadataDB;
  let store: ContainerStore;
  beforeEach(() => {
    db = MetadataDB.open(':memory:');
    store = new ContainerStore(db);
  });
  afterEach(() => db.close());

  it('creates (and its namespace), gets and lists per namespace; duplicates are AlreadyExists', () => {
    const c = store.create('ns1', input('c1', { labels: { a: 'b' } }));
    expect(c.id).toBe('c1');
    expect(c.labels).toEqual({ a: 'b' });
    expect(c.createdAt.getTime()).toBe(c.updatedAt.getTime());
    expect(db.sql.prepare('SELECT name FROM namespaces').all()).toEqual([{ name: 'ns1' }]);
    expect(store.get('ns1', 'c1')).toEqual(c);
    expect(store.list('ns1', []).map((x) => x.id)).toEqual(['c1']);
    expect(store.list('other', [])).toEqual([]);
    const nf = errorOf(() => store.get('other', 'c1'));
    expect(nf.kind).toBe('not-found');
    expect(nf.message).toContain('"c1"');
    const dup = errorOf(() => store.create('ns1', input('c1')));
    expect(dup.kind).toBe('already-exists');
    expect(dup.message).toContain('"c1"');
  });

  it('returns spec, runtime options and extensions byte for byte, with their type URLs', () => {
    const raw = Buffer.from([0, 1, 2, 255, 0x0a, 0]);
    const options = { typeUrl: 'containerd.runc.v1.Options', value: Buffer.from([0x12, 0x03, 0x61, 0x62, 0x63]) };
    const c = store.create(
      'default',
      input('c1', {
        spec: { typeUrl: 'x/weird', value: raw },
        runtime: { name: 'io.containerd.runc.v2', options },
        extensions: { ext: { typeUrl: 'e/1', value: Buffer.from('hello') }, empty: { typeUrl: '', value: Buffer.alloc(0) } },
      }),
    );
    const got = store.get('default', 'c1');
    expect(got.spec.typeUrl).toBe('x/weird');
    expect(Buffer.compare(got.spec.value, raw)).toBe(0);
    expect(got.runtime.options?.typeUrl).toBe('containerd.runc.v1.Options');
    expect(Buffer.compare(got.runtime.options!.value, options.value)).toBe(0);
    expect(got.extensions.ext?.typeUrl).toBe('e/1');
    expect(got.extensions.ext?.value.toString()).toBe('hello');
    expect(got.extensions.empty?.value.length).toBe(0);
    expect(got).toEqual(c);
    // No options stays no options (not an empty Any).
    expect(store.create('default', input('c2')).runtime.options).toBeUndefined();
  });

  it('validates before writing anything', () => {
    const cases: Array<[ContainerInput, string]> = [
      [input(''), 'must not be empty'],
      [input('bad/id'), 'bad/id'],
      [input('c1', { runtime: { name: '' } }), 'Runtime.Name must be set'],
      [input('c1', { runtime: undefined }), 'Runtime.Name must be set'],
      [input('c1', { spec: undefined }), 'Spec must be set'],
      [input('c1', { labels: { '': 'x' } }), 'label key'],
      [input('c1', { labels: { k: 'v'.repeat(5000) } }), 'maximum size'],
      [input('c1', { snapshotter: '' }), 'Snapshotter must be set'],
      [input('c1', { extensions: { '': spec() } }), 'zero-length'],
    ];
    for (const [bad, message] of cases) {
      const err = errorOf(() => store.create('default', bad));
      expect(err.kind, message).toBe('invalid-argument');
      expect(err.message).toContain(message);
    }
    expect(store.list('default', [])).toEqual([]);
    expect(db.sql.prepare('SELECT name FROM namespaces').all()).toEqual([]);
  });

  it('filters by id, image, runtime.name and labels; unknown fields are errors', () => {
    store.create('default', input('a', { labels: { team: 'x' }, image: 'img/a:1' }));
    store.create('default', input('b', { runtime: { name: 'io.containerd.runsc.v1' }, image: 'img/b:1' }));
    store.create('default', input('c', { image: '' }));
    const ids = (f: string[]) => store.list('default', f).map((c) => c.id);
    expect(ids(['id==b'])).toEqual(['b']);
    expect(ids(['image==img/a:1'])).toEqual(['a']);
    expect(ids(['image'])).toEqual(['a', 'b']);
    expect(ids(['runtime.name==io.containerd.runc.v2'])).toEqual(['a', 'c']);
    expect(ids(['runtime.name~=runsc'])).toEqual(['b']);
    expect(ids(['labels.team==x', 'id==c'])).toEqual(['a', 'c']);
    expect(ids(['labels.team'])).toEqual(['a']);
    expect(ids(['id!=a,image~=img'])).toEqual(['b']);
    const err = errorOf(() => store.list('default', ['snapshotter==overlayfs']));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toContain('unknown field "snapshotter"');
    expect(errorOf(() => store.list('default', ['runtime.options==x'])).kind).toBe('invalid-argument');
  });

  it('updates by field mask: labels, one label, image, spec, snapshotkey, extensions', async () => {
    const created = store.create('default', input('c1', { labels: { x: '1', y: '2' }, extensions: { e1: spec({ a: 1 }) } }));
    await new Promise((r) => setTimeout(r, 5));
    const upd = (more: Partial<ContainerInput>, paths: string[]) => store.update('default', { id: 'c1', ...more }, paths);
    let c = upd({ labels: { x: '9', z: 'ignored' } }, ['labels.x']);
    expect(c.labels).toEqual({ x: '9', y: '2' });
    expect(c.createdAt).toEqual(created.createdAt);
    expect(c.updatedAt.getTime()).toBeGreaterThan(created.updatedAt.getTime());
    c = upd({}, ['labels.y']);
    expect(c.labels).toEqual({ x: '9' });
    c = upd({ labels: { only: 'this' } }, ['labels']);
    expect(c.labels).toEqual({ only: 'this' });
    c = upd({ image: 'img/new:2' }, ['image']);
    expect(c.image).toBe('img/new:2');
    c = upd({ spec: spec({ ociVersion: '1.1.0' }) }, ['spec']);
    expect(JSON.parse(c.spec.value.toString())).toEqual({ ociVersion: '1.1.0' });
    c = upd({ snapshotKey: 'other-key' }, ['snapshotkey']);
    expect(c.snapshotKey).toBe('other-key');
    c = upd({ extensions: { e2: spec({ b: 2 }) } }, ['extensions.e2']);
    expect(Object.keys(c.extensions).sort()).toEqual(['e1', 'e2']);
    c = upd({}, ['extensions.e1']);
    expect(Object.keys(c.extensions)).toEqual(['e2']);
    c = upd({ extensions: { e3: spec() } }, ['extensions']);
    expect(Object.keys(c.extensions)).toEqual(['e3']);
    // Untouched by all of that:
    expect(c.runtime.name).toBe('io.containerd.runc.v2');
    expect(c.snapshotter).toBe('overlayfs');
    expect(store.get('default', 'c1')).toEqual(c);
  });

  it('an empty mask replaces the mutable fields and refuses changes to snapshotter and runtime name', () => {
    store.create('default', input('c1', { labels: { x: '1' } }));
    const c = store.update('default', input('c1', { labels: { y: '2' }, image: 'img/z', snapshotKey: 'k2', spec: spec({ v: 2 }) }), []);
    expect(c.labels).toEqual({ y: '2' });
    expect(c.image).toBe('img/z');
    expect(c.snapshotKey).toBe('k2');
    expect(JSON.parse(c.spec.value.toString())).toEqual({ v: 2 });

    const snap = errorOf(() => store.update('default', input('c1', { snapshotter: 'native' }), []));
    expect(snap.kind).toBe('invalid-argument');
    expect(snap.message).toContain('Snapshotter field is immutable');
    const rt = errorOf(() => store.update('default', input('c1', { runtime: { name: 'io.containerd.runsc.v1' } }), []));
    expect(rt.kind).toBe('invalid-argument');
    expect(rt.message).toContain('Runtime.Name field is immutable');
    expect(store.get('default', 'c1')).toEqual(c);
  });

  it('refuses immutable or unknown paths and invalid results, changing nothing', () => {
    const c = store.create('default', input('c1', { labels: { x: '1' } }));
    for (const path of ['runtime', 'snapshotter', 'id', 'createdat', 'bogus']) {
      const err = errorOf(() => store.update('default', input('c1', { labels: { x: '2' } }), ['labels.x', path]));
      expect(err.kind, path).toBe('invalid-argument');
      expect(err.message).toContain(`"${path}"`);
    }
    // The mask names spec but gives none: the result would be invalid.
    expect(errorOf(() => store.update('default', { id: 'c1' }, ['spec'])).message).toContain('Spec must be set');
    expect(errorOf(() => store.update('default', { id: 'c1', labels: { k: 'v'.repeat(5000) } }, ['labels.k'])).kind).toBe(
      'invalid-argument',
    );
    store.create('default', input('bare', { snapshotter: '', snapshotKey: '' }));
    expect(errorOf(() => store.update('default', { id: 'bare', snapshotKey: 'k' }, ['snapshotkey'])).message).toContain(
      'Snapshotter must be set',
    );
    expect(store.get('default', 'c1')).toEqual(c);
    expect(errorOf(() => store.update('default', { id: '' }, ['labels'])).kind).toBe('invalid-argument');
    expect(errorOf(() => store.update('default', { id: 'nope' }, ['labels'])).kind).toBe('not-found');
  });

  it('deletes; a missing container is NotFound', () => {
    store.create('default', input('c1'));
    store.create('default', input('c2'));
    store.delete('default', 'c1');
    expect(store.list('default', []).map((c) => c.id)).toEqual(['c2']);
    const err = errorOf(() => store.delete('default', 'c1'));
    expect(err.kind).toBe('not-found');
    expect(err.message).toContain('"c1"');
    expect(errorOf(() => store.delete('other', 'c2')).kind).toBe('not-found');
    expect(db.namespaceContents('default')).toEqual(['containers']);
  });
});
