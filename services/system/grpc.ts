// ctrd.services.system.v1.SystemService over the system info reader.
import { SystemServiceService, type SystemServiceServer } from '../../gen/ctrd/services/system/v1/system.js';
import { requireNamespace } from '../../lib/grpc/context.js';
import type { HandlerFactory } from '../../lib/grpc/handlers.js';
import type { GrpcService } from '../grpc-service.js';
import type { SystemInfoReader } from './info.js';

export function systemService(reader: SystemInfoReader, h: HandlerFactory): GrpcService {
  const implementation: SystemServiceServer = {
    info: h.unary('SystemService.Info', async (_req, ctx) => reader.info(requireNamespace(ctx))),
  };
  return { definition: SystemServiceService, implementation };
}
