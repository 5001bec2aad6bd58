// A ttrpc client (containerd/ttrpc v1.1 client.go): unary calls multiplexed on one unix socket connection,
// matched by odd stream ids. A non-OK status becomes a CtrdError of the matching kind; when the connection
// goes, every pending call fails with 'unavailable'.
import net from 'node:net';
import { Request, Response, type KeyValue } from '../../gen/ttrpc/ttrpc.js';
import { CtrdError } from '../errdefs.js';
import { fromStatusCode } from '../grpc/status.js';
import { encodeMessage, namespaceKey, type Decoder, type Encoder } from './codec.js';
import { encodeFrame, FrameDecoder, MessageType } from './framing.js';

export interface CallOptions {
  /** Sent as the `containerd-namespace-ttrpc` metadata entry; overrides the client's default. */
  namespace?: string;
  metadata?: KeyValue[];
  /** Fails the call with 'deadline-exceeded' and tells the server the deadline (timeout_nano). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ClientOptions {
  /** The namespace for every call that does not name one. */
  namespace?: string;
  /** How long to wait for the connection; default 10 s. */
  connectTimeoutMs?: number;
}

interface Pending {
  resolve(payload: Buffer): void;
  reject(err: Error): void;
}

/** `unix:///run/x.sock` and `/run/x.sock` name the same socket. */
export function socketPath(address: string): string {
  if (address.startsWith('unix://')) return address.slice('unix://'.length);
  if (address.includes('://')) throw new CtrdError('invalid-argument', `ttrpc: unsupported address ${address}`);
  return address;
}

export class TtrpcClient {
  private nextStreamId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly decoder = new FrameDecoder();
  private closedError: Error | undefined;
  private readonly closedPromise: Promise<void>;

  private constructor(
    private readonly socket: net.Socket,
    private readonly options: ClientOptions,
  ) {
    this.closedPromise = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(new CtrdError('unavailable', `ttrpc: connection error: ${err.message}`, { cause: err })));
    socket.on('close', () => this.fail(new CtrdError('unavailable', 'ttrpc: closed')));
  }

  static connect(address: string, options: ClientOptions = {}): Promise<TtrpcClient> {
    const path = socketPath(address);
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ path });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new CtrdError('deadline-exceeded', `ttrpc: timed out connecting to ${path}`));
      }, options.connectTimeoutMs ?? 10_000);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new CtrdError('unavailable', `ttrpc: dial ${path}: ${err.message}`, { cause: err }));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new TtrpcClient(socket, options));
      });
    });
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** Resolves when the connection is gone, whoever closed it. */
  whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  call(service: string, method: string, payload: Buffer | Uint8Array, options: CallOptions = {}): Promise<Buffer> {
    if (this.closedError) return Promise.reject(this.closedError);
    const { signal, timeoutMs } = options;
    if (signal?.aborted) return Promise.reject(new CtrdError('canceled', `ttrpc: ${service}/${method} canceled`));
    if (this.nextStreamId > 0xffff_ffff) {
      return Promise.reject(new CtrdError('resource-exhausted', 'ttrpc: stream ids exhausted on this connection'));
    }
    const streamId = this.nextStreamId;
    this.nextStreamId += 2;

    const metadata = [...(options.metadata ?? [])];
    const namespace = options.namespace ?? this.options.namespace;
    if (namespace !== undefined && !metadata.some((kv) => kv.key === namespaceKey)) {
      metadata.push({ key: namespaceKey, value: namespace });
    }
    let frame: Buffer;
    try {
      const body = encodeMessage(Request, {
        service,
        method,
        payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
        timeoutNano: timeoutMs ? timeoutMs * 1_000_000 : 0,
        metadata,
      });
      frame = encodeFrame({ streamId, type: MessageType.Request, flags: 0, payload: body });
    } catch (err) {
      return Promise.reject(err);
    }

    return new Promise<Buffer>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => settle(new CtrdError('canceled', `ttrpc: ${service}/${method} canceled`));
      const settle = (err: Error | undefined, value?: Buffer) => {
        if (!this.pending.delete(streamId)) return;
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(value!);
      };
      this.pending.set(streamId, { resolve: (value) => settle(undefined, value), reject: (err) => settle(err) });
      if (timeoutMs) {
        timer = setTimeout(
          () => settle(new CtrdError('deadline-exceeded', `ttrpc: ${service}/${method} timed out after ${timeoutMs} ms`)),
          timeoutMs,
        );
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.socket.write(frame);
    });
  }

  /** A call with ts-proto codecs on both ends: `client.unary(svc, 'Connect', ConnectRequest, ConnectResponse, {id})`. */
  async unary<Req, Res>(
    service: string,
    method: string,
    requestCodec: Encoder<Req>,
    responseCodec: Decoder<Res>,
    request: Req,
    options?: CallOptions,
  ): Promise<Res> {
    const response = await this.call(service, method, encodeMessage(requestCodec, request), options);
    return responseCodec.decode(response);
  }

  /** Closes the connection; pending calls fail with 'unavailable'. */
  async close(): Promise<void> {
    this.fail(new CtrdError('unavailable', 'ttrpc: closed'));
    this.socket.destroy();
    await this.closedPromise;
  }

  private onData(chunk: Buffer): void {
    let frames;
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
      this.socket.destroy();
      return;
    }
    for (const frame of frames) {
      // ttrpc 1.1 clients ignore what they do not know: other types, unknown or late stream ids.
      if (frame.type !== MessageType.Response) continue;
      const call = this.pending.get(frame.streamId);
      if (!call) continue;
      let response: Response;
      try {
        response = Response.decode(frame.payload);
      } catch (err) {
        call.reject(new CtrdError('internal', `ttrpc: bad response: ${(err as Error).message}`, { cause: err }));
        continue;
      }
      const status = response.status;
      if (status && status.code !== 0) call.reject(fromStatusCode(status.code, status.message));
      else call.resolve(response.payload);
    }
  }

  private fail(err: Error): void {
    if (!this.closedError) this.closedError = err;
    for (const call of [...this.pending.values()]) call.reject(this.closedError);
  }
}
