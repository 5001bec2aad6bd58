// Namespaces: the rows that scope every other object. Get of a namespace that was never made answers with
// no labels (containerd's clients rely on it); Delete refuses while anything still lives in the namespace.
import type { MetadataDB } from '../metadata/db.js';
import { parseLabels } from '../metadata/db.js';
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from '../../lib/errdefs.js';
import { validateIdentifier } from '../../lib/identifiers.js';
import { applyLabelMask, validateLabels, type Labels } from '../../lib/labels.js';

export interface Namespace {
  name: string;
  labels: Labels;
}

/** Reports what else a namespace holds outside the metadata database (ingests on disk...). */
export type ContentsProbe = (ns: string) => string[];

export class NamespaceStore {
  constructor(
    private readonly db: MetadataDB,
    private readonly probes: readonly ContentsProbe[] = [],
  ) {}

  private row(name: string): Namespace | undefined {
    const row = this.db.stmt('SELECT name, labels FROM namespaces WHERE name = ?').get(name) as
      | { name: string; labels: string }
      | undefined;
    return row && { name: row.name, labels: parseLabels(row.labels) };
  }

  get(name: string): Namespace {
    validateIdentifier(name, 'namespace');
    return this.row(name) ?? { name, labels: {} };
  }

  list(): Namespace[] {
    const rows = this.db.stmt('SELECT name, labels FROM namespaces ORDER BY name').all() as Array<{
      name: string;
      labels: string;
    }>;
    return rows.map((r) => ({ name: r.name, labels: parseLabels(r.labels) }));
  }

  create(ns: Namespace): Namespace {
    validateIdentifier(ns.name, 'namespace');
    const labels = validateLabels(ns.labels);
    return this.db.tx(() => {
      if (this.row(ns.name)) throw alreadyExists(`namespace "${ns.name}": already exists`);
      const now = Date.now();
      this.db
        .stmt('INSERT INTO namespaces (name, labels, created_at, updated_at) VALUES (?, ?, ?, ?)')
        .run(ns.name, JSON.stringify(labels), now, now);
      return { name: ns.name, labels };
    });
  }

  /** Applies a field mask of "labels" / "labels.<key>"; like containerd, it makes the namespace if needed. */
  update(ns: Namespace, paths: readonly string[]): Namespace {
    validateIdentifier(ns.name, 'namespace');
    const update = validateLabels(ns.labels);
    return this.db.tx(() => {
      const current = this.row(ns.name)?.labels ?? {};
      const { labels, rest } = applyLabelMask(current, update, paths);
      if (rest.length > 0) throw invalidArgument(`namespace "${ns.name}": cannot update field "${rest[0]}"`);
      validateLabels(labels);
      this.db.ensureNamespace(ns.name);
      this.db
        .stmt('UPDATE namespaces SET labels = ?, updated_at = ? WHERE name = ?')
        .run(JSON.stringify(labels), Date.now(), ns.name);
      return { name: ns.name, labels };
    });
  }

  delete(name: string): void {
    validateIdentifier(name, 'namespace');
    this.db.tx(() => {
      if (!this.row(name)) throw notFound(`namespace "${name}": not found`);
      const held = [...this.db.namespaceContents(name), ...this.probes.flatMap((p) => p(name))];
      if (held.length > 0) {
        throw failedPrecondition(`namespace "${name}" must be empty, but it still has ${held.join(', ')}`);
      }
      this.db.stmt('DELETE FROM namespaces WHERE name = ?').run(name);
    });
  }
}
