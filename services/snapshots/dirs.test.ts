// The directory mechanics under a snapshotter's root: staged aside, placed by id, detached before removal,
// put back after a crash, and garbage told apart from live and in-progress directories.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SnapshotDirs } from './dirs.js';

describe('SnapshotDirs', () => {
  let top: string;
  let d: SnapshotDirs;
  const ls = () => readdirSync(d.dir).sort();

  beforeEach(() => {
    top = mkdtempSync(join(tmpdir(), 'ctrd-snapshot-dirs-'));
    d = new SnapshotDirs(join(top, 'root'));
  });

  afterEach(() => {
    rmSync(top, { recursive: true, force: true });
    expect(existsSync(top)).toBe(false);
  });

  it('stages aside under new-, then places under the id', async () => {
    const staged = await d.stage(async (p) => writeFileSync(join(p, 'f'), 'x'));
    expect(ls()).toEqual([expect.stringMatching(/^new-/)]);
    d.place(staged, '1');
    expect(ls()).toEqual(['1']);
    expect(readFileSync(join(d.path('1'), 'f'), 'utf8')).toBe('x');
  });

  it('a failed build leaves nothing; discard removes a staged or placed directory', async () => {
    await expect(d.stage(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(ls()).toEqual([]);
    await d.discard(await d.stage(async () => undefined));
    const placed = await d.stage(async () => undefined);
    d.place(placed, '3');
    await d.discard(placed);
    expect(ls()).toEqual([]);
  });

  it('placing over a stale directory of a transaction that never committed replaces it', async () => {
    mkdirSync(join(d.path('5'), 'stale'), { recursive: true });
    d.place(await d.stage(async (p) => writeFileSync(join(p, 'fresh'), '')), '5');
    expect(readdirSync(d.path('5'))).toEqual(['fresh']);
    expect(ls()).toEqual(['5', expect.stringMatching(/^rm-5-/)]);
    const [stale] = d.orphans(new Set(['5']));
    expect(readdirSync(stale!.path)).toEqual(['stale']);
    await d.purge(stale!);
    expect(ls()).toEqual(['5']);
  });

  it('detach renames aside, reattach puts back, purge deletes', async () => {
    d.place(await d.stage(async () => undefined), '7');
    const gone = d.detach('7')!;
    expect(ls()).toEqual([expect.stringMatching(/^rm-7-/)]);
    d.reattach(gone);
    expect(ls()).toEqual(['7']);
    await d.purge(d.detach('7')!);
    expect(ls()).toEqual([]);
    expect(d.detach('7')).toBeUndefined();
  });

  it('recover puts back what a crash left detached while its row still exists', () => {
    mkdirSync(join(d.dir, 'rm-1-aaaa'));
    mkdirSync(join(d.dir, 'rm-2-bbbb'));
    mkdirSync(join(d.dir, '3'));
    mkdirSync(join(d.dir, 'rm-3-cccc'));
    d.recover(new Set(['1', '3']));
    // 1 is back; 2 has no row; 3 is already in place, so its detached twin is garbage.
    expect(ls()).toEqual(['1', '3', 'rm-2-bbbb', 'rm-3-cccc']);
  });

  it('orphans are everything but live ids and directories being staged', async () => {
    for (const name of ['1', '2', '99', 'new-old', 'rm-4-dead', 'junk']) mkdirSync(join(d.dir, name));
    let release!: () => void;
    const inProgress = d.stage(() => new Promise<void>((r) => (release = r)));
    await new Promise((r) => setTimeout(r, 20));
    const orphans = d.orphans(new Set(['1', '2']));
    expect(orphans.map((o) => o.id).sort()).toEqual(['4', '99', 'junk', 'new-old']);
    for (const o of orphans) await d.purge(o);
    release();
    d.place(await inProgress, '3');
    expect(ls()).toEqual(['1', '2', '3']);
  });
});
