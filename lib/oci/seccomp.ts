// An OCI linux.seccomp object checked field by field (runtime-spec config-linux.md, read as runc reads it) and
// normalized for the addon's compiler: every list present, argument values as decimal strings (uint64s that a
// JSON number would round). A bad field is an invalid-argument error that names it.
import { invalidArgument } from '../errdefs.js';

export const seccompActions: readonly string[] = [
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
];

export const seccompArchitectures: readonly string[] = [
  'SCMP_ARCH_X86',
  'SCMP_ARCH_X86_64',
  'SCMP_ARCH_X32',
  'SCMP_ARCH_ARM',
  'SCMP_ARCH_AARCH64',
  'SCMP_ARCH_MIPS',
  'SCMP_ARCH_MIPS64',
  'SCMP_ARCH_MIPS64N32',
  'SCMP_ARCH_MIPSEL',
  'SCMP_ARCH_MIPSEL64',
  'SCMP_ARCH_MIPSEL64N32',
  'SCMP_ARCH_PPC',
  'SCMP_ARCH_PPC64',
  'SCMP_ARCH_PPC64LE',
  'SCMP_ARCH_S390',
  'SCMP_ARCH_S390X',
  'SCMP_ARCH_PARISC',
  'SCMP_ARCH_PARISC64',
  'SCMP_ARCH_RISCV64',
  'SCMP_ARCH_LOONGARCH64',
];

export const seccompComparisons: readonly string[] = [
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
];

/** The flags runc knows; SECCOMP_FILTER_FLAG_TSYNC is accepted and means nothing for a single-threaded loader. */
export const seccompFilterFlags: readonly string[] = [
  'SECCOMP_FILTER_FLAG_TSYNC',
  'SECCOMP_FILTER_FLAG_LOG',
  'SECCOMP_FILTER_FLAG_SPEC_ALLOW',
  'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV',
];

/** seccomp(2) takes 6 arguments. */
const maxArgIndex = 5;
/** SECCOMP_RET_DATA is 16 bits. */
const maxErrno = 0xffff;

export interface NormalizedSeccompArg {
  index: number;
  /** uint64, in decimal. */
  value: string;
  valueTwo: string;
  op: string;
}

export interface NormalizedSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args: NormalizedSeccompArg[];
}

/** What the addon's compileSeccomp takes, as JSON. */
export interface NormalizedSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  flags: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls: NormalizedSyscall[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function bad(field: string, what: string): never {
  throw invalidArgument(`${field}: ${what}`);
}

function oneOf(v: unknown, field: string, allowed: readonly string[], kind: string): string {
  if (typeof v !== 'string') bad(field, 'must be a string');
  if (!allowed.includes(v)) bad(field, `unknown ${kind} "${v}"`);
  return v;
}

function uint(v: unknown, field: string, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) bad(field, `must be an integer from 0 to ${max}`);
  return v;
}

/** A uint64 from JSON: a non-negative integer number (exact up to 2^53; JSON.parse has rounded larger ones). */
function uint64(v: unknown, field: string): string {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 2 ** 64 - 1) bad(field, 'must be an integer from 0 to 2^64-1');
  return BigInt(v).toString();
}

function stringList(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) bad(field, 'must be an array');
  return v.map((s, i) => (typeof s === 'string' ? s : bad(`${field}[${i}]`, 'must be a string')));
}

function optionalString(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') bad(field, 'must be a string');
  return v;
}

function normalizeArg(v: unknown, field: string): NormalizedSeccompArg {
  if (!isObject(v)) bad(field, 'must be an object');
  return {
    index: uint(v.index, `${field}.index`, maxArgIndex),
    value: uint64(v.value, `${field}.value`),
    valueTwo: v.valueTwo === undefined || v.valueTwo === null ? '0' : uint64(v.valueTwo, `${field}.valueTwo`),
    op: oneOf(v.op, `${field}.op`, seccompComparisons, 'comparison'),
  };
}

function normalizeSyscall(v: unknown, field: string): NormalizedSyscall {
  if (!isObject(v)) bad(field, 'must be an object');
  const names = stringList(v.names, `${field}.names`);
  if (names.length === 0) bad(`${field}.names`, 'must name at least one syscall');
  for (const [i, n] of names.entries()) if (n === '') bad(`${field}.names[${i}]`, 'must not be empty');
  const out: NormalizedSyscall = { names, action: oneOf(v.action, `${field}.action`, seccompActions, 'action'), args: [] };
  if (v.errnoRet !== undefined && v.errnoRet !== null) out.errnoRet = uint(v.errnoRet, `${field}.errnoRet`, maxErrno);
  if (v.args !== undefined && v.args !== null) {
    if (!Array.isArray(v.args)) bad(`${field}.args`, 'must be an array');
    out.args = v.args.map((a, i) => normalizeArg(a, `${field}.args[${i}]`));
  }
  return out;
}

/**
 * linux.seccomp checked and normalized; field is how errors name it. Actions may not be SCMP_ACT_NOTIFY by
 * default, and a profile that notifies needs a listenerPath for the agent, as runc requires.
 */
export function normalizeSeccomp(seccomp: unknown, field = 'linux.seccomp'): NormalizedSeccomp {
  if (!isObject(seccomp)) bad(field, 'must be an object');
  const out: NormalizedSeccomp = {
    defaultAction: oneOf(seccomp.defaultAction, `${field}.defaultAction`, seccompActions, 'action'),
    architectures: stringList(seccomp.architectures, `${field}.architectures`),
    flags: stringList(seccomp.flags, `${field}.flags`),
    syscalls: [],
  };
  for (const [i, a] of out.architectures.entries()) oneOf(a, `${field}.architectures[${i}]`, seccompArchitectures, 'architecture');
  for (const [i, f] of out.flags.entries()) oneOf(f, `${field}.flags[${i}]`, seccompFilterFlags, 'flag');
  if (seccomp.defaultErrnoRet !== undefined && seccomp.defaultErrnoRet !== null) {
    out.defaultErrnoRet = uint(seccomp.defaultErrnoRet, `${field}.defaultErrnoRet`, maxErrno);
  }
  const listenerPath = optionalString(seccomp.listenerPath, `${field}.listenerPath`);
  const listenerMetadata = optionalString(seccomp.listenerMetadata, `${field}.listenerMetadata`);
  if (listenerPath !== undefined) out.listenerPath = listenerPath;
  if (listenerMetadata !== undefined) out.listenerMetadata = listenerMetadata;
  if (seccomp.syscalls !== undefined && seccomp.syscalls !== null) {
    if (!Array.isArray(seccomp.syscalls)) bad(`${field}.syscalls`, 'must be an array');
    out.syscalls = seccomp.syscalls.map((s, i) => normalizeSyscall(s, `${field}.syscalls[${i}]`));
  }
  if (out.defaultAction === 'SCMP_ACT_NOTIFY') bad(`${field}.defaultAction`, 'SCMP_ACT_NOTIFY cannot be the default action');
  if (usesNotify(out) && !out.listenerPath) bad(`${field}.listenerPath`, 'must be set when a rule is SCMP_ACT_NOTIFY');
  return out;
}

/** Whether a rule hands its syscall to a seccomp agent (the loader then asks for a listener fd). */
export function usesNotify(seccomp: NormalizedSeccomp): boolean {
  return seccomp.syscalls.some((s) => s.action === 'SCMP_ACT_NOTIFY');
}
