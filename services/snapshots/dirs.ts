// The directory mechanics both snapshotters share, under <root>/snapshots:
//   <id>              a snapshot, named by its row id
//   new-XXXXXX        a snapshot being built; renamed to <id> by the transaction that adds its row
//   rm-<id>-XXXXXX    a snapshot on its way out; renamed back if the removal does not commit
// Anything else (a new- or rm- left by a crash, an <id> whose row was never committed) is garbage that
// orphans() hands to the caller. A crash between the rename to rm- and the commit leaves an rm- whose row
// still exists: recover() puts it back at start.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../../lib/errdefs.js';
import type { DetachedDir, StagedDir } from './types.js';

const stagingPrefix = 'new-';
const removingPattern = /^rm-(\d+)-/;

class Staged implements StagedDir {
  placed: string | undefined;
  constructor(readonly path: string | undefined) {}
}

export class SnapshotDirs {
  /** <root>/snapshots */
  readonly dir: string;
  /** Names of directories being staged by this process: not garbage, whatever orphans() sees. */
  private readonly staging = new Set<string>();

  constructor(readonly root: string) {
    this.dir = join(root, 'snapshots');
    mkdirSync(root, { recursive: true, mode: 0o700 });
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  path(id: string): string {
    return join(this.dir, id);
  }

  /** Makes a temporary directory and lets build fill it; on failure nothing is left. */
  async stage(build: (path: string) => Promise<void>): Promise<StagedDir> {
    // The name is taken before the directory exists, so that no orphans() call ever sees it unclaimed.
    const name = `${stagingPrefix}${randomBytes(6).toString('hex')}`;
    const path = join(this.dir, name);
    this.staging.add(name);
    try {
      await mkdir(path, { mode: 0o700 });
      await build(path);
    } catch (err) {
      this.staging.delete(name);
      await rm(path, { recursive: true, force: true });
      throw err;
    }
    return new Staged(path);
  }

  /** A staged snapshot that has no directory of its own. */
  none(): StagedDir {
    return new Staged(undefined);
  }

  place(staged: StagedDir, id: string): void {
    const s = asStaged(staged);
    if (s.path === undefined) return;
    const target = this.path(id);
    // A fresh id has no row, so whatever is there was left by a transaction that never committed (a crash
    // between this rename and the commit): it is renamed aside for the next cleanup to remove.
    if (existsSync(target)) this.detach(id);
    renameSync(s.path, target);
    s.placed = target;
    this.staging.delete(s.path.slice(this.dir.length + 1));
  }

  async discard(staged: StagedDir): Promise<void> {
    const s = asStaged(staged);
    if (s.path === undefined) return;
    this.staging.delete(s.path.slice(this.dir.length + 1));
    await rm(s.placed ?? s.path, { recursive: true, force: true });
  }

  detach(id: string): DetachedDir | undefined {
    const path = join(this.dir, `rm-${id}-${randomBytes(4).toString('hex')}`);
    try {
      renameSync(this.path(id), path);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
    return { id, path };
  }

  reattach(dir: DetachedDir): void {
    renameSync(dir.path, this.path(dir.id));
  }

  async purge(dir: DetachedDir): Promise<void> {
    await rm(dir.path, { recursive: true, force: true });
  }

  recover(live: ReadonlySet<string>): void {
    for (const name of readdirSync(this.dir)) {
      const id = removingPattern.exec(name)?.[1];
      if (id !== undefined && live.has(id) && !existsSync(this.path(id))) renameSync(join(this.dir, name), this.path(id));
    }
  }

  orphans(live: ReadonlySet<string>): DetachedDir[] {
    const out: DetachedDir[] = [];
    for (const name of readdirSync(this.dir)) {
      if (live.has(name) || this.staging.has(name)) continue;
      const removing = removingPattern.exec(name);
      if (removing) {
        out.push({ id: removing[1]!, path: join(this.dir, name) });
      } else if (name.startsWith(stagingPrefix)) {
        out.push({ id: name, path: join(this.dir, name) });
      } else {
        const d = this.detach(name);
        if (d) out.push(d);
      }
    }
    return out;
  }
}

function asStaged(s: StagedDir): Staged {
  if (!(s instanceof Staged)) throw new TypeError('not a directory staged by SnapshotDirs');
  return s;
}

/**
 * What every directory-backed snapshotter does the same way: moving snapshot directories aside, back, and
 * away, all through SnapshotDirs. A backend adds how it builds a snapshot and how it is mounted.
 */
export abstract class DirBackedSnapshotter {
  protected readonly dirs: SnapshotDirs;

  constructor(readonly root: string) {
    this.dirs = new SnapshotDirs(root);
  }

  place(staged: StagedDir, id: string): void {
    this.dirs.place(staged, id);
  }

  discard(staged: StagedDir): Promise<void> {
    return this.dirs.discard(staged);
  }

  detach(id: string): DetachedDir | undefined {
    return this.dirs.detach(id);
  }

  reattach(dir: DetachedDir): void {
    this.dirs.reattach(dir);
  }

  purge(dir: DetachedDir): Promise<void> {
    return this.dirs.purge(dir);
  }

  recover(live: ReadonlySet<string>): void {
    this.dirs.recover(live);
  }

  orphans(live: ReadonlySet<string>): DetachedDir[] {
    return this.dirs.orphans(live);
  }
}
