// docker's network filters: for ls (name, id, label, driver, type, dangling) and prune (label, label!, until).
import { invalidArgument } from '../../lib/errdefs.js';
import type { Network } from './store.js';

export interface NetworkFacts {
  network: Network;
  /** Endpoints on it. */
  used: boolean;
}

const listKeys = new Set(['name', 'id', 'label', 'driver', 'type', 'dangling']);
const pruneKeys = new Set(['label', 'label!', 'until']);

function labelMatches(filter: string, labels: Readonly<Record<string, string>>): boolean {
  const eq = filter.indexOf('=');
  if (eq < 0) return Object.hasOwn(labels, filter);
  return labels[filter.slice(0, eq)] === filter.slice(eq + 1);
}

/** "2h", "90m", "10s" ago, an RFC 3339 time or Unix seconds, as docker's until. */
function untilOf(value: string, now = Date.now()): number {
  const rel = /^(\d+(?:\.\d+)?)(h|m|s)$/.exec(value);
  if (rel) return now - Number(rel[1]) * { h: 3_600_000, m: 60_000, s: 1000 }[rel[2] as 'h' | 'm' | 's'];
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw invalidArgument(`invalid filter 'until=${value}': not a duration, timestamp or date`);
  return t;
}

/** A predicate over networks for the given filters (KEY=VALUE each); unknown keys are refused. */
export function networkFilter(filters: readonly string[], prune: boolean): (f: NetworkFacts) => boolean {
  const keys = prune ? pruneKeys : listKeys;
  const parsed = filters.map((f) => {
    const eq = f.indexOf('=');
    let key = eq < 0 ? f : f.slice(0, eq);
    let value = eq < 0 ? '' : f.slice(eq + 1);
    // label!=k=v arrives as key "label!" (the = of != split off above).
    if (key.endsWith('!') && !keys.has(key)) key = key.slice(0, -1);
    if (!keys.has(key)) throw invalidArgument(`invalid filter '${key}'`);
    if (value === '') throw invalidArgument(`invalid filter '${f}': a value is needed`);
    if (key === 'type' && value !== 'builtin' && value !== 'custom') throw invalidArgument(`invalid filter 'type=${value}': builtin or custom`);
    if (key === 'dangling' && !/^(true|false|1|0)$/i.test(value)) throw invalidArgument(`invalid filter 'dangling=${value}'`);
    if (key === 'until') value = String(untilOf(value));
    return { key, value };
  });
  const byKey = (key: string) => parsed.filter((p) => p.key === key).map((p) => p.value);
  const any = <T>(values: T[], test: (v: T) => boolean) => values.length === 0 || values.some(test);
  return ({ network: n, used }) =>
    any(byKey('name'), (v) => n.name.includes(v)) &&
    any(byKey('id'), (v) => n.id.startsWith(v)) &&
    byKey('label').every((v) => labelMatches(v, n.labels)) &&
    byKey('label!').every((v) => !labelMatches(v, n.labels)) &&
    any(byKey('driver'), (v) => n.driver === v) &&
    any(byKey('type'), (v) => (v === 'builtin') === n.isDefault) &&
    any(byKey('dangling'), (v) => /^(true|1)$/i.test(v) === !used) &&
    byKey('until').every((v) => n.createdAt.getTime() < Number(v));
}
