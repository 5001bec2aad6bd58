// containerd's filter language (pkg/filters), used by every List RPC and by Events.Subscribe:
//   filters   := selector ( "," selector )*          a comma is AND; the repeated strings of a request are ORed
//   selector  := fieldpath ( ( "==" | "!=" | "~=" ) value )?   no operator: the field is present and not empty
//   fieldpath := field ( "." field )*                 field: an identifier or a "quoted string"
//   value     := a "quoted string", a /regexp/ after ~=, or anything up to the next comma
// Every caller declares its fields; a selector on a field it does not know is InvalidArgument, so that a typo
// in a filter is an error rather than a silent empty list.
import { invalidArgument } from './errdefs.js';

type Operator = '==' | '!=' | '~=' | 'present';

interface Selector {
  path: string[];
  op: Operator;
  value: string;
  regexp?: RegExp;
}

/**
 * The fields an object offers to filters: 'value' is a scalar (nested ones by dotted path, 'target.digest'),
 * 'map' takes one more path component (labels.x).
 */
export type FieldSchema = Readonly<Record<string, 'value' | 'map'>>;

/** Reads a field path off an object; undefined means the field is absent. */
export type FieldReader<T> = (obj: T, path: readonly string[]) => string | undefined;

export type Predicate<T> = (obj: T) => boolean;

class Scanner {
  pos = 0;
  constructor(readonly input: string) {}

  fail(message: string): never {
    throw invalidArgument(`filter "${this.input}": ${message} at position ${this.pos}`);
  }

  get done(): boolean {
    return this.pos >= this.input.length;
  }

  peek(n = 1): string {
    return this.input.slice(this.pos, this.pos + n);
  }

  skipSpace(): void {
    while (!this.done && /\s/.test(this.input[this.pos]!)) this.pos++;
  }

  /** A "quoted string" with escapes, or a /regexp/ whose backslashes stay for the regexp (but \/). */
  quoted(): string {
    const quote = this.input[this.pos]!;
    let out = '';
    this.pos++;
    while (!this.done) {
      const c = this.input[this.pos++]!;
      if (c === quote) return out;
      if (c === '\\' && !this.done) {
        const e = this.input[this.pos++]!;
        if (quote === '/') out += e === '/' ? '/' : `\\${e}`;
        else out += ({ n: '\n', t: '\t', r: '\r' } as Record<string, string>)[e] ?? e;
      } else {
        out += c;
      }
    }
    return this.fail(`unterminated quoted string`);
  }

  field(): string {
    this.skipSpace();
    if (this.peek() === '"') return this.quoted();
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.input.slice(this.pos));
    if (!m) this.fail('expected a field name');
    this.pos += m[0].length;
    return m[0];
  }

  value(op: Operator): string {
    this.skipSpace();
    const c = this.peek();
    if (c === '"' || (c === '/' && op === '~=')) return this.quoted();
    const start = this.pos;
    while (!this.done && this.input[this.pos] !== ',') this.pos++;
    const v = this.input.slice(start, this.pos).trim();
    if (v === '') this.fail('expected a value');
    return v;
  }
}

function parseSelectors(input: string): Selector[] {
  const s = new Scanner(input);
  const selectors: Selector[] = [];
  for (;;) {
    const path = [s.field()];
    while (s.peek() === '.') {
      s.pos++;
      path.push(s.field());
    }
    s.skipSpace();
    const two = s.peek(2);
    let selector: Selector;
    if (two === '==' || two === '!=' || two === '~=') {
      s.pos += 2;
      const value = s.value(two);
      selector = { path, op: two, value };
      if (two === '~=') {
        try {
          selector.regexp = new RegExp(value);
        } catch (err) {
          s.fail(`invalid regular expression ${JSON.stringify(value)}: ${(err as Error).message}`);
        }
      }
    } else {
      selector = { path, op: 'present', value: '' };
    }
    selectors.push(selector);
    s.skipSpace();
    if (s.done) return selectors;
    if (s.peek() !== ',') s.fail(`unexpected ${JSON.stringify(s.peek())}`);
    s.pos++;
  }
}

function checkPath(path: string[], schema: FieldSchema, input: string): void {
  // A nested scalar is declared by its dotted path: { 'target.digest': 'value' }.
  if (path.length > 1 && schema[path.join('.')] === 'value') return;
  const [field, ...rest] = path;
  const kind = schema[field!];
  const known = Object.keys(schema).join(', ');
  if (kind === undefined) throw invalidArgument(`filter "${input}": unknown field "${field}" (known fields: ${known})`);
  if (kind === 'value' && rest.length > 0) {
    throw invalidArgument(`filter "${input}": field "${field}" has no subfields`);
  }
}

/** containerd joins the rest of a map field's path with dots: labels."x".post is the label "x.post". */
function normalizePath(path: string[], schema: FieldSchema): string[] {
  const [field, ...rest] = path;
  return schema[field!] === 'map' && rest.length > 1 ? [field!, rest.join('.')] : path;
}

function matches(sel: Selector, actual: string | undefined): boolean {
  switch (sel.op) {
    case 'present':
      return actual !== undefined && actual !== '';
    case '==':
      return actual === sel.value;
    case '!=':
      return actual !== sel.value;
    case '~=':
      return actual !== undefined && sel.regexp!.test(actual);
  }
}

/**
 * Compiles a request's filters into one predicate. Parsing and field checks happen here, before any
 * object is read, so a bad filter fails the request before it has any effect.
 */
export function compileFilters<T>(
  filters: readonly string[],
  schema: FieldSchema,
  read: FieldReader<T>,
): Predicate<T> {
  const alternatives = filters
    .filter((f) => f.trim() !== '')
    .map((f) => {
      const selectors = parseSelectors(f);
      for (const sel of selectors) {
        checkPath(sel.path, schema, f);
        sel.path = normalizePath(sel.path, schema);
      }
      return selectors;
    });
  if (alternatives.length === 0) return () => true;
  return (obj) => alternatives.some((all) => all.every((sel) => matches(sel, read(obj, sel.path))));
}

/** A FieldReader for plain records: scalar fields by name and map fields (labels) by key. */
export function recordReader<T extends object>(): FieldReader<T> {
  return (obj, path) => {
    let v: unknown = obj;
    for (const p of path) {
      if (v === null || typeof v !== 'object') return undefined;
      v = (v as Record<string, unknown>)[p];
    }
    // A map without a key (plain "labels") is no value, as in containerd.
    if (v === undefined || v === null || typeof v === 'object') return undefined;
    return String(v);
  };
}
