// Stock `ctr containers` against a real ctrd: create from a pulled image (a snapshot and a container), ls with
// filters, info with the spec decoded, label, rm (which removes the snapshot too), and the events.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon, waitFor } from '../harness/daemon.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { pushBusybox, type PushedBusybox } from '../harness/images.js';
import { NamespaceCreate } from '../../gen/containerd/events/namespace.js';
import { unary } from '../../lib/grpc/client.js';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { ContainersClient, type Container } from '../../gen/containerd/services/containers/v1/containers.js';

describe('stock ctr containers against ctrd', () => {
  let d: TestDaemon;
  let reg: TestRegistry;
  let busybox: PushedBusybox;
  let events: ChildProcess;
  let eventsOut = '';

  beforeAll(async () => {
    [d, reg] = await Promise.all([new TestDaemon().start(), startRegistry()]);
    busybox = await pushBusybox(reg);
    events = spawn('ctr', ['-a', d.address, 'events'], { stdio: ['ignore', 'pipe', 'pipe'] });
    events.stdout!.on('data', (b: Buffer) => (eventsOut += b.toString()));
    // Publish probes until ctr prints one: then its subscription is in place and no later event is missed.
    const c = d.clients();
    const probe = { typeUrl: 'containerd.events.NamespaceCreate', value: Buffer.from(NamespaceCreate.encode({ name: 'probe', labels: {} }).finish()) };
    for (let i = 0; i < 400 && !eventsOut.includes('/test/probe'); i++) {
      await unary(c.events, c.events.publish, { topic: '/test/probe', event: probe });
      await new Promise((r) => setTimeout(r, 25));
    }
    c.close();
    expect(eventsOut).toContain('/test/probe');
    const pull = await d.ctr(['images', 'pull', '--plain-http', busybox.latest.ref], { timeoutMs: 60_000 });
    expect(pull.code, pull.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    if (events && events.exitCode === null) events.kill('SIGTERM');
    await reg?.stop();
    await d?.cleanup();
  });

  async function ctr(...args: string[]): Promise<string> {
    const r = await d.ctr(args);
    expect(r.stderr, `ctr ${args.join(' ')}`).toBe('');
    expect(r.code, `ctr ${args.join(' ')}`).toBe(0);
    return r.stdout;
  }

  it('create, ls, info, label, rm: the container, its snapshot, its events', async () => {
    const ref = busybox.latest.ref;
    expect(await ctr('containers', 'create', ref, 'c1', 'sh')).toBe('');

    const ls = (await ctr('containers', 'ls')).trim().split('\n');
    expect(ls[0]).toMatch(/^CONTAINER\s+IMAGE\s+RUNTIME\s*$/);
    expect(ls.slice(1).map((l) => l.split(/\s+/))).toEqual([['c1', ref, 'io.containerd.runc.v2']]);
    expect((await ctr('containers', 'ls', '-q')).trim()).toBe('c1');
    expect((await ctr('containers', 'ls', '-q', 'runtime.name==io.containerd.runc.v2')).trim()).toBe('c1');
    expect((await ctr('containers', 'ls', '-q', 'image==nope')).trim()).toBe('');

    const info = JSON.parse(await ctr('containers', 'info', 'c1')) as Record<string, any>;
    expect(info.ID).toBe('c1');
    expect(info.Image).toBe(ref);
    expect(info.Runtime.Name).toBe('io.containerd.runc.v2');
    expect(info.Snapshotter).toBe('overlayfs');
    expect(info.SnapshotKey).toBe('c1');
    expect(info.Spec.ociVersion).toMatch(/^1\./);
    expect(info.Spec.process.args).toEqual(['sh']);
    expect(Date.parse(info.CreatedAt)).toBeGreaterThan(Date.now() - 120_000);
    const spec = JSON.parse(await ctr('containers', 'info', '--spec', 'c1')) as Record<string, any>;
    expect(spec).toEqual(info.Spec);

    expect((await ctr('snapshots', 'ls')).split('\n').some((l) => l.startsWith('c1 '))).toBe(true);

    await ctr('containers', 'label', 'c1', 'a=b');
    const labelled = JSON.parse(await ctr('containers', 'info', 'c1')) as Record<string, any>;
    expect(labelled.Labels).toMatchObject({ a: 'b' });
    expect(Date.parse(labelled.UpdatedAt)).toBeGreaterThanOrEqual(Date.parse(info.UpdatedAt));
    expect(labelled.Spec).toEqual(info.Spec);
    expect((await ctr('containers', 'ls', '-q', 'labels.a==b')).trim()).toBe('c1');

    const dup = await d.ctr(['containers', 'create', ref, 'c1', 'sh']);
    expect(dup.code).not.toBe(0);
    expect(dup.stderr).toMatch(/already exists/);

    await ctr('containers', 'rm', 'c1');
    expect((await ctr('containers', 'ls', '-q')).trim()).toBe('');
    expect((await ctr('snapshots', 'ls')).split('\n').some((l) => l.startsWith('c1 '))).toBe(false);
    const gone = await d.ctr(['containers', 'info', 'c1']);
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/not found/);
    const rmAgain = await d.ctr(['containers', 'rm', 'c1']);
    expect(rmAgain.code).not.toBe(0);
    expect(rmAgain.stderr).toMatch(/not found/);

    await waitFor('container events', () => eventsOut.includes('/containers/delete'));
    const lines = eventsOut.split('\n').filter((l) => l.includes('/containers/'));
    expect(lines.map((l) => /\/containers\/\w+/.exec(l)![0])).toEqual(['/containers/create', '/containers/update', '/containers/delete']);
    expect(lines[0]).toContain('"id":"c1"');
    expect(lines[0]).toContain('io.containerd.runc.v2');
    expect(lines[1]).toContain('"a":"b"');
    expect(lines[2]).toContain('"id":"c1"');
  }, 60_000);

  it('creating from an image that is not there fails with NotFound and makes nothing', async () => {
    const r = await d.ctr(['containers', 'create', 'no.such/image:1', 'c2', 'sh']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/not found/);
    expect((await ctr('containers', 'ls', '-q')).trim()).toBe('');
  });

  it('raw gRPC: Any values come back byte for byte, List answers, bad requests get their codes', async () => {
    const client = new ContainersClient(`unix://${d.address}`, credentials.createInsecure());
    const md = new Metadata();
    md.set('containerd-namespace', 'raw');
    const call = <Res>(fn: (cb: (err: ServiceError | null, res: Res) => void) => void) =>
      new Promise<{ err: ServiceError | null; res: Res }>((resolve) => fn((err, res) => resolve({ err, res })));
    try {
      const spec = { typeUrl: 'example.com/not-json', value: Buffer.from([0, 0xff, 0x10, 0]) };
      const options = { typeUrl: 'containerd.runc.v1.Options', value: Buffer.from([0x12, 0x01, 0x78]) };
      const container: Container = {
        id: 'r1',
        labels: { k: 'v' },
        image: '',
        runtime: { name: 'io.containerd.runc.v2', options },
        spec,
        snapshotter: '',
        snapshotKey: '',
        createdAt: undefined,
        updatedAt: undefined,
        extensions: { x: { typeUrl: 'x/y', value: Buffer.from('ext') } },
      };
      const created = await call<{ container?: Container }>((cb) => client.create({ container }, md, cb));
      expect(created.err).toBeNull();
      const got = await call<{ container?: Container }>((cb) => client.get({ id: 'r1' }, md, cb));
      expect(got.err).toBeNull();
      const c = got.res.container!;
      expect(c.spec!.typeUrl).toBe(spec.typeUrl);
      expect(Buffer.compare(c.spec!.value, spec.value)).toBe(0);
      expect(c.runtime!.options!.typeUrl).toBe(options.typeUrl);
      expect(Buffer.compare(c.runtime!.options!.value, options.value)).toBe(0);
      expect(c.extensions.x!.value.toString()).toBe('ext');
      expect(c.createdAt).toEqual(created.res.container!.createdAt);

      const list = await call<{ containers: Container[] }>((cb) => client.list({ filters: ['labels.k==v'] }, md, cb));
      expect(list.res.containers.map((x) => x.id)).toEqual(['r1']);
      const badFilter = await call((cb) => client.list({ filters: ['nosuch==1'] }, md, cb));
      expect(badFilter.err?.code).toBe(status.INVALID_ARGUMENT);

      const runtime = await call((cb) => client.update({ container: { ...c, runtime: { name: 'other', options: undefined } }, updateMask: ['runtime'] }, md, cb));
      expect(runtime.err?.code).toBe(status.INVALID_ARGUMENT);
      expect(runtime.err?.details).toContain('"runtime"');
      const noRuntime = await call((cb) => client.create({ container: { ...container, id: 'r2', runtime: undefined } }, md, cb));
      expect(noRuntime.err?.code).toBe(status.INVALID_ARGUMENT);
      const dup = await call((cb) => client.create({ container }, md, cb));
      expect(dup.err?.code).toBe(status.ALREADY_EXISTS);
      const missing = await call((cb) => client.get({ id: 'nope' }, md, cb));
      expect(missing.err?.code).toBe(status.NOT_FOUND);
      expect(missing.err?.details).toContain('"nope"');
      const noNs = await call((cb) => client.get({ id: 'r1' }, cb));
      expect(noNs.err?.code).toBe(status.FAILED_PRECONDITION);

      expect((await call((cb) => client.delete({ id: 'r1' }, md, cb))).err).toBeNull();
      expect((await call((cb) => client.delete({ id: 'r1' }, md, cb))).err?.code).toBe(status.NOT_FOUND);
    } finally {
      client.close();
    }
  });
  it('ctrctl rmi refuses the last name of an image a container uses, until the container is gone', async () => {
    const ref = busybox.latest.ref;
    expect((await d.ctr(['containers', 'create', ref, 'user1', 'sh'])).code).toBe(0);
    const refused = await d.ctrctl(['rmi', ref]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('container user1 is using its referenced image');
    // Another name of the same image can go: the image stays.
    expect((await d.ctrctl(['tag', ref, 'spare:1'])).code).toBe(0);
    expect((await d.ctrctl(['rmi', 'spare:1'])).stdout).toContain('Untagged: spare:1');
    expect((await d.ctr(['containers', 'rm', 'user1'])).code).toBe(0);
    const rmi = await d.ctrctl(['rmi', ref]);
    expect(rmi.code, rmi.stderr).toBe(0);
    expect(rmi.stdout).toContain(`Deleted: ${busybox.latest.config.digest}`);
  });
});

