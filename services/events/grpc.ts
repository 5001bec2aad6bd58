// containerd.services.events.v1.Events over the exchange.
import { EventsService, type EventsServer, type Envelope as PbEnvelope } from '../../gen/containerd/services/events/v1/events.js';
import { EventsServiceService as CtrdEventsServiceService, type EventsServiceServer as CtrdEventsServer } from '../../gen/ctrd/services/events/v1/events.js';
import type { HandlerFactory } from '../../lib/grpc/handlers.js';
import { requireNamespace } from '../../lib/grpc/context.js';
import { invalidArgument } from '../../lib/errdefs.js';
import type { GrpcService } from '../grpc-service.js';
import type { Envelope, Exchange } from './exchange.js';

export function toPbEnvelope(env: Envelope): PbEnvelope {
  return { timestamp: env.timestamp, namespace: env.namespace, topic: env.topic, event: env.event };
}

export function fromPbEnvelope(env: PbEnvelope | undefined): Envelope {
  if (!env) throw invalidArgument('envelope must be set');
  if (!env.event) throw invalidArgument(`envelope on topic "${env.topic}" has no event`);
  return { timestamp: env.timestamp ?? new Date(), namespace: env.namespace, topic: env.topic, event: env.event };
}

export function eventsService(exchange: Exchange, h: HandlerFactory): GrpcService {
  const implementation: EventsServer = {
    publish: h.unary('Events.Publish', (req, ctx) => {
      if (!req.event) throw invalidArgument(`event on topic "${req.topic}" must be set`);
      exchange.publish(requireNamespace(ctx), req.topic, req.event);
      return {};
    }),
    forward: h.unary('Events.Forward', (req) => {
      exchange.forward(fromPbEnvelope(req.envelope));
      return {};
    }),
    subscribe: h.serverStream('Events.Subscribe', async (req, ctx, send) => {
      for await (const env of exchange.subscribe(req.filters, ctx.signal)) await send(toPbEnvelope(env));
    }),
  };
  return { definition: EventsService, implementation };
}

/** ctrd.services.events.v1.EventsService: Subscribe with a start in the past and an end. */
export function ctrdEventsService(exchange: Exchange, h: HandlerFactory): GrpcService {
  const implementation: CtrdEventsServer = {
    subscribe: h.serverStream('EventsService.Subscribe', async (req, ctx, send) => {
      const until = req.until?.getTime();
      if (until !== undefined && req.since && until < req.since.getTime()) throw invalidArgument('until is before since');
      const stop = new AbortController();
      const onAbort = () => stop.abort();
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      // Live events end the stream once `until` has passed, even when none come.
      const timer = until === undefined ? undefined : setTimeout(onAbort, Math.max(0, until - Date.now()));
      try {
        const events = req.since ? exchange.subscribeSince(req.filters, req.since, stop.signal) : exchange.subscribe(req.filters, stop.signal);
        for await (const env of events) {
          if (until !== undefined && env.timestamp.getTime() > until) break;
          await send({ envelope: toPbEnvelope(env) });
        }
      } finally {
        clearTimeout(timer);
        ctx.signal.removeEventListener('abort', onAbort);
        stop.abort();
      }
    }),
  };
  return { definition: CtrdEventsServiceService, implementation };
}
