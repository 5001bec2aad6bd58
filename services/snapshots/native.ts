// The native snapshotter, as containerd's snapshots/native: no union filesystem, each active snapshot is a
// full copy of its parent in <id>, handed out as a bind mount. A view on a parent has no directory of its
// own: it is a read-only bind of the parent. The copy is `cp -a --reflink=auto` (owners, modes, times,
// symlinks, hard links, xattrs, device nodes; shared extents where the filesystem can), run as a child
// process so that copying a large tree never blocks the event loop.
import { execFile } from 'node:child_process';
import { chmod } from 'node:fs/promises';
import { promisify } from 'node:util';
import { diskUsage } from './disk-usage.js';
import { DirBackedSnapshotter } from './dirs.js';
import type { Mount, SnapshotRef, Snapshotter, StagedDir, Usage } from './types.js';

const execFileP = promisify(execFile);

/** Copies the contents of src (and the attributes of src itself) into the existing directory dst. */
export async function copyTree(src: string, dst: string): Promise<void> {
  try {
    await execFileP('cp', ['-a', '--reflink=auto', '--', `${src}/.`, dst], { maxBuffer: 1 << 20 });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`copying ${src} to ${dst} failed: ${stderr || (err as Error).message}`, { cause: err });
  }
}

export class NativeSnapshotter extends DirBackedSnapshotter implements Snapshotter {
  readonly name = 'native';

  constructor(root: string) {
    super(root);
  }

  dirPath(id: string): string {
    return this.dirs.path(id);
  }

  async stage(kind: 'active' | 'view', parentIds: readonly string[]): Promise<StagedDir> {
    if (kind === 'view' && parentIds.length > 0) return this.dirs.none();
    return this.dirs.stage(async (path) => {
      await chmod(path, 0o755);
      if (parentIds.length > 0) await copyTree(this.dirs.path(parentIds[0]!), path);
    });
  }

  mounts(ref: SnapshotRef): Mount[] {
    const { id, kind, parentIds } = ref;
    const source = kind === 'active' || parentIds.length === 0 ? this.dirs.path(id) : this.dirs.path(parentIds[0]!);
    return [{ type: 'bind', source, options: ['rbind', kind === 'view' ? 'ro' : 'rw'] }];
  }

  /** The usage of the snapshot's directory; a view has none of its own (containerd reports zero). */
  async usage(ref: SnapshotRef): Promise<Usage> {
    if (ref.kind === 'view') return { size: 0, inodes: 0 };
    return diskUsage(this.dirs.path(ref.id));
  }
}
