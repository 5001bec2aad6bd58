// containerd Mount lists as directories to work in. A single overlay mount with an upperdir is applied to
// straight in its upperdir (overlay whiteouts); a single bind mount is its source directory; anything else
// is really mounted (lib/native) on a temporary directory under tmpRoot, and always unmounted after, on
// error too. Read-only views of overlays put the upperdir on top of the lowerdirs, as containerd's
// readonlyOverlay does, so that a snapshot in use is never mounted twice as an upper.
import { mkdirSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, rmdir } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errnoCode, invalidArgument } from '../../lib/errdefs.js';
import type { Logger } from '../../lib/log.js';
import { native, type MountConstants as MountFlags } from '../../lib/native.js';
import type { ApplyTarget } from './apply.js';
import type { Mount } from './types.js';

export interface OverlayOptions {
  /** Nearest layer first, as in the lowerdir option. */
  lowerdirs: string[];
  upperdir?: string;
  workdir?: string;
}

export function parseOverlay(m: Mount): OverlayOptions {
  const out: OverlayOptions = { lowerdirs: [] };
  for (const o of m.options) {
    if (o.startsWith('lowerdir=')) out.lowerdirs = o.slice('lowerdir='.length).split(':').filter((d) => d !== '');
    else if (o.startsWith('upperdir=')) out.upperdir = o.slice('upperdir='.length);
    else if (o.startsWith('workdir=')) out.workdir = o.slice('workdir='.length);
  }
  return out;
}

/** The layer directories below a read-only mount set: [] for none, or undefined when it is not such a set. */
export function lowerDirsOf(mounts: readonly Mount[]): string[] | undefined {
  if (mounts.length === 0) return [];
  if (mounts.length !== 1) return undefined;
  const m = mounts[0]!;
  if (m.type === 'bind') return [m.source];
  if (m.type === 'overlay') {
    const o = parseOverlay(m);
    return o.upperdir === undefined ? o.lowerdirs : undefined;
  }
  return undefined;
}

const flagOptions: Readonly<Record<string, { clear: boolean; flags: (c: MountFlags) => number }>> = {
  async: { clear: true, flags: (c) => c.MS_SYNCHRONOUS },
  atime: { clear: true, flags: (c) => c.MS_NOATIME },
  bind: { clear: false, flags: (c) => c.MS_BIND },
  defaults: { clear: false, flags: () => 0 },
  dev: { clear: true, flags: (c) => c.MS_NODEV },
  diratime: { clear: true, flags: (c) => c.MS_NODIRATIME },
  dirsync: { clear: false, flags: (c) => c.MS_DIRSYNC },
  exec: { clear: true, flags: (c) => c.MS_NOEXEC },
  mand: { clear: false, flags: (c) => c.MS_MANDLOCK },
  noatime: { clear: false, flags: (c) => c.MS_NOATIME },
  nodev: { clear: false, flags: (c) => c.MS_NODEV },
  nodiratime: { clear: false, flags: (c) => c.MS_NODIRATIME },
  noexec: { clear: false, flags: (c) => c.MS_NOEXEC },
  nomand: { clear: true, flags: (c) => c.MS_MANDLOCK },
  norelatime: { clear: true, flags: (c) => c.MS_RELATIME },
  nostrictatime: { clear: true, flags: (c) => c.MS_STRICTATIME },
  nosuid: { clear: false, flags: (c) => c.MS_NOSUID },
  rbind: { clear: false, flags: (c) => c.MS_BIND | c.MS_REC },
  relatime: { clear: false, flags: (c) => c.MS_RELATIME },
  remount: { clear: false, flags: (c) => c.MS_REMOUNT },
  ro: { clear: false, flags: (c) => c.MS_RDONLY },
  rw: { clear: true, flags: (c) => c.MS_RDONLY },
  strictatime: { clear: false, flags: (c) => c.MS_STRICTATIME },
  suid: { clear: true, flags: (c) => c.MS_NOSUID },
  sync: { clear: false, flags: (c) => c.MS_SYNCHRONOUS },
};

const propagationOptions: Readonly<Record<string, (c: MountFlags) => number>> = {
  private: (c) => c.MS_PRIVATE,
  rprivate: (c) => c.MS_PRIVATE | c.MS_REC,
  shared: (c) => c.MS_SHARED,
  rshared: (c) => c.MS_SHARED | c.MS_REC,
  slave: (c) => c.MS_SLAVE,
  rslave: (c) => c.MS_SLAVE | c.MS_REC,
  unbindable: (c) => c.MS_UNBINDABLE,
  runbindable: (c) => c.MS_UNBINDABLE | c.MS_REC,
};

/** fstab-style options as mount(2) flags, propagation flags and the data string (containerd's parseMountOptions). */
export function parseMountOptions(options: readonly string[]): { flags: number; propagation: number; data: string } {
  const c = native().constants;
  let flags = 0;
  let propagation = 0;
  const data: string[] = [];
  for (const o of options) {
    const f = flagOptions[o];
    if (f) {
      flags = f.clear ? flags & ~f.flags(c) : flags | f.flags(c);
      continue;
    }
    const p = propagationOptions[o];
    if (p) propagation |= p(c);
    else data.push(o);
  }
  return { flags: flags >>> 0, propagation: propagation >>> 0, data: data.join(',') };
}

/** The options of a read-only view: an overlay's upperdir joins its lowerdirs on top, and "ro" is added. */
export function readonlyOptions(m: Mount): string[] {
  let options = [...m.options];
  if (m.type === 'overlay') {
    const upper = parseOverlay(m).upperdir;
    options = options.filter((o) => !o.startsWith('upperdir=') && !o.startsWith('workdir='));
    if (upper !== undefined) {
      options = options.map((o) => (o.startsWith('lowerdir=') ? `lowerdir=${upper}:${o.slice('lowerdir='.length)}` : o));
    }
  }
  return [...options.filter((o) => o !== 'rw'), 'ro'];
}

/** Mounts m on target as containerd's Mount.Mount: the mount, then propagation, then a read-only bind remount. */
export function mountOne(m: Mount, target: string, opts: { readonly?: boolean } = {}): void {
  const c = native().constants;
  const options = opts.readonly ? readonlyOptions(m) : m.options;
  let { flags, propagation, data } = parseMountOptions(options);
  if (m.type === 'bind') flags |= c.MS_BIND;
  if ((flags & c.MS_REMOUNT) === 0 || data !== '') native().mount(m.source, target, m.type, flags >>> 0, data);
  if (propagation !== 0) native().mount('', target, '', (propagation | c.MS_SILENT) >>> 0, '');
  const bindRo = c.MS_BIND | c.MS_RDONLY;
  if ((flags & bindRo) === bindRo) native().mount('', target, '', (flags | c.MS_REMOUNT) >>> 0, '');
}

/** Unmounts everything stacked on target; a busy mount is retried, then detached. */
export async function unmountAll(target: string, log?: Logger): Promise<void> {
  const c = native().constants;
  for (let attempt = 0; ; ) {
    try {
      native().umount2(target, 0);
      continue;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'EINVAL' || code === 'ENOENT') return; // nothing (more) is mounted there
      if (code !== 'EBUSY') throw err;
      if (++attempt < 20) {
        await sleep(25);
        continue;
      }
      log?.warn({ target }, 'mount still busy: detaching it');
      native().umount2(target, c.MNT_DETACH);
    }
  }
}

/**
 * Mounts mounts on a new directory under tmpRoot, runs fn on it, and unmounts and removes the directory
 * whatever happens. The directory is removed with rmdir only: should an unmount fail, nothing beneath it
 * is ever deleted.
 */
export async function withTempMount<T>(
  mounts: readonly Mount[],
  tmpRoot: string,
  opts: { readonly: boolean; log?: Logger },
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  await mkdir(tmpRoot, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(tmpRoot, 'mount-'));
  let result: { value: T } | undefined;
  let failure: { err: unknown } | undefined;
  try {
    for (const m of mounts) mountOne(m, dir, { readonly: opts.readonly });
    result = { value: await fn(dir) };
  } catch (err) {
    failure = { err };
  }
  try {
    await unmountAll(dir, opts.log);
    await rmdir(dir);
  } catch (err) {
    if (failure) opts.log?.error({ err, dir }, 'cannot clean up a temporary mount');
    else failure = { err };
  }
  if (failure) throw failure.err;
  return result!.value;
}

function validate(mounts: readonly Mount[]): void {
  for (const m of mounts) {
    if (m.type === '') throw invalidArgument('mount type must be set');
    if (m.type === 'bind' && !isAbsolute(m.source)) throw invalidArgument(`bind mount source "${m.source}" must be absolute`);
    if (m.type === 'overlay') {
      const o = parseOverlay(m);
      for (const d of [...o.lowerdirs, o.upperdir ?? '/', o.workdir ?? '/']) {
        if (!isAbsolute(d)) throw invalidArgument(`overlay directory "${d}" must be absolute`);
      }
    }
  }
}

async function requireDir(path: string): Promise<void> {
  try {
    if ((await lstat(path)).isDirectory()) return;
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  throw invalidArgument(`mount source "${path}" is not a directory`);
}

/** Where a layer is applied to mounts: see the top of this file. */
export async function withApplyTarget<T>(
  mounts: readonly Mount[],
  tmpRoot: string,
  opts: { log?: Logger },
  fn: (target: ApplyTarget) => Promise<T>,
): Promise<T> {
  if (mounts.length === 0) throw invalidArgument('apply needs at least one mount');
  validate(mounts);
  if (mounts.length === 1) {
    const m = mounts[0]!;
    const upper = m.type === 'overlay' ? parseOverlay(m).upperdir : undefined;
    if (upper !== undefined) {
      await requireDir(upper);
      return fn({ root: upper, whiteouts: 'overlay' });
    }
    if (m.type === 'bind' && !m.options.includes('ro')) {
      await requireDir(m.source);
      return fn({ root: m.source, whiteouts: 'plain' });
    }
  }
  return withTempMount(mounts, tmpRoot, { readonly: false, log: opts.log }, (dir) => fn({ root: dir, whiteouts: 'plain' }));
}

/** A read-only view of mounts: [] is an empty directory, a bind mount or single-layer overlay its directory. */
export async function withReadonlyView<T>(
  mounts: readonly Mount[],
  tmpRoot: string,
  opts: { log?: Logger },
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  validate(mounts);
  const single = lowerDirsOf(mounts);
  if (single?.length === 1) {
    await requireDir(single[0]!);
    return fn(single[0]!);
  }
  return withTempMount(mounts, tmpRoot, { readonly: true, log: opts.log }, fn);
}

/** The mount points at or below prefix, deepest last, from /proc/self/mountinfo. */
export function mountsUnder(prefix: string): string[] {
  const targets: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const field = line.split(' ')[4];
    if (field === undefined) continue;
    const target = field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
    if (target === prefix || target.startsWith(prefix.endsWith('/') ? prefix : prefix + '/')) targets.push(target);
  }
  return targets;
}

/**
 * Detaches every mount at or below prefix, the deepest first: what a crash (or a shim) left mounted there.
 * Returns false when one could not be detached: nothing below it may then be removed.
 */
export function detachMountsUnder(prefix: string, log?: Logger): boolean {
  let all = true;
  for (const target of mountsUnder(prefix).reverse()) {
    try {
      native().umount2(target, native().constants.MNT_DETACH);
      log?.warn({ target }, 'detached a mount left behind');
    } catch (err) {
      log?.error({ err, target }, 'cannot detach a mount left behind');
      all = false;
    }
  }
  return all;
}

/**
 * Undoes what a crash left under tmpRoot: detaches every mount there, then removes the empty directories.
 * A directory that is not empty (its unmount failed) is left alone and reported.
 */
export function cleanupTempMounts(tmpRoot: string, log?: Logger): void {
  mkdirSync(tmpRoot, { recursive: true, mode: 0o700 });
  detachMountsUnder(tmpRoot, log);
  for (const name of readdirSync(tmpRoot)) {
    try {
      rmdirSync(join(tmpRoot, name));
    } catch (err) {
      log?.warn({ err, dir: join(tmpRoot, name) }, 'cannot remove a temporary mount directory');
    }
  }
}

/**
 * The upperdir of upper when upper is one overlay mount whose lowerdirs are exactly the layers of lower:
 * then the upperdir alone holds the changes from lower to upper.
 */
export function overlayUpperOver(lower: readonly Mount[], upper: readonly Mount[]): string | undefined {
  if (upper.length !== 1 || upper[0]!.type !== 'overlay') return undefined;
  const o = parseOverlay(upper[0]!);
  const lowers = lowerDirsOf(lower);
  if (o.upperdir === undefined || lowers === undefined || lowers.length !== o.lowerdirs.length) return undefined;
  return lowers.every((d, i) => d === o.lowerdirs[i]) ? o.upperdir : undefined;
}
