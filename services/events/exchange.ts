// The one event bus of the daemon. Services publish after their change is committed; shims forward
// envelopes they made; subscribers get every envelope that matches their filters, in order. A subscriber
// that falls too far behind is cut off with an error rather than growing the daemon's memory without bound.
import { compileFilters, recordReader, type Predicate } from '../../lib/filters.js';
import { invalidArgument, CtrdError } from '../../lib/errdefs.js';
import { validateIdentifier } from '../../lib/identifiers.js';
import type { Logger } from '../../lib/log.js';

export interface EventPayload {
  typeUrl: string;
  value: Buffer;
}

export interface Envelope {
  timestamp: Date;
  namespace: string;
  topic: string;
  event: EventPayload;
}

export interface Publisher {
  publish(ns: string, topic: string, event: EventPayload): void;
}

export const envelopeFilterFields = { namespace: 'value', topic: 'value' } as const;

/** containerd's topic rule: starts with "/", each component an identifier. */
export function validateTopic(topic: string): string {
  if (topic === '') throw invalidArgument('event topic must not be empty');
  if (!topic.startsWith('/')) throw invalidArgument(`event topic "${topic}" must start with "/"`);
  for (const part of topic.slice(1).split('/')) {
    try {
      validateIdentifier(part, 'topic component');
    } catch (err) {
      throw invalidArgument(`event topic "${topic}": ${(err as Error).message}`);
    }
  }
  return topic;
}

const maxBacklog = 16384;

class Subscription implements AsyncIterableIterator<Envelope> {
  private readonly queue: Envelope[] = [];
  private waiting: ((r: IteratorResult<Envelope>) => void) | undefined;
  private failWaiting: ((err: unknown) => void) | undefined;
  private error: unknown;
  private done = false;

  constructor(
    readonly match: Predicate<Envelope>,
    private readonly onClose: (s: Subscription) => void,
  ) {}

  /** Replayed envelopes, before anything live (filtered like the rest). */
  prepend(envs: readonly Envelope[]): void {
    if (this.done) return;
    this.queue.unshift(...envs.filter((env) => this.match(env)));
  }

  push(env: Envelope): void {
    if (this.done || !this.match(env)) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = this.failWaiting = undefined;
      w({ value: env, done: false });
      return;
    }
    if (this.queue.length >= maxBacklog) {
      this.fail(new CtrdError('resource-exhausted', `event subscriber fell ${maxBacklog} events behind and was dropped`));
      return;
    }
    this.queue.push(env);
  }

  fail(err: unknown): void {
    this.error = err;
    this.close();
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    this.onClose(this);
    if (this.error !== undefined && this.failWaiting) this.failWaiting(this.error);
    else this.waiting?.({ value: undefined, done: true });
    this.waiting = this.failWaiting = undefined;
  }

  next(): Promise<IteratorResult<Envelope>> {
    const env = this.queue.shift();
    if (env) return Promise.resolve({ value: env, done: false });
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failWaiting = reject;
    });
  }

  return(): Promise<IteratorResult<Envelope>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Envelope> {
    return this;
  }
}

/**
 * Events kept for replay (docker keeps 256 in memory; a burst of container starts makes a few each): at least
 * this many, trimmed a block at a time so that publishing never shifts the whole array.
 */
const historySize = 1024;

export class Exchange implements Publisher {
  private readonly subscribers = new Set<Subscription>();
  /** The latest events, oldest first, for subscribers that ask from a time in the past. */
  private readonly history: Envelope[] = [];

  constructor(private readonly log: Logger) {}

  publish(ns: string, topic: string, event: EventPayload): void {
    this.forward({ timestamp: new Date(), namespace: ns, topic, event });
  }

  /** Publishes a complete envelope as it is (shims and other daemons made it). */
  forward(env: Envelope): void {
    validateTopic(env.topic);
    validateIdentifier(env.namespace, 'namespace');
    if (!env.event.typeUrl) throw invalidArgument(`event on topic "${env.topic}" has no type`);
    this.log.debug({ ns: env.namespace, topic: env.topic, type: env.event.typeUrl }, 'event');
    this.history.push(env);
    if (this.history.length >= 2 * historySize) this.history.splice(0, historySize);
    for (const s of this.subscribers) s.push(env);
  }

  /**
   * The kept events since `since` that match, then the live ones, as one subscription: the live one is taken
   * in the same turn as the replay, so no event is missed or seen twice between them.
   */
  subscribeSince(filters: readonly string[], since: Date, signal?: AbortSignal): AsyncIterableIterator<Envelope> {
    const sub = this.subscribe(filters, signal) as Subscription;
    sub.prepend(this.history.filter((env) => env.timestamp.getTime() >= since.getTime()));
    return sub;
  }

  /** Envelopes from now on that match any of the filters; ends when the signal fires. */
  subscribe(filters: readonly string[], signal?: AbortSignal): AsyncIterableIterator<Envelope> {
    const match = compileFilters(filters, envelopeFilterFields, recordReader<Envelope>());
    const onAbort = () => sub.close();
    const sub = new Subscription(match, (s) => {
      this.subscribers.delete(s);
      signal?.removeEventListener('abort', onAbort);
    });
    if (signal?.aborted) {
      sub.close();
      return sub;
    }
    this.subscribers.add(sub);
    signal?.addEventListener('abort', onAbort, { once: true });
    return sub;
  }

  /** Ends every subscription (the daemon is stopping). */
  closeAll(): void {
    for (const s of [...this.subscribers]) s.close();
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }
}
