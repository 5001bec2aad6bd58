// A build's context on the daemon's side: the tar a client sends (plain or gzip; ctrctl's, or any a client
// makes, such as `ctrctl build -` from stdin) extracted into the build's private directory, every entry
// resolved inside it, and what .dockerignore excludes removed again (a tar from stdin was never filtered; the
// Dockerfile and .dockerignore, which a client always sends, go too when they match).
import { lstat, readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream';
import type { IgnoreMatcher } from '../../lib/build/dockerignore.js';
import { decompressor, detectCompression, magicLength, peek } from '../diff/compression.js';
import { extractTar } from '../containerfs/archive.js';

export async function receiveContext(data: AsyncIterable<Buffer>, dir: string, signal?: AbortSignal): Promise<{ entries: number; size: number }> {
  let size = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      cb(null, chunk);
    },
  });
  const src = pipeline(Readable.from(data), counted, () => undefined);
  const { head, stream } = await peek(src, magicLength);
  const dec = decompressor(detectCompression(head));
  const plain = dec ? pipeline(stream, dec, () => undefined) : stream;
  const entries = await extractTar(dir, dir, plain, { owner: { keep: true }, signal });
  return { entries, size };
}

export async function pruneIgnored(dir: string, ignore: IgnoreMatcher): Promise<void> {
  async function walk(path: string, rel: string): Promise<boolean> {
    // Whether the directory at path is left empty by the pruning.
    let left = 0;
    for (const name of await readdir(path)) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const child = join(path, name);
      const isDir = (await lstat(child)).isDirectory();
      const excluded = ignore.excludes(childRel);
      if (isDir && (!excluded || ignore.mayIncludeBelow(childRel))) {
        const empty = await walk(child, childRel);
        if (excluded && empty) await rmdir(child);
        else left++;
      } else if (excluded) await rm(child, { recursive: true, force: true });
      else left++;
    }
    return left === 0;
  }
  await walk(dir, '');
}
