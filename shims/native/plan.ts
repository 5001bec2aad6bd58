// An OCI spec as the plan the addon's cloned child follows (lib/native.ts ContainerSpawn): which namespaces
// to make and join, the set-up operations in runc's order (root propagation, the rootfs bound onto itself,
// each spec mount at its destination resolved inside the rootfs, /dev, pivot_root, sysctls, masked and
// read-only paths, the read-only root, hostname), and the process (credentials as numbers, capability masks,
// the executable's candidate paths). Every check happens here, before anything is cloned or mounted: a bad
// value is an invalid-argument error that names its field.
import fs from 'node:fs';
import path from 'node:path';
import { invalidArgument, notImplemented } from '../../lib/errdefs.js';
import { native, type ContainerOp, type ContainerProcess } from '../../lib/native.js';
import { parseMountOptions } from '../../services/diff/mounts.js';
import { RootfsView } from './rootfs-view.js';
import type { OciIdMappingJson, OciLinuxJson, OciMountJson, OciProcessJson, OciSpecJson } from './spec-types.js';

/** A namespace to join: its spec type, its CLONE_NEW* flag, the file to open. */
export interface JoinPlan {
  type: string;
  flag: number;
  path: string;
}

/** The process part of a plan; the fds (stdio, console, seccomp) are the spawner's. */
export type ProcessPlan = Omit<ContainerProcess, 'stdio' | 'console' | 'seccomp'> & {
  terminal: boolean;
  consoleSize?: { rows: number; cols: number };
  /** Bind the pty's slave on /dev/console (the init's terminal). */
  mountConsole: boolean;
  seccompFlags: number;
  oomScoreAdj?: number;
};

export interface InitPlan {
  rootfs: string;
  cloneFlags: number;
  join: JoinPlan[];
  /** A new user namespace's maps, which the parent writes to /proc/<pid>/uid_map and gid_map. */
  idMaps?: { uid: string; gid: string };
  ops: ContainerOp[];
  process: ProcessPlan;
}

export interface ExecPlan {
  join: JoinPlan[];
  process: ProcessPlan;
}

const namespaceFlags: Readonly<Record<string, string>> = {
  pid: 'CLONE_NEWPID',
  network: 'CLONE_NEWNET',
  mount: 'CLONE_NEWNS',
  ipc: 'CLONE_NEWIPC',
  uts: 'CLONE_NEWUTS',
  user: 'CLONE_NEWUSER',
  cgroup: 'CLONE_NEWCGROUP',
};

/** The devices runc makes in a tmpfs /dev (libcontainer/specconv AllowedDevices). */
const defaultDevices = [
  { path: '/dev/null', major: 1, minor: 3 },
  { path: '/dev/zero', major: 1, minor: 5 },
  { path: '/dev/full', major: 1, minor: 7 },
  { path: '/dev/random', major: 1, minor: 8 },
  { path: '/dev/urandom', major: 1, minor: 9 },
  { path: '/dev/tty', major: 5, minor: 0 },
];

/** What may be mounted inside /proc: the files lxcfs emulates (runc's checkProcMount). */
const procMountable = new Set([
  '/proc/cpuinfo',
  '/proc/diskstats',
  '/proc/meminfo',
  '/proc/stat',
  '/proc/swaps',
  '/proc/uptime',
  '/proc/loadavg',
  '/proc/slabinfo',
  '/proc/net/dev',
  '/proc/sys/kernel/ns_last_pid',
]);

const ipcSysctls = new Set(['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced']);

let kernelLastCap: number | undefined;

/** The running kernel's highest capability number. */
export function lastCap(): number {
  kernelLastCap ??= Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
  return kernelLastCap;
}

/** The init's plan. bundle: the bundle directory; the rootfs is already mounted at spec.root.path in it. */
export function planInit(spec: OciSpecJson, bundle: string, opts: { noPivotRoot?: boolean } = {}): InitPlan {
  const c = native().containerConstants;
  const m = native().constants;
  if (!isObject(spec)) throw invalidArgument('spec must be an object');
  if (!isObject(spec.root) || typeof spec.root.path !== 'string' || spec.root.path === '') throw invalidArgument('root.path must be set');
  if (spec.process === undefined) throw invalidArgument('process must be set');
  if (spec.hooks?.createContainer?.length || spec.hooks?.startContainer?.length) {
    throw notImplemented('hooks.createContainer and hooks.startContainer are not supported by the native backend');
  }
  const linux = spec.linux ?? {};
  const rootfs = realDirectory(path.resolve(bundle, spec.root.path), 'root.path');

  // Namespaces.
  let cloneFlags = 0;
  let cgroupNamespace = false;
  const join: JoinPlan[] = [];
  const has = new Set<string>();
  for (const [i, ns] of (linux.namespaces ?? []).entries()) {
    const flagName = namespaceFlags[ns?.type];
    if (ns?.type === 'time') throw notImplemented('linux.namespaces: the time namespace is not supported by the native backend');
    if (!flagName) throw invalidArgument(`linux.namespaces[${i}].type: unknown namespace type ${JSON.stringify(ns?.type)}`);
    if (has.has(ns.type)) throw invalidArgument(`linux.namespaces: ${ns.type} is given twice`);
    has.add(ns.type);
    const flag = c[flagName as keyof typeof c] as number;
    if (ns.path !== undefined && ns.path !== '') {
      if (typeof ns.path !== 'string' || !path.isAbsolute(ns.path)) throw invalidArgument(`linux.namespaces[${i}].path must be an absolute path`);
      join.push({ type: ns.type, flag, path: ns.path });
    } else if (ns.type === 'cgroup') {
      cgroupNamespace = true; // unshared by the child once it is in its cgroups
    } else {
      cloneFlags += flag;
    }
  }
  const newUserNamespace = (cloneFlags & c.CLONE_NEWUSER) !== 0;
  const inUserNamespace = has.has('user');
  let idMaps: InitPlan['idMaps'];
  if (newUserNamespace) {
    if (!linux.uidMappings?.length || !linux.gidMappings?.length) {
      throw invalidArgument('linux.uidMappings and linux.gidMappings must be set for a new user namespace');
    }
    idMaps = { uid: idMap(linux.uidMappings, 'linux.uidMappings'), gid: idMap(linux.gidMappings, 'linux.gidMappings') };
  } else if (linux.uidMappings?.length || linux.gidMappings?.length) {
    throw invalidArgument('linux.uidMappings and linux.gidMappings need a new user namespace');
  }
  if (!has.has('mount')) throw invalidArgument('linux.namespaces: the native backend needs a mount namespace');
  const hasNamespace = (type: string) => has.has(type) && !isHostNamespace(join.find((j) => j.type === type)?.path, type);

  const ops: ContainerOp[] = [];
  if (cgroupNamespace) ops.push({ op: 'unshare', flags: c.CLONE_NEWCGROUP, label: 'unshare the cgroup namespace' });

  // The mounts below must not reach the host: "/" becomes a slave (or what rootfsPropagation says).
  const propagation = linux.rootfsPropagation === undefined ? undefined : propagationFlags(linux.rootfsPropagation, 'linux.rootfsPropagation');
  ops.push({ op: 'mount', source: '', target: '/', fstype: '', flags: propagation ?? (m.MS_SLAVE | m.MS_REC), data: '', label: `make / ${linux.rootfsPropagation ?? 'rslave'}` });
  if (propagation !== undefined && propagation & m.MS_SHARED) {
    // pivot_root refuses a new root whose parent mount is shared.
    const parent = mountPointOf(rootfs);
    ops.push({ op: 'mount', source: '', target: parent, fstype: '', flags: m.MS_PRIVATE, data: '', label: `make ${parent} private` });
  }
  ops.push({ op: 'bind', source: rootfs, target: rootfs, recursive: true, flags: 0, label: `bind ${rootfs} onto itself` });

  const view = new RootfsView(rootfs);
  const mounts = spec.mounts ?? [];
  if (!Array.isArray(mounts)) throw invalidArgument('mounts must be an array');
  let devTmpfs = false;
  let procMounted = false;
  for (const [i, mount] of mounts.entries()) {
    const planned = planMount(mount, i, { bundle, view, cgroupNamespace });
    ops.push(...planned.ops);
    if (planned.dest === '/dev' && !planned.bind) devTmpfs = true;
    if (mount.type === 'proc') procMounted = true;
  }

  // /dev: the devices (runc's defaults in a tmpfs /dev, then the spec's), its symlinks and ptmx.
  const devices = new Map<string, { type: string; major: number; minor: number; fileMode: number; uid: number; gid: number }>();
  if (devTmpfs) for (const d of defaultDevices) devices.set(d.path, { type: 'c', major: d.major, minor: d.minor, fileMode: 0o666, uid: 0, gid: 0 });
  for (const [i, d] of (linux.devices ?? []).entries()) {
    const where = `linux.devices[${i}]`;
    if (typeof d?.path !== 'string' || !path.posix.isAbsolute(d.path)) throw invalidArgument(`${where}.path must be an absolute path`);
    if (!['c', 'b', 'u', 'p'].includes(d.type)) throw invalidArgument(`${where}.type must be c, b, u or p`);
    const needsNumbers = d.type !== 'p';
    if (needsNumbers && (!isUint(d.major) || !isUint(d.minor))) throw invalidArgument(`${where}: major and minor must be set`);
    devices.set(path.posix.normalize(d.path), {
      type: d.type,
      major: d.major ?? 0,
      minor: d.minor ?? 0,
      fileMode: optionalUint(d.fileMode, `${where}.fileMode`, 0o777) ?? 0o666,
      uid: optionalUint(d.uid, `${where}.uid`, 0xfffffffe) ?? 0,
      gid: optionalUint(d.gid, `${where}.gid`, 0xfffffffe) ?? 0,
    });
  }
  for (const [devicePath, d] of devices) {
    const target = view.resolve(devicePath);
    ops.push(...makeDirs(view, target.missing.filter((p) => p !== target.path)));
    const host = view.hostPath(target.path);
    if (inUserNamespace) {
      // mknod is not allowed in a user namespace: the host's node is bound instead.
      if (!fs.existsSync(devicePath)) throw invalidArgument(`linux.devices: ${devicePath} does not exist on the host to be bound in a user namespace`);
      ops.push({ op: 'touch', target: host, mode: 0o644, label: `create ${devicePath}` });
      ops.push({ op: 'bind', source: devicePath, target: host, recursive: false, flags: 0, label: `bind ${devicePath}` });
    } else {
      const type = d.type === 'b' ? c.S_IFBLK : d.type === 'p' ? c.S_IFIFO : c.S_IFCHR;
      ops.push({ op: 'mknod', target: host, mode: type | d.fileMode, major: d.major, minor: d.minor, uid: d.uid, gid: d.gid, label: `mknod ${devicePath}` });
    }
    view.create(target.path, 'other');
  }
  if (devTmpfs) {
    const links: Array<[string, string]> = [
      ['/proc/self/fd', '/dev/fd'],
      ['/proc/self/fd/0', '/dev/stdin'],
      ['/proc/self/fd/1', '/dev/stdout'],
      ['/proc/self/fd/2', '/dev/stderr'],
    ];
    if (procMounted && fs.existsSync('/proc/kcore')) links.push(['/proc/kcore', '/dev/core']);
    for (const [target, link] of links) ops.push({ op: 'symlink', source: target, target: view.hostPath(view.resolve(link).path), label: `symlink ${link}` });
    const ptmx = view.hostPath(view.resolve('/dev/ptmx').path);
    ops.push({ op: 'unlink', target: ptmx, label: 'remove /dev/ptmx' });
    ops.push({ op: 'symlink', source: 'pts/ptmx', target: ptmx, label: 'symlink /dev/ptmx' });
  }

  ops.push(opts.noPivotRoot ? { op: 'move-root', target: rootfs, label: `move ${rootfs} to /` } : { op: 'pivot-root', target: rootfs, label: `pivot_root ${rootfs}` });

  // After the root switch, container paths.
  for (const [key, value] of Object.entries(linux.sysctl ?? {})) {
    if (typeof value !== 'string') throw invalidArgument(`linux.sysctl.${key} must be a string`);
    const ns = ipcSysctls.has(key) || key.startsWith('fs.mqueue.') ? 'ipc' : key.startsWith('net.') ? 'network' : key === 'kernel.hostname' || key === 'kernel.domainname' ? 'uts' : undefined;
    if (!ns) throw invalidArgument(`linux.sysctl: ${key} is not in a separate kernel namespace`);
    if (!hasNamespace(ns)) throw invalidArgument(`linux.sysctl: ${key} needs the container's own ${ns} namespace`);
    ops.push({ op: 'write', target: `/proc/sys/${key.replace(/\./g, '/')}`, data: value, label: `set sysctl ${key}` });
  }
  for (const [i, p] of (linux.maskedPaths ?? []).entries()) {
    ops.push({ op: 'mask', target: containerPath(p, `linux.maskedPaths[${i}]`), label: `mask ${p}` });
  }
  for (const [i, p] of (linux.readonlyPaths ?? []).entries()) {
    ops.push({ op: 'readonly', target: containerPath(p, `linux.readonlyPaths[${i}]`), bindSelf: true, label: `make ${p} read-only` });
  }
  if (spec.root.readonly) ops.push({ op: 'readonly', target: '/', bindSelf: false, label: 'make / read-only' });
  if (propagation !== undefined) ops.push({ op: 'mount', source: '', target: '/', fstype: '', flags: propagation, data: '', label: `make / ${linux.rootfsPropagation}` });
  for (const [field, op] of [
    ['hostname', 'sethostname'],
    ['domainname', 'setdomainname'],
  ] as const) {
    const value = spec[field];
    if (value === undefined || value === '') continue;
    if (typeof value !== 'string') throw invalidArgument(`${field} must be a string`);
    if (!hasNamespace('uts')) throw invalidArgument(`${field} needs the container's own uts namespace`);
    ops.push({ op, data: value, label: `${op} ${value}` });
  }
  if (linux.personality) {
    const domain = { LINUX: c.PER_LINUX, LINUX32: c.PER_LINUX32 }[linux.personality.domain];
    if (domain === undefined) throw invalidArgument(`linux.personality.domain must be LINUX or LINUX32`);
    if (linux.personality.flags?.length) throw notImplemented('linux.personality.flags are not supported');
    ops.push({ op: 'personality', flags: domain, label: `personality ${linux.personality.domain}` });
  }

  const process = planProcess(spec.process, 'process', {
    root: new RootfsView(rootfs),
    setgroups: true,
    mountConsole: true,
    seccompFlags: seccompFlags(linux.seccomp),
  });
  return { rootfs, cloneFlags, join, idMaps, ops, process };
}

/**
 * A process in the running container of initPid: every namespace the init has that this process does not
 * share (the same nsfs inode means the same namespace).
 */
export function planExec(initPid: number, process: OciProcessJson): ExecPlan {
  const c = native().containerConstants;
  const join: JoinPlan[] = [];
  for (const [type, name, flag] of [
    ['user', 'user', c.CLONE_NEWUSER],
    ['ipc', 'ipc', c.CLONE_NEWIPC],
    ['uts', 'uts', c.CLONE_NEWUTS],
    ['network', 'net', c.CLONE_NEWNET],
    ['pid', 'pid', c.CLONE_NEWPID],
    ['cgroup', 'cgroup', c.CLONE_NEWCGROUP],
    ['mount', 'mnt', c.CLONE_NEWNS],
  ] as const) {
    const file = `/proc/${initPid}/ns/${name}`;
    let theirs: number;
    try {
      theirs = fs.statSync(file).ino;
    } catch (err) {
      throw invalidArgument(`container init ${initPid}: ${file}: ${(err as Error).message}`, err);
    }
    if (theirs !== fs.statSync(`/proc/self/ns/${name}`).ino) join.push({ type, flag, path: file });
  }
  const joinsUser = join.some((j) => j.type === 'user');
  const setgroups = !joinsUser || readTrimmed(`/proc/${initPid}/setgroups`) !== 'deny';
  return { join, process: planProcess(process, 'process', { root: new RootfsView(`/proc/${initPid}/root`), setgroups, mountConsole: false, seccompFlags: 0 }) };
}

interface MountContext {
  bundle: string;
  view: RootfsView;
  cgroupNamespace: boolean;
}

const recursiveAttributes: Readonly<Record<string, { set?: keyof MountAttrs; clear?: keyof MountAttrs; atime?: keyof MountAttrs }>> = {
  rro: { set: 'MOUNT_ATTR_RDONLY' },
  rrw: { clear: 'MOUNT_ATTR_RDONLY' },
  rnosuid: { set: 'MOUNT_ATTR_NOSUID' },
  rsuid: { clear: 'MOUNT_ATTR_NOSUID' },
  rnodev: { set: 'MOUNT_ATTR_NODEV' },
  rdev: { clear: 'MOUNT_ATTR_NODEV' },
  rnoexec: { set: 'MOUNT_ATTR_NOEXEC' },
  rexec: { clear: 'MOUNT_ATTR_NOEXEC' },
  rnodiratime: { set: 'MOUNT_ATTR_NODIRATIME' },
  rdiratime: { clear: 'MOUNT_ATTR_NODIRATIME' },
  rnosymfollow: { set: 'MOUNT_ATTR_NOSYMFOLLOW' },
  rsymfollow: { clear: 'MOUNT_ATTR_NOSYMFOLLOW' },
  rrelatime: { atime: 'MOUNT_ATTR_RELATIME' },
  rnoatime: { atime: 'MOUNT_ATTR_NOATIME' },
  rstrictatime: { atime: 'MOUNT_ATTR_STRICTATIME' },
};
type MountAttrs = Pick<ReturnType<typeof native>['containerConstants'], 'MOUNT_ATTR_RDONLY' | 'MOUNT_ATTR_NOSUID' | 'MOUNT_ATTR_NODEV' | 'MOUNT_ATTR_NOEXEC' | 'MOUNT_ATTR_NODIRATIME' | 'MOUNT_ATTR_NOSYMFOLLOW' | 'MOUNT_ATTR_RELATIME' | 'MOUNT_ATTR_NOATIME' | 'MOUNT_ATTR_STRICTATIME'>;

/** One spec mount: its mount points made, the mount, a remount for a bind mount's flags, recursive attributes. */
function planMount(mount: OciMountJson, i: number, ctx: MountContext): { ops: ContainerOp[]; dest: string; bind: boolean } {
  const c = native().containerConstants;
  const m = native().constants;
  const where = `mounts[${i}]`;
  if (!isObject(mount)) throw invalidArgument(`${where} must be an object`);
  if (typeof mount.destination !== 'string' || !path.posix.isAbsolute(mount.destination)) throw invalidArgument(`${where}.destination must be an absolute path`);
  if (mount.uidMappings?.length || mount.gidMappings?.length) throw notImplemented(`${where}: id-mapped mounts are not supported by the native backend`);
  const type = mount.type ?? '';
  const options = mount.options ?? [];
  if (!Array.isArray(options) || options.some((o) => typeof o !== 'string')) throw invalidArgument(`${where}.options must be an array of strings`);

  let attrSet = 0;
  let attrClear = 0;
  let nosymfollow = 0;
  const words: string[] = [];
  for (const o of options) {
    const attr = recursiveAttributes[o];
    if (attr) {
      if (attr.set) attrSet |= c[attr.set];
      if (attr.clear) attrClear |= c[attr.clear];
      if (attr.atime) {
        attrClear |= c.MOUNT_ATTR__ATIME;
        attrSet |= c[attr.atime];
      }
    } else if (o === 'nosymfollow') nosymfollow = c.MS_NOSYMFOLLOW;
    else if (o === 'symfollow') nosymfollow = 0;
    else if (o === 'tmpcopyup' || o === 'idmap' || o === 'ridmap') throw notImplemented(`${where}: option ${o} is not supported by the native backend`);
    else words.push(o);
  }
  const parsed = parseMountOptions(words);
  const flags = (parsed.flags | nosymfollow) >>> 0;
  const bind = type === 'bind' || (flags & m.MS_BIND) !== 0;
  const label = `mount ${mount.source || type} on ${mount.destination}`;

  let source = mount.source ?? '';
  let sourceIsDir = true;
  if (bind) {
    if (source === '') throw invalidArgument(`${where}.source must be set for a bind mount`);
    source = path.resolve(ctx.bundle, source);
    try {
      source = fs.realpathSync(source);
      sourceIsDir = fs.statSync(source).isDirectory();
    } catch (err) {
      throw invalidArgument(`${where}.source ${source}: ${(err as Error).message}`, err);
    }
  }

  if (type === 'proc' || type === 'sysfs') {
    // Never through a symlink (an image may make /proc a link to /): runc's words.
    const parent = ctx.view.resolve(path.posix.dirname(mount.destination)).path;
    const kind = ctx.view.entry(path.posix.join(parent, path.posix.basename(mount.destination))).kind;
    if (kind !== 'missing' && kind !== 'dir') throw invalidArgument(`filesystem "${type}" must be mounted on ordinary directory`);
  }
  const dest = ctx.view.resolve(mount.destination);
  checkProcMount(dest.path, bind, source);
  const target = ctx.view.hostPath(dest.path);
  const ops: ContainerOp[] = [];
  if (bind && !sourceIsDir) {
    ops.push(...makeDirs(ctx.view, dest.missing.filter((p) => p !== dest.path)));
    if (dest.missing.includes(dest.path)) {
      ops.push({ op: 'touch', target, mode: 0o644, label: `create ${dest.path}` });
      ctx.view.create(dest.path, 'file');
    }
  } else {
    ops.push(...makeDirs(ctx.view, dest.missing));
  }

  const propagation = parsed.propagation || undefined;
  if (type === 'cgroup') {
    ops.push(...cgroupOps(target, flags, ctx.cgroupNamespace, label));
  } else if (bind) {
    const remount = flags & ~(m.MS_BIND | m.MS_REC | m.MS_REMOUNT);
    ops.push({ op: 'bind', source, target, recursive: (flags & m.MS_REC) !== 0, flags: remount >>> 0, propagation, label });
  } else {
    ops.push({ op: 'mount', source: mount.source || type, target, fstype: type, flags, data: parsed.data, propagation, label });
  }
  if (attrSet !== 0 || attrClear !== 0) ops.push({ op: 'setattr', target, flags: attrSet, clear: attrClear, label: `${label} (recursive options)` });
  ctx.view.mounted(dest.path, bind ? source : undefined);
  return { ops, dest: dest.path, bind };
}

/** A mkdir for each missing directory, outermost first. */
function makeDirs(view: RootfsView, missing: readonly string[]): ContainerOp[] {
  const ops: ContainerOp[] = [];
  for (const p of missing) {
    ops.push({ op: 'mkdir', target: view.hostPath(p), mode: 0o755, label: `mkdir ${p}` });
    view.create(p, 'dir');
  }
  return ops;
}

/** runc's rule: nothing is mounted inside /proc but what lxcfs emulates; on /proc itself, procfs only. */
function checkProcMount(dest: string, bind: boolean, source: string): void {
  if (dest !== '/proc' && !dest.startsWith('/proc/')) return;
  if (dest === '/proc' ? !bind || isProcfs(source) : procMountable.has(dest)) return;
  throw invalidArgument(`"${dest}" cannot be mounted because it is inside /proc`);
}

function isProcfs(p: string): boolean {
  for (const e of mountInfo()) if (e.mountPoint === p) return e.fsType === 'proc';
  return false;
}

/**
 * The cgroup mount: cgroup v1 as a tmpfs with one directory per hierarchy (each the container's own cgroup,
 * bound from the host's mount, or a fresh mount in a cgroup namespace) and symlinks for combined ones; v2
 * as the container's cgroup bound, or a fresh cgroup2 mount in a cgroup namespace.
 */
function cgroupOps(target: string, flags: number, cgroupNamespace: boolean, label: string): ContainerOp[] {
  const m = native().constants;
  const remount = (flags & ~(m.MS_BIND | m.MS_REC | m.MS_REMOUNT)) >>> 0;
  const info = mountInfo();
  const unified = info.find((e) => e.mountPoint === '/sys/fs/cgroup' && e.fsType === 'cgroup2');
  if (unified) {
    if (cgroupNamespace) return [{ op: 'mount', source: 'cgroup2', target, fstype: 'cgroup2', flags: remount, data: '', label }];
    return [{ op: 'cgroup-bind', source: unified.mountPoint, root: unified.root, key: '', target, flags: remount, label }];
  }
  const ops: ContainerOp[] = [
    { op: 'mount', source: 'tmpfs', target, fstype: 'tmpfs', flags: m.MS_NOSUID | m.MS_NODEV | m.MS_NOEXEC, data: 'mode=755', label: `${label} (tmpfs)` },
  ];
  for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const key = line.split(':')[1];
    if (!key) continue; // the v2 line of a hybrid host: its hierarchy holds no controllers
    const controllers = key.split(',');
    const hierarchy = info.find((e) => e.fsType === 'cgroup' && controllers.every((k) => e.superOptions.includes(k)));
    if (!hierarchy) continue;
    const name = path.posix.basename(hierarchy.mountPoint);
    const dir = `${target}/${name}`;
    if (cgroupNamespace) {
      ops.push({ op: 'mkdir', target: dir, mode: 0o755, label: `mkdir ${dir}` });
      ops.push({ op: 'mount', source: 'cgroup', target: dir, fstype: 'cgroup', flags: remount, data: key, label: `${label} (${name})` });
    } else {
      ops.push({ op: 'cgroup-bind', source: hierarchy.mountPoint, root: hierarchy.root, key, target: dir, flags: remount, label: `${label} (${name})` });
    }
    if (name.includes(',')) {
      for (const part of name.split(',')) ops.push({ op: 'symlink', source: name, target: `${target}/${part}`, label: `symlink ${target}/${part}` });
    }
  }
  if (flags & m.MS_RDONLY) ops.push({ op: 'readonly', target, bindSelf: false, label: `${label} (read-only)` });
  return ops;
}

interface MountInfoEntry {
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

function mountInfo(): MountInfoEntry[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const out: MountInfoEntry[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 0) continue;
    out.push({ root: unescape(fields[3]!), mountPoint: unescape(fields[4]!), fsType: fields[dash + 1]!, superOptions: (fields[dash + 3] ?? '').split(',') });
  }
  return out;
}

/** The mount point of the mount that holds p. */
function mountPointOf(p: string): string {
  let best = '/';
  for (const e of mountInfo()) if ((p === e.mountPoint || p.startsWith(`${e.mountPoint}/`)) && e.mountPoint.length > best.length) best = e.mountPoint;
  return best;
}

function propagationFlags(word: string, field: string): number {
  const m = native().constants;
  const flags: Record<string, number> = {
    private: m.MS_PRIVATE,
    rprivate: m.MS_PRIVATE | m.MS_REC,
    shared: m.MS_SHARED,
    rshared: m.MS_SHARED | m.MS_REC,
    slave: m.MS_SLAVE,
    rslave: m.MS_SLAVE | m.MS_REC,
    unbindable: m.MS_UNBINDABLE,
    runbindable: m.MS_UNBINDABLE | m.MS_REC,
  };
  const f = flags[word];
  if (f === undefined) throw invalidArgument(`${field}: unknown propagation ${JSON.stringify(word)}`);
  return f >>> 0;
}

function seccompFlags(seccomp: OciLinuxJson['seccomp']): number {
  const c = native().containerConstants;
  if (seccomp?.listenerPath) throw notImplemented('linux.seccomp.listenerPath: seccomp user notification is not supported by the native backend');
  const names = seccomp?.flags;
  const known: Record<string, number> = {
    SECCOMP_FILTER_FLAG_TSYNC: c.SECCOMP_FILTER_FLAG_TSYNC,
    SECCOMP_FILTER_FLAG_LOG: c.SECCOMP_FILTER_FLAG_LOG,
    SECCOMP_FILTER_FLAG_SPEC_ALLOW: c.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
  };
  let flags = 0;
  for (const name of names ?? []) {
    const f = known[name];
    if (f === undefined) throw notImplemented(`linux.seccomp.flags: ${name} is not supported by the native backend`);
    flags |= f;
  }
  return flags;
}

interface ProcessContext {
  /** The container's root, for /etc/passwd. */
  root: RootfsView;
  setgroups: boolean;
  mountConsole: boolean;
  seccompFlags: number;
}

/** An OCI process as the child's process part. where: the field's name for errors. */
export function planProcess(process: OciProcessJson, where: string, ctx: ProcessContext): ProcessPlan {
  const c = native().containerConstants;
  if (!isObject(process)) throw invalidArgument(`${where} must be an object`);
  const args = process.args;
  if (!Array.isArray(args) || args.length === 0 || args.some((a) => typeof a !== 'string')) {
    throw invalidArgument(`${where}.args must be a non-empty array of strings`);
  }
  const env = process.env ?? [];
  if (!Array.isArray(env) || env.some((e) => typeof e !== 'string')) throw invalidArgument(`${where}.env must be an array of strings`);
  if (typeof process.cwd !== 'string' || !path.posix.isAbsolute(process.cwd)) throw invalidArgument(`${where}.cwd must be an absolute path`);
  for (const field of ['scheduler', 'ioPriority', 'execCPUAffinity'] as const) {
    if (process[field] !== undefined) throw notImplemented(`${where}.${field} is not supported by the native backend`);
  }
  const user = process.user;
  if (!isObject(user)) throw invalidArgument(`${where}.user must be set`);
  const uid = requiredUint(user.uid, `${where}.user.uid`, 0xfffffffe);
  const gid = requiredUint(user.gid, `${where}.user.gid`, 0xfffffffe);
  const additionalGids = (user.additionalGids ?? []).map((g, i) => requiredUint(g, `${where}.user.additionalGids[${i}]`, 0xfffffffe));
  const umask = optionalUint(user.umask, `${where}.user.umask`, 0o777) ?? 0o022;

  const rlimits: ProcessPlan['rlimits'] = [];
  const seen = new Set<string>();
  for (const [i, r] of (process.rlimits ?? []).entries()) {
    const resource = c.rlimits[r?.type];
    if (resource === undefined) throw invalidArgument(`${where}.rlimits[${i}].type: unknown rlimit ${JSON.stringify(r?.type)}`);
    if (seen.has(r.type)) throw invalidArgument(`${where}.rlimits: ${r.type} is given twice`);
    seen.add(r.type);
    if (!isUint(r.soft) || !isUint(r.hard)) throw invalidArgument(`${where}.rlimits[${i}]: soft and hard must be non-negative integers`);
    if (r.soft > r.hard) throw invalidArgument(`${where}.rlimits[${i}]: soft ${r.soft} is above hard ${r.hard}`);
    rlimits.push({ resource, soft: r.soft, hard: r.hard });
  }

  let capabilities: ProcessPlan['capabilities'];
  if (process.capabilities !== undefined) {
    if (!isObject(process.capabilities)) throw invalidArgument(`${where}.capabilities must be an object`);
    const last = lastCap();
    const mask = (set: 'bounding' | 'effective' | 'permitted' | 'inheritable' | 'ambient') => {
      const names = process.capabilities![set] ?? [];
      if (!Array.isArray(names)) throw invalidArgument(`${where}.capabilities.${set} must be an array`);
      const bits = new Set<number>();
      for (const name of names) {
        const bit = c.capabilities[name];
        if (bit === undefined) throw invalidArgument(`${where}.capabilities.${set}: unknown capability ${JSON.stringify(name)}`);
        if (bit <= last) bits.add(bit); // one this kernel does not have is left out, as runc does
      }
      let value = 0;
      for (const bit of bits) value += 2 ** bit;
      return value;
    };
    const permitted = mask('permitted');
    const inheritable = mask('inheritable');
    capabilities = {
      bounding: mask('bounding'),
      effective: mask('effective'),
      permitted,
      inheritable,
      // The kernel raises an ambient capability only if it is permitted and inheritable too; runc tries the
      // others, warns and goes on (`runc spec` asks for ambient ones it leaves out of inheritable), so they are
      // left out here. Masks go past 32 bits: BigInt for the intersection.
      ambient: Number(BigInt(mask('ambient')) & BigInt(permitted) & BigInt(inheritable)),
      lastCap: last,
    };
  }

  let consoleSize: ProcessPlan['consoleSize'];
  if (process.consoleSize) {
    consoleSize = {
      rows: requiredUint(process.consoleSize.height, `${where}.consoleSize.height`, 0xffff),
      cols: requiredUint(process.consoleSize.width, `${where}.consoleSize.width`, 0xffff),
    };
  }
  let oomScoreAdj: number | undefined;
  if (process.oomScoreAdj !== undefined) {
    if (!Number.isInteger(process.oomScoreAdj) || process.oomScoreAdj < -1000 || process.oomScoreAdj > 1000) {
      throw invalidArgument(`${where}.oomScoreAdj must be an integer from -1000 to 1000`);
    }
    oomScoreAdj = process.oomScoreAdj;
  }

  // HOME from the container's /etc/passwd when the environment has none, as runc sets it.
  const fullEnv = [...env];
  if (!env.some((e) => e.startsWith('HOME='))) fullEnv.push(`HOME=${homeOf(ctx.root, uid)}`);

  return {
    args: [...args],
    env: fullEnv,
    executables: executableCandidates(args[0]!, env),
    cwd: process.cwd,
    uid,
    gid,
    additionalGids,
    setgroups: ctx.setgroups,
    umask,
    rlimits,
    capabilities,
    noNewPrivileges: process.noNewPrivileges === true,
    terminal: process.terminal === true,
    consoleSize,
    mountConsole: ctx.mountConsole,
    seccompFlags: ctx.seccompFlags,
    oomScoreAdj,
  };
}

/**
 * Go's exec.LookPath, which runc runs in the container: a name with a slash is itself; any other is looked for
 * in each directory of the environment's PATH (the last PATH= wins; an empty entry is the working directory).
 */
export function executableCandidates(name: string, env: readonly string[]): string[] {
  if (name.includes('/')) return [name];
  const pathVar = env.filter((e) => e.startsWith('PATH=')).pop()?.slice('PATH='.length) ?? '';
  if (pathVar === '') return [];
  return pathVar.split(':').map((dir) => `${dir === '' ? '.' : dir}/${name}`);
}

function homeOf(root: RootfsView, uid: number): string {
  for (const line of (root.readFile('/etc/passwd') ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length >= 7 && Number(f[2]) === uid && f[2] !== '') return f[5] || '/';
  }
  return '/';
}

function idMap(mappings: readonly OciIdMappingJson[], field: string): string {
  return mappings
    .map((mapping, i) => {
      const w = `${field}[${i}]`;
      return `${requiredUint(mapping?.containerID, `${w}.containerID`, 0xffffffff)} ${requiredUint(mapping?.hostID, `${w}.hostID`, 0xffffffff)} ${requiredUint(mapping?.size, `${w}.size`, 0xffffffff)}\n`;
    })
    .join('');
}

/** Whether a namespace path is the host's own (a sysctl there would change the host). */
function isHostNamespace(nsPath: string | undefined, type: string): boolean {
  if (nsPath === undefined) return false;
  const name = type === 'network' ? 'net' : type === 'mount' ? 'mnt' : type;
  try {
    return fs.statSync(nsPath).ino === fs.statSync(`/proc/self/ns/${name}`).ino;
  } catch {
    return false;
  }
}

function containerPath(p: unknown, field: string): string {
  if (typeof p !== 'string' || !path.posix.isAbsolute(p)) throw invalidArgument(`${field} must be an absolute path`);
  return path.posix.normalize(p);
}

function realDirectory(p: string, field: string): string {
  let real: string;
  try {
    real = fs.realpathSync(p);
  } catch (err) {
    throw invalidArgument(`${field} ${p}: ${(err as Error).message}`, err);
  }
  if (!fs.statSync(real).isDirectory()) throw invalidArgument(`${field} ${p} is not a directory`);
  return real;
}

function readTrimmed(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

function requiredUint(v: unknown, field: string, max: number): number {
  if (!isUint(v) || v > max) throw invalidArgument(`${field} must be an integer from 0 to ${max}`);
  return v;
}

function optionalUint(v: unknown, field: string, max: number): number | undefined {
  return v === undefined ? undefined : requiredUint(v, field, max);
}
