// The overlayfs snapshotter, as containerd's snapshots/overlay: each snapshot is <id>/fs (its layer: the
// upper dir while active, a lower dir once committed) and, for an active one, <id>/work (overlayfs's
// workdir). Mounts are described exactly as containerd describes them, because clients mount them
// themselves (ctr run mounts the rootfs in a temp dir to read /etc/passwd):
//   no parent            bind <id>/fs, [rw|ro, rbind]
//   active on parents    overlay [index=off?, workdir=<id>/work, upperdir=<id>/fs, lowerdir=<p1>/fs:<p2>/fs:...]
//   view on one parent   bind <parent>/fs, [ro, rbind]
//   view on parents      overlay [index=off?, lowerdir=...]
// with the nearest parent first in lowerdir, and index=off whenever the kernel knows the option.
import { existsSync } from 'node:fs';
import { lchown, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { diskUsage } from './disk-usage.js';
import { DirBackedSnapshotter } from './dirs.js';
import type { Mount, SnapshotRef, Snapshotter, StagedDir, Usage } from './types.js';

export interface OverlayOptions {
  /** Whether to pass index=off; by default, whether the kernel's overlay module has the index parameter. */
  indexOff?: boolean;
}

export const overlayIndexParameter = '/sys/module/overlay/parameters/index';

export class OverlaySnapshotter extends DirBackedSnapshotter implements Snapshotter {
  readonly name = 'overlayfs';
  private readonly indexOff: boolean;

  constructor(root: string, opts: OverlayOptions = {}) {
    super(root);
    this.indexOff = opts.indexOff ?? existsSync(overlayIndexParameter);
  }

  upperPath(id: string): string {
    return join(this.dirs.path(id), 'fs');
  }

  workPath(id: string): string {
    return join(this.dirs.path(id), 'work');
  }

  stage(kind: 'active' | 'view', parentIds: readonly string[]): Promise<StagedDir> {
    return this.dirs.stage(async (path) => {
      const fs = join(path, 'fs');
      await mkdir(fs, { mode: 0o755 });
      if (kind === 'active') await mkdir(join(path, 'work'), { mode: 0o711 });
      // The new layer's root belongs to whoever owns the parent's, as in containerd.
      if (parentIds.length > 0) {
        const st = await stat(this.upperPath(parentIds[0]!));
        await lchown(fs, st.uid, st.gid);
      }
    });
  }

  mounts(ref: SnapshotRef): Mount[] {
    const { id, kind, parentIds } = ref;
    if (parentIds.length === 0) {
      return [{ type: 'bind', source: this.upperPath(id), options: [kind === 'view' ? 'ro' : 'rw', 'rbind'] }];
    }
    const options = this.indexOff ? ['index=off'] : [];
    if (kind === 'active') {
      options.push(`workdir=${this.workPath(id)}`, `upperdir=${this.upperPath(id)}`);
    } else if (parentIds.length === 1) {
      return [{ type: 'bind', source: this.upperPath(parentIds[0]!), options: ['ro', 'rbind'] }];
    }
    options.push(`lowerdir=${parentIds.map((p) => this.upperPath(p)).join(':')}`);
    return [{ type: 'overlay', source: 'overlay', options }];
  }

  /** The usage of the snapshot's layer; a view has none of its own (containerd reports zero). */
  async usage(ref: SnapshotRef): Promise<Usage> {
    if (ref.kind === 'view') return { size: 0, inodes: 0 };
    return diskUsage(this.upperPath(ref.id));
  }
}
