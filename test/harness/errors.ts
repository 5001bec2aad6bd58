// Catching the typed errors of ctrd's code in unit tests.
import { expect } from 'vitest';
import { CtrdError, type ErrorKind } from '../../lib/errdefs.js';

/** The CtrdError that fn throws; fails the test when fn returns or throws something else. */
export function errorOf(fn: () => unknown): CtrdError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CtrdError);
    return err as CtrdError;
  }
  throw new Error('expected a throw');
}

/** The CtrdError that fn throws or rejects with; fails the test when it does neither. */
export async function rejectionOf(fn: () => unknown): Promise<CtrdError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CtrdError);
    return err as CtrdError;
  }
  throw new Error('expected an error');
}

/** Expects fn to fail with an error of this kind, whose message contains or matches `message`. */
export async function expectKind(fn: () => unknown, kind: ErrorKind, message?: string | RegExp): Promise<CtrdError> {
  const err = await rejectionOf(fn);
  expect(err.kind, err.message).toBe(kind);
  if (typeof message === 'string') expect(err.message).toContain(message);
  else if (message) expect(err.message).toMatch(message);
  return err;
}
