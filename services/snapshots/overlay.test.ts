// The overlayfs backend's mounts must be exactly containerd's (clients mount them themselves), and its
// directories laid out as containerd's: <id>/fs (0755) and, for an active snapshot, <id>/work (0711).
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OverlaySnapshotter, overlayIndexParameter } from './overlay.js';

describe('OverlaySnapshotter', () => {
  let top: string;
  let root: string;

  beforeEach(() => {
    top = mkdtempSync(join(tmpdir(), 'ctrd-overlay-'));
    root = join(top, 'io.containerd.snapshotter.v1.overlayfs');
  });

  afterEach(() => {
    rmSync(top, { recursive: true, force: true });
    expect(existsSync(top)).toBe(false);
  });

  describe('mounts, as containerd describes them', () => {
    const fs = (id: string) => `${root}/snapshots/${id}/fs`;

    it('without a parent: a bind mount of the layer, rw or ro', () => {
      const o = new OverlaySnapshotter(root, { indexOff: true });
      expect(o.mounts({ id: '1', kind: 'active', parentIds: [] })).toEqual([{ type: 'bind', source: fs('1'), options: ['rw', 'rbind'] }]);
      expect(o.mounts({ id: '2', kind: 'view', parentIds: [] })).toEqual([{ type: 'bind', source: fs('2'), options: ['ro', 'rbind'] }]);
    });

    it('active on parents: overlay with workdir, upperdir and the nearest parent first in lowerdir', () => {
      const o = new OverlaySnapshotter(root, { indexOff: true });
      expect(o.mounts({ id: '9', kind: 'active', parentIds: ['5', '3', '1'] })).toEqual([
        {
          type: 'overlay',
          source: 'overlay',
          options: ['index=off', `workdir=${root}/snapshots/9/work`, `upperdir=${fs('9')}`, `lowerdir=${fs('5')}:${fs('3')}:${fs('1')}`],
        },
      ]);
      expect(o.mounts({ id: '9', kind: 'active', parentIds: ['5'] })[0]!.options).toEqual([
        'index=off',
        `workdir=${root}/snapshots/9/work`,
        `upperdir=${fs('9')}`,
        `lowerdir=${fs('5')}`,
      ]);
    });

    it('a view on one parent is a read-only bind of it; on several, an overlay of lowerdirs only', () => {
      const o = new OverlaySnapshotter(root, { indexOff: true });
      expect(o.mounts({ id: '7', kind: 'view', parentIds: ['4'] })).toEqual([{ type: 'bind', source: fs('4'), options: ['ro', 'rbind'] }]);
      expect(o.mounts({ id: '7', kind: 'view', parentIds: ['4', '2'] })).toEqual([
        { type: 'overlay', source: 'overlay', options: ['index=off', `lowerdir=${fs('4')}:${fs('2')}`] },
      ]);
    });

    it('index=off only when the kernel has the option, which is the default check', () => {
      const o = new OverlaySnapshotter(root, { indexOff: false });
      expect(o.mounts({ id: '2', kind: 'active', parentIds: ['1'] })[0]!.options[0]).toMatch(/^workdir=/);
      const byDefault = new OverlaySnapshotter(root);
      const first = byDefault.mounts({ id: '2', kind: 'active', parentIds: ['1'] })[0]!.options[0];
      expect(first === 'index=off').toBe(existsSync(overlayIndexParameter));
    });
  });

  describe('directories', () => {
    it('an active snapshot gets fs (0755) and work (0711); a view only fs', async () => {
      const o = new OverlaySnapshotter(root);
      expect(statSync(join(root, 'snapshots')).mode & 0o777).toBe(0o700);
      o.place(await o.stage('active', []), '1');
      o.place(await o.stage('view', []), '2');
      expect(readdirSync(join(root, 'snapshots', '1')).sort()).toEqual(['fs', 'work']);
      expect(statSync(join(root, 'snapshots', '1', 'fs')).mode & 0o777).toBe(0o755);
      expect(statSync(join(root, 'snapshots', '1', 'work')).mode & 0o777).toBe(0o711);
      expect(readdirSync(join(root, 'snapshots', '2'))).toEqual(['fs']);
    });

    it('a new layer belongs to the owner of its parent, as in containerd', async () => {
      const o = new OverlaySnapshotter(root);
      o.place(await o.stage('active', []), '1');
      chownSync(o.upperPath('1'), 1234, 5678);
      o.place(await o.stage('active', ['1']), '2');
      const st = statSync(o.upperPath('2'));
      expect([st.uid, st.gid]).toEqual([1234, 5678]);
    });

    it('staging on a parent that is gone fails and leaves nothing', async () => {
      const o = new OverlaySnapshotter(root);
      await expect(o.stage('active', ['42'])).rejects.toThrow(/ENOENT/);
      expect(readdirSync(join(root, 'snapshots'))).toEqual([]);
    });

    it('usage counts the layer of an active or committed snapshot, and nothing for a view', async () => {
      const o = new OverlaySnapshotter(root);
      o.place(await o.stage('active', []), '1');
      expect(await o.usage({ id: '1', kind: 'active', parentIds: [] })).toMatchObject({ inodes: 1 });
      expect(await o.usage({ id: '1', kind: 'committed', parentIds: [] })).toMatchObject({ inodes: 1 });
      expect(await o.usage({ id: '1', kind: 'view', parentIds: [] })).toEqual({ size: 0, inodes: 0 });
    });
  });
});
