// Reading a container's json-file log (lib/jsonlog.ts), as docker logs does: the rotated files oldest first
// (<log>.N ... <log>.1), then the live one; --tail N from the end, read backwards; --since/--until and the
// streams as a filter; with follow, the live file's new lines as they come, across rotations (the file
// read to its end before the new one is opened), until `ended` resolves and the file has been read once more.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errnoCode } from '../../lib/errdefs.js';
import { parseEntry, type LogEntry, type LogStream } from '../../lib/jsonlog.js';

export interface LogQuery {
  /** The last `tail` entries of those selected; -1 for all. */
  tail: number;
  sinceNs?: bigint;
  untilNs?: bigint;
  streams: ReadonlySet<LogStream>;
}

export interface FollowOptions {
  /** Resolves when nothing more will be written (the task's process is over and its output read). */
  ended: Promise<void>;
  signal: AbortSignal;
}

const chunkSize = 64 * 1024;
/** How often a follower looks at the file when no change was signalled. */
const pollMs = 250;

function openIfThere(file: string): number | undefined {
  try {
    return fs.openSync(file, 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** The rotated files there are, oldest first. */
function rotatedFiles(file: string): string[] {
  const found: string[] = [];
  for (let i = 1; ; i++) {
    if (!fs.existsSync(`${file}.${i}`)) break;
    found.push(`${file}.${i}`);
  }
  return found.reverse();
}

/** Complete lines of fd from start to end (or EOF); `next` is where the first line not returned begins. */
function readLines(fd: number, start: number, end = Infinity): { lines: string[]; next: number } {
  const lines: string[] = [];
  let pos = start;
  let pending: Buffer[] = [];
  let lineStart = start;
  const buf = Buffer.alloc(chunkSize);
  while (pos < end) {
    const n = fs.readSync(fd, buf, 0, Math.min(chunkSize, end - pos), pos);
    if (n === 0) break;
    let from = 0;
    for (;;) {
      const nl = buf.indexOf(0x0a, from);
      if (nl < 0 || nl >= n) break;
      pending.push(Buffer.from(buf.subarray(from, nl)));
      lines.push(Buffer.concat(pending).toString('utf8'));
      pending = [];
      from = nl + 1;
      lineStart = pos + from;
    }
    if (from < n) pending.push(Buffer.from(buf.subarray(from, n)));
    pos += n;
  }
  return { lines, next: lineStart };
}

/** Up to `want` accepted lines that end before `end`, read backwards; oldest first. */
function lastLines(fd: number, end: number, want: number, accept: (line: string) => boolean): string[] {
  const out: string[] = [];
  let pos = end;
  let tail: Buffer = Buffer.alloc(0);
  while (pos > 0 && out.length < want) {
    const size = Math.min(chunkSize, pos);
    pos -= size;
    const buf = Buffer.alloc(size);
    fs.readSync(fd, buf, 0, size, pos);
    let data = Buffer.concat([buf, tail]);
    // The bytes after the last newline are an unfinished line: never an entry.
    if (pos + data.length === end && data[data.length - 1] !== 0x0a) data = data.subarray(0, newlineBefore(data, data.length) + 1);
    let stop = data.length;
    let nl = newlineBefore(data, stop - 1);
    while (nl >= 0 && out.length < want) {
      const line = data.subarray(nl + 1, stop - 1).toString('utf8');
      if (accept(line)) out.push(line);
      stop = nl + 1;
      nl = newlineBefore(data, stop - 1);
    }
    tail = Buffer.from(data.subarray(0, stop));
  }
  if (pos === 0 && out.length < want && tail.length > 1) {
    const line = tail.subarray(0, tail.length - 1).toString('utf8');
    if (accept(line)) out.push(line);
  }
  return out.reverse();
}

export class LogSelector {
  constructor(private readonly q: LogQuery) {}

  /** The entry of a line if the query selects it. */
  select(line: string): LogEntry | undefined {
    const e = parseEntry(line);
    if (!e || !this.q.streams.has(e.stream)) return undefined;
    if (this.q.sinceNs !== undefined && e.timeNs < this.q.sinceNs) return undefined;
    if (this.q.untilNs !== undefined && e.timeNs >= this.q.untilNs) return undefined;
    return e;
  }
}

/** The entries of the log at `file` the query selects; with follow, then the new ones until it ends. */
export async function* readLog(file: string, q: LogQuery, follow?: FollowOptions): AsyncGenerator<LogEntry> {
  const sel = new LogSelector(q);
  let live = openIfThere(file);
  try {
    const liveEnd = live === undefined ? 0 : fs.fstatSync(live).size;
    let offset = 0;
    if (q.tail >= 0) {
      let picked: string[] = [];
      if (live !== undefined) {
        picked = lastLines(live, liveEnd, q.tail, (l) => sel.select(l) !== undefined);
        offset = lastCompleteLineEnd(live, liveEnd);
      }
      for (const r of rotatedFiles(file).reverse()) {
        if (picked.length >= q.tail) break;
        const fd = fs.openSync(r, 'r');
        try {
          picked = [...lastLines(fd, fs.fstatSync(fd).size, q.tail - picked.length, (l) => sel.select(l) !== undefined), ...picked];
        } finally {
          fs.closeSync(fd);
        }
      }
      for (const l of picked) yield sel.select(l)!;
    } else {
      for (const r of rotatedFiles(file)) {
        const fd = openIfThere(r);
        if (fd === undefined) continue;
        try {
          for (const l of readLines(fd, 0).lines) {
            const e = sel.select(l);
            if (e) yield e;
          }
        } finally {
          fs.closeSync(fd);
        }
      }
      if (live !== undefined) {
        const { lines, next } = readLines(live, 0, liveEnd);
        offset = next;
        for (const l of lines) {
          const e = sel.select(l);
          if (e) yield e;
        }
      }
    }
    if (!follow) return;

    let ended = false;
    void follow.ended.then(() => (ended = true));
    const dir = path.dirname(file);
    let wake: (() => void) | undefined;
    let watcher: fs.FSWatcher | undefined;
    try {
      watcher = fs.watch(dir, () => wake?.());
      watcher.on('error', () => undefined);
    } catch {
      // Polling alone, then.
    }
    try {
      for (;;) {
        const lastPass = ended;
        if (live === undefined) live = openIfThere(file);
        if (live !== undefined) {
          const { lines, next } = readLines(live, offset);
          offset = next;
          for (const l of lines) {
            const e = sel.select(l);
            if (e) yield e;
          }
          // Rotated: what was written to the old file is read; the new file starts at 0.
          const now = statIfThere(file);
          if (now && now.ino !== fs.fstatSync(live).ino) {
            const rest = readLines(live, offset);
            for (const l of rest.lines) {
              const e = sel.select(l);
              if (e) yield e;
            }
            fs.closeSync(live);
            live = openIfThere(file);
            offset = 0;
            continue;
          }
        }
        if (lastPass || follow.signal.aborted) return;
        await Promise.race([
          new Promise<void>((resolve) => (wake = resolve)),
          follow.ended,
          sleep(pollMs, undefined, { signal: follow.signal }).catch(() => undefined),
        ]);
        wake = undefined;
      }
    } finally {
      watcher?.close();
    }
  } finally {
    if (live !== undefined) fs.closeSync(live);
  }
}

/** The last newline before index `before` (not included), or -1. */
function newlineBefore(data: Buffer, before: number): number {
  return before <= 0 ? -1 : data.lastIndexOf(0x0a, before - 1);
}

function statIfThere(file: string): fs.Stats | undefined {
  try {
    return fs.statSync(file);
  } catch {
    return undefined;
  }
}

/** Where the last complete line before end ends (the follower starts there). */
function lastCompleteLineEnd(fd: number, end: number): number {
  if (end === 0) return 0;
  const size = Math.min(chunkSize, end);
  const buf = Buffer.alloc(size);
  fs.readSync(fd, buf, 0, size, end - size);
  const nl = buf.lastIndexOf(0x0a);
  return nl < 0 ? end - size : end - size + nl + 1;
}
