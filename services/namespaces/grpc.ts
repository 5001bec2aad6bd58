// containerd.services.namespaces.v1.Namespaces over NamespaceStore; publishes /namespaces/* after each change.
import {
  NamespacesService,
  type NamespacesServer,
  type Namespace as PbNamespace,
} from '../../gen/containerd/services/namespaces/v1/namespace.js';
import { NamespaceCreate, NamespaceDelete, NamespaceUpdate } from '../../gen/containerd/events/namespace.js';
import type { HandlerFactory } from '../../lib/grpc/handlers.js';
import { invalidArgument } from '../../lib/errdefs.js';
import { compileFilters, recordReader } from '../../lib/filters.js';
import type { Publisher } from '../events/exchange.js';
import { pack } from '../events/payload.js';
import type { GrpcService } from '../grpc-service.js';
import type { Namespace, NamespaceStore } from './store.js';

const filterFields = { name: 'value', labels: 'map' } as const;

function fromPb(ns: PbNamespace | undefined): Namespace {
  if (!ns) throw invalidArgument('namespace must be set');
  return { name: ns.name, labels: ns.labels };
}

export function namespacesService(store: NamespaceStore, events: Publisher, h: HandlerFactory): GrpcService {
  const implementation: NamespacesServer = {
    get: h.unary('Namespaces.Get', (req) => ({ namespace: store.get(req.name) })),
    list: h.unary('Namespaces.List', (req) => {
      const match = compileFilters(req.filter ? [req.filter] : [], filterFields, recordReader<Namespace>());
      return { namespaces: store.list().filter(match) };
    }),
    create: h.unary('Namespaces.Create', (req) => {
      const ns = store.create(fromPb(req.namespace));
      events.publish(ns.name, '/namespaces/create', pack('containerd.events.NamespaceCreate', NamespaceCreate, ns));
      return { namespace: ns };
    }),
    update: h.unary('Namespaces.Update', (req) => {
      const ns = store.update(fromPb(req.namespace), req.updateMask ?? []);
      events.publish(ns.name, '/namespaces/update', pack('containerd.events.NamespaceUpdate', NamespaceUpdate, ns));
      return { namespace: ns };
    }),
    delete: h.unary('Namespaces.Delete', (req) => {
      store.delete(req.name);
      events.publish(req.name, '/namespaces/delete', pack('containerd.events.NamespaceDelete', NamespaceDelete, { name: req.name }));
      return {};
    }),
  };
  return { definition: NamespacesService, implementation };
}
