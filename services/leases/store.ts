// Leases: named holds on resources (content, ingests, snapshots) that keep them from garbage collection
// while a client works. A lease with the label containerd.io/gc.expire ends by itself at that time.
import { randomBytes } from 'node:crypto';
import type { MetadataDB } from '../metadata/db.js';
import { parseLabels } from '../metadata/db.js';
import { alreadyExists, invalidArgument, notFound } from '../../lib/errdefs.js';
import { validateIdentifier } from '../../lib/identifiers.js';
import { validateLabels, type Labels } from '../../lib/labels.js';
import { compileFilters, recordReader } from '../../lib/filters.js';
import { parseDigest } from '../../lib/digest.js';

export interface Lease {
  id: string;
  createdAt: Date;
  labels: Labels;
}

export interface LeaseResource {
  /** "content", "ingests", or "snapshots/<snapshotter>". */
  type: string;
  id: string;
}

export const expireLabel = 'containerd.io/gc.expire';
export const leaseFilterFields = { id: 'value', labels: 'map' } as const;

interface LeaseRow {
  id: string;
  labels: string;
  created_at: number;
}

const toLease = (r: LeaseRow): Lease => ({ id: r.id, createdAt: new Date(r.created_at), labels: parseLabels(r.labels) });

export function validateResource(r: LeaseResource): LeaseResource {
  if (r.id === '') throw invalidArgument(`lease resource of type "${r.type}" must have an id`);
  if (r.type === 'content') {
    parseDigest(r.id);
  } else if (r.type.startsWith('snapshots/')) {
    validateIdentifier(r.type.slice('snapshots/'.length), 'snapshotter name');
  } else if (r.type !== 'ingests') {
    throw invalidArgument(`unsupported lease resource type "${r.type}" (want content, ingests or snapshots/<name>)`);
  }
  return r;
}

export function parseExpiry(labels: Labels): Date | undefined {
  const v = labels[expireLabel];
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalidArgument(`label ${expireLabel}="${v}" is not an RFC 3339 time`);
  return new Date(t);
}

export class LeaseStore {
  constructor(private readonly db: MetadataDB) {}

  private row(ns: string, id: string): LeaseRow | undefined {
    return this.db.stmt('SELECT id, labels, created_at FROM leases WHERE namespace = ? AND id = ?').get(ns, id) as
      | LeaseRow
      | undefined;
  }

  private mustExist(ns: string, id: string): LeaseRow {
    const row = this.row(ns, id);
    if (!row) throw notFound(`lease "${id}": not found`);
    return row;
  }

  /** Creates a lease; an empty id gets a random one, as containerd's lease service does. */
  create(ns: string, requestedId: string, labels: Labels): Lease {
    const id = requestedId === '' ? `${Date.now()}-${randomBytes(6).toString('hex')}` : requestedId;
    // containerd takes any non-empty lease id (its clients make ids like "881487506-pmB-" that are not
    // identifiers); only what cannot be a sane key is refused.
    if (id.length > 1024 || id.includes('\0')) throw invalidArgument(`lease id "${id.slice(0, 64)}" is not a valid id`);
    const checked = validateLabels(labels);
    parseExpiry(checked);
    return this.db.tx(() => {
      if (this.row(ns, id)) throw alreadyExists(`lease "${id}": already exists`);
      const now = Date.now();
      this.db.ensureNamespace(ns, now);
      this.db
        .stmt('INSERT INTO leases (namespace, id, labels, created_at) VALUES (?, ?, ?, ?)')
        .run(ns, id, JSON.stringify(checked), now);
      return { id, createdAt: new Date(now), labels: checked };
    });
  }

  get(ns: string, id: string): Lease {
    return toLease(this.mustExist(ns, id));
  }

  exists(ns: string, id: string): boolean {
    return this.row(ns, id) !== undefined;
  }

  list(ns: string, filters: readonly string[]): Lease[] {
    const match = compileFilters(filters, leaseFilterFields, recordReader<Lease>());
    const rows = this.db
      .stmt('SELECT id, labels, created_at FROM leases WHERE namespace = ? ORDER BY created_at, id')
      .all(ns) as LeaseRow[];
    return rows.map(toLease).filter(match);
  }

  delete(ns: string, id: string): void {
    this.db.tx(() => {
      this.mustExist(ns, id);
      this.db.stmt('DELETE FROM leases WHERE namespace = ? AND id = ?').run(ns, id);
    });
  }

  addResource(ns: string, id: string, resource: LeaseResource): void {
    const r = validateResource(resource);
    this.db.tx(() => {
      this.mustExist(ns, id);
      this.db
        .stmt('INSERT INTO lease_resources (namespace, lease, type, id) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING')
        .run(ns, id, r.type, r.id);
    });
  }

  deleteResource(ns: string, id: string, resource: LeaseResource): void {
    const r = validateResource(resource);
    this.db.tx(() => {
      this.mustExist(ns, id);
      this.db
        .stmt('DELETE FROM lease_resources WHERE namespace = ? AND lease = ? AND type = ? AND id = ?')
        .run(ns, id, r.type, r.id);
    });
  }

  listResources(ns: string, id: string): LeaseResource[] {
    this.mustExist(ns, id);
    return this.db
      .stmt('SELECT type, id FROM lease_resources WHERE namespace = ? AND lease = ? ORDER BY type, id')
      .all(ns, id) as LeaseResource[];
  }

  /** Whether any lease in any namespace holds this resource. */
  isHeld(type: string, id: string): boolean {
    return this.db.stmt('SELECT 1 FROM lease_resources WHERE type = ? AND id = ? LIMIT 1').get(type, id) !== undefined;
  }

  /** Deletes every lease, in every namespace, that carries the label `key`; returns what it deleted. */
  deleteLabelled(key: string): Array<{ ns: string; id: string }> {
    return this.deleteWhere((labels) => labels[key] !== undefined);
  }

  /** Deletes every lease whose gc.expire time has passed; returns what it deleted. */
  deleteExpired(now = new Date()): Array<{ ns: string; id: string }> {
    return this.deleteWhere((labels) => {
      const v = labels[expireLabel];
      const t = v === undefined ? NaN : Date.parse(v);
      return !Number.isNaN(t) && t <= now.getTime();
    });
  }

  /** Deletes, across namespaces and in one transaction, the leases whose labels match. */
  private deleteWhere(match: (labels: Labels) => boolean): Array<{ ns: string; id: string }> {
    const rows = this.db.stmt('SELECT namespace, id, labels FROM leases').all() as Array<{
      namespace: string;
      id: string;
      labels: string;
    }>;
    const doomed = rows.filter((r) => match(parseLabels(r.labels)));
    const del = this.db.stmt('DELETE FROM leases WHERE namespace = ? AND id = ?');
    this.db.tx(() => {
      for (const r of doomed) del.run(r.namespace, r.id);
    });
    return doomed.map((r) => ({ ns: r.namespace, id: r.id }));
  }
}
