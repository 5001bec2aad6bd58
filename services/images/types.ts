// Domain types of the image store: a name pointing at a root descriptor (an index or a manifest).
import type { Labels } from '../../lib/labels.js';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations: Record<string, string>;
}

export interface Image {
  name: string;
  labels: Labels;
  target: Descriptor;
  createdAt: Date;
  updatedAt: Date;
}

/** containerd's image filter fields (target.mediatype is lower case there). */
export const imageFilterFields = {
  name: 'value',
  labels: 'map',
  'target.digest': 'value',
  'target.mediatype': 'value',
  annotations: 'map',
} as const;
