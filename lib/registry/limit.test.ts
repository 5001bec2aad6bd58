import { describe, expect, it } from 'vitest';
import { limit } from './limit.js';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('limit', () => {
  it('runs at most n tasks at once, and all of them', async () => {
    const run = limit(3);
    let active = 0;
    let peak = 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        run(async () => {
          active++;
          peak = Math.max(peak, active);
          await tick();
          active--;
          return i;
        }),
      ),
    );
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(peak).toBe(3);
  });

  it('frees the slot of a failed task', async () => {
    const run = limit(1);
    await expect(run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await run(async () => 'next')).toBe('next');
  });

  it('lets no newcomer in between a finishing task and the waiter it wakes', async () => {
    const run = limit(1);
    let active = 0;
    let peak = 0;
    const task = async () => {
      active++;
      peak = Math.max(peak, active);
      await tick();
      active--;
    };
    const first = run(task);
    const second = run(task);
    await first;
    const third = run(task); // arrives while the second is being woken
    await Promise.all([second, third]);
    expect(peak).toBe(1);
  });

  it('wants a positive integer', () => {
    expect(() => limit(0)).toThrow(/positive integer/);
  });
});
