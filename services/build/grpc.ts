// ctrd.services.build.v1.BuildService: docker build for any gRPC client, a thin handler over Builder.
import { BuildServiceService, type BuildOptions as PbBuildOptions, type BuildResponse, type BuildServiceServer } from '../../gen/ctrd/services/build/v1/build.js';
import type { HandlerFactory } from '../../lib/grpc/handlers.js';
import { requireNamespace } from '../../lib/grpc/context.js';
import { headerThenData } from '../../lib/grpc/header-then-data.js';
import type { GrpcService } from '../grpc-service.js';
import type { BuildEvent, Builder } from './builder.js';

function toResponse(e: BuildEvent): BuildResponse {
  switch (e.kind) {
    case 'step':
      return { step: { number: e.number, total: e.total, instruction: e.instruction, line: e.line } };
    case 'container':
      return { container: { id: e.id, removed: e.removed } };
    case 'output':
      return { output: { data: e.data, fd: e.fd } };
    case 'done':
      return { done: { cached: e.cached, id: e.id } };
    case 'message':
      return { message: e.text };
    case 'warning':
      return { warning: e.text };
  }
}

export function buildService(builder: Builder, h: HandlerFactory): GrpcService {
  const implementation: BuildServiceServer = {
    build: h.bidi('BuildService.Build', async (requests, ctx, send) => {
      const ns = requireNamespace(ctx);
      const { header, data } = await headerThenData<{ options?: PbBuildOptions; data?: Buffer }, PbBuildOptions>(requests, (r) => r.options, 'Build');
      // Events go out in order, each after the one before; what was emitted is sent before the call ends, an
      // error too.
      let sending: Promise<void> = Promise.resolve();
      const emit = (e: BuildEvent) => {
        sending = sending.then(() => send(toResponse(e)));
        sending.catch(() => undefined);
      };
      const result = await builder.build(
        ns,
        {
          tags: header.tags,
          dockerfilePath: header.dockerfilePath,
          dockerfile: header.dockerfile,
          buildArgs: header.buildArgs,
          target: header.target,
          noCache: header.noCache,
          pull: header.pull,
          labels: header.labels,
          network: header.network,
          snapshotter: header.snapshotter,
          signal: ctx.signal,
        },
        data,
        emit,
      ).finally(() => sending.catch(() => undefined));
      await sending;
      await send({ result: { id: result.id, tags: result.tags, target: result.target } });
    }),
    prune: h.unary('BuildService.Prune', async (req, ctx) => {
      const r = await builder.prune(requireNamespace(ctx), Number(req.keepSeconds));
      return { deleted: r.deleted, reclaimed: r.reclaimed };
    }),
  };
  return { definition: BuildServiceService, implementation };
}
