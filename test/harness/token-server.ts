// A Bearer token server for the test registry (distribution's token auth, docs/spec/auth/token.md): on
// 127.0.0.1, it checks Basic credentials and issues ES256 JWTs that the real registry verifies with the
// certificate made here by openssl (`auth: token: rootcertbundle`). The token's header names the key by its
// libtrust key ID ("kid"), which is how distribution finds a trusted key without a certificate chain.
import { createPrivateKey, createPublicKey, createHash, randomBytes, sign, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { run } from './daemon.js';

export interface TokenRequest {
  user: string | undefined;
  service: string | null;
  scopes: string[];
  granted: boolean;
}

export interface TokenServer {
  /** The realm: "http://127.0.0.1:PORT/token". */
  realm: string;
  service: string;
  issuer: string;
  /** The certificate the registry trusts (rootcertbundle). */
  certPath: string;
  /** Every token request, in order. */
  requests: TokenRequest[];
  stop(): Promise<void>;
}

export interface TokenServerOptions {
  /** Where the key and the certificate are written. */
  dir: string;
  /** username -> password. */
  users: Record<string, string>;
  /** Anonymous requests get pull access (default: no access at all). */
  anonymousPull?: boolean;
  service?: string;
  issuer?: string;
  /** Seconds a token lives (expires_in). */
  lifetime?: number;
}

const base64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** libtrust's key ID: base32 of the first 30 bytes of sha256(DER public key), in groups of 4 joined by ':'. */
export function libtrustKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const sum = createHash('sha256').update(der).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of sum) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out.match(/.{1,4}/g)!.join(':');
}

function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first === -1 || last === first) return undefined;
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',').filter((a) => a) };
}

function basicUser(req: IncomingMessage): { user: string; password: string } | undefined {
  const h = req.headers.authorization;
  if (!h?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(h.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const keyPath = join(opts.dir, 'token-key.pem');
  const certPath = join(opts.dir, 'token-cert.pem');
  const made = await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=ctrd-test-token-issuer', '-keyout', keyPath, '-out', certPath,
  ]);
  if (made.code !== 0) throw new Error(`openssl could not make the token key: ${made.stderr}`);
  const key = createPrivateKey(readFileSync(keyPath));
  const kid = libtrustKeyId(createPublicKey(key));
  const service = opts.service ?? 'ctrd-test-registry';
  const issuer = opts.issuer ?? 'ctrd-test-token-issuer';
  const lifetime = opts.lifetime ?? 300;
  const requests: TokenRequest[] = [];

  const issue = (subject: string, access: Array<{ type: string; name: string; actions: string[] }>) => {
    const now = Math.floor(Date.now() / 1000);
    const header = base64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', kid }));
    const claims = base64url(
      JSON.stringify({ iss: issuer, sub: subject, aud: service, exp: now + lifetime, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access }),
    );
    const signature = sign('sha256', Buffer.from(`${header}.${claims}`), { key, dsaEncoding: 'ieee-p1363' });
    return `${header}.${claims}.${base64url(signature)}`;
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname !== '/token' || req.method !== 'GET') return reply(404, { errors: [{ code: 'NOT_FOUND', message: 'no such endpoint' }] });
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter((s) => s);
    const creds = basicUser(req);
    const entry: TokenRequest = { user: creds?.user, service: url.searchParams.get('service'), scopes, granted: false };
    requests.push(entry);
    if (req.headers.authorization !== undefined && (creds === undefined || opts.users[creds.user] !== creds.password)) {
      return reply(401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] });
    }
    const access = scopes
      .map(parseScope)
      .filter((s): s is NonNullable<typeof s> => s !== undefined && s.type === 'repository')
      .map((s) => ({ ...s, actions: creds ? s.actions.filter((a) => a === 'pull' || a === 'push') : opts.anonymousPull ? s.actions.filter((a) => a === 'pull') : [] }));
    entry.granted = access.some((a) => a.actions.length > 0);
    const token = issue(creds?.user ?? '', access);
    reply(200, { token, access_token: token, expires_in: lifetime, issued_at: new Date().toISOString() });
  };

  const server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certPath,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
