// What a service hands the gRPC server: its generated definition and the handlers that implement it.
import type { ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';

export interface GrpcService {
  readonly definition: ServiceDefinition;
  readonly implementation: UntypedServiceImplementation;
}
