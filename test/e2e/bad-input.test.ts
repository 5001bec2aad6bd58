// Bad input over the wire: each request gets the right status code and a message that names the problem,
// nothing half-made is left behind, and the daemon keeps serving.
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon } from '../harness/daemon.js';
import { sha256Hex } from '../harness/files.js';
import { Clients, unary } from '../../lib/grpc/client.js';
import { ContentClient, WriteAction, type WriteContentRequest, type WriteContentResponse } from '../../gen/containerd/services/content/v1/content.js';
import { NamespacesClient } from '../../gen/containerd/services/namespaces/v1/namespace.js';
import { CtrdError } from '../../lib/errdefs.js';

/** The gRPC status of a failed call made through lib/grpc/client (the CtrdError keeps it as its cause). */
async function failure(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as CtrdError;
    return { code: (err.cause as ServiceError | undefined)?.code ?? -1, message: err.message };
  }
  throw new Error('the call succeeded');
}

/** Drives Content.Write by hand: sends each request and collects one response per request, or the error. */
function write(address: string, ns: string, reqs: Array<Partial<WriteContentRequest>>) {
  const client = new ContentClient(`unix://${address}`, credentials.createInsecure());
  const md = new Metadata();
  md.set('containerd-namespace', ns);
  const call = client.write(md);
  const responses: WriteContentResponse[] = [];
  return new Promise<{ responses: WriteContentResponse[]; error?: ServiceError }>((resolve) => {
    let i = 0;
    const next = () => {
      const r = reqs[i++];
      if (!r) {
        call.end();
        return;
      }
      call.write({ action: WriteAction.STAT, ref: '', total: 0, expected: '', offset: 0, data: Buffer.alloc(0), labels: {}, ...r });
    };
    call.on('data', (res: WriteContentResponse) => {
      responses.push(res);
      next();
    });
    call.on('error', (error: ServiceError) => {
      client.close();
      resolve({ responses, error });
    });
    call.on('end', () => {
      client.close();
      resolve({ responses });
    });
    next();
  });
}

describe('bad input', () => {
  let d: TestDaemon;
  let c: Clients;
  const blobs = () => readdirSync(join(d.root, 'io.containerd.content.v1.content', 'blobs', 'sha256'));
  const ingests = () => readdirSync(join(d.root, 'io.containerd.content.v1.content', 'ingest'));

  beforeAll(async () => {
    d = await new TestDaemon().start();
    c = d.clients();
  });
  afterAll(async () => {
    c.close();
    await d.cleanup();
  });

  it('a write whose bytes do not match the expected digest fails with FailedPrecondition and leaves nothing', async () => {
    const data = Buffer.from('these are not the bytes you expected');
    const wrong = `sha256:${sha256Hex('other bytes')}`;
    const r = await write(d.address, 'default', [
      { action: WriteAction.STAT, ref: 'mismatch', total: data.length, expected: wrong },
      { action: WriteAction.WRITE, ref: 'mismatch', offset: 0, data },
      { action: WriteAction.COMMIT, ref: 'mismatch', total: data.length, expected: wrong, offset: data.length },
    ]);
    expect(r.responses).toHaveLength(2); // STAT and WRITE answered, lock-step
    expect(r.responses[1]!.offset).toBe(data.length);
    expect(r.error?.code).toBe(status.FAILED_PRECONDITION);
    expect(r.error?.details).toContain(`unexpected commit digest sha256:${sha256Hex(data)}, expected ${wrong}`);
    expect(blobs()).toEqual([]);
    expect(ingests()).toEqual([]);
    const { statuses } = await unary(c.content, c.content.listStatuses, { filters: [] });
    expect(statuses).toEqual([]);
  });

  it('a write at the wrong offset is OutOfRange; the first message must carry a ref', async () => {
    let r = await write(d.address, 'default', [
      { action: WriteAction.WRITE, ref: 'offsets', offset: 0, data: Buffer.from('abc') },
      { action: WriteAction.WRITE, ref: 'offsets', offset: 10, data: Buffer.from('def') },
    ]);
    expect(r.error?.code).toBe(status.OUT_OF_RANGE);
    expect(r.error?.details).toContain('must occur at the current offset 3');
    await unary(c.content, c.content.abort, { ref: 'offsets' });
    r = await write(d.address, 'default', [{ action: WriteAction.STAT }]);
    expect(r.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(r.error?.details).toContain('ref');
    expect(ingests()).toEqual([]);
  });

  it('a second writer on a locked ref gets Unavailable', async () => {
    const client = new ContentClient(`unix://${d.address}`, credentials.createInsecure());
    const md = new Metadata();
    md.set('containerd-namespace', 'default');
    const first = client.write(md);
    const opened = new Promise((resolve) => first.on('data', resolve));
    first.write({ action: WriteAction.STAT, ref: 'locked', total: 0, expected: '', offset: 0, data: Buffer.alloc(0), labels: {} });
    await opened;
    const second = await write(d.address, 'default', [{ action: WriteAction.STAT, ref: 'locked' }]);
    expect(second.error?.code).toBe(status.UNAVAILABLE);
    expect(second.error?.details).toContain('ref "locked" locked');
    const closed = new Promise((r) => first.once('end', r).once('error', r));
    first.end();
    await closed;
    client.close();
    await unary(c.content, c.content.abort, { ref: 'locked' });
  });

  it('a read past the end is OutOfRange, a negative offset InvalidArgument', async () => {
    const digest = `sha256:${sha256Hex('twelve bytes')}`;
    // Committed as a GC root: a blob nothing refers to may be collected by a GC the other tests set off.
    const ingest = await write(d.address, 'default', [
      { action: WriteAction.STAT, ref: 'small', total: 12, expected: digest },
      { action: WriteAction.COMMIT, ref: 'small', total: 12, expected: digest, data: Buffer.from('twelve bytes'), labels: { 'containerd.io/gc.root': '1' } },
    ]);
    expect(ingest.error).toBeUndefined();
    const read = (offset: number) =>
      new Promise<ServiceError | undefined>((resolve) => {
        const s = c.content.read({ digest, offset, size: 0 });
        s.on('data', () => {});
        s.on('error', resolve);
        s.on('end', () => resolve(undefined));
      });
    const past = await read(13);
    expect(past?.code).toBe(status.OUT_OF_RANGE);
    expect(past?.details).toContain(`read offset 13 is beyond the end of ${digest} (size 12)`);
    expect((await read(-1))?.code).toBe(status.INVALID_ARGUMENT);
    expect(await read(12)).toBeUndefined(); // at the end: an empty read, not an error
  });

  it('an invalid namespace name is InvalidArgument; a missing one FailedPrecondition', async () => {
    const bad = new Clients({ address: d.address, namespace: 'bad/name' });
    const f = await failure(unary(bad.leases, bad.leases.list, { filters: [] }));
    bad.close();
    expect(f.code).toBe(status.INVALID_ARGUMENT);
    expect(f.message).toContain('namespace "bad/name"');
    const create = await failure(unary(c.namespaces, c.namespaces.create, { namespace: { name: 'two..dots', labels: {} } }));
    expect(create.code).toBe(status.INVALID_ARGUMENT);
    expect(create.message).toContain('"two..dots"');

    const raw = new NamespacesClient(`unix://${d.address}`, credentials.createInsecure());
    const leasesRaw = new (await import('../../gen/containerd/services/leases/v1/leases.js')).LeasesClient(
      `unix://${d.address}`,
      credentials.createInsecure(),
    );
    const none = await failure(unary(leasesRaw, leasesRaw.list, { filters: [] }));
    expect(none.code).toBe(status.FAILED_PRECONDITION);
    expect(none.message).toBe('namespace is required');
    raw.close();
    leasesRaw.close();
  });

  it('a malformed digest is InvalidArgument and names the digest', async () => {
    const f = await failure(unary(c.content, c.content.info, { digest: 'sha256:xyz' }));
    expect(f.code).toBe(status.INVALID_ARGUMENT);
    expect(f.message).toContain('"sha256:xyz"');
    const md5 = await failure(unary(c.content, c.content.info, { digest: 'md5:d41d8cd98f00b204e9800998ecf8427e' }));
    expect(md5.code).toBe(status.INVALID_ARGUMENT);
    expect(md5.message).toContain('unsupported digest algorithm');
  });

  it('an unknown filter field is InvalidArgument and names the field', async () => {
    const list = (filters: string[]) =>
      new Promise<ServiceError | undefined>((resolve) => {
        const s = c.content.list({ filters });
        s.on('data', () => {});
        s.on('error', resolve);
        s.on('end', () => resolve(undefined));
      });
    const e = await list(['colour==red']);
    expect(e?.code).toBe(status.INVALID_ARGUMENT);
    expect(e?.details).toContain('unknown field "colour"');
    const leases = await failure(unary(c.leases, c.leases.list, { filters: ['labels."a"==b', 'nope~=x'] }));
    expect(leases.code).toBe(status.INVALID_ARGUMENT);
    expect(leases.message).toContain('unknown field "nope"');
    const syntax = await failure(unary(c.leases, c.leases.list, { filters: ['id=="unterminated'] }));
    expect(syntax.code).toBe(status.INVALID_ARGUMENT);
    expect(syntax.message).toContain('unterminated');
    expect(await list(['digest~=^sha256:'])).toBeUndefined();
  });

  it('oversized input: a label over 4096 bytes is InvalidArgument, a message over 16 MiB ResourceExhausted', async () => {
    const big = await failure(
      unary(c.namespaces, c.namespaces.create, { namespace: { name: 'big-label', labels: { k: 'v'.repeat(5000) } } }),
    );
    expect(big.code).toBe(status.INVALID_ARGUMENT);
    expect(big.message).toContain('greater than maximum size (4096 bytes)');
    // A client that does not limit what it sends: the daemon's 16 MiB limit (containerd's) answers.
    const raw = new NamespacesClient(`unix://${d.address}`, credentials.createInsecure(), {
      'grpc.max_send_message_length': -1,
    });
    const huge = await failure(
      unary(raw, raw.create, { namespace: { name: 'huge', labels: { k: 'v'.repeat(17 * 1024 * 1024) } } }),
    );
    raw.close();
    expect(huge.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(huge.message).toMatch(/larger than max/);
    const { namespaces } = await unary(c.namespaces, c.namespaces.list, { filter: '' });
    expect(namespaces.map((n) => n.name)).not.toContain('huge');
    expect(namespaces.map((n) => n.name)).not.toContain('big-label');
  });

  it('the daemon is still serving after all of it', async () => {
    const v = await unary(c.version, c.version.version, {});
    expect(v.version).toMatch(/^1\.6\.20\+ctrd\./);
    expect(d.pid).toBeDefined();
  });
});
