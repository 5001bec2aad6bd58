// ctrd.services.volumes.v1.VolumesService over VolumeStore and VolumeCopier, with /volumes/create and
// /volumes/delete published after each change.
import {
  VolumeCreate,
  VolumeDelete,
  VolumesServiceService,
  type Volume as PbVolume,
  type VolumesServiceServer,
} from '../../gen/ctrd/services/volumes/v1/volumes.js';
import type { HandlerFactory } from '../../lib/grpc/handlers.js';
import { requireNamespace } from '../../lib/grpc/context.js';
import type { Publisher } from '../events/exchange.js';
import { pack } from '../events/payload.js';
import type { GrpcService } from '../grpc-service.js';
import type { VolumeCopier } from './copy-up.js';
import type { VolumeStore } from './store.js';
import type { Volume } from './types.js';

export interface VolumeEvents {
  created(ns: string, v: Volume): void;
  deleted(ns: string, name: string): void;
}

export function volumeEventsOn(publisher: Publisher): VolumeEvents {
  return {
    created: (ns, v) =>
      publisher.publish(ns, '/volumes/create', pack('ctrd.services.volumes.v1.VolumeCreate', VolumeCreate, { name: v.name, labels: v.labels })),
    deleted: (ns, name) => publisher.publish(ns, '/volumes/delete', pack('ctrd.services.volumes.v1.VolumeDelete', VolumeDelete, { name })),
  };
}

const toPb = (v: Volume, usedBy: readonly string[], size = 0): PbVolume => ({
  name: v.name,
  driver: v.driver,
  labels: v.labels,
  options: v.options,
  mountpoint: v.mountpoint,
  createdAt: v.createdAt,
  anonymous: v.anonymous,
  usedBy: [...usedBy],
  size,
});

export function volumesService(store: VolumeStore, copier: VolumeCopier, events: VolumeEvents, h: HandlerFactory): GrpcService {
  const implementation: VolumesServiceServer = {
    create: h.unary('Volumes.Create', (req, ctx) => {
      const ns = requireNamespace(ctx);
      const { volume, created } = store.create(ns, {
        name: req.name,
        driver: req.driver,
        labels: req.labels,
        options: req.options,
        anonymous: req.anonymous,
        lease: ctx.lease ?? '',
      });
      if (created) events.created(ns, volume);
      return { volume: toPb(volume, store.usersOf(ns, volume)), created };
    }),
    get: h.unary('Volumes.Get', (req, ctx) => {
      const ns = requireNamespace(ctx);
      const volume = store.get(ns, req.name);
      return { volume: toPb(volume, store.usersOf(ns, volume)) };
    }),
    list: h.unary('Volumes.List', async (req, ctx) => {
      const listed = store.list(requireNamespace(ctx), req.filters);
      const volumes: PbVolume[] = [];
      for (const { volume, usedBy } of listed) volumes.push(toPb(volume, usedBy, req.withSize ? await store.sizeOf(volume) : 0));
      return { volumes };
    }),
    remove: h.unary('Volumes.Remove', async (req, ctx) => {
      const ns = requireNamespace(ctx);
      const removed = await store.remove(ns, req.name, { force: req.force, lease: ctx.lease ?? '' });
      if (removed) events.deleted(ns, removed.name);
      return {};
    }),
    prune: h.unary('Volumes.Prune', async (req, ctx) => {
      const ns = requireNamespace(ctx);
      const result = await store.prune(ns, { all: req.all, filters: req.filters });
      for (const name of result.deleted) events.deleted(ns, name);
      return result;
    }),
    copyUp: h.unary('Volumes.CopyUp', async (req, ctx) => ({
      copied: await copier.copyUp(requireNamespace(ctx), req.name, req.mounts, req.path),
    })),
  };
  return { definition: VolumesServiceService, implementation };
}
