// The events ttrpc service shims call back on (`$TTRPC_ADDRESS`, containerd's `<grpc address>.ttrpc`):
// Forward hands each envelope the shim made to the exchange as it is.
import { Empty } from '../../gen/google/protobuf/empty.js';
import { ForwardRequest } from '../../gen/containerd/services/events/ttrpc/v1/events.js';
import { invalidArgument } from '../../lib/errdefs.js';
import type { Logger } from '../../lib/log.js';
import { TtrpcServer } from '../../lib/ttrpc/server.js';
import type { Exchange } from './exchange.js';

export function eventsTtrpcServer(exchange: Exchange, log: Logger): TtrpcServer {
  const server = new TtrpcServer({ onError: (err) => log.debug({ err }, 'events ttrpc') });
  server.registerUnary('containerd.services.events.ttrpc.v1.Events', 'Forward', ForwardRequest, Empty, async (req) => {
    const env = req.envelope;
    if (!env?.event) throw invalidArgument('forward: envelope with an event must be set');
    exchange.forward({
      timestamp: env.timestamp ?? new Date(),
      namespace: env.namespace,
      topic: env.topic,
      event: { typeUrl: env.event.typeUrl, value: Buffer.from(env.event.value) },
    });
    return {};
  });
  return server;
}
