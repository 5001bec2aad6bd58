// The reaper in a real process tree: orphans reparent to the subreaper and are reaped with their status,
// an exit before its pid is claimed is kept, and libuv's own children are never taken from it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from './command.js';
import { createShimLogger } from './log.js';
import { children, Reaper, type Exit } from './reaper.js';

let reaper: Reaper;
beforeAll(() => {
  reaper = new Reaper(createShimLogger({ level: 'error' }));
});
afterAll(() => {
  reaper.close();
});

/** Starts `sh -c "(<cmd>) & echo $!"`: the background job outlives sh and becomes our child. */
async function orphan(cmd: string): Promise<number> {
  const r = await runCommand(reaper, '/bin/sh', ['-c', `(${cmd}) </dev/null >/dev/null 2>&1 & echo $!`]);
  expect(r.code).toBe(0);
  return Number(r.stdout.trim());
}

const exitOf = (pid: number) => new Promise<Exit>((resolve) => reaper.watch(pid, resolve));

describe('reaper', () => {
  it('reaps an orphan that reparented to the subreaper, with its exit code', async () => {
    const pid = await orphan('sleep 0.2; exit 7');
    expect(children()).toContain(pid);
    const exit = await exitOf(pid);
    expect(exit).toMatchObject({ pid, status: 7 });
    expect(exit.exitedAt).toBeInstanceOf(Date);
  });

  it('reports a signal as 128 + signo', async () => {
    const pid = await orphan('sleep 100');
    const exited = exitOf(pid);
    process.kill(pid, 'SIGKILL');
    expect((await exited).status).toBe(137);
  });

  it('keeps an exit that came before anyone asked for its pid', async () => {
    const pid = await orphan('sleep 0.05; exit 3');
    await new Promise((r) => setTimeout(r, 200)); // reaped by then, on its SIGCHLD
    expect(children()).not.toContain(pid);
    expect((await exitOf(pid)).status).toBe(3);
  });

  it('leaves libuv its own children: exit codes of spawned commands stay right', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => runCommand(reaper, '/bin/sh', ['-c', `exit ${i}`])));
    expect(results.map((r) => r.code)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
