// Where a container's cgroup is and which version the host runs: what the shim needs on every task,
// without the metrics messages (metrics.ts), which load only when Stats is asked.
import fs from 'node:fs';
import path from 'node:path';

export const cgroupRoot = '/sys/fs/cgroup';

export function isCgroup2(root = cgroupRoot): boolean {
  for (const line of fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[1] === root) return f[2] === 'cgroup2';
  }
  return false;
}

/** "key value" lines (memory.stat, cpu.stat, memory.oom_control, memory.events). */
export function parseKeyValues(text: string | undefined): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out.set(k, BigInt(v));
  }
  return out;
}

/** Whether any cgroup directory of the container is still there (every v1 hierarchy, or the v2 one). */
export function cgroupDirsLeft(cgroupsPath: string, root = cgroupRoot): string[] {
  if (isCgroup2(root)) {
    const d = path.join(root, cgroupsPath);
    return fs.existsSync(d) ? [d] : [];
  }
  const left: string[] = [];
  for (const controller of fs.readdirSync(root)) {
    if (controller === 'unified') continue;
    const d = path.join(root, controller, cgroupsPath);
    if (fs.existsSync(d)) left.push(d);
  }
  return left;
}
