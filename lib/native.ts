// The one door to ctrd's native addon (addon/, built by scripts/build.sh into addon/build/Release/ctrd.node):
// the syscalls Node cannot make, behind a hand-written interface. The module loads on first use, so code
// that never needs it runs without it. Every function is a single synchronous syscall; failures throw
// errors shaped like Node's fs errors: { code: 'EPERM', errno: -1, syscall: 'mknod', path }. The one
// exception is spawnContainer, which clones a container's process and leaves it waiting on a socket.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { unavailable } from './errdefs.js';
import { projectRoot } from './project-root.js';

export interface MountConstants {
  readonly MS_RDONLY: number;
  readonly MS_NOSUID: number;
  readonly MS_NODEV: number;
  readonly MS_NOEXEC: number;
  readonly MS_SYNCHRONOUS: number;
  readonly MS_REMOUNT: number;
  readonly MS_MANDLOCK: number;
  readonly MS_DIRSYNC: number;
  readonly MS_NOATIME: number;
  readonly MS_NODIRATIME: number;
  readonly MS_BIND: number;
  readonly MS_MOVE: number;
  readonly MS_REC: number;
  readonly MS_SILENT: number;
  readonly MS_POSIXACL: number;
  readonly MS_UNBINDABLE: number;
  readonly MS_PRIVATE: number;
  readonly MS_SLAVE: number;
  readonly MS_SHARED: number;
  readonly MS_RELATIME: number;
  readonly MS_STRICTATIME: number;
  readonly MS_LAZYTIME: number;
  readonly MNT_FORCE: number;
  readonly MNT_DETACH: number;
  readonly MNT_EXPIRE: number;
  readonly UMOUNT_NOFOLLOW: number;
}

/**
 * One step of a container's set-up, run in order by the cloned child (addon/src/container.cc) after the
 * parent said proceed. Paths are as the child sees them at that point: host paths into the rootfs before the
 * root switch, container paths after it. shims/native/plan.ts makes them; label is for error messages only.
 */
export type ContainerOp = { label: string } & (
  /** mount(2), then a propagation change if any. */
  | { op: 'mount'; source: string; target: string; fstype: string; flags: number; data: string; propagation?: number }
  /** A bind mount; then a remount with MS_BIND|MS_REMOUNT|flags when flags are given (keeping the flags a user namespace locks), then propagation. */
  | { op: 'bind'; source: string; target: string; recursive: boolean; flags: number; propagation?: number }
  /** mkdir(2); one that exists is fine. */
  | { op: 'mkdir'; target: string; mode: number }
  /** Creates an empty file (a mount point) unless something is there. */
  | { op: 'touch'; target: string; mode: number }
  /** mknod(2) (mode holds the file type), then lchown; one that exists is left alone. */
  | { op: 'mknod'; target: string; mode: number; major: number; minor: number; uid: number; gid: number }
  /** symlink(source, target); one that exists is fine. */
  | { op: 'symlink'; source: string; target: string }
  /** unlink(2); one that is missing is fine. */
  | { op: 'unlink'; target: string }
  /** maskedPaths: /dev/null over a file, a read-only tmpfs over a directory; a missing path is skipped. */
  | { op: 'mask'; target: string }
  /** Remounts target read-only, keeping nosuid/nodev/noexec; bindSelf binds it onto itself first (readonlyPaths; a missing path is skipped). */
  | { op: 'readonly'; target: string; bindSelf: boolean }
  /** pivot_root into target and detach the old root (MS_MOVE and chroot where the root cannot be pivoted: ramfs). */
  | { op: 'pivot-root'; target: string }
  /** MS_MOVE target onto / and chroot (no pivot_root). */
  | { op: 'move-root'; target: string }
  /** Writes data to an existing file (a sysctl). */
  | { op: 'write'; target: string; data: string }
  | { op: 'sethostname'; data: string }
  | { op: 'setdomainname'; data: string }
  /** unshare(2) (CLONE_NEWCGROUP, once the parent has put the child in its cgroups). */
  | { op: 'unshare'; flags: number }
  /**
   * Binds the child's own cgroup of one hierarchy: source (the host mount of the hierarchy, whose mountinfo
   * root is root) + the path of the line named key in /proc/self/cgroup, onto target (made if missing), then
   * remounted with flags.
   */
  | { op: 'cgroup-bind'; source: string; root: string; key: string; target: string; flags: number }
  /** mount_setattr(2) with AT_RECURSIVE: MOUNT_ATTR_* to set and to clear. */
  | { op: 'setattr'; target: string; flags: number; clear: number; propagation?: number }
  /** personality(2). */
  | { op: 'personality'; flags: number }
);

/** The container's process as the child becomes it (the fds are open in the parent). */
export interface ContainerProcess {
  args: string[];
  env: string[];
  /** Paths to try in order, after the root switch and the user change: the first executable file is run. */
  executables: string[];
  cwd: string;
  uid: number;
  gid: number;
  additionalGids: number[];
  /** false where setgroups(2) is denied (a user namespace whose setgroups file says deny). */
  setgroups: boolean;
  umask: number;
  /** Values at or past 2^64 - 1 are RLIM_INFINITY. */
  rlimits: Array<{ resource: number; soft: number; hard: number }>;
  /** Bit masks; undefined leaves the capabilities as they are. lastCap: the running kernel's. */
  capabilities?: { bounding: number; effective: number; permitted: number; inheritable: number; ambient: number; lastCap: number };
  noNewPrivileges: boolean;
  /** fds the child dup2's onto 0, 1, 2 (unused with a console). */
  stdio: [number, number, number];
  /** A connected console socket: the child makes a pty from /dev/ptmx and sends the master; mount: bind the slave on /dev/console. */
  console?: { socket: number; rows: number; cols: number; mount: boolean };
  /** A struct sock_filter[] program and seccomp(2)'s SECCOMP_FILTER_FLAG_* flags. */
  seccomp?: { filter: Buffer; flags: number };
}

export interface ContainerSpawn {
  /** CLONE_NEW* flags of the namespaces the clone makes. */
  cloneFlags: number;
  /** Namespaces to join first (fds of /proc/<pid>/ns/* or bind-mounted ones); any makes the process a grandchild cloned with CLONE_PARENT. */
  join: Array<{ fd: number; type: number }>;
  ops: ContainerOp[];
  /** Send 'R' and wait for 's' before execve (an init); otherwise exec at once after the set-up. */
  hold: boolean;
  process: ContainerProcess;
}

/** Where a child failed: the step's name (containerConstants.steps), which entry, which part of it, and the errno. */
export interface ChildFailure {
  step: string;
  index: number;
  detail: number;
  errno: number;
}

export interface ContainerConstants {
  readonly CLONE_NEWNS: number;
  readonly CLONE_NEWUTS: number;
  readonly CLONE_NEWIPC: number;
  readonly CLONE_NEWUSER: number;
  readonly CLONE_NEWPID: number;
  readonly CLONE_NEWNET: number;
  readonly CLONE_NEWCGROUP: number;
  readonly MOUNT_ATTR_RDONLY: number;
  readonly MOUNT_ATTR_NOSUID: number;
  readonly MOUNT_ATTR_NODEV: number;
  readonly MOUNT_ATTR_NOEXEC: number;
  readonly MOUNT_ATTR__ATIME: number;
  readonly MOUNT_ATTR_RELATIME: number;
  readonly MOUNT_ATTR_NOATIME: number;
  readonly MOUNT_ATTR_STRICTATIME: number;
  readonly MOUNT_ATTR_NODIRATIME: number;
  readonly MOUNT_ATTR_NOSYMFOLLOW: number;
  readonly MS_NOSYMFOLLOW: number;
  readonly SECCOMP_FILTER_FLAG_TSYNC: number;
  readonly SECCOMP_FILTER_FLAG_LOG: number;
  readonly SECCOMP_FILTER_FLAG_SPEC_ALLOW: number;
  readonly PER_LINUX: number;
  readonly PER_LINUX32: number;
  readonly S_IFCHR: number;
  readonly S_IFBLK: number;
  readonly S_IFIFO: number;
  /** CAP_CHOWN... by name, as the kernel headers the addon was built with know them. */
  readonly capabilities: Readonly<Record<string, number>>;
  /** RLIMIT_CPU... by name. */
  readonly rlimits: Readonly<Record<string, number>>;
  /** The names of ChildFailure.step, by number (the sync socket's records carry the number). */
  readonly steps: readonly string[];
}

export interface Native {
  /** mknod(2); mode carries the file type (fs.constants.S_IFCHR, S_IFBLK, S_IFIFO) and the permission bits. */
  mknod(path: string, mode: number, major: number, minor: number): void;
  /** lsetxattr(2): sets an attribute of path itself, never of a symlink's target. */
  lsetxattr(path: string, name: string, value: Buffer): void;
  /** lgetxattr(2): the attribute's value, or undefined when path has no such attribute. */
  lgetxattr(path: string, name: string): Buffer | undefined;
  /** llistxattr(2): the names of path's attributes (those the caller may see). */
  llistxattr(path: string): string[];
  lremovexattr(path: string, name: string): void;
  /** mount(2); '' for source, fstype or data passes NULL. */
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  umount2(target: string, flags: number): void;
  /** prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants reparent to this process. */
  setChildSubreaper(): void;
  /** waitpid(pid, WNOHANG): undefined while it runs; status is the exit code or 128 + the signal. */
  waitpid(pid: number): { pid: number; status: number } | undefined;
  /** pipe2(O_CLOEXEC): [read end, write end]. */
  pipe(): [number, number];
  /** A non-blocking unix stream listener on path, for runc's --console-socket. */
  consoleSocket(path: string): number;
  /** Accepts on a console socket and returns the fd sent over SCM_RIGHTS; EAGAIN when none is waiting. */
  receiveFd(listener: number): number;
  /** ioctl(TIOCSWINSZ). */
  setWinsize(fd: number, rows: number, cols: number): void;
  /** eventfd(0, EFD_CLOEXEC), blocking. */
  eventfd(): number;
  /**
   * A seccomp filter compiled by libseccomp and exported (seccomp_export_bpf) as a classic BPF program: struct
   * sock_filter entries of 8 bytes in host byte order, for a loader's struct sock_fprog. Nothing is loaded.
   * profile is the JSON of an OCI linux.seccomp object as shims/native/seccomp.ts normalizes it (argument values
   * as decimal strings, so uint64s keep their precision); names libseccomp does not know are skipped. A bad
   * field throws an Error naming it ("seccomp: syscalls[3].action: ..."); libseccomp's refusals throw errno
   * errors with syscall 'seccomp_rule_add' and the syscall's name as path.
   */
  compileSeccomp(profile: string): Buffer;
  /**
   * Clones a container's process from this (multi-threaded) process: it waits for 'c' on the returned sync
   * socket fd (close-on-exec, blocking), runs plan.ops, becomes plan.process and execs. A failure to join
   * a namespace comes back at once as { failure }; later ones come over the socket.
   */
  spawnContainer(plan: ContainerSpawn): { pid: number; fd: number } | { failure: ChildFailure };
  /** A connected, blocking unix stream socket (close-on-exec). */
  connectUnix(path: string): number;
  readonly constants: MountConstants;
  readonly containerConstants: ContainerConstants;
}

/** The system error the addon throws, as Node's fs errors are. */
export interface NativeError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
}

export const addonPath = join(projectRoot, 'addon', 'build', 'Release', 'ctrd.node');

let loaded: Native | undefined;

/** The addon, loaded once; Unavailable when it was not built. */
export function native(): Native {
  if (loaded) return loaded;
  try {
    loaded = createRequire(import.meta.url)(addonPath) as Native;
  } catch (err) {
    throw unavailable(`native addon ${addonPath} cannot be loaded (build it with scripts/build.sh)`, err);
  }
  return loaded;
}
