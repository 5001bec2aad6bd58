// The addon against the real kernel: devices, fifos, xattrs of files and of symlinks themselves, errors as
// Node's fs errors, and a tmpfs mounted and unmounted.
import { constants, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { native, type NativeError } from './native.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ctrd-native-'));
});

afterEach(() => {
  expect(mountsUnder(dir)).toEqual([]);
  rmSync(dir, { recursive: true, force: true });
});

function mountsUnder(prefix: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((target) => target === prefix || target.startsWith(prefix + '/'));
}

function thrown(fn: () => unknown): NativeError {
  try {
    fn();
  } catch (err) {
    return err as NativeError;
  }
  throw new Error('expected a throw');
}

describe('mknod', () => {
  it('makes a char device 0/0 (an overlay whiteout) and a fifo', () => {
    native().mknod(join(dir, 'wh'), constants.S_IFCHR | 0o600, 0, 0);
    const wh = lstatSync(join(dir, 'wh'));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect(wh.mode & 0o777).toBe(0o600 & ~process.umask());

    native().mknod(join(dir, 'null'), constants.S_IFCHR | 0o666, 1, 3);
    expect(lstatSync(join(dir, 'null')).rdev).toBe(0x103);

    native().mknod(join(dir, 'fifo'), constants.S_IFIFO | 0o644, 0, 0);
    expect(lstatSync(join(dir, 'fifo')).isFIFO()).toBe(true);
  });

  it('throws errors shaped like Node fs errors', () => {
    native().mknod(join(dir, 'f'), constants.S_IFIFO | 0o644, 0, 0);
    const err = thrown(() => native().mknod(join(dir, 'f'), constants.S_IFIFO | 0o644, 0, 0));
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ code: 'EEXIST', errno: -17, syscall: 'mknod', path: join(dir, 'f') });
    expect(err.message).toBe(`EEXIST: file exists, mknod '${join(dir, 'f')}'`);

    const missing = thrown(() => native().mknod(join(dir, 'no', 'f'), constants.S_IFIFO, 0, 0));
    expect(missing).toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'mknod', path: join(dir, 'no', 'f') });
  });

  it('rejects arguments of the wrong type', () => {
    expect(() => native().mknod(join(dir, 'x'), -1, 0, 0)).toThrow(TypeError);
    expect(() => (native().mknod as (...a: unknown[]) => void)(join(dir, 'x'), '0', 0, 0)).toThrow(TypeError);
    expect(() => native().mknod(`${dir}/a\0b`, constants.S_IFIFO, 0, 0)).toThrow(/NUL/);
  });
});

describe('xattrs', () => {
  it('sets, gets, lists and removes user.* and trusted.* attributes of a file, binary values intact', () => {
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    const binary = Buffer.from([0x01, 0x00, 0x00, 0x02, 0xff, 0xfe, 0x80]);
    native().lsetxattr(file, 'user.greeting', Buffer.from('hello'));
    native().lsetxattr(file, 'trusted.blob', binary);
    native().lsetxattr(file, 'user.empty', Buffer.alloc(0));

    expect(native().lgetxattr(file, 'user.greeting')).toEqual(Buffer.from('hello'));
    expect(native().lgetxattr(file, 'trusted.blob')).toEqual(binary);
    expect(native().lgetxattr(file, 'user.empty')).toEqual(Buffer.alloc(0));
    expect(native().lgetxattr(file, 'user.absent')).toBeUndefined();
    expect(native().llistxattr(file).sort()).toEqual(['trusted.blob', 'user.empty', 'user.greeting']);

    native().lremovexattr(file, 'user.greeting');
    expect(native().lgetxattr(file, 'user.greeting')).toBeUndefined();
    expect(native().llistxattr(file).sort()).toEqual(['trusted.blob', 'user.empty']);

    const err = thrown(() => native().lremovexattr(file, 'user.greeting'));
    expect(err).toMatchObject({ code: 'ENODATA', syscall: 'lremovexattr', path: file });
  });

  it('reads a large value', () => {
    const file = join(dir, 'file');
    writeFileSync(file, '');
    const big = Buffer.alloc(3000, 7);
    native().lsetxattr(file, 'user.big', big);
    expect(native().lgetxattr(file, 'user.big')).toEqual(big);
  });

  it('works on a symlink itself, not on its target', () => {
    const target = join(dir, 'target');
    const link = join(dir, 'link');
    writeFileSync(target, 'x');
    symlinkSync('target', link);

    native().lsetxattr(link, 'trusted.on-link', Buffer.from('1'));
    expect(native().lgetxattr(link, 'trusted.on-link')).toEqual(Buffer.from('1'));
    expect(native().llistxattr(link)).toEqual(['trusted.on-link']);
    expect(native().lgetxattr(target, 'trusted.on-link')).toBeUndefined();
    expect(native().llistxattr(target)).toEqual([]);

    native().lremovexattr(link, 'trusted.on-link');
    expect(native().llistxattr(link)).toEqual([]);

    // The kernel keeps user.* to regular files and directories.
    const err = thrown(() => native().lsetxattr(link, 'user.x', Buffer.from('1')));
    expect(err).toMatchObject({ code: 'EPERM', errno: -1, syscall: 'lsetxattr', path: link });
    expect(native().lgetxattr(target, 'user.x')).toBeUndefined();
  });

  it('reports a missing file', () => {
    const path = join(dir, 'missing');
    expect(thrown(() => native().llistxattr(path))).toMatchObject({ code: 'ENOENT', syscall: 'llistxattr', path });
    expect(thrown(() => native().lgetxattr(path, 'user.x'))).toMatchObject({ code: 'ENOENT', syscall: 'lgetxattr', path });
  });
});

describe('mount', () => {
  it('mounts a tmpfs and unmounts it', () => {
    const target = join(dir, 'mnt');
    mkdirSync(target);
    const { MS_NODEV, MS_NOSUID } = native().constants;
    native().mount('tmpfs', target, 'tmpfs', MS_NODEV | MS_NOSUID, 'size=1m,mode=0750');
    try {
      expect(mountsUnder(dir)).toEqual([target]);
      expect(lstatSync(target).mode & 0o7777).toBe(0o750);
      writeFileSync(join(target, 'inside'), 'x');
    } finally {
      native().umount2(target, 0);
    }
    expect(mountsUnder(dir)).toEqual([]);
    expect(() => lstatSync(join(target, 'inside'))).toThrow(/ENOENT/);
  });

  it('binds read-only with a remount', () => {
    const src = join(dir, 'src');
    const target = join(dir, 'mnt');
    mkdirSync(src);
    mkdirSync(target);
    writeFileSync(join(src, 'f'), 'data');
    const c = native().constants;
    native().mount(src, target, '', c.MS_BIND, '');
    try {
      native().mount('', target, '', c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY, '');
      expect(readFileSync(join(target, 'f'), 'utf8')).toBe('data');
      expect(() => writeFileSync(join(target, 'g'), 'x')).toThrow(/EROFS/);
    } finally {
      native().umount2(target, c.MNT_DETACH);
    }
  });

  it('reports failures with the target', () => {
    const target = join(dir, 'absent');
    expect(thrown(() => native().mount('tmpfs', target, 'tmpfs', 0, ''))).toMatchObject({
      code: 'ENOENT',
      syscall: 'mount',
      path: target,
    });
    expect(thrown(() => native().umount2(dir, 0))).toMatchObject({ code: 'EINVAL', syscall: 'umount2', path: dir });
    expect(native().constants.MNT_DETACH).toBe(2);
  });
});
