import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetadataDB } from '../metadata/db.js';
import { NamespaceStore } from './store.js';
import { errorOf } from '../../test/harness/errors.js';

let db: MetadataDB;
let probed: string[];
let probeAnswer: string[];
let store: NamespaceStore;

beforeEach(() => {
  db = MetadataDB.open(':memory:');
  probed = [];
  probeAnswer = [];
  store = new NamespaceStore(db, [
    (ns) => {
      probed.push(ns);
      return probeAnswer;
    },
  ]);
});

afterEach(() => {
  db.close();
});


describe('NamespaceStore.get and list', () => {
  it('get of a namespace never made answers with no labels and does not make it', () => {
    expect(store.get('ghost')).toEqual({ name: 'ghost', labels: {} });
    expect(store.list()).toEqual([]);
  });

  it('get validates the name', () => {
    const err = errorOf(() => store.get('bad name'));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toContain('namespace "bad name"');
  });

  it('list returns every namespace by name, with labels', () => {
    store.create({ name: 'zeta', labels: {} });
    store.create({ name: 'alpha', labels: { owner: 'alice' } });
    db.ensureNamespace('mid');
    expect(store.list()).toEqual([
      { name: 'alpha', labels: { owner: 'alice' } },
      { name: 'mid', labels: {} },
      { name: 'zeta', labels: {} },
    ]);
  });
});

describe('NamespaceStore.create', () => {
  it('creates a namespace with labels that get then returns', () => {
    expect(store.create({ name: 'team-a', labels: { owner: 'alice' } })).toEqual({ name: 'team-a', labels: { owner: 'alice' } });
    expect(store.get('team-a')).toEqual({ name: 'team-a', labels: { owner: 'alice' } });
  });

  it('refuses a namespace that exists, naming it, and keeps the first labels', () => {
    store.create({ name: 'team-a', labels: { v: '1' } });
    const err = errorOf(() => store.create({ name: 'team-a', labels: { v: '2' } }));
    expect(err.kind).toBe('already-exists');
    expect(err.message).toBe('namespace "team-a": already exists');
    expect(store.get('team-a').labels).toEqual({ v: '1' });
  });

  it('refuses an invalid name or invalid labels and makes nothing', () => {
    expect(errorOf(() => store.create({ name: '-x', labels: {} })).kind).toBe('invalid-argument');
    expect(errorOf(() => store.create({ name: '', labels: {} })).message).toBe('namespace must not be empty');
    expect(errorOf(() => store.create({ name: 'ok', labels: { '': 'v' } })).kind).toBe('invalid-argument');
    expect(errorOf(() => store.create({ name: 'ok', labels: { k: 'x'.repeat(5000) } })).kind).toBe('invalid-argument');
    expect(store.list()).toEqual([]);
  });
});

describe('NamespaceStore.update', () => {
  beforeEach(() => {
    store.create({ name: 'ns1', labels: { a: '1', b: '2' } });
  });

  it('"labels.<key>" sets and deletes single keys', () => {
    expect(store.update({ name: 'ns1', labels: { c: '3' } }, ['labels.c']).labels).toEqual({ a: '1', b: '2', c: '3' });
    expect(store.update({ name: 'ns1', labels: {} }, ['labels.a']).labels).toEqual({ b: '2', c: '3' });
    expect(store.get('ns1').labels).toEqual({ b: '2', c: '3' });
  });

  it('"labels" and an empty mask replace all labels', () => {
    expect(store.update({ name: 'ns1', labels: { x: '1' } }, ['labels']).labels).toEqual({ x: '1' });
    expect(store.update({ name: 'ns1', labels: { y: '2' } }, []).labels).toEqual({ y: '2' });
    expect(store.get('ns1').labels).toEqual({ y: '2' });
  });

  it('refuses any other field and changes nothing', () => {
    const err = errorOf(() => store.update({ name: 'ns1', labels: { a: 'changed' } }, ['labels.a', 'name']));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toBe('namespace "ns1": cannot update field "name"');
    expect(store.get('ns1').labels).toEqual({ a: '1', b: '2' });
  });

  it('makes the namespace when it does not exist yet, as containerd does', () => {
    expect(store.update({ name: 'fresh', labels: { k: 'v' } }, ['labels.k'])).toEqual({ name: 'fresh', labels: { k: 'v' } });
    expect(store.list().map((n) => n.name)).toEqual(['fresh', 'ns1']);
  });

  it('refuses invalid labels', () => {
    expect(errorOf(() => store.update({ name: 'ns1', labels: { '': 'x' } }, ['labels'])).kind).toBe('invalid-argument');
    expect(store.get('ns1').labels).toEqual({ a: '1', b: '2' });
  });
});

describe('NamespaceStore.delete', () => {
  it('removes an empty namespace', () => {
    store.create({ name: 'gone', labels: {} });
    store.delete('gone');
    expect(store.list()).toEqual([]);
    expect(probed).toEqual(['gone']);
  });

  it('answers not-found for a namespace that does not exist', () => {
    const err = errorOf(() => store.delete('nothing'));
    expect(err.kind).toBe('not-found');
    expect(err.message).toBe('namespace "nothing": not found');
  });

  it('validates the name', () => {
    expect(errorOf(() => store.delete('a//b')).kind).toBe('invalid-argument');
  });

  it('refuses while blobs or leases remain, naming them', () => {
    store.create({ name: 'busy', labels: {} });
    db.sql.prepare("INSERT INTO content (namespace, digest, size, created_at, updated_at) VALUES ('busy', 'd', 1, 0, 0)").run();
    db.sql.prepare("INSERT INTO leases (namespace, id, created_at) VALUES ('busy', 'l', 0)").run();
    const err = errorOf(() => store.delete('busy'));
    expect(err.kind).toBe('failed-precondition');
    expect(err.message).toBe('namespace "busy" must be empty, but it still has blobs, leases');
    expect(store.list().map((n) => n.name)).toEqual(['busy']);
  });

  it('refuses while a probe reports something, naming it', () => {
    store.create({ name: 'writing', labels: {} });
    probeAnswer = ['ingests'];
    const err = errorOf(() => store.delete('writing'));
    expect(err.kind).toBe('failed-precondition');
    expect(err.message).toBe('namespace "writing" must be empty, but it still has ingests');
    expect(probed).toEqual(['writing']);
    probeAnswer = [];
    store.delete('writing');
    expect(store.list()).toEqual([]);
  });

  it('only looks at the namespace being deleted', () => {
    store.create({ name: 'empty', labels: {} });
    db.ensureNamespace('other');
    db.sql.prepare("INSERT INTO leases (namespace, id, created_at) VALUES ('other', 'l', 0)").run();
    store.delete('empty');
    expect(store.list().map((n) => n.name)).toEqual(['other']);
  });
});
