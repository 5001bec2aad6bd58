import { describe, expect, it } from 'vitest';
import { CtrdError, notFound, wrap } from './errdefs.js';

describe('wrap', () => {
  it('adds context and keeps the kind and the cause', () => {
    const inner = notFound('image x not found');
    const outer = wrap(inner, 'pull x') as CtrdError;
    expect(outer).toBeInstanceOf(CtrdError);
    expect(outer.kind).toBe('not-found');
    expect(outer.message).toBe('pull x: image x not found');
    expect(outer.cause).toBe(inner);
  });

  it('makes anything else unknown', () => {
    const outer = wrap(new Error('boom'), 'create task c1') as CtrdError;
    expect(outer.kind).toBe('unknown');
    expect(outer.message).toBe('create task c1: boom');
  });

  it('does not say the same context twice', () => {
    const fromShim = new CtrdError('unknown', 'create task c1: runc create failed: no such file');
    expect(wrap(fromShim, 'create task c1').message).toBe('create task c1: runc create failed: no such file');
  });
});
