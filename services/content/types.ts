// Domain types of the content service: blobs addressed by digest, and ingests (writes in progress) by ref.
import type { Digest } from '../../lib/digest.js';
import type { Labels } from '../../lib/labels.js';

export interface ContentInfo {
  digest: Digest;
  size: number;
  createdAt: Date;
  updatedAt: Date;
  labels: Labels;
}

export interface IngestStatus {
  ref: string;
  /** Bytes written so far: where a resumed write continues. */
  offset: number;
  /** The size the writer announced, 0 when unknown. */
  total: number;
  /** The digest the writer announced, '' when unknown. */
  expected: string;
  startedAt: Date;
  updatedAt: Date;
}

export const contentFilterFields = { digest: 'value', size: 'value', labels: 'map' } as const;
export const ingestFilterFields = { ref: 'value', expected: 'value', total: 'value' } as const;
