// docker's --format: a subset of Go's text/template ({{.Field.Path}}, {{json .}}, pipes into json, upper, lower,
// title, join, split, truncate, pad, len, print, println; {{- -}} trimming; comments), the "table" prefix that
// adds a header row, the "json" shorthand, and Go's text/tabwriter with docker's settings (minwidth 10,
// padding 3) to align the columns. Anything else (if, range, with...) is refused when the format is parsed.
import { InvalidArgumentError } from 'commander';

type Operand =
  | { kind: 'dot' }
  | { kind: 'field'; path: string[]; text: string }
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number };

interface Call {
  fn?: string;
  args: Operand[];
}

type Node = { kind: 'text'; text: string } | { kind: 'action'; pipeline: Call[]; text: string };

/** docker's template functions; in a table header each one passes the header text through (json gives ""). */
const functions: Record<string, { arity: number[]; run: (...args: unknown[]) => unknown }> = {
  json: { arity: [1], run: (v) => JSON.stringify(v === undefined ? null : v) },
  upper: { arity: [1], run: (v) => goString(v).toUpperCase() },
  lower: { arity: [1], run: (v) => goString(v).toLowerCase() },
  title: { arity: [1], run: (v) => goString(v).replace(/(^|[^\p{L}\p{N}'])(\p{L})/gu, (_m, a: string, b: string) => a + b.toUpperCase()) },
  join: { arity: [2], run: (v, sep) => (Array.isArray(v) ? v.map(goString).join(goString(sep)) : goString(v)) },
  split: { arity: [2], run: (v, sep) => goString(v).split(goString(sep)) },
  truncate: { arity: [2], run: (v, n) => [...goString(v)].slice(0, Number(n)).join('') },
  pad: { arity: [3], run: (v, l, r) => ' '.repeat(Number(l)) + goString(v) + ' '.repeat(Number(r)) },
  len: { arity: [1], run: (v) => (Array.isArray(v) ? v.length : typeof v === 'string' ? [...v].length : v && typeof v === 'object' ? Object.keys(v).length : 0) },
  print: { arity: [0, 1, 2, 3, 4, 5, 6, 7, 8], run: (...vs) => vs.map(goString).join('') },
  println: { arity: [0, 1, 2, 3, 4, 5, 6, 7, 8], run: (...vs) => `${vs.map(goString).join(' ')}\n` },
};

const unsupported = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue', 'and', 'or', 'not', 'eq', 'ne', 'index', 'printf']);

/** A value as Go's fmt %v prints it: slices as [a b], maps as map[k:v] with sorted keys, nil as <nil>. */
export function goString(v: unknown): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `map[${Object.keys(o)
      .sort()
      .map((k) => `${k}:${goString(o[k])}`)
      .join(' ')}]`;
  }
  return String(v);
}

function templateError(message: string): InvalidArgumentError {
  return new InvalidArgumentError(`template parsing error: ${message}`);
}

/** Splits an action's text into words: fields, identifiers, quoted strings, numbers and pipes. */
function tokenize(text: string): string[] {
  const tokens: string[] = [];
  const re = /\s*(?:("(?:[^"\\]|\\.)*")|(`[^`]*`)|(\|)|([^\s|"`]+))/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < text.length && (m = re.exec(text)) !== null) {
    tokens.push(m[1] ?? m[2] ?? m[3] ?? m[4]!);
  }
  if (text.slice(re.lastIndex).trim() !== '') throw templateError(`unterminated quoted string in {{${text}}}`);
  return tokens;
}

function operand(token: string, action: string): Operand {
  if (token === '.') return { kind: 'dot' };
  if (token.startsWith('.')) {
    const path = token.slice(1).split('.');
    if (path.some((p) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(p))) throw templateError(`bad field "${token}" in {{${action}}}`);
    return { kind: 'field', path, text: token };
  }
  if (token.startsWith('"')) return { kind: 'string', value: JSON.parse(token) as string };
  if (token.startsWith('`')) return { kind: 'string', value: token.slice(1, -1) };
  if (/^-?\d+(\.\d+)?$/.test(token)) return { kind: 'number', value: Number(token) };
  throw templateError(`function "${token}" not defined`);
}

function parseAction(text: string): Call[] {
  const tokens = tokenize(text);
  if (tokens.length === 0) throw templateError('missing value for command');
  if (unsupported.has(tokens[0]!)) throw templateError(`{{${tokens[0]}}} is not supported by ctrctl's --format`);
  const calls: Call[] = [];
  let current: string[] = [];
  const flush = () => {
    if (current.length === 0) throw templateError(`missing command in {{${text}}}`);
    const [head, ...rest] = current;
    if (functions[head!]) calls.push({ fn: head!, args: rest.map((t) => operand(t, text)) });
    else if (/^[A-Za-z_]/.test(head!)) throw templateError(`function "${head}" not defined`);
    else if (rest.length > 0) throw templateError(`can't give argument to non-function ${head} in {{${text}}}`);
    else calls.push({ args: [operand(head!, text)] });
    current = [];
  };
  for (const t of tokens) {
    if (t === '|') flush();
    else current.push(t);
  }
  flush();
  calls.forEach((call, i) => {
    if (!call.fn) {
      if (i > 0) throw templateError(`non-function in pipeline stage of {{${text}}}`);
      return;
    }
    const given = call.args.length + (i > 0 ? 1 : 0);
    if (!functions[call.fn]!.arity.includes(given)) throw templateError(`wrong number of args for ${call.fn}: got ${given}`);
  });
  return calls;
}

function parse(source: string): Node[] {
  const nodes: Node[] = [];
  let rest = source;
  while (rest.length > 0) {
    const open = rest.indexOf('{{');
    if (open < 0) {
      nodes.push({ kind: 'text', text: rest });
      break;
    }
    let text = rest.slice(0, open);
    const close = rest.indexOf('}}', open + 2);
    if (close < 0) throw templateError('unclosed action');
    let inner = rest.slice(open + 2, close);
    rest = rest.slice(close + 2);
    // Go's trim markers need the space: "{{- " and " -}}".
    if (/^-\s/.test(inner)) {
      text = text.replace(/\s+$/, '');
      inner = inner.slice(1);
    }
    if (/\s-$/.test(inner)) {
      rest = rest.replace(/^\s+/, '');
      inner = inner.slice(0, -1);
    }
    if (text) nodes.push({ kind: 'text', text });
    const trimmed = inner.trim();
    if (trimmed.startsWith('/*')) {
      if (!trimmed.endsWith('*/')) throw templateError('unclosed comment');
      continue;
    }
    nodes.push({ kind: 'action', pipeline: parseAction(trimmed), text: trimmed });
  }
  return nodes;
}

export class Template {
  private readonly nodes: Node[];

  constructor(readonly source: string) {
    this.nodes = parse(source);
  }

  /** Renders with data as ".". A field the root object lacks is an error, as for a Go struct. */
  execute(data: unknown): string {
    return this.nodes.map((n) => (n.kind === 'text' ? n.text : goString(this.pipeline(n, data, false)))).join('');
  }

  /** The header row of a table: each field is the column's heading; functions pass it through. */
  executeHeader(headers: Readonly<Record<string, string>>): string {
    return this.nodes.map((n) => (n.kind === 'text' ? n.text : goString(this.pipeline(n, headers, true)))).join('');
  }

  private pipeline(node: Extract<Node, { kind: 'action' }>, data: unknown, header: boolean): unknown {
    let value: unknown;
    node.pipeline.forEach((call, i) => {
      const args = call.args.map((a) => this.operand(a, data, node.text, header));
      if (i > 0) args.push(value);
      if (!call.fn) value = args[0];
      else if (header) value = call.fn === 'json' ? '' : (args[0] ?? '');
      else value = functions[call.fn]!.run(...args);
    });
    return value;
  }

  private operand(op: Operand, data: unknown, action: string, header: boolean): unknown {
    switch (op.kind) {
      case 'dot':
        return header ? '' : data;
      case 'string':
      case 'number':
        return op.value;
      case 'field': {
        if (header) return (data as Record<string, string>)[op.path[0]!] ?? '';
        let v: unknown = data;
        for (const [i, name] of op.path.entries()) {
          if (v === null || v === undefined) return undefined;
          if (typeof v !== 'object' || Array.isArray(v)) {
            throw new Error(`template: executing "{{${action}}}": can't evaluate field ${name} in ${goString(v)}`);
          }
          if (i === 0 && !Object.hasOwn(v, name)) {
            throw new Error(`template: executing "{{${action}}}": can't evaluate field ${name}`);
          }
          v = (v as Record<string, unknown>)[name];
        }
        return v;
      }
    }
  }
}

/** A --format value: a table (header row and aligned columns) or one rendering per item. */
export interface OutputFormat {
  /** The value as given. */
  source: string;
  table: boolean;
  template: Template;
}

/**
 * Parses a --format value as docker does: "table ..." is a table, "json" is {{json .}}, and a typed \t or \n
 * is a tab or a newline. Throws InvalidArgumentError (a usage error) for what ctrctl cannot render.
 */
export function parseFormat(source: string): OutputFormat {
  let text = source;
  const table = text.startsWith('table');
  if (table) text = text.slice('table'.length);
  else if (text === 'json') text = '{{json .}}';
  text = text.replace(/^ +| +$/g, '').replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  return { source, table, template: new Template(text) };
}

/** The commander parser of a --format option. */
export const formatArgument = (value: string): OutputFormat => parseFormat(value);

/**
 * Go's text/tabwriter with docker's settings (minwidth 10, tabwidth 1, padding 3, spaces): tab-terminated
 * cells align in columns, a line's last cell does not, and a column block ends at a line without that column.
 */
export function tabwrite(text: string, minwidth = 10, padding = 3): string {
  const lines = text.split('\n').map((l) => l.split('\t'));
  const width = (s: string) => [...s].length;
  const out: string[] = [];
  const widths: number[] = [];
  const writeLines = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const cells = lines[i]!;
      out.push(cells.map((c, j) => (j < widths.length ? c + ' '.repeat(Math.max(0, widths[j]! - width(c))) : c)).join(''));
    }
  };
  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    for (let row = line0; row < line1; row++) {
      if (column >= lines[row]!.length - 1) continue;
      writeLines(line0, row);
      line0 = row;
      let w = minwidth;
      for (; row < line1; row++) {
        const cells = lines[row]!;
        if (column >= cells.length - 1) break;
        w = Math.max(w, width(cells[column]!) + padding);
      }
      widths.push(w);
      format(line0, row);
      widths.pop();
      // The line that ended the block has no cell in this column: the loop's increment passes over it.
      line0 = row;
    }
    writeLines(line0, line1);
  };
  format(0, lines.length);
  return out.join('\n');
}

/** Renders items with a format: a table gets its header row first and goes through the tabwriter. */
export function renderFormat(format: OutputFormat, items: readonly unknown[], headers: Readonly<Record<string, string>>): string {
  let text = items.map((item) => `${format.template.execute(item)}\n`).join('');
  if (format.table) text = tabwrite(`${format.template.executeHeader(headers)}\n${text}`);
  return text;
}
