// A container's cgroup, made and driven by the native backend as runc's libcontainer/cgroups does: on v1 a
// directory in every mounted hierarchy, on v2 one directory in the unified tree with the controllers it
// needs enabled above it. Resources are written before the init runs and again on Tasks.Update; pause is
// the freezer. v2 has no device cgroup files: device rules need a BPF program there, which ctrd does not
// load (the container still gets only the device nodes its spec lists in /dev).
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CtrdError, failedPrecondition, invalidArgument } from '../../lib/errdefs.js';
import { cgroupRoot, isCgroup2 } from './paths.js';

/** OCI linux.resources, the parts ctrd applies. */
export interface LinuxResources {
  memory?: { limit?: number; reservation?: number; swap?: number; swappiness?: number; disableOOMKiller?: boolean };
  cpu?: { shares?: number; quota?: number; period?: number; realtimeRuntime?: number; realtimePeriod?: number; cpus?: string; mems?: string };
  pids?: { limit?: number };
  devices?: Array<{ allow: boolean; type?: string; major?: number; minor?: number; access?: string }>;
  blockIO?: { weight?: number };
}

interface Hierarchy {
  mount: string;
  /** What its super options name: its controllers (cpu and cpuacct when mounted together), name=… for a named one. */
  controllers: string[];
}

let hierarchies: Hierarchy[] | undefined;

/** The v1 hierarchies mounted on this host, read once: they are mounted at boot and stay. */
function v1Hierarchies(): Hierarchy[] {
  if (hierarchies) return hierarchies;
  const found = new Map<string, Hierarchy>();
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const [fstype, , superOptions = ''] = line.slice(sep + 3).split(' ');
    const mount = line.split(' ')[4]!;
    if (fstype !== 'cgroup' || !mount.startsWith(cgroupRoot + '/')) continue;
    found.set(mount, { mount, controllers: superOptions.split(',').filter((o) => o !== 'rw' && o !== 'ro') });
  }
  hierarchies = [...found.values()];
  return hierarchies;
}

export class Cgroup {
  private constructor(
    /** The spec's cgroupsPath, e.g. /default/web. */
    readonly cgroupsPath: string,
    readonly v2: boolean,
    /** v1: each controller's directory (controllers mounted together share one); v2: '' for the one directory. */
    private readonly dirs: Map<string, string>,
  ) {}

  /** The cgroup at cgroupsPath (made if missing), with resources written; nothing is left on failure. */
  static create(cgroupsPath: string, resources: LinuxResources | undefined): Cgroup {
    if (!cgroupsPath.startsWith('/') || cgroupsPath.split('/').includes('..')) {
      throw invalidArgument(`linux.cgroupsPath "${cgroupsPath}" must be an absolute path without ".."`);
    }
    const v2 = isCgroup2();
    const dirs = new Map<string, string>();
    const hierarchyDirs: Array<{ mount: string; dir: string; controllers: string[] }> = v2
      ? [{ mount: cgroupRoot, dir: path.join(cgroupRoot, cgroupsPath), controllers: [''] }]
      : v1Hierarchies().map((h) => ({ ...h, dir: path.join(h.mount, cgroupsPath) }));
    for (const h of hierarchyDirs) for (const c of h.controllers) dirs.set(c, h.dir);
    const cg = new Cgroup(cgroupsPath, v2, dirs);
    const made: string[] = [];
    try {
      for (const h of hierarchyDirs) {
        const first = fs.mkdirSync(h.dir, { recursive: true });
        if (first) made.push(first);
        if (h.controllers.includes('cpuset')) inheritCpuset(h.mount, h.dir);
      }
      if (v2) enableControllers(path.join(cgroupRoot, cgroupsPath));
      if (resources) cg.apply(resources);
    } catch (err) {
      for (const first of made) removeTree(first);
      throw err;
    }
    return cg;
  }

  /** Each directory once (v1 controllers mounted together share one). */
  private directories(): Set<string> {
    return new Set(this.dirs.values());
  }

  /** Moves a process in (before it runs anything of the container). */
  join(pid: number): void {
    for (const dir of this.directories()) fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
  }

  /** The pids in the cgroup. */
  procs(): number[] {
    const dir = this.v2 ? this.dirs.get('')! : (this.dirs.get('pids') ?? this.dirs.get('memory') ?? [...this.dirs.values()][0]!);
    try {
      return fs
        .readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map(Number);
    } catch {
      return [];
    }
  }

  apply(r: LinuxResources): void {
    if (this.v2) this.applyV2(r);
    else this.applyV1(r);
  }

  private write(controller: string, file: string, value: string | number): void {
    const dir = this.v2 ? this.dirs.get('') : this.dirs.get(controller);
    if (!dir) throw failedPrecondition(`cgroup controller ${controller} is not mounted on this host (needed for ${file})`);
    try {
      fs.writeFileSync(path.join(dir, file), String(value));
    } catch (err) {
      throw new CtrdError('invalid-argument', `cgroup ${this.cgroupsPath}: cannot write ${value} to ${file}: ${(err as Error).message}`, { cause: err });
    }
  }

  private read(controller: string, file: string): string {
    const dir = this.v2 ? this.dirs.get('')! : this.dirs.get(controller)!;
    return fs.readFileSync(path.join(dir, file), 'utf8').trim();
  }

  private applyV1(r: LinuxResources): void {
    const m = r.memory;
    if (m) {
      const hasSwap = this.dirs.has('memory') && fs.existsSync(path.join(this.dirs.get('memory')!, 'memory.memsw.limit_in_bytes'));
      const limit = m.limit !== undefined ? String(m.limit <= 0 ? -1 : m.limit) : undefined;
      const swap = m.swap !== undefined && hasSwap ? String(m.swap <= 0 ? -1 : m.swap) : undefined;
      // memsw must stay >= the limit at every step: raise it first, lower it last.
      const current = hasSwap ? Number(this.read('memory', 'memory.memsw.limit_in_bytes')) : 0;
      const swapFirst = swap !== undefined && (Number(swap) === -1 || Number(swap) > current);
      if (swap !== undefined && swapFirst) this.write('memory', 'memory.memsw.limit_in_bytes', swap);
      if (limit !== undefined) this.write('memory', 'memory.limit_in_bytes', limit);
      if (swap !== undefined && !swapFirst) this.write('memory', 'memory.memsw.limit_in_bytes', swap);
      if (m.reservation !== undefined) this.write('memory', 'memory.soft_limit_in_bytes', m.reservation <= 0 ? -1 : m.reservation);
      if (m.swappiness !== undefined && m.swappiness <= 100) this.write('memory', 'memory.swappiness', m.swappiness);
      if (m.disableOOMKiller) this.write('memory', 'memory.oom_control', 1);
    }
    const c = r.cpu;
    if (c) {
      if (c.shares) this.write('cpu', 'cpu.shares', c.shares);
      if (c.period) this.write('cpu', 'cpu.cfs_period_us', c.period);
      if (c.quota !== undefined && c.quota !== 0) this.write('cpu', 'cpu.cfs_quota_us', c.quota < 0 ? -1 : c.quota);
      if (c.realtimePeriod) this.write('cpu', 'cpu.rt_period_us', c.realtimePeriod);
      if (c.realtimeRuntime) this.write('cpu', 'cpu.rt_runtime_us', c.realtimeRuntime);
      if (c.cpus) this.write('cpuset', 'cpuset.cpus', c.cpus);
      if (c.mems) this.write('cpuset', 'cpuset.mems', c.mems);
    }
    if (r.pids?.limit !== undefined) this.write('pids', 'pids.max', r.pids.limit <= 0 ? 'max' : r.pids.limit);
    if (r.blockIO?.weight) this.write('blkio', 'blkio.weight', r.blockIO.weight);
    if (r.devices) {
      // The spec's rules (containerd's default denies everything), then the devices every container gets,
      // as runc adds them: the spec's /dev nodes must stay usable, and mknod of any node is allowed.
      for (const d of [...r.devices, ...alwaysAllowedDevices]) this.write('devices', d.allow ? 'devices.allow' : 'devices.deny', deviceRule(d));
    }
  }

  private applyV2(r: LinuxResources): void {
    const m = r.memory;
    if (m) {
      if (m.limit !== undefined) this.write('memory', 'memory.max', m.limit <= 0 ? 'max' : m.limit);
      // OCI's swap is memory + swap; v2's swap.max is the swap alone.
      if (m.swap !== undefined) {
        const swap = m.swap <= 0 ? 'max' : m.limit !== undefined && m.limit > 0 ? Math.max(0, m.swap - m.limit) : m.swap;
        if (fs.existsSync(path.join(this.dirs.get('')!, 'memory.swap.max'))) this.write('memory', 'memory.swap.max', swap);
      }
      if (m.reservation !== undefined) this.write('memory', 'memory.low', m.reservation <= 0 ? 0 : m.reservation);
    }
    const c = r.cpu;
    if (c) {
      // runc's conversion of shares (2..262144) to weight (1..10000).
      if (c.shares) this.write('cpu', 'cpu.weight', Math.round(1 + ((c.shares - 2) * 9999) / 262142));
      if (c.quota !== undefined || c.period) {
        const quota = c.quota === undefined || c.quota <= 0 ? 'max' : String(c.quota);
        this.write('cpu', 'cpu.max', `${quota} ${c.period || 100000}`);
      }
      if (c.cpus) this.write('cpuset', 'cpuset.cpus', c.cpus);
      if (c.mems) this.write('cpuset', 'cpuset.mems', c.mems);
    }
    if (r.pids?.limit !== undefined) this.write('pids', 'pids.max', r.pids.limit <= 0 ? 'max' : r.pids.limit);
    if (r.blockIO?.weight) this.write('io', 'io.bfq.weight', r.blockIO.weight);
  }

  /** Freezes (pause) or thaws (resume) every process, and waits until the kernel says it is done. */
  async freeze(frozen: boolean): Promise<void> {
    if (this.v2) {
      this.write('', 'cgroup.freeze', frozen ? 1 : 0);
      await this.waitFor(() => /^frozen (\d)$/m.exec(this.read('', 'cgroup.events'))?.[1] === (frozen ? '1' : '0'), frozen);
      return;
    }
    const want = frozen ? 'FROZEN' : 'THAWED';
    this.write('freezer', 'freezer.state', want);
    await this.waitFor(() => {
      if (this.read('freezer', 'freezer.state') === want) return true;
      this.write('freezer', 'freezer.state', want); // a process forked meanwhile: ask again
      return false;
    }, frozen);
  }

  private async waitFor(done: () => boolean, frozen: boolean): Promise<void> {
    for (let i = 0; i < 1000; i++) {
      if (done()) return;
      await sleep(i < 10 ? 1 : 10);
    }
    throw new CtrdError('unknown', `cgroup ${this.cgroupsPath}: cannot ${frozen ? 'freeze' : 'thaw'} it`);
  }

  /** SIGKILLs every process in it (frozen meanwhile on v1, so none forks away), and waits for it to empty. */
  async killAll(): Promise<void> {
    if (this.procs().length === 0) return;
    const frozen = this.dirs.has('freezer') || this.v2;
    if (frozen) await this.freeze(true).catch(() => undefined);
    for (const pid of this.procs()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    if (frozen) await this.freeze(false).catch(() => undefined);
  }

  /** Removes the directories (the cgroup must be empty: zombies still count until reaped). */
  async destroy(): Promise<void> {
    for (let i = 0; ; i++) {
      const left: string[] = [];
      for (const dir of this.directories()) {
        try {
          fs.rmdirSync(dir);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') left.push(dir);
        }
      }
      if (left.length === 0) return;
      if (i >= 200) throw new CtrdError('unknown', `cannot remove cgroup ${left.join(', ')}: still in use`);
      await sleep(10);
    }
  }
}

/** runc's AllowedDevices: mknod of any node; null, zero, full, random, urandom, tty, console, ptmx, the ptys, tun. */
const alwaysAllowedDevices = [
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  ...[
    [1, 3],
    [1, 5],
    [1, 7],
    [1, 8],
    [1, 9],
    [5, 0],
    [5, 1],
    [5, 2],
    [136, -1],
    [10, 200],
  ].map(([major, minor]) => ({ allow: true, type: 'c', major, minor, access: 'rwm' })),
];

/** "c 1:3 rwm" as the v1 devices files take it; a missing type, major or minor is "all". */
function deviceRule(d: { type?: string; major?: number; minor?: number; access?: string }): string {
  const type = d.type ?? 'a';
  if (!['a', 'b', 'c'].includes(type)) throw invalidArgument(`linux.resources.devices: type "${type}" is not one of a, b, c`);
  const num = (n: number | undefined) => (n === undefined || n < 0 ? '*' : String(n));
  const access = d.access || 'rwm';
  if (!/^[rwm]{1,3}$/.test(access)) throw invalidArgument(`linux.resources.devices: access "${access}" must be made of r, w and m`);
  return type === 'a' ? `a *:* ${access}` : `${type} ${num(d.major)}:${num(d.minor)} ${access}`;
}

/** A new v1 cpuset has empty cpus and mems, and takes no process until they are set: its parent's, as runc. */
function inheritCpuset(mount: string, dir: string): void {
  const chain: string[] = [];
  for (let d = dir; d !== mount && d.startsWith(mount + '/'); d = path.dirname(d)) chain.unshift(d);
  for (const d of chain) {
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      const f = path.join(d, file);
      if (!fs.existsSync(f) || fs.readFileSync(f, 'utf8').trim() !== '') continue;
      fs.writeFileSync(f, fs.readFileSync(path.join(path.dirname(d), file), 'utf8').trim());
    }
  }
}

/** v2: a controller works in a cgroup only when every ancestor enables it in cgroup.subtree_control. */
function enableControllers(dir: string): void {
  const available = fs.readFileSync(path.join(cgroupRoot, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
  const wanted = ['cpu', 'cpuset', 'io', 'memory', 'pids', 'hugetlb'].filter((c) => available.includes(c));
  const chain: string[] = [];
  for (let d = path.dirname(dir); d.startsWith(cgroupRoot); d = path.dirname(d)) chain.unshift(d);
  for (const d of chain) {
    for (const c of wanted) {
      try {
        fs.writeFileSync(path.join(d, 'cgroup.subtree_control'), `+${c}`);
      } catch {
        // a cgroup with processes of its own cannot delegate (the no-internal-process rule): that one is left off
      }
    }
  }
}

/** rmdir of a directory tree, deepest first (cgroup directories hold only kernel files). */
function removeTree(dir: string): void {
  try {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeTree(path.join(dir, e.name));
    fs.rmdirSync(dir);
  } catch {
    // already gone, or busy: left for the delete
  }
}
