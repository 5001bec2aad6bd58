// Persistent network namespaces as files: a new namespace bind-mounted onto an empty file (util-linux's
// `unshare --net=FILE`), so that it lives on without a process in it until the file is unmounted.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { errnoCode, internal } from './errdefs.js';
import { native } from './native.js';

function runUnshare(file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', [`--net=${file}`, 'true'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(internal(`unshare --net=${file}: exit ${code}: ${stderr.trim()}`))));
  });
}

/** Makes a new network namespace held by `file` (which must not exist); nothing is left if it fails. */
export async function createNetns(file: string): Promise<void> {
  fs.writeFileSync(file, '', { mode: 0o444, flag: 'wx' });
  try {
    await runUnshare(file);
  } catch (err) {
    removeNetns(file);
    throw err;
  }
}

/** Unmounts and removes a namespace file; one that is not mounted, or not there, is no error. */
export function removeNetns(file: string): void {
  try {
    native().umount2(file, native().constants.MNT_DETACH);
  } catch (err) {
    const code = errnoCode(err);
    if (code !== 'EINVAL' && code !== 'ENOENT') throw err;
  }
  fs.rmSync(file, { force: true });
}

/** Whether a namespace is mounted on the file. */
export function isNetnsMounted(file: string): boolean {
  const mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  return mountinfo.split('\n').some((l) => l.split(' ')[4] === file);
}
