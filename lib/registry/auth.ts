// Registry authentication, per host: anonymous until a 401 says otherwise, then Basic credentials or Bearer
// tokens (distribution's token spec): GET <realm>?service=..&scope=repository:<name>:pull[,push] with Basic
// credentials when there are any, the answer's token or access_token cached per scope until expires_in.
import { canceled, CtrdError, internal } from '../errdefs.js';
import { silentLogger, type Logger } from '../log.js';
import type { CredentialsProvider } from './credentials.js';
import { readErrorMessage, registryErrorMessage, statusError, statusMessage } from './errors.js';
import { readBody, type Transport } from './transport.js';

export interface Challenge {
  /** Lowercase: "bearer", "basic". */
  scheme: string;
  /** Parameter names lowercase, values unquoted. */
  params: Record<string, string>;
}

const tchar = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/** Parses WWW-Authenticate (RFC 7235): several challenges, quoted values with commas and escapes. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  if (Array.isArray(header)) return header.flatMap((h) => parseChallenges(h));
  const s = header;
  let i = 0;
  const skipSpace = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  const token = () => {
    const start = i;
    while (i < s.length && tchar.test(s[i]!)) i++;
    return s.slice(start, i);
  };
  const quoted = () => {
    let out = '';
    i++; // opening quote
    while (i < s.length && s[i] !== '"') {
      if (s[i] === '\\' && i + 1 < s.length) i++;
      out += s[i];
      i++;
    }
    i++; // closing quote
    return out;
  };
  const out: Challenge[] = [];
  while (i < s.length) {
    skipSpace();
    if (s[i] === ',') {
      i++;
      continue;
    }
    const scheme = token();
    if (scheme === '') {
      i++; // not a token character: skip it
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    for (;;) {
      skipSpace();
      const save = i;
      const name = token();
      skipSpace();
      if (name === '' || s[i] !== '=') {
        // The next challenge's scheme (or a token68, which no registry scheme uses).
        i = name === '' ? i : save;
        break;
      }
      i++; // '='
      skipSpace();
      challenge.params[name.toLowerCase()] = s[i] === '"' ? quoted() : token();
      skipSpace();
      if (s[i] !== ',') break;
      i++;
    }
  }
  return out;
}

/** The scope a repository operation needs: "repository:test/busybox:pull" (push: "pull,push"). */
export function repositoryScope(repository: string, push = false): string {
  return `repository:${repository}:${push ? 'pull,push' : 'pull'}`;
}

type HostAuth = { scheme: 'basic' } | { scheme: 'bearer'; realm: string; service?: string };

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Tokens are taken for at least this long when the server says less (as containerd's minimum). */
const minTokenLifetimeSec = 60;
const maxTokenBody = 1 << 20;

function unauthenticated(message: string): CtrdError {
  return new CtrdError('unauthenticated', message);
}

export class Authorizer {
  private readonly hosts = new Map<string, HostAuth>();
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<string>>();
  private readonly log: Logger;

  constructor(
    private readonly transport: Transport,
    private readonly credentials: CredentialsProvider | undefined,
    logger?: Logger,
  ) {
    this.log = logger ?? silentLogger;
  }

  /** The Authorization header for a request to host needing scopes, from what earlier challenges taught. */
  async authorization(host: string, scopes: readonly string[], signal?: AbortSignal): Promise<string | undefined> {
    const auth = this.hosts.get(host);
    if (auth === undefined) return undefined;
    if (auth.scheme === 'basic') return this.basic(host);
    const key = tokenKey(host, scopes);
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
    return `Bearer ${await this.token(host, auth, scopes, [], signal)}`;
  }

  /**
   * Learns from a 401's WWW-Authenticate and returns the header to try again with. Throws Unauthenticated
   * when it cannot: no usable challenge, Basic without credentials, a token server that refuses.
   */
  async challenge(host: string, header: string | string[] | undefined, scopes: readonly string[], signal?: AbortSignal): Promise<string> {
    const challenges = parseChallenges(header);
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    if (bearer) {
      const auth: HostAuth = { scheme: 'bearer', realm: bearer.params.realm!, ...(bearer.params.service !== undefined ? { service: bearer.params.service } : {}) };
      this.hosts.set(host, auth);
      this.tokens.delete(tokenKey(host, scopes));
      const extra = (bearer.params.scope ?? '').split(' ').filter((x) => x !== '');
      return `Bearer ${await this.token(host, auth, scopes, extra, signal)}`;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      this.hosts.set(host, { scheme: 'basic' });
      const header = await this.basic(host);
      if (header === undefined) throw unauthenticated(`unauthorized: ${host} asks for Basic credentials and none are configured`);
      return header;
    }
    const offered = challenges.map((c) => c.scheme).join(', ') || 'none';
    throw unauthenticated(`unauthorized: ${host} answered 401 without a challenge ctrd can answer (offered: ${offered})`);
  }

  /** Forgets what is known of a host (its challenge and tokens), e.g. after its credentials changed. */
  forget(host: string): void {
    this.hosts.delete(host);
    for (const key of this.tokens.keys()) if (key.startsWith(`${host} `)) this.tokens.delete(key);
  }

  private async basic(host: string): Promise<string | undefined> {
    const creds = await this.credentials?.(host);
    if (!creds) return undefined;
    return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
  }

  /**
   * One token fetch per host and scope set at a time; concurrent pulls of one image share it. The fetch is
   * not tied to any one caller's signal (one pull canceled must not fail the others); a caller stops waiting.
   */
  private token(host: string, auth: { realm: string; service?: string }, scopes: readonly string[], extra: readonly string[], signal?: AbortSignal) {
    const key = tokenKey(host, scopes);
    let p = this.pending.get(key);
    if (!p) {
      p = this.fetchToken(host, auth, scopes, extra).finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    return untilAborted(p, signal);
  }

  private async fetchToken(host: string, auth: { realm: string; service?: string }, scopes: readonly string[], extra: readonly string[]): Promise<string> {
    let url: URL;
    try {
      url = new URL(auth.realm);
    } catch (err) {
      throw unauthenticated(`unauthorized: ${host} names an invalid token realm "${auth.realm}": ${(err as Error).message}`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw unauthenticated(`unauthorized: ${host}: token realm "${auth.realm}" is not http(s)`);
    if (auth.service !== undefined) url.searchParams.set('service', auth.service);
    for (const scope of new Set([...scopes, ...extra])) url.searchParams.append('scope', scope);
    const headers: Record<string, string> = { accept: 'application/json' };
    const basic = await this.basic(host);
    if (basic) headers.authorization = basic;
    const started = Date.now();
    const res = await this.transport.request({ method: 'GET', url, headers });
    if (res.status === 401 || res.status === 403) {
      // The token server's words are what the user needs: "unauthorized: incorrect username or password".
      throw unauthenticated(statusMessage(401, await readErrorMessage(res)));
    }
    if (res.status !== 200) throw await statusError(res, `token from ${url.origin}${url.pathname}`);
    const body = await readBody(res, maxTokenBody, () => internal(`token answer from ${url.origin} is larger than 1 MiB`));
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw unauthenticated(`unauthorized: token server ${url.origin} did not answer JSON: ${registryErrorMessage(body) ?? 'empty body'}`);
    }
    const token = typeof json.token === 'string' && json.token !== '' ? json.token : json.access_token;
    if (typeof token !== 'string' || token === '') throw unauthenticated(`unauthorized: token server ${url.origin} answered without a token`);
    const lifetime = Math.max(typeof json.expires_in === 'number' ? json.expires_in : 0, minTokenLifetimeSec);
    // Counted from when the request left, so a slow answer does not stretch the token past its real expiry.
    this.tokens.set(tokenKey(host, scopes), { token, expiresAt: started + lifetime * 1000 - 5_000 });
    this.log.debug({ host, scopes, lifetime }, 'registry token fetched');
    return token;
  }
}

function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(canceled('token request canceled'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(canceled('token request canceled'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function tokenKey(host: string, scopes: readonly string[]): string {
  return `${host} ${[...scopes].sort().join(' ')}`;
}
