// Disk usage of a directory tree as containerd's continuity fs.DiskUsage counts it: every inode under the
// root (the root included) once, however many hard links reach it, and its allocated blocks of 512 bytes.
// Symbolic links are not followed. The walk is asynchronous: a large tree never blocks the event loop.
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Usage } from './types.js';

export async function diskUsage(root: string): Promise<Usage> {
  const seen = new Set<string>();
  let size = 0;
  const pending = [root];
  while (pending.length > 0) {
    const path = pending.pop()!;
    const st = await lstat(path);
    const inode = `${st.dev}:${st.ino}`;
    if (!seen.has(inode)) {
      seen.add(inode);
      size += st.blocks * 512;
    }
    if (st.isDirectory()) for (const name of await readdir(path)) pending.push(join(path, name));
  }
  return { size, inodes: seen.size };
}
