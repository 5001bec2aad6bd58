// The metadata database: one SQLite file (WAL, foreign keys on) under the root dir. This module owns the
// connection and the schema; stores of each service run their SQL through it, one transaction per operation.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomUUID } from 'node:crypto';
import { migrations, type Migration } from './migrations.js';
import type { Labels } from '../../lib/labels.js';

export type Sqlite = Database.Database;

/** Which tables hold namespaced objects, with the word containerd uses for them in "not empty" errors. */
const namespacedTables: ReadonlyArray<{ table: string; noun: string }> = [
  { table: 'containers', noun: 'containers' },
  { table: 'images', noun: 'images' },
  { table: 'content', noun: 'blobs' },
  { table: 'snapshots', noun: 'snapshots' },
  { table: 'leases', noun: 'leases' },
  { table: 'volumes', noun: 'volumes' },
];

export class MetadataDB {
  readonly sql: Sqlite;
  private readonly statements = new Map<string, Database.Statement<unknown[]>>();

  /** A prepared statement, prepared once per text: preparing costs more than most of ctrd's queries. */
  stmt(text: string): Database.Statement<unknown[]> {
    let s = this.statements.get(text);
    if (!s) {
      s = this.sql.prepare(text);
      this.statements.set(text, s);
    }
    return s;
  }

  private constructor(sql: Sqlite) {
    this.sql = sql;
  }

  static open(path: string, opts: { migrations?: readonly Migration[] } = {}): MetadataDB {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const sql = new Database(path);
    try {
      sql.pragma('journal_mode = WAL');
      sql.pragma('synchronous = NORMAL');
      sql.pragma('foreign_keys = ON');
      sql.pragma('busy_timeout = 5000');
      const db = new MetadataDB(sql);
      db.migrate(opts.migrations ?? migrations);
      return db;
    } catch (err) {
      sql.close();
      throw err;
    }
  }

  /** The number of migrations applied. */
  get version(): number {
    return this.sql.pragma('user_version', { simple: true }) as number;
  }

  private migrate(list: readonly Migration[]): void {
    const current = this.version;
    if (current > list.length) {
      throw new Error(
        `metadata database is at schema version ${current}, newer than this ctrd knows (${list.length}); refusing to start`,
      );
    }
    for (let i = current; i < list.length; i++) {
      this.sql.transaction(() => {
        this.sql.exec(list[i]!.sql);
        this.sql.pragma(`user_version = ${i + 1}`);
      })();
    }
  }

  /** Runs fn in one transaction (nested calls join the outer one). */
  tx<T>(fn: () => T): T {
    return this.sql.transaction(fn)();
  }

  /** Creates the namespace row if it is missing: namespaces come into being with their first object. */
  ensureNamespace(ns: string, now = Date.now()): void {
    this.stmt('INSERT INTO namespaces (name, labels, created_at, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING').run(ns, '{}', now, now);
  }

  /** What the namespace still holds in the database, as nouns ("blobs", "leases"); empty when nothing. */
  namespaceContents(ns: string): string[] {
    return namespacedTables
      .filter(({ table }) => this.stmt(`SELECT 1 FROM ${table} WHERE namespace = ? LIMIT 1`).get(ns) !== undefined)
      .map(({ noun }) => noun);
  }

  /** The daemon's UUID, made once and kept in the database under the root dir. */
  serverUUID(): string {
    return this.tx(() => {
      const row = this.stmt("SELECT value FROM settings WHERE key = 'uuid'").get() as { value: string } | undefined;
      if (row) return row.value;
      const uuid = randomUUID();
      this.stmt("INSERT INTO settings (key, value) VALUES ('uuid', ?)").run(uuid);
      return uuid;
    });
  }

  close(): void {
    this.sql.close();
  }
}

export function parseLabels(json: string): Labels {
  return JSON.parse(json) as Labels;
}
