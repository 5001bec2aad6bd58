// What plan.ts makes of a spec, before anything is cloned: namespaces, the operations in order, paths resolved
// inside the rootfs, the process's numbers, and the fields it refuses.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultSpec } from '../../lib/oci/default-spec.js';
import { native, type ContainerOp } from '../../lib/native.js';
import { executableCandidates, planExec, planInit } from './plan.js';
import type { OciSpecJson } from './spec-types.js';

let dir: string;
let bundle: string;
let rootfs: string;

beforeEach(() => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ctrd-plan-')));
  bundle = path.join(dir, 'bundle');
  rootfs = path.join(bundle, 'rootfs');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'etc', 'tmp']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
});

afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function spec(edit: (s: OciSpecJson) => void = () => {}): OciSpecJson {
  const s = defaultSpec('test', 'plan') as unknown as OciSpecJson;
  s.process!.args = ['sh'];
  edit(s);
  return s;
}

const c = () => native().containerConstants;
const m = () => native().constants;
const find = (ops: ContainerOp[], label: string) => ops.find((o) => o.label === label);

describe('planInit', () => {
  it("makes the spec's namespaces with clone and leaves the cgroup namespace to an unshare after the cgroups are joined", () => {
    const plan = planInit(spec((s) => s.linux!.namespaces!.push({ type: 'cgroup' })), bundle);
    expect(plan.cloneFlags).toBe(c().CLONE_NEWPID | c().CLONE_NEWIPC | c().CLONE_NEWUTS | c().CLONE_NEWNS | c().CLONE_NEWNET);
    expect(plan.join).toEqual([]);
    expect(plan.ops[0]).toMatchObject({ op: 'unshare', flags: c().CLONE_NEWCGROUP });
    expect(plan.ops[1]).toMatchObject({ op: 'mount', target: '/', flags: m().MS_SLAVE | m().MS_REC });
    expect(plan.ops[2]).toEqual({ op: 'bind', source: rootfs, target: rootfs, recursive: true, flags: 0, label: `bind ${rootfs} onto itself` });
    expect(plan.rootfs).toBe(rootfs);
  });

  it('joins namespaces given by path, and maps ids of a new user namespace', () => {
    const plan = planInit(
      spec((s) => {
        s.linux!.namespaces = [{ type: 'mount' }, { type: 'network', path: '/proc/self/ns/net' }, { type: 'user' }];
        s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
        s.linux!.gidMappings = [
          { containerID: 0, hostID: 100000, size: 1 },
          { containerID: 1, hostID: 200000, size: 10 },
        ];
        s.linux!.sysctl = {};
      }),
      bundle,
    );
    expect(plan.cloneFlags).toBe(c().CLONE_NEWNS | c().CLONE_NEWUSER);
    expect(plan.join).toEqual([{ type: 'network', flag: c().CLONE_NEWNET, path: '/proc/self/ns/net' }]);
    expect(plan.idMaps).toEqual({ uid: '0 100000 65536\n', gid: '0 100000 1\n1 200000 10\n' });
  });

  it('refuses what it cannot do or what makes no sense, naming the field', () => {
    const cases: Array<[(s: OciSpecJson) => void, RegExp]> = [
      [(s) => s.linux!.namespaces!.push({ type: 'time' }), /time namespace is not supported/],
      [(s) => s.linux!.namespaces!.push({ type: 'pid' }), /pid is given twice/],
      [(s) => s.linux!.namespaces!.push({ type: 'user' }), /uidMappings and linux.gidMappings must be set/],
      [(s) => (s.linux!.uidMappings = [{ containerID: 0, hostID: 1, size: 1 }]), /need a new user namespace/],
      [(s) => (s.linux!.sysctl = { 'vm.swappiness': '1' }), /vm.swappiness is not in a separate kernel namespace/],
      [(s) => ((s.linux!.namespaces = [{ type: 'mount' }]), (s.linux!.sysctl = { 'net.ipv4.ip_forward': '1' })), /needs the container's own network namespace/],
      [(s) => (s.linux!.sysctl = { 'net.ipv4.ip_forward': '1' }) && (s.linux!.namespaces![4] = { type: 'network', path: '/proc/self/ns/net' }), /needs the container's own network namespace/],
      [(s) => ((s.linux!.namespaces = [{ type: 'mount' }]), (s.hostname = 'x')), /hostname needs the container's own uts namespace/],
      [(s) => (s.process!.args = []), /process.args must be a non-empty array/],
      [(s) => (s.process!.cwd = 'tmp'), /process.cwd must be an absolute path/],
      [(s) => (s.process!.capabilities!.bounding = ['CAP_NOPE']), /process.capabilities.bounding: unknown capability "CAP_NOPE"/],
      [(s) => (s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 2, hard: 1 }]), /process.rlimits\[0\]: soft 2 is above hard 1/],
      [(s) => (s.process!.rlimits = [{ type: 'RLIMIT_NOPE', soft: 1, hard: 1 }]), /unknown rlimit "RLIMIT_NOPE"/],
      [(s) => (s.process!.user = { uid: -1, gid: 0 }), /process.user.uid must be an integer/],
      [(s) => (s.process!.oomScoreAdj = 2000), /oomScoreAdj must be an integer from -1000 to 1000/],
      [(s) => s.mounts!.push({ destination: 'rel', type: 'tmpfs', source: 'tmpfs' }), /mounts\[8\].destination must be an absolute path/],
      [(s) => s.mounts!.push({ destination: '/x', type: 'bind', source: '/nonexistent-source', options: ['rbind'] }), /mounts\[8\].source \/nonexistent-source: ENOENT/],
      [(s) => s.mounts!.push({ destination: '/proc/sys/kernel', type: 'tmpfs', source: 'tmpfs' }), /"\/proc\/sys\/kernel" cannot be mounted because it is inside \/proc/],
      [(s) => s.mounts!.push({ destination: '/x', type: 'tmpfs', source: 'tmpfs', options: ['tmpcopyup'] }), /option tmpcopyup is not supported/],
      [(s) => (s.linux!.rootfsPropagation = 'sideways'), /linux.rootfsPropagation: unknown propagation "sideways"/],
      [(s) => (s.root!.path = 'missing'), /root.path .*missing: ENOENT/],
      [(s) => (s.hooks = { startContainer: [{}] }), /hooks.createContainer and hooks.startContainer are not supported/],
      [(s) => (s.linux!.seccomp = { listenerPath: '/run/notify.sock' }), /seccomp user notification is not supported/],
      [(s) => (s.linux!.seccomp = { flags: ['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'] }), /SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not supported/],
    ];
    for (const [edit, message] of cases) expect(() => planInit(spec(edit), bundle), String(message)).toThrow(message);
    try {
      planInit(spec((s) => (s.process!.args = [])), bundle);
    } catch (err) {
      expect(err).toMatchObject({ kind: 'invalid-argument' });
    }
  });

  it('resolves mount destinations inside the rootfs and makes the missing mount points', () => {
    fs.mkdirSync(path.join(rootfs, 'real'));
    fs.symlinkSync('../../../real', path.join(rootfs, 'etc', 'escape')); // ".." stops at the rootfs
    fs.symlinkSync('/real', path.join(rootfs, 'abs'));
    fs.writeFileSync(path.join(dir, 'file'), 'x');
    const plan = planInit(
      spec((s) => {
        s.mounts = [
          { destination: '/etc/escape/a', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'size=1m'] },
          { destination: '/abs/b', type: 'bind', source: 'data', options: ['rbind', 'ro', 'nodev', 'rprivate'] },
          { destination: '/new/dir/file', type: 'bind', source: path.join(dir, 'file'), options: ['bind'] },
          { destination: '/etc/escape/a/sub', type: 'tmpfs', source: 'tmpfs', options: ['rro'] },
        ];
        fs.mkdirSync(path.join(bundle, 'data'));
      }),
      bundle,
    );
    const labels = plan.ops.map((o) => o.label);
    expect(find(plan.ops, 'mount tmpfs on /etc/escape/a')).toEqual({ op: 'mount', source: 'tmpfs', target: `${rootfs}/real/a`, fstype: 'tmpfs', flags: m().MS_NOSUID, data: 'size=1m', propagation: undefined, label: 'mount tmpfs on /etc/escape/a' });
    expect(labels.indexOf('mkdir /real/a')).toBeLessThan(labels.indexOf('mount tmpfs on /etc/escape/a'));
    // Relative sources are the bundle's; the flags beyond bind are a remount's, propagation is its own.
    expect(find(plan.ops, 'mount data on /abs/b')).toEqual({ op: 'bind', source: path.join(bundle, 'data'), target: `${rootfs}/real/b`, recursive: true, flags: m().MS_RDONLY | m().MS_NODEV, propagation: m().MS_PRIVATE | m().MS_REC, label: 'mount data on /abs/b' });
    // A file is bound on a file: its directories made, then the file itself.
    expect(labels).toEqual(expect.arrayContaining(['mkdir /new', 'mkdir /new/dir', 'create /new/dir/file']));
    expect(labels.indexOf('create /new/dir/file')).toBeLessThan(labels.indexOf(`mount ${path.join(dir, 'file')} on /new/dir/file`));
    // Inside an earlier tmpfs nothing exists: its mount point is made there (in the child, after that mount).
    expect(labels.indexOf('mkdir /real/a/sub')).toBeGreaterThan(labels.indexOf('mount tmpfs on /etc/escape/a'));
    expect(find(plan.ops, 'mount tmpfs on /etc/escape/a/sub (recursive options)')).toMatchObject({ op: 'setattr', flags: c().MOUNT_ATTR_RDONLY, clear: 0 });
  });

  it('refuses /proc or /sys that are not plain directories', () => {
    fs.rmdirSync(path.join(rootfs, 'proc'));
    fs.symlinkSync('/', path.join(rootfs, 'proc'));
    expect(() => planInit(spec(), bundle)).toThrow('filesystem "proc" must be mounted on ordinary directory');
    fs.rmSync(path.join(rootfs, 'proc'));
    fs.mkdirSync(path.join(rootfs, 'proc'));
    fs.rmdirSync(path.join(rootfs, 'sys'));
    fs.writeFileSync(path.join(rootfs, 'sys'), '');
    expect(() => planInit(spec(), bundle)).toThrow('filesystem "sysfs" must be mounted on ordinary directory');
  });

  it('fills a tmpfs /dev with the default devices, the spec ones, the links and ptmx, then pivots', () => {
    const plan = planInit(spec((s) => (s.linux!.devices = [{ type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 0o600, uid: 0, gid: 0 }])), bundle);
    const labels = plan.ops.map((o) => o.label);
    expect(find(plan.ops, 'mknod /dev/null')).toEqual({ op: 'mknod', target: `${rootfs}/dev/null`, mode: c().S_IFCHR | 0o666, major: 1, minor: 3, uid: 0, gid: 0, label: 'mknod /dev/null' });
    expect(find(plan.ops, 'mknod /dev/fuse')).toMatchObject({ mode: c().S_IFCHR | 0o600, major: 10, minor: 229 });
    expect(labels).toEqual(expect.arrayContaining(['symlink /dev/fd', 'symlink /dev/stdin', 'remove /dev/ptmx', 'symlink /dev/ptmx']));
    // Every mount, then the devices, then the root switch, then what works on the container's own paths.
    const pivot = labels.indexOf(`pivot_root ${rootfs}`);
    expect(labels.indexOf('mount devpts on /dev/pts')).toBeLessThan(labels.indexOf('mknod /dev/null'));
    expect(labels.indexOf('symlink /dev/ptmx')).toBeLessThan(pivot);
    expect(labels.slice(pivot + 1, pivot + 3)).toEqual(['mask /proc/acpi', 'mask /proc/asound']);
    expect(find(plan.ops, 'make /proc/sys read-only')).toEqual({ op: 'readonly', target: '/proc/sys', bindSelf: true, label: 'make /proc/sys read-only' });
  });

  it('binds the host nodes instead of mknod in a user namespace', () => {
    const plan = planInit(
      spec((s) => {
        s.linux!.namespaces!.push({ type: 'user' });
        s.linux!.uidMappings = s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      }),
      bundle,
    );
    expect(plan.ops.some((o) => o.op === 'mknod')).toBe(false);
    expect(find(plan.ops, 'create /dev/null')).toMatchObject({ op: 'touch', target: `${rootfs}/dev/null` });
    expect(find(plan.ops, 'bind /dev/null')).toMatchObject({ op: 'bind', source: '/dev/null', target: `${rootfs}/dev/null` });
  });

  it('sets sysctls, the hostname and a read-only root after the root switch', () => {
    const plan = planInit(
      spec((s) => {
        s.linux!.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1000', 'fs.mqueue.msg_max': '20' };
        s.hostname = 'box';
        s.root!.readonly = true;
      }),
      bundle,
      { noPivotRoot: true },
    );
    const labels = plan.ops.map((o) => o.label);
    const move = labels.indexOf(`move ${rootfs} to /`);
    expect(move).toBeGreaterThan(0);
    expect(find(plan.ops, 'set sysctl net.ipv4.ip_forward')).toEqual({ op: 'write', target: '/proc/sys/net/ipv4/ip_forward', data: '1', label: 'set sysctl net.ipv4.ip_forward' });
    expect(labels.indexOf('set sysctl kernel.shmmax')).toBeGreaterThan(move);
    expect(labels.indexOf('make / read-only')).toBeGreaterThan(labels.indexOf('make /proc/sys read-only'));
    expect(labels.at(-1)).toBe('sethostname box');
  });

  it("turns the process into numbers: capability masks, rlimits, candidates, HOME from the image's passwd", () => {
    fs.writeFileSync(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nweb:x:33:33:www:/var/www:/bin/false\n');
    const plan = planInit(
      spec((s) => {
        s.process!.user = { uid: 33, gid: 33, additionalGids: [4], umask: 0o077 };
        s.process!.env = ['PATH=/usr/bin::/bin'];
        s.process!.args = ['nginx', '-g', 'daemon off;'];
        s.process!.capabilities = { bounding: ['CAP_CHOWN', 'CAP_CHECKPOINT_RESTORE'], effective: [], permitted: ['CAP_NET_BIND_SERVICE', 'CAP_KILL'], inheritable: ['CAP_NET_BIND_SERVICE'], ambient: ['CAP_NET_BIND_SERVICE', 'CAP_KILL'] };
        s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 18446744073709551615 }];
        s.process!.oomScoreAdj = -100;
      }),
      bundle,
    );
    const p = plan.process;
    const lastCap = Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
    expect(p.capabilities).toEqual({
      bounding: 2 ** 0 + (lastCap >= 40 ? 2 ** 40 : 0),
      effective: 0,
      permitted: 2 ** 10 + 2 ** 5,
      inheritable: 2 ** 10,
      // CAP_KILL is not inheritable: the kernel would refuse it as ambient, so it is left out as runc leaves it.
      ambient: 2 ** 10,
      lastCap,
    });
    expect(p.rlimits).toEqual([{ resource: c().rlimits.RLIMIT_NOFILE, soft: 1024, hard: 18446744073709551615 }]);
    expect(p.executables).toEqual(['/usr/bin/nginx', './nginx', '/bin/nginx']);
    expect(p.env).toEqual(['PATH=/usr/bin::/bin', 'HOME=/var/www']);
    expect(p).toMatchObject({ uid: 33, gid: 33, additionalGids: [4], umask: 0o077, setgroups: true, noNewPrivileges: true, oomScoreAdj: -100, mountConsole: true });
  });
});

describe('executableCandidates', () => {
  it('is Go exec.LookPath: a name with a slash as it is, any other in each PATH directory, the last PATH winning', () => {
    expect(executableCandidates('./run', ['PATH=/bin'])).toEqual(['./run']);
    expect(executableCandidates('sh', ['PATH=/x', 'PATH=/bin:/usr/bin'])).toEqual(['/bin/sh', '/usr/bin/sh']);
    expect(executableCandidates('sh', [])).toEqual([]);
  });
});

describe.skipIf(process.getuid?.() !== 0)('planExec', () => {
  it('joins each namespace the init does not share with this process', async () => {
    const child = spawn('unshare', ['--uts', '--ipc', 'sleep', '30'], { stdio: 'ignore' });
    try {
      const pid = child.pid!;
      // unshare execs sleep once its namespaces are made.
      for (let i = 0; i < 200 && fs.readlinkSync(`/proc/${pid}/exe`).endsWith('unshare'); i++) await new Promise((r) => setTimeout(r, 5));
      const plan = planExec(pid, spec().process!);
      expect(plan.join).toEqual([
        { type: 'ipc', flag: c().CLONE_NEWIPC, path: `/proc/${pid}/ns/ipc` },
        { type: 'uts', flag: c().CLONE_NEWUTS, path: `/proc/${pid}/ns/uts` },
      ]);
      expect(plan.process.mountConsole).toBe(false);
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('says which init is gone', () => {
    expect(() => planExec(2 ** 22 + 1, spec().process!)).toThrow(/container init 4194305/);
  });
});
