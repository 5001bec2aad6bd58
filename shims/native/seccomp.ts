// A container's seccomp filter for the native backend: the spec's linux.seccomp checked (lib/oci/seccomp.ts) and
// compiled by the addon (libseccomp) into a classic BPF program. Loading it is the loader's part, in the cloned
// child, as runc's init does:
//   - the program's bytes are struct sock_filter[] (8 bytes each, host byte order): struct sock_fprog
//     { .len = bytes / 8, .filter = bytes };
//   - with process.noNewPrivileges, prctl(PR_SET_NO_NEW_PRIVS, 1) and load it last, just before execve; without,
//     load it while the child still has CAP_SYS_ADMIN, before it changes user and drops capabilities;
//   - seccompFlags(seccomp) == 0: prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog); otherwise
//     seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog), whose result with SECCOMP_FILTER_FLAG_NEW_LISTENER is the
//     listener fd to send to the agent at linux.seccomp.listenerPath.
import type { OciSeccomp } from '../../lib/oci/spec.js';
import { normalizeSeccomp, usesNotify } from '../../lib/oci/seccomp.js';
import { native } from '../../lib/native.js';

/** include/uapi/linux/seccomp.h. */
export const SECCOMP_FILTER_FLAG_LOG = 1 << 1;
export const SECCOMP_FILTER_FLAG_SPEC_ALLOW = 1 << 2;
export const SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3;
export const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5;

/** The flags of the spec as seccomp(2) bits; SECCOMP_FILTER_FLAG_TSYNC is none, as in runc (one thread loads it). */
const flagBits: Record<string, number> = {
  SECCOMP_FILTER_FLAG_TSYNC: 0,
  SECCOMP_FILTER_FLAG_LOG: SECCOMP_FILTER_FLAG_LOG,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: SECCOMP_FILTER_FLAG_SPEC_ALLOW,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
};

/**
 * The BPF program of linux.seccomp, or undefined when the spec has none (the container runs unfiltered).
 * Invalid-argument errors name the bad field; syscall names this libseccomp does not know are left out.
 */
export function compileSeccompProfile(seccomp: OciSeccomp | undefined): Buffer | undefined {
  if (seccomp === undefined || seccomp === null) return undefined;
  return native().compileSeccomp(JSON.stringify(normalizeSeccomp(seccomp)));
}

/**
 * The flags argument of seccomp(SECCOMP_SET_MODE_FILTER, flags, prog) for linux.seccomp: its flags, and
 * SECCOMP_FILTER_FLAG_NEW_LISTENER when a rule is SCMP_ACT_NOTIFY. 0 for none (prctl will do).
 */
export function seccompFlags(seccomp: OciSeccomp | undefined): number {
  if (seccomp === undefined || seccomp === null) return 0;
  const profile = normalizeSeccomp(seccomp);
  let flags = 0;
  for (const f of profile.flags) flags |= flagBits[f] ?? 0;
  if (usesNotify(profile)) flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
  return flags;
}
