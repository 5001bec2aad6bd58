// The default seccomp profile as containerd makes it for a container's capabilities and host, and docker's
// profile format resolved the way moby resolves it.
import { describe, expect, it } from 'vitest';
import { kindOf } from '../errdefs.js';
import { allCapabilities } from './capabilities.js';
import { defaultCapabilities } from './default-spec.js';
import { parseSeccompProfile, resolveSeccompProfile, type SeccompHost } from './seccomp-profile-format.js';
import { builtinSeccompProfile, defaultSeccompProfile } from './seccomp-profile.js';
import type { OciSeccomp } from './spec.js';

const amd64: SeccompHost = { arch: 'amd64', kernel: '6.18.0-1-amd64' };
const arm64: SeccompHost = { arch: 'arm64', kernel: '6.1.0' };
const s390x: SeccompHost = { arch: 's390x', kernel: '6.1.0' };

/** Every syscall a profile allows without conditions. */
const allowed = (p: OciSeccomp) => new Set(p.syscalls!.filter((s) => s.action === 'SCMP_ACT_ALLOW' && !s.args).flatMap((s) => s.names));
const rulesFor = (p: OciSeccomp, name: string) => p.syscalls!.filter((s) => s.names.includes(name));

describe('defaultSeccompProfile', () => {
  const profile = defaultSeccompProfile(defaultCapabilities, amd64);

  it('fails what it does not allow with EPERM, on x86_64 and its 32-bit and x32 ABIs', () => {
    expect(profile.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(profile.defaultErrnoRet).toBe(1);
    expect(profile.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    expect(profile.flags).toBeUndefined();
  });

  it('allows the syscalls of ordinary programs and the default capabilities', () => {
    const names = allowed(profile);
    for (const n of ['read', 'write', 'openat', 'execve', 'mmap', 'futex', 'epoll_pwait', 'statx', 'arch_prctl', 'chroot', 'ptrace']) expect(names.has(n), n).toBe(true);
    expect(names.size).toBeGreaterThan(360);
  });

  it('denies what needs capabilities the container lacks', () => {
    const names = allowed(profile);
    const denied = ['mount', 'umount2', 'unshare', 'setns', 'sethostname', 'bpf', 'perf_event_open', 'reboot', 'init_module', 'kcmp', 'iopl', 'settimeofday', 'syslog', 'open_by_handle_at', 'io_uring_setup', 'keyctl', 'add_key', 'userfaultfd'];
    for (const n of denied) {
      expect(names.has(n), n).toBe(false);
    }
  });

  it('limits clone to no new namespaces, clone3 to ENOSYS, socket and personality by argument', () => {
    expect(rulesFor(profile, 'clone')).toEqual([
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
    ]);
    expect(rulesFor(profile, 'clone3')).toEqual([{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]);
    expect(rulesFor(profile, 'socket').map((s) => s.args)).toEqual([
      [{ index: 0, value: 38, op: 'SCMP_CMP_LT' }],
      [{ index: 0, value: 39, op: 'SCMP_CMP_EQ' }],
      [{ index: 0, value: 40, op: 'SCMP_CMP_GT' }],
    ]);
    expect(rulesFor(profile, 'personality').map((s) => s.args![0]!.value)).toEqual([0, 8, 0x20000, 0x20008, 0xffffffff]);
  });

  it('CAP_SYS_ADMIN allows mount, unshare, setns and any clone', () => {
    const admin = defaultSeccompProfile([...defaultCapabilities, 'CAP_SYS_ADMIN'], amd64);
    const names = allowed(admin);
    for (const n of ['mount', 'umount2', 'unshare', 'setns', 'clone', 'clone3', 'sethostname', 'fsopen']) expect(names.has(n), n).toBe(true);
    expect(rulesFor(admin, 'clone').every((s) => !s.args)).toBe(true);
    expect(rulesFor(admin, 'clone3').every((s) => s.action === 'SCMP_ACT_ALLOW')).toBe(true);
  });

  it('each capability adds its own syscalls', () => {
    const cases: Array<[string, string[]]> = [
      ['CAP_SYS_PTRACE', ['kcmp', 'pidfd_getfd', 'process_madvise']],
      ['CAP_SYS_BOOT', ['reboot']],
      ['CAP_SYS_MODULE', ['init_module', 'finit_module', 'delete_module']],
      ['CAP_SYS_RAWIO', ['iopl', 'ioperm']],
      ['CAP_SYS_TIME', ['settimeofday', 'clock_settime']],
      ['CAP_SYS_NICE', ['mbind', 'set_mempolicy']],
      ['CAP_SYSLOG', ['syslog']],
      ['CAP_SYS_PACCT', ['acct']],
      ['CAP_SYS_TTY_CONFIG', ['vhangup']],
      ['CAP_DAC_READ_SEARCH', ['open_by_handle_at']],
      ['CAP_BPF', ['bpf']],
      ['CAP_PERFMON', ['perf_event_open']],
    ];
    for (const [cap, names] of cases) {
      const without = allowed(defaultSeccompProfile(defaultCapabilities, amd64));
      const withCap = allowed(defaultSeccompProfile([...defaultCapabilities, cap], amd64));
      for (const n of names) {
        expect(without.has(n), `${n} without ${cap}`).toBe(false);
        expect(withCap.has(n), `${n} with ${cap}`).toBe(true);
      }
    }
    expect(allowed(defaultSeccompProfile(['CAP_CHOWN'], amd64)).has('chroot')).toBe(false);
  });

  it('ptrace needs CAP_SYS_PTRACE before Linux 4.8', () => {
    const old = { arch: 'amd64', kernel: '4.4.0-generic' };
    expect(allowed(defaultSeccompProfile(defaultCapabilities, old)).has('ptrace')).toBe(false);
    expect(allowed(defaultSeccompProfile([...defaultCapabilities, 'CAP_SYS_PTRACE'], old)).has('ptrace')).toBe(true);
  });

  it('follows the host architecture', () => {
    const arm = defaultSeccompProfile(defaultCapabilities, arm64);
    expect(arm.architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    expect(allowed(arm).has('set_tls')).toBe(true);
    expect(allowed(arm).has('arch_prctl')).toBe(false);
    const s390 = defaultSeccompProfile(defaultCapabilities, s390x);
    expect(rulesFor(s390, 'clone').map((s) => s.args![0]!.index)).toEqual([1]);
    expect(defaultSeccompProfile(defaultCapabilities, { arch: 'ppc64le', kernel: '6.1' }).architectures).toBeUndefined();
  });

  it('every capability at once is still one consistent profile', () => {
    const all = defaultSeccompProfile(allCapabilities, amd64);
    expect(rulesFor(all, 'clone').every((s) => !s.args)).toBe(true);
    expect(all.syscalls!.every((s) => s.names.length > 0)).toBe(true);
  });

  it('is data that resolving does not change', () => {
    const before = JSON.stringify(builtinSeccompProfile);
    defaultSeccompProfile(allCapabilities, amd64).syscalls![0]!.names.push('x');
    expect(JSON.stringify(builtinSeccompProfile)).toBe(before);
  });
});

describe("docker's profile format", () => {
  it('reads a profile file: archMap, name, includes and excludes', () => {
    const text = JSON.stringify({
      defaultAction: 'SCMP_ACT_ERRNO',
      archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }],
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', comment: 'basics' },
        { name: 'mount', action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['clone'], action: 'SCMP_ACT_ALLOW', excludes: { caps: ['CAP_SYS_ADMIN'] }, args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }] },
        { names: ['modify_ldt'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm64'] } },
        { names: ['newcall'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '7.0' } },
      ],
    });
    expect(resolveSeccompProfile(parseSeccompProfile(text), ['CAP_CHOWN'], amd64)).toEqual({
      defaultAction: 'SCMP_ACT_ERRNO',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
        { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }] },
      ],
    });
    expect(resolveSeccompProfile(parseSeccompProfile(text), ['CAP_SYS_ADMIN'], amd64)!.syscalls!.map((s) => s.names)).toEqual([['read', 'write'], ['mount']]);
  });

  it('passes a plain OCI linux.seccomp through', () => {
    const oci = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], flags: ['SECCOMP_FILTER_FLAG_LOG'], syscalls: [{ names: ['mount'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] };
    expect(resolveSeccompProfile(parseSeccompProfile(JSON.stringify(oci)), [], amd64)).toEqual(oci);
  });

  it('a profile with no default action and no rules is no filter', () => {
    expect(resolveSeccompProfile(parseSeccompProfile('{}'), [], amd64)).toBeUndefined();
  });

  it('refuses what moby refuses, as invalid arguments', () => {
    const cases: Array<[string, string]> = [
      ['not json', 'decoding seccomp profile failed'],
      ['[]', 'not a JSON object'],
      ['{"defaultAction": 1}', 'defaultAction must be a string'],
      ['{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": {}}', 'syscalls must be an array'],
      ['{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": "read"}]}', 'syscalls[0].names must be an array of strings'],
      ['{"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{}]}', 'archMap[0]'],
      ['{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "includes": {"caps": "CAP_X"}}]}', 'syscalls[0].includes'],
    ];
    for (const [text, message] of cases) {
      let err: unknown;
      try {
        parseSeccompProfile(text);
      } catch (e) {
        err = e;
      }
      expect(kindOf(err), text).toBe('invalid-argument');
      expect((err as Error).message, text).toContain(message);
    }
    const both = parseSeccompProfile('{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"], "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": null}]}');
    expect(() => resolveSeccompProfile(both, [], amd64)).toThrow("both 'architectures' and 'archMap'");
    const nameAndNames = parseSeccompProfile('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}]}');
    expect(() => resolveSeccompProfile(nameAndNames, [], amd64)).toThrow("both 'name' and 'names'");
    const badKernel = parseSeccompProfile('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "four"}}]}');
    expect(() => resolveSeccompProfile(badKernel, [], amd64)).toThrow('minKernel "four"');
  });
});
