// containerd.services.snapshots.v1.Snapshots over SnapshotStore. Every request names its snapshotter.
// Events as containerd's snapshot service publishes them: /snapshot/prepare (not for views), /commit, /remove.
import {
  Kind,
  SnapshotsService,
  type Info as PbInfo,
  type SnapshotsServer,
} from '../../gen/containerd/services/snapshots/v1/snapshots.js';
import type { Mount as PbMount } from '../../gen/containerd/types/mount.js';
import { SnapshotCommit, SnapshotPrepare, SnapshotRemove } from '../../gen/containerd/events/snapshot.js';
import type { HandlerFactory } from '../../lib/grpc/handlers.js';
import { requireNamespace } from '../../lib/grpc/context.js';
import { invalidArgument } from '../../lib/errdefs.js';
import type { Publisher } from '../events/exchange.js';
import { pack } from '../events/payload.js';
import type { GrpcService } from '../grpc-service.js';
import type { GarbageCollector } from '../metadata/gc.js';
import type { SnapshotStore } from './store.js';
import type { Mount, SnapshotInfo, SnapshotKind } from './types.js';

/** Infos per List message: containerd batches its stream the same way. */
const listBatch = 100;

const kinds: Record<SnapshotKind, Kind> = { view: Kind.VIEW, active: Kind.ACTIVE, committed: Kind.COMMITTED };

const toPbInfo = (i: SnapshotInfo): PbInfo => ({
  name: i.name,
  parent: i.parent,
  kind: kinds[i.kind],
  createdAt: i.createdAt,
  updatedAt: i.updatedAt,
  labels: i.labels,
});

const toPbMounts = (mounts: Mount[]): PbMount[] => mounts.map((m) => ({ type: m.type, source: m.source, target: '', options: m.options }));

export function snapshotsService(store: SnapshotStore, events: Publisher, gc: GarbageCollector, h: HandlerFactory): GrpcService {
  const implementation: SnapshotsServer = {
    prepare: h.unary('Snapshots.Prepare', async (req, ctx) => {
      const ns = requireNamespace(ctx);
      const mounts = await store.prepare(ns, req.snapshotter, req.key, req.parent, req.labels, { lease: ctx.lease });
      events.publish(ns, '/snapshot/prepare', pack('containerd.events.SnapshotPrepare', SnapshotPrepare, { key: req.key, parent: req.parent }));
      return { mounts: toPbMounts(mounts) };
    }),

    view: h.unary('Snapshots.View', async (req, ctx) => {
      const mounts = await store.view(requireNamespace(ctx), req.snapshotter, req.key, req.parent, req.labels, { lease: ctx.lease });
      return { mounts: toPbMounts(mounts) };
    }),

    mounts: h.unary('Snapshots.Mounts', (req, ctx) => ({
      mounts: toPbMounts(store.mounts(requireNamespace(ctx), req.snapshotter, req.key)),
    })),

    commit: h.unary('Snapshots.Commit', (req, ctx) => {
      const ns = requireNamespace(ctx);
      store.commit(ns, req.snapshotter, req.name, req.key, req.labels, { lease: ctx.lease });
      events.publish(ns, '/snapshot/commit', pack('containerd.events.SnapshotCommit', SnapshotCommit, { key: req.key, name: req.name }));
      return {};
    }),

    remove: h.unary('Snapshots.Remove', async (req, ctx) => {
      const ns = requireNamespace(ctx);
      await store.remove(ns, req.snapshotter, req.key, { lease: ctx.lease });
      events.publish(ns, '/snapshot/remove', pack('containerd.events.SnapshotRemove', SnapshotRemove, { key: req.key }));
      // Its parents may be garbage now.
      gc.dirty();
      return {};
    }),

    stat: h.unary('Snapshots.Stat', (req, ctx) => ({ info: toPbInfo(store.stat(requireNamespace(ctx), req.snapshotter, req.key)) })),

    update: h.unary('Snapshots.Update', (req, ctx) => {
      if (!req.info) throw invalidArgument('snapshot info must be set');
      const info = store.update(requireNamespace(ctx), req.snapshotter, req.info, req.updateMask ?? []);
      return { info: toPbInfo(info) };
    }),

    list: h.serverStream('Snapshots.List', async (req, ctx, send) => {
      const infos = store.list(requireNamespace(ctx), req.snapshotter, req.filters).map(toPbInfo);
      for (let i = 0; i < infos.length; i += listBatch) await send({ info: infos.slice(i, i + listBatch) });
    }),

    usage: h.unary('Snapshots.Usage', (req, ctx) => store.usage(requireNamespace(ctx), req.snapshotter, req.key)),

    // Directories are the snapshotter's, not a namespace's: as in containerd, no namespace is needed.
    cleanup: h.unary('Snapshots.Cleanup', async (req) => {
      await store.cleanup(req.snapshotter);
      return {};
    }),
  };
  return { definition: SnapshotsService, implementation };
}
