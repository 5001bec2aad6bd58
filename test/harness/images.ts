// Test images, built here into one OCI image layout in a temp dir (tar-stream + zlib; digests, diffIDs,
// index.json written by hand) and pushed to a test registry with skopeo:
//   test/busybox:latest     busybox-static + applet symlinks, /etc/passwd and /etc/group; Cmd ["sh"] (OCI)
//   test/busybox:multiarch  an index: that manifest for linux/amd64 and a small fake linux/arm64/v8 one
//   test/busybox:v2s2       the same image as Docker schema 2 (skopeo --format v2s2)
//   test/multilayer:latest  3 gzip layers: modes, owners, setuid, symlinks, a hardlink, an xattr; whiteouts,
//                           an opaque dir and a rewritten file in the top layer
//   test/big:latest         3 layers of 50 MiB random data each (gzip level 0: stored, quick to make)
//   test/volume:latest      busybox's layer and one with /data (1000:1000, 0750, files, a symlink), VOLUME /data
// Images are built once per test file (vitest runs each file in its own process); the layout is deleted
// when the file's tests are done, or earlier by removeTestImages().
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack as tarPack, type Header, type Pack } from 'tar-stream';
import type { Digest } from '../../lib/digest.js';
import { mediaTypes } from '../../lib/registry/media-types.js';
import type { Descriptor, ImageIndex, ImageManifest } from '../../lib/registry/manifest.js';
import type { Platform } from '../../lib/registry/platform.js';
import { run } from './daemon.js';
import type { TestRegistry } from './registry.js';

export interface LayerEntry {
  /** Relative path in the layer: "bin/busybox", "etc/" for a directory. */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'link';
  mode?: number;
  uid?: number;
  gid?: number;
  content?: Buffer | string;
  /** A file of this many random bytes (streamed, not kept). */
  randomSize?: number;
  /** Symlink target, or the hardlink's target path in the layer. */
  linkname?: string;
  xattrs?: Record<string, string>;
}

export interface BuiltLayer {
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar (the config's rootfs.diff_ids entry). */
  diffId: Digest;
  uncompressedSize: number;
  entries: LayerEntry[];
}

export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  config: { Env?: string[]; Cmd?: string[]; WorkingDir?: string; User?: string; Volumes?: Record<string, object> };
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  created?: string;
  history?: Array<{ created?: string; created_by?: string; empty_layer?: boolean }>;
}

export interface BuiltImage {
  /** The manifest's descriptor, with the platform it is for. */
  manifest: Descriptor;
  manifestBytes: Buffer;
  manifestJson: ImageManifest;
  config: Descriptor;
  configBytes: Buffer;
  configJson: ImageConfig;
  layers: BuiltLayer[];
  platform: Platform;
}

export interface BuiltIndex {
  descriptor: Descriptor;
  bytes: Buffer;
  json: ImageIndex;
  images: BuiltImage[];
}

export interface PushedImage extends BuiltImage {
  /** "127.0.0.1:PORT/test/busybox:latest" */
  ref: string;
  /** "127.0.0.1:PORT/test/busybox@sha256:..." */
  digestRef: string;
}

export interface PushedIndex extends BuiltIndex {
  ref: string;
  digestRef: string;
}

export interface PushedBusybox {
  latest: PushedImage;
  multiarch: PushedIndex;
  v2s2: PushedImage;
}

const epoch = new Date('2024-01-01T00:00:00Z');
const created = epoch.toISOString();
const path = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const refNameAnnotation = 'org.opencontainers.image.ref.name';
export const busyboxApplets = ['sh', 'ls', 'cat', 'echo', 'true', 'false', 'sleep', 'env', 'id', 'mkdir', 'rm', 'ps', 'wc', 'head', 'pwd', 'touch', 'uname', 'hostname', 'grep', 'test', 'printf', 'stat', 'mount', 'cp', 'mv', 'ln', 'chmod', 'kill', 'date', 'tail', 'tr', 'dd', 'tty', 'stty', 'seq', 'sha256sum', 'ip', 'ifconfig', 'top', 'free', 'whoami', 'nproc', 'xargs', 'sed', 'awk', 'sort', 'uniq', 'nc', 'wget', 'httpd'];

/** Hashes and counts what flows through. */
class Tap extends Transform {
  readonly hash: Hash = createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }
  digest(): Digest {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

type TarHeader = Partial<Header> & Pick<Header, 'name'>;

function entryDone(pack: Pack, header: TarHeader, content?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const cb = (err?: Error | null) => (err ? reject(err) : resolve());
    if (content) pack.entry(header, content, cb);
    else pack.entry(header, cb);
  });
}

async function addEntry(pack: Pack, e: LayerEntry): Promise<void> {
  const header: TarHeader = {
    name: e.path,
    mode: e.mode ?? (e.type === 'dir' ? 0o755 : e.type === 'symlink' ? 0o777 : 0o644),
    uid: e.uid ?? 0,
    gid: e.gid ?? 0,
    mtime: epoch,
    type: e.type === 'dir' ? 'directory' : e.type,
  };
  if (e.linkname !== undefined) header.linkname = e.linkname;
  if (e.xattrs) header.pax = Object.fromEntries(Object.entries(e.xattrs).map(([k, v]) => [`SCHILY.xattr.${k}`, v]));
  if (e.type !== 'file') return entryDone(pack, { ...header, size: 0 });
  if (e.randomSize === undefined) {
    return entryDone(pack, header, Buffer.from(e.content ?? ''));
  }
  // Streamed: a 50 MiB file never sits in memory whole.
  let sinkDone!: Promise<void>;
  const sink = await new Promise<ReturnType<Pack['entry']>>((resolve) => {
    sinkDone = new Promise<void>((res, rej) => {
      const s = pack.entry({ ...header, size: e.randomSize }, (err) => (err ? rej(err) : res()));
      resolve(s);
    });
  });
  for (let left = e.randomSize; left > 0; ) {
    const chunk = randomBytes(Math.min(1 << 20, left));
    left -= chunk.length;
    if (!sink.write(chunk)) await new Promise<void>((resolve) => sink.once('drain', () => resolve()));
  }
  sink.end(undefined);
  await sinkDone;
}

/** One OCI image layout being written: blobs/sha256/<hex>, oci-layout, index.json with a ref.name per tag. */
class LayoutWriter {
  private readonly refs = new Map<string, Descriptor>();

  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  }

  putBytes(mediaType: string, bytes: Buffer): Descriptor {
    const digest: Digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    writeFileSync(join(this.dir, 'blobs', 'sha256', digest.slice(7)), bytes);
    return { mediaType, digest, size: bytes.length };
  }

  putJson(mediaType: string, value: unknown): { descriptor: Descriptor; bytes: Buffer } {
    const bytes = Buffer.from(JSON.stringify(value));
    return { descriptor: this.putBytes(mediaType, bytes), bytes };
  }

  async putLayer(entries: LayerEntry[], opts: { gzipLevel?: number } = {}): Promise<BuiltLayer> {
    const pack = tarPack();
    const raw = new Tap();
    const compressed = new Tap();
    const tmp = join(this.dir, `layer-${randomBytes(6).toString('hex')}.tmp`);
    const done = pipeline(pack, raw, createGzip({ level: opts.gzipLevel ?? 6 }), compressed, createWriteStream(tmp));
    for (const e of entries) await addEntry(pack, e);
    pack.finalize();
    await done;
    const digest = compressed.digest();
    renameSync(tmp, join(this.dir, 'blobs', 'sha256', digest.slice(7)));
    return {
      descriptor: { mediaType: mediaTypes.ociLayerGzip, digest, size: compressed.size },
      diffId: raw.digest(),
      uncompressedSize: raw.size,
      entries,
    };
  }

  async putImage(platform: Platform, layers: BuiltLayer[], config: Pick<ImageConfig, 'config'>, createdBy: string[]): Promise<BuiltImage> {
    const configJson: ImageConfig = {
      created,
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: config.config,
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((_, i) => ({ created, created_by: createdBy[i] ?? `ctrd test layer ${i + 1}` })),
    };
    const cfg = this.putJson(mediaTypes.ociConfig, configJson);
    const manifestJson: ImageManifest = {
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      config: cfg.descriptor,
      layers: layers.map((l) => l.descriptor),
    };
    const m = this.putJson(mediaTypes.ociManifest, manifestJson);
    return {
      manifest: { ...m.descriptor, platform },
      manifestBytes: m.bytes,
      manifestJson,
      config: cfg.descriptor,
      configBytes: cfg.bytes,
      configJson,
      layers,
      platform,
    };
  }

  putIndex(images: BuiltImage[]): BuiltIndex {
    const json: ImageIndex = { schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: images.map((i) => i.manifest) };
    const { descriptor, bytes } = this.putJson(mediaTypes.ociIndex, json);
    return { descriptor, bytes, json, images };
  }

  /** Adds a tag to index.json (written whole, then renamed: skopeo may be reading it). */
  tag(name: string, desc: Descriptor): void {
    const { platform: _platform, ...plain } = desc;
    this.refs.set(name, { ...plain, annotations: { [refNameAnnotation]: name } });
    const index = { schemaVersion: 2, manifests: [...this.refs.values()] };
    const tmp = join(this.dir, `index.json.${randomBytes(4).toString('hex')}`);
    writeFileSync(tmp, JSON.stringify(index));
    renameSync(tmp, join(this.dir, 'index.json'));
  }
}

let layout: LayoutWriter | undefined;

function theLayout(): LayoutWriter {
  layout ??= new LayoutWriter(mkdtempSync(join(tmpdir(), 'ctrd-images-')));
  return layout;
}


/** The layout dir of this process's test images, if any was made. */
export const testImagesDir = () => layout?.dir;

/** Deletes this process's image layout; the next build starts afresh. */
export function removeTestImages(): void {
  if (!layout) return;
  rmSync(layout.dir, { recursive: true, force: true });
  layout = undefined;
  busybox = multilayer = big = volumeImage = undefined;
}

const busyboxBinary = () => (existsSync('/bin/busybox') ? '/bin/busybox' : '/usr/bin/busybox');

const dir = (p: string, mode = 0o755, uid = 0, gid = 0): LayerEntry => ({ path: p, type: 'dir', mode, uid, gid });

let busybox: Promise<BuiltIndex> | undefined;
let multilayer: Promise<BuiltImage> | undefined;
let big: Promise<BuiltImage> | undefined;
let volumeImage: Promise<BuiltImage> | undefined;

/** The busybox index: images[0] is linux/amd64 (the real busybox), images[1] the fake linux/arm64/v8. */
export function buildBusybox(): Promise<BuiltIndex> {
  const l = theLayout();
  busybox ??= (async () => {
    const entries: LayerEntry[] = [
      dir('bin/'),
      { path: 'bin/busybox', type: 'file', mode: 0o755, content: readFileSync(busyboxBinary()) },
      ...busyboxApplets.map((a): LayerEntry => ({ path: `bin/${a}`, type: 'symlink', linkname: 'busybox' })),
      dir('dev/'),
      dir('etc/'),
      { path: 'etc/passwd', type: 'file', content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' },
      { path: 'etc/group', type: 'file', content: 'root:x:0:\nnobody:x:65534:\n' },
      { path: 'etc/hostname', type: 'file', content: 'busybox\n' },
      dir('proc/'),
      dir('root/', 0o700),
      dir('sys/'),
      dir('tmp/', 0o1777),
    ];
    const layer = await l.putLayer(entries);
    const amd64 = await l.putImage({ os: 'linux', architecture: 'amd64' }, [layer], { config: { Env: [path], Cmd: ['sh'] } }, ['busybox-static']);
    const armLayer = await l.putLayer([dir('etc/'), { path: 'etc/arch', type: 'file', content: 'arm64\n' }]);
    const arm64 = await l.putImage({ os: 'linux', architecture: 'arm64', variant: 'v8' }, [armLayer], { config: { Env: [path], Cmd: ['sh'] } }, ['fake arm64']);
    const index = l.putIndex([amd64, arm64]);
    l.tag('busybox', amd64.manifest);
    l.tag('busybox-multiarch', index.descriptor);
    return index;
  })();
  return busybox;
}

/** Three layers; see the file's head. Layer specs are in layers[i].entries, the result in expectedTree(). */
export function buildMultilayer(): Promise<BuiltImage> {
  const l = theLayout();
  multilayer ??= (async () => {
    const layer1: LayerEntry[] = [
      dir('a/'),
      dir('a/b/'),
      dir('a/b/c/', 0o750, 1000, 1000),
      { path: 'a/b/c/deep.txt', type: 'file', content: 'deep\n', mode: 0o640, uid: 1000, gid: 1000 },
      { path: 'data', type: 'file', content: 'data v1\n', mode: 0o644, uid: 1000, gid: 1000 },
      { path: 'a/rel', type: 'symlink', linkname: '../data' },
      { path: 'a/abs', type: 'symlink', linkname: '/data' },
      // As tar writes a hardlink: with the metadata of the file it links to.
      { path: 'a/hard', type: 'link', linkname: 'data', mode: 0o644, uid: 1000, gid: 1000 },
      dir('bin/'),
      { path: 'bin/suid', type: 'file', content: '#!/bin/sh\necho suid\n', mode: 0o4755 },
      { path: 'secret', type: 'file', content: 'top secret\n', mode: 0o600, uid: 1000, gid: 1001 },
      dir('x/'),
      { path: 'x/attr', type: 'file', content: 'has an xattr\n', xattrs: { 'user.ctrd.test': 'hello' } },
      { path: 'gone', type: 'file', content: 'deleted in layer 3\n' },
      dir('gonedir/'),
      { path: 'gonedir/inner', type: 'file', content: 'deleted with its dir in layer 3\n' },
      dir('opq/'),
      { path: 'opq/old1', type: 'file', content: 'hidden by the opaque dir\n' },
      { path: 'opq/old2', type: 'file', content: 'hidden too\n' },
      { path: 'rewrite', type: 'file', content: 'v1\n' },
    ];
    const layer2: LayerEntry[] = [
      dir('a/'),
      dir('a/b/'),
      dir('a/b/c/', 0o750, 1000, 1000),
      { path: 'a/b/c/deeper.txt', type: 'file', content: 'layer 2\n', uid: 1000, gid: 1000 },
      dir('home/'),
      dir('home/user/', 0o700, 1000, 1000),
      { path: 'home/user/.profile', type: 'file', content: 'export X=1\n', mode: 0o600, uid: 1000, gid: 1000 },
      dir('opq/'),
      { path: 'opq/mid', type: 'file', content: 'hidden by the opaque dir of layer 3\n' },
      { path: 'exec', type: 'file', content: '#!/bin/sh\n', mode: 0o755, uid: 1000, gid: 1000 },
    ];
    const layer3: LayerEntry[] = [
      { path: '.wh.gone', type: 'file', content: '' },
      { path: '.wh.gonedir', type: 'file', content: '' },
      dir('opq/'),
      { path: 'opq/.wh..wh..opq', type: 'file', content: '' },
      { path: 'opq/new', type: 'file', content: 'only this is left in opq\n' },
      { path: 'rewrite', type: 'file', content: 'v2, rewritten in layer 3\n', mode: 0o640 },
    ];
    const layers = [await l.putLayer(layer1), await l.putLayer(layer2), await l.putLayer(layer3)];
    const image = await l.putImage({ os: 'linux', architecture: 'amd64' }, layers, { config: { Env: [path], Cmd: ['/bin/sh'], WorkingDir: '/' } }, ['base', 'more', 'whiteouts']);
    l.tag('multilayer', image.manifest);
    return image;
  })();
  return multilayer;
}

export const bigLayerSize = 50 << 20;

/** Three layers of 50 MiB random bytes (stored gzip: incompressible anyway). About a second to make. */
export function buildBig(): Promise<BuiltImage> {
  const l = theLayout();
  big ??= (async () => {
    const layers: BuiltLayer[] = [];
    for (let i = 1; i <= 3; i++) {
      layers.push(await l.putLayer([dir('data/'), { path: `data/random-${i}`, type: 'file', randomSize: bigLayerSize }], { gzipLevel: 0 }));
    }
    const image = await l.putImage({ os: 'linux', architecture: 'amd64' }, layers, { config: { Env: [path] } }, ['random 1', 'random 2', 'random 3']);
    l.tag('big', image.manifest);
    return image;
  })();
  return big;
}

/** What a rootfs holds after applying the layers in order (whiteouts and opaque dirs honoured). */
export function expectedTree(image: BuiltImage): Map<string, LayerEntry> {
  const tree = new Map<string, LayerEntry>();
  const strip = (p: string) => p.replace(/\/+$/, '');
  const removeUnder = (prefix: string) => {
    for (const k of [...tree.keys()]) if (k.startsWith(`${prefix}/`)) tree.delete(k);
  };
  for (const layer of image.layers) {
    for (const e of layer.entries) {
      const p = strip(e.path);
      const slash = p.lastIndexOf('/');
      const parent = slash === -1 ? '' : p.slice(0, slash);
      const base = p.slice(slash + 1);
      if (base === '.wh..wh..opq') removeUnder(parent);
    }
    for (const e of layer.entries) {
      const p = strip(e.path);
      const slash = p.lastIndexOf('/');
      const base = p.slice(slash + 1);
      if (base === '.wh..wh..opq') continue;
      if (base.startsWith('.wh.')) {
        const target = (slash === -1 ? '' : `${p.slice(0, slash)}/`) + base.slice(4);
        tree.delete(target);
        removeUnder(target);
        continue;
      }
      const existing = tree.get(p);
      if (e.type === 'dir' && existing?.type === 'dir') {
        tree.set(p, { ...e, path: p });
        continue;
      }
      if (existing) removeUnder(p);
      tree.set(p, e.type === 'link' ? { ...tree.get(strip(e.linkname!))!, path: p } : { ...e, path: p });
    }
  }
  return tree;
}

// ---- pushing with skopeo ----

/** An environment in which skopeo keeps its caches and auth files under home, not in /var/lib/containers. */
export function skopeoEnv(home: string): NodeJS.ProcessEnv {
  mkdirSync(join(home, 'run'), { recursive: true, mode: 0o700 });
  return {
    ...process.env,
    HOME: home,
    XDG_DATA_HOME: join(home, 'data'),
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_RUNTIME_DIR: join(home, 'run'),
    // containers/image keeps its blob-info cache in /var/lib/containers for uid 0; this makes it use $XDG_DATA_HOME.
    _CONTAINERS_ROOTLESS_UID: '1',
  };
}

/** skopeo with its caches and auth files in the layout's temp dir. */
async function skopeo(args: string[]): Promise<string> {
  const env = skopeoEnv(join(theLayout().dir, '.skopeo'));
  const r = await run('skopeo', ['--insecure-policy', ...args], { env, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`skopeo ${args.join(' ')} failed (${r.code}):\n${r.stderr}`);
  return r.stdout;
}

function credsArgs(reg: TestRegistry, flag: '--dest-creds' | '--creds'): string[] {
  return reg.auth ? [flag, `${reg.auth.username}:${reg.auth.password}`] : [];
}

async function push(reg: TestRegistry, layoutTag: string, repoTag: string, extra: string[] = []): Promise<void> {
  await skopeo([
    'copy', '--quiet', '--dest-tls-verify=false', ...credsArgs(reg, '--dest-creds'), ...extra,
    `oci:${theLayout().dir}:${layoutTag}`, `docker://${reg.host}/${repoTag}`,
  ]);
}

const pushed = <T extends { manifest: Descriptor } | { descriptor: Descriptor }>(reg: TestRegistry, repoTag: string, built: T) => {
  const digest = 'manifest' in built ? built.manifest.digest : built.descriptor.digest;
  return { ...built, ref: `${reg.host}/${repoTag}`, digestRef: `${reg.host}/${repoTag.split(':')[0]}@${digest}` };
};

/** The image as the registry serves it (skopeo inspect --raw), for variants skopeo converted. */
async function readBack(reg: TestRegistry, repoTag: string, like: BuiltImage): Promise<BuiltImage> {
  const raw = Buffer.from(await skopeo(['inspect', '--raw', '--tls-verify=false', ...credsArgs(reg, '--creds'), `docker://${reg.host}/${repoTag}`]), 'utf8');
  const json = JSON.parse(raw.toString('utf8')) as ImageManifest;
  const digest: Digest = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
  return {
    ...like,
    manifest: { mediaType: json.mediaType ?? mediaTypes.ociManifest, digest, size: raw.length, platform: like.platform },
    manifestBytes: raw,
    manifestJson: json,
    config: json.config,
    layers: like.layers.map((l, i) => ({ ...l, descriptor: json.layers[i]! })),
  };
}

/** Pushes test/busybox:latest (OCI manifest), :multiarch (index, amd64 + arm64) and :v2s2 (Docker schema 2). */
export async function pushBusybox(reg: TestRegistry): Promise<PushedBusybox> {
  const index = await buildBusybox();
  await push(reg, 'busybox', 'test/busybox:latest', ['--preserve-digests']);
  await Promise.all([
    push(reg, 'busybox-multiarch', 'test/busybox:multiarch', ['--all', '--preserve-digests']),
    push(reg, 'busybox', 'test/busybox:v2s2', ['--format', 'v2s2']),
  ]);
  const v2s2 = await readBack(reg, 'test/busybox:v2s2', index.images[0]!);
  return {
    latest: pushed(reg, 'test/busybox:latest', index.images[0]!),
    multiarch: pushed(reg, 'test/busybox:multiarch', index),
    v2s2: pushed(reg, 'test/busybox:v2s2', v2s2),
  };
}

export async function pushMultilayer(reg: TestRegistry): Promise<PushedImage> {
  const image = await buildMultilayer();
  await push(reg, 'multilayer', 'test/multilayer:latest', ['--preserve-digests']);
  return pushed(reg, 'test/multilayer:latest', image);
}

export async function pushBig(reg: TestRegistry): Promise<PushedImage> {
  const image = await buildBig();
  await push(reg, 'big', 'test/big:latest', ['--preserve-digests']);
  return pushed(reg, 'test/big:latest', image);
}

/** busybox with a second layer: /data (1000:1000, 0750) holding files and a symlink, declared a VOLUME. */
export function buildVolumeImage(): Promise<BuiltImage> {
  volumeImage ??= (async () => {
    const base = (await buildBusybox()).images[0]!.layers[0]!;
    const l = theLayout();
    const layer = await l.putLayer([
      dir('data/', 0o750, 1000, 1000),
      { path: 'data/hello.txt', type: 'file', content: 'from the image\n', mode: 0o640, uid: 1000, gid: 1000 },
      dir('data/sub/', 0o700, 1001, 1001),
      { path: 'data/sub/deep.txt', type: 'file', content: 'deep\n', uid: 1001, gid: 1001 },
      { path: 'data/link', type: 'symlink', linkname: 'hello.txt' },
      dir('etc/'),
      dir('etc/conf/'),
      { path: 'etc/conf/app.conf', type: 'file', content: 'setting=1\n' },
    ]);
    const image = await l.putImage({ os: 'linux', architecture: 'amd64' }, [base, layer], { config: { Env: [path], Cmd: ['sh'], Volumes: { '/data': {} } } }, ['busybox-static', 'data and VOLUME /data']);
    l.tag('volume', image.manifest);
    return image;
  })();
  return volumeImage;
}

export async function pushVolumeImage(reg: TestRegistry): Promise<PushedImage> {
  const image = await buildVolumeImage();
  await push(reg, 'volume', 'test/volume:latest', ['--preserve-digests']);
  return pushed(reg, 'test/volume:latest', image);
}
