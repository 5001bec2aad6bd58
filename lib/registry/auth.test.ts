import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CtrdError } from '../errdefs.js';
import { Authorizer, parseChallenges, repositoryScope } from './auth.js';
import { staticCredentials } from './credentials.js';
import { Transport } from './transport.js';

describe('parseChallenges', () => {
  it('reads a Bearer challenge with realm, service and a scope holding commas', () => {
    expect(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull,push' } },
    ]);
  });

  it('reads several challenges in one header and across headers', () => {
    const one = parseChallenges('Basic realm="Registry Realm", Bearer realm="http://127.0.0.1:1/token",service=svc , Negotiate');
    expect(one).toEqual([
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
      { scheme: 'bearer', params: { realm: 'http://127.0.0.1:1/token', service: 'svc' } },
      { scheme: 'negotiate', params: {} },
    ]);
    expect(parseChallenges(['Basic realm="a"', 'BEARER Realm="b"'])).toEqual([
      { scheme: 'basic', params: { realm: 'a' } },
      { scheme: 'bearer', params: { realm: 'b' } },
    ]);
  });

  it('unescapes quoted values and tolerates spaces around =', () => {
    expect(parseChallenges('Bearer realm = "a \\"quoted\\" realm, with a comma" , error="insufficient_scope"')).toEqual([
      { scheme: 'bearer', params: { realm: 'a "quoted" realm, with a comma', error: 'insufficient_scope' } },
    ]);
  });

  it('gives nothing for nothing', () => {
    expect(parseChallenges(undefined)).toEqual([]);
    expect(parseChallenges('')).toEqual([]);
    expect(parseChallenges(' , ,')).toEqual([]);
  });
});

describe('repositoryScope', () => {
  it('asks for pull, or pull and push', () => {
    expect(repositoryScope('test/busybox')).toBe('repository:test/busybox:pull');
    expect(repositoryScope('test/busybox', true)).toBe('repository:test/busybox:pull,push');
  });
});

describe('Authorizer', () => {
  let server: Server;
  let realm: string;
  let answer: (req: IncomingMessage, res: ServerResponse) => void;
  const requests: URL[] = [];
  const authHeaders: Array<string | undefined> = [];
  const transport = new Transport({ retry: { attempts: 1 } });
  const host = 'reg.example';
  const scopes = [repositoryScope('a/b')];
  const bearer = () => `Bearer realm="${realm}",service="svc",scope="repository:a/b:pull"`;

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push(new URL(req.url!, 'http://x'));
      authHeaders.push(req.headers.authorization);
      answer(req, res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    realm = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  });

  afterAll(async () => {
    transport.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  afterEach(() => {
    requests.length = 0;
    authHeaders.length = 0;
    vi.useRealTimers();
  });

  const json = (status: number, body: unknown) => (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  it('is anonymous until a challenge, then fetches a token with service, scopes and Basic credentials', async () => {
    answer = json(200, { token: 'T1', expires_in: 300 });
    const a = new Authorizer(transport, staticCredentials({ [host]: { username: 'u', password: 'p' } }));
    expect(await a.authorization(host, scopes)).toBeUndefined();
    expect(await a.challenge(host, bearer(), scopes)).toBe('Bearer T1');
    expect(requests[0]!.searchParams.get('service')).toBe('svc');
    expect(requests[0]!.searchParams.getAll('scope')).toEqual(['repository:a/b:pull']);
    expect(authHeaders[0]).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
    // Cached for the scope: no second request.
    expect(await a.authorization(host, scopes)).toBe('Bearer T1');
    expect(requests).toHaveLength(1);
  });

  it('accepts access_token, asks again once the token expired, and shares one fetch between concurrent callers', async () => {
    let n = 0;
    answer = (req, res) => json(200, { access_token: `A${++n}`, expires_in: 60 })(req, res);
    const a = new Authorizer(transport, undefined);
    expect(await a.challenge(host, bearer(), scopes)).toBe('Bearer A1');
    expect(authHeaders[0]).toBeUndefined();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 61_000);
    const [x, y] = await Promise.all([a.authorization(host, scopes), a.authorization(host, scopes)]);
    expect([x, y]).toEqual(['Bearer A2', 'Bearer A2']);
    expect(requests).toHaveLength(2);
  });

  it('merges the scope of the challenge with the scope asked for', async () => {
    answer = json(200, { token: 'T' });
    const a = new Authorizer(transport, undefined);
    await a.challenge(host, `Bearer realm="${realm}",scope="repository:a/b:pull repository:c/d:pull"`, [repositoryScope('a/b', true)]);
    expect(requests[0]!.searchParams.getAll('scope')).toEqual(['repository:a/b:pull,push', 'repository:a/b:pull', 'repository:c/d:pull']);
    expect(requests[0]!.searchParams.has('service')).toBe(false);
  });

  it('turns a token server 401 into Unauthenticated with its message', async () => {
    answer = json(401, { details: 'incorrect username or password' });
    const a = new Authorizer(transport, staticCredentials({ [host]: { username: 'u', password: 'bad' } }));
    const err = await a.challenge(host, bearer(), scopes).catch((e: unknown) => e as CtrdError);
    expect(err).toBeInstanceOf(CtrdError);
    expect((err as CtrdError).kind).toBe('unauthenticated');
    expect((err as CtrdError).message).toBe('unauthorized: incorrect username or password');
  });

  it('refuses a token answer without a token', async () => {
    answer = json(200, { nothing: true });
    const a = new Authorizer(transport, undefined);
    await expect(a.challenge(host, bearer(), scopes)).rejects.toMatchObject({ kind: 'unauthenticated', message: expect.stringContaining('without a token') });
  });

  it('answers Basic with credentials, and is Unauthenticated without them', async () => {
    const withCreds = new Authorizer(transport, staticCredentials({ [host]: { username: 'u', password: 'p' } }));
    const basic = `Basic ${Buffer.from('u:p').toString('base64')}`;
    expect(await withCreds.challenge(host, 'Basic realm="r"', scopes)).toBe(basic);
    expect(await withCreds.authorization(host, scopes)).toBe(basic);
    const without = new Authorizer(transport, undefined);
    await expect(without.challenge(host, 'Basic realm="r"', scopes)).rejects.toMatchObject({
      kind: 'unauthenticated',
      message: 'unauthorized: reg.example asks for Basic credentials and none are configured',
    });
  });

  it('is Unauthenticated for a 401 without a challenge it can answer', async () => {
    const a = new Authorizer(transport, undefined);
    await expect(a.challenge(host, 'Negotiate', scopes)).rejects.toMatchObject({ kind: 'unauthenticated', message: expect.stringContaining('offered: negotiate') });
    await expect(a.challenge(host, undefined, scopes)).rejects.toMatchObject({ kind: 'unauthenticated', message: expect.stringContaining('offered: none') });
  });
});
