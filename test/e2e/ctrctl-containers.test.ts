// ctrctl's container verbs against a real ctrd, through Debian's containerd-shim-runc-v2 and runc, with the
// test busybox pulled from a real registry by `ctrctl run` itself: run (attached, --rm, -d, exit status, -e -w -u
// --hostname, resource limits), ps, exec, pause/unpause, top, stats, inspect, stop, kill, start, rm, names and
// ID prefixes, and bad input. Every test checks that nothing is left: containers, tasks, shims, mounts, FIFOs.
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ctrctlSuite, explain } from '../harness/ctrctl.js';
import { ctrctlBin, run, TestDaemon } from '../harness/daemon.js';
import { mountsUnder } from '../harness/mounts.js';
import type { TestRegistry } from '../harness/registry.js';
import { runcBinary, shimsOf } from '../harness/tasks.js';


describe.skipIf(!runcBinary || process.getuid?.() !== 0)('ctrctl container verbs', () => {
  const suite = ctrctlSuite('containers');
  let d: TestDaemon;
  let reg: TestRegistry;
  let image: string;
  let work: string;

  beforeAll(async () => {
    ({ d, reg, image, work } = suite);
  }, 120_000);

  const ctl = (args: string[], input?: string) => d.ctrctl(args, { timeoutMs: 20_000, input });

  /** Nothing of any container is left: records, tasks, shims, mounts, FIFO dirs, logs. */
  async function expectNothingLeft(): Promise<void> {
    const ls = await d.ctr(['containers', 'ls', '-q']);
    expect(ls.stdout.trim()).toBe('');
    const tasks = await d.ctr(['tasks', 'ls', '-q']);
    expect(tasks.stdout.trim()).toBe('');
    expect(shimsOf(d.address)).toEqual([]);
    expect(mountsUnder(d.state)).toEqual([]);
    expect(mountsUnder(d.root)).toEqual([]);
    expect(mountsUnder(work)).toEqual([]);
    for (const dir of ['fifo', 'mnt', 'data/default']) {
      const p = path.join(work, dir);
      expect(fs.existsSync(p) ? fs.readdirSync(p) : [], dir).toEqual([]);
    }
    const snaps = await d.ctr(['snapshots', 'ls']);
    expect(snaps.stdout).not.toMatch(/\bActive\b/);
  }

  it('run --rm pulls the image, prints the output, exits 0 and leaves nothing', async () => {
    const r = await ctl(['run', '--rm', image, 'echo', 'hello']);
    expect(r.code, explain(r, d)).toBe(0);
    expect(r.stdout).toBe('hello\n');
    expect(r.stderr).toContain(`Unable to find image '${image}' locally`);
    expect(r.stderr).toContain('Status: Downloaded newer image');
    await expectNothingLeft();
  });

  it('passes the exit status through, and stdin with -i', async () => {
    const r = await ctl(['run', '--rm', image, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r.code, explain(r, d)).toBe(3);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toMatch(/(^|\n)err\n$/);
    const i = await ctl(['run', '--rm', '-i', image, 'wc', '-c'], 'x'.repeat(100_000));
    expect(i.code, explain(i, d)).toBe(0);
    expect(i.stdout.trim()).toBe('100000');
    await expectNothingLeft();
  });

  it('-e, -w, -u, --hostname and --entrypoint are what the process sees', async () => {
    const r = await ctl(['run', '--rm', '-e', 'FOO=bar baz', '-w', '/etc', '-u', 'nobody', '--hostname', 'box1', image, 'sh', '-c', 'echo "$FOO"; pwd; id -u; id -g; hostname']);
    expect(r.code, explain(r, d)).toBe(0);
    expect(r.stdout).toBe('bar baz\n/etc\n65534\n65534\nbox1\n');
    const g = await ctl(['run', '--rm', '-u', '123:456', image, 'sh', '-c', 'id -u; id -g']);
    expect(g.stdout, explain(g, d)).toBe('123\n456\n');
    const e = await ctl(['run', '--rm', '--entrypoint', 'echo', image, 'from', 'entrypoint']);
    expect(e.stdout, explain(e, d)).toBe('from entrypoint\n');
    await expectNothingLeft();
  });

  it('-t gives the process a terminal (ctrctl itself on a pty made by script(1))', async () => {
    const env = { ...process.env, CTRD_ADDRESS: d.address, CTRD_NAMESPACE: 'default' };
    const cmd = `${process.execPath} ${ctrctlBin} run --rm -t ${image} sh -c 'tty; echo $TERM; exit 2'`;
    const r = await run('script', ['-qec', cmd, '/dev/null'], { env, timeoutMs: 60_000 });
    expect(r.code, explain(r, d)).toBe(2);
    expect(r.stdout.replace(/\r/g, '')).toBe('/dev/pts/0\nxterm\n');
    await expectNothingLeft();
  });

  it('-m, --cpus and --pids-limit set the cgroup limits', async () => {
    const r = await ctl(['run', '--rm', '-m', '64m', '--cpus', '0.5', '--pids-limit', '20', image, 'sh', '-c',
      'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max']);
    expect(r.code, explain(r, d)).toBe(0);
    expect(r.stdout).toBe('67108864\n50000\n20\n');
    await expectNothingLeft();
  });

  it('the default seccomp profile, and the flags that confine a container more or less', async () => {
    // The bounding set, NoNewPrivs, the seccomp mode, and whether a user namespace may be made (seccomp's call).
    const probe = [
      'grep -E "^(Seccomp|NoNewPrivs|CapBnd):" /proc/self/status | tr -s "\\t" " "',
      'busybox unshare -U true 2>/dev/null; echo "unshare $?"',
    ].join('; ');
    const fields = async (flags: string[]) => {
      const r = await ctl(['run', '--rm', ...flags, image, 'sh', '-c', probe]);
      expect(r.code, explain(r, d)).toBe(0);
      return r.stdout;
    };
    expect(await fields([])).toBe('CapBnd: 00000000a80425fb\nNoNewPrivs: 0\nSeccomp: 2\nunshare 1\n');
    expect(await fields(['--security-opt', 'seccomp=unconfined'])).toBe('CapBnd: 00000000a80425fb\nNoNewPrivs: 0\nSeccomp: 0\nunshare 0\n');
    expect(await fields(['--cap-add', 'SYS_ADMIN'])).toBe('CapBnd: 00000000a82425fb\nNoNewPrivs: 0\nSeccomp: 2\nunshare 0\n');
    expect(await fields(['--cap-drop', 'ALL', '--security-opt', 'no-new-privileges'])).toBe('CapBnd: 0000000000000000\nNoNewPrivs: 1\nSeccomp: 2\nunshare 1\n');
    // --privileged gives what the host has (a confined host has less than all 41).
    const hostBounding = /^CapBnd:\s*(\w+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1];
    expect(await fields(['--privileged'])).toBe(`CapBnd: ${hostBounding}\nNoNewPrivs: 0\nSeccomp: 0\nunshare 0\n`);
    const profile = path.join(work, 'profile.json');
    fs.writeFileSync(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] }));
    const custom = await ctl(['run', '--rm', '--security-opt', `seccomp=${profile}`, image, 'sh', '-c', 'mkdir /x 2>&1; busybox unshare -U true && echo unshared']);
    expect(custom.stdout, explain(custom, d)).toMatch(/Permission denied\nunshared\n$/);

    const limits = await ctl(['run', '--rm', '--read-only', '--sysctl', 'net.ipv4.ip_forward=1', '--ulimit', 'nofile=100:200', image, 'sh', '-c',
      'touch /x 2>&1; cat /proc/sys/net/ipv4/ip_forward; ulimit -n; ulimit -Hn']);
    expect(limits.code, explain(limits, d)).toBe(0);
    expect(limits.stdout).toMatch(/Read-only file system\n1\n100\n200\n$/);
    await expectNothingLeft();
  });

  it('run -d, then ps, exec, pause/unpause, top, stats, inspect, stop, start, kill and rm', async () => {
    const run = await ctl(['run', '-d', '--name', 'web', '-m', '32m', image, 'sleep', '1000']);
    expect(run.code, explain(run, d)).toBe(0);
    const id = run.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);

    const ps = await ctl(['ps']);
    expect(ps.stdout.split('\n')[0]).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    expect(ps.stdout).toMatch(new RegExp(`^${id.slice(0, 12)}\\s+\\S+\\s+"sleep 1000"\\s+.* ago\\s+Up .*\\s+web$`, 'm'));
    expect((await ctl(['ps', '-q'])).stdout).toBe(`${id.slice(0, 12)}\n`);
    expect((await ctl(['ps', '-q', '--no-trunc'])).stdout).toBe(`${id}\n`);

    const ex = await ctl(['exec', 'web', 'sh', '-c', 'echo in $(hostname); exit 5']);
    expect(ex.code, explain(ex, d)).toBe(5);
    expect(ex.stdout).toBe(`in ${id.slice(0, 12)}\n`);
    const exu = await ctl(['exec', '-u', 'nobody', '-e', 'A=1', '-w', '/etc', id.slice(0, 8), 'sh', '-c', 'echo $A $(id -u) $(pwd)']);
    expect(exu.stdout, explain(exu, d)).toBe('1 65534 /etc\n');

    expect((await ctl(['pause', 'web'])).code).toBe(0);
    expect((await ctl(['ps', '--format', '{{.Names}} {{.State}} {{.Status}}'])).stdout).toMatch(/^web paused Up .* \(Paused\)$/m);
    expect((await ctl(['unpause', 'web'])).code).toBe(0);
    expect((await ctl(['ps', '--format', '{{.State}}'])).stdout).toBe('running\n');

    const top = await ctl(['top', 'web']);
    expect(top.code, explain(top, d)).toBe(0);
    expect(top.stdout).toMatch(/^UID\s+PID\s+PPID/);
    expect(top.stdout).toContain('sleep 1000');
    expect(top.stdout.trim().split('\n')).toHaveLength(2);

    const stats = await ctl(['stats', '--no-stream']);
    expect(stats.code, explain(stats, d)).toBe(0);
    expect(stats.stdout).toMatch(/^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/m);
    expect(stats.stdout).toMatch(new RegExp(`^${id.slice(0, 12)}\\s+web\\s+\\d+\\.\\d\\d%\\s+\\S+ / 32MiB\\s+\\S+%.*\\s1$`, 'm'));

    const insp = await ctl(['inspect', 'web']);
    expect(insp.code, explain(insp, d)).toBe(0);
    const [obj] = JSON.parse(insp.stdout) as Array<Record<string, any>>;
    expect(obj!.Id).toBe(id);
    expect(obj!.Name).toBe('/web');
    expect(obj!.State).toMatchObject({ Status: 'running', Running: true, Paused: false, ExitCode: 0 });
    expect(obj!.State.Pid).toBeGreaterThan(0);
    expect(obj!.Config).toMatchObject({ Cmd: ['sleep', '1000'], Entrypoint: null, WorkingDir: '/', Hostname: id.slice(0, 12), Image: image });
    expect(obj!.HostConfig).toMatchObject({ Memory: 32 * 1024 * 1024, NanoCpus: 0, Runtime: 'io.containerd.runc.v2' });
    expect(obj!.Spec.linux.cgroupsPath).toBe(`/default/${id}`);
    expect((await ctl(['inspect', '-f', '{{.State.Status}} {{.Name}}', id.slice(0, 6)])).stdout).toBe('running /web\n');

    // sleep as pid 1 ignores SIGTERM: stop sends SIGKILL after the timeout.
    const t0 = Date.now();
    const stop = await ctl(['stop', '-t', '1', 'web']);
    expect(stop.code, explain(stop, d)).toBe(0);
    expect(stop.stdout).toBe('web\n');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect((await ctl(['ps', '-q'])).stdout).toBe('');
    expect((await ctl(['ps', '-a', '--format', '{{.Names}} {{.Status}}'])).stdout).toMatch(/^web Exited \(137\) .* ago$/m);
    expect(shimsOf(d.address)).toEqual([]);

    expect((await ctl(['start', 'web'])).stdout).toBe('web\n');
    expect((await ctl(['ps', '--format', '{{.Names}} {{.State}}'])).stdout).toBe('web running\n');
    const kill = await ctl(['kill', '-s', 'TERM', 'web']);
    expect(kill.code, explain(kill, d)).toBe(0);
    const rmRunning = await ctl(['rm', 'web']);
    expect(rmRunning.code).toBe(1);
    expect(rmRunning.stderr).toContain('container is running');
    const rm = await ctl(['rm', '-f', 'web']);
    expect(rm.code, explain(rm, d)).toBe(0);
    expect(rm.stdout).toBe('web\n');
    await expectNothingLeft();
  });

  it('names, ID prefixes and unknown containers', async () => {
    const a = await ctl(['create', '--name', 'alpha', image, 'true']);
    expect(a.code, explain(a, d)).toBe(0);
    const id = a.stdout.trim();
    const dup = await ctl(['create', '--name', 'alpha', image, 'true']);
    expect(dup.code).toBe(125);
    expect(dup.stderr).toContain(`Conflict. The container name "/alpha" is already in use by container "${id}"`);
    const gen = await ctl(['create', image, 'true']);
    const genId = gen.stdout.trim();
    const names = (await ctl(['ps', '-a', '--format', '{{.Names}} {{.Status}}'])).stdout.trim().split('\n').sort();
    expect(names).toHaveLength(2);
    expect(names).toContain('alpha Created');
    expect(names.find((n) => n !== 'alpha Created')).toMatch(/^[a-z]+_[a-z]+ Created$/);

    expect((await ctl(['inspect', '-f', '{{.Id}}', id.slice(0, 10)])).stdout).toBe(`${id}\n`);
    const missing = await ctl(['inspect', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('No such object: nope');
    expect((await ctl(['container', 'inspect', 'nope'])).stderr).toContain('No such container: nope');
    // The top-level inspect finds images too, unless --type says otherwise.
    expect((await ctl(['inspect', '-f', '{{.Os}}', image])).stdout).toBe('linux\n');
    const typed = await ctl(['inspect', '--type', 'container', image]);
    expect(typed.code).toBe(1);
    expect(typed.stderr).toContain(`No such container: ${image}`);
    const badKill = await ctl(['kill', '-s', 'NOPE', 'alpha']);
    expect(badKill.code).toBe(1);
    expect(badKill.stderr).toContain('invalid signal: NOPE');

    // start -a of a created container runs it attached.
    const sa = await ctl(['start', '-a', 'alpha']);
    expect(sa.code, explain(sa, d)).toBe(0);
    expect((await ctl(['wait', 'alpha'])).stdout).toBe('0\n');

    const rm = await ctl(['rm', 'alpha', genId, 'nope']);
    expect(rm.code).toBe(1);
    expect(rm.stdout).toBe(`alpha\n${genId}\n`);
    expect(rm.stderr).toContain('No such container: nope');
    await expectNothingLeft();
  });

  it('bad input is a clear error and leaves nothing behind', async () => {
    const mem = await ctl(['run', '--rm', '-m', '12x', image, 'true']);
    expect(mem.code).toBe(125);
    expect(mem.stderr).toContain("invalid size: '12x'");
    const small = await ctl(['run', '--rm', '-m', '1m', image, 'true']);
    expect(small.stderr).toContain('Minimum memory limit allowed is 6MB');
    const unknown = await ctl(['run', '--rm', `${reg.host}/test/nothing:here`, 'true']);
    expect(unknown.code).toBe(125);
    expect(unknown.stderr).toMatch(/not found/i);
    const noCmd = await ctl(['run', '--rm', image, '/no/such/binary']);
    expect(noCmd.code).toBe(127);
    expect(noCmd.stderr).toMatch(/no such file or directory|not found/i);
    const badRuntime = await ctl(['run', '--rm', '--runtime', 'io.containerd.nope.v9', image, 'true']);
    expect(badRuntime.code).toBe(125);
    expect(badRuntime.stderr).toContain('io.containerd.nope.v9');
    for (const [flags, message] of [
      [['--cap-add', 'nope'], 'invalid argument "nope" for "--cap-add" flag: unknown capability: "CAP_NOPE"'],
      [['--security-opt', 'bogus'], 'invalid --security-opt: "bogus"'],
      [['--security-opt', 'seccomp=/no/such/profile.json'], 'opening seccomp profile (/no/such/profile.json) failed'],
      [['--sysctl', 'kernel.hostname=x'], `sysctl 'kernel.hostname=x' is not allowed`],
      [['--ulimit', 'nofile=2:1'], 'ulimit soft limit must be less than or equal to hard limit: 2 > 1'],
      [['-p', '80:abc'], 'invalid containerPort: abc'],
      [['-p', '8080:80/icmp'], 'invalid proto: icmp'],
      [['--network', 'none', '-p', '8080:80'], 'conflicting options: port publishing and the container type network mode'],
    ]) {
      const r = await ctl(['run', '--rm', ...flags!, image, 'true']);
      expect(r.code, explain(r, d)).toBe(125);
      expect(r.stderr).toContain(message);
    }
    await expectNothingLeft();
  });
});
