// docker's copy-up: a new volume mounted over a directory of the image starts with that directory's
// contents, owners and modes. The root filesystem comes as mounts (a container's snapshot), mounted
// read-only here and always unmounted after. Only an empty volume is filled; a copy that fails half-way is
// emptied again, so that the volume is either as it was or complete. One copy-up per volume at a time.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, invalidArgument } from '../../lib/errdefs.js';
import type { Logger } from '../../lib/log.js';
import { cleanupTempMounts, withReadonlyView } from '../diff/mounts.js';
import { resolveDirInRoot } from '../diff/resolve-in-root.js';
import type { Mount } from '../diff/types.js';
import { copyTree } from './copy-tree.js';
import type { VolumeStore } from './store.js';

export class VolumeCopier {
  private readonly busy = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: VolumeStore,
    private readonly tmpRoot: string,
    private readonly log: Logger,
  ) {
    // Mounts a crash left behind.
    cleanupTempMounts(tmpRoot, log);
  }

  /** Fills the volume from path in the root filesystem of mounts; false when there was nothing to do. */
  async copyUp(ns: string, name: string, mounts: readonly Mount[], path: string): Promise<boolean> {
    if (!path.startsWith('/')) throw invalidArgument(`copy-up path "${path}" must be absolute`);
    if (mounts.length === 0) throw invalidArgument('copy-up needs the mounts of a root filesystem');
    const volume = this.store.get(ns, name);
    const key = `${ns}/${name}`;
    const previous = this.busy.get(key) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.copy(volume.mountpoint, mounts, path, { ns, volume: name }));
    this.busy.set(key, next);
    void next.finally(() => {
      if (this.busy.get(key) === next) this.busy.delete(key);
    }).catch(() => undefined);
    return next;
  }

  private async copy(mountpoint: string, mounts: readonly Mount[], path: string, ctx: { ns: string; volume: string }): Promise<boolean> {
    if ((await readdir(mountpoint)).length > 0) return false;
    return withReadonlyView(mounts, this.tmpRoot, { log: this.log }, async (root) => {
      const source = await resolveDirInRoot(root, path);
      try {
        const entries = await readdir(source);
        this.log.debug({ ...ctx, path, entries: entries.length }, 'copying up');
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'ENOENT' || code === 'ENOTDIR') return false;
        throw err;
      }
      try {
        await copyTree(source, mountpoint);
      } catch (err) {
        for (const entry of await readdir(mountpoint)) await rm(join(mountpoint, entry), { recursive: true, force: true });
        throw err;
      }
      return true;
    });
  }
}
