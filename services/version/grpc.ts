// containerd.services.version.v1.Version: ctrd's own version, in a form containerd's clients accept.
import { VersionService, type VersionServer } from '../../gen/containerd/services/version/v1/version.js';
import type { HandlerFactory } from '../../lib/grpc/handlers.js';
import { revision, version } from '../../lib/version.js';
import type { GrpcService } from '../grpc-service.js';

export function versionService(h: HandlerFactory): GrpcService {
  const implementation: VersionServer = {
    version: h.unary('Version.Version', () => ({ version, revision })),
  };
  return { definition: VersionService, implementation };
}
