// Persistent network namespaces against the real kernel: made, entered with nsenter, removed without a trace.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CtrdError } from './errdefs.js';
import { createNetns, isNetnsMounted, removeNetns } from './netns.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ctrd-netns-'));
});

afterEach(() => {
  for (const f of readdirSync(dir)) removeNetns(join(dir, f));
  expect(readdirSync(dir)).toEqual([]);
  rmSync(dir, { recursive: true });
});

const links = (file: string) =>
  execFileSync('nsenter', [`--net=${file}`, 'ip', '-o', 'link'], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(': ')[1]);

const netnsInode = (file: string) => execFileSync('stat', ['-L', '-c', '%i', file], { encoding: 'utf8' }).trim();

describe('createNetns', () => {
  it('pins a fresh namespace with only lo in it', async () => {
    const file = join(dir, 'n1');
    await createNetns(file);
    expect(isNetnsMounted(file)).toBe(true);
    expect(links(file)).toEqual(['lo']);
    // It is a different namespace from this process's one, and from another made next to it.
    const other = join(dir, 'n2');
    await createNetns(other);
    const self = execFileSync('stat', ['-L', '-c', '%i', '/proc/self/ns/net'], { encoding: 'utf8' }).trim();
    expect(new Set([netnsInode(file), netnsInode(other), self]).size).toBe(3);
    // A link made in one is seen there only.
    execFileSync('nsenter', [`--net=${file}`, 'ip', 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb']);
    expect(links(file)).toEqual(['lo', 'vb@va', 'va@vb']);
    expect(links(other)).toEqual(['lo']);

    removeNetns(file);
    removeNetns(other);
    for (const f of [file, other]) {
      expect(isNetnsMounted(f)).toBe(false);
      expect(existsSync(f)).toBe(false);
    }
  });

  it('refuses an existing file and leaves it alone', async () => {
    const file = join(dir, 'taken');
    writeFileSync(file, 'x');
    const err = await createNetns(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CtrdError);
    expect((err as CtrdError).kind).toBe('already-exists');
    expect((err as CtrdError).message).toContain(file);
    expect(statSync(file).size).toBe(1);
    expect(isNetnsMounted(file)).toBe(false);
  });

  it('leaves nothing when the namespace cannot be pinned', async () => {
    const file = join(dir, 'missing-dir', 'n');
    await expect(createNetns(file)).rejects.toThrow(file);
    expect(existsSync(file)).toBe(false);
    expect(isNetnsMounted(file)).toBe(false);
  });

  it('removes its file when unshare cannot run', async () => {
    const file = join(dir, 'n');
    const path = process.env.PATH;
    process.env.PATH = join(dir, 'no-bin');
    try {
      await expect(createNetns(file)).rejects.toThrow(`create network namespace ${file}: unshare --net`);
    } finally {
      process.env.PATH = path;
    }
    expect(existsSync(file)).toBe(false);
    expect(isNetnsMounted(file)).toBe(false);
  });
});

describe('removeNetns', () => {
  it('is idempotent, on a namespace, on an unmounted file and on nothing', async () => {
    const file = join(dir, 'n');
    await createNetns(file);
    removeNetns(file);
    removeNetns(file);
    writeFileSync(file, '');
    removeNetns(file);
    expect(existsSync(file)).toBe(false);
    expect(isNetnsMounted(file)).toBe(false);
  });
});
