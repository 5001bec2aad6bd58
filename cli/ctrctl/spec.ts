// The OCI runtime spec of a container, built client-side as containerd's and nerdctl's clients do: the default
// Linux spec of containerd's oci.WithDefaultSpec (lib/oci/default-spec.ts), the image config (Entrypoint, Cmd,
// Env, WorkingDir, User) with docker's override rules, the user resolved through the image's /etc/passwd and
// /etc/group, the resource flags (-m, --cpus, --cpuset-cpus, --pids-limit), the confinement flags (--privileged,
// --cap-add, --cap-drop, --security-opt, --read-only; the default seccomp profile unless unconfined) and the
// kernel limits (--sysctl, --ulimit), parsed and checked as docker checks them. Pure: files come in as strings.
import { invalidArgument } from '../../lib/errdefs.js';
import { allCapabilities, normalizeCapability, tweakCapabilities } from '../../lib/oci/capabilities.js';
import { defaultCapabilities, defaultPath, defaultSpec } from '../../lib/oci/default-spec.js';
import { parseSeccompProfile, resolveSeccompProfile, thisHost, type SeccompHost } from '../../lib/oci/seccomp-profile-format.js';
import { defaultSeccompProfile } from '../../lib/oci/seccomp-profile.js';
import type { OciRlimit, OciSeccomp, OciSpec, OciUser } from '../../lib/oci/spec.js';

/** The parts of an image config a container is made from. */
export interface ImageRunConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
  StopSignal?: string;
  Labels?: Record<string, string> | null;
  Volumes?: Record<string, unknown> | null;
  ExposedPorts?: Record<string, unknown> | null;
}

// ---- command ----

/**
 * docker's rules: --entrypoint replaces the image's Entrypoint and drops its Cmd ("" clears it); CMD arguments
 * replace the image's Cmd. The process runs Entrypoint + Cmd.
 */
export function commandOf(image: ImageRunConfig, entrypointFlag: string | undefined, cmdArgs: readonly string[]): { entrypoint: string[]; cmd: string[]; args: string[] } {
  const entrypoint = entrypointFlag === undefined ? [...(image.Entrypoint ?? [])] : entrypointFlag === '' ? [] : [entrypointFlag];
  const cmd = cmdArgs.length > 0 ? [...cmdArgs] : entrypointFlag === undefined ? [...(image.Cmd ?? [])] : [];
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw invalidArgument('no command specified');
  return { entrypoint, cmd, args };
}

// ---- environment ----

/** KEY=VALUE entries, later ones replacing earlier ones of the same key in place (first-seen order). */
export function mergeEnv(...lists: ReadonlyArray<readonly string[]>): string[] {
  const byKey = new Map<string, string>();
  for (const list of lists) {
    for (const entry of list) {
      const eq = entry.indexOf('=');
      const key = eq < 0 ? entry : entry.slice(0, eq);
      byKey.set(key, entry);
    }
  }
  return [...byKey.values()];
}

/** -e KEY=VALUE, or -e KEY to take the value from ctrctl's own environment (skipped when unset), as docker. */
export function parseEnvFlag(value: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const eq = value.indexOf('=');
  const key = eq < 0 ? value : value.slice(0, eq);
  if (key === '' || /\s/.test(key)) throw invalidArgument(`invalid environment variable: ${value}`);
  if (eq >= 0) return value;
  const v = env[key];
  return v === undefined ? undefined : `${key}=${v}`;
}

// ---- resources ----

const binaryUnits: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** go-units RAMInBytes: "64m", "1.5g", "512k", "1024" (bytes); the units are binary, b/B and i optional. */
export function parseMemory(value: string): number {
  const m = /^(\d+(?:\.\d+)?) ?([kKmMgGtTpPbB])?[iI]?[bB]?$/.exec(value.trim());
  if (!m) throw invalidArgument(`invalid size: '${value}'`);
  const bytes = Math.trunc(Number(m[1]) * binaryUnits[(m[2] ?? 'b').toLowerCase()]!);
  return bytes;
}

/** docker's linux minimum for -m. */
export const minimumMemory = 6 * 1024 * 1024;

export interface ResourceFlags {
  memory?: string;
  cpus?: string;
  cpusetCpus?: string;
  pidsLimit?: string;
}

export interface HostResources {
  /** Bytes; 0 = no limit. */
  Memory: number;
  NanoCpus: number;
  CpusetCpus: string;
  /** null = no limit, as docker reports it. */
  PidsLimit: number | null;
}

export const cpuPeriod = 100_000;

/** Checks the resource flags and turns them into docker's HostConfig numbers. */
export function parseResources(flags: ResourceFlags, onlineCpus: number): HostResources {
  const out: HostResources = { Memory: 0, NanoCpus: 0, CpusetCpus: '', PidsLimit: null };
  if (flags.memory !== undefined) {
    out.Memory = parseMemory(flags.memory);
    if (out.Memory > 0 && out.Memory < minimumMemory) throw invalidArgument('Minimum memory limit allowed is 6MB');
  }
  if (flags.cpus !== undefined) {
    if (!/^\d*\.?\d+$/.test(flags.cpus.trim())) throw invalidArgument(`invalid argument "${flags.cpus}" for "--cpus" flag`);
    const nano = Math.round(Number(flags.cpus) * 1e9);
    if (nano !== 0 && (nano < 0.01 * 1e9 || nano > onlineCpus * 1e9)) {
      throw invalidArgument(`range of CPUs is from 0.01 to ${onlineCpus}.00, as there are only ${onlineCpus} CPUs available`);
    }
    out.NanoCpus = nano;
  }
  if (flags.cpusetCpus !== undefined) {
    const v = flags.cpusetCpus.trim();
    if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(v)) throw invalidArgument(`invalid value ${flags.cpusetCpus} for cpuset cpus`);
    for (const part of v.split(',')) {
      const [lo, hi = lo] = part.split('-').map(Number) as [number, number?];
      if (hi! < lo || hi! >= onlineCpus) {
        throw invalidArgument(`Requested CPUs are not available - requested ${flags.cpusetCpus}, available: 0-${onlineCpus - 1}`);
      }
    }
    out.CpusetCpus = v;
  }
  if (flags.pidsLimit !== undefined) {
    if (!/^-?\d+$/.test(flags.pidsLimit.trim())) throw invalidArgument(`invalid argument "${flags.pidsLimit}" for "--pids-limit" flag`);
    const n = Number(flags.pidsLimit);
    // docker: 0 and -1 mean no limit.
    out.PidsLimit = n > 0 ? n : null;
  }
  return out;
}

function applyResources(spec: OciSpec, r: HostResources): void {
  const res = spec.linux.resources;
  if (r.Memory > 0) res.memory = { limit: r.Memory };
  if (r.NanoCpus > 0 || r.CpusetCpus) {
    res.cpu = {};
    if (r.NanoCpus > 0) {
      res.cpu.period = cpuPeriod;
      res.cpu.quota = Math.round((r.NanoCpus * cpuPeriod) / 1e9);
    }
    if (r.CpusetCpus) res.cpu.cpus = r.CpusetCpus;
  }
  if (r.PidsLimit !== null) res.pids = { limit: r.PidsLimit };
}

/** The HostConfig numbers back from a spec (for inspect). */
export function resourcesOf(spec: OciSpec): HostResources {
  const res = spec.linux?.resources;
  const quota = res?.cpu?.quota ?? 0;
  const period = res?.cpu?.period ?? 0;
  return {
    Memory: res?.memory?.limit ?? 0,
    NanoCpus: quota > 0 && period > 0 ? Math.round((quota * 1e9) / period) : 0,
    CpusetCpus: res?.cpu?.cpus ?? '',
    PidsLimit: res?.pids?.limit ?? null,
  };
}

// ---- confinement ----

/** docker's confinement flags, as typed. */
export interface SecurityFlags {
  privileged?: boolean;
  capAdd?: readonly string[];
  capDrop?: readonly string[];
  securityOpt?: readonly string[];
  readOnly?: boolean;
}

/** The confinement the flags come to. */
export interface Security {
  privileged: boolean;
  /** The bounding, effective and permitted sets. */
  capabilities: string[];
  /** undefined: no filter (seccomp=unconfined, --privileged, or a profile file with no rules). */
  seccomp: OciSeccomp | undefined;
  noNewPrivileges: boolean;
  /** Whether /proc and /sys keep their masked and read-only paths (not with systempaths=unconfined, --privileged). */
  maskPaths: boolean;
  readOnly: boolean;
}

/** Go's strconv.ParseBool, which docker's flags use. */
function parseGoBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

function parseCapabilities(values: readonly string[], flag: string): string[] {
  return values.map((v) => {
    const cap = normalizeCapability(v);
    if (cap === undefined) {
      const upper = v.toUpperCase();
      throw invalidArgument(`invalid argument "${v}" for "${flag}" flag: unknown capability: "${upper.startsWith('CAP_') ? upper : `CAP_${upper}`}"`);
    }
    return cap;
  });
}

type SeccompChoice = { kind: 'builtin' } | { kind: 'unconfined' } | { kind: 'file'; text: string };

interface SecurityOpts {
  seccomp: SeccompChoice;
  noNewPrivileges: boolean;
  maskPaths: boolean;
}

/**
 * docker's --security-opt values: no-new-privileges[=bool], seccomp=unconfined|builtin|<profile file>,
 * systempaths=unconfined; apparmor=unconfined and label=disable ask for nothing ctrctl applies. "=" or the old ":".
 */
function parseSecurityOpts(opts: readonly string[], readProfile: (path: string) => string): SecurityOpts {
  const out: SecurityOpts = { seccomp: { kind: 'builtin' }, noNewPrivileges: false, maskPaths: true };
  for (const opt of opts) {
    if (opt === 'no-new-privileges') {
      out.noNewPrivileges = true;
      continue;
    }
    const eq = opt.indexOf('=');
    const sep = eq >= 0 ? eq : opt.indexOf(':');
    const key = sep >= 0 ? opt.slice(0, sep) : opt;
    const value = sep >= 0 ? opt.slice(sep + 1) : '';
    const invalid = () => invalidArgument(`invalid --security-opt: "${opt}"`);
    if (value === '') throw invalid();
    switch (key) {
      case 'no-new-privileges': {
        const b = parseGoBool(value);
        if (b === undefined) throw invalid();
        out.noNewPrivileges = b;
        break;
      }
      case 'seccomp':
        if (value === 'unconfined' || value === 'builtin') out.seccomp = { kind: value };
        else {
          let text: string;
          try {
            text = readProfile(value);
          } catch (err) {
            throw invalidArgument(`opening seccomp profile (${value}) failed: ${(err as Error).message}`, err);
          }
          out.seccomp = { kind: 'file', text };
        }
        break;
      case 'systempaths':
        if (value !== 'unconfined') throw invalid();
        out.maskPaths = false;
        break;
      case 'apparmor':
      case 'label':
        if (value !== (key === 'apparmor' ? 'unconfined' : 'disable')) {
          throw invalidArgument(`--security-opt ${opt}: ctrctl applies no AppArmor or SELinux profile, so only apparmor=unconfined and label=disable are accepted`);
        }
        break;
      default:
        throw invalid();
    }
  }
  return out;
}

/** What the confinement flags are read against. */
export interface SecurityHost {
  /** Reads a seccomp profile file (docker's format or OCI's). */
  readProfile(path: string): string;
  /** The capabilities this host can give (its own bounding set): --privileged's and ALL's. Default: all. */
  capabilities?: readonly string[];
  /** What seccomp profile rules are resolved for. Default: this machine. */
  seccomp?: SeccompHost;
}

/**
 * The confinement of docker's flags: the default capabilities with --cap-drop and --cap-add applied (all the host
 * has with --privileged); the default seccomp profile for those capabilities unless seccomp=unconfined or another
 * profile is chosen (none with --privileged, as docker); no-new-privileges off unless asked for, as in docker.
 */
export function parseSecurity(flags: SecurityFlags, host: SecurityHost): Security {
  const add = parseCapabilities(flags.capAdd ?? [], '--cap-add');
  const drop = parseCapabilities(flags.capDrop ?? [], '--cap-drop');
  const opts = parseSecurityOpts(flags.securityOpt ?? [], host.readProfile);
  const privileged = Boolean(flags.privileged);
  const available = host.capabilities ?? allCapabilities;
  const capabilities = privileged ? [...available] : tweakCapabilities(defaultCapabilities, add, drop, available);
  const seccompHost = host.seccomp ?? thisHost();
  let seccomp: OciSeccomp | undefined;
  if (opts.seccomp.kind === 'file') {
    // Checked even when --privileged leaves it unused, as a bad file is a mistake either way.
    const resolved = resolveSeccompProfile(parseSeccompProfile(opts.seccomp.text), capabilities, seccompHost);
    if (!privileged) seccomp = resolved;
  } else if (opts.seccomp.kind === 'builtin' && !privileged) {
    seccomp = defaultSeccompProfile(capabilities, seccompHost);
  }
  return { privileged, capabilities, seccomp, noNewPrivileges: opts.noNewPrivileges, maskPaths: opts.maskPaths && !privileged, readOnly: Boolean(flags.readOnly) };
}

function applySecurity(spec: OciSpec, s: Security): void {
  spec.process.capabilities = { bounding: [...s.capabilities], effective: [...s.capabilities], permitted: [...s.capabilities] };
  spec.process.noNewPrivileges = s.noNewPrivileges;
  if (s.seccomp) spec.linux.seccomp = s.seccomp;
  if (!s.maskPaths) {
    spec.linux.maskedPaths = [];
    spec.linux.readonlyPaths = [];
  }
  if (s.privileged) {
    // Every device may be used, and /sys and the cgroup tree are writable, as containerd's WithPrivileged.
    spec.linux.resources.devices = [{ allow: true, access: 'rwm' }];
    for (const m of spec.mounts) {
      if (m.destination === '/sys' || m.destination === '/sys/fs/cgroup') m.options = m.options.filter((o) => o !== 'ro');
    }
  }
  if (s.readOnly) spec.root.readonly = true;
}

// ---- kernel limits ----

// docker's opts.ValidateSysctl: the sysctls that belong to a container's own IPC and network namespaces.
const namespacedSysctls = ['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced'];
const namespacedSysctlPrefixes = ['net.', 'fs.mqueue.'];

/** --sysctl KEY=VALUE, repeatable; a later one for a key replaces an earlier one. */
export function parseSysctls(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    const key = eq < 0 ? '' : v.slice(0, eq);
    if (key === '' || !(namespacedSysctls.includes(key) || namespacedSysctlPrefixes.some((p) => key.startsWith(p)))) {
      throw invalidArgument(`invalid argument "${v}" for "--sysctl" flag: sysctl '${v}' is not allowed`);
    }
    out[key] = v.slice(eq + 1);
  }
  return out;
}

// go-units' ulimit names ("as" is left out there too: it does not work with how containers start).
const ulimitNames = ['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack'];

/** go-units ParseUlimit: NAME=SOFT[:HARD], the hard limit the soft one when absent, -1 unlimited. */
function parseUlimit(v: string): OciRlimit {
  const bad = (why: string) => invalidArgument(`invalid argument "${v}" for "--ulimit" flag: ${why}`);
  const eq = v.indexOf('=');
  if (eq < 0) throw bad(`invalid ulimit argument: ${v}`);
  const name = v.slice(0, eq);
  if (!ulimitNames.includes(name)) throw bad(`invalid ulimit type: ${name}`);
  const parts = v.slice(eq + 1).split(':');
  if (parts.length > 2) throw bad(`too many limit value arguments - ${v.slice(eq + 1)}, can only have up to two, \`soft[:hard]\``);
  const [soft, hard] = parts.map((p) => {
    if (!/^[+-]?\d+$/.test(p) || !Number.isSafeInteger(Number(p))) throw bad(`strconv.ParseInt: parsing "${p}": invalid syntax`);
    return Number(p);
  }) as [number, number?];
  const h = hard ?? soft;
  if (h !== -1 && soft === -1) throw bad(`ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: ${h}`);
  if (h !== -1 && soft > h) throw bad(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${h}`);
  // RLIM_INFINITY is 2^64-1, which a JSON number cannot carry to runc; other negative values are not limits.
  if (soft < 0 || h < 0) throw bad('unlimited (-1) and negative limits are not supported by ctrctl');
  return { type: `RLIMIT_${name.toUpperCase()}`, hard: h, soft };
}

/** --ulimit NAME=SOFT[:HARD], repeatable; a later one for a name replaces an earlier one. */
export function parseUlimits(values: readonly string[]): OciRlimit[] {
  const byType = new Map<string, OciRlimit>();
  for (const v of values) {
    const r = parseUlimit(v);
    byType.set(r.type, r);
  }
  return [...byType.values()];
}

function applyLimits(spec: OciSpec, sysctls: Record<string, string>, ulimits: readonly OciRlimit[]): void {
  if (Object.keys(sysctls).length > 0) spec.linux.sysctl = { ...sysctls };
  if (ulimits.length > 0) {
    const given = new Set(ulimits.map((u) => u.type));
    spec.process.rlimits = [...(spec.process.rlimits ?? []).filter((r) => !given.has(r.type)), ...ulimits.map((u) => ({ ...u }))];
  }
}

// ---- the whole spec ----

export interface RunSpecOptions {
  ns: string;
  id: string;
  image: ImageRunConfig;
  args: string[];
  env: string[];
  workdir?: string;
  user: OciUser;
  hostname?: string;
  tty: boolean;
  resources: HostResources;
  security: Security;
  sysctls: Record<string, string>;
  ulimits: OciRlimit[];
}

export function buildSpec(o: RunSpecOptions): OciSpec {
  const spec = defaultSpec(o.ns, o.id);
  const hostname = o.hostname ?? o.id.slice(0, 12);
  spec.hostname = hostname;
  spec.process.args = [...o.args];
  spec.process.terminal = o.tty;
  spec.process.user = o.user;
  const workdir = o.workdir || o.image.WorkingDir || '/';
  if (!workdir.startsWith('/')) throw invalidArgument(`the working directory '${workdir}' is invalid, it needs to be an absolute path`);
  spec.process.cwd = workdir;
  // docker's order: PATH default, HOSTNAME, the image's, TERM for a tty, then the flags.
  spec.process.env = mergeEnv([defaultPath, `HOSTNAME=${hostname}`], o.image.Env ?? [], o.tty ? ['TERM=xterm'] : [], o.env);
  applyResources(spec, o.resources);
  applySecurity(spec, o.security);
  applyLimits(spec, o.sysctls, o.ulimits);
  return spec;
}
