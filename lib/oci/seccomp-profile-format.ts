// docker's seccomp profile format (moby/profiles/seccomp, the files `docker run --security-opt seccomp=<file>`
// takes): an OCI linux.seccomp whose rules may be limited to some capabilities, architectures or kernels, and
// whose architectures may come as a map from the host's to the ones its filter should cover. Resolving one for
// a container keeps the rules that apply to its bounding capabilities and to this host, as moby's setupSeccomp.
import { release } from 'node:os';
import { invalidArgument } from '../errdefs.js';
import { normalizeSeccomp } from './seccomp.js';
import type { OciSeccomp, OciSeccompArg, OciSyscall } from './spec.js';

/** When a rule applies: all of caps in the bounding set, the host's architecture among arches, a kernel >= minKernel. */
export interface SeccompRuleFilter {
  caps?: string[];
  /** docker's names: amd64, x86, x32, arm64, arm, s390x, ppc64le, riscv64... */
  arches?: string[];
  /** "4.8" */
  minKernel?: string;
}

export interface SeccompProfileRule {
  names?: string[];
  /** One name, the older spelling; a rule has names or name. */
  name?: string;
  comment?: string;
  action: string;
  errnoRet?: number;
  args?: OciSeccompArg[];
  /** The rule applies only where all of these hold. */
  includes?: SeccompRuleFilter;
  /** The rule does not apply where any of these holds. */
  excludes?: SeccompRuleFilter;
}

export interface SeccompArchMapEntry {
  /** The host's architecture, SCMP_ARCH_X86_64... */
  architecture: string;
  /** The others its filter covers (32-bit and x32 programs). */
  subArchitectures: string[] | null;
}

export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  /** OCI's list; a profile has this or archMap. */
  architectures?: string[];
  archMap?: SeccompArchMapEntry[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: SeccompProfileRule[];
}

/** What a profile's rules are resolved against besides the capabilities. */
export interface SeccompHost {
  /** docker's name of the architecture (amd64, arm64...). */
  arch: string;
  /** The kernel release, "6.18.0-1-amd64". */
  kernel: string;
}

/** Node's process.arch as docker names it and as its seccomp architecture. */
const hostArches: Record<string, { arch: string; seccomp?: string }> = {
  x64: { arch: 'amd64', seccomp: 'SCMP_ARCH_X86_64' },
  ia32: { arch: 'x86', seccomp: 'SCMP_ARCH_X86' },
  arm64: { arch: 'arm64', seccomp: 'SCMP_ARCH_AARCH64' },
  arm: { arch: 'arm', seccomp: 'SCMP_ARCH_ARM' },
  loong64: { arch: 'loongarch64', seccomp: 'SCMP_ARCH_LOONGARCH64' },
  mipsel: { arch: 'mipsel', seccomp: 'SCMP_ARCH_MIPSEL' },
  ppc64: { arch: 'ppc64le', seccomp: 'SCMP_ARCH_PPC64LE' },
  riscv64: { arch: 'riscv64', seccomp: 'SCMP_ARCH_RISCV64' },
  s390: { arch: 's390', seccomp: 'SCMP_ARCH_S390' },
  s390x: { arch: 's390x', seccomp: 'SCMP_ARCH_S390X' },
};

/** This machine. */
export function thisHost(): SeccompHost {
  return { arch: hostArches[process.arch]?.arch ?? process.arch, kernel: release() };
}

/** The SCMP_ARCH_ name of docker's architecture name, for archMap. */
function seccompArchOf(arch: string): string | undefined {
  return Object.values(hostArches).find((a) => a.arch === arch)?.seccomp;
}

function kernelAtLeast(kernel: string, min: string): boolean {
  const want = /^(\d+)\.(\d+)$/.exec(min);
  if (!want) throw invalidArgument(`seccomp profile: minKernel "${min}" is not of the form major.minor`);
  const have = /^(\d+)\.(\d+)/.exec(kernel);
  if (!have) return false;
  const [hMajor, hMinor] = [Number(have[1]), Number(have[2])];
  const [wMajor, wMinor] = [Number(want[1]), Number(want[2])];
  return hMajor > wMajor || (hMajor === wMajor && hMinor >= wMinor);
}

function applies(rule: SeccompProfileRule, caps: readonly string[], host: SeccompHost): boolean {
  const ex = rule.excludes;
  if (ex) {
    if (ex.arches?.includes(host.arch)) return false;
    if (ex.caps?.some((c) => caps.includes(c))) return false;
    if (ex.minKernel !== undefined && kernelAtLeast(host.kernel, ex.minKernel)) return false;
  }
  const inc = rule.includes;
  if (inc) {
    if (inc.arches?.length && !inc.arches.includes(host.arch)) return false;
    if (inc.caps?.some((c) => !caps.includes(c))) return false;
    if (inc.minKernel !== undefined && !kernelAtLeast(host.kernel, inc.minKernel)) return false;
  }
  return true;
}

/**
 * The OCI linux.seccomp of a profile for a container with the given bounding capabilities on host; undefined
 * for a profile with neither a default action nor rules (docker's "no filter at all").
 */
export function resolveSeccompProfile(profile: SeccompProfile, capabilities: readonly string[], host: SeccompHost = thisHost()): OciSeccomp | undefined {
  const rules = profile.syscalls ?? [];
  if (!profile.defaultAction && rules.length === 0) return undefined;
  if (profile.architectures?.length && profile.archMap?.length) {
    throw invalidArgument("seccomp profile: both 'architectures' and 'archMap' are specified, use either 'architectures' or 'archMap'");
  }
  const out: OciSeccomp = { defaultAction: profile.defaultAction };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;
  let architectures = profile.architectures ?? [];
  if (profile.archMap?.length) {
    const entry = profile.archMap.find((a) => a.architecture === seccompArchOf(host.arch));
    architectures = entry ? [entry.architecture, ...(entry.subArchitectures ?? [])] : [];
  }
  if (architectures.length > 0) out.architectures = [...architectures];
  if (profile.flags?.length) out.flags = [...profile.flags];
  if (profile.listenerPath) out.listenerPath = profile.listenerPath;
  if (profile.listenerMetadata) out.listenerMetadata = profile.listenerMetadata;
  out.syscalls = [];
  for (const [i, rule] of rules.entries()) {
    if (rule.name !== undefined && rule.names?.length) {
      throw invalidArgument(`seccomp profile: syscalls[${i}] has both 'name' and 'names', use either 'name' or 'names'`);
    }
    if (!applies(rule, capabilities, host)) continue;
    const call: OciSyscall = { names: rule.name !== undefined ? [rule.name] : [...(rule.names ?? [])], action: rule.action };
    if (rule.errnoRet !== undefined) call.errnoRet = rule.errnoRet;
    if (rule.args?.length) call.args = rule.args.map((a) => ({ ...a }));
    out.syscalls.push(call);
  }
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/** A profile file's text (docker's format, or a plain OCI linux.seccomp), checked. */
export function parseSeccompProfile(text: string): SeccompProfile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`decoding seccomp profile failed: ${(err as Error).message}`);
  }
  const bad = (what: string) => invalidArgument(`decoding seccomp profile failed: ${what}`);
  if (!isObject(json)) throw bad('not a JSON object');
  if (json.defaultAction !== undefined && typeof json.defaultAction !== 'string') throw bad('defaultAction must be a string');
  for (const key of ['architectures', 'flags'] as const) {
    if (json[key] != null && !isStringArray(json[key])) throw bad(`${key} must be an array of strings`);
  }
  if (json.archMap != null) {
    if (!Array.isArray(json.archMap)) throw bad('archMap must be an array');
    for (const [i, a] of json.archMap.entries()) {
      if (!isObject(a) || typeof a.architecture !== 'string' || (a.subArchitectures != null && !isStringArray(a.subArchitectures))) {
        throw bad(`archMap[${i}] must be { architecture, subArchitectures }`);
      }
    }
  }
  if (json.syscalls != null) {
    if (!Array.isArray(json.syscalls)) throw bad('syscalls must be an array');
    for (const [i, s] of json.syscalls.entries()) {
      if (!isObject(s)) throw bad(`syscalls[${i}] must be an object`);
      if (s.names != null && !isStringArray(s.names)) throw bad(`syscalls[${i}].names must be an array of strings`);
      if (s.name !== undefined && typeof s.name !== 'string') throw bad(`syscalls[${i}].name must be a string`);
      for (const f of ['includes', 'excludes'] as const) {
        const filter = s[f];
        if (filter == null) continue;
        if (!isObject(filter) || (filter.caps != null && !isStringArray(filter.caps)) || (filter.arches != null && !isStringArray(filter.arches))) {
          throw bad(`syscalls[${i}].${f} must be { caps, arches, minKernel }`);
        }
        if (filter.minKernel !== undefined && typeof filter.minKernel !== 'string') throw bad(`syscalls[${i}].${f}.minKernel must be a string`);
      }
    }
  }
  const profile = json as unknown as SeccompProfile;
  // Actions, errno values and conditions as OCI's, each rule as if it applied: a mistake is one wherever it is.
  if (profile.defaultAction || profile.syscalls?.length) {
    const asOci = {
      ...profile,
      architectures: [...(profile.architectures ?? []), ...(profile.archMap ?? []).flatMap((a) => [a.architecture, ...(a.subArchitectures ?? [])])],
      syscalls: (profile.syscalls ?? []).map((s) => ({ ...s, names: s.name !== undefined ? [s.name] : s.names })),
    };
    try {
      normalizeSeccomp(asOci, 'seccomp');
    } catch (err) {
      throw bad((err as Error).message);
    }
  }
  return profile;
}
