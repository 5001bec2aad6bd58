// containerd.services.introspection.v1.Introspection: the daemon's plugins and its stable UUID.
import { IntrospectionService, type IntrospectionServer, type Plugin } from '../../gen/containerd/services/introspection/v1/introspection.js';
import type { HandlerFactory } from '../../lib/grpc/handlers.js';
import { compileFilters, recordReader } from '../../lib/filters.js';
import type { GrpcService } from '../grpc-service.js';
import type { PluginInfo } from '../builtins.js';

const filterFields = { type: 'value', id: 'value', capabilities: 'value' } as const;

export function introspectionService(plugins: () => readonly PluginInfo[], uuid: string, h: HandlerFactory): GrpcService {
  const implementation: IntrospectionServer = {
    plugins: h.unary('Introspection.Plugins', (req) => {
      const match = compileFilters(req.filters, filterFields, recordReader<PluginInfo>());
      const list: Plugin[] = plugins()
        .filter(match)
        .map((p) => ({
          type: p.type,
          id: p.id,
          requires: [...(p.requires ?? [])],
          platforms: [],
          exports: { ...(p.exports ?? {}) },
          capabilities: [...(p.capabilities ?? [])],
          initErr: undefined,
        }));
      return { plugins: list };
    }),
    server: h.unary('Introspection.Server', () => ({ uuid })),
  };
  return { definition: IntrospectionService, implementation };
}
