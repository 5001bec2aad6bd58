import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetadataDB } from '../metadata/db.js';
import { expireLabel, LeaseStore, parseExpiry, validateResource } from './store.js';
import { validateIdentifier } from '../../lib/identifiers.js';
import { sha256 } from '../../lib/digest.js';
import { errorOf } from '../../test/harness/errors.js';

let db: MetadataDB;
let leases: LeaseStore;

beforeEach(() => {
  db = MetadataDB.open(':memory:');
  leases = new LeaseStore(db);
});

afterEach(() => {
  db.close();
});


const resourceRows = () => (db.sql.prepare('SELECT count(*) AS n FROM lease_resources').get() as { n: number }).n;
const blob = sha256('blob');

describe('LeaseStore.create and get', () => {
  it('creates a lease with its labels and creation time, and makes its namespace', () => {
    const before = Date.now();
    const l = leases.create('ns1', 'my-lease', { a: '1' });
    expect(l.id).toBe('my-lease');
    expect(l.labels).toEqual({ a: '1' });
    expect(l.createdAt.getTime()).toBeGreaterThanOrEqual(before);
    expect(l.createdAt.getTime()).toBeLessThanOrEqual(Date.now());
    expect(leases.get('ns1', 'my-lease')).toEqual(l);
    expect(leases.exists('ns1', 'my-lease')).toBe(true);
    expect(db.namespaceContents('ns1')).toEqual(['leases']);
  });

  it('gives a lease without an id a random valid one', () => {
    const a = leases.create('ns1', '', {});
    const b = leases.create('ns1', '', {});
    expect(() => validateIdentifier(a.id)).not.toThrow();
    expect(a.id).toMatch(/^\d+-[0-9a-f]{12}$/);
    expect(a.id).not.toBe(b.id);
    expect(leases.list('ns1', []).map((l) => l.id).sort()).toEqual([a.id, b.id].sort());
  });

  it('refuses an id that exists in the namespace, naming it; other namespaces may reuse it', () => {
    leases.create('ns1', 'dup', {});
    const err = errorOf(() => leases.create('ns1', 'dup', {}));
    expect(err.kind).toBe('already-exists');
    expect(err.message).toBe('lease "dup": already exists');
    expect(leases.create('ns2', 'dup', {}).id).toBe('dup');
  });

  it('refuses invalid ids, labels and expiry times and makes nothing', () => {
    expect(errorOf(() => leases.create('ns1', 'a\0b', {})).message).toContain('is not a valid id');
    expect(errorOf(() => leases.create('ns1', 'x', { '': 'v' })).kind).toBe('invalid-argument');
    const err = errorOf(() => leases.create('ns1', 'x', { [expireLabel]: 'tomorrow' }));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toContain(`${expireLabel}="tomorrow"`);
    expect(leases.list('ns1', [])).toEqual([]);
    expect(db.namespaceContents('ns1')).toEqual([]);
  });

  it('takes the ids containerd takes, such as the random ones ctr makes', () => {
    for (const id of ['881487506-pmB-', 'x__y', 'a b']) expect(leases.create('ns1', id, {}).id).toBe(id);
  });

  it('get of a missing lease is not-found, naming it', () => {
    leases.create('ns1', 'there', {});
    const err = errorOf(() => leases.get('ns2', 'there'));
    expect(err.kind).toBe('not-found');
    expect(err.message).toBe('lease "there": not found');
    expect(leases.exists('ns2', 'there')).toBe(false);
  });
});

describe('LeaseStore.list', () => {
  beforeEach(() => {
    leases.create('ns1', 'l1', { team: 'a' });
    leases.create('ns1', 'l2', { team: 'b', 'containerd.io/gc.flat': 'true' });
    leases.create('ns2', 'l3', { team: 'a' });
  });

  it('lists the leases of one namespace', () => {
    expect(leases.list('ns1', []).map((l) => l.id)).toEqual(['l1', 'l2']);
    expect(leases.list('ns2', []).map((l) => l.id)).toEqual(['l3']);
    expect(leases.list('ns3', [])).toEqual([]);
  });

  it('filters by id and labels', () => {
    expect(leases.list('ns1', ['id==l2']).map((l) => l.id)).toEqual(['l2']);
    expect(leases.list('ns1', ['labels.team==a']).map((l) => l.id)).toEqual(['l1']);
    expect(leases.list('ns1', ['labels."containerd.io/gc.flat"']).map((l) => l.id)).toEqual(['l2']);
    expect(leases.list('ns1', ['id==l1', 'labels.team==b']).map((l) => l.id)).toEqual(['l1', 'l2']);
  });

  it('refuses a filter on an unknown field', () => {
    const err = errorOf(() => leases.list('ns1', ['createdAt==1']));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toContain('unknown field "createdAt"');
  });
});

describe('lease resources', () => {
  beforeEach(() => {
    leases.create('ns1', 'l1', {});
  });

  it('records, lists (by type and id) and deletes resources; adding twice is harmless', () => {
    leases.addResource('ns1', 'l1', { type: 'ingests', id: 'ref-b' });
    leases.addResource('ns1', 'l1', { type: 'content', id: blob });
    leases.addResource('ns1', 'l1', { type: 'snapshots/overlayfs', id: 'snap-1' });
    leases.addResource('ns1', 'l1', { type: 'ingests', id: 'ref-a' });
    leases.addResource('ns1', 'l1', { type: 'ingests', id: 'ref-a' });
    expect(leases.listResources('ns1', 'l1')).toEqual([
      { type: 'content', id: blob },
      { type: 'ingests', id: 'ref-a' },
      { type: 'ingests', id: 'ref-b' },
      { type: 'snapshots/overlayfs', id: 'snap-1' },
    ]);
    leases.deleteResource('ns1', 'l1', { type: 'ingests', id: 'ref-a' });
    expect(leases.listResources('ns1', 'l1')).toHaveLength(3);
    expect(leases.isHeld('ingests', 'ref-a')).toBe(false);
    expect(leases.isHeld('ingests', 'ref-b')).toBe(true);
  });

  it('isHeld sees holds from any namespace', () => {
    leases.create('ns2', 'l2', {});
    expect(leases.isHeld('content', blob)).toBe(false);
    leases.addResource('ns2', 'l2', { type: 'content', id: blob });
    expect(leases.isHeld('content', blob)).toBe(true);
    expect(leases.isHeld('content', sha256('other'))).toBe(false);
  });

  it.each([
    ['an empty id', { type: 'ingests', id: '' }, /must have an id/],
    ['content that is not a digest', { type: 'content', id: 'sha256:nothex' }, /invalid digest "sha256:nothex"/],
    ['an unknown type', { type: 'images', id: 'x' }, /unsupported lease resource type "images"/],
    ['a snapshotter with an invalid name', { type: 'snapshots/', id: 'x' }, /snapshotter name must not be empty/],
    ['a bare "snapshots"', { type: 'snapshots', id: 'x' }, /unsupported lease resource type "snapshots"/],
  ])('refuses %s', (_, resource, message) => {
    const err = errorOf(() => leases.addResource('ns1', 'l1', resource));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toMatch(message);
    expect(resourceRows()).toBe(0);
  });

  it('needs the lease to exist', () => {
    const r = { type: 'ingests', id: 'x' };
    for (const fn of [
      () => leases.addResource('ns1', 'nope', r),
      () => leases.deleteResource('ns1', 'nope', r),
      () => leases.listResources('ns1', 'nope'),
      () => leases.addResource('ns2', 'l1', r),
    ]) {
      const err = errorOf(fn);
      expect(err.kind).toBe('not-found');
      expect(err.message).toMatch(/^lease "(nope|l1)": not found$/);
    }
    expect(resourceRows()).toBe(0);
  });

  it('validateResource returns a valid resource as it is', () => {
    const r = { type: 'snapshots/native', id: 'k' };
    expect(validateResource(r)).toBe(r);
  });
});

describe('LeaseStore.delete', () => {
  it('deletes the lease and, by cascade, its resources', () => {
    leases.create('ns1', 'l1', {});
    leases.create('ns1', 'keep', {});
    leases.addResource('ns1', 'l1', { type: 'content', id: blob });
    leases.addResource('ns1', 'l1', { type: 'ingests', id: 'r' });
    leases.addResource('ns1', 'keep', { type: 'ingests', id: 'kept' });
    leases.delete('ns1', 'l1');
    expect(leases.exists('ns1', 'l1')).toBe(false);
    expect(leases.isHeld('content', blob)).toBe(false);
    expect(leases.isHeld('ingests', 'r')).toBe(false);
    expect(resourceRows()).toBe(1);
    expect(leases.listResources('ns1', 'keep')).toEqual([{ type: 'ingests', id: 'kept' }]);
  });

  it('answers not-found for a missing lease', () => {
    const err = errorOf(() => leases.delete('ns1', 'nope'));
    expect(err.kind).toBe('not-found');
    expect(err.message).toBe('lease "nope": not found');
  });
});

describe('lease expiry', () => {
  const at = (iso: string) => ({ [expireLabel]: iso });

  it('parseExpiry reads the gc.expire label as a time', () => {
    expect(parseExpiry({})).toBeUndefined();
    expect(parseExpiry(at('2030-01-02T03:04:05Z'))?.toISOString()).toBe('2030-01-02T03:04:05.000Z');
    expect(parseExpiry(at('2030-01-02T03:04:05+02:00'))?.toISOString()).toBe('2030-01-02T01:04:05.000Z');
    expect(errorOf(() => parseExpiry(at(''))).kind).toBe('invalid-argument');
  });

  it('deleteExpired removes leases whose time has come (inclusive), with their resources, and nothing else', () => {
    leases.create('ns1', 'past', at('2030-01-01T00:00:00Z'));
    leases.create('ns2', 'now', at('2030-01-01T12:00:00Z'));
    leases.create('ns1', 'future', at('2030-01-02T00:00:00Z'));
    leases.create('ns1', 'forever', {});
    leases.addResource('ns1', 'past', { type: 'content', id: blob });

    expect(leases.deleteExpired(new Date('2029-12-31T00:00:00Z'))).toEqual([]);
    const gone = leases.deleteExpired(new Date('2030-01-01T12:00:00Z'));
    expect(gone.sort((a, b) => a.id.localeCompare(b.id))).toEqual([
      { ns: 'ns2', id: 'now' },
      { ns: 'ns1', id: 'past' },
    ]);
    expect(leases.list('ns1', []).map((l) => l.id).sort()).toEqual(['forever', 'future']);
    expect(leases.list('ns2', [])).toEqual([]);
    expect(leases.isHeld('content', blob)).toBe(false);

    expect(leases.deleteExpired(new Date('2031-01-01T00:00:00Z'))).toEqual([{ ns: 'ns1', id: 'future' }]);
    expect(leases.list('ns1', []).map((l) => l.id)).toEqual(['forever']);
  });

  it('deleteExpired uses the clock by default', () => {
    leases.create('ns1', 'old', at(new Date(Date.now() - 60_000).toISOString()));
    leases.create('ns1', 'young', at(new Date(Date.now() + 3_600_000).toISOString()));
    expect(leases.deleteExpired()).toEqual([{ ns: 'ns1', id: 'old' }]);
    expect(leases.list('ns1', []).map((l) => l.id)).toEqual(['young']);
  });
});
