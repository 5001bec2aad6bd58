// The native backend: bind mounts as containerd's native snapshotter describes them, and a copy of the
// parent that keeps everything a container image layer can hold.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copyTree, NativeSnapshotter } from './native.js';

function hasPython(): boolean {
  try {
    execFileSync('python3', ['-c', 'import os; os.setxattr']);
    return true;
  } catch {
    return false;
  }
}

const setXattr = (path: string, name: string, value: string) =>
  execFileSync('python3', ['-c', 'import os, sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode())', path, name, value]);
const getXattr = (path: string, name: string) =>
  execFileSync('python3', ['-c', 'import os, sys; print(os.getxattr(sys.argv[1], sys.argv[2]).decode(), end="")', path, name]).toString();

describe('NativeSnapshotter', () => {
  let top: string;
  let root: string;

  beforeEach(() => {
    top = mkdtempSync(join(tmpdir(), 'ctrd-native-'));
    root = join(top, 'io.containerd.snapshotter.v1.native');
  });

  afterEach(() => {
    rmSync(top, { recursive: true, force: true });
    expect(existsSync(top)).toBe(false);
  });

  it('mounts: a bind of its own directory, or of the parent for a view on one', () => {
    const n = new NativeSnapshotter(root);
    const dir = (id: string) => `${root}/snapshots/${id}`;
    expect(n.mounts({ id: '1', kind: 'active', parentIds: [] })).toEqual([{ type: 'bind', source: dir('1'), options: ['rbind', 'rw'] }]);
    expect(n.mounts({ id: '3', kind: 'active', parentIds: ['2', '1'] })).toEqual([{ type: 'bind', source: dir('3'), options: ['rbind', 'rw'] }]);
    expect(n.mounts({ id: '4', kind: 'view', parentIds: [] })).toEqual([{ type: 'bind', source: dir('4'), options: ['rbind', 'ro'] }]);
    expect(n.mounts({ id: '5', kind: 'view', parentIds: ['2', '1'] })).toEqual([{ type: 'bind', source: dir('2'), options: ['rbind', 'ro'] }]);
  });

  it('a view on a parent has no directory of its own', async () => {
    const n = new NativeSnapshotter(root);
    const staged = await n.stage('view', ['1']);
    expect(staged.path).toBeUndefined();
    n.place(staged, '2');
    expect(readdirSync(join(root, 'snapshots'))).toEqual([]);
  });

  it('an active snapshot on a parent starts as a copy of it (0755 root when it has none)', async () => {
    const n = new NativeSnapshotter(root);
    n.place(await n.stage('active', []), '1');
    expect(statSync(n.dirPath('1')).mode & 0o777).toBe(0o755);
    writeFileSync(join(n.dirPath('1'), 'f'), 'parent data');
    n.place(await n.stage('active', ['1']), '2');
    expect(readFileSync(join(n.dirPath('2'), 'f'), 'utf8')).toBe('parent data');
    writeFileSync(join(n.dirPath('2'), 'f'), 'child data');
    expect(readFileSync(join(n.dirPath('1'), 'f'), 'utf8')).toBe('parent data');
  });

  describe('copyTree', () => {
    let src: string;
    let dst: string;

    beforeEach(() => {
      src = join(top, 'src');
      dst = join(top, 'dst');
      mkdirSync(src, { mode: 0o750 });
      mkdirSync(dst);
    });

    it('keeps modes, owners, times, symlinks, hard links and special files', () => {
      writeFileSync(join(src, 'file'), 'data', { mode: 0o640 });
      chownSync(join(src, 'file'), 1001, 1002);
      chmodSync(join(src, 'file'), 0o4750);
      mkdirSync(join(src, 'private'), { mode: 0o700 });
      writeFileSync(join(src, 'private', 'secret'), 's');
      symlinkSync('/nowhere/at/all', join(src, 'dangling'));
      symlinkSync('file', join(src, 'relative'));
      linkSync(join(src, 'file'), join(src, 'hardlink'));
      execFileSync('mkfifo', [join(src, 'fifo')]);
      execFileSync('mknod', [join(src, 'null'), 'c', '1', '3']);
      utimesSync(join(src, 'file'), new Date('2001-02-03T04:05:06Z'), new Date('2001-02-03T04:05:06Z'));
      chmodSync(src, 0o750);

      return copyTree(src, dst).then(() => {
        expect(statSync(dst).mode & 0o7777).toBe(0o750);
        const file = statSync(join(dst, 'file'));
        expect(file.mode & 0o7777).toBe(0o4750);
        expect([file.uid, file.gid]).toEqual([1001, 1002]);
        expect(file.mtime.toISOString()).toBe('2001-02-03T04:05:06.000Z');
        expect(statSync(join(dst, 'private')).mode & 0o777).toBe(0o700);
        expect(readFileSync(join(dst, 'private', 'secret'), 'utf8')).toBe('s');
        expect(readlinkSync(join(dst, 'dangling'))).toBe('/nowhere/at/all');
        expect(readlinkSync(join(dst, 'relative'))).toBe('file');
        expect(statSync(join(dst, 'hardlink')).ino).toBe(file.ino);
        expect(statSync(join(dst, 'hardlink')).ino).not.toBe(statSync(join(src, 'file')).ino);
        expect(lstatSync(join(dst, 'fifo')).isFIFO()).toBe(true);
        const dev = lstatSync(join(dst, 'null'));
        expect(dev.isCharacterDevice()).toBe(true);
        expect(dev.rdev).toBe(statSync('/dev/null').rdev);
      });
    });

    it.skipIf(!hasPython())('keeps extended attributes', async () => {
      writeFileSync(join(src, 'file'), 'data');
      setXattr(join(src, 'file'), 'user.ctrd.test', 'value');
      setXattr(join(src, 'file'), 'trusted.overlay.opaque', 'y');
      await copyTree(src, dst);
      expect(getXattr(join(dst, 'file'), 'user.ctrd.test')).toBe('value');
      expect(getXattr(join(dst, 'file'), 'trusted.overlay.opaque')).toBe('y');
    });

    it('a failed copy says what failed', async () => {
      await expect(copyTree(join(top, 'missing'), dst)).rejects.toThrow(/copying .*missing.* failed: .*No such file/);
    });
  });
});
