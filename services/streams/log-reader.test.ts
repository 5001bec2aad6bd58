// Reading a json-file log as docker logs does: across rotated files, --tail from the end, the filters, a torn
// last line, and following new lines across a rotation until the end is signalled. And the detach keys.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeEntry, type LogStream } from '../../lib/jsonlog.js';
import { errorOf } from '../../test/harness/errors.js';
import { DetachWatcher, parseDetachKeys } from './detach-keys.js';
import { readLog, type LogQuery } from './log-reader.js';

let dir: string;
let n = 0;
const t0 = 1_700_000_000_000_000_000n;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrd-log-reader-'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  expect(fs.existsSync(dir)).toBe(false);
});

const entry = (i: number, stream: LogStream = 'stdout') => encodeEntry(stream, Buffer.from(`line ${i}\n`), t0 + BigInt(i) * 1_000_000_000n);
const all: LogQuery = { tail: -1, streams: new Set(['stdout', 'stderr']) };

async function collect(file: string, q: LogQuery): Promise<string[]> {
  const out: string[] = [];
  for await (const e of readLog(file, q)) out.push(`${e.stream}:${e.log.toString().trim()}`);
  return out;
}

/** A log of lines 0-9: 0-3 in <log>.2, 4-6 in <log>.1, 7-9 live (odd ones on stderr); a torn line at the end. */
function rotatedLog(): string {
  const file = path.join(dir, `log-${n++}`, 'c-json.log');
  fs.mkdirSync(path.dirname(file));
  const lines = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => entry(from + k, (from + k) % 2 ? 'stderr' : 'stdout')).join('');
  fs.writeFileSync(`${file}.2`, lines(0, 4));
  fs.writeFileSync(`${file}.1`, lines(4, 7));
  fs.writeFileSync(file, lines(7, 10) + '{"log":"torn');
  return file;
}

describe('readLog', () => {
  it('reads the rotated files oldest first, then the live one, skipping a torn line', async () => {
    const got = await collect(rotatedLog(), all);
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => `${i % 2 ? 'stderr' : 'stdout'}:line ${i}`));
  });

  it('--tail takes the last entries across files; the streams, --since and --until filter before it', async () => {
    const file = rotatedLog();
    expect(await collect(file, { ...all, tail: 2 })).toEqual(['stdout:line 8', 'stderr:line 9']);
    expect(await collect(file, { ...all, tail: 5 })).toEqual(['stderr:line 5', 'stdout:line 6', 'stderr:line 7', 'stdout:line 8', 'stderr:line 9']);
    expect(await collect(file, { ...all, tail: 0 })).toEqual([]);
    expect(await collect(file, { ...all, tail: 100 })).toHaveLength(10);
    expect(await collect(file, { ...all, tail: 3, streams: new Set(['stdout']) })).toEqual(['stdout:line 4', 'stdout:line 6', 'stdout:line 8']);
    expect(await collect(file, { ...all, sinceNs: t0 + 3_000_000_000n, untilNs: t0 + 5_000_000_000n })).toEqual(['stderr:line 3', 'stdout:line 4']);
    expect(await collect(path.join(dir, 'none', 'x.log'), all)).toEqual([]);
  });

  it('follows: new lines as they are written, across a rotation, until the end is signalled', async () => {
    const file = path.join(dir, `log-${n++}`, 'f-json.log');
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, entry(0));
    let end!: () => void;
    const ended = new Promise<void>((resolve) => (end = resolve));
    const abort = new AbortController();
    const got: string[] = [];
    const reading = (async () => {
      for await (const e of readLog(file, { ...all, tail: 1 }, { ended, signal: abort.signal })) got.push(e.log.toString().trim());
    })();
    const until = async (count: number) => {
      for (let i = 0; i < 200 && got.length < count; i++) await new Promise((r) => setTimeout(r, 10));
      expect(got).toHaveLength(count);
    };
    await until(1);
    fs.appendFileSync(file, entry(1));
    await until(2);
    // A half-written line waits for its end.
    fs.appendFileSync(file, entry(2).slice(0, 10));
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toEqual(['line 0', 'line 1']);
    fs.appendFileSync(file, entry(2).slice(10));
    await until(3);
    // Rotation: the old file gets one more line first, then a new file comes.
    fs.appendFileSync(file, entry(3));
    fs.renameSync(file, `${file}.1`);
    fs.writeFileSync(file, entry(4));
    await until(5);
    fs.appendFileSync(file, entry(5));
    end();
    await reading;
    expect(got).toEqual(['line 0', 'line 1', 'line 2', 'line 3', 'line 4', 'line 5']);
  });
});

describe('detach keys', () => {
  it('parses docker key specs, ctrl-p,ctrl-q by default, and refuses others by name', () => {
    expect(parseDetachKeys('')).toEqual([16, 17]);
    expect(parseDetachKeys('ctrl-a,x,ctrl-@,ctrl-_')).toEqual([1, 120, 0, 31]);
    expect(errorOf(() => parseDetachKeys('ctrl-;'))).toMatchObject({ kind: 'invalid-argument', message: expect.stringContaining('Invalid detach keys (ctrl-;)') });
    expect(errorOf(() => parseDetachKeys('ab')).message).toContain('Invalid detach keys (ab)');
  });

  it('holds a started sequence back, passes it on when broken, and detaches when it is complete', () => {
    const w = new DetachWatcher(parseDetachKeys(''));
    expect(w.feed(Buffer.from('ab\x10'))).toEqual({ forward: Buffer.from('ab'), detached: false });
    expect(w.feed(Buffer.from('c'))).toEqual({ forward: Buffer.from('\x10c'), detached: false });
    expect(w.feed(Buffer.from('\x10\x10'))).toEqual({ forward: Buffer.from('\x10'), detached: false });
    expect(w.feed(Buffer.from('\x11rest'))).toEqual({ forward: Buffer.alloc(0), detached: true });
    const one = new DetachWatcher(parseDetachKeys('x'));
    expect(one.feed(Buffer.from('ax'))).toEqual({ forward: Buffer.from('a'), detached: true });
  });
});
