import { chmodSync, chownSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { constants as fsConstants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { native } from '../../lib/native.js';
import { silentLogger } from '../../lib/log.js';
import { MetadataDB } from '../metadata/db.js';
import { expectKind } from '../../test/harness/errors.js';
import { VolumeCopier } from './copy-up.js';
import { VolumeStore } from './store.js';

const asRoot = process.getuid?.() === 0;

describe.skipIf(!asRoot)('VolumeCopier (copy-up)', () => {
  let dir: string;
  let rootfs: string;
  let db: MetadataDB;
  let store: VolumeStore;
  let copier: VolumeCopier;
  const mounts = () => [{ type: 'bind', source: rootfs, target: '', options: ['rbind', 'ro'] }];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctrd-copyup-'));
    rootfs = join(dir, 'rootfs');
    const data = join(rootfs, 'srv', 'data');
    mkdirSync(join(data, 'sub'), { recursive: true });
    writeFileSync(join(data, 'file'), 'content\n');
    chownSync(join(data, 'file'), 1000, 1001);
    chmodSync(join(data, 'file'), 0o4750);
    linkSync(join(data, 'file'), join(data, 'hard'));
    symlinkSync('file', join(data, 'link'));
    symlinkSync('/srv/data/file', join(data, 'abs'));
    native().mknod(join(data, 'fifo'), fsConstants.S_IFIFO | 0o600, 0, 0);
    native().mknod(join(data, 'null'), fsConstants.S_IFCHR | 0o666, 1, 3);
    native().lsetxattr(join(data, 'file'), 'user.ctrd', Buffer.from('x'));
    chownSync(join(data, 'sub'), 7, 8);
    chmodSync(join(data, 'sub'), 0o710);
    utimesSync(join(data, 'sub'), new Date('2020-01-01T00:00:00Z'), new Date('2020-01-01T00:00:00Z'));
    chownSync(data, 1000, 1000);
    chmodSync(data, 0o750);
    // A symlinked path is followed inside the rootfs.
    symlinkSync('/srv/data', join(rootfs, 'data'));
    mkdirSync(join(dir, 'volumes'));
    db = MetadataDB.open(':memory:');
    store = new VolumeStore(db, join(dir, 'volumes'), () => [], silentLogger);
    copier = new VolumeCopier(store, join(dir, 'mnt'), silentLogger);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fills an empty volume with the directory, owners, modes, links, devices, xattrs and times kept', async () => {
    const { volume } = store.create('default', { name: 'v1' });
    expect(await copier.copyUp('default', 'v1', mounts(), '/data')).toBe(true);
    const m = volume.mountpoint;
    expect(readdirSync(m).sort()).toEqual(['abs', 'fifo', 'file', 'hard', 'link', 'null', 'sub']);
    const root = statSync(m);
    expect([root.uid, root.gid, root.mode & 0o7777]).toEqual([1000, 1000, 0o750]);
    const file = statSync(join(m, 'file'));
    expect([file.uid, file.gid, file.mode & 0o7777, file.nlink]).toEqual([1000, 1001, 0o4750, 2]);
    expect(statSync(join(m, 'hard')).ino).toBe(file.ino);
    expect(readFileSync(join(m, 'link'), 'utf8')).toBe('content\n');
    expect(readlinkSync(join(m, 'abs'))).toBe('/srv/data/file');
    expect(lstatSync(join(m, 'fifo')).isFIFO()).toBe(true);
    const dev = lstatSync(join(m, 'null'));
    expect(dev.isCharacterDevice()).toBe(true);
    expect(dev.rdev).toBe(lstatSync('/dev/null').rdev);
    expect(native().lgetxattr(join(m, 'file'), 'user.ctrd')?.toString()).toBe('x');
    const sub = statSync(join(m, 'sub'));
    expect([sub.uid, sub.gid, sub.mode & 0o7777, sub.mtime.toISOString()]).toEqual([7, 8, 0o710, '2020-01-01T00:00:00.000Z']);
  });

  it('leaves a volume with data, and a path that is no directory, alone', async () => {
    const { volume } = store.create('default', { name: 'v2' });
    writeFileSync(join(volume.mountpoint, 'mine'), 'mine');
    expect(await copier.copyUp('default', 'v2', mounts(), '/data')).toBe(false);
    expect(readdirSync(volume.mountpoint)).toEqual(['mine']);
    store.create('default', { name: 'v3' });
    expect(await copier.copyUp('default', 'v3', mounts(), '/nothing')).toBe(false);
    expect(await copier.copyUp('default', 'v3', mounts(), '/srv/data/file')).toBe(false);
    // "..", however many, stays inside the rootfs.
    expect(await copier.copyUp('default', 'v3', mounts(), '/../../srv/data')).toBe(true);
  });

  it('refuses a missing volume, a relative path and no mounts', async () => {
    store.create('default', { name: 'v4' });
    await expectKind(() => copier.copyUp('default', 'nope', mounts(), '/data'), 'not-found', 'nope');
    await expectKind(() => copier.copyUp('default', 'v4', mounts(), 'data'), 'invalid-argument', 'absolute');
    await expectKind(() => copier.copyUp('default', 'v4', [], '/data'), 'invalid-argument', 'mounts');
    expect(readdirSync(join(dir, 'mnt'))).toEqual([]);
  });
});
