// The OCI spec from an image config and docker's flags: command rules, environment, users, resources,
// confinement (capabilities, seccomp, privileged, read-only) and kernel limits (sysctls, ulimits).
import { describe, expect, it } from 'vitest';
import { kindOf } from '../../lib/errdefs.js';
import { allCapabilities } from '../../lib/oci/capabilities.js';
import { defaultCapabilities, defaultMaskedPaths } from '../../lib/oci/default-spec.js';
import type { SeccompHost } from '../../lib/oci/seccomp-profile-format.js';
import { defaultSeccompProfile } from '../../lib/oci/seccomp-profile.js';
import type { OciSeccomp } from '../../lib/oci/spec.js';
import {
  buildSpec,
  commandOf,
  mergeEnv,
  parseEnvFlag,
  parseMemory,
  parseResources,
  parseSecurity,
  parseSysctls,
  parseUlimits,
  resourcesOf,
  type RunSpecOptions,
  type SecurityFlags,
} from './spec.js';
import { parseSignal, stopSignalOf } from './signals.js';


describe('commandOf: docker entrypoint and cmd rules', () => {
  const image = { Entrypoint: ['/entry'], Cmd: ['default'] };
  it('the image entrypoint and cmd by default, CMD args replacing the cmd', () => {
    expect(commandOf(image, undefined, []).args).toEqual(['/entry', 'default']);
    expect(commandOf(image, undefined, ['x', 'y']).args).toEqual(['/entry', 'x', 'y']);
  });
  it('--entrypoint drops the image cmd; "" clears the entrypoint', () => {
    expect(commandOf(image, 'sh', []).args).toEqual(['sh']);
    expect(commandOf(image, 'sh', ['-c', 'true'])).toEqual({ entrypoint: ['sh'], cmd: ['-c', 'true'], args: ['sh', '-c', 'true'] });
    expect(commandOf(image, '', ['echo'])).toEqual({ entrypoint: [], cmd: ['echo'], args: ['echo'] });
  });
  it('no command at all is an error', () => {
    expect(() => commandOf({}, undefined, [])).toThrow('no command specified');
    expect(() => commandOf(image, '', [])).toThrow('no command specified');
  });
});

describe('environment', () => {
  it('later entries replace earlier ones of the same key', () => {
    expect(mergeEnv(['PATH=/a', 'A=1'], ['A=2', 'B=3'], ['PATH=/b'])).toEqual(['PATH=/b', 'A=2', 'B=3']);
  });
  it('-e KEY takes the value from our environment, or is skipped', () => {
    expect(parseEnvFlag('X=1=2')).toBe('X=1=2');
    expect(parseEnvFlag('HOME2', { HOME2: '/h' })).toBe('HOME2=/h');
    expect(parseEnvFlag('NOPE', {})).toBeUndefined();
    expect(() => parseEnvFlag('=x')).toThrow('invalid environment variable');
  });
});

describe('resources', () => {
  it('parses sizes as go-units RAMInBytes', () => {
    expect(parseMemory('64m')).toBe(64 * 1024 * 1024);
    expect(parseMemory('1.5g')).toBe(1.5 * 1024 ** 3);
    expect(parseMemory('512KiB')).toBe(512 * 1024);
    expect(parseMemory('1000')).toBe(1000);
    expect(parseMemory('10b')).toBe(10);
    for (const bad of ['', 'm', '12x', '-1m', '1.m']) expect(() => parseMemory(bad), bad).toThrow(`invalid size: '${bad}'`);
  });
  it('checks the flags as docker does', () => {
    expect(parseResources({ memory: '64m', cpus: '0.5', cpusetCpus: '0-1', pidsLimit: '20' }, 2)).toEqual({
      Memory: 64 * 1024 * 1024,
      NanoCpus: 500_000_000,
      CpusetCpus: '0-1',
      PidsLimit: 20,
    });
    expect(parseResources({ pidsLimit: '-1' }, 2).PidsLimit).toBeNull();
    expect(() => parseResources({ memory: '1m' }, 2)).toThrow('Minimum memory limit allowed is 6MB');
    expect(() => parseResources({ cpus: '3' }, 2)).toThrow('range of CPUs is from 0.01 to 2.00');
    expect(() => parseResources({ cpus: 'x' }, 2)).toThrow('invalid argument "x" for "--cpus" flag');
    expect(() => parseResources({ cpusetCpus: '0-4' }, 2)).toThrow('Requested CPUs are not available');
    expect(() => parseResources({ cpusetCpus: 'a' }, 2)).toThrow('invalid value a for cpuset cpus');
    expect(() => parseResources({ pidsLimit: '1.5' }, 2)).toThrow('--pids-limit');
  });
});

const amd64: SeccompHost = { arch: 'amd64', kernel: '6.18.0' };
const noFiles = (path: string): string => {
  throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
};
const security = (flags: SecurityFlags = {}, files: Record<string, string> = {}, capabilities?: string[]) =>
  parseSecurity(flags, { readProfile: (p) => files[p] ?? noFiles(p), capabilities, seccomp: amd64 });

function invalid(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(kindOf(err)).toBe('invalid-argument');
    return (err as Error).message;
  }
  throw new Error('expected an invalid-argument error');
}

describe('confinement flags', () => {
  it("docker's defaults: the default capabilities and seccomp profile, new privileges allowed, paths masked", () => {
    expect(security()).toEqual({
      privileged: false,
      capabilities: [...defaultCapabilities],
      seccomp: defaultSeccompProfile(defaultCapabilities, amd64),
      noNewPrivileges: false,
      maskPaths: true,
      readOnly: false,
    });
  });

  it('--cap-add and --cap-drop take names with or without CAP_, in any case, and ALL', () => {
    const s = security({ capAdd: ['net_admin', 'CAP_SYS_PTRACE'], capDrop: ['chown', 'Cap_Kill'] });
    expect(s.capabilities).toContain('CAP_NET_ADMIN');
    expect(s.capabilities).toContain('CAP_SYS_PTRACE');
    expect(s.capabilities).not.toContain('CAP_CHOWN');
    expect(s.capabilities).not.toContain('CAP_KILL');
    expect(security({ capDrop: ['ALL'], capAdd: ['NET_BIND_SERVICE'] }).capabilities).toEqual(['CAP_NET_BIND_SERVICE']);
    expect(security({ capAdd: ['all'], capDrop: ['SYS_ADMIN'] }).capabilities).toEqual(allCapabilities.filter((c) => c !== 'CAP_SYS_ADMIN'));
    expect(invalid(() => security({ capAdd: ['nope'] }))).toBe('invalid argument "nope" for "--cap-add" flag: unknown capability: "CAP_NOPE"');
    expect(invalid(() => security({ capDrop: ['CAP_X'] }))).toBe('invalid argument "CAP_X" for "--cap-drop" flag: unknown capability: "CAP_X"');
  });

  it('the seccomp profile follows the capabilities', () => {
    const allowed = (p: OciSeccomp | undefined) => new Set(p!.syscalls!.filter((c) => c.action === 'SCMP_ACT_ALLOW' && !c.args).flatMap((c) => c.names));
    expect(allowed(security().seccomp).has('mount')).toBe(false);
    expect(allowed(security({ capAdd: ['SYS_ADMIN'] }).seccomp).has('mount')).toBe(true);
    expect(allowed(security({ capDrop: ['SYS_CHROOT'] }).seccomp).has('chroot')).toBe(false);
  });

  it('--privileged: every capability, no seccomp, nothing masked', () => {
    const s = security({ privileged: true, capDrop: ['CHOWN'] });
    expect(s).toMatchObject({ privileged: true, capabilities: [...allCapabilities], seccomp: undefined, maskPaths: false });
  });

  it('--privileged and ALL give what the host has', () => {
    const host = allCapabilities.filter((c) => c !== 'CAP_SYS_RESOURCE');
    expect(security({ privileged: true }, {}, host).capabilities).toEqual(host);
    expect(security({ capAdd: ['ALL'] }, {}, host).capabilities).toEqual(host);
  });

  it('--security-opt seccomp=unconfined, builtin, or a profile file in docker format', () => {
    expect(security({ securityOpt: ['seccomp=unconfined'] }).seccomp).toBeUndefined();
    expect(security({ securityOpt: ['seccomp=unconfined', 'seccomp=builtin'] }).seccomp).toEqual(defaultSeccompProfile(defaultCapabilities, amd64));
    const file = JSON.stringify({
      defaultAction: 'SCMP_ACT_ALLOW',
      archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }],
      syscalls: [
        { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
        { names: ['mount'], action: 'SCMP_ACT_ERRNO', excludes: { caps: ['CAP_SYS_ADMIN'] } },
      ],
    });
    expect(security({ securityOpt: ['seccomp=/p.json'] }, { '/p.json': file }).seccomp).toEqual({
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
      syscalls: [
        { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
        { names: ['mount'], action: 'SCMP_ACT_ERRNO' },
      ],
    });
    expect(security({ securityOpt: ['seccomp=/p.json'], capAdd: ['SYS_ADMIN'] }, { '/p.json': file }).seccomp!.syscalls).toHaveLength(1);
    expect(security({ securityOpt: ['seccomp=/p.json'], privileged: true }, { '/p.json': file }).seccomp).toBeUndefined();
  });

  it('a profile that cannot be read or is wrong is an error before anything is made', () => {
    expect(invalid(() => security({ securityOpt: ['seccomp=/none.json'] }))).toBe("opening seccomp profile (/none.json) failed: ENOENT: no such file or directory, open '/none.json'");
    expect(invalid(() => security({ securityOpt: ['seccomp=/p.json'] }, { '/p.json': '{' }))).toContain('decoding seccomp profile failed');
    const badAction = JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_MAYBE' }] });
    expect(invalid(() => security({ securityOpt: ['seccomp=/p.json'] }, { '/p.json': badAction }))).toBe(
      'decoding seccomp profile failed: seccomp.syscalls[0].action: unknown action "SCMP_ACT_MAYBE"',
    );
    const badArg = JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ name: 'read', action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] }, args: [{ index: 9, value: 1, op: 'SCMP_CMP_EQ' }] }] });
    expect(invalid(() => security({ securityOpt: ['seccomp=/p.json'] }, { '/p.json': badArg }))).toContain('seccomp.syscalls[0].args[0].index');
  });

  it('--security-opt no-new-privileges, systempaths=unconfined, and the ones that ask for nothing', () => {
    expect(security({ securityOpt: ['no-new-privileges'] }).noNewPrivileges).toBe(true);
    expect(security({ securityOpt: ['no-new-privileges=true'] }).noNewPrivileges).toBe(true);
    expect(security({ securityOpt: ['no-new-privileges:1'] }).noNewPrivileges).toBe(true);
    expect(security({ securityOpt: ['no-new-privileges', 'no-new-privileges=false'] }).noNewPrivileges).toBe(false);
    expect(security({ securityOpt: ['systempaths=unconfined'] }).maskPaths).toBe(false);
    expect(security({ securityOpt: ['apparmor=unconfined', 'label=disable'] })).toEqual(security());
  });

  it('bad --security-opt values are errors, as docker words them', () => {
    for (const opt of ['bogus', 'bogus=1', 'seccomp', 'seccomp=', 'no-new-privileges=maybe', 'systempaths=confined']) {
      expect(invalid(() => security({ securityOpt: [opt] })), opt).toBe(`invalid --security-opt: "${opt}"`);
    }
    expect(invalid(() => security({ securityOpt: ['apparmor=docker-default'] }))).toContain('no AppArmor or SELinux');
  });
});

describe('kernel limits', () => {
  it('--sysctl takes the namespaced ones, as docker', () => {
    expect(parseSysctls(['net.ipv4.ip_forward=1', 'kernel.shmmax=1024', 'fs.mqueue.msg_max=20', 'net.core.somaxconn=a=b', 'net.ipv4.ip_forward=0'])).toEqual({
      'net.ipv4.ip_forward': '0',
      'kernel.shmmax': '1024',
      'fs.mqueue.msg_max': '20',
      'net.core.somaxconn': 'a=b',
    });
    expect(invalid(() => parseSysctls(['kernel.hostname=x']))).toBe(`invalid argument "kernel.hostname=x" for "--sysctl" flag: sysctl 'kernel.hostname=x' is not allowed`);
    expect(invalid(() => parseSysctls(['net.ipv4.ip_forward']))).toContain('"--sysctl" flag');
    expect(invalid(() => parseSysctls(['=1']))).toContain('"--sysctl" flag');
  });

  it('--ulimit NAME=SOFT[:HARD], a later one replacing an earlier one', () => {
    expect(parseUlimits(['nofile=1024:2048', 'nproc=100', 'nofile=10:20'])).toEqual([
      { type: 'RLIMIT_NOFILE', soft: 10, hard: 20 },
      { type: 'RLIMIT_NPROC', soft: 100, hard: 100 },
    ]);
    const cases: Array<[string, string]> = [
      ['nofile', 'invalid ulimit argument: nofile'],
      ['as=1', 'invalid ulimit type: as'],
      ['nofile=2:1', 'ulimit soft limit must be less than or equal to hard limit: 2 > 1'],
      ['nofile=1:2:3', 'too many limit value arguments'],
      ['nofile=x', 'strconv.ParseInt: parsing "x": invalid syntax'],
      ['nofile=-1:10', 'soft: -1 (unlimited), hard: 10'],
      ['memlock=-1:-1', 'unlimited (-1) and negative limits are not supported by ctrctl'],
    ];
    for (const [value, message] of cases) {
      const m = invalid(() => parseUlimits([value]));
      expect(m, value).toContain(`invalid argument "${value}" for "--ulimit" flag: `);
      expect(m, value).toContain(message);
    }
  });
});

describe('buildSpec', () => {
  const options: RunSpecOptions = {
    ns: 'default',
    id: 'a'.repeat(64),
    image: { Env: ['PATH=/img', 'FOO=image'], WorkingDir: '/work' },
    args: ['sh'],
    env: ['FOO=flag'],
    user: { uid: 1, gid: 2 },
    tty: true,
    resources: { Memory: 64 * 1024 * 1024, NanoCpus: 250_000_000, CpusetCpus: '0', PidsLimit: 10 },
    security: security(),
    sysctls: {},
    ulimits: [],
  };
  const spec = buildSpec(options);
  it('has containerd default linux parts', () => {
    expect(spec.linux.cgroupsPath).toBe(`/default/${'a'.repeat(64)}`);
    expect(spec.linux.namespaces.map((n) => n.type)).toEqual(['pid', 'ipc', 'uts', 'mount', 'network']);
    expect(spec.mounts.map((m) => m.destination)).toEqual(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup', '/run']);
    expect(spec.mounts.find((m) => m.destination === '/sys/fs/cgroup')!.options).toContain('ro');
    expect(spec.process.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }]);
    expect(spec.process.capabilities!.bounding).toContain('CAP_NET_BIND_SERVICE');
    expect(spec.linux.maskedPaths).toContain('/proc/kcore');
    expect(spec.linux.readonlyPaths).toContain('/proc/sys');
  });
  it('takes the image config and the flags', () => {
    expect(spec.hostname).toBe('aaaaaaaaaaaa');
    expect(spec.process.env).toEqual(['PATH=/img', 'HOSTNAME=aaaaaaaaaaaa', 'FOO=flag', 'TERM=xterm']);
    expect(spec.process.cwd).toBe('/work');
    expect(spec.process.terminal).toBe(true);
    expect(spec.process.user).toEqual({ uid: 1, gid: 2 });
    expect(spec.linux.resources).toMatchObject({ memory: { limit: 67108864 }, cpu: { quota: 25000, period: 100000, cpus: '0' }, pids: { limit: 10 } });
    expect(resourcesOf(spec)).toEqual({ Memory: 67108864, NanoCpus: 250_000_000, CpusetCpus: '0', PidsLimit: 10 });
  });
  it("is confined as docker's containers are by default", () => {
    expect(spec.process.capabilities).toEqual({ bounding: [...defaultCapabilities], effective: [...defaultCapabilities], permitted: [...defaultCapabilities] });
    expect(spec.process.noNewPrivileges).toBe(false);
    expect(spec.linux.seccomp).toEqual(defaultSeccompProfile(defaultCapabilities, amd64));
    expect(spec.linux.maskedPaths).toEqual([...defaultMaskedPaths]);
    expect(spec.linux.resources.devices).toEqual([{ allow: false, access: 'rwm' }]);
    expect(spec.root.readonly).toBeUndefined();
    expect(spec.linux.sysctl).toBeUndefined();
  });
  it('--privileged: all capabilities and devices, writable /sys and cgroups, no seccomp, nothing masked', () => {
    const p = buildSpec({ ...options, security: security({ privileged: true }) });
    expect(p.process.capabilities!.bounding).toEqual([...allCapabilities]);
    expect(p.linux.seccomp).toBeUndefined();
    expect(p.linux.maskedPaths).toEqual([]);
    expect(p.linux.readonlyPaths).toEqual([]);
    expect(p.linux.resources.devices).toEqual([{ allow: true, access: 'rwm' }]);
    for (const d of ['/sys', '/sys/fs/cgroup']) expect(p.mounts.find((m) => m.destination === d)!.options).not.toContain('ro');
    // The defaults are data that a privileged spec does not change.
    expect(buildSpec(options).mounts.find((m) => m.destination === '/sys')!.options).toContain('ro');
  });
  it('--read-only, no-new-privileges, unconfined seccomp, sysctls and ulimits', () => {
    const s = buildSpec({
      ...options,
      security: security({ readOnly: true, securityOpt: ['no-new-privileges', 'seccomp=unconfined', 'systempaths=unconfined'] }),
      sysctls: { 'net.ipv4.ip_forward': '1' },
      ulimits: parseUlimits(['nofile=1024:2048', 'nproc=64']),
    });
    expect(s.root.readonly).toBe(true);
    expect(s.process.noNewPrivileges).toBe(true);
    expect(s.linux.seccomp).toBeUndefined();
    expect(s.linux.maskedPaths).toEqual([]);
    expect(s.linux.sysctl).toEqual({ 'net.ipv4.ip_forward': '1' });
    expect(s.process.rlimits).toEqual([
      { type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 },
      { type: 'RLIMIT_NPROC', soft: 64, hard: 64 },
    ]);
  });
});

describe('signals', () => {
  it('takes numbers and names with or without SIG', () => {
    expect(parseSignal('9')).toBe(9);
    expect(parseSignal('KILL')).toBe(9);
    expect(parseSignal('sigterm')).toBe(15);
    expect(parseSignal('SIGUSR1')).toBe(10);
    for (const bad of ['NOPE', '0', '65', 'SIG', '']) expect(() => parseSignal(bad), bad).toThrow('invalid signal');
  });
  it('the stop signal label, SIGTERM without one', () => {
    expect(stopSignalOf({})).toBe(15);
    expect(stopSignalOf({ 'io.containerd.image.config.stop-signal': 'SIGQUIT' })).toBe(3);
  });
});
