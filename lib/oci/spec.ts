// The parts of the OCI runtime spec (config.json, runtime-spec 1.0.2) that ctrd writes or reads, as its JSON
// spells them. Numbers the spec declares uint64 are JavaScript numbers here: exact up to 2^53.

export interface OciUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
  umask?: number;
}

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export interface OciCapabilities {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable?: string[];
  ambient?: string[];
}

export interface OciRlimit {
  /** RLIMIT_NOFILE, RLIMIT_NPROC... */
  type: string;
  hard: number;
  soft: number;
}

export interface OciProcess {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: OciUser;
  args: string[];
  env: string[];
  cwd: string;
  capabilities?: OciCapabilities;
  rlimits?: OciRlimit[];
  noNewPrivileges?: boolean;
}

/** A device cgroup rule: type 'a' (all), 'c' or 'b'; access some of 'rwm'. */
export interface OciDeviceRule {
  allow: boolean;
  access: string;
  type?: string;
  major?: number;
  minor?: number;
}

export interface OciResources {
  devices: OciDeviceRule[];
  memory?: { limit?: number };
  cpu?: { quota?: number; period?: number; cpus?: string };
  pids?: { limit: number };
}

/** One condition on a syscall argument; for SCMP_CMP_MASKED_EQ, (arg & value) == valueTwo. */
export interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

export interface OciSyscall {
  names: string[];
  /** SCMP_ACT_ALLOW, SCMP_ACT_ERRNO... */
  action: string;
  errnoRet?: number;
  args?: OciSeccompArg[];
}

/** linux.seccomp. */
export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  /** SCMP_ARCH_X86_64, SCMP_ARCH_X86... */
  architectures?: string[];
  /** SECCOMP_FILTER_FLAG_LOG... */
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: OciSyscall[];
}

export interface OciLinux {
  resources: OciResources;
  cgroupsPath: string;
  namespaces: Array<{ type: string; path?: string }>;
  maskedPaths: string[];
  readonlyPaths: string[];
  sysctl?: Record<string, string>;
  seccomp?: OciSeccomp;
}

export interface OciSpec {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly?: boolean };
  hostname?: string;
  mounts: OciMount[];
  linux: OciLinux;
  annotations?: Record<string, string>;
}
