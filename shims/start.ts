// `start`: spawns the server copy of the shim detached (its own session; stdio /dev/null, /dev/null and
// the bundle's log FIFO), waits for it to listen, writes the `address` file and prints the address. On
// any failure nothing is left: no server process, no socket.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CtrdError, errnoCode } from '../lib/errdefs.js';
import { socketAddress, socketDir } from './address.js';
import { formatFlags, type ShimFlags } from './flags.js';

const readyTimeoutMs = 10_000;

/**
 * One Node process per container: a small young generation (V8 grows it to 16 MB per semi-space under
 * allocation churn, such as a chatty container's output) keeps the shim's memory flat, and V8's helper
 * threads are not worth their memory to a process that mostly waits.
 */
const serverNodeFlags = ['--max-semi-space-size=1', '--v8-pool-size=0'];

export async function start(flags: ShimFlags, script: string): Promise<string> {
  const bundle = flags.bundle || process.cwd();
  const address = socketAddress(flags.address, flags.namespace, flags.id);
  // The runtime options come on stdin; Create brings them again, so they are read only to drain the pipe.
  if (!process.stdin.isTTY) {
    try {
      fs.readFileSync(0);
    } catch {
      // no stdin at all
    }
  }
  const logFd = openLogFifo(path.join(bundle, 'log'));
  fs.mkdirSync(socketDir, { recursive: true, mode: 0o711 });
  const child = spawn(process.execPath, [...serverNodeFlags, script, ...formatFlags({ ...flags, bundle })], {
    cwd: bundle,
    detached: true,
    stdio: ['ignore', 'ignore', logFd, 'pipe'],
    env: process.env,
  });
  fs.closeSync(logFd);
  const pid = child.pid;
  const message = await new Promise<string>((resolve) => {
    let text = '';
    const pipe = child.stdio[3] as NodeJS.ReadableStream | null;
    const timer = setTimeout(() => resolve(`the shim server did not get ready within ${readyTimeoutMs} ms`), readyTimeoutMs);
    const done = (m: string) => {
      clearTimeout(timer);
      resolve(m);
    };
    child.once('error', (err) => done(`cannot spawn the shim server: ${err.message}`));
    child.once('exit', (code, signal) => done(text.trim() || `the shim server exited (${code ?? signal}) before it was ready`));
    pipe?.on('data', (b: Buffer) => (text += b.toString()));
    pipe?.on('end', () => done(text.trim() || 'the shim server closed its readiness pipe without a word'));
  });
  if (message !== 'ok') {
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    // A socket that the failed server made (not one another live shim serves: that server said so).
    if (!/already-exists|address already in use|EADDRINUSE/i.test(message)) fs.rmSync(address.slice('unix://'.length), { force: true });
    throw new CtrdError('unavailable', message);
  }
  fs.writeFileSync(path.join(bundle, 'address'), address);
  child.unref();
  (child.stdio[3] as unknown as { destroy(): void } | null)?.destroy();
  return address;
}

/** The daemon made the FIFO and reads it; without a reader the shim would block, so that is an error. */
function openLogFifo(file: string): number {
  try {
    fs.closeSync(fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
  } catch (err) {
    const why = errnoCode(err) === 'ENXIO' ? 'nobody reads it' : (err as Error).message;
    throw new CtrdError('failed-precondition', `log fifo ${file}: ${why}`, { cause: err });
  }
  return fs.openSync(file, fs.constants.O_WRONLY);
}
