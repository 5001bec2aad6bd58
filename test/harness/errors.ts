// Catching the typed errors of ctrd's code in unit tests.
import { expect } from 'vitest';
import { CtrdError } from '../../lib/errdefs.js';

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
