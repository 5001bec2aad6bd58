import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backoffDelay, readBody, Transport } from './transport.js';

describe('backoffDelay', () => {
  const retry = { attempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };
  it('doubles per attempt with jitter, up to the bound', () => {
    for (let attempt = 1; attempt <= 6; attempt++) {
      const d = backoffDelay(retry, attempt);
      const full = Math.min(1000, 100 * 2 ** (attempt - 1));
      expect(d).toBeGreaterThanOrEqual(full / 2);
      expect(d).toBeLessThanOrEqual(full);
    }
  });
  it("takes a 429's Retry-After in seconds, bounded", () => {
    expect(backoffDelay(retry, 1, '0.5')).toBe(500);
    expect(backoffDelay(retry, 1, '120')).toBe(1000);
  });
});

describe('Transport', () => {
  let server: Server;
  let base: string;
  const hits = new Map<string, number>();
  let handler: (req: IncomingMessage, res: ServerResponse, n: number) => void;
  const t = new Transport({ retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 }, timeoutMs: 300 });

  beforeAll(async () => {
    server = createServer((req, res) => {
      const n = (hits.get(req.url!) ?? 0) + 1;
      hits.set(req.url!, n);
      handler(req, res, n);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    t.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const get = (path: string, headers: Record<string, string> = {}) => t.request({ method: 'GET', url: new URL(path, base), headers });

  it('retries 503 and 429, not 400, and hands back the last 5xx', async () => {
    handler = (_req, res, n) => {
      res.writeHead(n < 3 ? (n === 1 ? 503 : 429) : 200, { 'retry-after': '0' });
      res.end('ok');
    };
    const ok = await get('/flaky');
    expect(ok.status).toBe(200);
    expect(hits.get('/flaky')).toBe(3);
    ok.body.resume();

    handler = (_req, res) => {
      res.writeHead(400);
      res.end();
    };
    expect((await get('/bad')).status).toBe(400);
    expect(hits.get('/bad')).toBe(1);

    handler = (_req, res) => {
      res.writeHead(502);
      res.end();
    };
    expect((await get('/down')).status).toBe(502);
    expect(hits.get('/down')).toBe(3);
  });

  it('follows relative redirects, turns a 303 into GET, and stops a loop', async () => {
    handler = (req, res) => {
      if (req.url === '/a') res.writeHead(307, { location: 'b' });
      else if (req.url === '/b') res.writeHead(303, { location: '/c' });
      else if (req.url === '/c') res.writeHead(200, { 'x-method': req.method! });
      else res.writeHead(302, { location: '/loop' });
      res.end();
    };
    const res = await t.request({ method: 'HEAD', url: new URL('/a', base) });
    expect(res.url.pathname).toBe('/c');
    expect(res.headers['x-method']).toBe('HEAD');
    await expect(get('/loop')).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringContaining('more than 10 redirects') });
  });

  it('keeps the Authorization header on the same origin', async () => {
    let seen: string | undefined;
    handler = (req, res) => {
      if (req.url === '/from') res.writeHead(307, { location: '/to' });
      else {
        seen = req.headers.authorization;
        res.writeHead(200);
      }
      res.end();
    };
    await get('/from', { authorization: 'Bearer x' });
    expect(seen).toBe('Bearer x');
  });

  it('times out a silent server, retries, then fails Unavailable', async () => {
    handler = () => {}; // never answers
    await expect(get('/silent')).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringContaining('no answer for 300 ms') });
    expect(hits.get('/silent')).toBe(3);
  });

  it('fails a stalled body with ETIMEDOUT', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-length': '10' });
      res.write('12345');
    };
    const res = await get('/stall');
    await expect(readBody(res, 100, () => new Error('too large'))).rejects.toMatchObject({ code: 'ETIMEDOUT' });
  });

  it('stops reading a body past the limit, with or without Content-Length', async () => {
    handler = (req, res) => {
      if (req.url === '/big-chunked') res.writeHead(200);
      else res.writeHead(200, { 'content-length': '2000' });
      res.end(Buffer.alloc(2000));
    };
    await expect(readBody(await get('/big'), 1000, () => new Error('too large'))).rejects.toThrow('too large');
    await expect(readBody(await get('/big-chunked'), 1000, () => new Error('too large'))).rejects.toThrow('too large');
    expect((await readBody(await get('/fits'), 2000, () => new Error('too large'))).length).toBe(2000);
  });

  it('is Canceled when the signal fires', async () => {
    handler = () => {};
    const ac = new AbortController();
    const p = t.request({ method: 'GET', url: new URL('/cancel', base), signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await expect(p).rejects.toMatchObject({ kind: 'canceled' });
  });
});
