// The shim binary against real runc/crun: started as the daemon starts it, driven through its ttrpc Task
// service, its events recorded by a fake daemon; every test checks that nothing is left behind (shim,
// container processes, mounts, runtime state, cgroups, sockets, temp dirs).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { ProcessDetails } from '../gen/containerd/runc/v1/oci.js';
import { Options as RuncOptions } from '../gen/containerd/runc/v1/oci.js';
import {
  CheckpointTaskRequest,
  CloseIORequest,
  ConnectRequest,
  ConnectResponse,
  CreateTaskRequest,
  CreateTaskResponse,
  DeleteRequest,
  DeleteResponse,
  ExecProcessRequest,
  KillRequest,
  PauseRequest,
  PidsRequest,
  PidsResponse,
  ResizePtyRequest,
  ResumeRequest,
  ShutdownRequest,
  StartRequest,
  StartResponse,
  StateRequest,
  StateResponse,
  StatsRequest,
  StatsResponse,
  UpdateTaskRequest,
  WaitRequest,
  WaitResponse,
} from '../gen/containerd/task/v2/shim.js';
import { Status } from '../gen/containerd/v1/types/task.js';
import type { Any } from '../gen/google/protobuf/any.js';
import { Empty } from '../gen/google/protobuf/empty.js';
import { CtrdError } from '../lib/errdefs.js';
import type { TtrpcClient } from '../lib/ttrpc/client.js';
import { run } from '../test/harness/daemon.js';
import { isAlive, waitGone } from '../lib/process.js';
import { mountsUnder } from '../test/harness/mounts.js';
import { ctrdShimBinary, haveBusybox, ShimFixture, taskService } from '../test/harness/shim.js';
import { isHybridCgroups } from './oci/runtime.js';

const root = process.getuid?.() === 0;
const haveCrun = fs.existsSync('/usr/bin/crun');
let fx: ShimFixture | undefined;

afterEach(async () => {
  const left = await fx?.cleanup();
  fx = undefined;
  expect(left ?? []).toEqual([]);
});

async function rejection(p: Promise<unknown>): Promise<CtrdError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CtrdError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

class Task {
  constructor(
    readonly c: TtrpcClient,
    readonly id: string,
  ) {}
  create(f: ShimFixture, io: { stdin?: string; stdout?: string; stderr?: string; terminal?: boolean } = {}, options?: Any) {
    return this.c.unary(taskService, 'Create', CreateTaskRequest, CreateTaskResponse, {
      id: this.id, bundle: f.bundle, rootfs: [{ type: 'bind', source: f.rootfsSource, target: '', options: ['rbind', 'rw'] }],
      terminal: io.terminal ?? false, stdin: io.stdin ?? '', stdout: io.stdout ?? '', stderr: io.stderr ?? '', checkpoint: '', parentCheckpoint: '', options,
    });
  }
  start(execId = '') {
    return this.c.unary(taskService, 'Start', StartRequest, StartResponse, { id: this.id, execId });
  }
  state(execId = '') {
    return this.c.unary(taskService, 'State', StateRequest, StateResponse, { id: this.id, execId });
  }
  wait(execId = '') {
    return this.c.unary(taskService, 'Wait', WaitRequest, WaitResponse, { id: this.id, execId });
  }
  kill(signal: number, execId = '', all = false) {
    return this.c.unary(taskService, 'Kill', KillRequest, Empty, { id: this.id, execId, signal, all });
  }
  delete(execId = '') {
    return this.c.unary(taskService, 'Delete', DeleteRequest, DeleteResponse, { id: this.id, execId });
  }
  exec(execId: string, args: string[], io: { stdin?: string; stdout?: string; stderr?: string; terminal?: boolean } = {}) {
    const spec = { args, cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 }, terminal: io.terminal ?? false };
    return this.c.unary(taskService, 'Exec', ExecProcessRequest, Empty, {
      id: this.id, execId, terminal: io.terminal ?? false, stdin: io.stdin ?? '', stdout: io.stdout ?? '', stderr: io.stderr ?? '',
      spec: { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Process', value: Buffer.from(JSON.stringify(spec)) },
    });
  }
  shutdown() {
    return this.c.unary(taskService, 'Shutdown', ShutdownRequest, Empty, { id: this.id, now: false }).catch(() => ({}));
  }
}

async function started(f: ShimFixture): Promise<Task> {
  const c = await f.start();
  f.shimPid = (await c.unary(taskService, 'Connect', ConnectRequest, ConnectResponse, { id: f.id })).shimPid;
  return new Task(c, f.id);
}

/** Delete, Shutdown, the shim gone, and what a deleted task must not leave. */
async function finish(f: ShimFixture, t: Task): Promise<void> {
  await t.delete();
  await t.shutdown();
  expect(await waitGone(f.shimPid, 5_000)).toBe(true);
  expect(mountsUnder(f.bundle)).toEqual([]);
  expect(fs.existsSync(`/run/ctrd/runc/${f.namespace}/${f.id}`)).toBe(false);
  for (const c of fs.readdirSync('/sys/fs/cgroup')) expect(fs.existsSync(path.join('/sys/fs/cgroup', c, f.cgroupsPath)), c).toBe(false);
  expect(fs.existsSync(f.address.replace('unix://', ''))).toBe(false);
}

const runcOptions = (binary: string): Any => ({ typeUrl: 'containerd.runc.v1.Options', value: Buffer.from(RuncOptions.encode(RuncOptions.fromPartial({ binaryName: binary })).finish()) });

describe.skipIf(!root || !haveBusybox)('containerd-shim-ctrd-v2', () => {
  it('runs echo hi: output through the stdout FIFO, exit 0, events in order, nothing left', async () => {
    fx = new ShimFixture('echo1');
    await fx.prepare(['echo', 'hi']);
    const t = await started(fx);
    expect(fs.readFileSync(path.join(fx.bundle, 'address'), 'utf8')).toBe(fx.address);
    const out = fx.fifo('stdout');
    const created = await t.create(fx, { stdout: out.path });
    expect(created.pid).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(fx.bundle, 'init.pid'), 'utf8').trim()).toBe(String(created.pid));
    expect((await t.state()).status).toBe(Status.CREATED);
    const waiting = t.wait(); // Wait blocks before Start too
    expect((await t.start()).pid).toBe(created.pid);
    expect((await waiting).exitStatus).toBe(0);
    await out.ended;
    expect(out.text()).toBe('hi\n');
    expect((await t.state()).status).toBe(Status.STOPPED);
    expect((await rejection(t.start())).kind).toBe('failed-precondition');
    expect((await rejection(t.kill(9))).message).toMatch(/process already finished/);
    const del = await t.delete();
    expect(del.pid).toBe(created.pid);
    await t.shutdown();
    expect(await waitGone(fx.shimPid, 5_000)).toBe(true);
    expect(fx.topics()).toEqual(['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
    expect(fx.events[2]!.event).toMatchObject({ containerId: 'echo1', id: 'echo1', pid: created.pid, exitStatus: 0 });
    expect(fx.events.every((e) => e.namespace === fx!.namespace)).toBe(true);
  });

  it('a running task: state, pids, pause/resume, stats, update, exec, kill, and the errors of each wrong move', async () => {
    fx = new ShimFixture('long1');
    await fx.prepare(['sleep', '1000']);
    const t = await started(fx);
    const { pid } = await t.create(fx);
    await t.start();
    expect((await t.state()).status).toBe(Status.RUNNING);
    expect((await rejection(t.start())).kind).toBe('failed-precondition');
    expect((await rejection(t.delete())).message).toMatch(/cannot delete a running process/);
    // Shutdown while the task runs is a no-op: the shim never leaves a running container.
    await t.shutdown();
    await new Promise((r) => setTimeout(r, 100));
    expect(isAlive(fx.shimPid)).toBe(true);
    expect((await t.state()).status).toBe(Status.RUNNING);
    const pids = await t.c.unary(taskService, 'Pids', PidsRequest, PidsResponse, { id: 'long1' });
    expect(pids.processes.map((p) => p.pid)).toContain(pid);

    await t.c.unary(taskService, 'Pause', PauseRequest, Empty, { id: 'long1' });
    expect((await t.state()).status).toBe(Status.PAUSED);
    expect((await rejection(t.c.unary(taskService, 'Pause', PauseRequest, Empty, { id: 'long1' }))).kind).toBe('failed-precondition');
    await t.c.unary(taskService, 'Resume', ResumeRequest, Empty, { id: 'long1' });
    expect((await t.state()).status).toBe(Status.RUNNING);

    const stats = await t.c.unary(taskService, 'Stats', StatsRequest, StatsResponse, { id: 'long1' });
    expect(stats.stats!.typeUrl).toBe('io.containerd.cgroups.v1.Metrics');
    // Unlimited cgroup limits (2^63 - 4096) are past what ts-proto decodes as numbers: read the fields raw.
    const m = fields(stats.stats!.value);
    expect(fields(m.get(2)![0] as Uint8Array).get(1)![0]).toBeGreaterThanOrEqual(1n); // pids.current
    const usage = fields(fields(m.get(4)![0] as Uint8Array).get(33)![0] as Uint8Array); // memory.usage
    expect(usage.get(2)![0]).toBeGreaterThan(0n);
    expect(usage.get(1)![0]).toBeGreaterThan(BigInt(Number.MAX_SAFE_INTEGER)); // no limit set
    expect(fields(fields(m.get(3)![0] as Uint8Array).get(1)![0] as Uint8Array).get(1)![0]).toBeGreaterThan(0n); // cpu.usage.total

    const limit = 64 * 1024 * 1024;
    await t.c.unary(taskService, 'Update', UpdateTaskRequest, Empty, {
      id: 'long1', annotations: {},
      resources: { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources', value: Buffer.from(JSON.stringify({ memory: { limit } })) },
    });
    expect(Number(fs.readFileSync(`/sys/fs/cgroup/memory${fx.cgroupsPath}/memory.limit_in_bytes`, 'utf8'))).toBe(limit);

    // exec: output, exit code, its events, its pid in Pids with the exec id, the wrong moves.
    const out = fx.fifo('exec-out');
    await t.exec('e1', ['sh', '-c', 'echo from exec; exit 5'], { stdout: out.path });
    expect((await rejection(t.exec('e1', ['true']))).kind).toBe('already-exists');
    expect((await rejection(t.state('nope'))).kind).toBe('not-found');
    expect((await t.state('e1')).status).toBe(Status.CREATED);
    const execWait = t.wait('e1');
    const ep = await t.start('e1');
    expect(ep.pid).toBeGreaterThan(0);
    expect((await execWait).exitStatus).toBe(5);
    await out.ended;
    expect(out.text()).toBe('from exec\n');
    expect((await t.delete('e1')).exitStatus).toBe(5);
    expect((await rejection(t.state('e1'))).kind).toBe('not-found');

    await t.exec('e2', ['sleep', '1000']);
    await t.start('e2');
    const withExec = await t.c.unary(taskService, 'Pids', PidsRequest, PidsResponse, { id: 'long1' });
    const info = withExec.processes.find((p) => p.info !== undefined);
    expect(ProcessDetails.decode(info!.info!.value).execId).toBe('e2');
    expect((await rejection(t.delete('e2'))).kind).toBe('failed-precondition');
    await t.kill(9, 'e2');
    expect((await t.wait('e2')).exitStatus).toBe(137);
    await t.delete('e2');

    expect((await rejection(t.c.unary(taskService, 'Checkpoint', CheckpointTaskRequest, Empty, { id: 'long1', path: '/tmp/x', options: undefined }))).kind).toBe('not-implemented');

    await t.kill(9);
    const w = await t.wait();
    expect(w.exitStatus).toBe(137);
    expect(w.exitedAt).toBeInstanceOf(Date);
    await finish(fx, t);
    expect(fx.topics()).toEqual([
      '/tasks/create', '/tasks/start', '/tasks/paused', '/tasks/resumed',
      '/tasks/exec-added', '/tasks/exec-started', '/tasks/exit',
      '/tasks/exec-added', '/tasks/exec-started', '/tasks/exit',
      '/tasks/exit', '/tasks/delete',
    ]);
    expect(fx.events[6]!.event).toMatchObject({ containerId: 'long1', id: 'e1', exitStatus: 5 });
  });

  it('stdin through its FIFO and CloseIO: cat echoes what it reads and ends at EOF', async () => {
    fx = new ShimFixture('cat1');
    await fx.prepare(['cat']);
    const t = await started(fx);
    const out = fx.fifo('stdout');
    const stdin = path.join(fx.dir, 'stdin');
    await run('mkfifo', [stdin]);
    await t.create(fx, { stdin, stdout: out.path });
    await t.start();
    const w = fs.openSync(stdin, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    fs.writeSync(w, 'line one\n');
    fs.closeSync(w);
    await t.c.unary(taskService, 'CloseIO', CloseIORequest, Empty, { id: 'cat1', execId: '', stdin: true });
    expect((await t.wait()).exitStatus).toBe(0);
    await out.ended;
    expect(out.text()).toBe('line one\n');
    await finish(fx, t);
  });

  it('a terminal: the pty comes over the console socket, ResizePty sets its size', async () => {
    fx = new ShimFixture('tty1');
    await fx.prepare(['sh', '-c', 'sleep 0.3; tty; stty size'], (spec) => (spec.process.terminal = true));
    const t = await started(fx);
    const out = fx.fifo('stdout');
    await t.create(fx, { stdout: out.path, terminal: true });
    await t.c.unary(taskService, 'ResizePty', ResizePtyRequest, Empty, { id: 'tty1', execId: '', width: 91, height: 17 });
    await t.start();
    expect((await t.wait()).exitStatus).toBe(0);
    await out.ended;
    expect(out.text()).toMatch(/^\/dev\/pts\/\d+\r\n17 91\r\n$/);
    await finish(fx, t);
  });

  it('an exec with a terminal: its own pty, resized after its start', async () => {
    fx = new ShimFixture('ttyexec1');
    await fx.prepare(['sleep', '1000']);
    const t = await started(fx);
    await t.create(fx);
    await t.start();
    const out = fx.fifo('exec-out');
    await t.exec('x1', ['sh', '-c', 'sleep 0.3; tty; stty size'], { stdout: out.path, terminal: true });
    await t.start('x1');
    await t.c.unary(taskService, 'ResizePty', ResizePtyRequest, Empty, { id: 'ttyexec1', execId: 'x1', width: 100, height: 30 });
    expect((await t.wait('x1')).exitStatus).toBe(0);
    await out.ended;
    expect(out.text()).toMatch(/^\/dev\/pts\/\d+\r\n30 100\r\n$/);
    await t.delete('x1');
    await t.kill(9);
    await t.wait();
    await finish(fx, t);
  });

  it('a failed create (no such command) says why and leaves no mount, runtime state, cgroup or process', async () => {
    fx = new ShimFixture('bad1');
    await fx.prepare(['no-such-command']);
    const t = await started(fx);
    const err = await rejection(t.create(fx));
    expect(err.message).toMatch(/executable file not found/);
    expect(mountsUnder(fx.bundle)).toEqual([]);
    expect(fs.existsSync(`/run/ctrd/runc/${fx.namespace}/bad1`)).toBe(false);
    for (const c of fs.readdirSync('/sys/fs/cgroup')) expect(fs.existsSync(path.join('/sys/fs/cgroup', c, fx.cgroupsPath))).toBe(false);
    expect((await rejection(t.state())).kind).toBe('not-found');
    await t.shutdown();
    expect(await waitGone(fx.shimPid, 5_000)).toBe(true);
    expect(fx.topics()).toEqual([]);
  });

  it('start fails cleanly without a log FIFO reader: non-zero exit, a message, no socket, no server', async () => {
    fx = new ShimFixture('nolog');
    await fx.prepare(['true']);
    fs.rmSync(path.join(fx.bundle, 'log'));
    const before = serverPids();
    const r = await fx.startCommand();
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/log/);
    expect(r.stdout).toBe('');
    expect(serverPids().filter((p) => !before.includes(p))).toEqual([]);
    expect(fs.existsSync(path.join(fx.bundle, 'address'))).toBe(false);
  });

  it('delete, when the shim is gone: the container is removed, rootfs unmounted, a DeleteResponse printed', async () => {
    fx = new ShimFixture('orphan1');
    await fx.prepare(['sleep', '1000']);
    const t = await started(fx);
    const { pid } = await t.create(fx);
    await t.start();
    await t.c.close();
    process.kill(fx.shimPid, 'SIGKILL');
    expect(await waitGone(fx.shimPid, 5_000)).toBe(true);
    fs.rmSync(fx.address.replace('unix://', ''), { force: true }); // a killed shim leaves its socket
    const r = await new Promise<{ code: number; out: Buffer }>((resolve) => {
      const chunks: Buffer[] = [];
      const child = spawn(
        ctrdShimBinary,
        ['-namespace', fx!.namespace, '-address', fx!.daemonAddress, '-publish-binary', '/bin/true', '-id', 'orphan1', '-bundle', fx!.bundle, 'delete'],
        { cwd: fx!.bundle, stdio: ['ignore', 'pipe', 'inherit'] },
      );
      child.stdout.on('data', (b: Buffer) => chunks.push(b));
      child.on('close', (code: number) => resolve({ code, out: Buffer.concat(chunks) }));
    });
    expect(r.code).toBe(0);
    const res = DeleteResponse.decode(r.out);
    expect(res).toMatchObject({ pid, exitStatus: 137 });
    expect(res.exitedAt).toBeInstanceOf(Date);
    expect(mountsUnder(fx.bundle)).toEqual([]);
    expect(fs.existsSync(`/run/ctrd/runc/${fx.namespace}/orphan1`)).toBe(false);
    expect(await waitGone(pid, 5_000)).toBe(true);
  });

  it('logs through a binary:// logging binary (fds 3, 4 and the ready fd 5, as containerd runs it)', async () => {
    fx = new ShimFixture('logbin1');
    await fx.prepare(['sh', '-c', 'echo to-out; echo to-err >&2']);
    const logger = path.join(fx.dir, 'logger.sh');
    const base = path.join(fx.dir, 'logged');
    fs.writeFileSync(
      logger,
      '#!/bin/sh\ncat <&3 >"$2.out" 5>&- & cat <&4 >"$2.err" 5>&- & exec 5>&-\nwait\necho "$CONTAINER_NAMESPACE/$CONTAINER_ID $1" >"$2.env"\n',
      { mode: 0o755 },
    );
    const t = await started(fx);
    const uri = `binary://${logger}?out=${encodeURIComponent(base)}`;
    await t.create(fx, { stdout: uri, stderr: uri });
    await t.start();
    expect((await t.wait()).exitStatus).toBe(0);
    for (let i = 0; i < 250 && !fs.existsSync(`${base}.env`); i++) await new Promise((r) => setTimeout(r, 20));
    expect(fs.readFileSync(`${base}.out`, 'utf8')).toBe('to-out\n');
    expect(fs.readFileSync(`${base}.err`, 'utf8')).toBe('to-err\n');
    expect(fs.readFileSync(`${base}.env`, 'utf8')).toBe(`${fx.namespace}/logbin1 out\n`);
    await finish(fx, t);
  });

  it('writes both streams to a file:// log', async () => {
    fx = new ShimFixture('logfile1');
    await fx.prepare(['sh', '-c', 'echo one; echo two >&2']);
    const t = await started(fx);
    const file = path.join(fx.dir, 'logs', 'task.log');
    await t.create(fx, { stdout: `file://${file}`, stderr: `file://${file}` });
    await t.start();
    expect((await t.wait()).exitStatus).toBe(0);
    await finish(fx, t);
    expect(fs.readFileSync(file, 'utf8').split('\n').sort()).toEqual(['', 'one', 'two']);
  });

  it.skipIf(!haveCrun)('runs with crun (binary_name in the Create options), hybrid cgroups hidden from it', async () => {
    fx = new ShimFixture('crun1');
    await fx.prepare(['sh', '-c', 'echo crun here; exit 7']);
    const t = await started(fx);
    const out = fx.fifo('stdout');
    await t.create(fx, { stdout: out.path }, runcOptions('crun'));
    await t.start();
    expect((await t.wait()).exitStatus).toBe(7);
    await out.ended;
    expect(out.text()).toBe('crun here\n');
    await finish(fx, t);
    if (isHybridCgroups()) expect(fx.shimLog).not.toMatch(/hybrid mode not supported/);
  });

  it('publishes /tasks/oom when the kernel OOM-kills in the container\'s cgroup', async () => {
    fx = new ShimFixture('oom1');
    // tail buffers its whole input in memory: an endless stream of one line grows it until the limit.
    await fx.prepare(['sh', '-c', 'dd if=/dev/zero bs=1M count=200 | tail -c 100000000 >/dev/null'], (spec) => {
      spec.linux.resources = { ...(spec.linux.resources ?? {}), memory: { limit: 16 * 1024 * 1024, swap: 16 * 1024 * 1024 } };
    });
    const t = await started(fx);
    await t.create(fx);
    await t.start();
    await t.wait();
    // The OOM event comes through the cgroup's eventfd and `<shim> publish`: on a busy machine, seconds late.
    for (let i = 0; i < 500 && !fx.topics().includes('/tasks/oom'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(fx.topics()).toContain('/tasks/oom');
    await finish(fx, t);
  });
});

/** A message's fields by number: varints as bigint, length-delimited as bytes. */
function fields(bytes: Uint8Array): Map<number, (bigint | Uint8Array)[]> {
  const out = new Map<number, (bigint | Uint8Array)[]>();
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [no, wire] = r.tag();
    const v = wire === 0 ? BigInt(r.uint64().toString()) : wire === 2 ? r.bytes() : (r.skip(wire), undefined);
    if (v !== undefined) out.set(no, [...(out.get(no) ?? []), v]);
  }
  return out;
}

/** Shim server processes of this checkout (their argv names our binary). */
function serverPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(ctrdShimBinary) && isAlive(Number(p));
      } catch {
        return false;
      }
    })
    .map(Number);
}
