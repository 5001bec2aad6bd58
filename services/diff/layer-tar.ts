// A list of changes as an OCI layer tar, read from the upper tree: deletions as ".wh.<name>", opaque
// directories as "<dir>/.wh..wh..opq", everything else with its type, mode, owner, mtime (seconds), xattrs and
// content. Files that share an inode become hardlinks to the first name written. Sockets are left out, as
// containerd leaves them.
import { constants as fsConstants, type BigIntStats } from 'node:fs';
import { lstat, open, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { failedPrecondition } from '../../lib/errdefs.js';
import { opaqueWhiteout, whiteoutPrefix } from './apply.js';
import { layerXattrs, type Change } from './changes.js';
import { encodeHeader, endOfArchive, padding, type TarEntry, type TarEntryType } from './tar-header.js';

const chunkSize = 1 << 20;

/** The tar of changes, as chunks; root is the upper tree the added and modified paths are read from. */
export async function* layerTar(changes: readonly Change[], root: string): AsyncGenerator<Buffer> {
  const firstNameOfInode = new Map<string, string>();
  for (const change of changes) {
    if (change.kind === 'delete') {
      const dir = posix.dirname(change.path);
      yield encodeHeader(whiteout(posix.join(dir, whiteoutPrefix + posix.basename(change.path))));
      continue;
    }
    if (change.kind === 'opaque') {
      yield encodeHeader(whiteout(posix.join(change.path, opaqueWhiteout)));
      continue;
    }

    const path = join(root, change.path);
    const st = await lstat(path, { bigint: true });
    const entry = await tarEntryOf(path, change.path, st, firstNameOfInode, layerXattrs);
    if (!entry) continue;
    yield encodeHeader(entry);
    if (entry.type === 'file' && entry.size > 0) {
      yield* fileContent(path, entry.size);
      yield padding(entry.size);
    }
  }
  yield endOfArchive;
}

/**
 * The tar header of a file as it is on disk: a second name of a hard-linked file is a link to its first (kept in
 * firstNameOfInode); undefined for what a tar cannot hold (sockets).
 */
export async function tarEntryOf(
  path: string,
  name: string,
  st: BigIntStats,
  firstNameOfInode: Map<string, string>,
  xattrs: (path: string) => Map<string, Buffer>,
): Promise<TarEntry | undefined> {
  const type = entryType(st.mode);
  if (type === undefined) return undefined;
  const entry: TarEntry = {
    name,
    type,
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: 0,
    mtime: Number(st.mtimeNs / 1_000_000_000n),
    xattrs: xattrs(path),
  };
  if (type === 'symlink') entry.linkname = await readlink(path);
  if (type === 'character-device' || type === 'block-device') {
    // glibc's major() and minor().
    entry.devmajor = Number(((st.rdev >> 8n) & 0xfffn) | ((st.rdev >> 32n) & 0xfffff000n));
    entry.devminor = Number((st.rdev & 0xffn) | ((st.rdev >> 12n) & 0xffffff00n));
  }
  if (type === 'file') {
    const inode = `${st.dev}:${st.ino}`;
    const first = st.nlink > 1n ? firstNameOfInode.get(inode) : undefined;
    if (first !== undefined) {
      entry.type = 'link';
      entry.linkname = first;
    } else {
      if (st.nlink > 1n) firstNameOfInode.set(inode, name);
      entry.size = Number(st.size);
    }
  }
  return entry;
}

function whiteout(name: string): TarEntry {
  return { name, type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: 0 };
}

/** The tar entry type of a file mode; undefined for sockets and what a tar cannot hold. */
function entryType(mode: bigint): TarEntryType | undefined {
  switch (Number(mode) & fsConstants.S_IFMT) {
    case fsConstants.S_IFREG:
      return 'file';
    case fsConstants.S_IFDIR:
      return 'directory';
    case fsConstants.S_IFLNK:
      return 'symlink';
    case fsConstants.S_IFCHR:
      return 'character-device';
    case fsConstants.S_IFBLK:
      return 'block-device';
    case fsConstants.S_IFIFO:
      return 'fifo';
    default:
      return undefined;
  }
}

/**
 * Exactly size bytes of the file, whose header has gone out already. A file that shrank while being read fails
 * a layer ('fail': its digest would lie); a copy out of a live container pads it with zeros ('pad'), as docker.
 */
export async function* fileContent(path: string, size: number, onShrink: 'fail' | 'pad' = 'fail'): AsyncGenerator<Buffer> {
  const fh = await open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  try {
    let done = 0;
    while (done < size) {
      const buf = Buffer.allocUnsafe(Math.min(chunkSize, size - done));
      const { bytesRead } = await fh.read(buf, 0, buf.length, done);
      if (bytesRead === 0) {
        if (onShrink === 'fail') throw failedPrecondition(`"${path}" shrank while its layer was written`);
        yield Buffer.alloc(size - done);
        return;
      }
      done += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}
