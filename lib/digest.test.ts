import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { digestOf, hexOf, parseDigest, sha256 } from './digest.js';
import { kindOf } from './errdefs.js';
import { errorOf } from '../test/harness/errors.js';

const emptySha256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';


describe('parseDigest', () => {
  it('accepts a sha256 digest of 64 lowercase hex characters and returns it unchanged', () => {
    expect(parseDigest(emptySha256)).toBe(emptySha256);
  });

  it('rejects an empty digest', () => {
    const err = errorOf(() => parseDigest(''));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toMatch(/must not be empty/);
  });

  it('rejects a well-formed digest of another algorithm as unsupported', () => {
    const d = `sha512:${'a'.repeat(128)}`;
    const err = errorOf(() => parseDigest(d));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toContain(d);
    expect(err.message).toMatch(/unsupported digest algorithm/);
  });

  it.each([
    ['uppercase hex', `sha256:${'A'.repeat(64)}`],
    ['too short', `sha256:${'a'.repeat(63)}`],
    ['too long', `sha256:${'a'.repeat(65)}`],
    ['no algorithm', 'a'.repeat(64)],
    ['no encoded part', 'sha256:'],
    ['trailing space', `${emptySha256} `],
    ['non-hex', `sha256:${'g'.repeat(64)}`],
  ])('rejects a malformed sha256 digest (%s), naming it', (_, d) => {
    const err = errorOf(() => parseDigest(d));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toContain(`"${d}"`);
    expect(err.message).not.toMatch(/unsupported/);
  });
});

describe('digest helpers', () => {
  it('hexOf strips the algorithm', () => {
    expect(hexOf(emptySha256)).toBe(emptySha256.slice(7));
    expect(hexOf(emptySha256)).toHaveLength(64);
  });

  it('sha256 hashes strings and buffers alike', () => {
    expect(sha256('')).toBe(emptySha256);
    expect(sha256('hello')).toBe(sha256(Buffer.from('hello')));
    expect(sha256('hello')).toBe('sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
  });

  it('digestOf reads a running hash without finishing it', () => {
    const h = createHash('sha256');
    h.update('hel');
    expect(digestOf(h)).toBe(sha256('hel'));
    h.update('lo');
    expect(digestOf(h)).toBe(sha256('hello'));
  });

  it('kindOf of a parse failure is invalid-argument', () => {
    let caught: unknown;
    try {
      parseDigest('nope');
    } catch (err) {
      caught = err;
    }
    expect(kindOf(caught)).toBe('invalid-argument');
  });
});
