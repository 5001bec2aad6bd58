import { describe, expect, it } from 'vitest';
import { applyLabelMask, validateLabels } from './labels.js';
import { errorOf } from '../test/harness/errors.js';


describe('validateLabels', () => {
  it('treats undefined as no labels', () => {
    expect(validateLabels(undefined)).toEqual({});
  });

  it('returns a copy of valid labels', () => {
    const labels = { a: '1', 'containerd.io/gc.root': '' };
    const out = validateLabels(labels);
    expect(out).toEqual(labels);
    expect(out).not.toBe(labels);
  });

  it('rejects an empty key', () => {
    const err = errorOf(() => validateLabels({ ok: 'x', '': 'v' }));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toMatch(/key must not be empty/);
  });

  it('allows key and value of exactly 4096 bytes together and refuses one more', () => {
    expect(validateLabels({ k: 'v'.repeat(4095) })).toHaveProperty('k');
    const err = errorOf(() => validateLabels({ k: 'v'.repeat(4096) }));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toContain('"k"');
    expect(err.message).toContain('got 4097');
  });

  it('counts bytes, not characters', () => {
    // 'é' is 2 bytes in UTF-8: 1 + 2048 * 2 = 4097 bytes in 2049 characters.
    const err = errorOf(() => validateLabels({ k: '\u00e9'.repeat(2048) }));
    expect(err.message).toContain('got 4097');
    expect(validateLabels({ k: '\u00e9'.repeat(2047) })).toHaveProperty('k');
  });
});

describe('applyLabelMask', () => {
  const current = { a: '1', b: '2' };

  it('with no paths replaces every label by the update', () => {
    const update = { c: '3' };
    const { labels, rest } = applyLabelMask(current, update, []);
    expect(labels).toEqual({ c: '3' });
    expect(labels).not.toBe(update);
    expect(rest).toEqual([]);
  });

  it('"labels" replaces them all', () => {
    expect(applyLabelMask(current, { z: '9' }, ['labels']).labels).toEqual({ z: '9' });
  });

  it('"labels.<key>" sets one key and keeps the others', () => {
    expect(applyLabelMask(current, { b: 'two', c: 'ignored' }, ['labels.b']).labels).toEqual({ a: '1', b: 'two' });
  });

  it('"labels.<key>" deletes the key when the update lacks it or has it empty', () => {
    expect(applyLabelMask(current, {}, ['labels.a']).labels).toEqual({ b: '2' });
    expect(applyLabelMask(current, { b: '' }, ['labels.b']).labels).toEqual({ a: '1' });
  });

  it('keys may contain dots and slashes', () => {
    const { labels } = applyLabelMask({}, { 'containerd.io/gc.ref.content': 'x' }, ['labels.containerd.io/gc.ref.content']);
    expect(labels).toEqual({ 'containerd.io/gc.ref.content': 'x' });
  });

  it('applies paths in order', () => {
    expect(applyLabelMask(current, { c: '3', a: 'A' }, ['labels', 'labels.b']).labels).toEqual({ c: '3', a: 'A' });
    expect(applyLabelMask(current, { c: '3' }, ['labels.c', 'labels']).labels).toEqual({ c: '3' });
  });

  it('hands back paths that are not about labels and leaves the current labels untouched', () => {
    const before = { ...current };
    const { labels, rest } = applyLabelMask(current, { a: 'x' }, ['size', 'labels.a', 'labelsx']);
    expect(rest).toEqual(['size', 'labelsx']);
    expect(labels).toEqual({ a: 'x', b: '2' });
    expect(current).toEqual(before);
  });
});
