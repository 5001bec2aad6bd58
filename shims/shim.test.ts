// The shim binary against real runc/crun: started as the daemon starts it, driven through its ttrpc Task
// service, its events recorded by a fake daemon; every test checks that nothing is left behind.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConnectRequest,
  ConnectResponse,
  CreateTaskRequest,
  CreateTaskResponse,
  DeleteRequest,
  DeleteResponse,
  ShutdownRequest,
  StartRequest,
  StartResponse,
  WaitRequest,
  WaitResponse,
} from '../gen/containerd/task/v2/shim.js';
import { Empty } from '../gen/google/protobuf/empty.js';
import { isAlive } from '../lib/process.js';
import { haveBusybox, ShimFixture, taskService } from '../test/harness/shim.js';

const root = process.getuid?.() === 0;
let fx: ShimFixture | undefined;

afterEach(async () => {
  const left = await fx?.cleanup();
  fx = undefined;
  expect(left ?? []).toEqual([]);
});

async function waitGone(pid: number, ms = 5_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

describe.skipIf(!root || !haveBusybox)('containerd-shim-ctrd-v2 with runc', () => {
  it('runs echo hi: output through the stdout FIFO, exit 0, events in order, nothing left', async () => {
    fx = new ShimFixture('echo1');
    await fx.prepare(['echo', 'hi']);
    const c = await fx.start();
    const conn = await c.unary(taskService, 'Connect', ConnectRequest, ConnectResponse, { id: 'echo1' });
    fx.shimPid = conn.shimPid;
    expect(fs.readFileSync(path.join(fx.bundle, 'address'), 'utf8')).toBe(fx.address);
    const out = fx.fifo('stdout');
    const created = await c.unary(taskService, 'Create', CreateTaskRequest, CreateTaskResponse, {
      id: 'echo1', bundle: fx.bundle, rootfs: [{ type: 'bind', source: fx.rootfsSource, target: '', options: ['rbind', 'rw'] }],
      terminal: false, stdin: '', stdout: out.path, stderr: '', checkpoint: '', parentCheckpoint: '', options: undefined,
    });
    expect(created.pid).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(fx.bundle, 'init.pid'), 'utf8').trim()).toBe(String(created.pid));
    const waiting = c.unary(taskService, 'Wait', WaitRequest, WaitResponse, { id: 'echo1', execId: '' });
    const started = await c.unary(taskService, 'Start', StartRequest, StartResponse, { id: 'echo1', execId: '' });
    expect(started.pid).toBe(created.pid);
    const waited = await waiting;
    expect(waited.exitStatus).toBe(0);
    await out.ended;
    expect(out.text()).toBe('hi\n');
    const del = await c.unary(taskService, 'Delete', DeleteRequest, DeleteResponse, { id: 'echo1', execId: '' });
    expect(del.pid).toBe(created.pid);
    await c.unary(taskService, 'Shutdown', ShutdownRequest, Empty, { id: 'echo1', now: false }).catch(() => {});
    expect(await waitGone(fx.shimPid)).toBe(true);
    expect(fx.topics()).toEqual(['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
    expect(fx.events[2]!.event).toMatchObject({ containerId: 'echo1', id: 'echo1', pid: created.pid, exitStatus: 0 });
  });
});
