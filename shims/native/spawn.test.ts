// The native backend's process creation against the real kernel, as root: containers made from a spec shaped
// like containerd's default (cli/ctrctl/spec.ts) over a busybox rootfs, checked from inside by what they print.
// The test process is the parent of what it spawns: it reaps them itself (there is no shim reaper here).
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tty from 'node:tty';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultSpec } from '../../lib/oci/default-spec.js';
import { native } from '../../lib/native.js';
import { mountsUnder } from '../../test/harness/mounts.js';
import { haveBusybox, makeBusyboxRoot } from '../../test/harness/shim.js';
import { children } from '../reaper.js';
import type { OciProcessJson, OciSpecJson } from './spec-types.js';
import { spawnExec, spawnInit, type SpawnedProcess, type SpawnOptions } from './spawn.js';

const asRoot = process.getuid?.() === 0;
const pids: number[] = [];
const dirs: string[] = [];

function bundleWith(edit: (spec: OciSpecJson, where: { dir: string; bundle: string; rootfs: string }) => void = () => {}): { bundle: string; spec: OciSpecJson } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrd-native-'));
  dirs.push(dir);
  const bundle = path.join(dir, 'bundle');
  makeBusyboxRoot(path.join(bundle, 'rootfs'));
  const spec = defaultSpec('test', path.basename(dir)) as unknown as OciSpecJson;
  spec.hostname = 'box';
  spec.process!.args = ['true'];
  edit(spec, { dir, bundle, rootfs: path.join(bundle, 'rootfs') });
  return { bundle, spec };
}

/** Waits for a child of this process to exit and reaps it: its status (exit code, or 128 + signal). */
async function reap(pid: number, ms = 10_000): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = native().waitpid(pid);
    if (r) {
      pids.splice(pids.indexOf(pid), 1);
      return r.status;
    }
    if (Date.now() > deadline) throw new Error(`process ${pid} did not exit`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A pipe for stdout and stderr: the child's end goes to the spawn, ours collects until EOF. */
function outputPipe(): { fd: number; text: Promise<string>; closeChildEnd(): void } {
  const [r, w] = native().pipe();
  const reader = new net.Socket({ fd: r, readable: true, writable: false });
  let text = '';
  reader.on('data', (b: Buffer) => (text += b.toString()));
  const done = new Promise<string>((resolve) => reader.once('close', () => resolve(text)));
  return { fd: w, text: done, closeChildEnd: () => fs.closeSync(w) };
}

function track(p: SpawnedProcess): SpawnedProcess {
  pids.push(p.pid);
  return p;
}

/** Spawns with stdout and stderr into one pipe, whose child end is closed once the child holds it. */
function spawnCapturing(spawn: (stdio: SpawnOptions['stdio']) => SpawnedProcess): { p: SpawnedProcess; text: Promise<string> } {
  const out = outputPipe();
  try {
    return { p: track(spawn(['null', out.fd, out.fd])), text: out.text };
  } finally {
    out.closeChildEnd();
  }
}

/** Runs the spec's init to its end: what it printed and its exit status. */
async function run(spec: OciSpecJson, bundle: string, opts: Partial<SpawnOptions> & { noPivotRoot?: boolean } = {}): Promise<{ out: string; status: number }> {
  const { p, text } = spawnCapturing((stdio) => spawnInit(spec, bundle, { stdio, ...opts }));
  p.proceed();
  await p.ready();
  await p.release();
  const status = await reap(p.pid);
  return { out: await text, status };
}

afterEach(async () => {
  for (const pid of [...pids]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
    await reap(pid);
  }
  for (const dir of dirs.splice(0)) {
    expect(mountsUnder(dir)).toEqual([]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** /proc/self/status as a map. */
function status(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(':\t');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 2).trim();
  }
  return out;
}

/** A capability set as /proc/self/status prints it. */
function capMask(names: readonly string[]): string {
  let mask = 0n;
  for (const n of names) mask |= 1n << BigInt(native().containerConstants.capabilities[n]!);
  return mask.toString(16).padStart(16, '0');
}

/** The rootfs owned by the user namespace's root, and the path to it searchable by that root (mkdtemp makes 0700). */
function giveToUserNamespace(rootfs: string, uid: number): void {
  chownTree(rootfs, uid, uid);
  for (let d = path.dirname(rootfs); d !== os.tmpdir(); d = path.dirname(d)) fs.chmodSync(d, 0o755);
}

function chownTree(dir: string, uid: number, gid: number): void {
  fs.lchownSync(dir, uid, gid);
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) chownTree(p, uid, gid);
    else fs.lchownSync(p, uid, gid);
  }
}

/** Waits a little and tells whether a pid's program is still the one clone copied (it has not exec'd). */
function notExecd(pid: number): boolean {
  return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') === fs.readFileSync('/proc/self/cmdline', 'utf8');
}

const defaultCaps = (defaultSpec('x', 'y').process.capabilities!.bounding as string[]).slice();

describe.skipIf(!asRoot || !haveBusybox)('spawnInit', () => {
  it('runs the process as pid 1 of its own namespaces with the spec capabilities, no new privileges, and only fds 0-2', async () => {
    const { bundle, spec } = bundleWith((s) => {
      s.process!.args = ['sh', '-c', 'echo pid=$$; hostname; cat /proc/self/status; ls /proc/self/fd; for n in pid ipc uts mnt net; do /bin/busybox readlink /proc/self/ns/$n; done'];
    });
    const { out, status: code } = await run(spec, bundle);
    expect(code).toBe(0);
    expect(out).toMatch(/^pid=1\nbox\n/);
    const st = status(out);
    const caps = capMask(defaultCaps);
    expect({ eff: st.CapEff, prm: st.CapPrm, bnd: st.CapBnd, inh: st.CapInh, amb: st.CapAmb }).toEqual({ eff: caps, prm: caps, bnd: caps, inh: '0000000000000000', amb: '0000000000000000' });
    expect(st.NoNewPrivs).toBe('1');
    // Node ignores SIGPIPE; the container must not inherit that.
    expect(st.SigIgn).toBe('0000000000000000');
    expect(st.SigBlk).toBe('0000000000000000');
    const fds = out.split('\n').filter((l) => /^\d+$/.test(l));
    expect(fds.filter((fd) => !['0', '1', '2', '3'].includes(fd))).toEqual([]); // 3: ls's own directory
    for (const n of ['pid', 'ipc', 'uts', 'mnt', 'net']) {
      const host = fs.readlinkSync(`/proc/self/ns/${n}`);
      expect(out).toContain(`${n}:[`);
      expect(out).not.toContain(host);
    }
  });

  it('sets the user, groups, cwd, env, HOME from /etc/passwd, umask, rlimits and ambient capabilities', async () => {
    const { bundle, spec } = bundleWith((s, { rootfs }) => {
      fs.writeFileSync(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n');
      s.process!.user = { uid: 1000, gid: 1000, additionalGids: [10, 1000], umask: 0o027 };
      s.process!.cwd = '/tmp';
      s.process!.env = ['PATH=/bin', 'FOO=bar baz'];
      s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 512, hard: 1024 }];
      s.process!.capabilities = { bounding: [...defaultCaps], permitted: ['CAP_NET_BIND_SERVICE'], effective: ['CAP_NET_BIND_SERVICE'], inheritable: ['CAP_NET_BIND_SERVICE'], ambient: ['CAP_NET_BIND_SERVICE'] };
      s.process!.args = ['sh', '-c', 'pwd; echo "foo=$FOO home=$HOME"; umask; ulimit -n; ulimit -Hn; cat /proc/self/status'];
    });
    const { out, status: code } = await run(spec, bundle);
    expect(code).toBe(0);
    expect(out).toMatch(/^\/tmp\nfoo=bar baz home=\/home\/user\n0027\n512\n1024\n/);
    const st = status(out);
    expect(st.Uid).toBe('1000\t1000\t1000\t1000');
    expect(st.Gid).toBe('1000\t1000\t1000\t1000');
    expect(st.Groups).toBe('10 1000');
    const bind = capMask(['CAP_NET_BIND_SERVICE']);
    expect({ eff: st.CapEff, prm: st.CapPrm, inh: st.CapInh, amb: st.CapAmb, bnd: st.CapBnd }).toEqual({ eff: bind, prm: bind, inh: bind, amb: bind, bnd: capMask(defaultCaps) });
    expect(st.NoNewPrivs).toBe('1');
  });

  it('applies sysctls in its own ipc and network namespaces, masks paths and makes /proc/sys read-only', async () => {
    const { bundle, spec } = bundleWith((s) => {
      s.linux!.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '123456789' };
      s.process!.args = ['sh', '-c', 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax; echo "[$(cat /proc/timer_list)]"; echo "[$(ls /proc/acpi)]"; echo 0 > /proc/sys/net/ipv4/ip_forward'];
    });
    const hostForward = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    const hostShmmax = fs.readFileSync('/proc/sys/kernel/shmmax', 'utf8');
    const { out, status: code } = await run(spec, bundle);
    expect(out).toMatch(/^1\n123456789\n\[\]\n\[\]\n.*Read-only file system/);
    expect(code).not.toBe(0);
    expect(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe(hostForward);
    expect(fs.readFileSync('/proc/sys/kernel/shmmax', 'utf8')).toBe(hostShmmax);
  });

  it('bind mounts host directories and files, read-only when asked', async () => {
    const { bundle, spec } = bundleWith((s, { dir }) => {
      for (const d of ['ro', 'rw']) fs.mkdirSync(path.join(dir, d));
      fs.writeFileSync(path.join(dir, 'motd'), 'hello from the host\n');
      s.mounts!.push(
        { destination: '/data/ro', type: 'bind', source: path.join(dir, 'ro'), options: ['rbind', 'ro'] },
        { destination: '/data/rw', type: 'bind', source: path.join(dir, 'rw'), options: ['rbind', 'rw', 'nosuid'] },
        { destination: '/etc/motd', type: 'bind', source: path.join(dir, 'motd'), options: ['bind', 'ro'] },
      );
      s.process!.args = ['sh', '-c', 'echo x > /data/rw/file && echo rw ok; echo x > /data/ro/file; cat /etc/motd'];
    });
    const { out } = await run(spec, bundle);
    expect(out).toMatch(/^rw ok\n.*\/data\/ro\/file: Read-only file system\nhello from the host\n$/);
    const dir = path.dirname(bundle);
    expect(fs.readFileSync(path.join(dir, 'rw', 'file'), 'utf8')).toBe('x\n');
    expect(fs.existsSync(path.join(dir, 'ro', 'file'))).toBe(false);
  });

  it('keeps a read-only root read-only, its tmpfs mounts writable', async () => {
    const { bundle, spec } = bundleWith((s) => {
      s.root!.readonly = true;
      s.process!.args = ['sh', '-c', 'echo x > /tmp/file; echo x > /dev/shm/file && echo shm ok'];
    });
    const { out } = await run(spec, bundle);
    expect(out).toMatch(/\/tmp\/file: Read-only file system\nshm ok\n$/);
    expect(fs.existsSync(path.join(bundle, 'rootfs', 'tmp', 'file'))).toBe(false);
  });

  it('maps ids in a new user namespace before the process goes on', async () => {
    const { bundle, spec } = bundleWith((s, { rootfs }) => {
      giveToUserNamespace(rootfs, 100000);
      s.linux!.namespaces!.push({ type: 'user' });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.process!.args = ['sh', '-c', 'cat /proc/self/uid_map /proc/self/gid_map; cat /proc/self/status; ls /dev'];
    });
    const { p, text } = spawnCapturing((stdio) => spawnInit(spec, bundle, { stdio }));
    // Mapped by spawnInit itself, before it returned.
    expect(fs.readFileSync(`/proc/${p.pid}/uid_map`, 'utf8').trim().split(/\s+/)).toEqual(['0', '100000', '65536']);
    p.proceed();
    await p.ready();
    expect(status(fs.readFileSync(`/proc/${p.pid}/status`, 'utf8')).Uid).toBe('100000\t100000\t100000\t100000');
    await p.release();
    expect(await reap(p.pid)).toBe(0);
    const output = await text;
    const lines = output.split('\n');
    expect(lines[0]!.trim().split(/\s+/)).toEqual(['0', '100000', '65536']);
    expect(lines[1]!.trim().split(/\s+/)).toEqual(['0', '100000', '65536']);
    expect(status(output).Uid).toBe('0\t0\t0\t0');
    expect(output).toContain('null\n'); // the host's node, bound
  });

  it('holds the process before execve until release(), and close() lets it go without running', async () => {
    const { bundle, spec } = bundleWith((s) => {
      s.process!.args = ['sh', '-c', 'echo ran'];
    });
    const { p, text } = spawnCapturing((stdio) => spawnInit(spec, bundle, { stdio }));
    p.proceed();
    await p.ready();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(notExecd(p.pid)).toBe(true);
    p.close();
    expect(await reap(p.pid)).toBe(0);
    expect(await text).toBe('');
    await expect(p.release()).rejects.toThrow(/closed before it ran/);

    const second = bundleWith((s) => {
      s.process!.args = ['sh', '-c', 'echo ran'];
    });
    expect((await run(second.spec, second.bundle)).out).toBe('ran\n');
  });

  it("fails ready() with runc's words when the executable is missing", async () => {
    const { bundle, spec } = bundleWith((s) => {
      s.process!.args = ['nonexistent'];
    });
    const p = track(spawnInit(spec, bundle, { stdio: ['null', 'null', 'null'] }));
    p.proceed();
    await expect(p.ready()).rejects.toMatchObject({ kind: 'invalid-argument', message: 'exec: "nonexistent": executable file not found in $PATH' });
    expect(await reap(p.pid)).toBe(1);

    spec.process!.args = ['/bin/nope'];
    const q = track(spawnInit(spec, bundle, { stdio: ['null', 'null', 'null'] }));
    q.proceed();
    await expect(q.ready()).rejects.toMatchObject({ kind: 'invalid-argument', message: 'exec: "/bin/nope": stat /bin/nope: no such file or directory' });
    expect(await reap(q.pid)).toBe(1);
  });

  it('names the failed step, its path and the errno', async () => {
    const { bundle, spec } = bundleWith((s) => {
      s.mounts!.push({ destination: '/mnt/x', type: 'nosuchfs', source: 'thing', options: [] });
    });
    const p = track(spawnInit(spec, bundle, { stdio: ['null', 'null', 'null'] }));
    p.proceed();
    await expect(p.ready()).rejects.toMatchObject({ kind: 'unknown', message: 'mount thing on /mnt/x: ENODEV (no such device)' });
    expect(await reap(p.pid)).toBe(1);
  });

  it('refuses a rootfs whose /proc is a symlink, before anything is cloned', () => {
    const { bundle, spec } = bundleWith((_, { rootfs }) => {
      fs.rmdirSync(path.join(rootfs, 'proc'));
      fs.symlinkSync('/', path.join(rootfs, 'proc'));
    });
    expect(() => spawnInit(spec, bundle, { stdio: ['null', 'null', 'null'] })).toThrow(expect.objectContaining({ kind: 'invalid-argument', message: 'filesystem "proc" must be mounted on ordinary directory' }));
  });

  it("joins another container's namespaces by path, its pid namespace through an intermediate process", async () => {
    const first = bundleWith((s) => {
      s.process!.args = ['sleep', '1000'];
    });
    const sandbox = track(spawnInit(first.spec, first.bundle, { stdio: ['null', 'null', 'null'] }));
    sandbox.proceed();
    await sandbox.ready();
    await sandbox.release();
    const { bundle, spec } = bundleWith((s) => {
      s.hostname = undefined;
      s.linux!.namespaces = [
        { type: 'pid', path: `/proc/${sandbox.pid}/ns/pid` },
        { type: 'network', path: `/proc/${sandbox.pid}/ns/net` },
        { type: 'ipc', path: `/proc/${sandbox.pid}/ns/ipc` },
        { type: 'uts' },
        { type: 'mount' },
      ];
      s.process!.args = ['sh', '-c', 'echo pid=$$; cat /proc/1/cmdline; echo; for n in pid net ipc uts; do /bin/busybox readlink /proc/self/ns/$n; done'];
    });
    const { out, status: code } = await run(spec, bundle);
    expect(code).toBe(0);
    const lines = out.split('\n');
    expect(lines[0]).not.toBe('pid=1');
    expect(lines[1]).toBe('sleep\u00001000\u0000');
    for (const n of ['pid', 'net', 'ipc']) expect(out).toContain(fs.readlinkSync(`/proc/${sandbox.pid}/ns/${n}`));
    expect(out).not.toContain(fs.readlinkSync(`/proc/${sandbox.pid}/ns/uts`));
  });

  it('fails at once when a namespace cannot be joined, and leaves no intermediate process behind', () => {
    let notNamespace = '';
    const { bundle, spec } = bundleWith((s, { rootfs }) => {
      notNamespace = path.join(rootfs, 'bin', 'busybox');
      s.linux!.namespaces![4] = { type: 'network', path: notNamespace };
    });
    const before = children();
    expect(() => spawnInit(spec, bundle, { stdio: ['null', 'null', 'null'] })).toThrow(
      expect.objectContaining({ kind: 'unknown', message: `join network namespace ${notNamespace}: EINVAL (invalid argument)` }),
    );
    expect(children()).toEqual(before);
  });

  it('makes the root shared when rootfsPropagation says so', async () => {
    const { bundle, spec } = bundleWith((s) => {
      s.linux!.rootfsPropagation = 'rshared';
      s.process!.args = ['sh', '-c', 'cat /proc/self/mountinfo'];
    });
    const { out, status: code } = await run(spec, bundle);
    expect(code).toBe(0);
    expect(out.split('\n').find((l) => l.split(' ')[4] === '/')).toMatch(/ shared:\d+/);
  });

  it('moves the root and chroots with noPivotRoot', async () => {
    const { bundle, spec } = bundleWith((s) => {
      s.process!.args = ['sh', '-c', 'echo pid=$$; ls /'];
    });
    const { out, status: code } = await run(spec, bundle, { noPivotRoot: true });
    expect(code).toBe(0);
    expect(out).toMatch(/^pid=1\nbin\ndev\netc\nproc\nrun\nsys\ntmp\n$/);
  });

  it('gives the process a pty from its own devpts, the master over the console socket', async () => {
    const { bundle, spec } = bundleWith((s) => {
      s.process!.terminal = true;
      s.process!.consoleSize = { height: 30, width: 100 };
      s.process!.args = ['sh', '-c', 'tty; stty size; ls -l /dev/console'];
    });
    const socketPath = path.join(path.dirname(bundle), 'console.sock');
    const listener = native().consoleSocket(socketPath);
    try {
      const p = track(spawnInit(spec, bundle, { stdio: ['null', 'null', 'null'], consoleSocket: socketPath }));
      p.proceed();
      await p.ready();
      const master = native().receiveFd(listener);
      const stream = new tty.ReadStream(master);
      let text = '';
      stream.on('data', (b: Buffer) => (text += b.toString()));
      const done = new Promise<void>((resolve) => {
        stream.on('error', () => resolve()); // EIO: the last slave is closed
        stream.on('close', () => resolve());
      });
      await p.release();
      expect(await reap(p.pid)).toBe(0);
      await done;
      stream.destroy();
      expect(text).toMatch(/^\/dev\/pts\/0\r\n30 100\r\n/);
      expect(text).toMatch(/^c.* 136, +0 .*\/dev\/console\r$/m); // the pty, bound on it
    } finally {
      fs.closeSync(listener);
      fs.rmSync(socketPath, { force: true });
    }
  });

  it.skipIf(process.arch !== 'x64')('loads a seccomp filter, with and without no_new_privs', async () => {
    // symlink(2) and symlinkat(2) (88 and 266 on x86_64) fail with EPERM; everything else is allowed.
    const filter = Buffer.alloc(5 * 8);
    const insn = (i: number, code: number, jt: number, jf: number, k: number) => {
      filter.writeUInt16LE(code, i * 8);
      filter.writeUInt8(jt, i * 8 + 2);
      filter.writeUInt8(jf, i * 8 + 3);
      filter.writeUInt32LE(k, i * 8 + 4);
    };
    insn(0, 0x20, 0, 0, 0); // ld [nr]
    insn(1, 0x15, 1, 0, 88); // jeq symlink
    insn(2, 0x15, 0, 1, 266); // jeq symlinkat
    insn(3, 0x06, 0, 0, 0x00050000 | 1); // ret ERRNO(EPERM)
    insn(4, 0x06, 0, 0, 0x7fff0000); // ret ALLOW
    for (const noNewPrivileges of [true, false]) {
      const { bundle, spec } = bundleWith((s) => {
        s.process!.noNewPrivileges = noNewPrivileges;
        s.process!.args = ['sh', '-c', '/bin/busybox ln -s a /tmp/b; cat /proc/self/status'];
      });
      const { out } = await run(spec, bundle, { seccomp: filter });
      expect(out).toMatch(/^ln: \/tmp\/b: Operation not permitted\n/);
      expect(status(out).Seccomp).toBe('2');
      expect(status(out).NoNewPrivs).toBe(noNewPrivileges ? '1' : '0');
    }
  });

  it('spawns a held `true` and runs it in a few milliseconds', async () => {
    const { bundle, spec } = bundleWith();
    const times: number[] = [];
    for (let i = 0; i < 25; i++) {
      const start = performance.now();
      const p = track(spawnInit(spec, bundle, { stdio: ['null', 'null', 'null'] }));
      p.proceed();
      await p.ready();
      await p.release();
      times.push(performance.now() - start);
      await reap(p.pid);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)]!;
    console.log(`spawnInit + proceed + ready + release of true: median ${median.toFixed(1)} ms, best ${times[0]!.toFixed(1)} ms (rss ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB)`);
    expect(median).toBeLessThan(100);
  });
});

describe.skipIf(!asRoot || !haveBusybox)('spawnExec', () => {
  async function startInit(edit: (spec: OciSpecJson, rootfs: string) => void = () => {}): Promise<{ init: SpawnedProcess; spec: OciSpecJson }> {
    const { bundle, spec } = bundleWith((s, { rootfs }) => {
      s.process!.args = ['sleep', '1000'];
      edit(s, rootfs);
    });
    const init = track(spawnInit(spec, bundle, { stdio: ['null', 'null', 'null'] }));
    init.proceed();
    await init.ready();
    await init.release();
    return { init, spec };
  }

  async function exec(initPid: number, process: OciProcessJson): Promise<{ out: string; status: number }> {
    const { p, text } = spawnCapturing((stdio) => spawnExec(initPid, process, { stdio }));
    p.proceed();
    await p.ready();
    await p.release();
    const code = await reap(p.pid);
    return { out: await text, status: code };
  }

  it("joins the init's namespaces and sees it as pid 1", async () => {
    const { init, spec } = await startInit();
    const { out, status: code } = await exec(init.pid, {
      ...spec.process!,
      args: ['sh', '-c', 'echo pid=$$; cat /proc/1/cmdline; echo; hostname; for n in pid ipc uts mnt net; do /bin/busybox readlink /proc/self/ns/$n; done; cat /proc/self/status'],
    });
    expect(code).toBe(0);
    const lines = out.split('\n');
    expect(lines[0]).not.toBe('pid=1');
    expect(lines[1]).toBe('sleep\u00001000\u0000');
    expect(lines[2]).toBe('box');
    for (const n of ['pid', 'ipc', 'uts', 'mnt', 'net']) expect(out).toContain(fs.readlinkSync(`/proc/${init.pid}/ns/${n}`));
    expect(status(out).CapEff).toBe(capMask(defaultCaps));
    expect(status(out).NoNewPrivs).toBe('1');
  });

  it('joins a user namespace too', async () => {
    const { init, spec } = await startInit((s, rootfs) => {
      giveToUserNamespace(rootfs, 100000);
      s.linux!.namespaces!.push({ type: 'user' });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    });
    const { out, status: code } = await exec(init.pid, { ...spec.process!, user: { uid: 1000, gid: 1000 }, args: ['sh', '-c', 'cat /proc/self/uid_map; /bin/busybox readlink /proc/self/ns/user; cat /proc/self/status'] });
    expect(code).toBe(0);
    expect(out.split('\n')[0]!.trim().split(/\s+/)).toEqual(['0', '100000', '65536']);
    expect(out).toContain(fs.readlinkSync(`/proc/${init.pid}/ns/user`));
    expect(status(out).Uid).toBe('1000\t1000\t1000\t1000');
  });

  it('gives an exec with a terminal its own pty from the container', async () => {
    const { init, spec } = await startInit();
    const socketPath = path.join(dirs.at(-1)!, 'exec-console.sock');
    const listener = native().consoleSocket(socketPath);
    try {
      const p = track(spawnExec(init.pid, { ...spec.process!, terminal: true, args: ['sh', '-c', 'tty; echo pid=$$'] }, { stdio: ['null', 'null', 'null'], consoleSocket: socketPath }));
      p.proceed();
      await p.ready();
      const stream = new tty.ReadStream(native().receiveFd(listener));
      let text = '';
      stream.on('data', (b: Buffer) => (text += b.toString()));
      const done = new Promise<void>((resolve) => {
        stream.on('error', () => resolve());
        stream.on('close', () => resolve());
      });
      expect(await reap(p.pid)).toBe(0);
      await done;
      stream.destroy();
      expect(text).toMatch(/^\/dev\/pts\/0\r\npid=\d+\r\n$/);
    } finally {
      fs.closeSync(listener);
      fs.rmSync(socketPath, { force: true });
    }
  });

  it("fails with runc's words when the executable is missing", async () => {
    const { init, spec } = await startInit();
    const p = track(spawnExec(init.pid, { ...spec.process!, args: ['nonexistent'] }, { stdio: ['null', 'null', 'null'] }));
    p.proceed();
    await expect(p.release()).rejects.toMatchObject({ kind: 'invalid-argument', message: 'exec: "nonexistent": executable file not found in $PATH' });
    expect(await reap(p.pid)).toBe(1);
  });
});
