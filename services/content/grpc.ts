// containerd.services.content.v1.Content over ContentStore. Write is containerd's lock-step stream: exactly
// one response per request; the first request names the ref; COMMIT ends the stream.
import {
  ContentService,
  WriteAction,
  type ContentServer,
  type WriteContentRequest,
  type WriteContentResponse,
} from '../../gen/containerd/services/content/v1/content.js';
import { ContentDelete } from '../../gen/containerd/events/content.js';
import type { HandlerFactory } from '../../lib/grpc/handlers.js';
import { requireNamespace } from '../../lib/grpc/context.js';
import { invalidArgument } from '../../lib/errdefs.js';
import type { Publisher } from '../events/exchange.js';
import { pack } from '../events/payload.js';
import type { GrpcService } from '../grpc-service.js';
import type { GarbageCollector } from '../metadata/gc.js';
import type { ContentStore, NamespacedWriter } from './store.js';
import type { ContentInfo } from './types.js';

/** Infos per List message: containerd batches its stream the same way. */
const listBatch = 100;

export function contentService(store: ContentStore, events: Publisher, gc: GarbageCollector, h: HandlerFactory): GrpcService {
  const implementation: ContentServer = {
    info: h.unary('Content.Info', (req, ctx) => ({ info: store.info(requireNamespace(ctx), req.digest) })),

    update: h.unary('Content.Update', (req, ctx) => {
      if (!req.info) throw invalidArgument('content info must be set');
      return { info: store.update(requireNamespace(ctx), req.info.digest, req.info.labels, req.updateMask ?? []) };
    }),

    list: h.serverStream('Content.List', async (req, ctx, send) => {
      const infos: ContentInfo[] = store.list(requireNamespace(ctx), req.filters);
      for (let i = 0; i < infos.length; i += listBatch) await send({ info: infos.slice(i, i + listBatch) });
    }),

    delete: h.unary('Content.Delete', (req, ctx) => {
      const ns = requireNamespace(ctx);
      store.delete(ns, req.digest);
      events.publish(ns, '/content/delete', pack('containerd.events.ContentDelete', ContentDelete, { digest: req.digest }));
      gc.dirty();
      return {};
    }),

    read: h.serverStream('Content.Read', async (req, ctx, send) => {
      const stream = store.read(requireNamespace(ctx), req.digest, req.offset, req.size);
      let offset = req.offset;
      try {
        for await (const chunk of stream) {
          const data = chunk as Buffer;
          await send({ offset, data });
          offset += data.length;
        }
      } finally {
        stream.destroy();
      }
    }),

    status: h.unary('Content.Status', (req, ctx) => ({ status: store.status(requireNamespace(ctx), req.ref) })),

    listStatuses: h.unary('Content.ListStatuses', (req, ctx) => ({
      statuses: store.listStatuses(requireNamespace(ctx), req.filters),
    })),

    abort: h.unary('Content.Abort', async (req, ctx) => {
      await store.abort(requireNamespace(ctx), req.ref);
      return {};
    }),

    write: h.bidi<WriteContentRequest, WriteContentResponse>('Content.Write', async (requests, ctx, send) => {
      const ns = requireNamespace(ctx);
      let writer: NamespacedWriter | undefined;
      try {
        for await (const req of requests) {
          if (!writer) {
            writer = await store.writer(ns, req.ref, { total: req.total, expected: req.expected, lease: ctx.lease });
            ctx.log.debug({ ref: req.ref, total: req.total, expected: req.expected }, 'write opened');
          } else {
            writer.setExpectations({ total: req.total, expected: req.expected });
          }
          switch (req.action) {
            case WriteAction.STAT:
              await send(response(WriteAction.STAT, writer));
              break;
            case WriteAction.WRITE:
              await writer.write(req.offset, req.data);
              await send(response(WriteAction.WRITE, writer));
              break;
            case WriteAction.COMMIT: {
              if (req.data.length > 0) await writer.write(req.offset, req.data);
              const info = await writer.commit(req.total, req.expected, req.labels);
              ctx.log.debug({ ref: writer.ref, digest: info.digest, size: info.size }, 'write committed');
              await send({ ...response(WriteAction.COMMIT, writer), offset: info.size, digest: info.digest });
              return;
            }
            default:
              throw invalidArgument(`write of "${writer.ref}": unknown action ${req.action as number}`);
          }
        }
      } finally {
        await writer?.close();
      }
    }),
  };
  return { definition: ContentService, implementation };
}

function response(action: WriteAction, writer: NamespacedWriter): WriteContentResponse {
  const st = writer.status();
  return {
    action,
    startedAt: st.startedAt,
    updatedAt: st.updatedAt,
    offset: st.offset,
    total: st.total,
    digest: st.digest,
  };
}
