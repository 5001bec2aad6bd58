// containerd.services.images.v1.Images over ImageStore. Deletes hand over to the garbage collector: at
// once with sync, otherwise soon.
import {
  ImagesService,
  type Image as PbImage,
  type ImagesServer,
} from '../../gen/containerd/services/images/v1/images.js';
import type { HandlerFactory } from '../../lib/grpc/handlers.js';
import { requireNamespace } from '../../lib/grpc/context.js';
import { invalidArgument } from '../../lib/errdefs.js';
import type { ImageEvents } from './manager.js';
import type { GarbageCollector } from '../metadata/gc.js';
import type { GrpcService } from '../grpc-service.js';
import type { ImageStore } from './store.js';

function fromPb(img: PbImage | undefined) {
  if (!img) throw invalidArgument('image must be set');
  return { name: img.name, labels: img.labels, target: img.target };
}

export function imagesService(store: ImageStore, events: ImageEvents, gc: GarbageCollector, h: HandlerFactory): GrpcService {
  const implementation: ImagesServer = {
    get: h.unary('Images.Get', (req, ctx) => ({ image: store.get(requireNamespace(ctx), req.name) })),
    list: h.unary('Images.List', (req, ctx) => ({ images: store.list(requireNamespace(ctx), req.filters) })),
    create: h.unary('Images.Create', (req, ctx) => {
      const ns = requireNamespace(ctx);
      const image = store.create(ns, fromPb(req.image));
      events.created(ns, image);
      return { image };
    }),
    update: h.unary('Images.Update', (req, ctx) => {
      const ns = requireNamespace(ctx);
      const image = store.update(ns, fromPb(req.image), req.updateMask ?? []);
      events.updated(ns, image);
      // A new target may leave the old one unreferenced.
      gc.dirty();
      return { image };
    }),
    delete: h.unary('Images.Delete', async (req, ctx) => {
      const ns = requireNamespace(ctx);
      store.delete(ns, req.name);
      events.deleted(ns, req.name);
      if (req.sync) await gc.collect();
      else gc.dirty();
      return {};
    }),
  };
  return { definition: ImagesService, implementation };
}
