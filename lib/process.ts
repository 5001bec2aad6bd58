// Small facts about processes that several owners need.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CtrdError } from './errdefs.js';

/**
 * Whether a process with this pid exists and has not exited. A zombie has exited: the shims the daemon
 * started are re-parented to init, which may take its time to reap them.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // The state is the first field after the parenthesised command name, which may itself hold ") ".
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Waits until the process has exited (see isAlive); false if it still runs after ms. */
export async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (pid > 0 && isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

export interface Captured {
  /** The exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
}

/**
 * Runs a program to its end with `input` on its stdin and its output captured, SIGKILLed after timeoutMs.
 * Rejects only when it cannot be started; its exit status is the caller's to judge.
 */
export function runCaptured(
  file: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: Buffer; timeoutMs: number },
): Promise<Captured> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err) });
    });
    child.stdin.on('error', () => {}); // a program that fails early may not read its input
    child.stdin.end(opts.input);
  });
}

/**
 * Runs a program that must succeed; its stdout. One that cannot start, fails or outlives timeoutMs is an error
 * naming its command line and what it said on stderr.
 */
export async function runChecked(file: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  const line = [file, ...args].join(' ');
  let r: Captured;
  try {
    r = await runCaptured(file, args, { timeoutMs });
  } catch (err) {
    throw new CtrdError('unknown', `${line}: ${(err as Error).message}`, { cause: err });
  }
  if (r.code === 0) return r.stdout.toString('utf8');
  throw new CtrdError('unknown', `${line}: ${r.stderr.toString('utf8').trim() || `exit ${r.code ?? r.signal}`}`);
}
