// docker commit --change and docker import --change: Dockerfile instructions applied to an image config's
// "config" object. Only the instructions docker takes there: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER,
// WORKDIR, VOLUME, STOPSIGNAL; anything else is InvalidArgument, as docker says it.
import { posix } from 'node:path';
import { invalidArgument } from '../../lib/errdefs.js';

/** The docker image config's "config" object, the fields --change can touch (others are kept as they are). */
export interface RunConfig {
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  Env?: string[] | null;
  ExposedPorts?: Record<string, object> | null;
  Labels?: Record<string, string> | null;
  User?: string;
  WorkingDir?: string;
  Volumes?: Record<string, object> | null;
  StopSignal?: string;
  [key: string]: unknown;
}

const allowed = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'USER', 'WORKDIR', 'VOLUME', 'STOPSIGNAL'];

/** Applies each change in order to a copy of config. */
export function applyChanges(config: RunConfig, changes: readonly string[]): RunConfig {
  const out: RunConfig = { ...config };
  for (const change of changes) applyOne(out, change);
  return out;
}

function applyOne(c: RunConfig, change: string): void {
  const text = change.replace(/\\\r?\n/g, ' ').trim();
  if (text === '') return;
  const m = /^(\S+)\s*([\s\S]*)$/.exec(text)!;
  const instruction = m[1]!.toUpperCase();
  const rest = m[2]!.trim();
  if (!allowed.includes(instruction)) throw invalidArgument(`${m[1]} is not a valid change command`);
  const need = () => {
    if (rest === '') throw invalidArgument(`${instruction} requires at least one argument`);
  };
  switch (instruction) {
    case 'CMD':
      c.Cmd = commandForm(rest, instruction);
      return;
    case 'ENTRYPOINT':
      c.Entrypoint = commandForm(rest, instruction);
      return;
    case 'ENV': {
      need();
      const env = [...(c.Env ?? [])];
      for (const [k, v] of keyValues(rest, instruction, true)) {
        const i = env.findIndex((e) => e.split('=')[0] === k);
        if (i >= 0) env[i] = `${k}=${v}`;
        else env.push(`${k}=${v}`);
      }
      c.Env = env;
      return;
    }
    case 'LABEL': {
      need();
      const labels = { ...(c.Labels ?? {}) };
      for (const [k, v] of keyValues(rest, instruction, false)) labels[k] = v;
      c.Labels = labels;
      return;
    }
    case 'EXPOSE': {
      need();
      const ports = { ...(c.ExposedPorts ?? {}) };
      for (const p of words(rest)) for (const port of parsePorts(p)) ports[port] = {};
      c.ExposedPorts = ports;
      return;
    }
    case 'USER':
      need();
      c.User = words(rest)[0] ?? '';
      return;
    case 'WORKDIR': {
      need();
      const dir = unquote(rest);
      c.WorkingDir = posix.isAbsolute(dir) ? posix.normalize(dir) : posix.join('/', c.WorkingDir || '/', dir);
      return;
    }
    case 'VOLUME': {
      need();
      const volumes = { ...(c.Volumes ?? {}) };
      const list = rest.startsWith('[') ? jsonArray(rest, instruction) : words(rest);
      for (const v of list) {
        if (v.trim() === '') throw invalidArgument('VOLUME specified can not be an empty string');
        volumes[v] = {};
      }
      c.Volumes = volumes;
      return;
    }
    case 'STOPSIGNAL':
      need();
      c.StopSignal = words(rest)[0] ?? '';
      return;
  }
}

/** The exec form (a JSON array) as is; the shell form through /bin/sh -c. */
function commandForm(rest: string, instruction: string): string[] {
  if (rest.startsWith('[')) {
    try {
      return jsonArray(rest, instruction);
    } catch {
      // Not valid JSON: docker then takes it as the shell form.
    }
  }
  if (rest === '') throw invalidArgument(`${instruction} requires at least one argument`);
  return ['/bin/sh', '-c', rest];
}

function jsonArray(rest: string, instruction: string): string[] {
  let v: unknown;
  try {
    v = JSON.parse(rest);
  } catch {
    throw invalidArgument(`${instruction}: "${rest}" is not a JSON array of strings`);
  }
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalidArgument(`${instruction}: "${rest}" is not a JSON array of strings`);
  return v as string[];
}

/** Words split on blanks, double and single quotes and backslashes taken as the shell does. */
function words(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | undefined;
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote) throw invalidArgument(`unmatched quote in "${s}"`);
  if (inWord) out.push(cur);
  return out;
}

const unquote = (s: string) => words(s).join(' ');

/** "k=v k2='v 2'", or the old form "k v w" (one pair, value the rest) when allowed. */
function keyValues(rest: string, instruction: string, oldForm: boolean): Array<[string, string]> {
  const ws = words(rest);
  if (!ws[0]!.includes('=')) {
    if (!oldForm && ws.length < 2) throw invalidArgument(`${instruction} requires KEY=VALUE`);
    const m = /^\S+\s+([\s\S]*)$/.exec(rest);
    if (!m) throw invalidArgument(`${instruction} ${ws[0]} must have two arguments`);
    return [[ws[0]!, unquote(m[1]!)]];
  }
  return ws.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw invalidArgument(`${instruction}: "${w}" is not KEY=VALUE`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

/** "80", "80/udp", "8000-8002/tcp" as docker's port keys ("80/tcp"...). */
export function parsePorts(spec: string): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(spec);
  if (!m) throw invalidArgument(`invalid containerPort: ${spec}`);
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from < 1 || to > 65535 || to < from) throw invalidArgument(`invalid port range: ${spec}`);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  const out: string[] = [];
  for (let p = from; p <= to; p++) out.push(`${p}/${proto}`);
  return out;
}
