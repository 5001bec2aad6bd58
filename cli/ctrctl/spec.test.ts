// The OCI spec from an image config and docker's flags: command rules, environment, users, resources.
import { describe, expect, it } from 'vitest';
import { buildSpec, commandOf, mergeEnv, parseEnvFlag, parseMemory, parseResources, resolveUser, resourcesOf, userNeedsFiles } from './spec.js';
import { parseSignal, stopSignalOf } from './signals.js';

const passwd = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n# comment\nbroken\n';
const group = 'root:x:0:\nwheel:x:10:alice,bob\nstaff:x:50:alice\nnobody:x:65534:\nalice:x:1000:\n';

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

describe('resolveUser', () => {
  it('names and numbers, with the passwd gid and supplementary groups', () => {
    expect(resolveUser('', passwd, group)).toEqual({ uid: 0, gid: 0 });
    expect(resolveUser('nobody', passwd, group)).toEqual({ uid: 65534, gid: 65534 });
    expect(resolveUser('alice', passwd, group)).toEqual({ uid: 1000, gid: 1000, additionalGids: [10, 50] });
    expect(resolveUser('1000', passwd, group)).toEqual({ uid: 1000, gid: 1000, additionalGids: [10, 50] });
    expect(resolveUser('4242', passwd, group)).toEqual({ uid: 4242, gid: 0 });
    expect(resolveUser('alice:wheel', passwd, group)).toEqual({ uid: 1000, gid: 10, additionalGids: [50] });
    expect(resolveUser('123:456')).toEqual({ uid: 123, gid: 456 });
  });
  it('unknown names are errors, as docker words them', () => {
    expect(() => resolveUser('bob', passwd, group)).toThrow('unable to find user bob: no matching entries in passwd file');
    expect(() => resolveUser('alice:nogroup', passwd, group)).toThrow('unable to find group nogroup');
    expect(() => resolveUser(':1', passwd, group)).toThrow('invalid user');
  });
  it('only numeric uid:gid needs no files', () => {
    expect(userNeedsFiles('1:2')).toBe(false);
    expect(userNeedsFiles('')).toBe(false);
    expect(userNeedsFiles('1')).toBe(true);
    expect(userNeedsFiles('nobody')).toBe(true);
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

describe('buildSpec', () => {
  const spec = buildSpec({
    ns: 'default',
    id: 'a'.repeat(64),
    image: { Env: ['PATH=/img', 'FOO=image'], WorkingDir: '/work' },
    args: ['sh'],
    env: ['FOO=flag'],
    user: { uid: 1, gid: 2 },
    tty: true,
    resources: { Memory: 64 * 1024 * 1024, NanoCpus: 250_000_000, CpusetCpus: '0', PidsLimit: 10 },
  });
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
