// Persistent network namespaces, as `ip netns` keeps them: a new namespace's nsfs file bind-mounted on an
// ordinary file, so it lives on without a process in it and CNI plugins and nsenter can enter it by path.
import { closeSync, openSync, readFileSync, unlinkSync } from 'node:fs';
import { alreadyExists, wrap } from './errdefs.js';
import { native, type NativeError } from './native.js';
import { runChecked } from './process.js';

/**
 * Makes a new network namespace (only a down lo in it) and pins it on file, which must not exist. util-linux's
 * unshare creates the namespace in a child and bind-mounts it there; on any failure nothing is left behind.
 */
export async function createNetns(file: string): Promise<void> {
  try {
    closeSync(openSync(file, 'wx', 0o444));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw alreadyExists(`network namespace ${file} already exists`);
    }
    throw wrap(err, `create network namespace ${file}`);
  }
  try {
    await runChecked('unshare', [`--net=${file}`, 'true']);
  } catch (err) {
    removeNetns(file);
    throw wrap(err, `create network namespace ${file}`);
  }
}

/** Unmounts (lazily, so a namespace still in use lives on until its last user leaves) and unlinks; idempotent. */
export function removeNetns(file: string): void {
  const n = native();
  try {
    n.umount2(file, n.constants.MNT_DETACH);
  } catch (err) {
    const code = (err as NativeError).code;
    if (code !== 'EINVAL' && code !== 'ENOENT') throw wrap(err, `remove network namespace ${file}`);
  }
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw wrap(err, `remove network namespace ${file}`);
  }
}

/** Whether something (a namespace, for files createNetns made) is mounted on file, per /proc/self/mountinfo. */
export function isNetnsMounted(file: string): boolean {
  return mountPoints().includes(file);
}

function mountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}
