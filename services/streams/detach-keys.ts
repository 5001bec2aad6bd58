// docker's detach keys: a sequence typed on an attached stdin that ends the attach and leaves the container
// running. "ctrl-p,ctrl-q" by default; each key a single character or ctrl-<a-z, @, [, \, ], ^, _>. Bytes
// that begin the sequence are held back until it is either complete (they are dropped) or broken (they are
// passed on with the byte that broke it), as docker's escape proxy does.
import { invalidArgument } from '../../lib/errdefs.js';

export const defaultDetachKeys = 'ctrl-p,ctrl-q';

const ctrlSpecial: Record<string, number> = { '@': 0, '[': 27, '\\': 28, ']': 29, '^': 30, _: 31 };

export function parseDetachKeys(spec: string): number[] {
  const text = spec === '' ? defaultDetachKeys : spec;
  const keys = text.split(',').map((k) => {
    if (k.length === 1) return k.charCodeAt(0);
    const m = /^ctrl-(.)$/i.exec(k);
    if (m) {
      const c = m[1]!;
      if (/[a-z]/i.test(c)) return c.toLowerCase().charCodeAt(0) - 96;
      const special = ctrlSpecial[c];
      if (special !== undefined) return special;
    }
    throw invalidArgument(`Invalid detach keys (${spec}) provided: each key is one character or ctrl-<value> (a-z, @, ^, [, \\, ], _)`);
  });
  if (keys.some((k) => k > 0x7f)) throw invalidArgument(`Invalid detach keys (${spec}) provided: only ASCII keys`);
  return keys;
}

export class DetachWatcher {
  private held: number[] = [];

  constructor(private readonly keys: readonly number[]) {}

  /** What of chunk goes on to the container, and whether the sequence is now complete (the rest is dropped). */
  feed(chunk: Buffer): { forward: Buffer; detached: boolean } {
    const out: number[] = [];
    for (const b of chunk) {
      if (this.held.length > 0 && b !== this.keys[this.held.length]) {
        out.push(...this.held);
        this.held = [];
      }
      if (b !== this.keys[this.held.length]) {
        out.push(b);
        continue;
      }
      this.held.push(b);
      if (this.held.length === this.keys.length) {
        this.held = [];
        return { forward: Buffer.from(out), detached: true };
      }
    }
    return { forward: Buffer.from(out), detached: false };
  }
}
