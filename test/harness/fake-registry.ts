// A scripted registry for bad-input tests: an HTTP server on 127.0.0.1 that answers what each test tells it
// (a blob whose digest does not match, a body cut short, a manifest that is not JSON, 500s before a success,
// a server that ignores Range...) and records every request it gets.
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Digest } from '../../lib/digest.js';
import type { Descriptor } from '../../lib/registry/manifest.js';

export interface RecordedRequest {
  method: string;
  /** The path without the query. */
  path: string;
  url: URL;
  headers: IncomingHttpHeaders;
}

export interface ScriptedResponse {
  status?: number;
  headers?: Record<string, string | number>;
  body?: Buffer | string;
  /** Sends this many bytes of the body (Content-Length still says all of it), then cuts the connection. */
  truncateAt?: number;
  /** Answers a Range request with 200 and the whole body, as servers without Range support do. */
  ignoreRange?: boolean;
  /** No Content-Length: the body goes chunked. */
  chunked?: boolean;
}

/** A fixed answer, or one computed per request (nth counts this route's requests from 1). */
export type Handler = ScriptedResponse | ((req: RecordedRequest, nth: number) => ScriptedResponse);

export interface FakeRegistry {
  /** "127.0.0.1:PORT" */
  host: string;
  url: string;
  requests: RecordedRequest[];
  /** Answers method (or '*' for any) on an exact path; a later route for the same key replaces it. */
  route(method: string, path: string, handler: Handler): void;
  /** Serves bytes as a manifest of repo by digest (and by tag, if given); returns its descriptor. */
  manifest(repo: string, body: Buffer | string, mediaType: string, opts?: { tag?: string; digestHeader?: boolean; contentType?: string }): Descriptor;
  /** Serves bytes as blob `digest` of repo (the digest need not be the bytes' own). */
  blob(repo: string, digest: Digest, body: Buffer | string, opts?: Omit<ScriptedResponse, 'body'> | ((nth: number) => Omit<ScriptedResponse, 'body'>)): void;
  /** The requests to a path. */
  requestsTo(path: string): RecordedRequest[];
  stop(): Promise<void>;
}

export const sha256Of = (b: Buffer | string): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export function errorBody(code: string, message: string): string {
  return JSON.stringify({ errors: [{ code, message }] });
}

function send(req: IncomingMessage, res: ServerResponse, r: ScriptedResponse): void {
  const body = Buffer.from(r.body ?? '');
  let status = r.status ?? 200;
  let payload = body;
  const headers: Record<string, string | number> = { ...r.headers };
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (status === 200 && range && !r.ignoreRange) {
    const start = Number(range[1]);
    status = 206;
    payload = body.subarray(start);
    headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
  }
  if (!r.chunked && headers['content-length'] === undefined) headers['content-length'] = payload.length;
  res.writeHead(status, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  if (r.truncateAt !== undefined) {
    res.write(payload.subarray(0, Math.max(0, r.truncateAt - (body.length - payload.length))), () => res.socket?.destroy());
    return;
  }
  res.end(payload);
}

export async function startFakeRegistry(): Promise<FakeRegistry> {
  const routes = new Map<string, { handler: Handler; count: number }>();
  const requests: RecordedRequest[] = [];
  const key = (method: string, path: string) => `${method} ${path}`;

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const recorded: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, url, headers: req.headers };
    requests.push(recorded);
    req.resume();
    const route = routes.get(key(recorded.method, url.pathname)) ?? routes.get(key('*', url.pathname));
    if (route) {
      route.count++;
      const r = typeof route.handler === 'function' ? route.handler(recorded, route.count) : route.handler;
      return send(req, res, r);
    }
    if (url.pathname === '/v2/' || url.pathname === '/v2') {
      return send(req, res, { body: '{}', headers: { 'content-type': 'application/json' } });
    }
    send(req, res, { status: 404, body: errorBody('NOT_FOUND', `no route for ${url.pathname}`), headers: { 'content-type': 'application/json' } });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  const fake: FakeRegistry = {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    requests,
    route(method, path, handler) {
      routes.set(key(method, path), { handler, count: 0 });
    },
    manifest(repo, body, mediaType, opts = {}) {
      const bytes = Buffer.from(body);
      const digest = sha256Of(bytes);
      const headers: Record<string, string | number> = { 'content-type': opts.contentType ?? mediaType };
      if (opts.digestHeader !== false) headers['docker-content-digest'] = digest;
      for (const ref of [digest, ...(opts.tag ? [opts.tag] : [])]) {
        fake.route('*', `/v2/${repo}/manifests/${ref}`, { body: bytes, headers });
      }
      return { mediaType, digest, size: bytes.length };
    },
    blob(repo, digest, body, opts = {}) {
      fake.route('*', `/v2/${repo}/blobs/${digest}`, (_req, nth) => {
        const o = typeof opts === 'function' ? opts(nth) : opts;
        return { ...o, body, headers: { 'content-type': 'application/octet-stream', 'docker-content-digest': digest, ...o.headers } };
      });
    },
    requestsTo: (path) => requests.filter((r) => r.path === path),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return fake;
}
