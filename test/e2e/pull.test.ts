// Pulling from a real registry (Debian's docker-registry on 127.0.0.1): the stock ctr, which pulls
// client-side through Content, Diff and Snapshots, and ctrd's own ImageService.Pull.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon } from '../harness/daemon.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { pushBusybox, pushMultilayer, testImagesDir, type PushedBusybox, type PushedImage } from '../harness/images.js';
import { startFakeRegistry, sha256Of, type FakeRegistry } from '../harness/fake-registry.js';
import { pullImage } from '../harness/pull.js';
import { listTree } from '../harness/tree.js';
import { packTar } from '../harness/layers.js';
import { Mounter, mountsUnder } from '../harness/mounts.js';
import { unary } from '../../lib/grpc/client.js';
import { SnapshotsClient } from '../../gen/containerd/services/snapshots/v1/snapshots.js';
import { credentials, Metadata } from '@grpc/grpc-js';

const execFileP = promisify(execFile);

const contentDir = (d: TestDaemon) => join(d.root, 'io.containerd.content.v1.content');
const snapshotDirs = (d: TestDaemon, sn: string) => {
  try {
    return readdirSync(join(d.root, `io.containerd.snapshotter.v1.${sn}`, 'snapshots'));
  } catch {
    return [];
  }
};

/** A read-only view of a committed snapshot, as the client mounts it. */
async function viewMounts(d: TestDaemon, snapshotter: string, key: string, parent: string) {
  const client = new SnapshotsClient(`unix://${d.address}`, credentials.createInsecure());
  const md = new Metadata();
  md.set('containerd-namespace', 'default');
  const res = await new Promise<{ mounts: Array<{ type: string; source: string; options: string[] }> }>((resolve, reject) =>
    client.view({ snapshotter, key, parent, labels: {} }, md, (err, r) => (err ? reject(err) : resolve(r))),
  );
  const remove = () =>
    new Promise<void>((resolve, reject) =>
      client.remove({ snapshotter, key }, md, (err) => {
        client.close();
        if (err) reject(err);
        else resolve();
      }),
    );
  return { mounts: res.mounts, remove };
}

describe('pull from a real registry', () => {
  let reg: TestRegistry;
  let d: TestDaemon;
  let busybox: PushedBusybox;
  let multi: PushedImage;
  let umociRootfs: Record<string, ReturnType<typeof listTree>[string]>;
  let work: string;

  beforeAll(async () => {
    reg = await startRegistry();
    [busybox, multi] = await Promise.all([pushBusybox(reg), pushMultilayer(reg)]);
    d = await new TestDaemon().start();
    // The reference unpack: umoci, from the same OCI layout the registry was fed from.
    work = mkdtempSync(join(d.dir, 'umoci-'));
    await execFileP('umoci', ['unpack', '--image', `${testImagesDir()}:multilayer`, join(work, 'bundle')]);
    umociRootfs = listTree(join(work, 'bundle', 'rootfs'));
  }, 120_000);

  afterAll(async () => {
    await d?.cleanup();
    await reg?.stop();
  });

  it('stock ctr pulls, lists, unpacks into snapshots, and removes', async () => {
    const r = await d.ctr(['images', 'pull', '--plain-http', busybox.latest.ref], { timeoutMs: 60_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect((await d.ctr(['images', 'ls', '-q'])).stdout.split('\n')).toContain(busybox.latest.ref);
    const chain = busybox.latest.layers[0]!.diffId;
    expect((await d.ctr(['snapshots', 'ls'])).stdout).toMatch(new RegExp(`${chain}\\s+Committed`));
    expect((await d.ctr(['snapshots', 'tree'])).stdout).toContain(chain);
    const mounts = await d.ctr(['snapshots', 'prepare', 'ctr-view', chain]);
    expect(mounts.code).toBe(0);
    const m = await d.ctr(['snapshots', 'mounts', '/mnt/x', 'ctr-view']);
    expect(m.stdout).toMatch(/^mount -t overlay overlay \/mnt\/x -o .*lowerdir=/);
    expect((await d.ctr(['snapshots', 'rm', 'ctr-view'])).code).toBe(0);
    const ls = await d.ctr(['content', 'ls', '-q']);
    expect(ls.stdout).toContain(busybox.latest.manifest.digest);
    expect(ls.stdout).toContain(busybox.latest.layers[0]!.descriptor.digest);
    expect((await d.ctr(['images', 'rm', '--sync', busybox.latest.ref])).code).toBe(0);
    expect((await d.ctr(['images', 'ls', '-q'])).stdout.trim()).toBe('');
  });

  for (const snapshotter of ['overlayfs', 'native']) {
    it(`ctrd pulls the multi-layer image into ${snapshotter}: the top snapshot is what umoci unpacks`, async () => {
      // With the CLI, as a person pulls.
      const r = await d.ctrctl(['pull', '--snapshotter', snapshotter, multi.ref]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim().split('\n').pop()).toBe(multi.ref);
      expect(r.stdout).toContain(`Digest: ${multi.manifest.digest}`);
      const c = d.clients();
      const { image } = await unary(c.ctrdImages, c.ctrdImages.inspect, { reference: multi.ref });
      c.close();
      expect(image!.id).toBe(multi.config.digest);

      const chainTop = (await d.ctr(['snapshots', '--snapshotter', snapshotter, 'ls'])).stdout;
      expect(chainTop).toContain(multi.layers[0]!.diffId);
      const top = await topChainId(d, snapshotter, multi);
      const view = await viewMounts(d, snapshotter, `compare-${snapshotter}`, top);
      const target = join(work, `mnt-${snapshotter}`);
      mkdirSync(target);
      const mounter = new Mounter();
      try {
        await mounter.mount(view.mounts, target);
        const got = listTree(target);
        const diff = Object.keys({ ...got, ...umociRootfs }).filter((k) => JSON.stringify(got[k]) !== JSON.stringify(umociRootfs[k]));
        expect(diff.map((k) => [k, got[k], umociRootfs[k]])).toEqual([]);
        expect(got).toEqual(umociRootfs);
      } finally {
        await mounter.unmountAll();
        await view.remove();
        rmSync(target, { recursive: true, force: true });
      }
      expect(mountsUnder(work)).toEqual([]);
    });
  }

  it('rmi: garbage collection leaves no blob, snapshot or ingest of the image on disk', async () => {
    const before = readdirSync(join(contentDir(d), 'blobs', 'sha256')).length;
    expect(before).toBeGreaterThan(0);
    const rmi = await d.ctrctl(['rmi', multi.ref]);
    expect(rmi.code, rmi.stderr).toBe(0);
    expect(rmi.stdout).toContain(`Untagged: ${multi.ref}`);
    expect(rmi.stdout).toContain(`Deleted: ${multi.config.digest}`);
    expect((await d.ctr(['content', 'ls', '-q'])).stdout + (await d.ctr(['leases', 'ls', '-q'])).stdout).toBe('');
    expect(readdirSync(join(contentDir(d), 'blobs', 'sha256'))).toEqual([]);
    expect(readdirSync(join(contentDir(d), 'ingest'))).toEqual([]);
    expect(snapshotDirs(d, 'overlayfs')).toEqual([]);
    expect(snapshotDirs(d, 'native')).toEqual([]);
    expect((await d.ctr(['snapshots', 'ls'])).stdout.trim().split('\n')).toHaveLength(1); // the header only
  });

  it('an unknown image is NotFound, and nothing is left of the attempt', async () => {
    const { error } = await pullImage(d.address, `${reg.host}/test/nothing-here:latest`);
    expect(error?.code).toBe(status.NOT_FOUND);
    expect(error?.details).toContain('test/nothing-here');
    const bad = await pullImage(d.address, 'Not A Reference');
    expect(bad.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.error?.details).toContain('"Not A Reference"');
  });
});

describe('pull with credentials', () => {
  let reg: TestRegistry;
  let d: TestDaemon;
  let busybox: PushedBusybox;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'token' });
    busybox = await pushBusybox(reg);
    d = await new TestDaemon().start();
  }, 120_000);
  afterAll(async () => {
    await d?.cleanup();
    await reg?.stop();
  });

  it('pulls with the right credentials through the bearer token flow', async () => {
    const { error, messages } = await pullImage(d.address, busybox.latest.ref, { username: reg.auth!.username, password: reg.auth!.password });
    expect(error).toBeUndefined();
    expect(messages[messages.length - 1]!.image!.name).toBe(busybox.latest.ref);
  });

  it('wrong credentials are a clear "unauthorized"', async () => {
    const { error } = await pullImage(d.address, busybox.latest.ref, { username: reg.auth!.username, password: 'wrong' });
    expect(error?.code).toBe(status.UNAUTHENTICATED);
    expect(error?.details).toMatch(/unauthorized/);
  });
});

describe('pull from a registry that serves bad bytes', () => {
  let fake: FakeRegistry;
  let d: TestDaemon;
  beforeAll(async () => {
    fake = await startFakeRegistry();
    d = await new TestDaemon().start();
  });
  afterAll(async () => {
    await d?.cleanup();
    await fake?.stop();
  });

  /** Serves test/<repo>:latest whose one layer is `served` under the digest of `claimed`. */
  function image(repo: string, claimed: Buffer, served: Buffer, opts: { truncateAt?: number } = {}) {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Of(claimed)] } }));
    fake.blob(`test/${repo}`, sha256Of(config), config);
    fake.blob(`test/${repo}`, sha256Of(claimed), served, opts.truncateAt ? { truncateAt: opts.truncateAt } : undefined);
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256Of(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256Of(claimed), size: claimed.length }],
    };
    fake.manifest(`test/${repo}`, JSON.stringify(manifest), manifest.mediaType, { tag: 'latest' });
    return `${fake.host}/test/${repo}:latest`;
  }

  async function expectNothingCommitted() {
    const c = d.clients();
    const { images } = await unary(c.ctrdImages, c.ctrdImages.list, { filters: [] });
    c.close();
    expect(images).toEqual([]);
    // The pull's leftovers are garbage once its lease is gone; the collector takes them away.
    await new Promise((r) => setTimeout(r, 500));
    expect(readdirSync(join(contentDir(d), 'blobs', 'sha256'))).toEqual([]);
    expect(snapshotDirs(d, 'overlayfs')).toEqual([]);
  }

  const tar = Buffer.alloc(1024); // an empty tar: two zero blocks

  it('a blob whose bytes do not match its digest', async () => {
    const ref = image('mismatch', tar, Buffer.alloc(1024, 1));
    const { error } = await pullImage(d.address, ref);
    expect(error?.code).toBe(status.FAILED_PRECONDITION);
    expect(error?.details).toContain(sha256Of(tar));
    await expectNothingCommitted();
  });

  it('a truncated blob', async () => {
    const ref = image('truncated', tar, tar, { truncateAt: 100 });
    const { error } = await pullImage(d.address, ref);
    expect(error).toBeDefined();
    expect(error?.details).toContain(sha256Of(tar));
    await expectNothingCommitted();
  });

  it('a layer that tries to write outside its snapshot writes nothing outside', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'ctrd-escape-'));
    try {
      writeFileSync(join(outside, 'canary'), 'untouched');
      const layer = await packTar([
        { name: `../../../../../../../..${outside}/dotdot`, body: 'escaped by ..' },
        { name: `${outside}/absolute`, body: 'escaped by an absolute path' },
        { name: 'evil', type: 'symlink', linkname: outside },
        { name: 'evil/through-symlink', body: 'escaped through a symlink' },
        { name: 'rel', type: 'symlink', linkname: '../../../../../../..' + outside },
        { name: 'rel/through-relative', body: 'escaped through a relative symlink' },
      ]);
      const ref = image('escape', layer, layer);
      const { error } = await pullImage(d.address, ref);
      expect(error, error?.details).toBeUndefined(); // paths are resolved inside the root, as containerd does
      expect(readdirSync(outside)).toEqual(['canary']);
      expect(readFileSync(join(outside, 'canary'), 'utf8')).toBe('untouched');
      // What the layer wrote landed inside the snapshot instead.
      const snapshots = join(d.root, 'io.containerd.snapshotter.v1.overlayfs', 'snapshots');
      const [only] = readdirSync(snapshots);
      expect(readFileSync(join(snapshots, only!, 'fs', outside.slice(1), 'dotdot'), 'utf8')).toBe('escaped by ..');
      expect(readFileSync(join(snapshots, only!, 'fs', outside.slice(1), 'through-symlink'), 'utf8')).toBe('escaped through a symlink');
      const c = d.clients();
      await unary(c.ctrdImages, c.ctrdImages.remove, { references: [ref], force: false });
      c.close();
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('a layer with a hardlink to a file outside is refused, and nothing is committed', async () => {
    const layer = await packTar([{ name: 'stolen', type: 'link', linkname: '../../../../../../../../etc/passwd' }]);
    const { error } = await pullImage(d.address, image('hardlink', layer, layer));
    expect(error?.code).toBe(status.INVALID_ARGUMENT);
    await expectNothingCommitted();
  });

  it('a manifest that is not JSON, one of an unknown media type, one over 4 MiB', async () => {
    fake.manifest('test/notjson', 'this is not json', 'application/vnd.oci.image.manifest.v1+json', { tag: 'latest' });
    let r = await pullImage(d.address, `${fake.host}/test/notjson:latest`);
    expect(r.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(r.error?.details).toMatch(/not valid JSON/);
    fake.manifest('test/weird', '{"schemaVersion":2}', 'application/vnd.example.weird+json', { tag: 'latest' });
    r = await pullImage(d.address, `${fake.host}/test/weird:latest`);
    expect(r.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(r.error?.details).toContain('application/vnd.example.weird+json');
    fake.manifest('test/huge', `{"schemaVersion":2,"x":"${'a'.repeat(4 * 1024 * 1024)}"}`, 'application/vnd.oci.image.manifest.v1+json', { tag: 'latest' });
    r = await pullImage(d.address, `${fake.host}/test/huge:latest`);
    expect(r.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(r.error?.details).toMatch(/larger than 4 MiB/);
    await expectNothingCommitted();
  });
});

/** The chain ID of the image's top layer, from the snapshots ctrd made (the one no other names as parent). */
async function topChainId(d: TestDaemon, snapshotter: string, image: PushedImage): Promise<string> {
  const { chainIds } = await import('../../services/images/manifest.js');
  const ids = chainIds(image.layers.map((l) => l.diffId));
  const ls = (await d.ctr(['snapshots', '--snapshotter', snapshotter, 'ls'])).stdout;
  for (const id of ids) expect(ls).toContain(id);
  return ids[ids.length - 1]!;
}
