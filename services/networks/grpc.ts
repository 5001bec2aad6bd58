// ctrd.services.networks.v1.NetworksService over the network manager (networks) and the container networks
// (endpoints), with /networks/* events published in the caller's namespace.
import {
  NetworkConnect,
  NetworkCreate,
  NetworkDelete,
  NetworkDisconnect,
  NetworksServiceService,
  type Endpoint as PbEndpoint,
  type Network as PbNetwork,
  type NetworksServiceServer,
} from '../../gen/ctrd/services/networks/v1/networks.js';
import { invalidArgument } from '../../lib/errdefs.js';
import type { HandlerFactory } from '../../lib/grpc/handlers.js';
import { requireNamespace } from '../../lib/grpc/context.js';
import type { Publisher } from '../events/exchange.js';
import { pack } from '../events/payload.js';
import type { GrpcService } from '../grpc-service.js';
import { networkFilter } from './filters.js';
import type { NetworkManager } from './manager.js';
import type { ContainerNetworks, EndpointView } from './sandboxes.js';
import type { Network } from './store.js';

const toPbEndpoint = (v: EndpointView): PbEndpoint => ({
  namespace: v.row.ns,
  containerId: v.row.containerId,
  containerName: v.containerName,
  network: v.network.name,
  networkId: v.network.id,
  ifname: v.row.ifname,
  address: v.address,
  gateway: v.gateway,
  macAddress: v.mac,
  aliases: v.row.aliases,
  ports: v.row.ports.map((p) => ({ hostIp: p.hostIP, hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol })),
  netns: v.row.netns,
});

export function networksService(manager: NetworkManager, sandboxes: ContainerNetworks, publisher: Publisher, h: HandlerFactory): GrpcService {
  const toPb = (n: Network, endpoints = sandboxes.endpointsOn(n)): PbNetwork => ({
    id: n.id,
    name: n.name,
    driver: n.driver,
    subnet: n.subnet,
    gateway: n.gateway,
    bridge: n.bridge,
    internal: n.internal,
    options: n.options,
    labels: n.labels,
    createdAt: n.createdAt,
    default: n.isDefault,
    conflist: JSON.stringify(manager.conflist(n), null, 2),
    conflistPath: manager.conflistPath(n),
    endpoints: endpoints.map(toPbEndpoint),
  });
  /** The networks that match the filters, each with its endpoints (read once: whether it is used is a filter). */
  const matching = (filters: readonly string[], prune: boolean) => {
    const match = networkFilter(filters, prune);
    return manager
      .list()
      .map((network) => ({ network, endpoints: sandboxes.endpointsOn(network) }))
      .filter(({ network, endpoints }) => match({ network, used: endpoints.length > 0 }));
  };
  const requireContainer = (id: string) => {
    if (!id) throw invalidArgument('container_id must be set');
    return id;
  };

  const implementation: NetworksServiceServer = {
    create: h.unary('Networks.Create', (req, ctx) => {
      const n = manager.create({
        name: req.name,
        driver: req.driver,
        subnet: req.subnet,
        gateway: req.gateway,
        internal: req.internal,
        options: req.options,
        labels: req.labels,
      });
      publisher.publish(requireNamespace(ctx), '/networks/create', pack('ctrd.services.networks.v1.NetworkCreate', NetworkCreate, { id: n.id, name: n.name }));
      return { network: toPb(n) };
    }),
    get: h.unary('Networks.Get', (req) => ({ network: toPb(manager.get(req.name)) })),
    list: h.unary('Networks.List', (req) => ({ networks: matching(req.filters, false).map(({ network, endpoints }) => toPb(network, endpoints)) })),
    remove: h.unary('Networks.Remove', async (req, ctx) => {
      const n = await sandboxes.removeNetwork(req.name);
      publisher.publish(requireNamespace(ctx), '/networks/delete', pack('ctrd.services.networks.v1.NetworkDelete', NetworkDelete, { id: n.id, name: n.name }));
      return {};
    }),
    prune: h.unary('Networks.Prune', async (req, ctx) => {
      const ns = requireNamespace(ctx);
      const deleted: string[] = [];
      for (const { network: n, endpoints } of matching(req.filters, true)) {
        // Not in use now; removeNetwork checks again, after the set-ups queued before it.
        if (n.isDefault || endpoints.length > 0) continue;
        await sandboxes.removeNetwork(n.id);
        publisher.publish(ns, '/networks/delete', pack('ctrd.services.networks.v1.NetworkDelete', NetworkDelete, { id: n.id, name: n.name }));
        deleted.push(n.name);
      }
      return { deleted };
    }),
    connect: h.unary('Networks.Connect', async (req, ctx) => {
      const ns = requireNamespace(ctx);
      const made = await sandboxes.connect(ns, requireContainer(req.containerId), req.network, req.aliases);
      publisher.publish(ns, '/networks/connect', pack('ctrd.services.networks.v1.NetworkConnect', NetworkConnect, { network: req.network, containerId: req.containerId }));
      return { endpoint: made && toPbEndpoint(made) };
    }),
    disconnect: h.unary('Networks.Disconnect', async (req, ctx) => {
      const ns = requireNamespace(ctx);
      await sandboxes.disconnect(ns, requireContainer(req.containerId), req.network, req.force);
      publisher.publish(ns, '/networks/disconnect', pack('ctrd.services.networks.v1.NetworkDisconnect', NetworkDisconnect, { network: req.network, containerId: req.containerId }));
      return {};
    }),
    endpoints: h.unary('Networks.Endpoints', (req, ctx) => ({ endpoints: sandboxes.endpoints(requireNamespace(ctx), req.containerIds).map(toPbEndpoint) })),
  };
  return { definition: NetworksServiceService, implementation };
}
