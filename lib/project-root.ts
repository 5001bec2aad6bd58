// The checkout ctrd runs from: the nearest folder above this module with ctrd's package.json. The same
// code runs from lib/ (tests) and from dist/lib/ (the build), so the depth is not fixed.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function find(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate) && (JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string }).name === 'ctrd') {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the ctrd checkout above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

export const projectRoot = find();
