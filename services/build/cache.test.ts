// The layer cache's rows: a hit only while every layer it names is there, the stale ones dropped after a
// collection, prune by age, and a namespace's rows apart from another's.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetadataDB } from '../metadata/db.js';
import { sha256 } from '../../lib/digest.js';
import { BuildCache, type CachedState } from './cache.js';

let db: MetadataDB;
let cache: BuildCache;

beforeEach(() => {
  db = MetadataDB.open(':memory:');
  cache = new BuildCache(db);
});

afterEach(() => {
  db.close();
});

const layer = (name: string) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(name), size: name.length });
const state = (...layers: string[]): CachedState => ({
  config: { rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256(`diff ${l}`)) }, config: { Env: ['A=1'] } },
  layers: layers.map(layer),
});

describe('BuildCache', () => {
  it('gives back what was put, while its layers are there; a row naming a gone layer is dropped', () => {
    const present = new Set<string>([sha256('base'), sha256('step')]);
    cache.put('ns', 'k1', state('base', 'step'));
    expect(cache.get('ns', 'k1', (d) => present.has(d))).toEqual(state('base', 'step'));
    expect(cache.get('other', 'k1', () => true)).toBeUndefined();
    present.delete(sha256('step'));
    expect(cache.get('ns', 'k1', (d) => present.has(d))).toBeUndefined();
    expect(cache.count('ns')).toBe(0);
  });

  it('a metadata step with no layer of its own is a row like any other; a put again replaces it', () => {
    cache.put('ns', 'k', state());
    cache.put('ns', 'k', state('base'));
    expect(cache.get('ns', 'k', () => true)?.layers).toEqual([layer('base')]);
    expect(cache.count('ns')).toBe(1);
  });

  it('dropStale removes, in every namespace, the rows whose layers a collection took', () => {
    cache.put('a', 'k1', state('x'));
    cache.put('a', 'k2', state('y'));
    cache.put('b', 'k1', state('x'));
    expect(cache.dropStale((ns, d) => !(ns === 'a' && d === sha256('x')))).toBe(1);
    expect([cache.count('a'), cache.count('b')]).toEqual([1, 1]);
  });

  it('prune drops every row of a namespace, or those not used since a time, and says which layers they named', () => {
    cache.put('ns', 'old', state('o'));
    db.sql.prepare("UPDATE build_cache SET used_at = 0 WHERE key = 'old'").run();
    cache.put('ns', 'new', state('n'));
    cache.put('other', 'k', state('o'));
    expect(cache.layersOf('ns', new Date(1000)).map((l) => l.digest)).toEqual([sha256('o')]);
    expect(cache.prune('ns', new Date(1000))).toBe(1);
    expect(cache.count('ns')).toBe(1);
    expect(cache.prune('ns')).toBe(1);
    expect([cache.count('ns'), cache.count('other')]).toEqual([0, 1]);
  });
});
