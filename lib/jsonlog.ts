// A container's log as docker's json-file driver writes it: one JSON object a line,
// {"log":"<the line, with its newline>","stream":"stdout"|"stderr","time":"<RFC 3339, nanoseconds>"}, in a file
// rotated by size (<log>.1 is the newest rotated one). The shim writes it (json-file:// stdio URIs, shims/
// stdio.ts) and the daemon reads it (services/streams). Here: the URI, the entry format and the clock.
import { invalidArgument } from './errdefs.js';

export type LogStream = 'stdout' | 'stderr';

// ---- the URI ----

/** The stdio URI scheme for a json-file log: json-file:///abs/path?max-size=N&max-file=N[&open-stdin=1]. */
export const jsonFileScheme = 'json-file';

export interface JsonFileLog {
  /** The log file, absolute; rotated files are `<path>.1`, `<path>.2`... */
  path: string;
  /** Bytes a file may hold before it is rotated; 0 = never rotated. */
  maxSize: number;
  /** Files kept, the live one included (at least 1: then the file is emptied when full). */
  maxFile: number;
  /** The container takes stdin from attached clients (docker's OpenStdin, `-i`). */
  openStdin: boolean;
}

export function isJsonFileUri(uri: string): boolean {
  return uri.startsWith(`${jsonFileScheme}://`);
}

export function jsonFileUri(l: JsonFileLog): string {
  if (!l.path.startsWith('/')) throw invalidArgument(`log path ${l.path} must be absolute`);
  const q = new URLSearchParams({ 'max-size': String(l.maxSize), 'max-file': String(l.maxFile) });
  if (l.openStdin) q.set('open-stdin', '1');
  return `${jsonFileScheme}://${encodeURI(l.path)}?${q.toString()}`;
}

export function parseJsonFileUri(uri: string): JsonFileLog {
  if (!isJsonFileUri(uri)) throw invalidArgument(`stdio uri ${uri} is not a ${jsonFileScheme}:// uri`);
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw invalidArgument(`stdio uri ${uri} does not parse`);
  }
  if (u.host !== '') throw invalidArgument(`stdio uri ${uri}: the path must be absolute (${jsonFileScheme}:///path)`);
  const path = decodeURIComponent(u.pathname);
  if (!path.startsWith('/') || path.endsWith('/') || path.split('/').includes('..')) throw invalidArgument(`stdio uri ${uri}: bad log path ${path}`);
  const int = (key: string, fallback: number, min: number) => {
    const v = u.searchParams.get(key);
    if (v === null) return fallback;
    if (!/^\d+$/.test(v) || Number(v) < min) throw invalidArgument(`stdio uri ${uri}: ${key} must be an integer, at least ${min}`);
    return Number(v);
  };
  for (const k of u.searchParams.keys()) {
    if (!['max-size', 'max-file', 'open-stdin'].includes(k)) throw invalidArgument(`stdio uri ${uri}: unknown option ${k}`);
  }
  const stdin = u.searchParams.get('open-stdin');
  if (stdin !== null && stdin !== '0' && stdin !== '1') throw invalidArgument(`stdio uri ${uri}: open-stdin must be 0 or 1`);
  return { path, maxSize: int('max-size', 0, 0), maxFile: int('max-file', 1, 1), openStdin: stdin === '1' };
}

/**
 * A size as docker's --log-opt max-size takes it (go-units RAMInBytes): a number with an optional binary
 * unit, b, k, m, g, t (kb, kib... too), any case. "-1" is unlimited (0).
 */
export function parseLogSize(s: string): number {
  const t = s.trim();
  if (t === '-1') return 0;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i.exec(t);
  if (!m) throw invalidArgument(`invalid size: '${s}'`);
  const exp = ['', 'k', 'm', 'g', 't', 'p'].indexOf(m[2]!.toLowerCase());
  const n = Math.floor(Number(m[1]) * 1024 ** exp);
  if (!Number.isSafeInteger(n)) throw invalidArgument(`invalid size: '${s}'`);
  return n;
}

// ---- time ----

let baseWallNs = BigInt(Date.now()) * 1_000_000n;
let baseHr = process.hrtime.bigint();

/** Now, in nanoseconds since the epoch: the wall clock, with the monotonic clock's resolution. */
export function nowNs(): bigint {
  const hr = process.hrtime.bigint();
  const wallNs = BigInt(Date.now()) * 1_000_000n;
  let t = baseWallNs + (hr - baseHr);
  // The wall clock was set (or drifted): start again from it.
  if (t - wallNs > 5_000_000n || wallNs - t > 5_000_000n) {
    baseWallNs = wallNs;
    baseHr = hr;
    t = wallNs;
  }
  return t;
}

/** RFC 3339 with nine fractional digits, UTC (docker's RFC3339NanoFixed). */
export function formatTimeNs(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const frac = ((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  return `${new Date(Number(ms)).toISOString().slice(0, 19)}.${frac.toString().padStart(9, '0')}Z`;
}

/** An RFC 3339 time (any number of fractional digits, Z or an offset) in nanoseconds; undefined if it is not one. */
export function parseTimeNs(s: string): bigint | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(s);
  if (!m) return undefined;
  const secMs = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(secMs)) return undefined;
  return BigInt(secMs) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

// ---- entries ----

export interface LogEntry {
  stream: LogStream;
  /** The bytes of the line, its newline included (a partial line has none). */
  log: Buffer;
  /** As written in the file. */
  time: string;
  timeNs: bigint;
}

/** One line of the file, newline included. */
export function encodeEntry(stream: LogStream, log: Buffer, timeNs: bigint): string {
  return `${JSON.stringify({ log: log.toString('utf8'), stream, time: formatTimeNs(timeNs) })}\n`;
}

/** One line of the file (without its newline); undefined for a line that is not an entry (a torn write). */
export function parseEntry(line: string): LogEntry | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const { log, stream, time } = v as { log?: unknown; stream?: unknown; time?: unknown };
  if (typeof log !== 'string' || (stream !== 'stdout' && stream !== 'stderr') || typeof time !== 'string') return undefined;
  const timeNs = parseTimeNs(time);
  if (timeNs === undefined) return undefined;
  return { stream, log: Buffer.from(log, 'utf8'), time, timeNs };
}
