// The publisher against a real ttrpc Events server: envelopes as containerd's shims send them, in order,
// and held while the daemon is away (restarting) rather than lost.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ForwardRequest } from '../gen/containerd/services/events/ttrpc/v1/events.js';
import { TaskExit, TaskStart } from '../gen/containerd/events/task.js';
import { Empty } from '../gen/google/protobuf/empty.js';
import { TtrpcServer } from '../lib/ttrpc/server.js';
import { Publisher } from './events.js';
import { createShimLogger } from './log.js';

let dir: string;
let server: TtrpcServer | undefined;
const log = createShimLogger({ level: 'error' });

beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrd-events-'))));
afterEach(async () => {
  await server?.close(0);
  server = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

async function listen(socket: string, got: { topic: string; namespace: string; typeUrl: string; ts: Date | undefined }[]): Promise<void> {
  server = new TtrpcServer();
  server.registerUnary('containerd.services.events.ttrpc.v1.Events', 'Forward', ForwardRequest, Empty, async (req, ctx) => {
    const e = req.envelope!;
    expect(ctx.namespace).toBe('ns1');
    got.push({ topic: e.topic, namespace: e.namespace, typeUrl: e.event!.typeUrl, ts: e.timestamp });
    return {};
  });
  await server.listen(socket);
}

describe('event publisher', () => {
  it('forwards envelopes with the namespace, the topic and the bare type name, in order', async () => {
    const socket = path.join(dir, 'events.sock');
    const got: Parameters<typeof listen>[1] = [];
    await listen(socket, got);
    const p = new Publisher(socket, 'ns1', log);
    p.publish('/tasks/start', 'containerd.events.TaskStart', TaskStart, { containerId: 'c', pid: 1 });
    p.publish('/tasks/exit', 'containerd.events.TaskExit', TaskExit, { containerId: 'c', id: 'c', pid: 1, exitStatus: 0, exitedAt: new Date() });
    await p.close();
    expect(got.map((g) => [g.topic, g.namespace, g.typeUrl])).toEqual([
      ['/tasks/start', 'ns1', 'containerd.events.TaskStart'],
      ['/tasks/exit', 'ns1', 'containerd.events.TaskExit'],
    ]);
    expect(got[0]!.ts).toBeInstanceOf(Date);
  });

  it('holds events while the daemon is away and delivers them in order when it is back', async () => {
    const socket = path.join(dir, 'events.sock');
    const got: Parameters<typeof listen>[1] = [];
    const p = new Publisher(socket, 'ns1', log);
    for (const topic of ['/tasks/a', '/tasks/b', '/tasks/c']) p.publish(topic, 'containerd.events.TaskStart', TaskStart, { containerId: 'c', pid: 1 });
    await new Promise((r) => setTimeout(r, 700));
    expect(got).toEqual([]);
    await listen(socket, got);
    await p.close(10_000);
    expect(got.map((g) => g.topic)).toEqual(['/tasks/a', '/tasks/b', '/tasks/c']);
  });
});
