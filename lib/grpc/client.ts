// The client edge: connects to a ctrd (or containerd) socket with the namespace in every call's metadata,
// and turns callback-style unary calls into promises whose errors are CtrdErrors again.
import {
  credentials,
  InterceptingCall,
  type ClientOptions,
  type Interceptor,
  type ChannelCredentials,
  type ServiceError,
  type ClientUnaryCall,
  type Client,
} from '@grpc/grpc-js';
import { ContainersClient } from '../../gen/containerd/services/containers/v1/containers.js';
import { ContentClient } from '../../gen/containerd/services/content/v1/content.js';
import { EventsClient } from '../../gen/containerd/services/events/v1/events.js';
import { ImagesClient } from '../../gen/containerd/services/images/v1/images.js';
import { IntrospectionClient } from '../../gen/containerd/services/introspection/v1/introspection.js';
import { LeasesClient } from '../../gen/containerd/services/leases/v1/leases.js';
import { NamespacesClient } from '../../gen/containerd/services/namespaces/v1/namespace.js';
import { SnapshotsClient } from '../../gen/containerd/services/snapshots/v1/snapshots.js';
import { StreamsServiceClient } from '../../gen/ctrd/services/streams/v1/streams.js';
import { TasksClient } from '../../gen/containerd/services/tasks/v1/tasks.js';
import { VersionClient } from '../../gen/containerd/services/version/v1/version.js';
import { ImageServiceClient } from '../../gen/ctrd/services/images/v1/images.js';
import { SystemServiceClient } from '../../gen/ctrd/services/system/v1/system.js';
import { EventsServiceClient as CtrdEventsServiceClient } from '../../gen/ctrd/services/events/v1/events.js';
import { ArchiveServiceClient } from '../../gen/ctrd/services/archive/v1/archive.js';
import { leaseHeader, namespaceHeader } from './context.js';
import { fromGrpcStatus } from './status.js';

export const defaultAddress = '/run/ctrd/ctrd.sock';
export const defaultNamespace = 'default';

const maxMessageSize = 16 * 1024 * 1024;

export interface ClientTarget {
  address: string;
  namespace: string;
  lease?: string;
}

function metadataInterceptor(target: ClientTarget): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set(namespaceHeader, target.namespace);
        if (target.lease) metadata.set(leaseHeader, target.lease);
        next(metadata, listener);
      },
    });
}

type ClientConstructor<C> = new (address: string, creds: ChannelCredentials, options?: Partial<ClientOptions>) => C;

/** One client of each service ctrd serves, sharing one connection. */
export class Clients {
  readonly version: VersionClient;
  readonly introspection: IntrospectionClient;
  readonly namespaces: NamespacesClient;
  readonly content: ContentClient;
  readonly leases: LeasesClient;
  readonly events: EventsClient;
  readonly images: ImagesClient;
  /** ctrd's own image service (pull, docker-style list, rmi, prune), beside containerd's image records. */
  readonly ctrdImages: ImageServiceClient;
  /** ctrd's container stdio service (logs, attach). */
  readonly ctrdStreams: StreamsServiceClient;
  readonly ctrdSystem: SystemServiceClient;
  readonly ctrdEvents: CtrdEventsServiceClient;
  /** ctrd's image archives (save, load). */
  readonly archive: ArchiveServiceClient;
  readonly snapshots: SnapshotsClient;
  readonly containers: ContainersClient;
  readonly tasks: TasksClient;
  private readonly all: Client[] = [];

  constructor(readonly target: ClientTarget) {
    const address = `unix://${target.address}`;
    const options: Partial<ClientOptions> = {
      interceptors: [metadataInterceptor(target)],
      'grpc.max_receive_message_length': maxMessageSize,
      'grpc.max_send_message_length': maxMessageSize,
    };
    const creds = credentials.createInsecure();
    let channelOverride: Partial<ClientOptions> = options;
    const make = <C extends Client>(ctor: ClientConstructor<C>): C => {
      const c = new ctor(address, creds, channelOverride);
      // Later clients reuse the first one's channel: one connection for all services.
      if (this.all.length === 0) channelOverride = { ...options, channelOverride: c.getChannel() };
      this.all.push(c);
      return c;
    };
    this.version = make(VersionClient);
    this.introspection = make(IntrospectionClient);
    this.namespaces = make(NamespacesClient);
    this.content = make(ContentClient);
    this.leases = make(LeasesClient);
    this.events = make(EventsClient);
    this.images = make(ImagesClient);
    this.ctrdImages = make(ImageServiceClient);
    this.ctrdStreams = make(StreamsServiceClient);
    this.ctrdSystem = make(SystemServiceClient);
    this.ctrdEvents = make(CtrdEventsServiceClient);
    this.archive = make(ArchiveServiceClient);
    this.snapshots = make(SnapshotsClient);
    this.containers = make(ContainersClient);
    this.tasks = make(TasksClient);
  }

  close(): void {
    for (const c of this.all) c.close();
  }
}

/**
 * The request and response types of a generated unary method. Generated methods have three overloads
 * (callback; metadata, callback; metadata, options, callback); the pattern matches all three so that
 * TypeScript infers from the first rather than only the last.
 */
type UnaryTypes<M> = M extends {
  (req: infer Req, callback: (err: ServiceError | null, res: infer Res) => void): ClientUnaryCall;
  (req: never, metadata: never, callback: never): ClientUnaryCall;
  (req: never, metadata: never, options: never, callback: never): ClientUnaryCall;
}
  ? { req: Req; res: Res }
  : never;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyUnary = (req: never, callback: (err: ServiceError | null, res: any) => void) => ClientUnaryCall;

/** Calls a unary method of a generated client and awaits its answer; errors come back as CtrdErrors. */
export function unary<M extends AnyUnary>(client: Client, method: M, req: UnaryTypes<M>['req']): Promise<UnaryTypes<M>['res']> {
  return new Promise((resolve, reject) => {
    const fn = method as unknown as (r: unknown, cb: (err: ServiceError | null, res: unknown) => void) => ClientUnaryCall;
    fn.call(client, req, (err, res) => (err ? reject(fromGrpcStatus(err)) : resolve(res as UnaryTypes<M>['res'])));
  });
}
