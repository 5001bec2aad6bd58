// The writing side of a json-file log (lib/jsonlog.ts has the format): the container's output cut into
// lines, each written as one entry, the file rotated by size as docker's json-file does (before a write
// that would take it past max-size: <log>.N-1 -> <log>.N ... <log> -> <log>.1, then a fresh <log>; with
// max-file 1 the file is emptied instead). Writes are synchronous: one small write per chunk read, in
// order, and a rotation never races a write.
import fs from 'node:fs';
import path from 'node:path';
import { encodeEntry, nowNs, type JsonFileLog, type LogStream } from '../lib/jsonlog.js';
import type { ShimLogger } from './log.js';

/** A line longer than this is written in parts (docker's 16K), each without a newline but the last. */
export const maxLineBytes = 16 * 1024;

export class JsonFileWriter {
  private fd: number | undefined;
  private size = 0;
  private failed = false;

  constructor(
    private readonly opts: Pick<JsonFileLog, 'path' | 'maxSize' | 'maxFile'>,
    private readonly log: ShimLogger,
  ) {
    fs.mkdirSync(path.dirname(opts.path), { recursive: true, mode: 0o700 });
    this.open();
  }

  private open(): void {
    this.fd = fs.openSync(this.opts.path, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT, 0o640);
    this.size = fs.fstatSync(this.fd).size;
  }

  /** Writes entries made of the given lines, all with the same time. */
  write(stream: LogStream, lines: readonly Buffer[], timeNs = nowNs()): void {
    if (this.fd === undefined || lines.length === 0) return;
    for (const line of lines) {
      const data = Buffer.from(encodeEntry(stream, line, timeNs), 'utf8');
      try {
        if (this.opts.maxSize > 0 && this.size > 0 && this.size + data.length > this.opts.maxSize) this.rotate();
        fs.writeSync(this.fd!, data);
        this.size += data.length;
        this.failed = false;
      } catch (err) {
        // A full disk loses lines, never the container: said once until a write works again.
        if (!this.failed) this.log.warn({ err, file: this.opts.path }, 'cannot write the container log');
        this.failed = true;
        if (this.fd === undefined) return;
      }
    }
  }

  private rotate(): void {
    const p = this.opts.path;
    if (this.opts.maxFile <= 1) {
      fs.ftruncateSync(this.fd!, 0);
      this.size = 0;
      return;
    }
    fs.closeSync(this.fd!);
    this.fd = undefined;
    for (let i = this.opts.maxFile - 1; i > 1; i--) renameIfThere(`${p}.${i - 1}`, `${p}.${i}`);
    renameIfThere(p, `${p}.1`);
    this.open();
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      // closed already
    }
    this.fd = undefined;
  }
}

function renameIfThere(from: string, to: string): void {
  try {
    fs.renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Cuts one stream's bytes into lines: whole lines as they come, a long one in maxLineBytes parts, the rest at end(). */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl + 1);
      out.push(this.pendingBytes > 0 ? Buffer.concat([...this.pending, piece]) : Buffer.from(piece));
      this.pending = [];
      this.pendingBytes = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.pending.push(Buffer.from(chunk.subarray(start)));
      this.pendingBytes += chunk.length - start;
    }
    while (this.pendingBytes >= maxLineBytes) {
      const all = Buffer.concat(this.pending);
      out.push(all.subarray(0, maxLineBytes));
      const rest = all.subarray(maxLineBytes);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
    }
    return out;
  }

  /** What is left without a newline. */
  end(): Buffer[] {
    if (this.pendingBytes === 0) return [];
    const rest = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    return [rest];
  }
}
