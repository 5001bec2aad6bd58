// containerd.services.leases.v1.Leases over LeaseStore.
import { LeasesService, type LeasesServer, type Resource } from '../../gen/containerd/services/leases/v1/leases.js';
import type { HandlerFactory } from '../../lib/grpc/handlers.js';
import { requireNamespace } from '../../lib/grpc/context.js';
import { invalidArgument } from '../../lib/errdefs.js';
import type { GrpcService } from '../grpc-service.js';
import type { GarbageCollector } from '../metadata/gc.js';
import type { LeaseResource, LeaseStore } from './store.js';

function resource(r: Resource | undefined): LeaseResource {
  if (!r) throw invalidArgument('lease resource must be set');
  return { type: r.type, id: r.id };
}

export function leasesService(store: LeaseStore, gc: GarbageCollector, h: HandlerFactory): GrpcService {
  const implementation: LeasesServer = {
    create: h.unary('Leases.Create', (req, ctx) => ({ lease: store.create(requireNamespace(ctx), req.id, req.labels) })),
    delete: h.unary('Leases.Delete', async (req, ctx) => {
      store.delete(requireNamespace(ctx), req.id);
      // What the lease held may be garbage now. As containerd, collect before answering when asked to
      // (sync), and otherwise leave it to the next collection: every client operation ends by deleting its
      // lease, and what it made without referencing it (ctr content ingest) is not swept at once.
      if (req.sync) await gc.collect();
      return {};
    }),
    list: h.unary('Leases.List', (req, ctx) => ({ leases: store.list(requireNamespace(ctx), req.filters) })),
    addResource: h.unary('Leases.AddResource', (req, ctx) => {
      store.addResource(requireNamespace(ctx), req.id, resource(req.resource));
      return {};
    }),
    deleteResource: h.unary('Leases.DeleteResource', (req, ctx) => {
      store.deleteResource(requireNamespace(ctx), req.id, resource(req.resource));
      return {};
    }),
    listResources: h.unary('Leases.ListResources', (req, ctx) => ({
      resources: store.listResources(requireNamespace(ctx), req.id),
    })),
  };
  return { definition: LeasesService, implementation };
}
