// Seccomp profiles compiled by the addon (libseccomp), their fields checked, and the default profile itself
// checked in a real container run by runc: ordinary programs work, what it denies fails with EPERM, and the
// same call succeeds without the filter or with the capability the profile ties it to. (Loading the compiled
// program is the native backend's, and its tests' part.)
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { kindOf } from '../../lib/errdefs.js';
import { native } from '../../lib/native.js';
import { defaultCapabilities, defaultSpec } from '../../lib/oci/default-spec.js';
import { defaultSeccompProfile } from '../../lib/oci/seccomp-profile.js';
import type { OciSeccomp } from '../../lib/oci/spec.js';
import { haveBusybox, makeBusyboxRoot } from '../../test/harness/shim.js';
import { compileSeccompProfile, SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_FILTER_FLAG_SPEC_ALLOW, seccompFlags } from './seccomp.js';

const root = process.getuid?.() === 0;

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

describe('compileSeccompProfile', () => {
  it('compiles the default profile into whole BPF instructions', () => {
    const program = compileSeccompProfile(defaultSeccompProfile(defaultCapabilities))!;
    expect(program.length).toBeGreaterThan(0);
    expect(program.length % 8).toBe(0);
    // BPF_MAXINSNS: the kernel takes no longer program.
    expect(program.length / 8).toBeLessThanOrEqual(4096);
  });

  it('no profile, no program', () => {
    expect(compileSeccompProfile(undefined)).toBeUndefined();
  });

  it('skips names libseccomp does not know, and rules that repeat the default action', () => {
    const base: OciSeccomp = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] };
    const program = compileSeccompProfile(base)!;
    const withMore: OciSeccomp = {
      ...base,
      syscalls: [
        { names: ['read', 'no_such_syscall'], action: 'SCMP_ACT_ALLOW' },
        { names: ['write'], action: 'SCMP_ACT_ERRNO' },
      ],
    };
    expect(compileSeccompProfile(withMore)!.equals(program)).toBe(true);
    expect(compileSeccompProfile({ ...base, syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }] })!.equals(program)).toBe(false);
  });

  it('takes every action, comparison and uint64 argument values', () => {
    const profile: OciSeccomp = {
      defaultAction: 'SCMP_ACT_KILL_PROCESS',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
      listenerPath: '/run/agent.sock',
      syscalls: [
        { names: ['read'], action: 'SCMP_ACT_ALLOW' },
        { names: ['write'], action: 'SCMP_ACT_LOG' },
        { names: ['close'], action: 'SCMP_ACT_TRAP' },
        { names: ['openat'], action: 'SCMP_ACT_TRACE', errnoRet: 5 },
        { names: ['mkdir'], action: 'SCMP_ACT_KILL' },
        { names: ['rmdir'], action: 'SCMP_ACT_KILL_THREAD' },
        { names: ['mount'], action: 'SCMP_ACT_NOTIFY' },
        { names: ['ioctl'], action: 'SCMP_ACT_ERRNO', errnoRet: 25, args: [{ index: 1, value: 0x5401, op: 'SCMP_CMP_EQ' }] },
        {
          names: ['mmap'],
          action: 'SCMP_ACT_ALLOW',
          args: [
            { index: 0, value: 1, op: 'SCMP_CMP_NE' },
            { index: 1, value: 2, op: 'SCMP_CMP_LT' },
            { index: 2, value: 3, op: 'SCMP_CMP_LE' },
            { index: 3, value: 4, op: 'SCMP_CMP_GE' },
            { index: 4, value: 5, op: 'SCMP_CMP_GT' },
            { index: 5, value: 0xffff_ffff_0000, valueTwo: 0x1_0000_0000, op: 'SCMP_CMP_MASKED_EQ' },
          ],
        },
        // Two conditions on one argument: one rule each, as runc does.
        { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }, { index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
      ],
    };
    expect(compileSeccompProfile(profile)!.length % 8).toBe(0);
  });

  it('names the bad field in an invalid-argument error', () => {
    const ok = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] };
    const cases: Array<[unknown, string]> = [
      ['x', 'linux.seccomp: must be an object'],
      [{}, 'linux.seccomp.defaultAction: must be a string'],
      [{ defaultAction: 'SCMP_ACT_NOPE' }, 'linux.seccomp.defaultAction: unknown action "SCMP_ACT_NOPE"'],
      [{ ...ok, defaultErrnoRet: -1 }, 'linux.seccomp.defaultErrnoRet: must be an integer from 0 to 65535'],
      [{ ...ok, architectures: ['SCMP_ARCH_Z80'] }, 'linux.seccomp.architectures[0]: unknown architecture "SCMP_ARCH_Z80"'],
      [{ ...ok, architectures: 'SCMP_ARCH_X86' }, 'linux.seccomp.architectures: must be an array'],
      [{ ...ok, flags: ['SECCOMP_FILTER_FLAG_NOPE'] }, 'linux.seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_NOPE"'],
      [{ ...ok, syscalls: {} }, 'linux.seccomp.syscalls: must be an array'],
      [{ ...ok, syscalls: [{ names: [], action: 'SCMP_ACT_ALLOW' }] }, 'linux.seccomp.syscalls[0].names: must name at least one syscall'],
      [{ ...ok, syscalls: [{ names: ['read', 7], action: 'SCMP_ACT_ALLOW' }] }, 'linux.seccomp.syscalls[0].names[1]: must be a string'],
      [{ ...ok, syscalls: [{ names: [''], action: 'SCMP_ACT_ALLOW' }] }, 'linux.seccomp.syscalls[0].names[0]: must not be empty'],
      [{ ...ok, syscalls: [{ names: ['read'] }] }, 'linux.seccomp.syscalls[0].action: must be a string'],
      [{ ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', errnoRet: 70000 }] }, 'linux.seccomp.syscalls[0].errnoRet: must be an integer from 0 to 65535'],
      [{ ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 6, value: 0, op: 'SCMP_CMP_EQ' }] }] }, 'linux.seccomp.syscalls[0].args[0].index: must be an integer from 0 to 5'],
      [{ ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: -1, op: 'SCMP_CMP_EQ' }] }] }, 'linux.seccomp.syscalls[0].args[0].value: must be an integer from 0 to 2^64-1'],
      [{ ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, valueTwo: 0.5, op: 'SCMP_CMP_EQ' }] }] }, 'linux.seccomp.syscalls[0].args[0].valueTwo'],
      [{ ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_LIKE' }] }] }, 'linux.seccomp.syscalls[0].args[0].op: unknown comparison "SCMP_CMP_LIKE"'],
      [{ defaultAction: 'SCMP_ACT_NOTIFY', listenerPath: '/x' }, 'linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action'],
      [{ ...ok, syscalls: [{ names: ['mount'], action: 'SCMP_ACT_NOTIFY' }] }, 'linux.seccomp.listenerPath: must be set when a rule is SCMP_ACT_NOTIFY'],
    ];
    for (const [seccomp, message] of cases) {
      const err = thrown(() => compileSeccompProfile(seccomp as OciSeccomp));
      expect(kindOf(err), message).toBe('invalid-argument');
      expect(err.message).toContain(message);
    }
  });

  it("the addon's own checks name the field too", () => {
    expect(thrown(() => native().compileSeccomp('{"defaultAction":"SCMP_ACT_NOPE"}')).message).toBe('seccomp: defaultAction: unknown action "SCMP_ACT_NOPE"');
    expect(thrown(() => native().compileSeccomp('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":"18446744073709551616","op":"SCMP_CMP_EQ"}]}]}')).message).toContain(
      'seccomp: syscalls[0].args[0].value: must be an integer',
    );
    expect(thrown(() => native().compileSeccomp('[')).name).toBe('SyntaxError');
    // The full uint64 range arrives as decimal strings.
    expect(native().compileSeccomp('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":"18446744073709551615","op":"SCMP_CMP_EQ"}]}]}').length % 8).toBe(0);
  });
});

describe('seccompFlags', () => {
  it('the spec flags as seccomp(2) bits, a listener for notify rules, TSYNC as nothing', () => {
    expect(seccompFlags(undefined)).toBe(0);
    expect(seccompFlags(defaultSeccompProfile(defaultCapabilities))).toBe(0);
    expect(seccompFlags({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_TSYNC'] })).toBe(0);
    expect(seccompFlags({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'] })).toBe(SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW);
    expect(seccompFlags({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/a', syscalls: [{ names: ['mount'], action: 'SCMP_ACT_NOTIFY' }] })).toBe(SECCOMP_FILTER_FLAG_NEW_LISTENER);
    expect(kindOf(thrown(() => seccompFlags({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['x'] })))).toBe('invalid-argument');
  });
});

const execFileAsync = promisify(execFile);

/** Each cgroup hierarchy's directory for a cgroup path (v1: one per controller; v2: the one). */
function cgroupDirs(cgroupsPath: string): string[] {
  const base = '/sys/fs/cgroup';
  if (fs.existsSync(path.join(base, 'cgroup.controllers'))) return [path.join(base, cgroupsPath)];
  return fs.readdirSync(base).map((c) => path.join(base, c, cgroupsPath));
}

describe.skipIf(!root || !haveBusybox)('the default profile in a container run by runc', () => {
  let dir = '';
  let id = '';

  afterEach(async () => {
    // runc run deletes its container when the process exits: nothing may be left of it.
    const left = cgroupDirs(`/${id}`).filter((d) => fs.existsSync(d));
    for (const d of left) fs.rmdirSync(d);
    expect(fs.existsSync(path.join(dir, 'state', id))).toBe(false);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  /** Runs script in a busybox container with containerd's default spec and the given caps and seccomp. */
  async function runScript(script: string, capabilities: readonly string[], seccomp: OciSeccomp | undefined): Promise<string> {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrd-seccomp-'));
    id = `ctrd-seccomp-${process.pid}-${Date.now()}`;
    const bundle = path.join(dir, 'bundle');
    makeBusyboxRoot(path.join(bundle, 'rootfs'));
    const spec = defaultSpec('unused', id);
    spec.linux.cgroupsPath = `/${id}`;
    spec.process.args = ['/bin/sh', '-c', script];
    spec.process.capabilities = { bounding: [...capabilities], effective: [...capabilities], permitted: [...capabilities] };
    if (seccomp) spec.linux.seccomp = seccomp;
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
    const { stdout } = await execFileAsync('runc', ['--root', path.join(dir, 'state'), 'run', '--bundle', bundle, id], { timeout: 30_000 });
    return stdout;
  }

  const script = [
    'echo $(cat /proc/self/status | /bin/busybox grep "^Seccomp:")',
    // sh forks (clone without namespace flags) for the pipe and the command substitution.
    'echo $(echo forked | cat)',
    '/bin/busybox unshare -U true 2>/tmp/err; echo "unshare=$? $(cat /tmp/err)"',
  ].join('\n');

  it('filters: ordinary calls work, a user namespace is EPERM', async () => {
    const out = await runScript(script, defaultCapabilities, defaultSeccompProfile(defaultCapabilities));
    expect(out).toContain('Seccomp: 2');
    expect(out).toContain('forked');
    expect(out).toMatch(/unshare=1 .*Operation not permitted/);
  });

  it('the same container without the filter may make one', async () => {
    const out = await runScript(script, defaultCapabilities, undefined);
    expect(out).toContain('Seccomp: 0');
    expect(out).toContain('unshare=0');
  });

  it('with CAP_SYS_ADMIN the profile allows it', async () => {
    const caps = [...defaultCapabilities, 'CAP_SYS_ADMIN'];
    const out = await runScript(script, caps, defaultSeccompProfile(caps));
    expect(out).toContain('Seccomp: 2');
    expect(out).toContain('unshare=0');
  });
});
