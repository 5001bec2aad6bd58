// Test data: files of random bytes and their digests.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';

/** Writes size random bytes to path and returns the sha256 digest. */
export function writeRandomFile(path: string, size: number): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'w');
  try {
    for (let done = 0; done < size; ) {
      const chunk = randomBytes(Math.min(4 << 20, size - done));
      writeSync(fd, chunk);
      hash.update(chunk);
      done += chunk.length;
    }
  } finally {
    closeSync(fd);
  }
  return `sha256:${hash.digest('hex')}`;
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}
