// What a daemon's containers leave on the host, found from outside: its shims (their command line names the
// daemon's socket), their memory (/proc/PID/smaps_rollup), their children (the containers' processes), what
// shims and ctr make under /run/containerd, and the containers' cgroups. bench/start and bench/density use
// it to measure, and to leave the machine as they found it.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive } from '../lib/process.js';
import { shimsOf } from '../test/harness/tasks.js';

/** Where containerd's shims and ctr keep their runtime files, whatever the daemon's state dir. */
export const runDir = '/run/containerd';
const cgroupRoot = '/sys/fs/cgroup';

function pidsInProc(): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number);
}

/** Every descendant of the given processes (the containers' processes under their shims). */
export function descendantsOf(pids: readonly number[]): number[] {
  const children = new Map<number, number[]>();
  for (const pid of pidsInProc()) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), pid]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  for (const pid of pids) walk(pid);
  return out;
}

/** Memory of one process, KiB, from /proc/PID/smaps_rollup. */
export interface Memory {
  rssKiB: number;
  pssKiB: number;
  /** Private_Clean + Private_Dirty: what the process alone holds, what is freed when it exits. */
  privateKiB: number;
}

export function memoryOf(pid: number): Memory {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (!m) throw new Error(`/proc/${pid}/smaps_rollup has no ${name}`);
    return Number(m[1]);
  };
  return { rssKiB: field('Rss'), pssKiB: field('Pss'), privateKiB: field('Private_Clean') + field('Private_Dirty') };
}

/** Sleeps without an event loop: for the signal handler's synchronous cleanup. */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * SIGKILLs the shims of the daemon at address and everything below them (their containers), and waits up to
 * 5 s for them to be gone. Returns the pids killed.
 */
export function killShimsOf(address: string): number[] {
  const shims = shimsOf(address);
  if (shims.length === 0) return [];
  const all = [...descendantsOf(shims), ...shims];
  for (const pid of all) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (let i = 0; i < 200 && all.some(isAlive); i++) sleepSync(25);
  return all;
}

/** The socket a containerd shim v2 (runtime/v2/shim SocketAddress) listens on for a container of that daemon. */
export function shimSocket(address: string, namespace: string, id: string): string {
  return join(runDir, 's', createHash('sha256').update(join(address, namespace, id)).digest('hex'));
}

function walk(dir: string, found: Set<string>): void {
  if (!existsSync(dir)) return;
  found.add(dir);
  let list;
  try {
    list = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of list) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, found);
    else found.add(p);
  }
}

/**
 * What a run of containers makes on the host outside its temp dirs, and its removal: under /run/containerd
 * (runc's state in runc/<namespace>/<id>, the shims' sockets in s/, ctr's FIFOs in fifo/<random>/<id>-*)
 * and the cgroups /<namespace>/<id> in every hierarchy. The namespace is the run's own, so whatever is under
 * it is the run's; elsewhere only the paths that name one of the run's containers are touched, and the
 * directories that did not exist before and are empty now.
 */
export class HostTraces {
  private readonly before = new Set<string>();
  private readonly ids = new Set<string>();
  private readonly addresses: string[] = [];

  constructor(readonly namespace: string) {
    walk(runDir, this.before);
  }

  /** Remembers a daemon whose shims' sockets are to be removed. */
  daemon(address: string): void {
    this.addresses.push(address);
  }

  /** Remembers a container id (before it is created, so that a failure half-way is covered). */
  container(id: string): void {
    this.ids.add(id);
  }

  /** The paths under /run/containerd that this run made and that are still there. */
  private made(): string[] {
    const now = new Set<string>();
    walk(runDir, now);
    return [...now].filter((p) => !this.before.has(p));
  }

  private ours(p: string): boolean {
    const rel = p.slice(runDir.length + 1).split('/');
    if (rel.includes(this.namespace)) return true;
    const base = rel[rel.length - 1] ?? '';
    if ([...this.ids].some((id) => rel.includes(id) || base.startsWith(`${id}-`))) return true;
    return this.sockets().has(p);
  }

  private sockets(): Set<string> {
    return new Set(this.addresses.flatMap((a) => [...this.ids].map((id) => shimSocket(a, this.namespace, id))));
  }

  private cgroupDirs(): string[] {
    let hierarchies: string[];
    try {
      hierarchies = readdirSync(cgroupRoot).map((c) => join(cgroupRoot, c));
    } catch {
      return [];
    }
    // The containers' cgroups first, then the namespace's, which must be empty by then.
    return [...hierarchies.flatMap((h) => [...this.ids].map((id) => join(h, this.namespace, id))), ...hierarchies.map((h) => join(h, this.namespace))];
  }

  /** Removes what is ours (call it when no process of the run is left); returns what could not be removed. */
  remove(): string[] {
    for (const p of this.made().filter((x) => this.ours(x)).sort((a, b) => b.length - a.length)) {
      // runc's state dir of a container killed under it may still hold a mounted-over or busy file: lazily unmount.
      spawnSync('umount', ['-l', p], { stdio: 'ignore' });
      rmSync(p, { recursive: true, force: true });
    }
    // Directories this run made (/run/containerd itself, s/, fifo/, runc/) that are empty now.
    for (const p of this.made().sort((a, b) => b.length - a.length)) {
      try {
        if (statSync(p).isDirectory() && readdirSync(p).length === 0) rmdirSync(p);
      } catch {
        // another process's, in use
      }
    }
    for (const d of this.cgroupDirs()) {
      try {
        if (existsSync(d)) rmdirSync(d);
      } catch {
        // reported below
      }
    }
    return this.left();
  }

  /** What of ours is still there: paths under /run/containerd, cgroups. */
  left(): string[] {
    return [...this.made().filter((p) => this.ours(p)), ...this.cgroupDirs().filter((d) => existsSync(d))];
  }
}
