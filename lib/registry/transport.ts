// HTTP for the registry client on Node's http/https: keep-alive agents, redirects followed by hand (the
// Authorization header never leaves the origin it was meant for), and bounded retries with exponential
// backoff on connection errors, 5xx and 429 (never on other 4xx). Bodies stay streams.
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { canceled, CtrdError, errnoCode, invalidArgument, unavailable } from '../errdefs.js';
import { silentLogger, type Logger } from '../log.js';

export interface RetryOptions {
  /** Tries in all, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const defaultRetry: RetryOptions = { attempts: 5, baseDelayMs: 200, maxDelayMs: 5_000 };

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: URL;
  headers?: Record<string, string>;
  /** A body that can be sent again (a retry or a 307 resends it). */
  body?: Buffer | string;
  skipVerify?: boolean;
  signal?: AbortSignal;
  /** Retries on connection errors, 5xx and 429; on by default. */
  retry?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The URL that answered, after redirects. */
  url: URL;
  body: IncomingMessage;
}

export interface TransportOptions {
  retry?: Partial<RetryOptions>;
  /** Idle time after which a request or a body read fails (and is retried). */
  timeoutMs?: number;
  userAgent?: string;
  logger?: Logger;
}

const redirectStatuses = new Set([301, 302, 303, 307, 308]);
const maxRedirects = 10;
const retryableCodes = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN',
  'ENETDOWN', 'EHOSTDOWN',
]);

/** Errors of the connection (not of TLS, DNS names or the caller) that a later try may not meet. */
export function isRetryableError(err: unknown): boolean {
  const code = errnoCode(err);
  return code !== undefined && retryableCodes.has(code);
}

export const isRetryableStatus = (status: number) => status === 429 || (status >= 500 && status <= 599);

/** Waits ms, or rejects Canceled when the signal fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(canceled('request canceled'));
    const onAbort = () => {
      clearTimeout(timer);
      reject(canceled('request canceled'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Exponential backoff with jitter, bounded; a 429's Retry-After (seconds) when it is within the bound. */
export function backoffDelay(retry: RetryOptions, attempt: number, retryAfter?: string): number {
  const seconds = retryAfter !== undefined ? Number(retryAfter) : NaN;
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, retry.maxDelayMs);
  const exp = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
  return exp / 2 + Math.random() * (exp / 2);
}

/** Throws away a response body without keeping its socket busy: small ones are drained, big ones cut. */
export function discard(res: HttpResponse): void {
  const length = Number(res.headers['content-length'] ?? NaN);
  if (Number.isFinite(length) && length <= 64 << 10) res.body.resume();
  else res.body.destroy();
}

/** Reads a whole body, failing with tooLarge() as soon as it passes limit bytes (before buffering more). */
export async function readBody(res: HttpResponse, limit: number, tooLarge: () => Error): Promise<Buffer> {
  const length = Number(res.headers['content-length'] ?? NaN);
  if (Number.isFinite(length) && length > limit) {
    res.body.destroy();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      res.body.destroy();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

export class Transport {
  private readonly http = new HttpAgent({ keepAlive: true, maxSockets: 32 });
  private readonly https = new HttpsAgent({ keepAlive: true, maxSockets: 32 });
  private readonly httpsNoVerify = new HttpsAgent({ keepAlive: true, maxSockets: 32, rejectUnauthorized: false });
  readonly retry: RetryOptions;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  private readonly log: Logger;

  constructor(opts: TransportOptions = {}) {
    this.retry = { ...defaultRetry, ...opts.retry };
    if (!(this.retry.attempts >= 1)) throw invalidArgument(`retry attempts must be at least 1, got ${this.retry.attempts}`);
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.userAgent = opts.userAgent ?? 'ctrd';
    this.log = opts.logger ?? silentLogger;
  }

  /** Sends a request, following redirects and retrying what may pass; 4xx and the last 5xx are returned. */
  async request(req: HttpRequest): Promise<HttpResponse> {
    const attempts = req.retry === false ? 1 : this.retry.attempts;
    for (let attempt = 1; ; attempt++) {
      let res: HttpResponse;
      try {
        res = await this.follow(req);
      } catch (err) {
        if (req.signal?.aborted) throw canceled(`${req.method} ${req.url.href}: canceled`);
        if (err instanceof CtrdError) throw err;
        if (!isRetryableError(err) || attempt >= attempts) {
          throw unavailable(`${req.method} ${req.url.href}: ${(err as Error).message}`, err);
        }
        const delay = backoffDelay(this.retry, attempt);
        this.log.debug({ url: req.url.href, attempt, delay, err: (err as Error).message }, 'registry request failed, retrying');
        await sleep(delay, req.signal);
        continue;
      }
      if (!isRetryableStatus(res.status) || attempt >= attempts) return res;
      discard(res);
      const delay = backoffDelay(this.retry, attempt, res.status === 429 ? String(res.headers['retry-after'] ?? '') : undefined);
      this.log.debug({ url: req.url.href, attempt, delay, status: res.status }, 'registry answered with a retryable status, retrying');
      await sleep(delay, req.signal);
    }
  }

  private async follow(req: HttpRequest): Promise<HttpResponse> {
    let url = req.url;
    let method = req.method;
    let body = req.body;
    const headers = { ...req.headers };
    let skipVerify = req.skipVerify === true;
    for (let hop = 0; ; hop++) {
      const res = await this.once(method, url, headers, body, skipVerify, req.signal);
      const location = res.headers.location;
      if (!redirectStatuses.has(res.status) || location === undefined) return res;
      discard(res);
      if (hop >= maxRedirects) throw unavailable(`${req.method} ${req.url.href}: more than ${maxRedirects} redirects`);
      const next = new URL(location, url);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw unavailable(`${req.method} ${req.url.href}: redirect to unsupported URL ${next.href}`);
      }
      if (next.origin !== url.origin) {
        // Credentials are for the registry only: a blob store behind a redirect gets a signed URL instead.
        delete headers.authorization;
        skipVerify = false;
      }
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
        method = method === 'HEAD' ? 'HEAD' : 'GET';
        body = undefined;
      }
      this.log.debug({ from: url.href, to: next.href, status: res.status }, 'registry redirect');
      url = next;
    }
  }

  private once(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: Buffer | string | undefined,
    skipVerify: boolean,
    signal: AbortSignal | undefined,
  ): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const https = url.protocol === 'https:';
      const agent = https ? (skipVerify ? this.httpsNoVerify : this.https) : this.http;
      const send = https ? httpsRequest : httpRequest;
      const h: Record<string, string> = { 'user-agent': this.userAgent, ...headers };
      if (body !== undefined) h['content-length'] = String(Buffer.byteLength(body));
      const req = send(url, { method, headers: h, agent, ...(signal ? { signal } : {}) });
      req.setTimeout(this.timeoutMs, () => {
        req.destroy(Object.assign(new Error(`no answer for ${this.timeoutMs} ms`), { code: 'ETIMEDOUT' }));
      });
      req.once('error', reject);
      req.once('response', (res: IncomingMessage) => {
        // The idle timeout goes on guarding the body: a stalled download fails instead of hanging.
        res.setTimeout(this.timeoutMs, () => {
          res.destroy(Object.assign(new Error(`body stalled for ${this.timeoutMs} ms`), { code: 'ETIMEDOUT' }));
        });
        resolve({ status: res.statusCode ?? 0, headers: res.headers, url, body: res });
      });
      req.end(body);
    });
  }

  /** Closes idle keep-alive sockets. */
  close(): void {
    this.http.destroy();
    this.https.destroy();
    this.httpsNoVerify.destroy();
  }
}
