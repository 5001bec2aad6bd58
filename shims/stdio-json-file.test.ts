// The shim with json-file:// stdio, driven as the daemon drives it: both streams into the log as docker's
// json-file entries, rotated at max-size keeping max-file files, and the task's attach socket (named in the
// bundle's `attach` file): output live, stdin with open-stdin=1, the exit status last; the socket is gone
// with the task.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ExecProcessRequest,
  ConnectRequest,
  ConnectResponse,
  CreateTaskRequest,
  CreateTaskResponse,
  DeleteRequest,
  DeleteResponse,
  KillRequest,
  ShutdownRequest,
  StartRequest,
  StartResponse,
  WaitRequest,
  WaitResponse,
} from '../gen/containerd/task/v2/shim.js';
import { Empty } from '../gen/google/protobuf/empty.js';
import { attachUri, encodeFrame, FrameDecoder, FrameKind, HelloFlags, type Frame } from '../lib/attach-frames.js';
import { jsonFileUri } from '../lib/jsonlog.js';
import { waitGone } from '../lib/process.js';
import type { TtrpcClient } from '../lib/ttrpc/client.js';
import { mountsUnder } from '../test/harness/mounts.js';
import { haveBusybox, ShimFixture, taskService } from '../test/harness/shim.js';

const root = process.getuid?.() === 0;
let fx: ShimFixture | undefined;

afterEach(async () => {
  const left = await fx?.cleanup();
  fx = undefined;
  expect(left ?? []).toEqual([]);
});

async function startTask(f: ShimFixture, uri: string, terminal = false): Promise<{ c: TtrpcClient; shimPid: number }> {
  const c = await f.start();
  const shimPid = (await c.unary(taskService, 'Connect', ConnectRequest, ConnectResponse, { id: f.id })).shimPid;
  f.shimPid = shimPid;
  await c.unary(taskService, 'Create', CreateTaskRequest, CreateTaskResponse, {
    id: f.id,
    bundle: f.bundle,
    rootfs: [{ type: 'bind', source: f.rootfsSource, target: '', options: ['rbind', 'rw'] }],
    terminal,
    stdin: '',
    stdout: uri,
    stderr: terminal ? '' : uri,
    checkpoint: '',
    parentCheckpoint: '',
    options: undefined,
  });
  return { c, shimPid };
}

const start = (c: TtrpcClient, id: string) => c.unary(taskService, 'Start', StartRequest, StartResponse, { id, execId: '' });
const wait = (c: TtrpcClient, id: string) => c.unary(taskService, 'Wait', WaitRequest, WaitResponse, { id, execId: '' });

/** Delete, Shutdown, the shim gone, and no mount and no attach socket left. */
async function finish(f: ShimFixture, c: TtrpcClient, shimPid: number, socket: string): Promise<void> {
  await c.unary(taskService, 'Delete', DeleteRequest, DeleteResponse, { id: f.id, execId: '' });
  await c.unary(taskService, 'Shutdown', ShutdownRequest, Empty, { id: f.id, now: false }).catch(() => ({}));
  expect(await waitGone(shimPid, 5_000)).toBe(true);
  expect(mountsUnder(f.bundle)).toEqual([]);
  expect(fs.existsSync(socket)).toBe(false);
}

/** A client of the attach socket: every frame it got, and a promise for the socket's end. */
function attachClient(socket: string, flags: number): Promise<{ sock: net.Socket; frames: Frame[]; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socket);
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.once('error', reject);
    sock.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) {
        if (f.kind === FrameKind.ready) resolve({ sock, frames, closed });
        else frames.push({ kind: f.kind, payload: Buffer.from(f.payload) });
      }
    });
    sock.write(encodeFrame(FrameKind.hello, Buffer.from([flags])));
  });
}

const text = (frames: Frame[], kind: number) => Buffer.concat(frames.filter((f) => f.kind === kind).map((f) => f.payload)).toString();

const entries = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l)
    .map((l) => JSON.parse(l) as { log: string; stream: string; time: string });

describe.skipIf(!root || !haveBusybox)('shim json-file stdio and the attach socket', () => {
  it('writes both streams as json-file entries, serves them live on the attach socket, then the exit status', async () => {
    fx = new ShimFixture('jsonlog1');
    // It waits for a line on stdin, so that the attach is in place before any output.
    await fx.prepare(['sh', '-c', 'read go; echo "got $go"; echo to-err >&2; printf "no newline"; exit 5']);
    const file = path.join(fx.dir, 'logs', 'c-json.log');
    const { c, shimPid } = await startTask(fx, jsonFileUri({ path: file, maxSize: 0, maxFile: 1, openStdin: true }));
    const socket = fs.readFileSync(path.join(fx.bundle, 'attach'), 'utf8');
    expect(fs.statSync(socket).mode & 0o777).toBe(0o600);
    const a = await attachClient(socket, HelloFlags.output | HelloFlags.stdin);
    // A watcher that wants no output gets only the end.
    const w = await attachClient(socket, 0);
    await start(c, fx.id);
    a.sock.write(encodeFrame(FrameKind.stdin, Buffer.from('yes\n')));
    expect((await wait(c, fx.id)).exitStatus).toBe(5);
    await Promise.all([a.closed, w.closed]);
    expect(text(a.frames, FrameKind.stdout)).toBe('got yes\nno newline');
    expect(text(a.frames, FrameKind.stderr)).toBe('to-err\n');
    expect(a.frames.at(-1)).toEqual({ kind: FrameKind.exit, payload: Buffer.from([0, 0, 0, 5]) });
    expect(w.frames).toEqual([{ kind: FrameKind.exit, payload: Buffer.from([0, 0, 0, 5]) }]);
    // Late comers get the status at once.
    const late = await attachClient(socket, HelloFlags.output);
    await late.closed;
    expect(late.frames).toEqual([{ kind: FrameKind.exit, payload: Buffer.from([0, 0, 0, 5]) }]);

    const e = entries(file);
    expect(e.map(({ log, stream }) => ({ log, stream })).sort((x, y) => x.log.localeCompare(y.log))).toEqual([
      { log: 'got yes\n', stream: 'stdout' },
      { log: 'no newline', stream: 'stdout' },
      { log: 'to-err\n', stream: 'stderr' },
    ]);
    for (const { time } of e) expect(time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    await finish(fx, c, shimPid, socket);
  });

  it('rotates the log at max-size, keeping max-file files', async () => {
    fx = new ShimFixture('jsonlog2');
    await fx.prepare(['sh', '-c', 'i=0; while [ $i -lt 200 ]; do echo "line $i"; i=$((i+1)); done']);
    const file = path.join(fx.dir, 'logs', 'r-json.log');
    const { c, shimPid } = await startTask(fx, jsonFileUri({ path: file, maxSize: 1000, maxFile: 3, openStdin: false }));
    const socket = fs.readFileSync(path.join(fx.bundle, 'attach'), 'utf8');
    await start(c, fx.id);
    expect((await wait(c, fx.id)).exitStatus).toBe(0);
    await finish(fx, c, shimPid, socket);
    expect(fs.readdirSync(path.dirname(file)).sort()).toEqual(['r-json.log', 'r-json.log.1', 'r-json.log.2']);
    const all = ['r-json.log.2', 'r-json.log.1', 'r-json.log'].flatMap((f) => {
      expect(fs.statSync(path.join(path.dirname(file), f)).size).toBeLessThanOrEqual(1000);
      return entries(path.join(path.dirname(file), f)).map((x) => x.log);
    });
    // The newest lines, in order, none lost between the files kept.
    expect(all.at(-1)).toBe('line 199\n');
    const first = Number(/line (\d+)/.exec(all[0]!)![1]);
    expect(all).toEqual(Array.from({ length: 200 - first }, (_, i) => `line ${first + i}\n`));
    expect(first).toBeGreaterThan(150);
  });

  it('an exec with attach:// stdio: its output before the first client is kept for it, then the status; not in the log', async () => {
    fx = new ShimFixture('jsonlog4');
    await fx.prepare(['sleep', '100']);
    const file = path.join(fx.dir, 'logs', 'e-json.log');
    const { c, shimPid } = await startTask(fx, jsonFileUri({ path: file, maxSize: 0, maxFile: 1, openStdin: false }));
    const socket = fs.readFileSync(path.join(fx.bundle, 'attach'), 'utf8');
    await start(c, fx.id);
    const spec = { args: ['sh', '-c', 'echo early; echo err >&2; read x; echo "read $x"; exit 9'], cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 } };
    const uri = attachUri(true);
    const bad = c.unary(taskService, 'Exec', ExecProcessRequest, Empty, {
      id: fx.id, execId: 'bad/id', terminal: false, stdin: '', stdout: uri, stderr: uri,
      spec: { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Process', value: Buffer.from(JSON.stringify(spec)) },
    });
    await expect(bad).rejects.toThrow(/exec id "bad\/id" must match/);
    await c.unary(taskService, 'Exec', ExecProcessRequest, Empty, {
      id: fx.id, execId: 'e1', terminal: false, stdin: '', stdout: uri, stderr: uri,
      spec: { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Process', value: Buffer.from(JSON.stringify(spec)) },
    });
    await c.unary(taskService, 'Start', StartRequest, StartResponse, { id: fx.id, execId: 'e1' });
    const execSocket = fs.readFileSync(path.join(fx.bundle, 'attach-exec-e1'), 'utf8');
    await new Promise((r) => setTimeout(r, 300));
    const a = await attachClient(execSocket, HelloFlags.output | HelloFlags.stdin);
    a.sock.write(encodeFrame(FrameKind.stdin, Buffer.from('this\n')));
    expect((await c.unary(taskService, 'Wait', WaitRequest, WaitResponse, { id: fx.id, execId: 'e1' })).exitStatus).toBe(9);
    await a.closed;
    expect(text(a.frames, FrameKind.stdout)).toBe('early\nread this\n');
    expect(text(a.frames, FrameKind.stderr)).toBe('err\n');
    await c.unary(taskService, 'Delete', DeleteRequest, DeleteResponse, { id: fx.id, execId: 'e1' });
    expect(fs.existsSync(execSocket)).toBe(false);
    expect(fs.existsSync(path.join(fx.bundle, 'attach-exec-e1'))).toBe(false);
    expect(fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '').toBe('');
    await c.unary(taskService, 'Kill', KillRequest, Empty, { id: fx.id, execId: '', signal: 9, all: false });
    await wait(c, fx.id);
    await finish(fx, c, shimPid, socket);
  });

  it('a terminal: the pty output is the stdout stream, stdin typed through the attach socket', async () => {
    fx = new ShimFixture('jsonlog3');
    await fx.prepare(['sh'], (spec) => {
      spec.process.terminal = true;
    });
    const file = path.join(fx.dir, 'logs', 't-json.log');
    const { c, shimPid } = await startTask(fx, jsonFileUri({ path: file, maxSize: 0, maxFile: 1, openStdin: true }), true);
    const socket = fs.readFileSync(path.join(fx.bundle, 'attach'), 'utf8');
    const a = await attachClient(socket, HelloFlags.output | HelloFlags.stdin);
    await start(c, fx.id);
    a.sock.write(encodeFrame(FrameKind.stdin, Buffer.from('echo $((6*7)); exit 3\n')));
    expect((await wait(c, fx.id)).exitStatus).toBe(3);
    await a.closed;
    expect(text(a.frames, FrameKind.stdout)).toMatch(/\r\n42\r\n/);
    expect(text(a.frames, FrameKind.stderr)).toBe('');
    expect(entries(file).some((x) => x.stream === 'stdout' && x.log === '42\r\n')).toBe(true);
    await finish(fx, c, shimPid, socket);
  });
});
