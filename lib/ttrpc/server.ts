// A ttrpc server (containerd/ttrpc v1.1 server.go): handlers per `service/method`, many connections, many
// calls in flight per connection, each answered on its own stream id. Errors become google.rpc.Status
// through toGrpcStatus, the same edge the gRPC server uses.
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Request, Response, type KeyValue } from '../../gen/ttrpc/ttrpc.js';
import { CtrdError } from '../errdefs.js';
import { toGrpcStatus } from '../grpc/status.js';
import { socketPath } from './client.js';
import { encodeMessage, metadataValue, namespaceKey, type Decoder, type Encoder } from './codec.js';
import { encodeFrame, FrameDecoder, MessageType } from './framing.js';

export interface HandlerContext {
  service: string;
  method: string;
  metadata: KeyValue[];
  /** The `containerd-namespace-ttrpc` entry, if the caller sent one; handlers that need it validate it. */
  namespace: string | undefined;
  /** Aborted when the caller's deadline passes, its connection goes, or the server is closed without grace. */
  signal: AbortSignal;
}

export type Handler = (request: Buffer, ctx: HandlerContext) => Promise<Buffer | Uint8Array>;

export interface ServerOptions {
  /** Called with errors that have no caller to go to (a broken connection, a failed write). */
  onError?: (err: unknown) => void;
}

const unimplemented = 12;
const invalidArgument = 3;

interface Connection {
  socket: net.Socket;
  inFlight: Map<number, AbortController>;
}

export class TtrpcServer {
  private readonly handlers = new Map<string, Handler>();
  private readonly connections = new Set<Connection>();
  private server: net.Server | undefined;
  private closing = false;

  constructor(private readonly options: ServerOptions = {}) {}

  register(service: string, method: string, handler: Handler): this {
    const key = `${service}/${method}`;
    if (this.handlers.has(key)) throw new CtrdError('already-exists', `ttrpc: ${key} already registered`);
    this.handlers.set(key, handler);
    return this;
  }

  /** Registers a handler that takes and returns decoded messages, with ts-proto codecs. */
  registerUnary<Req, Res>(
    service: string,
    method: string,
    requestCodec: Decoder<Req>,
    responseCodec: Encoder<Res>,
    handler: (request: Req, ctx: HandlerContext) => Promise<Res>,
  ): this {
    return this.register(service, method, async (bytes, ctx) => {
      let request: Req;
      try {
        request = requestCodec.decode(bytes);
      } catch (err) {
        throw new CtrdError('invalid-argument', `ttrpc: cannot decode ${service}/${method} request: ${(err as Error).message}`);
      }
      return encodeMessage(responseCodec, await handler(request, ctx));
    });
  }

  /**
   * Listens on a unix socket (path or unix:// address), readable and writable by the owner only. A stale
   * socket file nobody answers on is replaced; a live one is an 'already-exists' error.
   */
  async listen(address: string): Promise<void> {
    if (this.server) throw new CtrdError('failed-precondition', 'ttrpc: server already listening');
    const file = socketPath(address);
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o711 });
    const server = net.createServer((socket) => this.accept(socket));
    try {
      await listenOn(server, file);
    } catch (err) {
      const stale =
        (err as NodeJS.ErrnoException).code === 'EADDRINUSE' &&
        (await fs.lstat(file).then((st) => st.isSocket(), () => false)) &&
        !(await isLive(file));
      if (!stale) {
        throw new CtrdError('already-exists', `ttrpc: listen ${file}: ${(err as Error).message}`, { cause: err });
      }
      await fs.rm(file, { force: true });
      await listenOn(server, file);
    }
    await fs.chmod(file, 0o600);
    this.server = server;
  }

  /** The accept loop for a listener made elsewhere (a socket inherited as a file descriptor, say). */
  serve(server: net.Server): void {
    if (this.server) throw new CtrdError('failed-precondition', 'ttrpc: server already listening');
    server.on('connection', (socket) => this.accept(socket));
    this.server = server;
  }

  /**
   * Stops accepting, lets the calls in flight finish (up to graceMs), then closes every connection; calls
   * still running then see their signal aborted. The socket file goes with the listener.
   */
  async close(graceMs = 10_000): Promise<void> {
    this.closing = true;
    const listener = this.server;
    const listenerClosed = listener
      ? new Promise<void>((resolve) => listener.close(() => resolve()))
      : Promise.resolve();
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && [...this.connections].some((c) => c.inFlight.size > 0)) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // end() flushes responses already written; a connection with calls still running is cut off.
    const gone = [...this.connections].map((conn) => {
      const closed = new Promise((resolve) => conn.socket.once('close', resolve));
      if (conn.inFlight.size > 0) this.drop(conn);
      else {
        conn.socket.end();
        setTimeout(() => this.drop(conn), 1_000).unref();
      }
      return closed;
    });
    await Promise.all([listenerClosed, ...gone]);
  }

  private accept(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const conn: Connection = { socket, inFlight: new Map() };
    this.connections.add(conn);
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        // An oversized or garbled frame leaves no way to find the next header: drop the connection.
        this.options.onError?.(err);
        this.drop(conn);
        return;
      }
      for (const frame of frames) {
        // Other types are ignored for forward compatibility, as ttrpc 1.1 does.
        if (frame.type !== MessageType.Request) continue;
        void this.dispatch(conn, frame.streamId, frame.payload);
      }
    });
    socket.on('error', (err) => this.options.onError?.(err));
    socket.on('close', () => {
      this.connections.delete(conn);
      for (const controller of conn.inFlight.values()) controller.abort(new CtrdError('canceled', 'ttrpc: connection closed'));
      conn.inFlight.clear();
    });
  }

  private drop(conn: Connection): void {
    conn.socket.destroy();
  }

  private async dispatch(conn: Connection, streamId: number, payload: Buffer): Promise<void> {
    if (streamId % 2 !== 1) {
      this.respond(conn, streamId, { code: invalidArgument, message: 'StreamID must be odd for client initiated streams' });
      return;
    }
    let request: Request;
    try {
      request = Request.decode(payload);
    } catch (err) {
      this.respond(conn, streamId, { code: invalidArgument, message: `ttrpc: bad request: ${(err as Error).message}` });
      return;
    }
    const handler = this.handlers.get(`${request.service}/${request.method}`);
    if (!handler) {
      const known = [...this.handlers.keys()].some((key) => key.startsWith(`${request.service}/`));
      const message = known ? `method ${request.method}` : `service ${request.service}`;
      this.respond(conn, streamId, { code: unimplemented, message });
      return;
    }
    const controller = new AbortController();
    conn.inFlight.set(streamId, controller);
    let timer: NodeJS.Timeout | undefined;
    if (request.timeoutNano > 0) {
      const ms = Math.max(1, Math.ceil(request.timeoutNano / 1_000_000));
      timer = setTimeout(() => controller.abort(new CtrdError('deadline-exceeded', 'ttrpc: deadline exceeded')), ms);
    }
    const ctx: HandlerContext = {
      service: request.service,
      method: request.method,
      metadata: request.metadata,
      namespace: metadataValue(request.metadata, namespaceKey),
      signal: controller.signal,
    };
    try {
      const result = await handler(request.payload, ctx);
      this.respond(conn, streamId, undefined, Buffer.from(result.buffer, result.byteOffset, result.byteLength));
    } catch (err) {
      const status = toGrpcStatus(err);
      this.respond(conn, streamId, { code: status.code, message: status.details });
    } finally {
      if (timer) clearTimeout(timer);
      conn.inFlight.delete(streamId);
    }
  }

  private respond(conn: Connection, streamId: number, status: { code: number; message: string } | undefined, payload?: Buffer): void {
    if (conn.socket.destroyed) return;
    let frame: Buffer;
    try {
      const body = encodeMessage(Response, {
        status: status ? { ...status, details: [] } : { code: 0, message: '', details: [] },
        payload: payload ?? Buffer.alloc(0),
      });
      frame = encodeFrame({ streamId, type: MessageType.Response, flags: 0, payload: body });
    } catch (err) {
      // Most likely a response over 4 MiB: the caller gets the error instead of the payload.
      const s = toGrpcStatus(err);
      const body = encodeMessage(Response, { status: { code: s.code, message: s.details, details: [] }, payload: Buffer.alloc(0) });
      frame = encodeFrame({ streamId, type: MessageType.Response, flags: 0, payload: body });
    }
    conn.socket.write(frame);
  }
}

function listenOn(server: net.Server, file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(file, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function isLive(file: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createConnection({ path: file });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}
