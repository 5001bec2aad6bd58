// The one door to ctrd's native addon (addon/, built by scripts/build.sh into addon/build/Release/ctrd.node):
// the syscalls Node cannot make, behind a hand-written interface. The module loads on first use, so code
// that never needs it runs without it. Every function is a single synchronous syscall; failures throw
// errors shaped like Node's fs errors: { code: 'EPERM', errno: -1, syscall: 'mknod', path }.
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
  readonly constants: MountConstants;
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
