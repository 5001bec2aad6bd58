// Domain types of the container store: a container is metadata only (spec, runtime, snapshot key); what runs
// is a task. The OCI spec, runtime options and extensions are protobuf Any values, kept as type URL and bytes.
import type { Labels } from '../../lib/labels.js';

/** A google.protobuf.Any as the client sent it; returned byte for byte. */
export interface AnyValue {
  typeUrl: string;
  value: Buffer;
}

export interface Runtime {
  /** The shim, e.g. io.containerd.runc.v2. */
  name: string;
  options: AnyValue | undefined;
}

export interface Container {
  id: string;
  labels: Labels;
  /** The image reference it was made from; not validated, as in containerd. */
  image: string;
  runtime: Runtime;
  spec: AnyValue;
  snapshotter: string;
  snapshotKey: string;
  createdAt: Date;
  updatedAt: Date;
  extensions: Record<string, AnyValue>;
}

/** What a client gives to Create and Update: the wire message's fields, any of them possibly unset. */
export interface ContainerInput {
  id: string;
  labels?: Labels;
  image?: string;
  runtime?: { name: string; options?: AnyValue | undefined } | undefined;
  spec?: AnyValue | undefined;
  snapshotter?: string;
  snapshotKey?: string;
  extensions?: Record<string, AnyValue | undefined>;
}

/** containerd's container filter fields (metadata adaptContainer). */
export const containerFilterFields = {
  id: 'value',
  image: 'value',
  'runtime.name': 'value',
  labels: 'map',
} as const;
