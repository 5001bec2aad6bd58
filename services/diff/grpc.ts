// containerd.services.diff.v1.Diff over a Differ. The lease of the call holds what Diff writes.
import { DiffService, type DiffServer } from '../../gen/containerd/services/diff/v1/diff.js';
import type { Mount as WireMount } from '../../gen/containerd/types/mount.js';
import type { Descriptor as WireDescriptor } from '../../gen/containerd/types/descriptor.js';
import type { HandlerFactory } from '../../lib/grpc/handlers.js';
import { requireNamespace } from '../../lib/grpc/context.js';
import { invalidArgument } from '../../lib/errdefs.js';
import type { GrpcService } from '../grpc-service.js';
import type { Descriptor, Differ, Mount } from './types.js';

const mounts = (ms: readonly WireMount[]): Mount[] => ms.map((m) => ({ type: m.type, source: m.source, options: m.options }));
const wire = (d: Descriptor): WireDescriptor => ({ mediaType: d.mediaType, digest: d.digest, size: d.size, annotations: {} });

export function diffService(differ: Differ, h: HandlerFactory): GrpcService {
  const implementation: DiffServer = {
    apply: h.unary('Diff.Apply', async (req, ctx) => {
      const ns = requireNamespace(ctx);
      if (!req.diff) throw invalidArgument('apply: the diff descriptor must be set');
      const applied = await differ.apply(ns, req.diff, mounts(req.mounts), { signal: ctx.signal });
      return { applied: wire(applied) };
    }),

    diff: h.unary('Diff.Diff', async (req, ctx) => {
      const ns = requireNamespace(ctx);
      const desc = await differ.diff(ns, mounts(req.left), mounts(req.right), {
        mediaType: req.mediaType,
        ref: req.ref,
        labels: req.labels,
        lease: ctx.lease,
        signal: ctx.signal,
      });
      return { diff: wire(desc) };
    }),
  };
  return { definition: DiffService, implementation };
}
