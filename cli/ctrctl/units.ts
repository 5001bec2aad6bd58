// Sizes, durations and times as docker prints them (github.com/docker/go-units and Go's fmt and time), so that
// ctrctl's columns read exactly like docker's: "4.26MB", "1e+03kB", "2 hours ago", "2024-01-01 00:00:00 +0000 UTC".

const decimalUnits = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];

/** The exact decimal digits of a finite positive double, without leading or trailing zeros, and its point. */
function exactDigits(v: number): { digits: string; dp: number } {
  // Up to 100 significant digits is exact for any double below 1e21 that go-units hands to %g (always < 1000).
  const [mantissa = '', exponent] = v.toPrecision(100).split('e');
  const [int = '', frac = ''] = mantissa.split('.');
  let digits = int + frac;
  let dp = int.length + (exponent ? Number(exponent) : 0);
  const lead = /^0*/.exec(digits)![0].length;
  digits = digits.slice(lead).replace(/0+$/, '');
  dp -= lead;
  return { digits, dp };
}

/** Rounds to n significant digits as Go's strconv does: to nearest, exact halves to even. */
function roundDigits(digits: string, dp: number, n: number): { digits: string; dp: number } {
  if (digits.length <= n) return { digits, dp };
  const next = digits.charCodeAt(n) - 48;
  const rest = digits.slice(n + 1);
  const up = next > 5 || (next === 5 && (/[1-9]/.test(rest) || (n > 0 && (digits.charCodeAt(n - 1) - 48) % 2 === 1)));
  let kept = digits.slice(0, n);
  if (up) {
    let i = kept.length - 1;
    while (i >= 0 && kept[i] === '9') i--;
    if (i < 0) return { digits: '1', dp: dp + 1 };
    kept = kept.slice(0, i) + String.fromCharCode(kept.charCodeAt(i) + 1);
  }
  return { digits: kept.replace(/0+$/, ''), dp };
}

/** fmt.Sprintf("%.<precision>g", v): Go's %g, trailing zeros dropped, e+XX past the precision. */
export function goFormatG(v: number, precision: number): string {
  if (v === 0) return '0';
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
  const sign = v < 0 ? '-' : '';
  const p = Math.max(1, precision);
  const exact = exactDigits(Math.abs(v));
  const { digits, dp } = roundDigits(exact.digits, exact.dp, p);
  const nd = digits.length;
  const digit = (j: number) => (j >= 0 && j < nd ? digits[j]! : '0');
  // strconv's 'g': %e when the exponent is below -4 or reaches the precision (or the digits, when fewer).
  let eprec = p;
  if (eprec > nd && nd >= dp) eprec = nd;
  const exp = dp - 1;
  if (exp < -4 || exp >= eprec) {
    const frac = digits.slice(1, Math.min(p, nd));
    const e = Math.abs(exp);
    return `${sign}${digits[0]}${frac ? `.${frac}` : ''}e${exp < 0 ? '-' : '+'}${e < 10 ? `0${e}` : e}`;
  }
  const decimals = Math.max((p > dp ? nd : p) - dp, 0);
  let int = '0';
  if (dp > 0) int = Array.from({ length: dp }, (_, j) => digit(j)).join('');
  const frac = Array.from({ length: decimals }, (_, i) => digit(dp + i)).join('');
  return `${sign}${int}${decimals > 0 ? `.${frac}` : ''}`;
}

/** go-units HumanSizeWithPrecision: decimal units; docker lists image sizes with 3 digits, totals with 4. */
export function humanSize(bytes: number, precision = 4): string {
  let size = bytes;
  let unit = 0;
  while (size >= 1000 && unit < decimalUnits.length - 1) {
    size /= 1000;
    unit++;
  }
  return `${goFormatG(size, precision)}${decimalUnits[unit]}`;
}

/** go-units HumanDuration: "Less than a second", "About a minute", "3 hours", "2 weeks"... */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(ms / 3_600_000 / 24 / 365)} years`;
}

/** "2 hours ago", from whole seconds as docker has them; "N/A" when the time is not known. */
export function createdSince(created: Date | undefined, now = Date.now()): string {
  if (!created) return 'N/A';
  return `${humanDuration(now - Math.floor(created.getTime() / 1000) * 1000)} ago`;
}

const pad = (n: number, width = 2) => String(Math.abs(n)).padStart(width, '0');

/** The local time zone's short name, as Go prints it after the offset ("UTC", "CET", or "+0530"). */
function zoneName(date: Date, offsetMinutes: number): string {
  const name = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' })
    .formatToParts(date)
    .find((p) => p.type === 'timeZoneName')?.value;
  if (name && !/^(GMT|UTC)[+-]/.test(name)) return name === 'GMT' && offsetMinutes === 0 ? 'UTC' : name;
  const sign = offsetMinutes < 0 ? '-' : '+';
  const h = Math.trunc(Math.abs(offsetMinutes) / 60);
  const m = Math.abs(offsetMinutes) % 60;
  return `${sign}${pad(h)}${m ? pad(m) : ''}`;
}

/** Go's time.Time.String() of a whole-second time in the local zone: "2024-01-01 00:00:00 +0000 UTC". */
export function goTimeString(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ` +
    `${sign}${pad(Math.trunc(Math.abs(offset) / 60))}${pad(Math.abs(offset) % 60)} ${zoneName(date, offset)}`
  );
}

/** Go's time.RFC3339 in the local zone, as `docker history --human=false` prints CREATED AT. */
export function rfc3339(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const zone = offset === 0 ? 'Z' : `${offset < 0 ? '-' : '+'}${pad(Math.trunc(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}${zone}`
  );
}

const durationUnits: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration ("10m", "1h30m", "1.5s") in milliseconds; undefined when it is not one. */
export function parseGoDuration(value: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(value)) return undefined;
  let ms = 0;
  for (const [, n, unit] of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(n) * durationUnits[unit!]!;
  return ms;
}

/**
 * docker's timestamps for --since, --until and the until filter: a Go duration back from now ("10m"), Unix
 * seconds ("1700000000", "1700000000.5"), or an RFC 3339 date or date-time. Undefined when none fits.
 */
export function parseTimeArg(value: string, now = Date.now()): Date | undefined {
  const ago = parseGoDuration(value);
  if (ago !== undefined) return new Date(now - ago);
  if (/^\d+(\.\d+)?$/.test(value)) return new Date(Number(value) * 1000);
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) {
    const d = new Date(value.includes('T') || value.includes(' ') ? value.replace(' ', 'T') : `${value}T00:00:00Z`);
    return Number.isNaN(d.getTime()) ? undefined : d;
  }
  return undefined;
}

/** go-units' BytesSize (binary units, as docker info prints Total Memory): "7.764GiB". */
export function humanBinarySize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${goFormatG(v, 4)}${units[i]}`;
}
