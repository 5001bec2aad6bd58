// Mount lists as directories, against the real kernel: what is worked on in place, what is mounted, and
// that every temporary mount and directory is gone afterwards, on failure too.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CtrdError } from '../../lib/errdefs.js';
import { native } from '../../lib/native.js';
import {
  cleanupTempMounts,
  lowerDirsOf,
  mountsUnder,
  overlayUpperOver,
  parseMountOptions,
  readonlyOptions,
  withApplyTarget,
  withReadonlyView,
  withTempMount,
} from './mounts.js';
import type { Mount } from './types.js';

let base: string;
let tmpRoot: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'ctrd-mounts-'));
  tmpRoot = join(base, 'tmpmounts');
});

afterEach(() => {
  expect(mountsUnder(base)).toEqual([]);
  rmSync(base, { recursive: true, force: true });
});

/** Two layers and an empty upper, as the overlay snapshotter lays out an active snapshot. */
function layers() {
  const l1 = join(base, 'l1');
  const l2 = join(base, 'l2');
  const upper = join(base, 'upper');
  const work = join(base, 'work');
  for (const d of [l1, l2, upper, work]) mkdirSync(d);
  writeFileSync(join(l1, 'from-l1'), 'l1');
  writeFileSync(join(l2, 'from-l2'), 'l2');
  writeFileSync(join(l1, 'both'), 'l1 wins');
  writeFileSync(join(l2, 'both'), 'l2');
  writeFileSync(join(upper, 'from-upper'), 'upper');
  const active: Mount = { type: 'overlay', source: 'overlay', options: ['index=off', `workdir=${work}`, `upperdir=${upper}`, `lowerdir=${l1}:${l2}`] };
  const view: Mount = { type: 'overlay', source: 'overlay', options: ['index=off', `lowerdir=${l1}:${l2}`] };
  return { l1, l2, upper, work, active, view };
}

const noEntries = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);

describe('options', () => {
  it('parses flags, propagation and data as containerd does', () => {
    const c = native().constants;
    expect(parseMountOptions(['ro', 'rbind', 'nosuid', 'nodev', 'rprivate'])).toEqual({
      flags: c.MS_RDONLY | c.MS_BIND | c.MS_REC | c.MS_NOSUID | c.MS_NODEV,
      propagation: c.MS_PRIVATE | c.MS_REC,
      data: '',
    });
    expect(parseMountOptions(['ro', 'rw', 'index=off', 'lowerdir=/a:/b', 'suid', 'nosuid'])).toEqual({
      flags: c.MS_NOSUID,
      propagation: 0,
      data: 'index=off,lowerdir=/a:/b',
    });
  });

  it('makes read-only overlay views with the upperdir on top of the lowerdirs', () => {
    expect(readonlyOptions({ type: 'overlay', source: 'overlay', options: ['index=off', 'workdir=/w', 'upperdir=/u', 'lowerdir=/a:/b'] })).toEqual([
      'index=off',
      'lowerdir=/u:/a:/b',
      'ro',
    ]);
    expect(readonlyOptions({ type: 'bind', source: '/s', options: ['rw', 'rbind'] })).toEqual(['rbind', 'ro']);
  });

  it('tells the layers under a read-only mount set', () => {
    expect(lowerDirsOf([])).toEqual([]);
    expect(lowerDirsOf([{ type: 'bind', source: '/a', options: ['ro', 'rbind'] }])).toEqual(['/a']);
    expect(lowerDirsOf([{ type: 'overlay', source: 'overlay', options: ['lowerdir=/a:/b'] }])).toEqual(['/a', '/b']);
    expect(lowerDirsOf([{ type: 'overlay', source: 'overlay', options: ['upperdir=/u', 'lowerdir=/a'] }])).toBeUndefined();
    expect(lowerDirsOf([{ type: 'tmpfs', source: 'tmpfs', options: [] }])).toBeUndefined();
  });

  it('finds the upperdir holding exactly the changes from lower to upper', () => {
    const upper: Mount = { type: 'overlay', source: 'overlay', options: ['workdir=/w', 'upperdir=/u', 'lowerdir=/a:/b'] };
    expect(overlayUpperOver([{ type: 'overlay', source: 'overlay', options: ['lowerdir=/a:/b'] }], [upper])).toBe('/u');
    expect(overlayUpperOver([{ type: 'bind', source: '/a', options: ['ro'] }], [{ ...upper, options: ['upperdir=/u', 'lowerdir=/a'] }])).toBe('/u');
    expect(overlayUpperOver([{ type: 'bind', source: '/a', options: ['ro'] }], [upper])).toBeUndefined();
    expect(overlayUpperOver([{ type: 'overlay', source: 'overlay', options: ['lowerdir=/b:/a'] }], [upper])).toBeUndefined();
    expect(overlayUpperOver([], [{ type: 'bind', source: '/u', options: ['rw'] }])).toBeUndefined();
  });
});

describe('withApplyTarget', () => {
  it('works straight in the upperdir of an overlay, with overlay whiteouts and no mount', async () => {
    const { upper, active } = layers();
    const target = await withApplyTarget([active], tmpRoot, {}, async (t) => {
      expect(mountsUnder(base)).toEqual([]);
      return t;
    });
    expect(target).toEqual({ root: upper, whiteouts: 'overlay' });
  });

  it('works straight in the source of a writable bind mount', async () => {
    const dir = join(base, 'snap');
    mkdirSync(dir);
    const target = await withApplyTarget([{ type: 'bind', source: dir, options: ['rw', 'rbind'] }], tmpRoot, {}, async (t) => t);
    expect(target).toEqual({ root: dir, whiteouts: 'plain' });
  });

  it('mounts anything else on a temporary directory, and unmounts and removes it after', async () => {
    const { view } = layers();
    const seen = await withApplyTarget([{ type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }], tmpRoot, {}, async (t) => {
      expect(t.whiteouts).toBe('plain');
      expect(mountsUnder(tmpRoot)).toEqual([t.root]);
      writeFileSync(join(t.root, 'x'), 'x');
      return t.root;
    });
    expect(existsSync(seen)).toBe(false);
    expect(noEntries(tmpRoot)).toEqual([]);

    // A read-only overlay (no upperdir) is mounted too: writing fails, and the mount still goes.
    const err = await withApplyTarget([view], tmpRoot, {}, async (t) => {
      expect(readFileSync(join(t.root, 'both'), 'utf8')).toBe('l1 wins');
      writeFileSync(join(t.root, 'y'), 'y');
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EROFS' });
    expect(noEntries(tmpRoot)).toEqual([]);
  });

  it('unmounts when the work fails', async () => {
    const err = await withApplyTarget([{ type: 'tmpfs', source: 'tmpfs', options: [] }], tmpRoot, {}, async () => {
      throw new Error('boom');
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('boom');
    expect(noEntries(tmpRoot)).toEqual([]);
  });

  it('unmounts what was mounted when a later mount of the list fails', async () => {
    const err = await withApplyTarget(
      [
        { type: 'tmpfs', source: 'tmpfs', options: [] },
        { type: 'bind', source: join(base, 'no-such-dir'), options: ['rbind'] },
      ],
      tmpRoot,
      {},
      async () => 'never',
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ENOENT', syscall: 'mount' });
    expect(noEntries(tmpRoot)).toEqual([]);
  });

  it('rejects bad mount lists with InvalidArgument before mounting anything', async () => {
    for (const mounts of [
      [],
      [{ type: '', source: '/x', options: [] }],
      [{ type: 'bind', source: 'relative', options: [] }],
      [{ type: 'overlay', source: 'overlay', options: ['upperdir=rel', 'lowerdir=/a'] }],
      [{ type: 'bind', source: join(base, 'missing'), options: ['rw'] }],
    ] as Mount[][]) {
      const err = await withApplyTarget(mounts, tmpRoot, {}, async () => undefined).catch((e: unknown) => e);
      expect(err, JSON.stringify(mounts)).toBeInstanceOf(CtrdError);
      expect((err as CtrdError).kind).toBe('invalid-argument');
    }
    expect(noEntries(tmpRoot)).toEqual([]);
  });
});

describe('withReadonlyView', () => {
  it('views no mounts as an empty directory, removed after', async () => {
    const seen = await withReadonlyView([], tmpRoot, {}, async (dir) => {
      expect(readdirSync(dir)).toEqual([]);
      return dir;
    });
    expect(existsSync(seen)).toBe(false);
  });

  it('views a bind mount and a one-layer overlay as their directory', async () => {
    const { l1 } = layers();
    expect(await withReadonlyView([{ type: 'bind', source: l1, options: ['ro', 'rbind'] }], tmpRoot, {}, async (d) => d)).toBe(l1);
    expect(await withReadonlyView([{ type: 'overlay', source: 'overlay', options: [`lowerdir=${l1}`] }], tmpRoot, {}, async (d) => d)).toBe(l1);
  });

  it('views an active overlay read-only, its upperdir on top, without mounting the upperdir as an upper', async () => {
    const { active, upper } = layers();
    await withReadonlyView([active], tmpRoot, {}, async (dir) => {
      expect(readdirSync(dir).sort()).toEqual(['both', 'from-l1', 'from-l2', 'from-upper']);
      expect(readFileSync(join(dir, 'both'), 'utf8')).toBe('l1 wins');
      expect(() => writeFileSync(join(dir, 'new'), 'x')).toThrow(/EROFS/);
      const info = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === dir)!;
      expect(info).toContain(`lowerdir=${upper}:`);
      expect(info).not.toContain('upperdir=');
    });
    expect(noEntries(tmpRoot)).toEqual([]);
  });
});

describe('withTempMount and cleanupTempMounts', () => {
  it('never deletes what is beneath a mount that cannot be unmounted', async () => {
    // The work leaves the mount busy: a process with its cwd inside. Unmounting retries, then detaches.
    const { spawn } = await import('node:child_process');
    let child: ReturnType<typeof spawn> | undefined;
    await withTempMount([{ type: 'tmpfs', source: 'tmpfs', options: [] }], tmpRoot, { readonly: false }, async (dir) => {
      writeFileSync(join(dir, 'data'), 'x');
      child = spawn('sleep', ['30'], { cwd: dir, stdio: 'ignore' });
      await new Promise((r) => child!.once('spawn', r));
    });
    child!.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    expect(noEntries(tmpRoot)).toEqual([]);
  });

  it('undoes the mounts and directories a crash left', () => {
    mkdirSync(join(tmpRoot, 'mount-crashed'), { recursive: true });
    mkdirSync(join(tmpRoot, 'mount-empty'));
    native().mount('tmpfs', join(tmpRoot, 'mount-crashed'), 'tmpfs', 0, '');
    native().mount('tmpfs', join(tmpRoot, 'mount-crashed'), 'tmpfs', 0, '');
    expect(mountsUnder(tmpRoot)).toHaveLength(2);
    cleanupTempMounts(tmpRoot);
    expect(mountsUnder(tmpRoot)).toEqual([]);
    expect(readdirSync(tmpRoot)).toEqual([]);
  });

  it('reads mount points with spaces from mountinfo', () => {
    const dir = join(base, 'with space');
    mkdirSync(dir);
    native().mount('tmpfs', dir, 'tmpfs', 0, '');
    try {
      expect(mountsUnder(base)).toEqual([dir]);
    } finally {
      native().umount2(dir, 0);
    }
  });
});
