// Events back to the daemon as containerd's shims send them (runtime/v2/shim/publisher.go): one ttrpc
// Forward per event on $TTRPC_ADDRESS, in the order they were published (one queue, one call at a time, so
// create -> start -> exit -> delete arrive in that order), retried while the daemon is away, then dropped
// with a log line.
import { setTimeout as sleep } from 'node:timers/promises';
import { ForwardRequest } from '../gen/containerd/services/events/ttrpc/v1/events.js';
import { Empty } from '../gen/google/protobuf/empty.js';
import { TtrpcClient } from '../lib/ttrpc/client.js';
import type { Encoder } from '../lib/ttrpc/codec.js';
import type { ShimLogger } from './log.js';

const service = 'containerd.services.events.ttrpc.v1.Events';
const attempts = 6;

export interface EventSink {
  publish<T>(topic: string, typeName: string, codec: Encoder<T>, event: T): void;
}

export class Publisher implements EventSink {
  private queue: Promise<void> = Promise.resolve();
  private client: TtrpcClient | undefined;
  private closed = false;

  constructor(
    private readonly address: string,
    private readonly namespace: string,
    private readonly log: ShimLogger,
  ) {}

  publish<T>(topic: string, typeName: string, codec: Encoder<T>, event: T): void {
    const request: ForwardRequest = {
      envelope: {
        timestamp: new Date(),
        namespace: this.namespace,
        topic,
        event: { typeUrl: typeName, value: Buffer.from(codec.encode(event).finish()) },
      },
    };
    this.queue = this.queue.then(() => this.send(topic, request));
  }

  /** Waits for the queue to empty (at most timeoutMs), then closes the connection. */
  async close(timeoutMs = 5_000): Promise<void> {
    await Promise.race([this.queue, sleep(timeoutMs)]);
    this.closed = true;
    await this.client?.close();
  }

  private async send(topic: string, request: ForwardRequest): Promise<void> {
    if (this.address === '') {
      this.log.warn({ topic }, 'no TTRPC_ADDRESS: event dropped');
      return;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        if (!this.client || this.client.closed) {
          this.client = await TtrpcClient.connect(this.address, { namespace: this.namespace, connectTimeoutMs: 2_000 });
        }
        await this.client.unary(service, 'Forward', ForwardRequest, Empty, request, { timeoutMs: 5_000 });
        this.log.debug({ topic }, 'event forwarded');
        return;
      } catch (err) {
        if (this.closed || attempt >= attempts) {
          this.log.error({ err, topic }, 'cannot forward the event to the daemon: dropped');
          return;
        }
        this.log.warn({ err, topic, attempt }, 'cannot forward the event; retrying');
        await this.client?.close().catch(() => {});
        this.client = undefined;
        await sleep(250 * attempt);
      }
    }
  }
}
