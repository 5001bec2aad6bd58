// ctrd.services.streams.v1.StreamsService: a thin handler over the streams manager.
import {
  LogStream as PbLogStream,
  StreamsServiceService,
  type AttachRequest,
  type AttachResponse,
  type StreamsServiceServer,
} from '../../gen/ctrd/services/streams/v1/streams.js';
import { invalidArgument } from '../../lib/errdefs.js';
import type { HandlerFactory } from '../../lib/grpc/handlers.js';
import { requireNamespace } from '../../lib/grpc/context.js';
import type { LogStream } from '../../lib/jsonlog.js';
import type { GrpcService } from '../grpc-service.js';
import type { AttachEvent, AttachInput, StreamsManager } from './manager.js';

const toNs = (d: Date | undefined) => (d === undefined ? undefined : BigInt(d.getTime()) * 1_000_000n);

function toPb(e: AttachEvent): AttachResponse {
  switch (e.kind) {
    case 'attached':
      return { attached: {} };
    case 'stdout':
      return { stdout: e.data };
    case 'stderr':
      return { stderr: e.data };
    case 'exited':
      return { exited: { exitStatus: e.status } };
    case 'detached':
      return { detached: {} };
  }
}

async function* inputs(requests: AsyncIterator<AttachRequest>): AsyncGenerator<AttachInput> {
  for (;;) {
    const { value: r, done } = await requests.next();
    if (done) return;
    if (r.start) throw invalidArgument('attach: start may only be the first request');
    if (r.stdin !== undefined) yield { kind: 'stdin', data: Buffer.from(r.stdin) };
    else if (r.resize) yield { kind: 'resize', width: r.resize.width, height: r.resize.height };
    else if (r.closeStdin) yield { kind: 'close-stdin' };
  }
}

export function streamsService(m: StreamsManager, h: HandlerFactory): GrpcService {
  const implementation: StreamsServiceServer = {
    logUri: h.unary('Streams.LogUri', (req, ctx) => ({
      uri: m.logUri(requireNamespace(ctx), { containerId: req.containerId, maxSize: req.maxSize, maxFile: req.maxFile, openStdin: req.openStdin }),
    })),
    attach: h.bidi('Streams.Attach', async (requests, ctx, send) => {
      const ns = requireNamespace(ctx);
      const it = requests[Symbol.asyncIterator]();
      const first = await it.next();
      if (first.done || !first.value.start) throw invalidArgument('attach: the first request must be start');
      const s = first.value.start;
      await m.attach(
        ns,
        { containerId: s.containerId, stdin: s.stdin, stdout: s.stdout, stderr: s.stderr, detachKeys: s.detachKeys, execId: s.execId },
        inputs(it),
        (e) => send(toPb(e)),
        ctx.signal,
      );
    }),
    logs: h.serverStream('Streams.Logs', async (req, ctx, send) => {
      const ns = requireNamespace(ctx);
      if (req.tail < -1) throw invalidArgument(`tail ${req.tail} must be -1 (all) or a number of lines`);
      const streams = new Set<LogStream>(req.stdout || req.stderr ? [...(req.stdout ? ['stdout' as const] : []), ...(req.stderr ? ['stderr' as const] : [])] : ['stdout', 'stderr']);
      const q = { tail: req.tail, sinceNs: toNs(req.since), untilNs: toNs(req.until), streams };
      for await (const e of m.logs(ns, req.containerId, q, req.follow, ctx.signal)) {
        await send({ stream: e.stream === 'stdout' ? PbLogStream.LOG_STREAM_STDOUT : PbLogStream.LOG_STREAM_STDERR, data: e.log, time: e.time });
      }
    }),
  };
  return { definition: StreamsServiceService, implementation };
}
