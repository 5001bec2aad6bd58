// The task flows of the stock `ctr` against a real ctrd, for one shim/runtime choice: run --rm, exit codes,
// stdin and CloseIO, Tasks.Update, a detached task through ls/ps/exec/pause/resume/metrics/kill/rm, a pty,
// isolation, an OOM kill, bad input, a shim killed under the daemon, a daemon killed under its shims, and
// 200 cycles that leave nothing behind.
// Each *.test.ts that calls describeTaskFlows picks the runtime (ctrd's shim, Debian's Go shim, a runc binary).
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, TestDaemon, waitFor, type CtrEvents } from '../harness/daemon.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { pushBusybox, type PushedBusybox } from '../harness/images.js';
import { mountsUnder } from '../harness/mounts.js';
import { cgroupsOf, loggedShimPids, memoryLimit, openFds, parentOf, shimsOf, stopTaskDaemon } from '../harness/tasks.js';
import { expectKind, rejectionOf } from '../harness/errors.js';
import { isAlive } from '../../lib/process.js';
import { unary, type Clients } from '../../lib/grpc/client.js';

export interface TaskFlowOptions {
  /** ctr run flags that choose the runtime: ['--runtime', '/abs/shim'], ['--runc-binary', 'crun'], or []. */
  runArgs: string[];
  /** ctr containers create flags for the same choice, where they differ (it has no --runc-binary); default runArgs. */
  createArgs?: string[];
  /** The runtime name or path given to Containers.Create by the gRPC-level tests. */
  runtime: string;
  /** The long ones (restart with 20 tasks, 200 cycles) run for the default runtime only. */
  heavy?: boolean;
  /** Extra daemon flags, e.g. a --config with a [runtimes] table. */
  daemonArgs?: string[];
  /** The runtime puts every task of the namespace in one shim (ctrd's shim, [runtimes] group "namespace"). */
  sharedShim?: boolean;
}

// Each flow file has a namespace of its own: cgroups are /<ns>/<id>, and test files run side by side.
const nsOf = (label: string) => `flows-${label.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}-${process.pid}`.replace(/-+/g, '-');
const specUrl = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';

export function describeTaskFlows(label: string, o: TaskFlowOptions): void {
  describe(`ctr tasks through ${label}`, () => {
    const ns = nsOf(label);
    let d: TestDaemon;
    let reg: TestRegistry;
    let busybox: PushedBusybox;
    let events: CtrEvents;
    /** Every task id used, for the leftover check at the end. */
    const usedIds = new Set<string>(['bad-json', 'bad-noproc', 'bad-runtime', 'bad-shim', 'bad-mount', 'bad-cmd', 'cyc']);
    let c: Clients;
    let image: string;

    const ctr = (args: string[], timeoutMs = 60_000) => d.ctr(args, { namespace: ns, timeoutMs });
    // ctr's FIFOs go in the test's own dir: `ctr run -d` leaves its FIFO dir behind, as containerd's does.
    const fifoDir = () => path.join(d.dir, 'fifo');
    const ctrRun = (args: string[], timeoutMs = 60_000) => ctr(['run', '--fifo-dir', fifoDir(), ...o.runArgs, ...args], timeoutMs);
    const ctrExec = (args: string[]) => ctr(['tasks', 'exec', '--fifo-dir', fifoDir(), ...args]);
    const taskStatus = async (id: string): Promise<string | undefined> => {
      const ls = await ctr(['tasks', 'ls']);
      expect(ls.code, ls.stderr).toBe(0);
      return ls.stdout
        .split('\n')
        .map((l) => l.trim().split(/\s+/))
        .find((f) => f[0] === id)?.[2];
    };
    const taskPid = async (id: string): Promise<number> => {
      const ls = await ctr(['tasks', 'ls']);
      expect(ls.code, ls.stderr).toBe(0);
      return Number(ls.stdout.split('\n').map((l) => l.trim().split(/\s+/)).find((f) => f[0] === id)?.[1]);
    };
    const removeAll = async (ids: string[]) => {
      for (const id of ids) {
        await ctr(['tasks', 'kill', '-s', 'SIGKILL', id]);
        await waitFor(`task ${id} to stop`, async () => (await taskStatus(id)) !== 'RUNNING');
        const rm = await ctr(['tasks', 'rm', id]);
        expect(rm.code, rm.stderr).toBe(0);
        const crm = await ctr(['containers', 'rm', id]);
        expect(crm.code, crm.stderr).toBe(0);
      }
    };

    /** A container made by ctr (image config, snapshot), for the gRPC-level tests to create tasks on. */
    const ctrContainer = async (id: string, ...cmd: string[]) => {
      const r = await ctr(['containers', 'create', ...(o.createArgs ?? o.runArgs), image, id, ...cmd]);
      expect(r.code, r.stderr).toBe(0);
      const mounts = await unary(c.snapshots, c.snapshots.mounts, { snapshotter: 'overlayfs', key: id });
      return mounts.mounts;
    };

    async function expectNothingLeft(id: string): Promise<void> {
      usedIds.add(id);
      const bundleGone = () => !fs.readdirSync(path.join(d.state, 'io.containerd.runtime.v2.task', ns)).some((n) => n === id || n.startsWith('.deleted-'));
      await waitFor('the shims to exit', () => loggedShimPids(d.log()).every((pid) => !isAlive(pid)) && shimsOf(d.address).length === 0 && bundleGone());
      expect(mountsUnder(d.state)).toEqual([]);
      expect(mountsUnder(d.root)).toEqual([]);
      expect(cgroupsOf(ns).filter((p) => path.basename(p) === id)).toEqual([]);
      const tasks = await ctr(['tasks', 'ls', '-q']);
      expect(tasks.stdout.split('\n')).not.toContain(id);
      const ls = await ctr(['containers', 'ls', '-q']);
      expect(ls.stdout.split('\n')).not.toContain(id);
    }

    beforeAll(async () => {
      [d, reg] = await Promise.all([new TestDaemon(o.daemonArgs ?? []).start(), startRegistry()]);
      busybox = await pushBusybox(reg);
      image = busybox.latest.ref;
      const pull = await ctr(['images', 'pull', '--plain-http', image]);
      expect(pull.code, pull.stderr).toBe(0);
      events = await d.ctrEvents();
      c = d.clients(ns);
    }, 120_000);

    afterAll(async () => {
      c?.close();
      await events?.stop();
      await stopTaskDaemon(d, reg, ns, usedIds);
    }, 60_000);

    it('runs echo with --rm: its output, exit 0, the shim events, nothing left', async () => {
      const r = await ctrRun(['--rm', image, 'f1', 'echo', 'hi']);
      expect(r.code, `${r.stderr}\n${d.log().slice(-3000)}`).toBe(0);
      expect(r.stdout).toBe('hi\n');
      await expectNothingLeft('f1');
      for (const topic of ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']) {
        expect(events.text(), topic).toMatch(new RegExp(`${ns} ${topic} .*f1`));
      }
    }, 90_000);

    it('passes the exit status through: sh -c "exit 3" makes ctr exit 3', async () => {
      const r = await ctrRun(['--rm', image, 'f2', 'sh', '-c', 'exit 3']);
      expect(r.code, `${r.stderr}\n${d.log().slice(-3000)}`).toBe(3);
      expect(r.stdout).toBe('');
      await expectNothingLeft('f2');
    }, 90_000);

    it('feeds stdin through the FIFO a client made; at its end (writer closed, then CloseIO) cat exits', async () => {
      const mounts = await ctrContainer('f8', 'cat');
      const dir = fs.mkdtempSync(path.join(d.dir, 'io-'));
      const [stdin, stdout, stderr] = ['stdin', 'stdout', 'stderr'].map((n) => path.join(dir, n)) as [string, string, string];
      for (const f of [stdin, stdout, stderr]) await run('mkfifo', [f]);
      const errFd = fs.openSync(stderr, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
      // The client holds the writing end of stdin and reads stdout (opened read-write, so that it never sees
      // an end of file before the shim opens its side).
      let inFd = fs.openSync(stdin, fs.constants.O_RDWR);
      const out = new net.Socket({ fd: fs.openSync(stdout, fs.constants.O_RDWR | fs.constants.O_NONBLOCK), readable: true, writable: false });
      let text = '';
      out.on('data', (b: Buffer) => (text += b.toString()));
      try {
        await unary(c.tasks, c.tasks.create, { containerId: 'f8', rootfs: mounts, stdin, stdout, stderr, terminal: false, checkpoint: undefined, options: undefined, runtimePath: '' });
        const got = await unary(c.tasks, c.tasks.get, { containerId: 'f8', execId: '' });
        expect(got.process?.stdin).toBe(stdin);
        expect(got.process?.stdout).toBe(stdout);
        const waited = unary(c.tasks, c.tasks.wait, { containerId: 'f8', execId: '' });
        await unary(c.tasks, c.tasks.start, { containerId: 'f8', execId: '' });
        fs.writeSync(inFd, 'line one\nline two\n');
        await waitFor('cat to echo', () => text === 'line one\nline two\n', 10_000);
        // As ctr does at the end of its input: close our end, then CloseIO.
        fs.closeSync(inFd);
        inFd = -1;
        await unary(c.tasks, c.tasks.closeIo, { containerId: 'f8', execId: '', stdin: true });
        // cat ends only when its stdin does.
        expect((await waited).exitStatus).toBe(0);
        await unary(c.tasks, c.tasks.delete, { containerId: 'f8' });
      } finally {
        if (inFd >= 0) fs.closeSync(inFd);
        fs.closeSync(errFd);
        out.destroy();
      }
      expect((await ctr(['containers', 'rm', 'f8'])).code).toBe(0);
      await expectNothingLeft('f8');
    }, 90_000);

    it("changes a running task's resources with Tasks.Update", async () => {
      const r = await ctrRun(['-d', '--memory-limit', String(64 << 20), image, 'f9', 'sleep', '1000']);
      expect(r.code, r.stderr).toBe(0);
      expect(memoryLimit(ns, 'f9')).toBe(String(64 << 20));
      const resources = { memory: { limit: 96 << 20 } };
      await unary(c.tasks, c.tasks.update, {
        containerId: 'f9',
        resources: { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources', value: Buffer.from(JSON.stringify(resources)) },
        annotations: {},
      });
      expect(memoryLimit(ns, 'f9')).toBe(String(96 << 20));
      await expectKind(() => unary(c.tasks, c.tasks.update, { containerId: 'f9', resources: undefined, annotations: {} }), 'invalid-argument');
      await removeAll(['f9']);
      await expectNothingLeft('f9');
    }, 90_000);

    it('manages a detached task: ls, ps, exec, pause, resume, metrics, kill, rm', async () => {
      const r = await ctrRun(['-d', image, 'f3', 'sleep', '1000']);
      expect(r.code, `${r.stderr}\n${d.log().slice(-3000)}`).toBe(0);
      expect(await taskStatus('f3')).toBe('RUNNING');
      const pid = await taskPid('f3');
      expect(isAlive(pid)).toBe(true);

      const ps = await ctr(['tasks', 'ps', 'f3']);
      expect(ps.code, ps.stderr).toBe(0);
      expect(ps.stdout.split('\n').slice(1).map((l) => l.trim().split(/\s+/)[0])).toContain(String(pid));

      const exec = await ctrExec(['--exec-id', 'e1', 'f3', 'cat', '/etc/hostname']);
      expect(exec.code, exec.stderr).toBe(0);
      expect(exec.stdout).toBe('busybox\n');
      const failing = await ctrExec(['--exec-id', 'e2', 'f3', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
      expect(failing.code).toBe(7);
      expect(failing.stdout).toBe('out\n');
      expect(failing.stderr).toContain('err\n');
      expect(events.text()).toMatch(/\/tasks\/exec-added .*e1/);
      expect(events.text()).toMatch(/\/tasks\/exec-started .*e1/);

      expect((await ctr(['tasks', 'pause', 'f3'])).code).toBe(0);
      expect(await taskStatus('f3')).toBe('PAUSED');
      expect(events.text()).toMatch(/\/tasks\/paused .*f3/);
      expect((await ctr(['tasks', 'resume', 'f3'])).code).toBe(0);
      expect(await taskStatus('f3')).toBe('RUNNING');
      expect(events.text()).toMatch(/\/tasks\/resumed .*f3/);

      const metrics = await ctr(['tasks', 'metrics', 'f3']);
      expect(metrics.code, metrics.stderr).toBe(0);
      expect(metrics.stdout).toMatch(/memory\.usage_in_bytes|memory\.current/);
      expect(metrics.stdout).toMatch(/pids\.current\s+1\b/);

      // Delete of a running task is refused, and the task keeps running.
      const rmRunning = await ctr(['tasks', 'rm', 'f3']);
      expect(rmRunning.code).not.toBe(0);
      expect(rmRunning.stderr).toMatch(/running|stopped/);
      expect(await taskStatus('f3')).toBe('RUNNING');

      // sleep is pid 1 of its namespace, which SIGTERM does not end without a handler: SIGKILL it.
      const kill = await ctr(['tasks', 'kill', '-s', 'SIGKILL', 'f3']);
      expect(kill.code, kill.stderr).toBe(0);
      await waitFor('f3 to stop', async () => (await taskStatus('f3')) === 'STOPPED');
      expect(isAlive(pid)).toBe(false);
      expect(events.text()).toMatch(/\/tasks\/exit .*"container_id":"f3".*"exit_status":137/);
      expect((await ctr(['tasks', 'rm', 'f3'])).code).toBe(0);
      expect((await ctr(['containers', 'rm', 'f3'])).code).toBe(0);
      await expectNothingLeft('f3');
    }, 90_000);

    it('runs under a pty with -t: what is typed is echoed and run', async () => {
      const cmd = ['ctr', '-a', d.address, '-n', ns, 'run', '--fifo-dir', fifoDir(), ...o.runArgs, '-t', '--rm', image, 'f4', 'sh'].join(' ');
      // script(1) gives ctr a terminal of its own; what we write goes to it as typing.
      const r = await run('script', ['-qfec', cmd, '/dev/null'], { input: 'echo typed-$((40+2))\nexit 5\n', timeoutMs: 60_000 });
      expect(r.stdout).toContain('echo typed-$((40+2))');
      expect(r.stdout).toContain('typed-42');
      expect(r.code, r.stdout).toBe(5);
      await expectNothingLeft('f4');
    }, 90_000);

    it('isolates: pid 1, own uts/net/mount namespaces, only lo, no host mounts or processes', async () => {
      const script = 'echo pid=$$; ls /sys/class/net; for n in uts net mnt pid ipc; do ls -l /proc/self/ns/$n; done; cat /proc/mounts; echo procs=$(ls /proc | grep -c "^[0-9]")';
      const r = await ctrRun(['--rm', image, 'f5', 'sh', '-c', script]);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.split('\n');
      expect(lines[0]).toBe('pid=1');
      expect(lines[1]).toBe('lo');
      for (const n of ['uts', 'net', 'mnt', 'pid', 'ipc']) {
        const inside = new RegExp(`/proc/self/ns/${n} -> (\\S+)`).exec(r.stdout)?.[1];
        expect(inside, n).toMatch(/^\w+:\[\d+\]$/);
        expect(inside, n).not.toBe(fs.readlinkSync(`/proc/self/ns/${n}`));
      }
      // Only the container's own mount points: none of the host's (the overlay's options do name host paths).
      const points = r.stdout.split('\n').filter((l) => /^\S+ \/\S* \S+ /.test(l)).map((l) => l.split(' ')[1]!);
      expect(points).toContain('/');
      for (const p of points) expect(p, p).toMatch(/^\/(proc|dev|sys|run)?(\/|$)/);
      // sh, the subshell of the count, its ls and its grep at most.
      expect(Number(/procs=(\d+)/.exec(r.stdout)?.[1])).toBeLessThanOrEqual(4);
      await expectNothingLeft('f5');
    }, 90_000);

    it('OOM-kills a process that outgrows a 64 MiB limit and publishes /tasks/oom', async () => {
      // tail keeps a whole "line" of 200 MB of zeros in memory.
      const r = await ctrRun(['--rm', '--memory-limit', String(64 << 20), image, 'f6', 'sh', '-c', 'head -c 200000000 /dev/zero | tail >/dev/null; echo status=$?']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('status=137\n');
      await waitFor('the oom event', () => /\/tasks\/oom .*f6/.test(events.text()), 5_000);
      await expectNothingLeft('f6');
    }, 90_000);

    it('answers bad input with the right code and leaves nothing half-made', async () => {
      const bundles = () => fs.readdirSync(path.join(d.state, 'io.containerd.runtime.v2.task', ns)).filter((n) => n.startsWith('bad'));
      const mkContainer = async (id: string, spec: string, runtime = o.runtime) => {
        await unary(c.containers, c.containers.create, {
          container: {
            id,
            labels: {},
            image: '',
            runtime: { name: runtime, options: undefined },
            spec: { typeUrl: specUrl, value: Buffer.from(spec) },
            snapshotter: '',
            snapshotKey: '',
            createdAt: undefined,
            updatedAt: undefined,
            extensions: {},
          },
        });
      };
      const create = (id: string, rootfs: { type: string; source: string; target: string; options: string[] }[] = []) =>
        unary(c.tasks, c.tasks.create, { containerId: id, rootfs, stdin: '', stdout: '', stderr: '', terminal: false, checkpoint: undefined, options: undefined, runtimePath: '' });

      await mkContainer('bad-json', '{not json');
      await expectKind(() => create('bad-json'), 'invalid-argument', /bad-json.*not valid JSON/);
      await mkContainer('bad-noproc', '{"ociVersion":"1.0.2","root":{"path":"rootfs"}}');
      await expectKind(() => create('bad-noproc'), 'invalid-argument', /bad-noproc.*no process/);
      await mkContainer('bad-runtime', '{"process":{"args":["true"]}}', 'io.example.nosuch.v1');
      await expectKind(() => create('bad-runtime'), 'not-found', 'io.example.nosuch.v1');
      await mkContainer('bad-shim', '{"process":{"args":["true"]}}', '/bin/false');
      await expectKind(() => create('bad-shim'), 'unavailable', /\/bin\/false start exited 1/);
      const mounts = await ctrContainer('bad-mount', 'true');
      const badMount = await rejectionOf(() => create('bad-mount', [{ type: 'bind', source: '/nonexistent/rootfs', target: '', options: ['rbind'] }]));
      expect(badMount.message).toContain('/nonexistent/rootfs');
      expect(bundles()).toEqual([]);
      expect(mountsUnder(d.state)).toEqual([]);
      expect(shimsOf(d.address)).toEqual([]);

      // A command that does not exist: the runtime's own words reach ctr.
      const nx = await ctrRun(['--rm', image, 'bad-cmd', 'nosuchcommand']);
      expect(nx.code).not.toBe(0);
      expect(nx.stderr).toContain('executable file not found');
      await waitFor('the failed task to go', () => shimsOf(d.address).length === 0);
      await ctr(['containers', 'rm', 'bad-cmd']);

      // Start twice, Kill of a stopped task, Delete of a running one.
      await create('bad-mount', mounts);
      await unary(c.tasks, c.tasks.start, { containerId: 'bad-mount', execId: '' });
      const wait = await unary(c.tasks, c.tasks.wait, { containerId: 'bad-mount', execId: '' });
      expect(wait.exitStatus).toBe(0);
      await expectKind(() => unary(c.tasks, c.tasks.start, { containerId: 'bad-mount', execId: '' }), 'failed-precondition');
      await expectKind(() => unary(c.tasks, c.tasks.kill, { containerId: 'bad-mount', execId: '', signal: 9, all: false }), 'not-found', 'process already finished');
      await unary(c.tasks, c.tasks.delete, { containerId: 'bad-mount' });
      await expectKind(() => unary(c.tasks, c.tasks.get, { containerId: 'bad-mount', execId: '' }), 'not-found');

      for (const id of ['bad-json', 'bad-noproc', 'bad-runtime', 'bad-shim']) await unary(c.containers, c.containers.delete, { id });
      expect((await ctr(['containers', 'rm', 'bad-mount'])).code).toBe(0);
      await waitFor('shims to exit', () => shimsOf(d.address).length === 0);
      expect(bundles()).toEqual([]);
    }, 90_000);

    it('reports a task whose shim was killed as stopped, with an exit event, and deletes it', async () => {
      const r = await ctrRun(['-d', image, 'f7', 'sleep', '1000']);
      expect(r.code, r.stderr).toBe(0);
      const shim = parentOf(await taskPid('f7'));
      expect(shimsOf(d.address)).toContain(shim);
      const killedAt = Date.now();
      process.kill(shim!, 'SIGKILL');
      await waitFor('f7 to show stopped', async () => (await taskStatus('f7')) === 'STOPPED', 2_000);
      expect(Date.now() - killedAt).toBeLessThan(2_000);
      await waitFor('the exit event', () => /\/tasks\/exit .*f7/.test(events.text()), 2_000);
      expect((await ctr(['tasks', 'rm', 'f7'])).code).toBe(0);
      expect((await ctr(['containers', 'rm', 'f7'])).code).toBe(0);
      await expectNothingLeft('f7');
    }, 60_000);

    it.runIf(o.heavy)('keeps 20 tasks running across a kill -9 of the daemon: listed, exec-able, killable after', async () => {
      const ids = Array.from({ length: 20 }, (_, i) => `r${i}`);
      for (const id of ids) {
        const r = await ctrRun(['-d', image, id, 'sleep', '1000']);
        expect(r.code, r.stderr).toBe(0);
      }
      const shimsBefore = shimsOf(d.address).sort();
      expect(shimsBefore.length).toBe(o.sharedShim ? 1 : 20);
      await d.kill9();
      await d.start();
      expect(shimsOf(d.address).sort()).toEqual(shimsBefore);
      for (const id of ids) expect(await taskStatus(id)).toBe('RUNNING');
      const execs = await Promise.all(ids.map((id) => ctrExec(['--exec-id', 'x', id, 'echo', id])));
      for (const [i, e] of execs.entries()) expect(e.stdout, e.stderr).toBe(`${ids[i]}\n`);
      await removeAll(ids);
      for (const id of ids) await expectNothingLeft(id);
    }, 240_000);

    it.runIf(o.heavy)('leaves no mounts, cgroups, processes, fds or files after 200 create/start/delete cycles', async () => {
      // Two containers cycling side by side, 100 cycles each: their tasks come and go in one shim and in shims
      // of their own, as the timing falls.
      const containers = ['cyc', 'cyc2'];
      const mounts = new Map<string, Awaited<ReturnType<typeof ctrContainer>>>();
      for (const id of containers) mounts.set(id, await ctrContainer(id, 'true'));
      const cycle = async (id: string) => {
        await unary(c.tasks, c.tasks.create, { containerId: id, rootfs: mounts.get(id)!, stdin: '', stdout: '', stderr: '', terminal: false, checkpoint: undefined, options: undefined, runtimePath: '' });
        await unary(c.tasks, c.tasks.start, { containerId: id, execId: '' });
        const w = await unary(c.tasks, c.tasks.wait, { containerId: id, execId: '' });
        expect(w.exitStatus).toBe(0);
        await unary(c.tasks, c.tasks.delete, { containerId: id });
      };
      await cycle('cyc');
      await waitFor('the shims to exit', () => shimsOf(d.address).length === 0);
      const fdsBefore = openFds(d.pid!);
      await Promise.all(
        containers.map(async (id) => {
          for (let i = id === 'cyc' ? 1 : 0; i < 100; i++) await cycle(id);
        }),
      );
      await waitFor('the shims to exit', () => shimsOf(d.address).length === 0, 30_000);
      expect(openFds(d.pid!)).toBeLessThanOrEqual(fdsBefore);
      expect(fs.readdirSync(path.join(d.state, 'io.containerd.runtime.v2.task', ns))).toEqual([]);
      expect(mountsUnder(d.state)).toEqual([]);
      expect(cgroupsOf(ns)).toEqual([]);
      expect((await ctr(['containers', 'rm', ...containers])).code).toBe(0);
      expect(mountsUnder(d.root)).toEqual([]);
    }, 400_000);
  });
}
