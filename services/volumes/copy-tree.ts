// A directory tree copied with what it is made of: files, directories, symlinks, hard links (kept as links),
// devices and FIFOs; owners, modes (setuid too), extended attributes and times. What a new volume gets of
// the image's directory it is mounted over. Sockets are skipped, as docker's copy does. Asynchronous: a large
// tree never blocks the event loop.
import { constants as fsConstants, type Stats } from 'node:fs';
import { chmod, copyFile, lchown, link, lstat, lutimes, mkdir, readdir, readlink, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../../lib/errdefs.js';
import { native } from '../../lib/native.js';

/** Linux's major and minor numbers of a dev_t (glibc's gnu_dev_major and gnu_dev_minor). */
function deviceNumbers(rdev: number): { major: number; minor: number } {
  const high = Math.floor(rdev / 2 ** 32);
  const low = rdev >>> 0;
  return {
    major: ((low >>> 8) & 0xfff) | ((high & 0xfffff000) >>> 0),
    minor: (low & 0xff) | ((low >>> 12) & 0xfff00),
  };
}

function copyXattrs(from: string, to: string): void {
  let names: string[];
  try {
    names = native().llistxattr(from);
  } catch (err) {
    if (errnoCode(err) === 'ENOTSUP') return;
    throw err;
  }
  for (const name of names) {
    const value = native().lgetxattr(from, name);
    if (value === undefined) continue;
    try {
      native().lsetxattr(to, name, value);
    } catch (err) {
      if (errnoCode(err) !== 'ENOTSUP' && errnoCode(err) !== 'EPERM') throw err;
    }
  }
}

/** Owner, xattrs, mode (after chown, which clears setuid), times: of `to`, from `st` of `from`. */
async function copyMeta(from: string, to: string, st: Stats): Promise<void> {
  await lchown(to, st.uid, st.gid);
  copyXattrs(from, to);
  if (!st.isSymbolicLink()) await chmod(to, st.mode & 0o7777);
  await lutimes(to, st.atime, st.mtime);
}

/**
 * Copies the contents of directory `from` into directory `to` (which exists), and then gives `to` the owner,
 * mode and times of `from`.
 */
export async function copyTree(from: string, to: string): Promise<void> {
  const links = new Map<string, string>();
  const copyEntry = async (src: string, dst: string): Promise<void> => {
    const st = await lstat(src);
    if (st.isDirectory()) {
      await mkdir(dst, { mode: 0o700 });
      for (const name of await readdir(src)) await copyEntry(join(src, name), join(dst, name));
    } else {
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = links.get(key);
        if (first !== undefined) {
          await link(first, dst);
          return;
        }
        links.set(key, dst);
      }
      if (st.isFile()) await copyFile(src, dst);
      else if (st.isSymbolicLink()) await symlink(await readlink(src), dst);
      else if (st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice()) {
        const { major, minor } = deviceNumbers(st.rdev);
        const kind = st.isFIFO() ? fsConstants.S_IFIFO : st.isBlockDevice() ? fsConstants.S_IFBLK : fsConstants.S_IFCHR;
        native().mknod(dst, kind | 0o600, major, minor);
      } else return; // a socket: nothing to copy
    }
    await copyMeta(src, dst, st);
  };
  for (const name of await readdir(from)) await copyEntry(join(from, name), join(to, name));
  await copyMeta(from, to, await lstat(from));
}
