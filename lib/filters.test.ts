import { describe, expect, it } from 'vitest';
import { compileFilters, recordReader, type FieldSchema } from './filters.js';
import { CtrdError } from './errdefs.js';
import { errorOf } from '../test/harness/errors.js';

interface Entry {
  name: string;
  other?: string;
  labels?: Record<string, string>;
}

// The corpus of containerd's pkg/filters tests, so that ctrd answers the same filters the same way.
const corpus: Entry[] = [
  { name: 'foo', labels: { foo: 'true' } },
  { name: 'bar' },
  { name: 'foo', labels: { foo: 'present', 'more complex label': 'present' } },
  { name: 'bar', labels: { bar: 'true' } },
  { name: 'fooer', labels: { 'more complex label with \\ and "': 'present' } },
  { name: 'fooer', labels: { 'more complex label with \\ and ".post': 'present' } },
  { name: 'baz', other: 'too complex, yo' },
  { name: 'bazo', other: 'abc' },
  { name: 'compound', labels: { foo: 'omg_asdf.asdf-qwer' } },
];

const schema: FieldSchema = { name: 'value', other: 'value', labels: 'map' };

/** Indexes of the corpus entries that the filters select. */
function select(...filters: string[]): number[] {
  const match = compileFilters(filters, schema, recordReader<Entry>());
  return corpus.flatMap((e, i) => (match(e) ? [i] : []));
}


const all = corpus.map((_, i) => i);

describe('compileFilters: matching', () => {
  it('no filters, or only empty ones, select everything', () => {
    expect(select()).toEqual(all);
    expect(select('')).toEqual(all);
    expect(select('  ', '')).toEqual(all);
  });

  it('a bare field selects objects where it is present', () => {
    expect(select('name')).toEqual(all);
    expect(select('other')).toEqual([6, 7]);
    expect(select('labels.foo')).toEqual([0, 2, 8]);
  });

  it('a comma is AND', () => {
    expect(select('labels.foo,name')).toEqual([0, 2, 8]);
    expect(select('name==bar,labels.bar')).toEqual([3]);
    expect(select('name==bar,labels.bar==true')).toEqual([3]);
    expect(select('name==bar,labels.bar==wrong')).toEqual([]);
  });

  it('separate filter strings are OR', () => {
    expect(select('name==bar', 'name==bazo')).toEqual([1, 3, 7]);
    expect(select('name==nothing', 'labels.foo==true')).toEqual([0]);
  });

  it('== and != compare whole values', () => {
    expect(select('name==bar')).toEqual([1, 3]);
    expect(select('name!=bar')).toEqual([0, 2, 4, 5, 6, 7, 8]);
    expect(select('labels.foo==true')).toEqual([0]);
    expect(select('labels.foo==omg_asdf.asdf-qwer')).toEqual([8]);
  });

  it('!= also selects objects that lack the field', () => {
    expect(select('other!=abc')).toEqual([0, 1, 2, 3, 4, 5, 6, 8]);
  });

  it('~= matches a regular expression, bare or between slashes', () => {
    expect(select('other~=[abc]+,name!=foo')).toEqual([6, 7]);
    expect(select('other~=/[abc]+/,name!=foo')).toEqual([6, 7]);
    expect(select('other~=/[abc]{1,2}/,name!=foo')).toEqual([6, 7]);
    expect(select('name~=^ba')).toEqual([1, 3, 6, 7]);
    expect(select('other~=^zzz')).toEqual([]);
  });

  it('a quoted value may hold a comma', () => {
    expect(select('other=="too complex, yo"')).toEqual([6]);
  });

  it('spaces around operators and commas are ignored', () => {
    expect(select(' name == bar , labels.bar ')).toEqual([3]);
  });

  it('a quoted field path names a label key with spaces, quotes and backslashes', () => {
    expect(select('name==foo,labels."more complex label"')).toEqual([2]);
    expect(select('labels."more complex label with \\\\ and \\""==present')).toEqual([4]);
  });

  it('quoted strings decode \\n, \\t and \\r', () => {
    const match = compileFilters(['name=="a\\tb\\nc\\rd"'], schema, recordReader<Entry>());
    expect(match({ name: 'a\tb\nc\rd' })).toBe(true);
    expect(match({ name: 'atbncrd' })).toBe(false);
  });

  // containerd's adaptors join the rest of a label path with ".", so labels.a.b is the label "a.b"
  // (pkg/filters TestFilters "LabelQuotedFieldPathPresentWithQuotedEmbed", and checkMap in the content and
  // image adaptors). ctrd refuses a second component instead: a filter containerd accepts fails here.
  it('a label path with more components names the key joined by dots, as containerd does', () => {
    expect(select('labels."more complex label with \\\\ and \\"".post==present')).toEqual([5]);
  });
});

describe('compileFilters: errors', () => {
  it.each([
    ['a trailing comma', 'name==foo,', /expected a field name/],
    ['a trailing field separator', 'labels.', /expected a field name/],
    ['a missing value', 'other~=,name==x', /expected a value/],
    ['an unterminated quoted field', 'labels."abc==x', /unterminated quoted string/],
    ['an unterminated quoted value', 'name=="abc', /unterminated quoted string/],
    ['an unterminated regexp', 'name~=/abc', /unterminated quoted string/],
    ['an invalid regexp', 'name~=[a-', /invalid regular expression/],
    ['a slash in a bare label key', 'labels.ns/key==value', /unexpected "\/"/],
    ['an unknown operator', 'name=bar', /unexpected "="/],
    ['a field starting with a digit', '9name==x', /expected a field name/],
  ])('rejects %s as invalid-argument, quoting the filter', (_, filter, message) => {
    const err = errorOf(() => select(filter));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toContain(`filter "${filter}"`);
    expect(err.message).toMatch(message);
  });

  it('reports the position of a syntax error', () => {
    expect(errorOf(() => select('name==foo,')).message).toMatch(/at position 10$/);
  });

  it('rejects an unknown field, listing the known ones', () => {
    const err = errorOf(() => select('nmae==foo'));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toContain('unknown field "nmae"');
    expect(err.message).toContain('known fields: name, other, labels');
  });

  it('rejects a subfield of a scalar field', () => {
    const err = errorOf(() => select('name.first==x'));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toContain('field "name" has no subfields');
  });

  it('checks every filter string, even when an earlier one would match', () => {
    expect(errorOf(() => select('name==foo', 'bogus')).message).toContain('unknown field "bogus"');
  });

  it('fails at compile time, before any object is read', () => {
    let reads = 0;
    const read = () => {
      reads++;
      return undefined;
    };
    expect(() => compileFilters(['name==a', 'nope==b'], schema, read)).toThrow(CtrdError);
    expect(reads).toBe(0);
  });
});

describe('recordReader', () => {
  const read = recordReader<Record<string, unknown>>();

  it('reads scalars as strings and map entries by key', () => {
    const obj = { size: 42, ok: true, labels: { k: 'v' } };
    expect(read(obj, ['size'])).toBe('42');
    expect(read(obj, ['ok'])).toBe('true');
    expect(read(obj, ['labels', 'k'])).toBe('v');
  });

  it('answers undefined for absent and null fields and for paths through scalars', () => {
    const obj = { a: null, s: 'x' };
    expect(read(obj, ['missing'])).toBeUndefined();
    expect(read(obj, ['a'])).toBeUndefined();
    expect(read(obj, ['s', 'deeper'])).toBeUndefined();
    expect(read({ labels: {} }, ['labels', 'k'])).toBeUndefined();
  });

  it('reads a map without a key as no value, as containerd does', () => {
    expect(read({ t: { x: 1 } }, ['t'])).toBeUndefined();
    expect(compileFilters(['labels'], schema, recordReader<Entry>())({ name: 'n', labels: { k: 'v' } })).toBe(false);
  });

  it('a present-selector on an empty value does not match', () => {
    const match = compileFilters(['labels.k'], schema, recordReader<Entry>());
    expect(match({ name: 'n', labels: { k: '' } })).toBe(false);
    expect(match({ name: 'n', labels: { k: 'v' } })).toBe(true);
  });
});
