// The server driven by the client over a real unix socket.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConnectRequest, ConnectResponse } from '../../gen/containerd/task/v2/shim.js';
import { CtrdError, notFound } from '../errdefs.js';
import { TtrpcClient } from './client.js';
import { headerLength, maxPayloadLength } from './framing.js';
import { TtrpcServer, type HandlerContext } from './server.js';

const svc = 'test.v1.Echo';

async function rejection(promise: Promise<unknown>): Promise<CtrdError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(CtrdError);
  return err as CtrdError;
}

describe('ttrpc server and client', () => {
  let dir: string;
  let sock: string;
  let server: TtrpcServer;
  let client: TtrpcClient;
  let lastCtx: HandlerContext | undefined;
  let release: (() => void) | undefined;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrd-ttrpc-srv-'));
    sock = path.join(dir, 'sub', 'ttrpc.sock');
    lastCtx = undefined;
    release = undefined;
    server = new TtrpcServer();
    server.register(svc, 'Echo', async (req, ctx) => {
      lastCtx = ctx;
      return req;
    });
    server.register(svc, 'Delay', async (req) => {
      await new Promise((resolve) => setTimeout(resolve, req.readUInt16BE(0)));
      return req;
    });
    server.register(svc, 'NotFound', async () => {
      throw notFound('thing "x" not found');
    });
    server.register(svc, 'Crash', async () => {
      throw new Error('boom');
    });
    server.register(svc, 'Huge', async () => Buffer.alloc(maxPayloadLength + 1));
    server.register(svc, 'Hang', (_req, ctx) => {
      lastCtx = ctx;
      return new Promise((resolve, reject) => {
        release = () => resolve(Buffer.from('released'));
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
      });
    });
    server.registerUnary(svc, 'Connect', ConnectRequest, ConnectResponse, async (req, ctx) => ({
      shimPid: process.pid,
      taskPid: req.id.length,
      version: ctx.namespace ?? '',
    }));
    await server.listen(`unix://${sock}`);
    client = await TtrpcClient.connect(sock, { namespace: 'ns1' });
  });

  afterEach(async () => {
    await client.close();
    await server.close(100);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('listens with mode 0600 and round-trips bytes with metadata and namespace', async () => {
    expect(fs.statSync(sock).mode & 0o777).toBe(0o600);
    const out = await client.call(svc, 'Echo', Buffer.from('ping'), {
      metadata: [{ key: 'k', value: 'v' }],
      namespace: 'other',
      timeoutMs: 5_000,
    });
    expect(out.toString()).toBe('ping');
    expect(lastCtx?.namespace).toBe('other');
    expect(lastCtx?.metadata).toEqual([
      { key: 'k', value: 'v' },
      { key: 'containerd-namespace-ttrpc', value: 'other' },
    ]);
    expect(lastCtx?.service).toBe(svc);
    expect(lastCtx?.method).toBe('Echo');
    expect((await client.call(svc, 'Echo', Buffer.alloc(0))).length).toBe(0);
  });

  it('round-trips typed messages with ts-proto codecs', async () => {
    const res = await client.unary(svc, 'Connect', ConnectRequest, ConnectResponse, { id: 'abcd' });
    expect(res).toEqual({ shimPid: process.pid, taskPid: 4, version: 'ns1' });
  });

  it('matches many concurrent calls by stream id, whatever order they finish in', async () => {
    const delays = Array.from({ length: 50 }, (_, i) => (50 - i) % 17);
    const results = await Promise.all(
      delays.map((ms) => {
        const req = Buffer.alloc(2);
        req.writeUInt16BE(ms, 0);
        return client.call(svc, 'Delay', req);
      }),
    );
    expect(results.map((r) => r.readUInt16BE(0))).toEqual(delays);
  });

  it('answers an unknown service or method with Unimplemented naming it', async () => {
    const method = await rejection(client.call(svc, 'Nope', Buffer.alloc(0)));
    expect(method.kind).toBe('not-implemented');
    expect(method.message).toBe('method Nope');
    const service = await rejection(client.call('no.such.Service', 'Echo', Buffer.alloc(0)));
    expect(service.kind).toBe('not-implemented');
    expect(service.message).toBe('service no.such.Service');
  });

  it('maps handler errors to status codes and back to kinds', async () => {
    const nf = await rejection(client.call(svc, 'NotFound', Buffer.alloc(0)));
    expect([nf.kind, nf.message]).toEqual(['not-found', 'thing "x" not found']);
    const crash = await rejection(client.call(svc, 'Crash', Buffer.alloc(0)));
    expect([crash.kind, crash.message]).toEqual(['unknown', 'boom']);
    const huge = await rejection(client.call(svc, 'Huge', Buffer.alloc(0)));
    expect(huge.kind).toBe('resource-exhausted');
    // The connection survives all of these.
    expect((await client.call(svc, 'Echo', Buffer.from('still'))).toString()).toBe('still');
  });

  it('refuses to send an oversized request', async () => {
    const err = await rejection(client.call(svc, 'Echo', Buffer.alloc(maxPayloadLength)));
    expect(err.kind).toBe('resource-exhausted');
  });

  it('drops a connection that announces an oversized frame', async () => {
    const raw = net.createConnection({ path: sock });
    await new Promise((resolve) => raw.once('connect', resolve));
    const closed = new Promise((resolve) => raw.once('close', resolve));
    const header = Buffer.alloc(headerLength);
    header.writeUInt32BE(maxPayloadLength + 1, 0);
    header.writeUInt32BE(1, 4);
    header.writeUInt8(1, 8);
    raw.write(header);
    await closed;
    // Other connections are unaffected.
    expect((await client.call(svc, 'Echo', Buffer.from('ok'))).toString()).toBe('ok');
  });

  it('rejects pending calls when the client closes, and aborts the handler', async () => {
    const pending = rejection(client.call(svc, 'Hang', Buffer.alloc(0)));
    await vi_waitFor(() => lastCtx?.method === 'Hang');
    await client.close();
    const err = await pending;
    expect(err.kind).toBe('unavailable');
    await vi_waitFor(() => lastCtx!.signal.aborted);
    expect(await rejection(client.call(svc, 'Echo', Buffer.alloc(0)))).toMatchObject({ kind: 'unavailable' });
  });

  it('times a call out on the client and aborts it on the server', async () => {
    const err = await rejection(client.call(svc, 'Hang', Buffer.alloc(0), { timeoutMs: 50 }));
    expect(err.kind).toBe('deadline-exceeded');
    await vi_waitFor(() => lastCtx?.signal.aborted === true);
    expect((lastCtx!.signal.reason as CtrdError).kind).toBe('deadline-exceeded');
  });

  it('cancels a call through its signal', async () => {
    const controller = new AbortController();
    const pending = rejection(client.call(svc, 'Hang', Buffer.alloc(0), { signal: controller.signal }));
    controller.abort();
    expect((await pending).kind).toBe('canceled');
  });

  it('closes gracefully: calls in flight finish, then the socket goes', async () => {
    const pending = client.call(svc, 'Hang', Buffer.alloc(0));
    await vi_waitFor(() => release !== undefined);
    const closing = server.close(5_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    release!();
    expect((await pending).toString()).toBe('released');
    await closing;
    await client.whenClosed();
    expect(fs.existsSync(sock)).toBe(false);
    expect((await rejection(TtrpcClient.connect(sock))).kind).toBe('unavailable');
  });

  it('rejects the pending calls of all clients when the server goes away', async () => {
    const other = await TtrpcClient.connect(sock);
    const pending = [client.call(svc, 'Hang', Buffer.alloc(0)), other.call(svc, 'Hang', Buffer.alloc(0))].map(rejection);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await server.close(0);
    for (const err of await Promise.all(pending)) expect(err.kind).toBe('unavailable');
    await other.close();
  });

  it('replaces a stale socket file but not a live one', async () => {
    const second = new TtrpcServer();
    expect((await rejection(second.listen(sock))).kind).toBe('already-exists');

    const regular = path.join(dir, 'regular');
    fs.writeFileSync(regular, 'keep me');
    expect((await rejection(second.listen(regular))).kind).toBe('already-exists');
    expect(fs.readFileSync(regular, 'utf8')).toBe('keep me');

    const stale = path.join(dir, 'stale.sock');
    const dead = net.createServer();
    await new Promise<void>((resolve) => dead.listen(stale, resolve));
    // Leave the file behind as a crashed process would: Node unlinks it on close, so hide it meanwhile.
    fs.renameSync(stale, `${stale}.keep`);
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    fs.renameSync(`${stale}.keep`, stale);
    await second.listen(stale);
    second.register(svc, 'Echo', async (req) => req);
    const c = await TtrpcClient.connect(`unix://${stale}`);
    expect((await c.call(svc, 'Echo', Buffer.from('fresh'))).toString()).toBe('fresh');
    await c.close();
    await second.close();
  });
});

async function vi_waitFor(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
