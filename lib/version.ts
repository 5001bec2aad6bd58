// ctrd's version as the Version RPC reports it: containerd's API level it speaks, plus ctrd's own release as
// semver build metadata, so that clients parsing a containerd version (nerdctl) see 1.6.x.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from './project-root.js';

const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string };

export const apiVersion = '1.6.20';
export const ctrdVersion = pkg.version;
export const version = `${apiVersion}+ctrd.${ctrdVersion}`;

/** The git commit the build was made from (scripts/build.sh writes it), or "unknown". */
function readRevision(): string {
  try {
    return readFileSync(join(projectRoot, 'dist', 'REVISION'), 'utf8').trim() || 'unknown';
  } catch {
    return 'unknown';
  }
}

export const revision = readRevision();
