// Mounting what a snapshotter describes, as containerd's clients do, with mount(8); and checking that a test
// left no mount behind.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface MountSpec {
  type: string;
  source: string;
  options: readonly string[];
}

/** Mount points under dir (inclusive) in /proc/self/mounts, which escapes spaces and such as octal. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

/** Mounts and remembers, so that unmountAll() undoes everything, the latest first. */
export class Mounter {
  private readonly mounted: string[] = [];

  async mount(mounts: readonly MountSpec[], target: string): Promise<void> {
    for (const m of mounts) {
      await execFileP('mount', ['-t', m.type, m.source, target, '-o', m.options.join(',')]);
      this.mounted.push(target);
    }
  }

  async unmount(target: string): Promise<void> {
    const i = this.mounted.lastIndexOf(target);
    if (i < 0) throw new Error(`${target} was not mounted by this Mounter`);
    await execFileP('umount', [target]);
    this.mounted.splice(i, 1);
  }

  async unmountAll(): Promise<void> {
    while (this.mounted.length > 0) {
      const target = this.mounted.pop()!;
      // A recursive lazy unmount: a failing test may leave something busy or mounted below.
      await execFileP('umount', ['-R', '-l', target]).catch(() => undefined);
    }
  }
}
