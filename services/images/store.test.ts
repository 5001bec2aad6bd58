import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetadataDB } from '../metadata/db.js';
import { ImageStore } from './store.js';
import { errorOf } from '../../test/harness/errors.js';
import { sha256 } from '../../lib/digest.js';

const target = (data: string, mediaType = 'application/vnd.oci.image.manifest.v1+json') => ({
  mediaType,
  digest: sha256(data),
  size: data.length,
  annotations: {},
});

describe('ImageStore', () => {
  let db: MetadataDB;
  let store: ImageStore;
  beforeEach(() => {
    db = MetadataDB.open(':memory:');
    store = new ImageStore(db);
  });
  afterEach(() => db.close());

  it('creates, gets and lists per namespace, keeping the target as given', () => {
    const img = store.create('default', { name: 'docker.io/library/busybox:latest', labels: { a: 'b' }, target: target('m1') });
    expect(img.target).toEqual(target('m1'));
    expect(img.createdAt.getTime()).toBe(img.updatedAt.getTime());
    expect(store.get('default', 'docker.io/library/busybox:latest')).toEqual(img);
    expect(store.list('other', [])).toEqual([]);
    expect(errorOf(() => store.get('other', 'docker.io/library/busybox:latest')).kind).toBe('not-found');
    const dup = errorOf(() => store.create('default', { name: img.name, labels: {}, target: target('m2') }));
    expect(dup.kind).toBe('already-exists');
    expect(dup.message).toContain('docker.io/library/busybox:latest');
  });

  it('validates name and target before writing anything', () => {
    expect(errorOf(() => store.create('default', { name: '', labels: {}, target: target('x') })).kind).toBe('invalid-argument');
    expect(errorOf(() => store.create('default', { name: 'x', labels: {}, target: undefined })).kind).toBe('invalid-argument');
    const bad = errorOf(() => store.create('default', { name: 'x', labels: {}, target: { ...target('x'), digest: 'sha256:nope' } }));
    expect(bad.kind).toBe('invalid-argument');
    expect(bad.message).toContain('sha256:nope');
    expect(store.list('default', [])).toEqual([]);
  });

  it('filters by name, target digest and media type, and labels; unknown fields are errors', () => {
    store.create('default', { name: 'a:1', labels: { team: 'x' }, target: target('a') });
    store.create('default', { name: 'b:1', labels: {}, target: target('b', 'application/vnd.oci.image.index.v1+json') });
    const names = (f: string[]) => store.list('default', f).map((i) => i.name);
    expect(names(['name==a:1'])).toEqual(['a:1']);
    expect(names([`target.digest==${sha256('b')}`])).toEqual(['b:1']);
    expect(names(['target.mediatype~=index'])).toEqual(['b:1']);
    expect(names(['labels.team==x', 'name==b:1'])).toEqual(['a:1', 'b:1']);
    expect(errorOf(() => store.list('default', ['size==1'])).message).toContain('unknown field "size"');
  });

  it('updates by field mask: labels, one label, target, annotations', () => {
    store.create('default', { name: 'a', labels: { x: '1', y: '2' }, target: target('a') });
    let img = store.update('default', { name: 'a', labels: { x: '9' }, target: undefined }, ['labels.x']);
    expect(img.labels).toEqual({ x: '9', y: '2' });
    img = store.update('default', { name: 'a', labels: {}, target: undefined }, ['labels.y']);
    expect(img.labels).toEqual({ x: '9' });
    img = store.update('default', { name: 'a', labels: {}, target: target('new') }, ['target']);
    expect(img.target.digest).toBe(sha256('new'));
    img = store.update('default', { name: 'a', labels: {}, target: { ...target('new'), annotations: { k: 'v' } } }, ['annotations.k']);
    expect(img.target.annotations).toEqual({ k: 'v' });
    expect(errorOf(() => store.update('default', { name: 'a', labels: {}, target: undefined }, ['name'])).kind).toBe('invalid-argument');
    expect(errorOf(() => store.update('default', { name: 'zz', labels: {}, target: undefined }, ['labels'])).kind).toBe('not-found');
  });

  it('deletes by name; a missing image is NotFound', () => {
    store.create('default', { name: 'a', labels: {}, target: target('a') });
    store.delete('default', 'a');
    expect(store.list('default', [])).toEqual([]);
    expect(errorOf(() => store.delete('default', 'a')).message).toBe('image "a": not found');
  });
});
