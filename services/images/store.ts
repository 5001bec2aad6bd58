// Image records per namespace: a name and its root descriptor. Deleting an image only removes the name;
// what it pointed at becomes garbage for the collector if nothing else refers to it.
import type { MetadataDB } from '../metadata/db.js';
import { parseLabels } from '../metadata/db.js';
import { alreadyExists, invalidArgument, notFound } from '../../lib/errdefs.js';
import { applyLabelMask, validateLabels } from '../../lib/labels.js';
import { parseDigest } from '../../lib/digest.js';
import { compileFilters, type FieldReader } from '../../lib/filters.js';
import { imageFilterFields, type Descriptor, type Image } from './types.js';

interface ImageRow {
  name: string;
  labels: string;
  target_media_type: string;
  target_digest: string;
  target_size: number;
  target_annotations: string;
  created_at: number;
  updated_at: number;
}

const columns = 'name, labels, target_media_type, target_digest, target_size, target_annotations, created_at, updated_at';

const toImage = (r: ImageRow): Image => ({
  name: r.name,
  labels: parseLabels(r.labels),
  target: {
    mediaType: r.target_media_type,
    digest: r.target_digest,
    size: r.target_size,
    annotations: parseLabels(r.target_annotations),
  },
  createdAt: new Date(r.created_at),
  updatedAt: new Date(r.updated_at),
});

const readField: FieldReader<Image> = (img, path) => {
  switch (path.join('.')) {
    case 'name':
      return img.name;
    case 'target.digest':
      return img.target.digest;
    case 'target.mediatype':
      return img.target.mediaType;
  }
  const [field, key] = path;
  if (field === 'labels' && key !== undefined) return img.labels[key];
  if (field === 'annotations' && key !== undefined) return img.target.annotations[key];
  return undefined;
};

export function validateDescriptor(d: Descriptor | undefined, what: string): Descriptor {
  if (!d) throw invalidArgument(`${what}: target must be set`);
  parseDigest(d.digest);
  if (d.mediaType === '') throw invalidArgument(`${what}: target media type must be set`);
  if (d.size < 0) throw invalidArgument(`${what}: target size ${d.size} must not be negative`);
  return { mediaType: d.mediaType, digest: d.digest, size: d.size, annotations: validateLabels(d.annotations) };
}

export class ImageStore {
  constructor(private readonly db: MetadataDB) {}

  private row(ns: string, name: string): ImageRow | undefined {
    return this.db.stmt(`SELECT ${columns} FROM images WHERE namespace = ? AND name = ?`).get(ns, name) as
      | ImageRow
      | undefined;
  }

  get(ns: string, name: string): Image {
    if (name === '') throw invalidArgument('image name must not be empty');
    const row = this.row(ns, name);
    if (!row) throw notFound(`image "${name}": not found`);
    return toImage(row);
  }

  list(ns: string, filters: readonly string[]): Image[] {
    const match = compileFilters(filters, imageFilterFields, readField);
    const rows = this.db.stmt(`SELECT ${columns} FROM images WHERE namespace = ? ORDER BY name`).all(ns) as ImageRow[];
    return rows.map(toImage).filter(match);
  }

  create(ns: string, image: { name: string; labels: Record<string, string>; target: Descriptor | undefined }): Image {
    if (image.name === '') throw invalidArgument('image name must not be empty');
    const labels = validateLabels(image.labels);
    const target = validateDescriptor(image.target, `image "${image.name}"`);
    return this.db.tx(() => {
      if (this.row(ns, image.name)) throw alreadyExists(`image "${image.name}": already exists`);
      const now = Date.now();
      this.db.ensureNamespace(ns, now);
      this.write(ns, { name: image.name, labels, target, createdAt: new Date(now), updatedAt: new Date(now) }, 'insert');
      return this.get(ns, image.name);
    });
  }

  /** Field mask paths: labels, labels.<key>, target, annotations, annotations.<key>; none means all. */
  update(
    ns: string,
    image: { name: string; labels: Record<string, string>; target: Descriptor | undefined },
    paths: readonly string[],
  ): Image {
    if (image.name === '') throw invalidArgument('image name must not be empty');
    const update = validateLabels(image.labels);
    return this.db.tx(() => {
      const current = this.get(ns, image.name);
      const next = { ...current, target: { ...current.target } };
      const { labels, rest } = applyLabelMask(current.labels, update, paths);
      next.labels = labels;
      if (paths.length === 0) next.target = validateDescriptor(image.target, `image "${image.name}"`);
      for (const path of rest) {
        if (path === 'target') {
          next.target = validateDescriptor(image.target, `image "${image.name}"`);
        } else if (path === 'annotations') {
          next.target.annotations = validateLabels(image.target?.annotations);
        } else if (path.startsWith('annotations.')) {
          const key = path.slice('annotations.'.length);
          const value = image.target?.annotations[key];
          if (value === undefined || value === '') delete next.target.annotations[key];
          else next.target.annotations[key] = value;
        } else {
          throw invalidArgument(`cannot update field "${path}" of image "${image.name}"`);
        }
      }
      validateLabels(next.labels);
      next.updatedAt = new Date();
      this.write(ns, next, 'update');
      return this.get(ns, image.name);
    });
  }

  delete(ns: string, name: string): void {
    if (name === '') throw invalidArgument('image name must not be empty');
    const { changes } = this.db.stmt('DELETE FROM images WHERE namespace = ? AND name = ?').run(ns, name);
    if (changes === 0) throw notFound(`image "${name}": not found`);
  }

  private write(ns: string, img: Image, mode: 'insert' | 'update'): void {
    const values = [
      JSON.stringify(img.labels),
      img.target.mediaType,
      img.target.digest,
      img.target.size,
      JSON.stringify(img.target.annotations),
      img.updatedAt.getTime(),
    ];
    if (mode === 'insert') {
      this.db
        .stmt(
          `INSERT INTO images (labels, target_media_type, target_digest, target_size, target_annotations, updated_at, created_at, namespace, name)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(...values, img.createdAt.getTime(), ns, img.name);
    } else {
      this.db
        .stmt(
          `UPDATE images SET labels = ?, target_media_type = ?, target_digest = ?, target_size = ?, target_annotations = ?, updated_at = ?
           WHERE namespace = ? AND name = ?`,
        )
        .run(...values, ns, img.name);
    }
  }
}
