// containerd.services.containers.v1.Containers over ContainerStore, with containerd's events after each
// change. A delete hands over to the garbage collector: the container's snapshot may be garbage now.
import {
  ContainersService,
  type Container as PbContainer,
  type ContainersServer,
} from '../../gen/containerd/services/containers/v1/containers.js';
import { ContainerCreate, ContainerDelete, ContainerUpdate } from '../../gen/containerd/events/container.js';
import type { HandlerFactory } from '../../lib/grpc/handlers.js';
import { requireNamespace } from '../../lib/grpc/context.js';
import { invalidArgument } from '../../lib/errdefs.js';
import type { Publisher } from '../events/exchange.js';
import { pack } from '../events/payload.js';
import type { GarbageCollector } from '../metadata/gc.js';
import type { GrpcService } from '../grpc-service.js';
import type { ContainerStore } from './store.js';
import type { Container, ContainerInput } from './types.js';

export interface ContainerEvents {
  created(ns: string, c: Container): void;
  updated(ns: string, c: Container): void;
  deleted(ns: string, id: string): void;
}

/** Container events with containerd's topics and payloads. */
export function containerEventsOn(publisher: Publisher): ContainerEvents {
  return {
    created: (ns, c) =>
      publisher.publish(
        ns,
        '/containers/create',
        pack('containerd.events.ContainerCreate', ContainerCreate, { id: c.id, image: c.image, runtime: c.runtime }),
      ),
    updated: (ns, c) =>
      publisher.publish(
        ns,
        '/containers/update',
        pack('containerd.events.ContainerUpdate', ContainerUpdate, {
          id: c.id,
          image: c.image,
          labels: c.labels,
          snapshotKey: c.snapshotKey,
        }),
      ),
    deleted: (ns, id) => publisher.publish(ns, '/containers/delete', pack('containerd.events.ContainerDelete', ContainerDelete, { id })),
  };
}

function fromPb(c: PbContainer | undefined): ContainerInput {
  if (!c) throw invalidArgument('container must be set');
  return {
    id: c.id,
    labels: c.labels,
    image: c.image,
    runtime: c.runtime,
    spec: c.spec,
    snapshotter: c.snapshotter,
    snapshotKey: c.snapshotKey,
    extensions: c.extensions,
  };
}

// The domain record has the wire message's shape; the copy keeps that a checked fact.
const toPb = (c: Container): PbContainer => ({ ...c });

export function containersService(store: ContainerStore, events: ContainerEvents, gc: GarbageCollector, h: HandlerFactory): GrpcService {
  const implementation: ContainersServer = {
    get: h.unary('Containers.Get', (req, ctx) => ({ container: toPb(store.get(requireNamespace(ctx), req.id)) })),
    list: h.unary('Containers.List', (req, ctx) => ({ containers: store.list(requireNamespace(ctx), req.filters).map(toPb) })),
    listStream: h.serverStream('Containers.ListStream', async (req, ctx, send) => {
      for (const c of store.list(requireNamespace(ctx), req.filters)) await send({ container: toPb(c) });
    }),
    create: h.unary('Containers.Create', (req, ctx) => {
      const ns = requireNamespace(ctx);
      const container = store.create(ns, fromPb(req.container));
      events.created(ns, container);
      return { container: toPb(container) };
    }),
    update: h.unary('Containers.Update', (req, ctx) => {
      const ns = requireNamespace(ctx);
      const container = store.update(ns, fromPb(req.container), req.updateMask ?? []);
      events.updated(ns, container);
      // A new snapshot key may leave the old snapshot unreferenced.
      gc.dirty();
      return { container: toPb(container) };
    }),
    delete: h.unary('Containers.Delete', (req, ctx) => {
      const ns = requireNamespace(ctx);
      store.delete(ns, req.id);
      events.deleted(ns, req.id);
      gc.dirty();
      return {};
    }),
  };
  return { definition: ContainersService, implementation };
}
