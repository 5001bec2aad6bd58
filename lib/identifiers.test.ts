import { describe, expect, it } from 'vitest';
import { validateIdentifier } from './identifiers.js';
import { errorOf } from '../test/harness/errors.js';


describe('validateIdentifier', () => {
  it.each(['default', 'k8s.io', 'moby', 'a', 'A1', 'a-b_c.d', 'x.y-z_0', 'a'.repeat(76)])('accepts %s', (id) => {
    expect(validateIdentifier(id)).toBe(id);
  });

  it.each([
    ['a leading separator', '-abc'],
    ['a trailing separator', 'abc.'],
    ['two separators in a row', 'a..b'],
    ['mixed adjacent separators', 'a-_b'],
    ['a slash', 'a/b'],
    ['a space', 'a b'],
    ['a colon', 'a:b'],
    ['a non-ASCII letter', 'caf\u00e9'],
    ['only a separator', '.'],
  ])('rejects an identifier with %s, naming it and the rule', (_, id) => {
    const err = errorOf(() => validateIdentifier(id, 'namespace'));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toContain(`namespace "${id}"`);
    expect(err.message).toContain('must match');
  });

  it('rejects an empty identifier, naming what it is', () => {
    const err = errorOf(() => validateIdentifier('', 'lease id'));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toBe('lease id must not be empty');
  });

  it('rejects an identifier longer than 76 characters, quoting its start', () => {
    const id = 'b'.repeat(77);
    const err = errorOf(() => validateIdentifier(id));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toContain('identifier "bbbbbbbbbbbbbbbb..."');
    expect(err.message).toContain('maximum length (76 characters)');
  });
});
