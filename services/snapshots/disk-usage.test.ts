import { linkSync, lstatSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { diskUsage } from './disk-usage.js';

describe('diskUsage', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctrd-du-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts the root, every inode once (hard links too), and allocated blocks', async () => {
    const empty = await diskUsage(dir);
    expect(empty).toEqual({ inodes: 1, size: statSync(dir).blocks * 512 });
    writeFileSync(join(dir, 'f'), Buffer.alloc(100_000, 1));
    linkSync(join(dir, 'f'), join(dir, 'f2'));
    mkdirSync(join(dir, 'sub'));
    symlinkSync('/usr', join(dir, 'sub', 'link'));
    const u = await diskUsage(dir);
    expect(u.inodes).toBe(4);
    const blocks = [dir, join(dir, 'f'), join(dir, 'sub'), join(dir, 'sub', 'link')].map((p) => lstatSync(p).blocks * 512);
    expect(u.size).toBe(blocks.reduce((a, b) => a + b, 0));
    expect(u.size).toBeGreaterThanOrEqual(100_000);
    // A symlink to a big tree is not followed.
    expect(u.size).toBeLessThan(1 << 20);
  });

  it('fails on a missing root', async () => {
    await expect(diskUsage(join(dir, 'missing'))).rejects.toThrow(/ENOENT/);
  });
});
