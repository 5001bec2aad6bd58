// The classic Dockerfile syntax, as docker's builder reads it: parser directives at the very top (`# syntax=`,
// `# escape=`), comments, line continuations (the escape character at the end of a line; comment lines inside
// a continuation dropped, empty ones allowed with a warning), instruction keywords in any case, and each
// instruction's arguments and flags. No variable is expanded here (expand.ts does that, step by step).
// Heredocs (`RUN <<EOF`) and BuildKit's flags are refused, naming the line. Every error starts with
// `<file>:<line>:<column>: `.
import { invalidArgument } from '../errdefs.js';
import type {
  ArgInstruction,
  CopyInstruction,
  Dockerfile,
  EscapeChar,
  FromInstruction,
  HealthcheckConfig,
  Instruction,
  InstructionBase,
  SourcePos,
  Stage,
} from './types.js';

const directive = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.*?)\s*$/;
const stageName = /^[a-z][a-z0-9-_.]*$/;
const argName = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The flags each instruction takes (name: takes a value). */
const allowedFlags: Readonly<Record<string, Readonly<Record<string, boolean>>>> = {
  FROM: { platform: true },
  COPY: { from: true, chown: true, chmod: true },
  ADD: { chown: true, chmod: true },
  HEALTHCHECK: { interval: true, timeout: true, 'start-period': true, 'start-interval': true, retries: true },
};

const keywords = new Set(['FROM', 'RUN', 'CMD', 'ENTRYPOINT', 'ENV', 'ARG', 'LABEL', 'MAINTAINER', 'EXPOSE', 'WORKDIR', 'USER', 'VOLUME', 'COPY', 'ADD', 'SHELL', 'STOPSIGNAL', 'HEALTHCHECK', 'ONBUILD']);

/** Where an instruction is, for its errors. */
interface Where {
  file: string;
  pos: SourcePos;
  endLine: number;
  original: string;
}

const fail = (w: { file: string; pos: SourcePos }, message: string, columnOffset = 0) =>
  invalidArgument(`${w.file}:${w.pos.line}:${w.pos.column + columnOffset}: ${message}`);

const isBlank = (line: string) => line.trim() === '';
const isComment = (line: string) => /^\s*#/.test(line);

/** A logical line: the physical lines of one instruction, continuations joined. */
interface LogicalLine {
  line: number;
  endLine: number;
  text: string;
}

function logicalLines(lines: readonly string[], from: number, escape: EscapeChar, warnings: string[]): LogicalLine[] {
  const continuation = escape === '\\' ? /\\[ \t]*$/ : /`[ \t]*$/;
  const out: LogicalLine[] = [];
  let i = from;
  while (i < lines.length) {
    const first = lines[i]!;
    const line = i + 1;
    i++;
    if (isBlank(first) || isComment(first)) continue;
    let text = '';
    let current = first;
    let endLine = line;
    let emptyContinuation = false;
    for (;;) {
      const m = continuation.exec(current);
      if (!m) {
        text += current;
        break;
      }
      text += current.slice(0, m.index);
      let next: string | undefined;
      while (i < lines.length) {
        const candidate = lines[i]!;
        i++;
        if (isComment(candidate)) continue;
        if (isBlank(candidate)) {
          emptyContinuation = true;
          continue;
        }
        next = candidate;
        break;
      }
      if (next === undefined) break;
      current = next;
      endLine = i;
    }
    if (emptyContinuation) warnings.push(`Empty continuation line found in: ${text.trim()}`);
    out.push({ line, endLine, text });
  }
  return out;
}

export function parseDockerfile(text: string, file = 'Dockerfile'): Dockerfile {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let escape: EscapeChar = '\\';
  let syntax: string | undefined;
  const seen = new Set<string>();
  let i = 0;
  for (; i < lines.length; i++) {
    const m = directive.exec(lines[i]!);
    const name = m?.[1]!.toLowerCase();
    if (!m || (name !== 'escape' && name !== 'syntax')) break;
    const where = { file, pos: { line: i + 1, column: 1 } };
    if (seen.has(name)) throw fail(where, `only one ${name} parser directive can be used`);
    seen.add(name);
    if (name === 'syntax') syntax = m[2]!;
    else if (m[2] === '\\' || m[2] === '`') escape = m[2];
    else throw fail(where, `invalid escape token '${m[2]}' does not match \` or \\`);
  }
  const warnings: string[] = [];
  const globalArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  const logical = logicalLines(lines, i, escape, warnings);
  if (logical.length === 0) throw invalidArgument(`the Dockerfile (${file}) cannot be empty`);
  for (const l of logical) {
    const inst = parseLogical(l, escape, file);
    if (inst.kind === 'FROM') {
      if (inst.alias !== undefined && stages.some((s) => s.name === inst.alias)) throw fail({ file, pos: inst.pos }, `duplicate name ${inst.alias}`);
      stages.push({ index: stages.length, ...(inst.alias !== undefined ? { name: inst.alias } : {}), from: inst, instructions: [] });
    } else if (stages.length > 0) stages[stages.length - 1]!.instructions.push(inst);
    else if (inst.kind === 'ARG') globalArgs.push(inst);
    else throw fail({ file, pos: inst.pos }, 'no build stage in current context');
  }
  if (stages.length === 0) throw invalidArgument(`${file}: dockerfile contains no stages to build`);
  return { escape, ...(syntax !== undefined ? { syntax } : {}), globalArgs, stages, warnings };
}

/** One instruction line, as an ONBUILD trigger stored in an image config. */
export function parseInstruction(line: string, escape: EscapeChar = '\\', file = 'Dockerfile'): Instruction {
  return parseLogical({ line: 1, endLine: 1, text: line }, escape, file);
}

function parseLogical(l: LogicalLine, escape: EscapeChar, file: string): Instruction {
  const m = /^(\s*)(\S+)(\s*)([\s\S]*)$/.exec(l.text)!;
  const keyword = m[2]!.toUpperCase();
  const where: Where = { file, pos: { line: l.line, column: m[1]!.length + 1 }, endLine: l.endLine, original: l.text.trim() };
  if (!keywords.has(keyword)) throw fail(where, `unknown instruction: ${keyword}`);
  const restOffset = m[1]!.length + m[2]!.length + m[3]!.length;
  return parseArguments(keyword, m[4]!.trimEnd(), restOffset, where, escape);
}

/** The flags at the start of an instruction's arguments (`--name=value`), and what follows them. */
function takeFlags(keyword: string, rest: string, offset: number, where: Where): { flags: Map<string, string>; rest: string; offset: number } {
  const flags = new Map<string, string>();
  const allowed = allowedFlags[keyword] ?? {};
  let s = rest;
  let at = offset;
  for (;;) {
    const m = /^--([A-Za-z][A-Za-z0-9-]*)(?:=(\S*))?(\s+|$)/.exec(s);
    if (!m) break;
    const name = m[1]!;
    if (!(name in allowed)) throw fail(where, `unknown flag: --${name}`, at);
    if (allowed[name] && m[2] === undefined) throw fail(where, `missing a value on flag: --${name}`, at);
    if (flags.has(name)) throw fail(where, `duplicate flag specified: --${name}`, at);
    flags.set(name, m[2] ?? '');
    s = s.slice(m[0].length);
    at += m[0].length;
  }
  return { flags, rest: s, offset: at };
}

/** Words split on blanks outside quotes, quotes and escapes kept as written (the lexer removes them later). */
export function rawWords(text: string, escape: EscapeChar): string[] {
  const out: string[] = [];
  let word = '';
  let quote: string | undefined;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === escape && quote !== "'" && i + 1 < text.length) {
      word += ch + text[++i];
      inWord = true;
    } else if (quote) {
      word += ch;
      if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      word += ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) out.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (inWord) out.push(word);
  return out;
}

/** docker's parseMaybeJSON: a JSON array of strings, or undefined for anything else. */
function jsonArray(text: string): string[] | undefined {
  const t = text.trim();
  if (!t.startsWith('[')) return undefined;
  try {
    const v: unknown = JSON.parse(t);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch {
    // Not JSON: the shell form.
  }
  return undefined;
}

const heredoc = /(^|\s)<<-?\s*["']?[A-Za-z_][A-Za-z0-9_]*["']?/;

function parseArguments(keyword: string, restIn: string, offsetIn: number, where: Where, escape: EscapeChar): Instruction {
  const base: InstructionBase = { pos: where.pos, endLine: where.endLine, original: where.original };
  const { flags, rest, offset } = takeFlags(keyword, restIn, offsetIn, where);
  const text = rest.trim();
  const need = (ok: boolean, message: string) => {
    if (!ok) throw fail(where, message, offset);
  };
  if (['RUN', 'COPY', 'ADD'].includes(keyword)) {
    const h = heredoc.exec(text);
    if (h) throw fail(where, `heredocs are not supported by ctrd's classic builder: ${h[0].trim()}`, offset + rest.indexOf(h[0].trim()));
  }
  switch (keyword) {
    case 'FROM': {
      const words = rawWords(text, escape);
      need(words.length === 1 || (words.length === 3 && words[1]!.toUpperCase() === 'AS'), 'FROM requires either one or three arguments');
      const inst: FromInstruction = { ...base, kind: 'FROM', image: words[0]! };
      if (words.length === 3) {
        const alias = words[2]!.toLowerCase();
        need(stageName.test(alias), `invalid name for build stage: "${words[2]}", name can't start with a number or contain symbols`);
        inst.alias = alias;
      }
      if (flags.has('platform')) inst.platform = flags.get('platform')!;
      return inst;
    }
    case 'RUN':
    case 'CMD':
    case 'ENTRYPOINT': {
      const json = jsonArray(text);
      if (json) return { ...base, kind: keyword, form: 'exec', args: json };
      need(text !== '', `${keyword} requires at least one argument`);
      return { ...base, kind: keyword, form: 'shell', args: [text] };
    }
    case 'ENV':
    case 'LABEL':
      return { ...base, kind: keyword, pairs: nameValues(keyword, text, escape, where, offset) };
    case 'ARG': {
      const words = rawWords(text, escape);
      need(words.length > 0, 'ARG requires at least one argument');
      return {
        ...base,
        kind: 'ARG',
        args: words.map((w) => {
          const eq = w.indexOf('=');
          const name = eq < 0 ? w : w.slice(0, eq);
          need(argName.test(name), `invalid ARG name "${name}"`);
          return eq < 0 ? { name } : { name, default: w.slice(eq + 1) };
        }),
      };
    }
    case 'MAINTAINER':
      need(text !== '', 'MAINTAINER requires exactly one argument');
      return { ...base, kind: 'MAINTAINER', name: text };
    case 'EXPOSE': {
      const words = rawWords(text, escape);
      need(words.length > 0, 'EXPOSE requires at least one argument');
      return { ...base, kind: 'EXPOSE', values: words };
    }
    case 'VOLUME': {
      const values = jsonArray(text) ?? rawWords(text, escape);
      need(values.length > 0, 'VOLUME requires at least one argument');
      return { ...base, kind: 'VOLUME', values };
    }
    case 'WORKDIR':
    case 'USER':
    case 'STOPSIGNAL': {
      const words = rawWords(text, escape);
      need(words.length === 1, `${keyword} requires exactly one argument`);
      return { ...base, kind: keyword, value: words[0]! };
    }
    case 'COPY':
    case 'ADD': {
      const words = jsonArray(text) ?? rawWords(text, escape);
      need(words.length >= 2, `${keyword} requires at least two arguments, but only ${words.length === 1 ? 'one was' : 'none were'} provided. Destination could not be determined.`);
      const inst: CopyInstruction = { ...base, kind: keyword, sources: words.slice(0, -1), dest: words[words.length - 1]! };
      for (const f of ['from', 'chown', 'chmod'] as const) if (flags.has(f)) inst[f] = flags.get(f)!;
      return inst;
    }
    case 'SHELL': {
      const json = jsonArray(text);
      need(json !== undefined, 'SHELL requires the arguments to be in JSON form');
      need(json!.length > 0, 'SHELL requires at least one argument');
      return { ...base, kind: 'SHELL', args: json! };
    }
    case 'HEALTHCHECK':
      return { ...base, kind: 'HEALTHCHECK', config: healthcheck(text, flags, where, offset) };
    case 'ONBUILD': {
      need(text !== '', 'ONBUILD requires at least one argument');
      const m = /^(\S+)(\s*)([\s\S]*)$/.exec(text)!;
      const inner = m[1]!.toUpperCase();
      if (inner === 'ONBUILD') throw fail(where, 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed', offset);
      if (inner === 'FROM' || inner === 'MAINTAINER') throw fail(where, `${inner} isn't allowed as an ONBUILD trigger`, offset);
      if (!keywords.has(inner)) throw fail(where, `unknown instruction: ${inner}`, offset);
      const triggerText = `${inner} ${m[3]!}`.trim();
      const instruction = parseArguments(inner, m[3]!, offset + m[1]!.length + m[2]!.length, { ...where, original: triggerText }, escape);
      return { ...base, kind: 'ONBUILD', trigger: triggerText, instruction };
    }
  }
  throw fail(where, `unknown instruction: ${keyword}`);
}

/** ENV and LABEL: `k=v k2="v 2"`, or the old form `k value with spaces` (one pair). */
function nameValues(keyword: string, text: string, escape: EscapeChar, where: Where, offset: number): Array<{ key: string; value: string }> {
  const words = rawWords(text, escape);
  if (words.length === 0) throw fail(where, `${keyword} requires at least one argument`, offset);
  if (!words[0]!.includes('=')) {
    const m = /^(\S+)\s+([\s\S]*\S)\s*$/.exec(text);
    if (!m) throw fail(where, `${keyword} must have two arguments`, offset);
    return [{ key: m[1]!, value: m[2]! }];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) throw fail(where, `Syntax error - can't find = in "${w}". Must be of the form: name=value`, offset);
    if (eq === 0) throw fail(where, `${keyword} names can not be blank`, offset);
    return { key: w.slice(0, eq), value: w.slice(eq + 1) };
  });
}

const durationUnits: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A Go duration ("30s", "1m30s", "500ms") in nanoseconds; undefined when malformed. */
export function parseDuration(value: string): number | undefined {
  if (value === '0') return 0;
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) return undefined;
  return Math.round(parts.reduce((n, p) => n + Number(p[1]) * durationUnits[p[2]!]!, 0));
}

function healthcheck(text: string, flags: Map<string, string>, where: Where, offset: number): HealthcheckConfig {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(text);
  if (!m) throw fail(where, 'HEALTHCHECK requires at least one argument', offset);
  const type = m[1]!.toUpperCase();
  if (type === 'NONE') {
    if (m[2] !== '' || flags.size > 0) throw fail(where, 'HEALTHCHECK NONE takes no arguments', offset);
    return { Test: ['NONE'] };
  }
  if (type !== 'CMD') throw fail(where, `Unknown type "${m[1]}" in HEALTHCHECK (try CMD)`, offset);
  const json = jsonArray(m[2]!);
  if (!json && m[2] === '') throw fail(where, 'Missing command after HEALTHCHECK CMD', offset);
  const config: HealthcheckConfig = { Test: json ? ['CMD', ...json] : ['CMD-SHELL', m[2]!] };
  const durations = { interval: 'Interval', timeout: 'Timeout', 'start-period': 'StartPeriod', 'start-interval': 'StartInterval' } as const;
  for (const [flag, field] of Object.entries(durations)) {
    const v = flags.get(flag);
    if (v === undefined) continue;
    const ns = parseDuration(v);
    if (ns === undefined) throw fail(where, `time: invalid duration "${v}" in --${flag}`, offset);
    if (ns !== 0 && ns < 1e6) throw fail(where, `Interval "${flag}" cannot be less than 1ms`, offset);
    config[field] = ns;
  }
  const retries = flags.get('retries');
  if (retries !== undefined) {
    if (!/^\d+$/.test(retries)) throw fail(where, `--retries must be a non-negative number: "${retries}"`, offset);
    config.Retries = Number(retries);
  }
  return config;
}
