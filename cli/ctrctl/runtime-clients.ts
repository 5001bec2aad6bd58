// The containerd clients the container verbs need beyond lib/grpc's Clients (Containers, Tasks, Snapshots),
// on the same connection, with the namespace (and, for the calls that make things, a lease) in the metadata.
import { credentials, InterceptingCall, type ChannelCredentials, type Client, type ClientOptions, type Interceptor } from '@grpc/grpc-js';
import { ContainersClient } from '../../gen/containerd/services/containers/v1/containers.js';
import { SnapshotsClient } from '../../gen/containerd/services/snapshots/v1/snapshots.js';
import { TasksClient } from '../../gen/containerd/services/tasks/v1/tasks.js';
import { StreamsServiceClient } from '../../gen/ctrd/services/streams/v1/streams.js';
import { VolumesServiceClient } from '../../gen/ctrd/services/volumes/v1/volumes.js';
import { NetworksServiceClient } from '../../gen/ctrd/services/networks/v1/networks.js';
import { BuildServiceClient } from '../../gen/ctrd/services/build/v1/build.js';
import type { Clients } from '../../lib/grpc/client.js';
import { leaseHeader, namespaceHeader } from '../../lib/grpc/context.js';

export interface RuntimeClients {
  containers: ContainersClient;
  tasks: TasksClient;
  snapshots: SnapshotsClient;
  /** ctrd's Streams (log URI, attach, logs). */
  streams: StreamsServiceClient;
  /** ctrd's VolumesService. */
  volumes: VolumesServiceClient;
  /** ctrd's NetworksService. */
  networks: NetworksServiceClient;
  /** ctrd's BuildService. */
  build: BuildServiceClient;
}

type ClientConstructor<C> = new (address: string, creds: ChannelCredentials, options?: Partial<ClientOptions>) => C;

function interceptor(namespace: string, lease: string | undefined): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set(namespaceHeader, namespace);
        if (lease) metadata.set(leaseHeader, lease);
        next(metadata, listener);
      },
    });
}

/** Clients on the channel of `c`; with a lease, everything they make is held by it until it goes. */
export function runtimeClients(c: Clients, lease?: string): RuntimeClients {
  const options: Partial<ClientOptions> = {
    interceptors: [interceptor(c.target.namespace, lease)],
    channelOverride: c.version.getChannel(),
  };
  const address = `unix://${c.target.address}`;
  const creds = credentials.createInsecure();
  // The channel is c's: c.close() closes it for these too.
  const make = <C extends Client>(ctor: ClientConstructor<C>): C => new ctor(address, creds, options);
  return {
    containers: make(ContainersClient),
    tasks: make(TasksClient),
    snapshots: make(SnapshotsClient),
    streams: make(StreamsServiceClient),
    volumes: make(VolumesServiceClient),
    networks: make(NetworksServiceClient),
    build: make(BuildServiceClient),
  };
}
