// The registry client against a real registry (Debian's docker-registry, with and without token auth) holding
// images built and pushed by the harness, and against a scripted registry for everything a registry can get
// wrong. Every registry is stopped by PID, and its temp dir, like the image layout's, is checked gone.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip, gunzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CtrdError, kindOf } from '../../lib/errdefs.js';
import { RegistryClient, type RegistryClientOptions } from '../../lib/registry/client.js';
import { dockerConfigCredentials, staticCredentials } from '../../lib/registry/credentials.js';
import type { Descriptor } from '../../lib/registry/manifest.js';
import { mediaTypes } from '../../lib/registry/media-types.js';
import { isAlive } from '../harness/daemon.js';
import { errorBody, sha256Of, startFakeRegistry, type FakeRegistry, type ScriptedResponse } from '../harness/fake-registry.js';
import { expectedTree, pushBig, pushBusybox, pushMultilayer, removeTestImages, testImagesDir, type PushedBusybox, type PushedImage } from '../harness/images.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';

const fastRetry = { attempts: 5, baseDelayMs: 5, maxDelayMs: 50 };
const noCredentials = () => undefined;

function client(opts: RegistryClientOptions = {}): RegistryClient {
  return new RegistryClient({ credentials: noCredentials, retry: fastRetry, ...opts });
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The error a promise rejects with (a CtrdError), or a failure when it resolves. */
async function failure(p: Promise<unknown>): Promise<CtrdError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(CtrdError);
    return err as CtrdError;
  }
  throw new Error('expected a failure');
}

/** The entries of a gzip layer as tar-stream reads them, PAX xattr records included. */
async function tarEntries(blob: Buffer) {
  const out: Array<Record<string, unknown>> = [];
  const ex = extract();
  const done = (async () => {
    for await (const entry of ex) {
      const h = entry.header;
      const content = (await collect(entry as unknown as Readable)).toString();
      const pax = (h.pax ?? {}) as Record<string, string>;
      out.push({
        name: h.name,
        type: h.type,
        mode: h.mode,
        uid: h.uid,
        gid: h.gid,
        linkname: h.linkname,
        content,
        xattrs: Object.fromEntries(Object.entries(pax).filter(([k]) => k.startsWith('SCHILY.xattr.'))),
      });
    }
  })();
  ex.end(gunzipSync(blob));
  await done;
  return out;
}

async function diffIdOf(blob: Buffer): Promise<string> {
  const gunzip = createGunzip();
  const hash = createHash('sha256');
  gunzip.on('data', (c: Buffer) => hash.update(c));
  const done = new Promise((resolve, reject) => {
    gunzip.once('end', resolve);
    gunzip.once('error', reject);
  });
  gunzip.end(blob);
  await done;
  return `sha256:${hash.digest('hex')}`;
}

const registries: TestRegistry[] = [];

afterAll(async () => {
  const dir = testImagesDir();
  removeTestImages();
  if (dir) expect(existsSync(dir)).toBe(false);
  for (const reg of registries) {
    expect(isAlive(reg.pid)).toBe(false);
    expect(existsSync(reg.dir)).toBe(false);
  }
});

describe('registry client against docker-registry', () => {
  let reg: TestRegistry;
  let busybox: PushedBusybox;
  let multilayer: PushedImage;
  let big: PushedImage;
  let c: RegistryClient;

  beforeAll(async () => {
    reg = await startRegistry();
    registries.push(reg);
    [busybox, multilayer, big] = await Promise.all([pushBusybox(reg), pushMultilayer(reg), pushBig(reg)]);
    c = client();
  });

  afterAll(async () => {
    c?.close();
    await reg?.stop();
  });

  it('resolves a tag to the manifest that was pushed (mediaType, digest, size)', async () => {
    const desc = await c.resolve(busybox.latest.ref);
    expect(desc).toEqual({ mediaType: mediaTypes.ociManifest, digest: busybox.latest.manifest.digest, size: busybox.latest.manifest.size });
  });

  it('resolves by digest, and by tag plus digest', async () => {
    expect((await c.resolve(busybox.latest.digestRef)).digest).toBe(busybox.latest.manifest.digest);
    const both = `${reg.host}/test/busybox:latest@${busybox.latest.manifest.digest}`;
    expect((await c.resolve(both)).digest).toBe(busybox.latest.manifest.digest);
  });

  it('fetches busybox: manifest bytes, config and layer as built, diffIDs matching the config', async () => {
    const image = await c.resolveImage(busybox.latest.ref);
    expect(image.indexes).toEqual([]);
    expect(image.manifest.bytes.equals(busybox.latest.manifestBytes)).toBe(true);
    expect(image.manifest.manifest.config).toEqual(busybox.latest.config);
    const config = await collect(await c.fetchBlob(image.ref, image.manifest.manifest.config));
    expect(config.equals(busybox.latest.configBytes)).toBe(true);
    expect(JSON.parse(config.toString()).config.Cmd).toEqual(['sh']);
    const layer = await collect(await c.fetchBlob(image.ref, image.manifest.manifest.layers[0]!));
    expect(sha256Of(layer)).toBe(busybox.latest.layers[0]!.descriptor.digest);
    expect(await diffIdOf(layer)).toBe(busybox.latest.configJson.rootfs.diff_ids[0]);
  });

  it('selects linux/amd64 from the index by default, linux/arm64 on request, and fails for a platform it lacks', async () => {
    const [amd64, arm64] = busybox.multiarch.images;
    const root = await c.resolve(busybox.multiarch.ref);
    expect(root).toEqual({ mediaType: mediaTypes.ociIndex, digest: busybox.multiarch.descriptor.digest, size: busybox.multiarch.descriptor.size });
    const def = await c.resolveImage(busybox.multiarch.ref, { platform: 'linux/amd64' });
    expect(def.indexes).toHaveLength(1);
    expect(def.manifest.descriptor.digest).toBe(amd64!.manifest.digest);
    expect(def.manifest.descriptor.platform).toEqual({ os: 'linux', architecture: 'amd64' });
    for (const p of ['linux/arm64', 'linux/arm64/v8', 'linux/aarch64']) {
      expect((await c.resolveImage(busybox.multiarch.ref, { platform: p })).manifest.descriptor.digest).toBe(arm64!.manifest.digest);
    }
    if (process.arch === 'x64') expect((await c.resolveImage(busybox.multiarch.ref)).manifest.descriptor.digest).toBe(amd64!.manifest.digest);
    const err = await failure(c.resolveImage(busybox.multiarch.ref, { platform: 'linux/s390x' }));
    expect(err.kind).toBe('not-found');
    expect(err.message).toMatch(/^no match for platform in manifest .*test\/busybox@sha256:/);
    expect(err.message).toContain('linux/s390x');
  });

  it('reads the Docker schema 2 variant', async () => {
    const image = await c.resolveImage(busybox.v2s2.ref);
    expect(image.root.mediaType).toBe(mediaTypes.dockerManifest);
    expect(image.root.digest).toBe(busybox.v2s2.manifest.digest);
    expect(image.manifest.manifest.config.mediaType).toBe(mediaTypes.dockerConfig);
    expect(image.manifest.manifest.layers.map((l) => l.mediaType)).toEqual([mediaTypes.dockerLayerGzip]);
    expect(image.manifest.bytes.equals(busybox.v2s2.manifestBytes)).toBe(true);
    const config = await collect(await c.fetchBlob(image.ref, image.manifest.manifest.config));
    expect(config.equals(busybox.v2s2.configBytes)).toBe(true);
    expect(image.manifest.manifest.config.digest).toBe(busybox.latest.config.digest);
    const layer = await collect(await c.fetchBlob(image.ref, image.manifest.manifest.layers[0]!));
    expect(sha256Of(layer)).toBe(busybox.latest.layers[0]!.descriptor.digest);
  });

  it('fetches the three layers of the multilayer image with their diffIDs, each tar as described', async () => {
    const image = await c.resolveImage(multilayer.ref);
    expect(image.manifest.manifest.layers).toEqual(multilayer.layers.map((l) => l.descriptor));
    const blobs = await Promise.all(image.manifest.manifest.layers.map(async (l) => collect(await c.fetchBlob(image.ref, l))));
    expect(await Promise.all(blobs.map(diffIdOf))).toEqual(multilayer.configJson.rootfs.diff_ids);
    for (const [i, blob] of blobs.entries()) {
      const entries = await tarEntries(blob);
      expect(entries).toEqual(
        multilayer.layers[i]!.entries.map((e) => ({
          name: e.path,
          type: e.type === 'dir' ? 'directory' : e.type,
          mode: e.mode ?? (e.type === 'dir' ? 0o755 : e.type === 'symlink' ? 0o777 : 0o644),
          uid: e.uid ?? 0,
          gid: e.gid ?? 0,
          linkname: e.linkname ?? null,
          content: e.type === 'file' ? String(e.content) : '',
          xattrs: Object.fromEntries(Object.entries(e.xattrs ?? {}).map(([k, v]) => [`SCHILY.xattr.${k}`, v])),
        })),
      );
    }
  });

  it("describes the multilayer image's final tree: whiteouts, opaque dir, hardlink, rewrite", () => {
    const tree = expectedTree(multilayer);
    for (const gone of ['gone', 'gonedir', 'gonedir/inner', 'opq/old1', 'opq/old2', 'opq/mid']) expect(tree.has(gone)).toBe(false);
    for (const kept of ['opq', 'opq/new', 'a/b/c/deep.txt', 'a/b/c/deeper.txt', 'home/user/.profile', 'x/attr']) expect(tree.has(kept)).toBe(true);
    expect(tree.get('rewrite')).toMatchObject({ content: 'v2, rewritten in layer 3\n', mode: 0o640 });
    expect(tree.get('a/hard')).toMatchObject({ type: 'file', content: 'data v1\n', uid: 1000 });
    expect(tree.get('bin/suid')!.mode).toBe(0o4755);
    expect([...tree.keys()].some((k) => k.includes('.wh.'))).toBe(false);
  });

  it('names a missing tag, repository and blob as not-found', async () => {
    const tag = await failure(c.resolve(`${reg.host}/test/busybox:nope`));
    expect(tag.kind).toBe('not-found');
    expect(tag.message).toBe(`${reg.host}/test/busybox:nope: not found`);
    const repo = await failure(c.resolve(`${reg.host}/test/nothing-here`));
    expect(repo.kind).toBe('not-found');
    const missing: Descriptor = { mediaType: mediaTypes.ociLayerGzip, digest: sha256Of('not there'), size: 9 };
    const blob = await failure(c.fetchBlob(busybox.latest.ref, missing));
    expect(blob.kind).toBe('not-found');
    expect(blob.message).toContain(missing.digest);
  });

  it('resumes a 50 MiB layer from an offset with Range, checking the whole digest with the prefix hash', async () => {
    const layer = big.layers[1]!.descriptor;
    // A first download broken off a third of the way in: the caller keeps the bytes it got and their hash.
    const first = await c.fetchBlob(big.ref, layer);
    const prefix = createHash('sha256');
    let got = 0;
    for await (const chunk of first) {
      prefix.update(chunk as Buffer);
      got += (chunk as Buffer).length;
      if (got > layer.size / 3) break; // destroys the stream
    }
    const rest = await collect(await c.fetchBlob(big.ref, layer, { offset: got, hash: prefix }));
    expect(got + rest.length).toBe(layer.size);
    prefix.update(rest);
    expect(`sha256:${prefix.digest('hex')}`).toBe(layer.digest);
  });

  it('fails a resumed stream whose prefix hash is wrong, naming the digest', async () => {
    const layer = busybox.latest.layers[0]!.descriptor;
    const wrongPrefix = createHash('sha256').update(Buffer.alloc(100));
    const stream = await c.fetchBlob(busybox.latest.ref, layer, { offset: 100, hash: wrongPrefix });
    const err = await failure(collect(stream));
    expect(err.kind).toBe('failed-precondition');
    expect(err.message).toContain(`blob ${layer.digest}: digest mismatch`);
  });

  it('refuses an offset past the end', async () => {
    const layer = busybox.latest.layers[0]!.descriptor;
    const err = await failure(c.fetchBlob(busybox.latest.ref, layer, { offset: layer.size + 1 }));
    expect(err.kind).toBe('invalid-argument');
  });
});

describe('registry client against docker-registry with token auth', () => {
  let reg: TestRegistry;
  let busybox: PushedBusybox;

  beforeAll(async () => {
    reg = await startRegistry({ auth: 'token' });
    registries.push(reg);
    busybox = await pushBusybox(reg);
  });

  afterAll(async () => {
    await reg?.stop();
  });

  it('answers the Bearer challenge with the right credentials and caches the token per scope', async () => {
    const c = client({ credentials: staticCredentials({ [reg.host]: { username: 'ctrd', password: 'ctrd-secret' } }) });
    const seen = reg.auth!.tokenServer!.requests.length;
    const image = await c.resolveImage(busybox.multiarch.ref);
    const layer = await collect(await c.fetchBlob(image.ref, image.manifest.manifest.layers[0]!));
    expect(sha256Of(layer)).toBe(busybox.latest.layers[0]!.descriptor.digest);
    const fetched = reg.auth!.tokenServer!.requests.slice(seen);
    expect(fetched).toHaveLength(1);
    expect(fetched[0]).toMatchObject({ user: 'ctrd', service: 'ctrd-test-registry', scopes: ['repository:test/busybox:pull'], granted: true });
    c.close();
  });

  it('reads credentials from a Docker config file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctrd-docker-config-'));
    try {
      const auth = Buffer.from('ctrd:ctrd-secret').toString('base64');
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [`http://${reg.host}`]: { auth } } }));
      const c = client({ credentials: dockerConfigCredentials({ configDir: dir }) });
      expect((await c.resolve(busybox.latest.ref)).digest).toBe(busybox.latest.manifest.digest);
      c.close();
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('reports wrong credentials as unauthenticated, naming the reference and the server message', async () => {
    const c = client({ credentials: staticCredentials({ [reg.host]: { username: 'ctrd', password: 'wrong' } }) });
    const err = await failure(c.resolve(busybox.latest.ref));
    expect(err.kind).toBe('unauthenticated');
    expect(err.message).toBe(`${busybox.latest.ref}: unauthorized: invalid username or password`);
    c.close();
  });

  it('reports an anonymous pull the registry refuses as unauthenticated', async () => {
    const c = client();
    const err = await failure(c.resolve(busybox.latest.ref));
    expect(err.kind).toBe('unauthenticated');
    expect(err.message).toMatch(new RegExp(`^${busybox.latest.ref.replace(/[.]/g, '\\.')}: unauthorized: authentication required`));
    c.close();
  });
});

describe('registry client against docker-registry with htpasswd Basic auth', () => {
  let reg: TestRegistry;
  let busybox: PushedBusybox;

  beforeAll(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
    registries.push(reg);
    busybox = await pushBusybox(reg);
  });

  afterAll(async () => {
    await reg?.stop();
  });

  it('answers the Basic challenge with the right credentials', async () => {
    const c = client({ credentials: staticCredentials({ [reg.host]: { username: 'ctrd', password: 'ctrd-secret' } }) });
    const image = await c.resolveImage(busybox.latest.ref);
    expect(image.manifest.descriptor.digest).toBe(busybox.latest.manifest.digest);
    const config = await collect(await c.fetchBlob(image.ref, image.manifest.manifest.config));
    expect(config.equals(busybox.latest.configBytes)).toBe(true);
    c.close();
  });

  it('reports wrong and missing credentials as unauthenticated', async () => {
    const wrong = client({ credentials: staticCredentials({ [reg.host]: { username: 'ctrd', password: 'nope' } }) });
    const err = await failure(wrong.resolve(busybox.latest.ref));
    expect(err.kind).toBe('unauthenticated');
    expect(err.message).toBe(`${busybox.latest.ref}: unauthorized: authentication required`);
    wrong.close();
    const none = client();
    const anon = await failure(none.resolve(busybox.latest.ref));
    expect(anon.kind).toBe('unauthenticated');
    expect(anon.message).toBe(`${busybox.latest.ref}: unauthorized: ${reg.host} asks for Basic credentials and none are configured`);
    none.close();
  });
});

describe('registry client against a scripted registry', () => {
  let fake: FakeRegistry;
  let c: RegistryClient;
  const repo = 'bad/image';
  const ref = () => `${fake.host}/${repo}:latest`;

  beforeAll(async () => {
    fake = await startFakeRegistry();
    c = client();
  });

  afterAll(async () => {
    c?.close();
    await fake?.stop();
  });

  const blobPath = (d: string) => `/v2/${repo}/blobs/${d}`;

  it('fails a blob whose bytes do not match its digest, naming the digest', async () => {
    const body = Buffer.from('these are not the bytes you are looking for');
    const claimed = sha256Of('other bytes');
    fake.blob(repo, claimed, body);
    const stream = await c.fetchBlob(ref(), { mediaType: mediaTypes.ociLayerGzip, digest: claimed, size: body.length });
    const err = await failure(collect(stream));
    expect(err.kind).toBe('failed-precondition');
    expect(err.message).toBe(`blob ${claimed}: digest mismatch: got ${sha256Of(body)}`);
  });

  it('fails a blob longer than its descriptor says', async () => {
    const body = Buffer.alloc(1000, 1);
    const digest = sha256Of(body);
    fake.blob(repo, digest, body, { chunked: true });
    const err = await failure(collect(await c.fetchBlob(ref(), { mediaType: mediaTypes.ociLayer, digest, size: 999 })));
    expect(err.kind).toBe('failed-precondition');
    expect(err.message).toContain(digest);
  });

  it('resumes a body cut short with a Range request and delivers every byte once', async () => {
    const body = Buffer.alloc(300_000);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    const digest = sha256Of(body);
    fake.blob(repo, digest, body, (nth) => (nth === 1 ? { truncateAt: 100_000 } : {}));
    const got = await collect(await c.fetchBlob(ref(), { mediaType: mediaTypes.ociLayer, digest, size: body.length }));
    expect(got.equals(body)).toBe(true);
    const gets = fake.requestsTo(blobPath(digest));
    expect(gets).toHaveLength(2);
    expect(gets[0]!.headers.range).toBeUndefined();
    expect(gets[1]!.headers.range).toMatch(/^bytes=\d+-$/);
  });

  it('gives up on a body that is always cut short: unavailable, after the retry bound', async () => {
    const body = Buffer.alloc(50_000, 7);
    const digest = sha256Of(body);
    fake.blob(repo, digest, body, { truncateAt: 10, ignoreRange: true });
    const err = await failure(collect(await c.fetchBlob(ref(), { mediaType: mediaTypes.ociLayer, digest, size: body.length })));
    expect(err.kind).toBe('unavailable');
    expect(err.message).toContain(`blob ${digest}: body cut short`);
    expect(fake.requestsTo(blobPath(digest))).toHaveLength(fastRetry.attempts);
  });

  it('stops for good when the caller destroys the stream: no resume, the connection closed', async () => {
    const body = Buffer.alloc(4 << 20, 3);
    const digest = sha256Of(body);
    fake.blob(repo, digest, body);
    const stream = await c.fetchBlob(ref(), { mediaType: mediaTypes.ociLayer, digest, size: body.length });
    for await (const _chunk of stream) break;
    await new Promise((r) => setTimeout(r, 100));
    expect(stream.destroyed).toBe(true);
    expect(fake.requestsTo(blobPath(digest))).toHaveLength(1);
  });

  it('skips the first offset bytes when a server ignores Range, and still checks the whole digest', async () => {
    const body = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');
    const digest = sha256Of(body);
    fake.blob(repo, digest, body, { ignoreRange: true });
    const rest = await collect(await c.fetchBlob(ref(), { mediaType: mediaTypes.ociLayer, digest, size: body.length }, { offset: 10 }));
    expect(rest.toString()).toBe('abcdefghijklmnopqrstuvwxyz');
    expect(fake.requestsTo(blobPath(digest))[0]!.headers.range).toBe('bytes=10-');
    // The same server with a wrong blob: the full body it resends is hashed, so the mismatch is caught.
    const bad = sha256Of('something else');
    fake.blob(repo, bad, body, { ignoreRange: true });
    const err = await failure(collect(await c.fetchBlob(ref(), { mediaType: mediaTypes.ociLayer, digest: bad, size: body.length }, { offset: 10 })));
    expect(err.kind).toBe('failed-precondition');
    expect(err.message).toContain(bad);
  });

  it('follows a 307 to another host without taking the Authorization header along', async () => {
    const other = await startFakeRegistry();
    try {
      const body = Buffer.from('redirected blob');
      const digest = sha256Of(body);
      other.route('GET', '/storage/blob', { body });
      fake.route('*', blobPath(digest), (req): ScriptedResponse =>
        req.headers.authorization === 'Basic dTpw'
          ? { status: 307, headers: { location: `${other.url}/storage/blob` } }
          : { status: 401, headers: { 'www-authenticate': 'Basic realm="fake"' } },
      );
      const withCreds = client({ credentials: () => ({ username: 'u', password: 'p' }) });
      const got = await collect(await withCreds.fetchBlob(ref(), { mediaType: mediaTypes.ociLayer, digest, size: body.length }));
      expect(got.equals(body)).toBe(true);
      expect(other.requestsTo('/storage/blob')[0]!.headers.authorization).toBeUndefined();
      withCreds.close();
    } finally {
      await other.stop();
    }
  });

  it('refuses a manifest that is not JSON, naming it', async () => {
    const desc = fake.manifest(repo, 'this is not json', mediaTypes.ociManifest, { tag: 'notjson' });
    const err = await failure(c.resolveImage(`${fake.host}/${repo}:notjson`));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toContain(`manifest ${fake.host}/${repo}@${desc.digest}`);
    expect(err.message).toContain('not valid JSON');
  });

  it('refuses a manifest of an unknown media type, naming the type', async () => {
    fake.manifest(repo, JSON.stringify({ schemaVersion: 2 }), 'application/vnd.example.thing+json', { tag: 'weird' });
    const err = await failure(c.resolveImage(`${fake.host}/${repo}:weird`));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toContain('unknown media type "application/vnd.example.thing+json"');
  });

  it('refuses a manifest over 4 MiB, whether its size is announced or only streamed', async () => {
    const huge = JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, pad: 'x'.repeat(5 << 20) });
    const desc = fake.manifest(repo, huge, mediaTypes.ociManifest, { tag: 'huge' });
    const err = await failure(c.resolveImage(`${fake.host}/${repo}:huge`));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toMatch(/manifest .* is larger than 4 MiB/);
    // Served chunked under a small descriptor: the limit holds while reading, not after.
    fake.route('GET', `/v2/${repo}/manifests/${desc.digest}`, { body: huge, chunked: true, headers: { 'content-type': mediaTypes.ociManifest } });
    const streamed = await failure(c.fetchManifest(ref(), { ...desc, size: 1000 }));
    expect(streamed.kind).toBe('invalid-argument');
    expect(streamed.message).toMatch(/larger than 4 MiB/);
  });

  it('retries 500s with backoff and then succeeds; gives up after the bound; never retries a 404', async () => {
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, config: { mediaType: mediaTypes.ociConfig, digest: sha256Of('{}'), size: 2 }, layers: [] });
    const digest = sha256Of(manifest);
    const path = `/v2/${repo}/manifests/flaky`;
    fake.route('*', path, (_req, nth) =>
      nth <= 2 ? { status: 500, body: errorBody('UNKNOWN', 'try later') } : { body: manifest, headers: { 'content-type': mediaTypes.ociManifest, 'docker-content-digest': digest } },
    );
    expect((await c.resolve(`${fake.host}/${repo}:flaky`)).digest).toBe(digest);
    expect(fake.requestsTo(path)).toHaveLength(3);

    fake.route('*', `/v2/${repo}/manifests/down`, { status: 503, body: errorBody('UNAVAILABLE', 'down for maintenance') });
    const down = await failure(c.resolve(`${fake.host}/${repo}:down`));
    expect(down.kind).toBe('unavailable');
    expect(fake.requestsTo(`/v2/${repo}/manifests/down`)).toHaveLength(fastRetry.attempts);

    await failure(c.resolve(`${fake.host}/${repo}:absent`));
    expect(fake.requestsTo(`/v2/${repo}/manifests/absent`)).toHaveLength(1);
  });

  it('retries a connection refused, then fails unavailable naming the address', async () => {
    const gone = await startFakeRegistry();
    const host = gone.host;
    await gone.stop();
    const err = await failure(c.resolve(`${host}/x/y:latest`));
    expect(err.kind).toBe('unavailable');
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('falls back to GET when HEAD has no digest, hashing the body', async () => {
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: [] });
    fake.manifest(repo, manifest, mediaTypes.ociIndex, { tag: 'nodigest', digestHeader: false });
    const desc = await c.resolve(`${fake.host}/${repo}:nodigest`);
    expect(desc).toEqual({ mediaType: mediaTypes.ociIndex, digest: sha256Of(manifest), size: manifest.length });
    expect(fake.requestsTo(`/v2/${repo}/manifests/nodigest`).map((r) => r.method)).toEqual(['HEAD', 'GET']);
    // Served as plain application/json: the body tells what it is.
    const manifestJson = JSON.stringify({ schemaVersion: 2, config: { mediaType: mediaTypes.ociConfig, digest: sha256Of('{}'), size: 2 }, layers: [] });
    fake.manifest(repo, manifestJson, mediaTypes.ociManifest, { tag: 'generic', contentType: 'application/json; charset=utf-8' });
    const generic = await c.resolveImage(`${fake.host}/${repo}:generic`);
    expect(generic.root.mediaType).toBe(mediaTypes.ociManifest);
    expect(generic.manifest.manifest.layers).toEqual([]);
  });

  it('fails a manifest whose bytes do not match its digest', async () => {
    const real = fake.manifest(repo, JSON.stringify({ schemaVersion: 2, manifests: [] }), mediaTypes.ociIndex);
    const claimed = sha256Of('another index');
    fake.route('*', `/v2/${repo}/manifests/${claimed}`, { body: JSON.stringify({ schemaVersion: 2, manifests: [] }), headers: { 'content-type': mediaTypes.ociIndex } });
    const err = await failure(c.fetchManifest(ref(), { ...real, digest: claimed }));
    expect(err.kind).toBe('failed-precondition');
    expect(err.message).toBe(`manifest ${fake.host}/${repo}@${claimed}: digest mismatch: got ${real.digest} (${real.size} bytes)`);
  });

  it('maps 403 to permission-denied with the registry message', async () => {
    fake.route('*', `/v2/${repo}/manifests/forbidden`, { status: 403, body: errorBody('DENIED', 'requested access to the resource is denied') });
    const err = await failure(c.resolve(`${fake.host}/${repo}:forbidden`));
    expect(err.kind).toBe('permission-denied');
    expect(err.message).toBe(`${fake.host}/${repo}:forbidden: denied: requested access to the resource is denied`);
    expect(kindOf(err)).toBe('permission-denied');
  });

  it('tries mirrors first and falls back to the registry itself', async () => {
    const mirror = await startFakeRegistry();
    try {
      const manifest = JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: [] });
      fake.manifest(repo, manifest, mediaTypes.ociIndex, { tag: 'mirrored' });
      const m = client({ hosts: { [fake.host]: { mirrors: [mirror.host] } } });
      expect((await m.resolve(`${fake.host}/${repo}:mirrored`)).digest).toBe(sha256Of(manifest));
      const asked = mirror.requestsTo(`/v2/${repo}/manifests/mirrored`);
      expect(asked).toHaveLength(1);
      expect(asked[0]!.url.searchParams.get('ns')).toBe(fake.host);
      m.close();
    } finally {
      await mirror.stop();
    }
  });
});
