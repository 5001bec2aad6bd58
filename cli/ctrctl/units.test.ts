// go-units and Go's fmt as docker prints with them: sizes (%g with its rounding and e+XX), durations, times.
import { describe, expect, it } from 'vitest';
import { createdSince, goFormatG, goTimeString, humanDuration, humanSize, parseGoDuration, parseTimeArg } from './units.js';

describe('docker units', () => {
  it('sizes: decimal units, 3 or 4 significant digits as %g prints them', () => {
    const cases: Array<[number, number, string]> = [
      [0, 3, '0B'],
      [1, 3, '1B'],
      [999, 3, '999B'],
      [1000, 3, '1kB'],
      [4_261_550, 3, '4.26MB'],
      [4_261_550, 4, '4.262MB'],
      [12_000, 3, '12kB'],
      [100_000, 3, '100kB'],
      [1_234_567_890_123, 4, '1.235TB'],
      // %g's exponent form, which docker shows as is
      [999_900, 3, '1e+03kB'],
      // the float quotient decides: 1.015 is 1.01499... so it rounds down; 4.125 and 4.375 are exact halves, to even
      [1015, 3, '1.01kB'],
      [4125, 3, '4.12kB'],
      [4375, 3, '4.38kB'],
      [4135, 3, '4.13kB'],
    ];
    for (const [bytes, precision, text] of cases) expect(humanSize(bytes, precision), `${bytes}`).toBe(text);
  });

  it('%g: fixed below the precision, exponent form past it, trailing zeros dropped', () => {
    expect(goFormatG(12.5, 3)).toBe('12.5');
    expect(goFormatG(4.2, 3)).toBe('4.2');
    expect(goFormatG(100, 3)).toBe('100');
    expect(goFormatG(0.0001234, 3)).toBe('0.000123');
    expect(goFormatG(0.00001234, 3)).toBe('1.23e-05');
    expect(goFormatG(1e21, 4)).toBe('1e+21');
    expect(goFormatG(-2.5, 1)).toBe('-2');
  });

  it('durations: go-units HumanDuration', () => {
    const s = 1000;
    const h = 3600 * s;
    expect(humanDuration(500)).toBe('Less than a second');
    expect(humanDuration(1 * s)).toBe('1 second');
    expect(humanDuration(59 * s)).toBe('59 seconds');
    expect(humanDuration(61 * s)).toBe('About a minute');
    expect(humanDuration(59 * 60 * s)).toBe('59 minutes');
    expect(humanDuration(h + 20 * 60 * s)).toBe('About an hour');
    expect(humanDuration(2 * h + 5 * 60 * s)).toBe('2 hours');
    expect(humanDuration(47 * h)).toBe('47 hours');
    expect(humanDuration(3 * 24 * h)).toBe('3 days');
    expect(humanDuration(15 * 24 * h)).toBe('2 weeks');
    expect(humanDuration(90 * 24 * h)).toBe('3 months');
    expect(humanDuration(800 * 24 * h)).toBe('2 years');
  });

  it('created: "ago" from whole seconds, N/A when unknown; Go time.String', () => {
    const now = Date.parse('2024-01-01T03:00:00Z');
    expect(createdSince(new Date('2024-01-01T00:55:00Z'), now)).toBe('2 hours ago');
    expect(createdSince(undefined, now)).toBe('N/A');
    if (new Date().getTimezoneOffset() === 0) expect(goTimeString(new Date('2024-01-01T00:00:00Z'))).toBe('2024-01-01 00:00:00 +0000 UTC');
    expect(goTimeString(new Date('2024-06-01T12:34:56Z'))).toMatch(/^2024-06-0[12] \d\d:\d\d:56 [+-]\d{4} \S+$/);
  });
});

describe('docker timestamps', () => {
  const now = Date.parse('2026-01-02T03:04:05Z');
  it('reads durations back from now, Unix seconds and RFC 3339', () => {
    expect(parseGoDuration('1h30m')).toBe(5_400_000);
    expect(parseGoDuration('1.5s')).toBe(1500);
    expect(parseGoDuration('10')).toBeUndefined();
    expect(parseTimeArg('10m', now)?.toISOString()).toBe('2026-01-02T02:54:05.000Z');
    expect(parseTimeArg('1700000000', now)?.toISOString()).toBe('2023-11-14T22:13:20.000Z');
    expect(parseTimeArg('1700000000.5', now)?.getTime()).toBe(1_700_000_000_500);
    expect(parseTimeArg('2026-01-01T00:00:00Z', now)?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(parseTimeArg('2026-01-01', now)?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(parseTimeArg('yesterday', now)).toBeUndefined();
    expect(parseTimeArg('2026-13-45', now)).toBeUndefined();
  });
});
