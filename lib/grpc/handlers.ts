// One adapter for every gRPC handler. grpc-js only turns synchronous throws into statuses; these wrappers
// take async functions, build the CallContext, map any error through toGrpcStatus, and log one debug line
// per request with method, namespace, duration and status.
import {
  status as Status,
  type handleBidiStreamingCall,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type Metadata,
  type ServerDuplexStream,
  type ServerWritableStream,
} from '@grpc/grpc-js';
import { once } from 'node:events';
import type { Logger } from '../log.js';
import { canceled, notImplemented } from '../errdefs.js';
import { leaseHeader, metadataValue, readNamespace, type CallContext } from './context.js';
import { toGrpcStatus } from './status.js';

export type Send<Res> = (res: Res) => Promise<void>;

export class HandlerFactory {
  constructor(private readonly log: Logger) {}

  private begin(method: string, metadata: Metadata, onCancel: (fn: () => void) => void) {
    const started = process.hrtime.bigint();
    const abort = new AbortController();
    let finished = false;
    // grpc-js reports 'cancelled' for calls that already ended too: no error (and its stack) for those.
    onCancel(() => {
      if (!finished) abort.abort(canceled(`${method}: canceled by the client`));
    });
    let ns: string | undefined;
    let nsError: unknown;
    try {
      ns = readNamespace(metadata);
    } catch (err) {
      nsError = err;
    }
    const bindings: Record<string, string> = { method };
    if (ns !== undefined) bindings.ns = ns;
    const log = this.log.child(bindings);
    const ctx: CallContext = { method, ns, lease: metadataValue(metadata, leaseHeader), log, signal: abort.signal };
    const finish = (code: Status, details?: string) => {
      finished = true;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const line = { code: Status[code], ms: Math.round(ms * 1000) / 1000 };
      if (code === Status.OK || code === Status.CANCELLED) log.debug(line, 'request');
      else if (code === Status.UNKNOWN || code === Status.INTERNAL) log.warn({ ...line, err: details }, 'request failed');
      else log.debug({ ...line, err: details }, 'request');
    };
    return { ctx, nsError, finish };
  }

  unary<Req, Res>(method: string, fn: (req: Req, ctx: CallContext) => Promise<Res> | Res): handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const { ctx, nsError, finish } = this.begin(method, call.metadata, (f) => call.on('cancelled', f));
      void (async () => {
        if (nsError) throw nsError;
        return fn(call.request, ctx);
      })().then(
        (res) => {
          finish(Status.OK);
          callback(null, res);
        },
        (err: unknown) => {
          const st = toGrpcStatus(err);
          finish(st.code, st.details);
          callback(st);
        },
      );
    };
  }

  serverStream<Req, Res>(
    method: string,
    fn: (req: Req, ctx: CallContext, send: Send<Res>) => Promise<void>,
  ): handleServerStreamingCall<Req, Res> {
    return (call: ServerWritableStream<Req, Res>) => {
      const { ctx, nsError, finish } = this.begin(method, call.metadata, (f) => call.on('cancelled', f));
      const send = sender<Res>(call, ctx.signal);
      void (async () => {
        if (nsError) throw nsError;
        await fn(call.request, ctx, send);
      })().then(
        () => {
          finish(Status.OK);
          call.end();
        },
        (err: unknown) => fail(call, err, finish),
      );
    };
  }

  bidi<Req, Res>(
    method: string,
    fn: (requests: AsyncIterable<Req>, ctx: CallContext, send: Send<Res>) => Promise<void>,
  ): handleBidiStreamingCall<Req, Res> {
    return (call: ServerDuplexStream<Req, Res>) => {
      const { ctx, nsError, finish } = this.begin(method, call.metadata, (f) => call.on('cancelled', f));
      const send = sender<Res>(call, ctx.signal);
      void (async () => {
        if (nsError) throw nsError;
        await fn(requestsOf<Req>(call), ctx, send);
      })().then(
        () => {
          finish(Status.OK);
          call.end();
        },
        (err: unknown) => fail(call, err, finish),
      );
    };
  }

  /** A handler for an RPC ctrd does not serve yet: an honest Unimplemented, never a fake success. */
  unimplemented(method: string): handleUnaryCall<unknown, unknown> {
    return this.unary(method, () => {
      throw notImplemented(`${method} is not implemented by ctrd yet`);
    });
  }
}

/**
 * The requests of a bidi call. Neither the end of the requests nor a handler that stops early (it throws,
 * or COMMIT ends a write) may destroy the call, as a stream's default iterator does: the status and any
 * last response still have to go out. Nor may the status itself: a stream's iterator that is waiting for the
 * next request when fail() emits the status as 'error' destroys the call before the status is sent (a
 * handler that fails while the client is still sending, as a load refusing an archive's first entry does).
 */
function requestsOf<Req>(call: ServerDuplexStream<Req, unknown>): AsyncIterable<Req> {
  return {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const req = call.read() as Req | null;
        if (req !== null) {
          yield req;
          continue;
        }
        if (call.readableEnded || call.destroyed) return;
        await new Promise<void>((resolve) => {
          const done = () => {
            call.off('readable', done);
            call.off('end', done);
            call.off('close', done);
            resolve();
          };
          call.on('readable', done);
          call.on('end', done);
          call.on('close', done);
        });
      }
    },
  };
}

function fail(
  call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
  err: unknown,
  finish: (code: Status, details?: string) => void,
): void {
  const st = toGrpcStatus(err);
  finish(st.code, st.details);
  if (call.cancelled || call.destroyed) return;
  call.emit('error', st);
}

/** Writes one message and waits while the client's window is full, so a slow reader slows the server. */
function sender<Res>(call: ServerWritableStream<unknown, Res> | ServerDuplexStream<unknown, Res>, signal: AbortSignal): Send<Res> {
  return async (res) => {
    signal.throwIfAborted();
    if (!call.write(res)) await once(call, 'drain', { signal });
  };
}
