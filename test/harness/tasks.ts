// What task tests check on the host: the shims a daemon started, what shims and ctr left under
// /run/containerd and /run/ctrd, the cgroups of a namespace, a daemon's open file descriptors.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { cgroupRoot, isCgroup2 } from '../../shims/cgroups/paths.js';
import type { TestDaemon } from './daemon.js';
import type { TestRegistry } from './registry.js';

export const goShim = '/usr/bin/containerd-shim-runc-v2';
export const runcBinary = ['/usr/sbin/runc', '/usr/bin/runc'].find((p) => fs.existsSync(p));
/**
 * What a daemon's shims left under /run that is theirs to remove: the runc state of the namespace (Go
 * shims keep it in /run/containerd/runc/<ns>, ctrd's in /run/ctrd/runc/<ns>) and the shim sockets of the
 * tasks (containerd's rule: <dir>/s/<sha256 of address/ns/id>). Other tests run beside this one, so only
 * these paths are looked at.
 */
export function runLeftovers(address: string, ns: string, ids: Iterable<string>): string[] {
  const left: string[] = [];
  for (const dir of ['/run/containerd', '/run/ctrd']) {
    const runc = path.join(dir, 'runc', ns);
    if (fs.existsSync(runc)) {
      const entries = fs.readdirSync(runc);
      if (entries.length === 0) fs.rmdirSync(runc);
      else left.push(...entries.map((e) => path.join(runc, e)));
    }
    for (const id of ids) {
      const socket = path.join(dir, 's', createHash('sha256').update(path.join(address, ns, id)).digest('hex'));
      if (fs.existsSync(socket)) left.push(socket);
    }
  }
  return left;
}

/**
 * Pids of the shims of the daemon at address, or of one task of it: a shim v2 is started with `-address <the
 * daemon's socket>` (containerd's, Debian's Go shim, ctrd's), which neither ctr (`-a`) nor the daemons
 * (`--address`) use.
 */
export function shimsOf(address: string, id?: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      let argv: string[];
      try {
        argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      } catch {
        return false;
      }
      const i = argv.indexOf('-address');
      const ours = (i >= 0 && argv[i + 1] === address) || argv.includes(`-address=${address}`);
      return ours && (id === undefined || argv[argv.indexOf('-id') + 1] === id);
    })
    .map(Number);
}

/** The shim pids a daemon logged when it connected to them. */
export function loggedShimPids(log: string): number[] {
  return log
    .split('\n')
    .filter((l) => l.includes('"shimPid"'))
    .map((l) => (JSON.parse(l) as { shimPid: number }).shimPid)
    .filter((pid) => pid > 0);
}

function cgroupRoots(): string[] {
  return isCgroup2() ? [cgroupRoot] : fs.readdirSync(cgroupRoot).map((c) => path.join(cgroupRoot, c));
}

/**
 * Removes the namespace's own cgroup directories (runtimes remove /<ns>/<id> but leave /<ns>, as containerd
 * does); returns the ones that could not go.
 */
export function removeNamespaceCgroups(ns: string): string[] {
  const left: string[] = [];
  for (const root of cgroupRoots()) {
    const dir = path.join(root, ns);
    if (!fs.existsSync(dir)) continue;
    try {
      fs.rmdirSync(dir);
    } catch {
      left.push(dir);
    }
  }
  return left;
}

/** The memory limit of a task's cgroup as the kernel has it (ctr's cgroupsPath is /<ns>/<id>), v1 or v2. */
export function memoryLimit(ns: string, id: string): string {
  const file = isCgroup2() ? path.join(cgroupRoot, ns, id, 'memory.max') : path.join(cgroupRoot, 'memory', ns, id, 'memory.limit_in_bytes');
  return fs.readFileSync(file, 'utf8').trim();
}

/** Cgroup directories named after the namespace (ctr's cgroupsPath is /<ns>/<id>), v1 and v2 alike. */
export function cgroupsOf(ns: string): string[] {
  const found: string[] = [];
  for (const root of cgroupRoots()) {
    const dir = path.join(root, ns);
    let children: fs.Dirent[] = [];
    try {
      children = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const c of children) if (c.isDirectory()) found.push(path.join(dir, c.name));
  }
  return found;
}

export function openFds(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** The parent of a process (a task's init: its shim, which is a child subreaper). */
export function parentOf(pid: number): number {
  const m = /^PPid:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no PPid in /proc/${pid}/status`);
  return Number(m[1]);
}

/**
 * The end of a task test: this daemon's shims killed (should a test have failed half-way), the registry and
 * daemon stopped, and nothing of the namespace's tasks ids left: no runtime state, socket or cgroup.
 */
export async function stopTaskDaemon(d: TestDaemon | undefined, reg: TestRegistry | undefined, ns: string, ids: Iterable<string>): Promise<void> {
  if (d) for (const pid of shimsOf(d.address)) process.kill(pid, 'SIGKILL');
  await reg?.stop();
  await d?.cleanup();
  // Thrown, not expect()ed: the benchmarks import this file outside vitest.
  const left = [...(d ? runLeftovers(d.address, ns, ids) : []), ...cgroupsOf(ns).map((c) => `cgroup ${c}`), ...removeNamespaceCgroups(ns).map((c) => `cgroup that could not be removed: ${c}`)];
  if (left.length > 0) throw new Error(`the tasks of namespace ${ns} left:\n${left.join('\n')}`);
}
