// OCI digests: "<algorithm>:<encoded>". ctrd stores and verifies sha256 only, as containerd's default.
import { createHash, type Hash } from 'node:crypto';
import { invalidArgument } from './errdefs.js';

export type Digest = `sha256:${string}`;

const sha256Pattern = /^sha256:[a-f0-9]{64}$/;
const anyPattern = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export function parseDigest(s: string): Digest {
  if (sha256Pattern.test(s)) return s as Digest;
  if (s === '') throw invalidArgument('digest must not be empty');
  if (anyPattern.test(s) && !s.startsWith('sha256:')) {
    throw invalidArgument(`digest "${s}": unsupported digest algorithm`);
  }
  throw invalidArgument(`invalid digest "${s}": want sha256:<64 lowercase hex characters>`);
}

export const hexOf = (d: Digest) => d.slice('sha256:'.length);

export function digestOf(hash: Hash): Digest {
  return `sha256:${hash.copy().digest('hex')}`;
}

export function sha256(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}
