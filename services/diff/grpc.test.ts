// containerd.services.diff.v1.Diff on the wire: a grpc-js server with the service over a real content
// store, called by the generated client as ctr would, with the namespace and lease in metadata.
import { credentials, Metadata, Server, ServerCredentials, status, type ServiceError } from '@grpc/grpc-js';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiffClient, type ApplyRequest, type ApplyResponse, type DiffRequest, type DiffResponse } from '../../gen/containerd/services/diff/v1/diff.js';
import { HandlerFactory } from '../../lib/grpc/handlers.js';
import { leaseHeader, namespaceHeader } from '../../lib/grpc/context.js';
import { silentLogger } from '../../lib/log.js';
import { gzip, packTar, sha256Of } from '../../test/harness/layers.js';
import { ContentStore } from '../content/store.js';
import { LocalContentStore } from '../content/local-store.js';
import { LeaseStore } from '../leases/store.js';
import { MetadataDB } from '../metadata/db.js';
import { WalkingDiffer } from './differ.js';
import { diffService } from './grpc.js';
import { mountsUnder } from './mounts.js';
import { mediaTypes, uncompressedLabel } from './types.js';

let base: string;
let db: MetadataDB;
let content: ContentStore;
let leases: LeaseStore;
let server: Server;
let client: DiffClient;

beforeEach(async () => {
  base = mkdtempSync(join(tmpdir(), 'ctrd-diff-grpc-'));
  db = MetadataDB.open(join(base, 'meta.db'));
  leases = new LeaseStore(db);
  content = new ContentStore(db, new LocalContentStore(join(base, 'content')), leases);
  const svc = diffService(new WalkingDiffer(content, join(base, 'tmpmounts')), new HandlerFactory(silentLogger));
  server = new Server();
  server.addService(svc.definition, svc.implementation);
  const address = join(base, 'diff.sock');
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${address}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  );
  client = new DiffClient(`unix://${address}`, credentials.createInsecure());
});

afterEach(async () => {
  client.close();
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  db.close();
  expect(mountsUnder(base)).toEqual([]);
  rmSync(base, { recursive: true, force: true });
});

function md(ns: string | undefined, lease?: string): Metadata {
  const m = new Metadata();
  if (ns !== undefined) m.set(namespaceHeader, ns);
  if (lease !== undefined) m.set(leaseHeader, lease);
  return m;
}

const apply = (req: Partial<ApplyRequest>, meta = md('default')) =>
  new Promise<ApplyResponse>((resolve, reject) =>
    client.apply({ diff: undefined, mounts: [], payloads: {}, ...req }, meta, (err, res) => (err ? reject(err) : resolve(res))),
  );

const diff = (req: Partial<DiffRequest>, meta = md('default')) =>
  new Promise<DiffResponse>((resolve, reject) =>
    client.diff({ left: [], right: [], mediaType: '', ref: '', labels: {}, ...req }, meta, (err, res) => (err ? reject(err) : resolve(res))),
  );

async function codeOf(p: Promise<unknown>): Promise<{ code: status; details: string }> {
  const err = (await p.then(
    () => undefined,
    (e: unknown) => e,
  )) as ServiceError | undefined;
  expect(err).toBeDefined();
  return { code: err!.code, details: err!.details };
}

async function put(ns: string, data: Buffer): Promise<string> {
  const digest = sha256Of(data);
  await content.writeBlob(ns, `put-${digest}`, data, { expected: digest });
  return digest;
}

const bind = (source: string) => ({ type: 'bind', source, target: '', options: ['rw', 'rbind'] });

describe('Diff.Apply', () => {
  it('applies a layer blob onto the mounts and answers the uncompressed descriptor', async () => {
    const tar = await packTar([{ name: 'hello', body: 'world' }]);
    const digest = await put('default', gzip(tar));
    const target = join(base, 'snap');
    mkdirSync(target);
    const res = await apply({ diff: { mediaType: mediaTypes.layerGzip, digest, size: 0, annotations: {} }, mounts: [bind(target)] });
    expect(res.applied).toEqual({ mediaType: mediaTypes.layer, digest: sha256Of(tar), size: tar.length, annotations: {} });
    expect(readFileSync(join(target, 'hello'), 'utf8')).toBe('world');
  });

  it('maps failures to the codes containerd answers', async () => {
    const target = join(base, 'snap');
    mkdirSync(target);
    const corrupt = gzip(await packTar([{ name: 'f', body: 'x'.repeat(5000) }])).subarray(0, 60);
    const digest = await put('default', corrupt);
    const desc = (mediaType: string, d = digest) => ({ mediaType, digest: d, size: 0, annotations: {} });

    expect(await codeOf(apply({ diff: desc(mediaTypes.layerGzip), mounts: [bind(target)] }, md(undefined)))).toMatchObject({
      code: status.FAILED_PRECONDITION,
    });
    expect(await codeOf(apply({ mounts: [bind(target)] }))).toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(await codeOf(apply({ diff: desc('application/vnd.example+json'), mounts: [bind(target)] }))).toEqual({
      code: status.UNIMPLEMENTED,
      details: 'unsupported diff media type: "application/vnd.example+json"',
    });
    expect(await codeOf(apply({ diff: desc(mediaTypes.layerGzip, sha256Of(Buffer.from('missing'))), mounts: [bind(target)] }))).toMatchObject({
      code: status.NOT_FOUND,
    });
    const broken = await codeOf(apply({ diff: desc(mediaTypes.layerGzip), mounts: [bind(target)] }));
    expect(broken.code).toBe(status.INVALID_ARGUMENT);
    expect(broken.details).toContain(digest);
    expect(await codeOf(apply({ diff: desc(mediaTypes.layerGzip), mounts: [] }))).toMatchObject({ code: status.INVALID_ARGUMENT });
  });
});

describe('Diff.Diff', () => {
  it('writes the layer into the content store under the lease of the call, with its labels', async () => {
    const upper = join(base, 'upper');
    mkdirSync(join(upper, 'etc'), { recursive: true });
    writeFileSync(join(upper, 'etc/motd'), 'hi');
    leases.create('default', 'l1', {});
    const res = await diff({ right: [bind(upper)], labels: { 'x.label': 'y' }, ref: 'my-ref' }, md('default', 'l1'));
    expect(res.diff).toMatchObject({ mediaType: mediaTypes.layerGzip, annotations: {} });
    const info = content.info('default', res.diff!.digest);
    expect(info.size).toBe(res.diff!.size);
    expect(info.labels).toMatchObject({ 'x.label': 'y', [uncompressedLabel]: expect.stringMatching(/^sha256:/) });
    expect(leases.listResources('default', 'l1')).toContainEqual({ type: 'content', id: res.diff!.digest });

    // And back: the layer applies onto an empty directory.
    const copy = join(base, 'copy');
    mkdirSync(copy);
    const applied = await apply({ diff: res.diff, mounts: [bind(copy)] });
    expect(applied.applied!.digest).toBe(info.labels[uncompressedLabel]);
    expect(readdirSync(join(copy, 'etc'))).toEqual(['motd']);
  });

  it('answers Unimplemented for a media type it cannot write', async () => {
    expect(await codeOf(diff({ right: [bind(base)], mediaType: mediaTypes.layerZstd }))).toMatchObject({ code: status.UNIMPLEMENTED });
  });
});
