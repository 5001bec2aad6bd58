// What a handler knows of its call: the namespace and lease from metadata, a logger bound to them, and a
// signal that fires when the client goes away.
import type { Metadata } from '@grpc/grpc-js';
import { failedPrecondition } from '../errdefs.js';
import { validateIdentifier } from '../identifiers.js';
import type { Logger } from '../log.js';

export const namespaceHeader = 'containerd-namespace';
export const leaseHeader = 'containerd-lease';

export interface CallContext {
  readonly method: string;
  /** The namespace from metadata, validated when present. */
  readonly ns: string | undefined;
  /** The lease the client works under, if any. */
  readonly lease: string | undefined;
  readonly log: Logger;
  readonly signal: AbortSignal;
}

export function metadataValue(md: Metadata, key: string): string | undefined {
  const v = md.get(key)[0];
  if (v === undefined) return undefined;
  const s = typeof v === 'string' ? v : v.toString('utf8');
  return s === '' ? undefined : s;
}

/** The namespace of a call, required: containerd answers FailedPrecondition when it is missing. */
export function requireNamespace(ctx: CallContext): string {
  if (ctx.ns === undefined) throw failedPrecondition('namespace is required');
  return ctx.ns;
}

export function readNamespace(md: Metadata): string | undefined {
  const ns = metadataValue(md, namespaceHeader);
  return ns === undefined ? undefined : validateIdentifier(ns, 'namespace');
}
