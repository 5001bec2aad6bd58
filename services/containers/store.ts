// Container records per namespace (containerd's metadata/containers.go). A container holds no resources of
// its own beyond its row; it is a GC root of its snapshot, so deleting one may leave that snapshot garbage.
import type { MetadataDB } from '../metadata/db.js';
import { parseLabels } from '../metadata/db.js';
import { alreadyExists, invalidArgument, notFound } from '../../lib/errdefs.js';
import { applyLabelMask, validateLabels } from '../../lib/labels.js';
import { validateIdentifier } from '../../lib/identifiers.js';
import { compileFilters, type FieldReader } from '../../lib/filters.js';
import { containerFilterFields, type AnyValue, type Container, type ContainerInput } from './types.js';

interface ContainerRow {
  id: string;
  labels: string;
  image: string;
  runtime_name: string;
  runtime_options_type: string;
  runtime_options: Buffer | null;
  spec_type: string;
  spec: Buffer | null;
  snapshotter: string;
  snapshot_key: string;
  extensions: string;
  created_at: number;
  updated_at: number;
}

const columns =
  'id, labels, image, runtime_name, runtime_options_type, runtime_options, spec_type, spec, snapshotter, snapshot_key, extensions, created_at, updated_at';

/** The fields a mask-less Update replaces; snapshotter and runtime name must then be unchanged. */
const replacedOnFullUpdate = ['labels', 'spec', 'extensions', 'image', 'snapshotkey'];

type ExtensionsJson = Record<string, { type_url: string; value: string }>;

const copyAny = (a: AnyValue): AnyValue => ({ typeUrl: a.typeUrl, value: Buffer.from(a.value) });

function parseExtensions(json: string): Record<string, AnyValue> {
  const out: Record<string, AnyValue> = {};
  for (const [k, v] of Object.entries(JSON.parse(json) as ExtensionsJson)) {
    out[k] = { typeUrl: v.type_url, value: Buffer.from(v.value, 'base64') };
  }
  return out;
}

function formatExtensions(ext: Record<string, AnyValue>): string {
  const out: ExtensionsJson = {};
  for (const [k, v] of Object.entries(ext)) out[k] = { type_url: v.typeUrl, value: Buffer.from(v.value).toString('base64') };
  return JSON.stringify(out);
}

const toContainer = (r: ContainerRow): Container => ({
  id: r.id,
  labels: parseLabels(r.labels),
  image: r.image,
  runtime: {
    name: r.runtime_name,
    options: r.runtime_options === null ? undefined : { typeUrl: r.runtime_options_type, value: r.runtime_options },
  },
  spec: { typeUrl: r.spec_type, value: r.spec ?? Buffer.alloc(0) },
  snapshotter: r.snapshotter,
  snapshotKey: r.snapshot_key,
  createdAt: new Date(r.created_at),
  updatedAt: new Date(r.updated_at),
  extensions: parseExtensions(r.extensions),
});

const readField: FieldReader<Container> = (c, path) => {
  switch (path.join('.')) {
    case 'id':
      return c.id;
    case 'image':
      return c.image;
    case 'runtime.name':
      return c.runtime.name;
  }
  const [field, key] = path;
  if (field === 'labels' && key !== undefined) return c.labels[key];
  return undefined;
};

function validateExtensions(ext: Record<string, AnyValue | undefined> | undefined): Record<string, AnyValue> {
  const out: Record<string, AnyValue> = {};
  for (const [k, v] of Object.entries(ext ?? {})) {
    if (k === '') throw invalidArgument('container.Extension keys must not be zero-length');
    if (v) out[k] = copyAny(v);
  }
  return out;
}

/** containerd's validateContainer, on a whole record (after a mask has been applied for updates). */
function validateContainer(c: Omit<Container, 'spec' | 'createdAt' | 'updatedAt'> & { spec: AnyValue | undefined }): Container['spec'] {
  validateIdentifier(c.id, 'container id');
  validateLabels(c.labels);
  if (c.runtime.name === '') throw invalidArgument(`container "${c.id}": container.Runtime.Name must be set`);
  if (!c.spec) throw invalidArgument(`container "${c.id}": container.Spec must be set`);
  if (c.snapshotKey !== '' && c.snapshotter === '') {
    throw invalidArgument(`container "${c.id}": container.Snapshotter must be set if container.SnapshotKey is set`);
  }
  return c.spec;
}

export class ContainerStore {
  constructor(private readonly db: MetadataDB) {}

  private row(ns: string, id: string): ContainerRow | undefined {
    return this.db.stmt(`SELECT ${columns} FROM containers WHERE namespace = ? AND id = ?`).get(ns, id) as
      | ContainerRow
      | undefined;
  }

  get(ns: string, id: string): Container {
    if (id === '') throw invalidArgument('container id must not be empty');
    const row = this.row(ns, id);
    if (!row) throw notFound(`container "${id}" in namespace "${ns}": not found`);
    return toContainer(row);
  }

  list(ns: string, filters: readonly string[]): Container[] {
    const match = compileFilters(filters, containerFilterFields, readField);
    const rows = this.db.stmt(`SELECT ${columns} FROM containers WHERE namespace = ? ORDER BY id`).all(ns) as ContainerRow[];
    return rows.map(toContainer).filter(match);
  }

  create(ns: string, input: ContainerInput): Container {
    const draft = {
      id: input.id,
      labels: validateLabels(input.labels),
      image: input.image ?? '',
      runtime: {
        name: input.runtime?.name ?? '',
        options: input.runtime?.options ? copyAny(input.runtime.options) : undefined,
      },
      spec: input.spec ? copyAny(input.spec) : undefined,
      snapshotter: input.snapshotter ?? '',
      snapshotKey: input.snapshotKey ?? '',
      extensions: validateExtensions(input.extensions),
    };
    const spec = validateContainer(draft);
    return this.db.tx(() => {
      if (this.row(ns, input.id)) throw alreadyExists(`container "${input.id}": already exists`);
      const now = Date.now();
      this.db.ensureNamespace(ns, now);
      this.write(ns, { ...draft, spec, createdAt: new Date(now), updatedAt: new Date(now) }, 'insert');
      return this.get(ns, input.id);
    });
  }

  /**
   * Field mask paths: labels, labels.<key>, image, spec, snapshotkey, extensions, extensions.<key>. No paths
   * replaces all of those, and then the snapshotter and runtime name given must equal the stored ones: they
   * are immutable.
   */
  update(ns: string, input: ContainerInput, paths: readonly string[]): Container {
    if (input.id === '') throw invalidArgument('must specify a container id');
    const update = { labels: input.labels ?? {}, extensions: input.extensions ?? {} };
    return this.db.tx(() => {
      const current = this.get(ns, input.id);
      let effective = paths;
      if (paths.length === 0) {
        effective = replacedOnFullUpdate;
        if ((input.snapshotter ?? '') !== current.snapshotter) {
          throw invalidArgument(`container "${input.id}": container.Snapshotter field is immutable`);
        }
        if ((input.runtime?.name ?? '') !== current.runtime.name) {
          throw invalidArgument(`container "${input.id}": container.Runtime.Name field is immutable`);
        }
      }
      const { labels, rest } = applyLabelMask(current.labels, update.labels, effective);
      const next: Omit<Container, 'spec'> & { spec: AnyValue | undefined } = { ...current, labels, extensions: { ...current.extensions } };
      for (const path of rest) {
        if (path.startsWith('extensions.')) {
          const key = path.slice('extensions.'.length);
          const value = update.extensions[key];
          if (value) next.extensions[key] = copyAny(value);
          else delete next.extensions[key];
          continue;
        }
        switch (path) {
          case 'spec':
            next.spec = input.spec ? copyAny(input.spec) : undefined;
            break;
          case 'extensions':
            next.extensions = {};
            for (const [k, v] of Object.entries(update.extensions)) if (v) next.extensions[k] = copyAny(v);
            break;
          case 'image':
            next.image = input.image ?? '';
            break;
          case 'snapshotkey':
            next.snapshotKey = input.snapshotKey ?? '';
            break;
          default:
            throw invalidArgument(`cannot update "${path}" field on "${input.id}"`);
        }
      }
      validateExtensions(next.extensions);
      const spec = validateContainer(next);
      this.write(ns, { ...next, spec, updatedAt: new Date() }, 'update');
      return this.get(ns, input.id);
    });
  }

  delete(ns: string, id: string): void {
    if (id === '') throw invalidArgument('container id must not be empty');
    const { changes } = this.db.stmt('DELETE FROM containers WHERE namespace = ? AND id = ?').run(ns, id);
    if (changes === 0) throw notFound(`container "${id}" in namespace "${ns}": not found`);
  }

  private write(ns: string, c: Container, mode: 'insert' | 'update'): void {
    const options = c.runtime.options;
    const values = [
      JSON.stringify(c.labels),
      c.image,
      c.runtime.name,
      options?.typeUrl ?? '',
      options ? Buffer.from(options.value) : null,
      c.spec.typeUrl,
      Buffer.from(c.spec.value),
      c.snapshotter,
      c.snapshotKey,
      formatExtensions(c.extensions),
      c.updatedAt.getTime(),
    ];
    if (mode === 'insert') {
      this.db
        .stmt(
          `INSERT INTO containers (labels, image, runtime_name, runtime_options_type, runtime_options, spec_type, spec,
             snapshotter, snapshot_key, extensions, updated_at, created_at, namespace, id)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(...values, c.createdAt.getTime(), ns, c.id);
    } else {
      this.db
        .stmt(
          `UPDATE containers SET labels = ?, image = ?, runtime_name = ?, runtime_options_type = ?, runtime_options = ?,
             spec_type = ?, spec = ?, snapshotter = ?, snapshot_key = ?, extensions = ?, updated_at = ?
           WHERE namespace = ? AND id = ?`,
        )
        .run(...values, ns, c.id);
    }
  }
}
