// The json-file log as the shim writes it: one docker-shaped entry a line, both streams, lines cut at newlines
// (and long ones at 16K), rotation at max-size keeping max-file files; and the URI that asks for it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatTimeNs, jsonFileUri, parseEntry, parseJsonFileUri, parseLogSize, parseTimeNs } from '../lib/jsonlog.js';
import { errorOf } from '../test/harness/errors.js';
import { createShimLogger } from './log.js';
import { JsonFileWriter, LineSplitter, maxLineBytes } from './json-log.js';

let dir: string;
const log = createShimLogger({ level: 'error' });

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrd-json-log-'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  expect(fs.existsSync(dir)).toBe(false);
});

const lines = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { log: string; stream: string; time: string });

describe('JsonFileWriter', () => {
  it('writes docker json-file entries for both streams, in order, with RFC 3339 nanosecond times', () => {
    const file = path.join(dir, 'a', 'a-json.log');
    const w = new JsonFileWriter({ path: file, maxSize: 0, maxFile: 1 }, log);
    const t = 1_700_000_000_123_456_789n;
    w.write('stdout', [Buffer.from('hello\n'), Buffer.from('"quoted" \\ \t\n')], t);
    w.write('stderr', [Buffer.from('oops\n')], t + 1n);
    w.close();
    const text = fs.readFileSync(file, 'utf8');
    expect(text.split('\n')[0]).toBe('{"log":"hello\\n","stream":"stdout","time":"2023-11-14T22:13:20.123456789Z"}');
    expect(lines(file)).toEqual([
      { log: 'hello\n', stream: 'stdout', time: '2023-11-14T22:13:20.123456789Z' },
      { log: '"quoted" \\ \t\n', stream: 'stdout', time: '2023-11-14T22:13:20.123456789Z' },
      { log: 'oops\n', stream: 'stderr', time: '2023-11-14T22:13:20.123456790Z' },
    ]);
    expect(parseEntry(text.split('\n')[2]!)).toMatchObject({ stream: 'stderr', log: Buffer.from('oops\n'), timeNs: t + 1n });
    expect(fs.statSync(file).mode & 0o777).toBe(0o640);
  });

  it('rotates before a write that would pass max-size, keeping max-file files (<log>.1 the newest rotated)', () => {
    const file = path.join(dir, 'r', 'r-json.log');
    // Each entry is 78 bytes: three fit in 250, the fourth rotates.
    const w = new JsonFileWriter({ path: file, maxSize: 250, maxFile: 3 }, log);
    for (let i = 0; i < 14; i++) w.write(i % 2 ? 'stderr' : 'stdout', [Buffer.from(`line ${String(i).padStart(2, '0')}\n`)], 1_700_000_000_000_000_000n);
    w.close();
    const entry = fs.readFileSync(file, 'utf8').split('\n')[0]!.length + 1;
    expect(entry).toBe(78);
    expect(fs.readdirSync(path.dirname(file)).sort()).toEqual(['r-json.log', 'r-json.log.1', 'r-json.log.2']);
    for (const f of ['r-json.log', 'r-json.log.1', 'r-json.log.2']) expect(fs.statSync(path.join(path.dirname(file), f)).size).toBeLessThanOrEqual(250);
    const logs = (f: string) => lines(path.join(path.dirname(file), f)).map((e) => e.log.trim());
    expect(logs('r-json.log.2')).toEqual(['line 06', 'line 07', 'line 08']);
    expect(logs('r-json.log.1')).toEqual(['line 09', 'line 10', 'line 11']);
    expect(logs('r-json.log')).toEqual(['line 12', 'line 13']);
  });

  it('with max-file 1 empties the file instead, and keeps appending to a file it reopens', () => {
    const file = path.join(dir, 'one', 'one-json.log');
    let w = new JsonFileWriter({ path: file, maxSize: 150, maxFile: 1 }, log);
    for (let i = 0; i < 5; i++) w.write('stdout', [Buffer.from(`n${i}\n`)]);
    w.close();
    expect(fs.readdirSync(path.dirname(file))).toEqual(['one-json.log']);
    expect(lines(file).map((e) => e.log)).toEqual(['n4\n']);
    w = new JsonFileWriter({ path: file, maxSize: 0, maxFile: 1 }, log);
    w.write('stdout', [Buffer.from('n5\n')]);
    w.close();
    expect(lines(file).map((e) => e.log)).toEqual(['n4\n', 'n5\n']);
  });
});

describe('LineSplitter', () => {
  it('cuts at newlines across chunks, holds a partial line, cuts a long one at 16K, and gives the rest at the end', () => {
    const s = new LineSplitter();
    expect(s.push(Buffer.from('a\nb')).map(String)).toEqual(['a\n']);
    expect(s.push(Buffer.from('c\n\nd')).map(String)).toEqual(['bc\n', '\n']);
    expect(s.end().map(String)).toEqual(['d']);
    expect(s.end()).toEqual([]);
    const long = s.push(Buffer.alloc(maxLineBytes + 10, 'x'));
    expect(long.map((b) => b.length)).toEqual([maxLineBytes]);
    expect(s.push(Buffer.from('y\n')).map((b) => b.length)).toEqual([12]);
  });
});

describe('json-file URIs and times', () => {
  it('round-trips the URI, and refuses what is not one of ours, naming it', () => {
    const uri = jsonFileUri({ path: '/var/lib/ctrd/io.ctrd.logs/default/c 1/c-json.log', maxSize: 10 << 20, maxFile: 3, openStdin: true });
    expect(uri).toBe('json-file:///var/lib/ctrd/io.ctrd.logs/default/c%201/c-json.log?max-size=10485760&max-file=3&open-stdin=1');
    expect(parseJsonFileUri(uri)).toEqual({ path: '/var/lib/ctrd/io.ctrd.logs/default/c 1/c-json.log', maxSize: 10 << 20, maxFile: 3, openStdin: true });
    expect(parseJsonFileUri('json-file:///x/l.log')).toEqual({ path: '/x/l.log', maxSize: 0, maxFile: 1, openStdin: false });
    expect(errorOf(() => parseJsonFileUri('json-file://host/x.log')).message).toContain('must be absolute');
    expect(errorOf(() => parseJsonFileUri('json-file:///x/..%2Fetc/x.log')).message).toContain('bad log path');
    expect(errorOf(() => parseJsonFileUri('json-file:///x.log?max-file=0')).message).toContain('max-file must be an integer, at least 1');
    expect(errorOf(() => parseJsonFileUri('json-file:///x.log?compress=1'))).toMatchObject({ kind: 'invalid-argument', message: expect.stringContaining('unknown option compress') });
  });

  it('reads docker sizes (binary units) and RFC 3339 times to the nanosecond', () => {
    expect(parseLogSize('10m')).toBe(10 * 1024 * 1024);
    expect(parseLogSize('1k')).toBe(1024);
    expect(parseLogSize('2GB')).toBe(2 * 1024 ** 3);
    expect(parseLogSize('512')).toBe(512);
    expect(parseLogSize('-1')).toBe(0);
    expect(errorOf(() => parseLogSize('ten')).message).toBe("invalid size: 'ten'");
    expect(parseTimeNs('2023-11-14T22:13:20.123456789Z')).toBe(1_700_000_000_123_456_789n);
    expect(parseTimeNs('2023-11-14T23:13:20.5+01:00')).toBe(1_700_000_000_500_000_000n);
    expect(parseTimeNs('yesterday')).toBeUndefined();
    expect(formatTimeNs(1_700_000_000_000_000_001n)).toBe('2023-11-14T22:13:20.000000001Z');
  });
});
