// ctrctl save and load against a real ctrd, with real skopeo and ctr on the other side: a save | load round trip
// keeps manifest digests and every tag; what ctrctl saves, skopeo (docker-archive:, oci-archive:) and ctr images
// import read; what skopeo writes (docker-archive:, oci-archive:) and ctr images export writes, ctrd loads, unpacks
// and runs. Bad archives (truncated, a path out of the archive, a blob or layer that is not what names it), an
// interrupted load and unknown images fail with a clear message and change nothing: no image, content, ingest,
// snapshot or lease is left.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctrctlBin, run, TestDaemon, waitFor } from '../harness/daemon.js';
import { explain } from '../harness/ctrctl.js';
import { buildBusybox, pushBusybox, pushMultilayer, skopeoEnv, testImagesDir, type PushedBusybox, type PushedImage } from '../harness/images.js';
import { packTar, sha256Of, type PackEntry } from '../harness/layers.js';
import { mountsUnder } from '../harness/mounts.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { runcBinary, shimsOf } from '../harness/tasks.js';
import { unary, type Clients } from '../../lib/grpc/client.js';
import { LayerState, type LoadResponse, type SaveResponse } from '../../gen/ctrd/services/archive/v1/archive.js';
import { chainIds } from '../../services/images/manifest.js';


/** Every entry of a tar: its name, type, link target and bytes. */
async function readTar(file: string): Promise<Map<string, { type: string; linkname?: string; data: Buffer }>> {
  const entries = new Map<string, { type: string; linkname?: string; data: Buffer }>();
  const ex = extract();
  fs.createReadStream(file).pipe(ex as unknown as NodeJS.WritableStream);
  for await (const e of ex) {
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    entries.set(e.header.name, { type: e.header.type ?? 'file', ...(e.header.linkname ? { linkname: e.header.linkname } : {}), data: Buffer.concat(chunks) });
  }
  return entries;
}

/** The same tar with some entries' bytes changed (same names, types and order). */
async function rewriteTar(from: string, to: string, change: (name: string, data: Buffer) => Buffer | undefined): Promise<void> {
  const entries: PackEntry[] = [];
  for (const [name, e] of await readTar(from)) {
    if (e.type === 'directory') entries.push({ name, type: 'directory', mode: 0o755 });
    else if (e.type === 'symlink') entries.push({ name, type: 'symlink', linkname: e.linkname! });
    else entries.push({ name, mode: 0o644, body: change(name, e.data) ?? e.data });
  }
  fs.writeFileSync(to, await packTar(entries));
}

/** An OCI archive of an image made here (one gzip layer holding one file), the layer corrupt if asked. */
async function newImageArchive(file: string, name: string, opts: { layerBytes: Buffer | string; corruptLayer?: boolean }) {
  const raw = await packTar([{ name: 'new-file', body: opts.layerBytes }]);
  const layer = gzipSync(raw, { level: 1 });
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Of(raw)] } }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256Of(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256Of(layer), size: layer.length }],
  }));
  const stored = Buffer.from(layer);
  if (opts.corruptLayer) stored[100] ^= 0xff;
  fs.writeFileSync(file, await packTar([
    { name: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' },
    { name: `blobs/sha256/${sha256Of(config).slice(7)}`, body: config },
    { name: `blobs/sha256/${sha256Of(manifest).slice(7)}`, body: manifest },
    { name: `blobs/sha256/${sha256Of(layer).slice(7)}`, body: stored },
    { name: 'index.json', body: JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256Of(manifest), size: manifest.length, annotations: { 'io.containerd.image.name': name } }] }) },
  ]));
  return { layer, manifest };
}

const json = (b: Buffer | undefined) => JSON.parse(b!.toString('utf8')) as unknown;

describe.skipIf(!runcBinary || process.getuid?.() !== 0)('ctrctl save and load', () => {
  let d: TestDaemon;
  let reg: TestRegistry;
  let busybox: PushedBusybox;
  let multilayer: PushedImage;
  let c: Clients;
  let work: string;
  let skopeoHome: string;

  const ctl = (args: string[], opts: { stdinFile?: string } = {}) =>
    run(process.execPath, [ctrctlBin, ...args], {
      env: { ...process.env, CTRD_ADDRESS: d.address, CTRD_NAMESPACE: 'default' },
      timeoutMs: 60_000,
      ...opts,
    });

  async function skopeo(...args: string[]): Promise<string> {
    const r = await run('skopeo', ['--insecure-policy', ...args], { env: skopeoEnv(skopeoHome), timeoutMs: 120_000 });
    expect(r.code, `skopeo ${args.join(' ')}\n${r.stderr}`).toBe(0);
    return r.stdout;
  }

  async function target(name: string): Promise<string> {
    const { image } = await unary(c.images, c.images.get, { name });
    return image!.target!.digest;
  }

  /** What a load may change: image names, blobs, ingests, snapshots, leases. */
  async function state(opts: { collectFirst?: boolean } = {}): Promise<Record<string, string>> {
    if (opts.collectFirst) {
      // A lease deleted with sync makes the daemon collect garbage first: earlier tests' leftovers go now.
      const { lease } = await unary(c.leases, c.leases.create, { id: '', labels: {} });
      await unary(c.leases, c.leases.delete, { id: lease!.id, sync: true });
    }
    const out: Record<string, string> = {};
    for (const [key, args] of Object.entries({
      images: ['images', 'ls', '-q'],
      content: ['content', 'ls', '-q'],
      ingests: ['content', 'active'],
      snapshots: ['snapshots', '--snapshotter', 'overlayfs', 'ls'],
      leases: ['leases', 'ls', '-q'],
    })) {
      const r = await d.ctr(args);
      expect(r.code, r.stderr).toBe(0);
      out[key] = r.stdout.split('\n').map((l) => l.trim()).filter(Boolean).sort().join('\n');
    }
    return out;
  }

  /** A load that must fail: non-zero, the message, and the daemon as it was. */
  async function expectLoadRefused(file: string, message: RegExp): Promise<void> {
    const before = await state({ collectFirst: true });
    const r = await ctl(['load', '-i', file]);
    expect(r.code, explain(r, d)).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(await state()).toEqual(before);
  }

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrctl-archive-'));
    skopeoHome = path.join(work, 'skopeo-home');
    [d, reg] = await Promise.all([new TestDaemon().start(), startRegistry()]);
    c = d.clients();
    [busybox, multilayer] = await Promise.all([pushBusybox(reg), pushMultilayer(reg)]);
    for (const ref of [busybox.latest.ref, multilayer.ref]) {
      const r = await ctl(['pull', '-q', ref]);
      expect(r.code, explain(r, d)).toBe(0);
    }
    for (const tag of ['example.com/box:v1', 'example.com/box:v2']) {
      const r = await ctl(['tag', busybox.latest.ref, tag]);
      expect(r.code, explain(r, d)).toBe(0);
    }
  }, 180_000);

  afterAll(async () => {
    c?.close();
    if (d) for (const pid of shimsOf(d.address)) process.kill(pid, 'SIGKILL');
    await reg?.stop();
    await d?.cleanup();
    if (work) {
      expect(mountsUnder(work)).toEqual([]);
      fs.rmSync(work, { recursive: true, force: true });
    }
  });

  it('save | load keeps the manifest digests and every tag of a multi-image archive; the loaded image runs', async () => {
    const file = path.join(work, 'two.tar');
    const targets = { box: await target('example.com/box:v1'), ml: await target(multilayer.ref) };
    expect(await target('example.com/box:v2')).toBe(targets.box);
    // A repository without a tag means all of its tags, as docker save has it.
    const s = await ctl(['save', '-o', file, 'example.com/box', multilayer.ref]);
    expect(s.code, explain(s, d)).toBe(0);
    expect(s.stdout).toBe('');
    expect(fs.readdirSync(work).filter((f) => f.includes('ctrctl-save'))).toEqual([]);

    // Both formats in one tar, every blob the bytes the content store has.
    const tar = await readTar(file);
    expect(json(tar.get('oci-layout')?.data)).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = json(tar.get('index.json')?.data) as { manifests: Array<{ digest: string; annotations?: Record<string, string> }> };
    expect(index.manifests.map((m) => [m.digest, m.annotations])).toEqual([
      [targets.box, { 'io.containerd.image.name': 'example.com/box:v1', 'org.opencontainers.image.ref.name': 'v1' }],
      [targets.box, { 'io.containerd.image.name': 'example.com/box:v2', 'org.opencontainers.image.ref.name': 'v2' }],
      [targets.ml, { 'io.containerd.image.name': multilayer.ref, 'org.opencontainers.image.ref.name': 'latest' }],
    ]);
    const blob = (digest: string) => `blobs/sha256/${digest.slice(7)}`;
    expect(json(tar.get('manifest.json')?.data)).toEqual([
      { Config: blob(busybox.latest.config.digest), RepoTags: ['example.com/box:v1', 'example.com/box:v2'], Layers: busybox.latest.layers.map((l) => blob(l.descriptor.digest)) },
      { Config: blob(multilayer.config.digest), RepoTags: [multilayer.ref], Layers: multilayer.layers.map((l) => blob(l.descriptor.digest)) },
    ]);
    expect(json(tar.get('repositories')?.data)).toEqual({
      'example.com/box': { v1: busybox.latest.layers[0]!.descriptor.digest.slice(7), v2: busybox.latest.layers[0]!.descriptor.digest.slice(7) },
      [multilayer.ref.replace(/:latest$/, '')]: { latest: multilayer.layers[2]!.descriptor.digest.slice(7) },
    });
    expect(tar.get(blob(targets.box))?.data.equals(busybox.latest.manifestBytes)).toBe(true);
    expect(tar.get(blob(targets.ml))?.data.equals(multilayer.manifestBytes)).toBe(true);
    for (const [name, e] of tar) if (name.startsWith('blobs/sha256/') && e.type === 'file') expect(sha256Of(e.data)).toBe(`sha256:${name.slice(13)}`);

    // To stdout, the same bytes (the archive of the same images is the same).
    const toStdout = await run('sh', ['-c', `"${process.execPath}" "${ctrctlBin}" save example.com/box ${multilayer.ref} > "${file}.stdout"`], {
      env: { ...process.env, CTRD_ADDRESS: d.address, CTRD_NAMESPACE: 'default' },
    });
    expect(toStdout.code, toStdout.stderr).toBe(0);
    expect(fs.readFileSync(`${file}.stdout`).equals(fs.readFileSync(file))).toBe(true);

    const rmi = await ctl(['rmi', 'example.com/box:v1', 'example.com/box:v2', multilayer.ref, busybox.latest.ref]);
    expect(rmi.code, explain(rmi, d)).toBe(0);
    const gone = await ctl(['images', '-q']);
    expect(gone.stdout).toBe('');

    const l = await ctl(['load', '-i', file]);
    expect(l.code, explain(l, d)).toBe(0);
    expect(l.stdout).toBe(`Loaded image: example.com/box:v1\nLoaded image: example.com/box:v2\nLoaded image: ${multilayer.ref}\n`);
    expect(l.stderr).toBe('');
    expect(await target('example.com/box:v1')).toBe(targets.box);
    expect(await target('example.com/box:v2')).toBe(targets.box);
    expect(await target(multilayer.ref)).toBe(targets.ml);
    // From stdin too; loading again changes nothing.
    const again = await ctl(['image', 'load'], { stdinFile: file });
    expect(again.code, explain(again, d)).toBe(0);
    expect(again.stdout).toBe(l.stdout);
    // Unpacked: the top snapshot of each image is there, and the image runs.
    const snaps = (await d.ctr(['snapshots', '--snapshotter', 'overlayfs', 'ls'])).stdout;
    expect(snaps).toContain(chainIds(multilayer.layers.map((x) => x.diffId)).at(-1));
    const r = await ctl(['run', '--rm', 'example.com/box:v2', 'echo', 'ok']);
    expect(r.code, explain(r, d)).toBe(0);
    expect(r.stdout).toBe('ok\n');
    expect((await state({ collectFirst: true })).leases).toBe('');
  });

  it("what ctrctl saves, skopeo reads: docker-archive: and oci-archive: give the image's config and layers", async () => {
    const file = path.join(work, 'box.tar');
    const s = await ctl(['image', 'save', '--output', file, 'example.com/box:v1']);
    expect(s.code, explain(s, d)).toBe(0);
    const img = busybox.latest;

    const dockerDir = path.join(work, 'from-docker-archive');
    await skopeo('copy', '--quiet', `docker-archive:${file}`, `oci:${dockerDir}:box`);
    const dIndex = json(fs.readFileSync(path.join(dockerDir, 'index.json'))) as { manifests: Array<{ digest: string }> };
    const dManifest = json(fs.readFileSync(path.join(dockerDir, 'blobs/sha256', dIndex.manifests[0]!.digest.slice(7)))) as {
      config: { digest: string };
      layers: Array<{ digest: string; mediaType: string }>;
    };
    // skopeo converts to OCI on the way (it writes the config again and compresses the layers again): what
    // must be the same is the config's content and each layer's uncompressed bytes (its diff ID).
    const blobOf = (digest: string) => fs.readFileSync(path.join(dockerDir, 'blobs/sha256', digest.slice(7)));
    const config = json(blobOf(dManifest.config.digest)) as { rootfs: { diff_ids: string[] }; config: unknown; architecture: string };
    expect(config.rootfs.diff_ids).toEqual(img.layers.map((l) => l.diffId));
    expect(config.config).toEqual(img.configJson.config);
    expect(config.architecture).toBe('amd64');
    expect(dManifest.layers.map((l) => sha256Of(gunzipSync(blobOf(l.digest))))).toEqual(img.layers.map((l) => l.diffId));

    // The OCI side of the same tar: the very manifest, by its tag.
    const ociDir = path.join(work, 'from-oci-archive');
    await skopeo('copy', '--quiet', '--preserve-digests', `oci-archive:${file}:v1`, `oci:${ociDir}:box`);
    const oIndex = json(fs.readFileSync(path.join(ociDir, 'index.json'))) as { manifests: Array<{ digest: string }> };
    expect(oIndex.manifests[0]!.digest).toBe(img.manifest.digest);
    for (const l of img.layers) expect(fs.existsSync(path.join(ociDir, 'blobs/sha256', l.descriptor.digest.slice(7)))).toBe(true);
  });

  it('an archive skopeo writes with docker-archive: loads, unpacks and runs', async () => {
    await buildBusybox();
    const file = path.join(work, 'skopeo-docker.tar');
    await skopeo('copy', '--quiet', `oci:${testImagesDir()}:busybox`, `docker-archive:${file}:example.com/skopeo/box:v1`);
    // skopeo's layout: uncompressed <diffid>.tar layers, <id>/layer.tar symlinks, the config as <digest>.json.
    const tar = await readTar(file);
    expect([...tar.values()].some((e) => e.type === 'symlink')).toBe(true);
    const l = await ctl(['load', '-i', file]);
    expect(l.code, explain(l, d)).toBe(0);
    expect(l.stdout).toBe('Loaded image: example.com/skopeo/box:v1\n');
    const inspect = await ctl(['image', 'inspect', '-f', '{{.Id}}', 'example.com/skopeo/box:v1']);
    expect(inspect.stdout.trim(), explain(inspect, d)).toBe(busybox.latest.config.digest);
    const r = await ctl(['run', '--rm', 'example.com/skopeo/box:v1', 'echo', 'ok']);
    expect(r.code, explain(r, d)).toBe(0);
    expect(r.stdout).toBe('ok\n');
    // The same archive again: the same manifest ctrd made for it.
    const first = await target('example.com/skopeo/box:v1');
    const again = await ctl(['load', '-i', file]);
    expect(again.code, explain(again, d)).toBe(0);
    expect(await target('example.com/skopeo/box:v1')).toBe(first);
  });

  it('an archive skopeo writes with oci-archive: loads with its manifest digest and unpacks', async () => {
    const file = path.join(work, 'skopeo-oci.tar');
    await skopeo('copy', '--quiet', `oci:${testImagesDir()}:multilayer`, `oci-archive:${file}:example.com/oci/multilayer:v1`);
    const l = await ctl(['load', '-q', '-i', file]);
    expect(l.code, explain(l, d)).toBe(0);
    expect(l.stdout).toBe('Loaded image: example.com/oci/multilayer:v1\n');
    expect(await target('example.com/oci/multilayer:v1')).toBe(multilayer.manifest.digest);
    const snaps = (await d.ctr(['snapshots', '--snapshotter', 'overlayfs', 'ls'])).stdout;
    expect(snaps).toContain(chainIds(multilayer.layers.map((x) => x.diffId)).at(-1));
  });

  it('an archive in the layout of docker before 25 (<id>/layer.tar, <id>/json, the config as <hex>.json) loads and unpacks', async () => {
    const layers = await Promise.all([1, 2].map((i) => packTar([{ name: `etc/old-${i}`, body: `old docker layer ${i}\n` }])));
    const diffIds = layers.map((l) => sha256Of(l));
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: diffIds } }));
    const ids = ['a', 'b'].map((x) => x.repeat(64));
    const file = path.join(work, 'old-docker.tar');
    fs.writeFileSync(file, await packTar([
      ...ids.flatMap((id, i): PackEntry[] => [
        { name: `${id}/`, type: 'directory', mode: 0o755 },
        { name: `${id}/VERSION`, body: '1.0' },
        { name: `${id}/json`, body: JSON.stringify({ id, ...(i > 0 ? { parent: ids[i - 1] } : {}) }) },
        { name: `${id}/layer.tar`, body: layers[i]! },
      ]),
      { name: `${sha256Of(config).slice(7)}.json`, body: config },
      { name: 'repositories', body: JSON.stringify({ 'example.com/old': { v1: ids[1] } }) },
      { name: 'manifest.json', body: JSON.stringify([{ Config: `${sha256Of(config).slice(7)}.json`, RepoTags: ['example.com/old:v1'], Layers: ids.map((id) => `${id}/layer.tar`) }]) },
    ]));
    const l = await ctl(['load', '-i', file]);
    expect(l.code, explain(l, d)).toBe(0);
    expect(l.stdout).toBe('Loaded image: example.com/old:v1\n');
    const inspect = await ctl(['image', 'inspect', '-f', '{{.Id}}', 'example.com/old:v1']);
    expect(inspect.stdout.trim(), explain(inspect, d)).toBe(sha256Of(config));
    const snaps = (await d.ctr(['snapshots', '--snapshotter', 'overlayfs', 'ls'])).stdout;
    expect(snaps).toContain(chainIds(diffIds).at(-1));
    // The manifest ctrd made for it: Docker schema 2, the layers as they are (uncompressed tars).
    const manifest = JSON.parse((await d.ctr(['content', 'get', await target('example.com/old:v1')])).stdout) as {
      mediaType: string;
      layers: Array<{ mediaType: string; digest: string }>;
    };
    expect(manifest.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(manifest.layers).toEqual(diffIds.map((digest, i) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar', digest, size: layers[i]!.length })));
  });

  it("containerd's own archives: ctr images export loads, and ctr images import reads what ctrctl saves", async () => {
    const exported = path.join(work, 'ctr-export.tar');
    const e = await d.ctr(['images', 'export', exported, multilayer.ref]);
    expect(e.code, e.stderr).toBe(0);
    const rmi = await ctl(['rmi', multilayer.ref]);
    expect(rmi.code, explain(rmi, d)).toBe(0);
    const l = await ctl(['load', '-i', exported]);
    expect(l.code, explain(l, d)).toBe(0);
    expect(l.stdout).toBe(`Loaded image: ${multilayer.ref}\n`);
    expect(await target(multilayer.ref)).toBe(multilayer.manifest.digest);

    const saved = path.join(work, 'for-ctr.tar');
    const s = await ctl(['save', '-o', saved, 'example.com/box:v1']);
    expect(s.code, explain(s, d)).toBe(0);
    const rmiBox = await ctl(['rmi', 'example.com/box:v1']);
    expect(rmiBox.code, explain(rmiBox, d)).toBe(0);
    const i = await d.ctr(['images', 'import', saved]);
    expect(i.code, i.stderr).toBe(0);
    expect(await target('example.com/box:v1')).toBe(busybox.latest.manifest.digest);
  });

  it('any gRPC client: Save and Load stream progress beside the data, and Load ends with the images', async () => {
    const saves: SaveResponse[] = [];
    const call = c.archive.save({ references: [multilayer.ref] });
    await new Promise<void>((resolve, reject) => {
      call.on('data', (r: SaveResponse) => saves.push(r));
      call.on('error', reject);
      call.on('end', () => resolve());
    });
    const data = Buffer.concat(saves.filter((r) => r.data).map((r) => Buffer.from(r.data!)));
    const progress = saves.filter((r) => r.progress).map((r) => r.progress!);
    const blobs = [multilayer.manifest, multilayer.config, ...multilayer.layers.map((l) => l.descriptor)];
    expect(progress.at(-1)).toEqual({ written: blobs.reduce((n, b) => n + b.size, 0), total: blobs.reduce((n, b) => n + b.size, 0), blobsWritten: 5, blobsTotal: 5 });
    const file = path.join(work, 'api.tar');
    fs.writeFileSync(file, data);
    expect((await readTar(file)).has('manifest.json')).toBe(true);

    const loads: LoadResponse[] = [];
    const load = c.archive.load();
    const done = new Promise<void>((resolve, reject) => {
      load.on('data', (r: LoadResponse) => loads.push(r));
      load.on('error', reject);
      load.on('end', () => resolve());
    });
    load.write({ snapshotter: 'native', data: Buffer.alloc(0) });
    for (let off = 0; off < data.length; off += 4096) load.write({ snapshotter: '', data: data.subarray(off, off + 4096) });
    load.end();
    await done;
    const last = loads.at(-1)!;
    expect(last.result?.images.map((i) => [i.name, i.id, i.target?.digest])).toEqual([[multilayer.ref, multilayer.config.digest, multilayer.manifest.digest]]);
    const layerStates = loads.filter((r) => r.progress && r.progress.layers.length > 0).at(-1)!.progress!.layers;
    expect(layerStates.map((l) => [l.descriptor?.digest, l.state])).toEqual(multilayer.layers.map((l) => [l.descriptor.digest, LayerState.LAYER_STATE_UNPACKED]));
    // Entries are reported as they are read (throttled); by the end, every byte of the archive was received.
    expect(loads.some((r) => r.progress?.entry)).toBe(true);
    expect(loads.filter((r) => r.progress).at(-1)!.progress!.received).toBe(data.length);
    // Unpacked where the first message asked: the native snapshotter.
    const native = (await d.ctr(['snapshots', '--snapshotter', 'native', 'ls'])).stdout;
    expect(native).toContain(chainIds(multilayer.layers.map((x) => x.diffId)).at(-1));
  });

  it('a save whose reader goes away (ctrctl save | head) ends, and its lease goes', async () => {
    const env = { ...process.env, CTRD_ADDRESS: d.address, CTRD_NAMESPACE: 'default' };
    const r = await run('sh', ['-c', `"${process.execPath}" "${ctrctlBin}" save example.com/box:v1 ${multilayer.ref} | head -c 1000 | wc -c`], { env });
    expect(r.stdout.trim(), r.stderr).toBe('1000');
    await waitFor('the save to end', async () => (await d.ctr(['leases', 'ls', '-q'])).stdout.trim() === '');
  });

  it('a multi-platform image keeps its index digest through save | load (one platform in the archive); a gzip archive loads', async () => {
    const index = busybox.multiarch;
    const pull = await ctl(['pull', '-q', index.ref]);
    expect(pull.code, explain(pull, d)).toBe(0);
    const file = path.join(work, 'multiarch.tar');
    const s = await ctl(['save', '-o', file, index.ref]);
    expect(s.code, explain(s, d)).toBe(0);
    const tar = await readTar(file);
    const [amd64, arm64] = index.images;
    expect(tar.get(`blobs/sha256/${index.descriptor.digest.slice(7)}`)?.data.equals(index.bytes)).toBe(true);
    expect(tar.has(`blobs/sha256/${amd64!.manifest.digest.slice(7)}`)).toBe(true);
    // The pull fetched one platform; the archive holds what the daemon has.
    expect(tar.has(`blobs/sha256/${arm64!.manifest.digest.slice(7)}`)).toBe(false);
    expect((json(tar.get('manifest.json')?.data) as Array<{ Config: string }>)[0]!.Config).toBe(`blobs/sha256/${amd64!.config.digest.slice(7)}`);

    const rmi = await ctl(['rmi', index.ref]);
    expect(rmi.code, explain(rmi, d)).toBe(0);
    fs.writeFileSync(`${file}.gz`, gzipSync(fs.readFileSync(file)));
    const l = await ctl(['load', '-i', `${file}.gz`]);
    expect(l.code, explain(l, d)).toBe(0);
    expect(l.stdout).toBe(`Loaded image: ${index.ref}\n`);
    expect(await target(index.ref)).toBe(index.descriptor.digest);
    const inspect = await ctl(['image', 'inspect', '-f', '{{.Id}}', index.ref]);
    expect(inspect.stdout.trim(), explain(inspect, d)).toBe(amd64!.config.digest);
  });

  it('an image the archive does not name loads as an ID', async () => {
    const file = path.join(work, 'by-id.tar');
    const s = await ctl(['save', '-o', file, busybox.latest.config.digest.slice(7, 19)]);
    expect(s.code, explain(s, d)).toBe(0);
    const manifest = json((await readTar(file)).get('manifest.json')?.data) as Array<{ RepoTags: string[] }>;
    expect(manifest[0]!.RepoTags).toEqual([]);
    const l = await ctl(['load', '-i', file]);
    expect(l.code, explain(l, d)).toBe(0);
    expect(l.stdout).toBe(`Loaded image ID: ${busybox.latest.config.digest}\n`);
  });

  it('on a terminal, save and load show their progress (redrawn in place), then what docker prints', async () => {
    const env = { ...process.env, CTRD_ADDRESS: d.address, CTRD_NAMESPACE: 'default' };
    const file = path.join(work, 'tty.tar');
    const s = await run('script', ['-qec', `${process.execPath} ${ctrctlBin} save -o ${file} ${multilayer.ref}`, '/dev/null'], { env });
    expect(s.code, s.stdout).toBe(0);
    expect(s.stdout).toMatch(/\r\x1b\[2KSaving 5\/5 blobs +[0-9.]+kB\/[0-9.]+kB\r\x1b\[2K$/);
    const l = await run('script', ['-qec', `${process.execPath} ${ctrctlBin} load -i ${file}`, '/dev/null'], { env });
    expect(l.code, l.stdout).toBe(0);
    const out = l.stdout.replace(/\r\n/g, '\n');
    expect(out).toMatch(/^\r\x1b\[2KReading archive /);
    // The layers' snapshots are there from before: docker's "Already exists".
    for (const layer of multilayer.layers) expect(out).toMatch(new RegExp(`(\n|\x1b\\[2K)${layer.descriptor.digest.slice(7, 19)}: Already exists\n`));
    expect(out.endsWith(`Loaded image: ${multilayer.ref}\n`)).toBe(true);
    const q = await run('script', ['-qec', `${process.execPath} ${ctrctlBin} load -q -i ${file}`, '/dev/null'], { env });
    expect(q.stdout.replace(/\r\n/g, '\n')).toBe(`Loaded image: ${multilayer.ref}\n`);
  });

  // ---- bad input ----

  it('refuses a truncated archive', async () => {
    const good = path.join(work, 'two.tar');
    const bytes = fs.readFileSync(good);
    const file = path.join(work, 'truncated.tar');
    fs.writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2) + 100));
    await expectLoadRefused(file, /^ctrctl: the archive is truncated: the tar ends inside entry "blobs\/sha256\/[0-9a-f]{64}"\n$/);
  });

  it('refuses paths that leave the archive: "..", absolute, and a symlink out', async () => {
    const layout = (extra: PackEntry) => [{ name: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' }, extra, { name: 'index.json', body: '{"schemaVersion":2,"manifests":[]}' }];
    const cases: Array<[string, PackEntry, RegExp]> = [
      ['dotdot.tar', { name: 'blobs/../../evil', body: 'x' }, /archive entry "blobs\/..\/..\/evil": the path leaves the archive/],
      ['absolute.tar', { name: '/etc/evil', body: 'x' }, /archive entry "\/etc\/evil": absolute paths are not allowed/],
      ['symlink.tar', { name: 'x/layer.tar', type: 'symlink', linkname: '../../etc/shadow' }, /archive entry "x\/layer.tar": symlink to "..\/..\/etc\/shadow" leaves the archive/],
    ];
    for (const [name, entry, message] of cases) {
      const file = path.join(work, name);
      fs.writeFileSync(file, await packTar(layout(entry)));
      await expectLoadRefused(file, message);
    }
  });

  it('refuses a blob whose bytes are not the digest its name says, whether the daemon has that blob or not', async () => {
    // The saved busybox, its layer rewritten (same size): the daemon has the real one.
    const layer = busybox.latest.layers[0]!.descriptor.digest;
    const known = path.join(work, 'bad-known-layer.tar');
    await rewriteTar(path.join(work, 'box.tar'), known, (name, data) => {
      if (name !== `blobs/sha256/${layer.slice(7)}`) return undefined;
      const copy = Buffer.from(data);
      copy[copy.length - 1] ^= 0xff;
      return copy;
    });
    await expectLoadRefused(known, new RegExp(`archive entry "blobs/sha256/${layer.slice(7)}": its content has digest sha256:[0-9a-f]{64}, but its name says ${layer}`));

    // A new image whose layer blob is corrupt: nothing of it may stay.
    const file = path.join(work, 'bad-new-layer.tar');
    const { layer: gz } = await newImageArchive(file, 'example.com/new:v1', { layerBytes: 'new content '.repeat(1000), corruptLayer: true });
    await expectLoadRefused(file, new RegExp(`its content has digest sha256:[0-9a-f]{64}, but its name says ${sha256Of(gz)}`));
  });

  it('a load interrupted with Ctrl-C exits 130, and the daemon drops what it had stored', async () => {
    const file = path.join(work, 'interrupted.tar');
    await newImageArchive(file, 'example.com/interrupted:v1', { layerBytes: randomBytes(8 << 20) });
    const bytes = fs.readFileSync(file);
    const before = await state({ collectFirst: true });
    const child = spawn(process.execPath, [ctrctlBin, 'load'], {
      env: { ...process.env, CTRD_ADDRESS: d.address, CTRD_NAMESPACE: 'default' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const exited = once(child, 'exit');
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    child.stdin!.on('error', () => undefined); // what is still buffered when ctrctl exits
    child.stdin!.write(bytes.subarray(0, bytes.length - (1 << 20)));
    // The layer's ingest shows that the daemon is storing it; stdin stays open.
    await waitFor('the load to write the layer', async () => (await d.ctr(['content', 'active'])).stdout.trim().split('\n').length > 1);
    child.kill('SIGINT');
    const [code] = (await exited) as [number | null];
    expect(code, stderr).toBe(130);
    await waitFor('the daemon to drop the interrupted load', async () => JSON.stringify(await state()) === JSON.stringify(before));
    expect((await ctl(['images', '-q', 'example.com/interrupted'])).stdout).toBe('');
  });

  it("refuses a Docker archive whose layer does not match the config's diff ID, before or during the unpack", async () => {
    // skopeo's archive: uncompressed layers, named by their diff IDs; one byte of the layer changed.
    const skopeoTar = path.join(work, 'skopeo-docker.tar');
    const bad = path.join(work, 'bad-docker-layer.tar');
    const diffId = busybox.latest.layers[0]!.diffId;
    await rewriteTar(skopeoTar, bad, (name, data) => {
      if (name !== `${diffId.slice(7)}.tar`) return undefined;
      const copy = Buffer.from(data);
      copy[copy.length - 2000] ^= 0xff;
      return copy;
    });
    await expectLoadRefused(bad, new RegExp(`layer "${diffId.slice(7)}.tar" has digest sha256:[0-9a-f]{64}, but the config sha256:[0-9a-f]{64} says its diff ID is ${diffId}`));

    // Two gzip layers, the second's diff ID wrong in the config: the first is unpacked before the second fails,
    // and its snapshot must go too.
    const layers = await Promise.all([1, 2].map((i) => packTar([{ name: `file-${i}`, body: `layer ${i} `.repeat(500) }])));
    const gz = layers.map((l) => gzipSync(l));
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Of(layers[0]!), sha256Of(Buffer.from('not the layer'))] } }));
    const file = path.join(work, 'bad-diff-id.tar');
    fs.writeFileSync(file, await packTar([
      { name: 'config.json', body: config },
      { name: 'one/layer.tar', body: gz[0]! },
      { name: 'two/layer.tar', body: gz[1]! },
      { name: 'manifest.json', body: JSON.stringify([{ Config: 'config.json', RepoTags: ['example.com/bad:v1'], Layers: ['one/layer.tar', 'two/layer.tar'] }]) },
    ]));
    await expectLoadRefused(file, new RegExp(`unpacking layer ${sha256Of(gz[1]!)}: wrong diff id calculated on extraction`));
  });

  it('refuses to save an unknown image (no file is made), a tar onto a terminal, and a load from a terminal', async () => {
    const file = path.join(work, 'unknown.tar');
    const r = await ctl(['save', '-o', file, 'example.com/box:v1', 'example.com/nosuch:v1']);
    expect(r.code, explain(r, d)).toBe(1);
    expect(r.stderr).toBe('ctrctl: no such image: example.com/nosuch:v1\n');
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.readdirSync(work).filter((f) => f.includes('ctrctl-save'))).toEqual([]);

    const env = { ...process.env, CTRD_ADDRESS: d.address, CTRD_NAMESPACE: 'default' };
    const tty = await run('script', ['-qec', `${process.execPath} ${ctrctlBin} save example.com/box:v1`, '/dev/null'], { env });
    expect(tty.code).toBe(1);
    expect(tty.stdout.replace(/\r/g, '')).toBe('ctrctl: cowardly refusing to save to a terminal. Use the -o flag or redirect\n');
    const load = await run('script', ['-qec', `${process.execPath} ${ctrctlBin} load`, '/dev/null'], { env });
    expect(load.code).toBe(1);
    expect(load.stdout.replace(/\r/g, '')).toBe('ctrctl: requested load from stdin, but stdin is empty\n');
  });
});
