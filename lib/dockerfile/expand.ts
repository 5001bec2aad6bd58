// docker's variable substitution in Dockerfile words (buildkit's shell lexer): $VAR, ${VAR}, ${VAR:-word},
// ${VAR-word}, ${VAR:+word}, ${VAR+word}, ${VAR:?message}, ${VAR?message}; single quotes keep everything
// literal, double quotes keep blanks but expand; the escape character takes the next one literally (inside
// double quotes only before ", $ and itself). Quotes are removed. Applied where docker applies it: ADD, COPY,
// ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG defaults, and COPY/ADD's flags.
import { CtrdError, invalidArgument } from '../errdefs.js';
import type { EscapeChar, Instruction } from './types.js';

export type VarLookup = (name: string) => string | undefined;

export interface Expanded<T> {
  value: T;
  /** Every variable referenced, set or not. */
  referenced: string[];
}

class Lexer {
  private i = 0;

  constructor(
    private readonly s: string,
    private readonly vars: VarLookup,
    private readonly escape: EscapeChar,
    readonly refs: Set<string>,
  ) {}

  private fail(why: string): never {
    throw invalidArgument(`failed to process "${this.s}": ${why}`);
  }

  /** The word from here to its end (or to an unescaped stop character outside quotes, which is consumed). */
  word(stop?: string): string {
    let out = '';
    const s = this.s;
    while (this.i < s.length) {
      const ch = s[this.i]!;
      if (stop !== undefined && ch === stop) {
        this.i++;
        return out;
      }
      if (ch === this.escape) {
        if (this.i + 1 < s.length) out += s[this.i + 1];
        this.i += 2;
      } else if (ch === "'") {
        const end = s.indexOf("'", this.i + 1);
        if (end < 0) this.fail('unexpected end of statement while looking for matching single-quote');
        out += s.slice(this.i + 1, end);
        this.i = end + 1;
      } else if (ch === '"') {
        out += this.doubleQuoted();
      } else if (ch === '$') {
        out += this.dollar();
      } else {
        out += ch;
        this.i++;
      }
    }
    if (stop !== undefined) this.fail(`missing '${stop}'`);
    return out;
  }

  private doubleQuoted(): string {
    const s = this.s;
    let out = '';
    this.i++;
    while (this.i < s.length) {
      const ch = s[this.i]!;
      if (ch === '"') {
        this.i++;
        return out;
      }
      if (ch === this.escape && this.i + 1 < s.length && ['"', '$', this.escape].includes(s[this.i + 1]!)) {
        out += s[this.i + 1];
        this.i += 2;
      } else if (ch === '$') out += this.dollar();
      else {
        out += ch;
        this.i++;
      }
    }
    return this.fail('unexpected end of statement while looking for matching double-quote');
  }

  private lookup(name: string): string | undefined {
    this.refs.add(name);
    return this.vars(name);
  }

  private dollar(): string {
    const s = this.s;
    const next = s[this.i + 1];
    if (next === '{') {
      this.i += 2;
      const name = /^[A-Za-z0-9_]+/.exec(s.slice(this.i))?.[0] ?? '';
      if (name === '') this.fail('bad substitution');
      this.i += name.length;
      if (this.i >= s.length) this.fail("missing '}'");
      if (s[this.i] === '}') {
        this.i++;
        return this.lookup(name) ?? '';
      }
      let colon = false;
      if (s[this.i] === ':') {
        colon = true;
        this.i++;
      }
      const op = s[this.i];
      if (op === undefined || !'-+?'.includes(op)) this.fail(`unsupported modifier (${colon ? ':' : ''}${op ?? ''}) in substitution`);
      this.i++;
      const word = this.word('}');
      const value = this.lookup(name);
      const unset = value === undefined || (colon && value === '');
      if (op === '-') return unset ? word : value!;
      if (op === '+') return unset ? '' : word;
      if (unset) this.fail(`${name}: ${word || 'is not allowed to be unset'}`);
      return value!;
    }
    const name = next !== undefined && /[0-9]/.test(next) ? next : (/^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(this.i + 1))?.[0] ?? '');
    if (name === '') {
      this.i++;
      return '$';
    }
    this.i += 1 + name.length;
    return this.lookup(name) ?? '';
  }
}

export function expandWord(word: string, vars: VarLookup, escape: EscapeChar = '\\'): Expanded<string> {
  const lexer = new Lexer(word, vars, escape, new Set());
  return { value: lexer.word(), referenced: [...lexer.refs] };
}

/** The instruction with its words expanded where docker expands them; errors name the line and column. */
export function expandInstruction<T extends Instruction>(inst: T, vars: VarLookup, escape: EscapeChar = '\\', file = 'Dockerfile'): Expanded<T> {
  const refs = new Set<string>();
  const ew = (w: string): string => {
    try {
      const r = expandWord(w, vars, escape);
      for (const n of r.referenced) refs.add(n);
      return r.value;
    } catch (err) {
      if (err instanceof CtrdError) throw new CtrdError(err.kind, `${file}:${inst.pos.line}:${inst.pos.column}: ${err.message}`, { cause: err });
      throw err;
    }
  };
  const opt = (w: string | undefined) => (w === undefined ? undefined : ew(w));
  const x = inst as Instruction;
  let value: Instruction;
  switch (x.kind) {
    case 'FROM':
      value = { ...x, image: ew(x.image), ...(x.platform !== undefined ? { platform: ew(x.platform) } : {}) };
      break;
    case 'ENV':
    case 'LABEL':
      value = { ...x, pairs: x.pairs.map((p) => ({ key: ew(p.key), value: ew(p.value) })) };
      break;
    case 'ARG':
      value = { ...x, args: x.args.map((a) => (a.default === undefined ? a : { name: a.name, default: ew(a.default) })) };
      break;
    case 'EXPOSE':
    case 'VOLUME':
      value = { ...x, values: x.values.map(ew) };
      break;
    case 'WORKDIR':
    case 'USER':
    case 'STOPSIGNAL':
      value = { ...x, value: ew(x.value) };
      break;
    case 'COPY':
    case 'ADD': {
      const out = { ...x, sources: x.sources.map(ew), dest: ew(x.dest) };
      for (const f of ['from', 'chown', 'chmod'] as const) {
        const v = opt(x[f]);
        if (v !== undefined) out[f] = v;
      }
      value = out;
      break;
    }
    default:
      value = x;
  }
  return { value: value as T, referenced: [...refs] };
}
