// containerd's identifier rules (pkg/identifiers): components of [A-Za-z0-9]+ joined by '.', '_' or '-',
// at most 76 characters. Namespaces, lease ids, container ids and snapshot names follow them.
import { invalidArgument } from './errdefs.js';

const maxLength = 76;
const pattern = /^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$/;

export function validateIdentifier(s: string, what = 'identifier'): string {
  if (s === '') throw invalidArgument(`${what} must not be empty`);
  if (s.length > maxLength) {
    throw invalidArgument(`${what} "${s.slice(0, 16)}..." greater than maximum length (${maxLength} characters)`);
  }
  if (!pattern.test(s)) {
    throw invalidArgument(`${what} "${s}" must match ${pattern.source}`);
  }
  return s;
}
