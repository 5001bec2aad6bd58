// The one owner of waitpid in the shim. The shim is a child subreaper, so a container's init and exec
// processes become its children when runc exits. libuv reaps only what child_process spawned, each with
// waitpid(pid): on SIGCHLD this module lists the shim's children (/proc/self/task/*/children, zombies
// included), leaves libuv's own alone, and reaps every other one with waitpid(pid, WNOHANG). An exit that
// comes before anyone asked for its pid (a short exec that ends before `runc exec` returns) is kept until
// claimed.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { native } from '../lib/native.js';
import type { ShimLogger } from './log.js';

export interface Exit {
  pid: number;
  /** The exit code, or 128 + the signal number. */
  status: number;
  exitedAt: Date;
}

/** Unclaimed exits older than this are forgotten (their pid may be reused). */
const unclaimedTtlMs = 60_000;

export class Reaper {
  private readonly spawned = new Set<number>();
  private readonly watchers = new Map<number, (exit: Exit) => void>();
  private readonly unclaimed = new Map<number, Exit>();
  private readonly onSignal = () => this.reap();

  constructor(private readonly log: ShimLogger) {
    native().setChildSubreaper();
    process.on('SIGCHLD', this.onSignal);
  }

  /** child_process.spawn, with the child left to libuv to reap. */
  spawn(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
    const child = spawn(command, args, options);
    const pid = child.pid;
    if (pid !== undefined) {
      this.spawned.add(pid);
      child.once('exit', () => this.spawned.delete(pid));
    }
    return child;
  }

  /** Calls onExit once pid, a child of the shim, has exited and been reaped (at once if it already was). */
  watch(pid: number, onExit: (exit: Exit) => void): void {
    const done = this.unclaimed.get(pid);
    if (done) {
      this.unclaimed.delete(pid);
      queueMicrotask(() => onExit(done));
      return;
    }
    this.watchers.set(pid, onExit);
    this.reap(); // it may have exited before we were told about it, its SIGCHLD already handled
  }

  unwatch(pid: number): void {
    this.watchers.delete(pid);
  }

  close(): void {
    process.off('SIGCHLD', this.onSignal);
  }

  /** Reaps every child that is not libuv's. */
  reap(): void {
    for (const pid of children()) {
      if (this.spawned.has(pid)) continue;
      let result;
      try {
        result = native().waitpid(pid);
      } catch (err) {
        this.log.debug({ err, pid }, 'waitpid');
        continue;
      }
      if (!result) continue;
      const exit: Exit = { pid, status: result.status, exitedAt: new Date() };
      const watcher = this.watchers.get(pid);
      if (watcher) {
        this.watchers.delete(pid);
        watcher(exit);
      } else {
        this.unclaimed.set(pid, exit);
      }
    }
    const now = Date.now();
    for (const [pid, exit] of this.unclaimed) if (now - exit.exitedAt.getTime() > unclaimedTtlMs) this.unclaimed.delete(pid);
  }
}

/** The pids of this process's children, from every thread's children list. */
export function children(): number[] {
  const out = new Set<number>();
  for (const tid of readdirSync('/proc/self/task')) {
    let text: string;
    try {
      text = readFileSync(`/proc/self/task/${tid}/children`, 'utf8');
    } catch {
      continue; // the thread ended
    }
    for (const p of text.split(' ')) if (p.trim() !== '') out.add(Number(p));
  }
  return [...out];
}
