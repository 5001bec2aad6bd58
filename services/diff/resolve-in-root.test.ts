import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CtrdError } from '../../lib/errdefs.js';
import { cleanRelative, isInside, resolveDirInRoot, resolveInRoot } from './resolve-in-root.js';

let base: string;
let root: string;
let outside: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'ctrd-resolve-'));
  root = join(base, 'root');
  outside = join(base, 'outside');
  mkdirSync(join(root, 'usr', 'lib'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, 'canary'), 'x');
});

afterEach(() => {
  rmSync(base, { recursive: true, force: true });
});

describe('cleanRelative', () => {
  it.each([
    ['a/b', 'a/b'],
    ['./a//b/', 'a/b'],
    ['/a/b', 'a/b'],
    ['../../etc/passwd', 'etc/passwd'],
    ['a/../../b', 'b'],
    ['a/./b/../c', 'a/c'],
    ['/', ''],
    ['.', ''],
    ['..', ''],
    ['', ''],
  ])('%j is %j', (name, want) => {
    expect(cleanRelative(name)).toBe(want);
  });
});

describe('resolveInRoot', () => {
  it('joins plain names, existing or not', async () => {
    expect(await resolveInRoot(root, 'usr/lib/x')).toBe(join(root, 'usr/lib/x'));
    expect(await resolveInRoot(root, 'no/such/dir/x')).toBe(join(root, 'no/such/dir/x'));
    expect(await resolveInRoot(root, '')).toBe(root);
  });

  it('clamps .. and absolute names at the root', async () => {
    expect(await resolveInRoot(root, '../../../../../etc/passwd')).toBe(join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, `${outside}/canary`)).toBe(join(root, outside, 'canary'));
  });

  it('follows a relative symlink in a parent inside the root', async () => {
    symlinkSync('usr/lib', join(root, 'lib'));
    expect(await resolveInRoot(root, 'lib/libc.so')).toBe(join(root, 'usr/lib/libc.so'));
  });

  it('re-roots an absolute symlink at the root', async () => {
    symlinkSync(outside, join(root, 'evil'));
    expect(await resolveInRoot(root, 'evil/canary')).toBe(join(root, outside, 'canary'));
  });

  it('keeps a relative symlink that climbs out inside the root', async () => {
    symlinkSync('../../../../../../../../..' + outside, join(root, 'usr', 'evil'));
    expect(await resolveInRoot(root, 'usr/evil/canary')).toBe(join(root, outside, 'canary'));
    symlinkSync('..', join(root, 'up'));
    expect(await resolveInRoot(root, 'up/up/up/x')).toBe(join(root, 'x'));
  });

  it('follows chains of symlinks, each re-rooted', async () => {
    symlinkSync('/b', join(root, 'a'));
    symlinkSync('../../c/', join(root, 'b'));
    mkdirSync(join(root, 'c'));
    expect(await resolveInRoot(root, 'a/f')).toBe(join(root, 'c/f'));
  });

  it('never follows the last component', async () => {
    symlinkSync(join(outside, 'canary'), join(root, 'link'));
    expect(await resolveInRoot(root, 'link')).toBe(join(root, 'link'));
    expect(await resolveDirInRoot(root, 'link')).toBe(join(root, outside, 'canary'));
  });

  it('gives up on symlink loops with InvalidArgument', async () => {
    symlinkSync('loop', join(root, 'loop'));
    const err = await resolveInRoot(root, 'loop/x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CtrdError);
    expect((err as CtrdError).kind).toBe('invalid-argument');
    expect((err as CtrdError).message).toMatch(/too many levels of symbolic links/);
  });

  it('treats a file in the middle as a missing directory', async () => {
    writeFileSync(join(root, 'file'), '');
    expect(await resolveInRoot(root, 'file/x/y')).toBe(join(root, 'file/x/y'));
  });

  it('always lands inside the root', async () => {
    symlinkSync('/', join(root, 'slash'));
    symlinkSync('../..', join(root, 'usr', 'lib', 'up2'));
    for (const name of ['slash/../../x', 'usr/lib/up2/../../../y', '/../slash/usr/lib/up2/z', `slash${outside}/canary`]) {
      const p = await resolveInRoot(root, name);
      expect(isInside(root, p), `${name} -> ${p}`).toBe(true);
    }
  });
});

describe('isInside', () => {
  it('compares whole components', () => {
    expect(isInside('/a/root', '/a/root')).toBe(true);
    expect(isInside('/a/root', '/a/root/x')).toBe(true);
    expect(isInside('/a/root', '/a/rootx')).toBe(false);
    expect(isInside('/a/root', '/a')).toBe(false);
  });
});
