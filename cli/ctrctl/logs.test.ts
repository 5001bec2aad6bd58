// What logs and run's --log-opt take, as docker takes them.
import { describe, expect, it } from 'vitest';
import { errorOf } from '../../test/harness/errors.js';
import { logPathOf, parseLogOpts, parseLogTime } from './logs.js';

describe('parseLogOpts', () => {
  it('reads max-size (binary units, -1 for no limit) and max-file; 0 where not given', () => {
    expect(parseLogOpts([])).toEqual({ maxSize: 0, maxFile: 0 });
    expect(parseLogOpts(['max-size=10m', 'max-file=3'])).toEqual({ maxSize: 10 * 1024 * 1024, maxFile: 3 });
    expect(parseLogOpts(['max-size=-1'])).toEqual({ maxSize: -1, maxFile: 0 });
  });

  it('refuses what docker refuses, naming it', () => {
    expect(errorOf(() => parseLogOpts(['max-size=abc'])).message).toBe("invalid size: 'abc'");
    expect(errorOf(() => parseLogOpts(['max-file=0'])).message).toContain("invalid value for max-file: '0'");
    expect(errorOf(() => parseLogOpts(['compress=true'])).message).toBe("unknown log opt 'compress' for json-file log driver");
    expect(errorOf(() => parseLogOpts(['max-size'])).kind).toBe('invalid-argument');
  });
});

describe('parseLogTime', () => {
  const now = Date.UTC(2024, 0, 2, 12, 0, 0);
  it('takes Go durations before now, Unix seconds and RFC 3339 times', () => {
    expect(parseLogTime('10m', now).getTime()).toBe(now - 600_000);
    expect(parseLogTime('1h30m', now).getTime()).toBe(now - 5_400_000);
    expect(parseLogTime('1500ms', now).getTime()).toBe(now - 1500);
    expect(parseLogTime('1704196800', now).getTime()).toBe(now);
    expect(parseLogTime('1704196800.25', now).getTime()).toBe(now + 250);
    expect(parseLogTime('2024-01-02T12:00:00.5Z', now).getTime()).toBe(now + 500);
    expect(parseLogTime('2024-01-02T13:00:00+01:00', now).getTime()).toBe(now);
    expect(errorOf(() => parseLogTime('soon', now)).message).toContain("invalid value for time: 'soon'");
  });
});

describe('logPathOf', () => {
  it("is the label's json-file path, or nothing", () => {
    expect(logPathOf({ 'containerd.io/restart.loguri': 'json-file:///var/lib/ctrd/io.ctrd.logs/default/c/c-json.log?max-size=0&max-file=1' })).toBe(
      '/var/lib/ctrd/io.ctrd.logs/default/c/c-json.log',
    );
    expect(logPathOf({ 'containerd.io/restart.loguri': 'file:///x.log' })).toBe('');
    expect(logPathOf({})).toBe('');
  });
});
