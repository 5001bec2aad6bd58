// containerd's label rules (pkg/labels): key and value together at most 4096 bytes, keys not empty.
import { invalidArgument } from './errdefs.js';

export type Labels = Record<string, string>;

const maxLength = 4096;

export function validateLabels(labels: Labels | undefined): Labels {
  const out: Labels = {};
  for (const [key, value] of Object.entries(labels ?? {})) {
    if (key === '') throw invalidArgument('label key must not be empty');
    const size = Buffer.byteLength(key) + Buffer.byteLength(value);
    if (size > maxLength) {
      throw invalidArgument(
        `label key and value of "${key.slice(0, 64)}" greater than maximum size (${maxLength} bytes), got ${size}`,
      );
    }
    out[key] = value;
  }
  return out;
}

/**
 * Applies a field mask to labels the containerd way: "labels" replaces them all, "labels.<key>" sets or
 * deletes one key. Paths that are not about labels are returned for the caller to handle.
 */
export function applyLabelMask(
  current: Labels,
  update: Labels,
  paths: readonly string[],
): { labels: Labels; rest: string[] } {
  if (paths.length === 0) return { labels: { ...update }, rest: [] };
  let labels = { ...current };
  const rest: string[] = [];
  for (const path of paths) {
    if (path === 'labels') {
      labels = { ...update };
    } else if (path.startsWith('labels.')) {
      const key = path.slice('labels.'.length);
      const value = update[key];
      if (value === undefined || value === '') delete labels[key];
      else labels[key] = value;
    } else {
      rest.push(path);
    }
  }
  return { labels, rest };
}
