// The client against the real Go ttrpc peer: Debian's containerd-shim-runc-v2 (containerd 1.6.20, ttrpc
// v1.1.1), started as containerd starts it, asked Connect/State/Shutdown, and gone again. No container runs.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectRequest, ConnectResponse, ShutdownRequest, StateRequest, StateResponse } from '../../gen/containerd/task/v2/shim.js';
import { Empty } from '../../gen/google/protobuf/empty.js';
import { CtrdError } from '../errdefs.js';
import { socketPath, TtrpcClient } from './client.js';
import { isAlive } from '../process.js';

const shimBinary = '/usr/bin/containerd-shim-runc-v2';
const taskService = 'containerd.task.v2.Task';
const namespace = 'ctrdtest';


async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return !isAlive(pid);
}

describe.skipIf(!fs.existsSync(shimBinary) || process.getuid?.() !== 0)('ttrpc client against containerd-shim-runc-v2', () => {
  let tmp: string;
  let bundle: string;
  let logReader: net.Socket | undefined;
  let shimLog = '';
  let address = '';
  let shimPid = 0;
  let client: TtrpcClient | undefined;
  const socketDirExisted = fs.existsSync('/run/containerd/s');

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrd-ttrpc-'));
    bundle = path.join(tmp, 'bundle');
    fs.mkdirSync(path.join(bundle, 'rootfs'), { recursive: true });
    fs.writeFileSync(
      path.join(bundle, 'config.json'),
      JSON.stringify({ ociVersion: '1.0.2', process: { args: ['true'], cwd: '/' }, root: { path: 'rootfs' } }),
    );
    // The shim dup2's the log FIFO over its stderr and will not start without a reader.
    await promisify(execFile)('mkfifo', [path.join(bundle, 'log')]);
    const fd = fs.openSync(path.join(bundle, 'log'), fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    logReader = new net.Socket({ fd, readable: true, writable: false });
    logReader.on('data', (chunk: Buffer) => (shimLog += chunk.toString()));
    logReader.on('error', () => {});

    const fakeSock = path.join(tmp, 'fake.sock');
    // `start` reads the runtime options (proto Any) from stdin to EOF: an empty stdin means none.
    const stdout = await new Promise<string>((resolve, reject) => {
      const child = execFile(
        shimBinary,
        ['-namespace', namespace, '-address', fakeSock, '-publish-binary', '/bin/true', '-id', 't1', 'start'],
        { cwd: bundle, env: { ...process.env, TTRPC_ADDRESS: `${fakeSock}.ttrpc`, GOMAXPROCS: '2' }, timeout: 20_000, killSignal: 'SIGKILL' },
        (err, out, errOut) => (err ? reject(new Error(`shim start: ${err.message}: ${errOut}`)) : resolve(out)),
      );
      child.stdin?.end();
    });
    address = stdout.trim();
    client = await TtrpcClient.connect(address, { namespace });
  });

  afterAll(async () => {
    await client?.close();
    // Only the shim this test started, by its pid, and only if Shutdown did not end it.
    if (shimPid && isAlive(shimPid)) {
      process.kill(shimPid, 'SIGKILL');
      await waitGone(shimPid, 5_000);
    }
    if (address) fs.rmSync(socketPath(address), { force: true });
    if (!socketDirExisted) {
      fs.rmSync('/run/containerd/s', { recursive: true, force: true });
      if (fs.readdirSync('/run/containerd').length === 0) fs.rmdirSync('/run/containerd');
    }
    logReader?.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('prints a unix:// ttrpc address under /run/containerd/s', () => {
    expect(address).toMatch(/^unix:\/\/\/run\/containerd\/s\/[0-9a-f]{64}$/);
    expect(fs.readFileSync(path.join(bundle, 'address'), 'utf8').trim()).toBe(address);
  });

  it('answers Connect with its pid and no task', async () => {
    const res = await client!.unary(taskService, 'Connect', ConnectRequest, ConnectResponse, { id: 't1' }, { timeoutMs: 5_000 });
    shimPid = res.shimPid;
    expect(res.shimPid).toBeGreaterThan(1);
    expect(isAlive(res.shimPid)).toBe(true);
    expect(res.taskPid).toBe(0);
    console.log('shim Connect:', JSON.stringify(res));
  });

  it('maps State of a task it does not have to not-found', async () => {
    const err = await client!
      .unary(taskService, 'State', StateRequest, StateResponse, { id: 't1', execId: '' }, { timeoutMs: 5_000 })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CtrdError);
    expect((err as CtrdError).kind).toBe('not-found');
    console.log('shim State:', (err as CtrdError).kind, JSON.stringify((err as CtrdError).message));
  });

  it('maps an unknown method to not-implemented', async () => {
    const err = await client!.call(taskService, 'NoSuchMethod', Buffer.alloc(0)).then(() => undefined, (e: unknown) => e);
    expect((err as CtrdError).kind).toBe('not-implemented');
    console.log('shim unknown method:', JSON.stringify((err as CtrdError).message));
  });

  it('runs many calls in flight on one connection', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () => client!.unary(taskService, 'Connect', ConnectRequest, ConnectResponse, { id: 't1' })),
    );
    expect(new Set(results.map((r) => r.shimPid))).toEqual(new Set([shimPid]));
  });

  it('exits on Shutdown and leaves nothing behind', async () => {
    expect(shimPid).toBeGreaterThan(1);
    // The shim may close the connection before its reply is written; both outcomes mean it took the call.
    const outcome = await client!
      .unary(taskService, 'Shutdown', ShutdownRequest, Empty, { id: 't1', now: true }, { timeoutMs: 5_000 })
      .then(() => 'ok', (e: unknown) => (e instanceof CtrdError ? e.kind : String(e)));
    console.log('shim Shutdown:', outcome);
    expect(['ok', 'unavailable']).toContain(outcome);
    expect(await waitGone(shimPid, 10_000)).toBe(true);
    await client!.whenClosed();
    expect(client!.closed).toBe(true);
    console.log('shim socket left after exit:', fs.existsSync(socketPath(address)));
    if (shimLog) console.log('shim log:', shimLog.trim());
  });
});
