// The rootfs as the container's child will see it while it works through its mounts, looked at from the
// shim before the clone. Names resolve as securejoin resolves them: every component with lstat, symlinks
// followed as if the rootfs were "/", never out of it. A spec mount covers what lies below its destination:
// a bind mount shows its source there, any other filesystem (tmpfs, proc, devpts...) is not there yet and
// holds nothing the plan has not made itself.
import fs from 'node:fs';
import { invalidArgument } from '../../lib/errdefs.js';
import { cleanRelative, maxSymlinks } from '../../services/diff/resolve-in-root.js';

export type EntryKind = 'missing' | 'dir' | 'file' | 'symlink' | 'other';

interface Entry {
  kind: EntryKind;
  /** A symlink's target. */
  target?: string;
}

interface Layer {
  /** The container path mounted on. */
  dest: string;
  /** The host path it shows (a bind mount's resolved source), or undefined for a filesystem not there yet. */
  source?: string;
}

export interface Resolved {
  /** Absolute and clean, with every symlink followed inside the rootfs. */
  path: string;
  /** The components of path (itself included) that do not exist yet, outermost first. */
  missing: string[];
}

function isUnder(dir: string, p: string): boolean {
  return dir === '/' || p === dir || p.startsWith(`${dir}/`);
}

export class RootfsView {
  private readonly layers: Layer[] = [];
  private readonly made = new Map<string, EntryKind>();

  /** rootfs: the host path of the container's root, or /proc/<pid>/root of a running one. */
  constructor(readonly rootfs: string) {}

  /** The host path of a container path, as the child sees it before the root switch. */
  hostPath(p: string): string {
    return p === '/' ? this.rootfs : this.rootfs + p;
  }

  /** A mount on dest (resolved): source is what a bind mount shows there. */
  mounted(dest: string, source?: string): void {
    this.layers.push({ dest, source });
    for (const p of this.made.keys()) if (p !== dest && isUnder(dest, p)) this.made.delete(p);
  }

  /** Something the plan creates (mkdir, touch, mknod) before the next lookups. */
  create(p: string, kind: EntryKind): void {
    this.made.set(p, kind);
  }

  /** What is at container path p (its last component not followed). */
  entry(p: string): Entry {
    const made = this.made.get(p);
    if (made) return { kind: made };
    const layer = this.layerOf(p);
    if (layer && layer.source === undefined) return { kind: p === layer.dest ? 'dir' : 'missing' };
    const where = this.contentPath(p, layer);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(where);
    } catch {
      return { kind: 'missing' };
    }
    if (st.isSymbolicLink()) return { kind: 'symlink', target: fs.readlinkSync(where) };
    return { kind: st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other' };
  }

  /** The latest mount that covers p. */
  private layerOf(p: string): Layer | undefined {
    for (let i = this.layers.length - 1; i >= 0; i--) if (isUnder(this.layers[i]!.dest, p)) return this.layers[i];
    return undefined;
  }

  /** The host path that shows p now, below a bind mount's source or in the rootfs. */
  private contentPath(p: string, layer: Layer | undefined): string {
    if (!layer?.source) return this.hostPath(p);
    return layer.source + (layer.dest === '/' ? p : p.slice(layer.dest.length));
  }

  /** The container path for name, every symlink (the last component's too) followed inside the rootfs. */
  resolve(name: string): Resolved {
    const pending = cleanRelative(name)
      .split('/')
      .filter((p) => p !== '')
      .reverse();
    const resolved: string[] = [];
    let links = 0;
    while (pending.length > 0) {
      const part = pending.pop()!;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        resolved.pop();
        continue;
      }
      const entry = this.entry(`/${[...resolved, part].join('/')}`);
      if (entry.kind !== 'symlink') {
        resolved.push(part);
        continue;
      }
      if (++links > maxSymlinks) throw invalidArgument(`"${name}": too many levels of symbolic links`);
      if (entry.target!.startsWith('/')) resolved.length = 0;
      pending.push(...entry.target!.split('/').reverse());
    }
    const missing: string[] = [];
    for (let i = 1; i <= resolved.length; i++) {
      const p = `/${resolved.slice(0, i).join('/')}`;
      if (missing.length > 0 || this.entry(p).kind === 'missing') missing.push(p);
    }
    return { path: `/${resolved.join('/')}`, missing };
  }

  /** The host file at container path name (resolved inside the rootfs), or undefined. */
  readFile(name: string): string | undefined {
    const { path, missing } = this.resolve(name);
    const layer = this.layerOf(path);
    if (missing.length > 0 || (layer && layer.source === undefined)) return undefined;
    try {
      return fs.readFileSync(this.contentPath(path, layer), 'utf8');
    } catch {
      return undefined;
    }
  }
}
