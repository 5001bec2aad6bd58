// At most n tasks at once: `const run = limit(3); await Promise.all(layers.map((l) => run(() => fetch(l))))`.
import { invalidArgument } from '../errdefs.js';

export type Limiter = <T>(task: () => Promise<T>) => Promise<T>;

export function limit(n: number): Limiter {
  if (!Number.isInteger(n) || n < 1) throw invalidArgument(`limit must be a positive integer, got ${n}`);
  let active = 0;
  const waiting: Array<() => void> = [];
  // A finishing task hands its slot straight to the first waiter, so a newcomer cannot slip in between.
  const next = () => {
    const wake = waiting.shift();
    if (wake) wake();
    else active--;
  };
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    else active++;
    try {
      return await task();
    } finally {
      next();
    }
  };
}
