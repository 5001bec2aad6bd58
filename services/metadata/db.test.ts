import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MetadataDB, parseLabels } from './db.js';
import { migrations, type Migration } from './migrations.js';

let top: string;
let dir: string;
let n = 0;
const open: MetadataDB[] = [];

beforeAll(() => {
  top = mkdtempSync(join(tmpdir(), 'ctrd-metadata-test-'));
});

beforeEach(() => {
  dir = join(top, `case-${n++}`);
});

afterEach(() => {
  for (const db of open.splice(0)) if (db.sql.open) db.close();
});

afterAll(() => {
  rmSync(top, { recursive: true, force: true });
  expect(existsSync(top)).toBe(false);
});

function openDB(path = join(dir, 'meta.db'), opts?: { migrations?: readonly Migration[] }): MetadataDB {
  const db = MetadataDB.open(path, opts);
  open.push(db);
  return db;
}

const tables = (db: MetadataDB) =>
  (db.sql.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>).map(
    (r) => r.name,
  );

/** The file descriptors of this process that point at path. */
function fdsOn(path: string): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false;
    }
  }).length;
}

describe('MetadataDB.open', () => {
  it('makes the parent dir and applies every migration to a fresh database', () => {
    const db = openDB(join(dir, 'deep', 'er', 'meta.db'));
    expect(existsSync(join(dir, 'deep', 'er', 'meta.db'))).toBe(true);
    expect(db.version).toBe(migrations.length);
    expect(db.sql.pragma('user_version', { simple: true })).toBe(migrations.length);
    expect(tables(db)).toEqual(['build_cache', 'containers', 'content', 'images', 'lease_resources', 'leases', 'namespaces', 'network_endpoints', 'networks', 'settings', 'snapshots', 'sqlite_sequence', 'volumes']);
  });

  it('runs in WAL mode with foreign keys enforced', () => {
    const db = openDB();
    expect(db.sql.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.sql.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(() =>
      db.sql.prepare("INSERT INTO content (namespace, digest, size, created_at, updated_at) VALUES ('nope', 'd', 1, 0, 0)").run(),
    ).toThrow(/FOREIGN KEY constraint failed/);
  });

  it('re-opening is idempotent and keeps the data', () => {
    const path = join(dir, 'meta.db');
    const first = openDB(path);
    first.ensureNamespace('default', 1000);
    first.close();
    const again = openDB(path);
    expect(again.version).toBe(migrations.length);
    expect(again.sql.prepare('SELECT name, created_at FROM namespaces').all()).toEqual([{ name: 'default', created_at: 1000 }]);
  });

  it('applies only the migrations a database lacks, each in order', () => {
    const path = join(dir, 'meta.db');
    const list: Migration[] = [
      { name: 'one', sql: 'CREATE TABLE t1 (x INTEGER) STRICT; INSERT INTO t1 VALUES (1);' },
      { name: 'two', sql: 'CREATE TABLE t2 (x INTEGER) STRICT; INSERT INTO t2 SELECT x + 1 FROM t1;' },
    ];
    openDB(path, { migrations: list.slice(0, 1) }).close();
    const db = openDB(path, { migrations: list });
    expect(db.version).toBe(2);
    // Migration one ran once: a second run would have inserted a second row into t1.
    expect(db.sql.prepare('SELECT x FROM t1').all()).toEqual([{ x: 1 }]);
    expect(db.sql.prepare('SELECT x FROM t2').all()).toEqual([{ x: 2 }]);
  });

  it('a failing migration is rolled back whole and leaves the version at the last good one', () => {
    const path = join(dir, 'meta.db');
    const list: Migration[] = [
      { name: 'good', sql: 'CREATE TABLE ok (x INTEGER) STRICT;' },
      { name: 'bad', sql: 'CREATE TABLE half (x INTEGER) STRICT; INSERT INTO missing VALUES (1);' },
    ];
    expect(() => MetadataDB.open(path, { migrations: list })).toThrow(/no such table: missing/);
    const raw = new Database(path);
    try {
      expect(raw.pragma('user_version', { simple: true })).toBe(1);
      const names = (raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map(
        (r) => r.name,
      );
      expect(names).toContain('ok');
      expect(names).not.toContain('half');
    } finally {
      raw.close();
    }
  });

  it('refuses a database newer than this code and leaves its version alone', () => {
    const path = join(dir, 'meta.db');
    openDB(path).close();
    const raw = new Database(path);
    raw.pragma(`user_version = ${migrations.length + 1}`);
    raw.close();
    expect(() => MetadataDB.open(path)).toThrow(
      `metadata database is at schema version ${migrations.length + 1}, newer than this ctrd knows (${migrations.length}); refusing to start`,
    );
    const check = new Database(path);
    expect(check.pragma('user_version', { simple: true })).toBe(migrations.length + 1);
    check.close();
  });

  // MetadataDB.open opens the connection, then migrate() throws without closing it: every refused open
  // leaks a SQLite handle (and its file descriptors) until garbage collection finalizes it.
  it('closes the connection it opened when it refuses a database', () => {
    const path = join(dir, 'meta.db');
    openDB(path).close();
    const raw = new Database(path);
    raw.pragma(`user_version = ${migrations.length + 1}`);
    raw.close();
    expect(fdsOn(path)).toBe(0);
    expect(() => MetadataDB.open(path)).toThrow(/refusing to start/);
    expect(fdsOn(path)).toBe(0);
  });
});

describe('MetadataDB', () => {
  it('serverUUID is made once and stays the same across re-opens', () => {
    const path = join(dir, 'meta.db');
    const db = openDB(path);
    const uuid = db.serverUUID();
    expect(uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(db.serverUUID()).toBe(uuid);
    db.close();
    expect(openDB(path).serverUUID()).toBe(uuid);
    expect(openDB(join(dir, 'other.db')).serverUUID()).not.toBe(uuid);
  });

  it('ensureNamespace creates a missing namespace once and keeps the first creation time', () => {
    const db = openDB();
    db.ensureNamespace('team-a', 1);
    db.ensureNamespace('team-a', 2);
    expect(db.sql.prepare('SELECT name, labels, created_at, updated_at FROM namespaces').all()).toEqual([
      { name: 'team-a', labels: '{}', created_at: 1, updated_at: 1 },
    ]);
  });

  it('namespaceContents names the blobs and leases a namespace holds', () => {
    const db = openDB();
    db.ensureNamespace('a');
    db.ensureNamespace('b');
    expect(db.namespaceContents('a')).toEqual([]);
    db.sql.prepare("INSERT INTO content (namespace, digest, size, created_at, updated_at) VALUES ('a', 'd', 1, 0, 0)").run();
    expect(db.namespaceContents('a')).toEqual(['blobs']);
    db.sql.prepare("INSERT INTO leases (namespace, id, created_at) VALUES ('a', 'l', 0)").run();
    expect(db.namespaceContents('a')).toEqual(['blobs', 'leases']);
    expect(db.namespaceContents('b')).toEqual([]);
  });

  it('tx commits on return and rolls back on throw', () => {
    const db = openDB();
    expect(db.tx(() => (db.ensureNamespace('kept'), 7))).toBe(7);
    expect(() =>
      db.tx(() => {
        db.ensureNamespace('dropped');
        throw new Error('abort');
      }),
    ).toThrow('abort');
    expect(db.sql.prepare('SELECT name FROM namespaces').all()).toEqual([{ name: 'kept' }]);
  });

  it('nested tx joins the outer one', () => {
    const db = openDB();
    expect(() =>
      db.tx(() => {
        db.tx(() => db.ensureNamespace('inner'));
        throw new Error('outer fails');
      }),
    ).toThrow('outer fails');
    expect(db.sql.prepare('SELECT count(*) AS n FROM namespaces').get()).toEqual({ n: 0 });
  });

  it('deleting a lease cascades to its resources', () => {
    const db = openDB();
    db.ensureNamespace('a');
    db.sql.prepare("INSERT INTO leases (namespace, id, created_at) VALUES ('a', 'l', 0)").run();
    db.sql.prepare("INSERT INTO lease_resources (namespace, lease, type, id) VALUES ('a', 'l', 'ingests', 'r')").run();
    db.sql.prepare("DELETE FROM leases WHERE namespace = 'a' AND id = 'l'").run();
    expect(db.sql.prepare('SELECT count(*) AS n FROM lease_resources').get()).toEqual({ n: 0 });
  });

  it('close closes the connection', () => {
    const db = openDB();
    db.close();
    expect(db.sql.open).toBe(false);
  });
});

describe('parseLabels', () => {
  it('parses the JSON of a labels column', () => {
    expect(parseLabels('{}')).toEqual({});
    expect(parseLabels('{"a":"1","b/c":"2"}')).toEqual({ a: '1', 'b/c': '2' });
  });
});
