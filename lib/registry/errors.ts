// A registry's error answers as ctrd's error kinds, with the registry's own words: distribution's JSON
// {"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]} reads "unauthorized: authentication
// required", as Docker prints it. Token servers answer {"details": "..."} or {"error": "..."} as well.
import { STATUS_CODES } from 'node:http';
import { CtrdError, type ErrorKind } from '../errdefs.js';
import { readBody, type HttpResponse } from './transport.js';

const maxErrorBody = 64 << 10;

interface RegistryError {
  code?: unknown;
  message?: unknown;
}

/** The message of an error body, or undefined when it says nothing readable. */
export function registryErrorMessage(body: Buffer): string | undefined {
  const text = body.toString('utf8').trim();
  if (text === '') return undefined;
  try {
    const json = JSON.parse(text) as Record<string, unknown>;
    if (Array.isArray(json.errors) && json.errors.length > 0) {
      return (json.errors as RegistryError[])
        .map((e) => {
          const code = typeof e.code === 'string' ? e.code.toLowerCase().replace(/_/g, ' ') : 'error';
          return typeof e.message === 'string' && e.message !== '' ? `${code}: ${e.message}` : code;
        })
        .join('; ');
    }
    for (const key of ['details', 'detail', 'error_description', 'message', 'error']) {
      if (typeof json[key] === 'string' && json[key] !== '') return json[key];
    }
    return undefined;
  } catch {
    // Not JSON: a short plain text is worth showing, an HTML page is not.
    return text.length <= 200 && !text.startsWith('<') ? text : undefined;
  }
}

function kindOfStatus(status: number): ErrorKind {
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'permission-denied';
  if (status === 404) return 'not-found';
  if (status === 400) return 'invalid-argument';
  if (status === 405 || status === 501) return 'not-implemented';
  if (status === 416) return 'out-of-range';
  if (status === 429) return 'resource-exhausted';
  if (status >= 500) return 'unavailable';
  return 'unknown';
}

/** The message a status gets, with the registry's words when it sent any; 401 always reads "unauthorized: ...". */
export function statusMessage(status: number, registryMessage: string | undefined): string {
  const text = registryMessage ?? `${status} ${STATUS_CODES[status] ?? 'unexpected status'}`.toLowerCase();
  if (status === 401) return text.startsWith('unauthorized') ? text : `unauthorized: ${text}`;
  if (status === 403) return text.startsWith('denied') ? text : `denied: ${text}`;
  if (status === 429) return text.startsWith('toomanyrequests') ? text : `toomanyrequests: ${text}`;
  if (status === 404) return 'not found';
  return registryMessage !== undefined ? `unexpected status ${status}: ${registryMessage}` : `unexpected status ${text}`;
}

/** The registry's words in a failed response's body (read up to 64 KiB), if it has any. */
export async function readErrorMessage(res: HttpResponse): Promise<string | undefined> {
  try {
    return registryErrorMessage(await readBody(res, maxErrorBody, () => new Error('error body too large')));
  } catch {
    return undefined;
  }
}

/** Reads a failed response's body (bounded) and turns it into a CtrdError "<what>: <message>". */
export async function statusError(res: HttpResponse, what: string): Promise<CtrdError> {
  const message = await readErrorMessage(res);
  return new CtrdError(kindOfStatus(res.status), `${what}: ${statusMessage(res.status, message)}`);
}
