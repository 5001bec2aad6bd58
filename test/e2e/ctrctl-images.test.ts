// ctrctl's image verbs against a real ctrd: images (table, -q, --digests, --no-trunc, filters, --format), tag,
// rmi, image inspect, history, prune and system df. The images are made here, without a registry: blobs (a
// gzip layer built with tar-stream, an OCI config and manifest) go in through the Content API under a lease,
// and the image records through containerd's Images API, as a client that imports images would do.
// Then ctrctl pull from a real registry (Debian's docker-registry, the test images pushed with skopeo).
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctrctlBin, run, TestDaemon } from '../harness/daemon.js';
import { pushBusybox, pushMultilayer, type PushedBusybox, type PushedImage } from '../harness/images.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { WriteAction, type WriteContentResponse } from '../../gen/containerd/services/content/v1/content.js';
import { unary, type Clients } from '../../lib/grpc/client.js';
import { humanSize } from '../../cli/ctrctl/units.js';

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hour = 3600_000;

interface Layer {
  blob: Buffer;
  digest: string;
  diffId: string;
}

/** A gzip layer holding the given files. */
async function layer(files: Record<string, string>): Promise<Layer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (b: unknown) => chunks.push(b as Buffer));
  const ended = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  for (const [name, content] of Object.entries(files)) pack.entry({ name, mode: 0o644, mtime: new Date(0) }, content);
  pack.finalize();
  await ended;
  const raw = Buffer.concat(chunks);
  const blob = gzipSync(raw);
  return { blob, digest: sha256(blob), diffId: sha256(raw) };
}

interface TestImage {
  manifest: Buffer;
  manifestDigest: string;
  config: Buffer;
  configDigest: string;
  layers: Layer[];
  /** What ctrd reports as the image's size: manifest, config and layers. */
  size: number;
}

interface ImageSpec {
  created?: Date;
  layers: Layer[];
  /** One per history entry, oldest first; empty-layer entries are marked. */
  history: Array<{ createdBy: string; empty?: boolean; comment?: string; created?: Date }>;
  labels?: Record<string, string>;
  cmd?: string[];
  variant?: string;
}

function image(spec: ImageSpec): TestImage {
  const config = Buffer.from(
    JSON.stringify({
      ...(spec.created ? { created: spec.created.toISOString() } : {}),
      architecture: 'amd64',
      os: 'linux',
      author: 'ctrd tests',
      config: { Env: ['PATH=/usr/bin:/bin'], Cmd: spec.cmd ?? ['sh'], ...(spec.labels ? { Labels: spec.labels } : {}) },
      rootfs: { type: 'layers', diff_ids: spec.layers.map((l) => l.diffId) },
      history: spec.history.map((h) => ({
        ...(h.created ?? spec.created ? { created: (h.created ?? spec.created)!.toISOString() } : {}),
        created_by: h.createdBy,
        ...(h.comment ? { comment: h.comment } : {}),
        ...(h.empty ? { empty_layer: true } : {}),
      })),
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: spec.layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.blob.length })),
    }),
  );
  return {
    manifest,
    manifestDigest: sha256(manifest),
    config,
    configDigest: sha256(config),
    layers: spec.layers,
    size: manifest.length + config.length + spec.layers.reduce((n, l) => n + l.blob.length, 0),
  };
}

/** Writes one blob in a single COMMIT; one that is there already is fine. */
function writeBlob(c: Clients, data: Buffer, labels: Record<string, string> = {}): Promise<void> {
  const digest = sha256(data);
  return new Promise((resolve, reject) => {
    const call = c.content.write();
    call.on('data', (res: WriteContentResponse) => {
      if (res.action === WriteAction.COMMIT) call.end();
    });
    call.on('error', (err: Error) => (/already exists/.test(err.message) ? resolve() : reject(err)));
    call.on('end', () => resolve());
    call.write({ action: WriteAction.COMMIT, ref: `ctrctl-images-${digest}`, total: data.length, expected: digest, offset: 0, data, labels });
  });
}

/** Stores an image's blobs (the manifest labelled with its GC references) and names it. */
async function store(c: Clients, img: TestImage, names: string[]): Promise<void> {
  for (const l of img.layers) await writeBlob(c, l.blob);
  await writeBlob(c, img.config);
  await writeBlob(c, img.manifest, {
    'containerd.io/gc.ref.content.config': img.configDigest,
    ...Object.fromEntries(img.layers.map((l, i) => [`containerd.io/gc.ref.content.l.${i}`, l.digest])),
  });
  for (const name of names) {
    await unary(c.images, c.images.create, {
      image: {
        name,
        labels: {},
        target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: img.manifestDigest, size: img.manifest.length, annotations: {} },
        createdAt: undefined,
        updatedAt: undefined,
      },
    });
  }
}

const short = (digest: string) => digest.slice(7, 19);

/** The cells of a table row: docker's tabwriter puts 3 or more spaces between them (values have at most one). */
const cells = (line: string) => line.trim().split(/ {3,}/);

describe('ctrctl image verbs against ctrd', () => {
  let d: TestDaemon;
  let c: Clients;
  // busybox:latest, 2 hours old; app:v1 (docker.io/test/app), 3 days old; a dangling busybox@sha256 image,
  // 5 days old; and local/nodate:1, whose config has no created time.
  let busybox: TestImage;
  let app: TestImage;
  let dangling: TestImage;
  let nodate: TestImage;

  async function ctrctl(...args: string[]) {
    const r = await d.ctrctl(args);
    expect(r.stderr, `ctrctl ${args.join(' ')}`).toBe('');
    expect(r.code, `ctrctl ${args.join(' ')}`).toBe(0);
    return r.stdout;
  }

  beforeAll(async () => {
    d = await new TestDaemon().start();
    const now = Date.now();
    const base = await layer({ 'bin/sh': '#!/bin/true\n', 'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n' });
    const extra = await layer({ 'app/main.js': 'console.log("hi")\n'.repeat(200) });
    busybox = image({
      created: new Date(now - 2 * hour - 5 * 60_000),
      layers: [base],
      labels: { 'org.example.tier': 'base' },
      history: [
        { createdBy: '/bin/sh -c #(nop) ADD file:6dc1d3a1b2e4f5a6b7c8d9e0f1a2b3c4d5e6f7 in / ' },
        { createdBy: '/bin/sh -c #(nop)  CMD ["sh"]', empty: true, comment: 'set the command' },
      ],
    });
    app = image({
      created: new Date(now - 3 * 24 * hour),
      layers: [base, extra],
      labels: { 'org.example.tier': 'app', 'org.example.team': 'web' },
      cmd: ['node', 'main.js'],
      history: [{ createdBy: 'ADD base' }, { createdBy: 'COPY\tmain.js /app/' }],
    });
    dangling = image({ created: new Date(now - 5 * 24 * hour), layers: [await layer({ old: 'old' })], history: [{ createdBy: 'old' }] });
    nodate = image({ layers: [await layer({ x: 'x' })], history: [{ createdBy: 'no date' }] });

    const setup = d.clients();
    const { lease } = await unary(setup.leases, setup.leases.create, { id: 'ctrctl-images-setup', labels: {} });
    setup.close();
    // The lease keeps the blobs from the garbage collector until the image records refer to them.
    c = d.clients('default', lease!.id);
    await store(c, busybox, ['docker.io/library/busybox:latest']);
    await store(c, app, ['docker.io/test/app:v1']);
    await store(c, dangling, [`docker.io/library/busybox@${dangling.manifestDigest}`]);
    await store(c, nodate, ['docker.io/local/nodate:1']);
    await unary(c.leases, c.leases.delete, { id: lease!.id, sync: true });
  });

  afterAll(async () => {
    c?.close();
    await d?.cleanup();
  });

  it('images: docker\'s table, newest first, sizes and IDs as docker shows them, <none> for a tagless name', async () => {
    const out = await ctrctl('images');
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^REPOSITORY {3,}TAG {3,}IMAGE ID {3,}CREATED {3,}SIZE$/);
    expect(lines.slice(1).map(cells)).toEqual([
      ['busybox', 'latest', short(busybox.configDigest), '2 hours ago', humanSize(busybox.size, 3)],
      ['test/app', 'v1', short(app.configDigest), '3 days ago', humanSize(app.size, 3)],
      ['busybox', '<none>', short(dangling.configDigest), '5 days ago', humanSize(dangling.size, 3)],
      ['local/nodate', '1', short(nodate.configDigest), 'N/A', humanSize(nodate.size, 3)],
    ]);
    // One column each: every row's cells start where the heading's do.
    for (const heading of ['TAG', 'IMAGE ID', 'CREATED', 'SIZE']) {
      const at = lines[0]!.indexOf(heading);
      for (const line of lines.slice(1)) expect(line[at - 1], `${heading} in ${line}`).toBe(' ');
      for (const line of lines.slice(1)) expect(line[at], `${heading} in ${line}`).not.toBe(' ');
    }
    expect(humanSize(busybox.size, 3)).toMatch(/^\d+(\.\d+)?kB$/);
    // image ls and image list are the same verb
    expect(await ctrctl('image', 'ls')).toBe(out);
    expect(await ctrctl('image', 'list', '-a')).toBe(out);
  });

  it('images -q (unique IDs), --no-trunc, --digests', async () => {
    expect((await ctrctl('images', '-q')).split('\n')).toEqual(
      [busybox, app, dangling, nodate].map((i) => short(i.configDigest)).concat(''),
    );
    expect(await ctrctl('images', '-q', '--no-trunc')).toBe([busybox, app, dangling, nodate].map((i) => `${i.configDigest}\n`).join(''));

    const digests = (await ctrctl('images', '--digests')).trimEnd().split('\n');
    expect(digests[0]).toMatch(/^REPOSITORY {3,}TAG {3,}DIGEST {3,}IMAGE ID {3,}CREATED {3,}SIZE$/);
    expect(cells(digests[1]!).slice(0, 4)).toEqual(['busybox', 'latest', busybox.manifestDigest, short(busybox.configDigest)]);
    expect(cells(digests[3]!).slice(0, 3)).toEqual(['busybox', '<none>', dangling.manifestDigest]);
  });

  it('images --filter: dangling, reference globs, before, since, label; a repository argument', async () => {
    const names = async (...args: string[]) => (await ctrctl('images', '--format', '{{.Repository}}:{{.Tag}}', ...args)).trimEnd().split('\n').filter((l) => l);
    expect(await names('--filter', 'dangling=true')).toEqual(['busybox:<none>']);
    expect(await names('-f', 'dangling=false')).toEqual(['busybox:latest', 'test/app:v1', 'local/nodate:1']);
    expect(await names('--filter', 'reference=busybox')).toEqual(['busybox:latest', 'busybox:<none>']);
    expect(await names('--filter', 'reference=*/app*')).toEqual(['test/app:v1']);
    expect(await names('--filter', 'reference=*/app')).toEqual(['test/app:v1']);
    expect(await names('--filter', 'reference=busy*:lat?st')).toEqual(['busybox:latest']);
    expect(await names('--filter', 'reference=app')).toEqual([]);
    expect(await names('--filter', 'reference=busybox', '--filter', 'reference=local/*')).toEqual(['busybox:latest', 'busybox:<none>', 'local/nodate:1']);
    expect(await names('--filter', 'before=busybox:latest')).toEqual(['test/app:v1', 'busybox:<none>']);
    expect(await names('--filter', `since=${short(dangling.configDigest)}`)).toEqual(['busybox:latest', 'test/app:v1']);
    expect(await names('--filter', 'label=org.example.tier')).toEqual(['busybox:latest', 'test/app:v1']);
    expect(await names('--filter', 'label=org.example.tier=app')).toEqual(['test/app:v1']);
    expect(await names('--filter', 'label=org.example.tier', '--filter', 'label=org.example.team=web')).toEqual(['test/app:v1']);
    expect(await names('busybox:latest')).toEqual(['busybox:latest']);

    const bad = await d.ctrctl(['images', '--filter', 'color=red']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("invalid filter 'color'");
    expect((await d.ctrctl(['images', '--filter', 'dangling=maybe'])).code).toBe(2);
    const missing = await d.ctrctl(['images', '--filter', 'before=nosuch:image']);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toContain('no such image');
  });

  it('images --format: fields, table, json', async () => {
    expect(await ctrctl('images', '--format', '{{.ID}} {{.Repository}} {{.Size}}', 'busybox:latest')).toBe(
      `${short(busybox.configDigest)} busybox ${humanSize(busybox.size, 3)}\n`,
    );
    const table = (await ctrctl('images', '--format', 'table {{.Repository}}\\t{{.Digest}}', '--filter', 'reference=test/*')).split('\n');
    expect(table[0]).toMatch(/^REPOSITORY {3,}DIGEST$/);
    expect(cells(table[1]!)).toEqual(['test/app', app.manifestDigest]);
    const json = JSON.parse(await ctrctl('images', '--format', '{{json .}}', 'busybox:latest')) as Record<string, string>;
    expect(json).toMatchObject({
      Repository: 'busybox',
      Tag: 'latest',
      ID: short(busybox.configDigest),
      Digest: busybox.manifestDigest,
      CreatedSince: '2 hours ago',
      Size: humanSize(busybox.size, 3),
    });
    expect(json.CreatedAt).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \S+$/);

    const bad = await d.ctrctl(['images', '--format', '{{if .ID}}x{{end}}']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('template parsing error');
    const unknown = await d.ctrctl(['images', '--format', '{{.Nope}}']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^ctrctl: .*can't evaluate field Nope/);
  });

  it('image inspect: docker\'s JSON array from the config, and --format', async () => {
    const [obj, ...rest] = JSON.parse(await ctrctl('image', 'inspect', 'busybox')) as Array<Record<string, unknown>>;
    expect(rest).toEqual([]);
    expect(obj).toMatchObject({
      Id: busybox.configDigest,
      RepoTags: ['busybox:latest'],
      RepoDigests: [`busybox@${busybox.manifestDigest}`],
      Created: JSON.parse(busybox.config.toString()).created,
      Author: 'ctrd tests',
      Os: 'linux',
      Architecture: 'amd64',
      Size: busybox.size,
      Config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['sh'], Labels: { 'org.example.tier': 'base' } },
      RootFS: { Type: 'layers', Layers: [busybox.layers[0]!.diffId] },
      Descriptor: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: busybox.manifestDigest, size: busybox.manifest.length },
    });
    expect(obj).not.toHaveProperty('Variant');
    expect((obj!.Metadata as { LastTagTime: string }).LastTagTime).toMatch(/^\d{4}-\d\d-\d\dT/);

    // By short ID too; a missing one is reported, the found ones still printed.
    const both = await d.ctrctl(['image', 'inspect', short(app.configDigest), 'nosuch']);
    expect(both.code).toBe(1);
    expect(both.stderr).toBe('ctrctl: No such image: nosuch\n');
    expect((JSON.parse(both.stdout) as Array<{ Id: string }>).map((o) => o.Id)).toEqual([app.configDigest]);

    expect(await ctrctl('image', 'inspect', '--format', '{{.Id}} {{.Os}}/{{.Architecture}}{{.Variant}} {{.Config.Cmd}}', 'test/app:v1')).toBe(
      `${app.configDigest} linux/amd64 [node main.js]\n`,
    );
    expect(await ctrctl('image', 'inspect', '-f', '{{json .RootFS.Layers}}', 'test/app:v1')).toBe(`${JSON.stringify(app.layers.map((l) => l.diffId))}\n`);
    expect(await ctrctl('image', 'inspect', '-f', '{{.Config.Labels}}', 'test/app:v1')).toBe('map[org.example.team:web org.example.tier:app]\n');
  });

  it('image history: newest first, <missing> below the top, CREATED BY cut at 45 with …', async () => {
    const lines = (await ctrctl('image', 'history', 'busybox')).split('\n');
    expect(lines[0]).toMatch(/^IMAGE {3,}CREATED {3,}CREATED BY {3,}SIZE {3,}COMMENT$/);
    expect(cells(lines[1]!)).toEqual([short(busybox.configDigest), '2 hours ago', '/bin/sh -c #(nop)  CMD ["sh"]', '0B', 'set the command']);
    const added = '/bin/sh -c #(nop) ADD file:6dc1d3a1b2e4f5a6b7c8d9e0f1a2b3c4d5e6f7 in / ';
    expect(cells(lines[2]!)).toEqual(['<missing>', '2 hours ago', `${added.slice(0, 44)}…`, humanSize(busybox.layers[0]!.blob.length, 3)]);
    expect(lines.slice(3)).toEqual(['']);

    const full = (await ctrctl('history', '--no-trunc', 'busybox')).split('\n');
    expect(cells(full[1]!)[0]).toBe(busybox.configDigest);
    expect(full[2]).toContain(added);
    expect(await ctrctl('image', 'history', '-q', 'busybox')).toBe(`${short(busybox.configDigest)}\n<missing>\n`);
    // A tab in CREATED BY is a space, as docker shows it.
    expect(await ctrctl('image', 'history', '--format', '{{.CreatedBy}}|{{.Size}}', 'test/app:v1')).toBe(
      `COPY main.js /app/|${humanSize(app.layers[1]!.blob.length, 3)}\nADD base|${humanSize(app.layers[0]!.blob.length, 3)}\n`,
    );
    const raw = (await ctrctl('image', 'history', '--human', 'false', 'test/app:v1')).split('\n');
    expect(cells(raw[1]!)[1]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/);
    expect(cells(raw[1]!)[3]).toBe(String(app.layers[1]!.blob.length));
  });

  it('system df: images, content blobs and snapshots', async () => {
    const lines = (await ctrctl('system', 'df')).trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TYPE {3,}TOTAL {3,}ACTIVE {3,}SIZE {3,}RECLAIMABLE$/);
    const total = busybox.size + app.size + dangling.size + nodate.size;
    expect(cells(lines[1]!)).toEqual(['Images', '4', 'N/A', humanSize(total), `${humanSize(total)} (100%)`]);
    // busybox and app share their base layer: it is one blob.
    const blobs = [busybox, app, dangling, nodate].flatMap((i) => [i.manifest, i.config, ...i.layers.map((l) => l.blob)]);
    const distinct = new Map(blobs.map((b) => [sha256(b), b.length]));
    expect(cells(lines[2]!)).toEqual(['Containers', '0', '0', '0B', '0B']);
    expect(cells(lines[3]!)).toEqual(['Local Volumes', '0', '0', '0B', '0B']);
    expect(cells(lines[4]!)).toEqual(['Content blobs', String(distinct.size), 'N/A', humanSize([...distinct.values()].reduce((a, b) => a + b, 0)), 'N/A']);
    expect(cells(lines[5]!)).toEqual(['Snapshots', '0', 'N/A', '0B', 'N/A']);
    expect(lines).toHaveLength(6);
    expect(await ctrctl('system', 'df', '--format', '{{.Type}}={{.TotalCount}}')).toBe(
      `Images=4\nContainers=0\nLocal Volumes=0\nContent blobs=${distinct.size}\nSnapshots=0\n`,
    );
  });

  it('tag gives an image another name with the same ID; rmi of one name only untags it', async () => {
    expect(await ctrctl('image', 'tag', short(busybox.configDigest), 'registry.example.com/tools/busybox:1.36')).toBe('');
    expect(await ctrctl('tag', 'busybox', 'busybox:stable')).toBe('');
    const rows = (await ctrctl('images', '--filter', 'dangling=false', '--format', '{{.Repository}} {{.Tag}} {{.ID}}')).split('\n');
    expect(rows.filter((r) => r.endsWith(short(busybox.configDigest)))).toEqual([
      `busybox latest ${short(busybox.configDigest)}`,
      `busybox stable ${short(busybox.configDigest)}`,
      `registry.example.com/tools/busybox 1.36 ${short(busybox.configDigest)}`,
    ]);
    expect((await d.ctrctl(['tag', 'nosuch', 'other'])).code).toBe(1);

    expect(await ctrctl('rmi', 'busybox:stable')).toBe(`Untagged: busybox:stable\nUntagged: busybox@${busybox.manifestDigest}\n`);
    expect(await ctrctl('image', 'rm', 'registry.example.com/tools/busybox:1.36')).toBe(
      `Untagged: registry.example.com/tools/busybox:1.36\nUntagged: registry.example.com/tools/busybox@${busybox.manifestDigest}\n`,
    );
    expect(await ctrctl('images', '-q', 'busybox:latest')).toBe(`${short(busybox.configDigest)}\n`);
  });

  it('rmi by an ID that two names share needs -f; the last name takes the image with it; a missing one fails', async () => {
    await ctrctl('tag', 'test/app:v1', 'test/app:v2');
    const id = short(app.configDigest);
    const conflict = await d.ctrctl(['rmi', id]);
    expect(conflict).toMatchObject({ code: 1, stdout: '' });
    expect(conflict.stderr).toBe(`ctrctl: conflict: unable to delete ${id} (must be forced) - image is referenced in multiple repositories\n`);
    expect(await ctrctl('images', '-q', '--filter', 'reference=test/app')).toBe(`${id}\n`);

    const forced = await ctrctl('rmi', '-f', id);
    expect(forced.split('\n').sort()).toEqual(
      ['', `Deleted: ${app.configDigest}`, 'Untagged: test/app:v1', 'Untagged: test/app:v2', `Untagged: test/app@${app.manifestDigest}`].sort(),
    );
    expect(forced).toMatch(/^(Untagged: .*\n){3}Deleted: .*\n$/);
    expect(await ctrctl('images', '-q', '--filter', 'reference=test/app')).toBe('');

    // Several at once: each is answered, and the status says one failed.
    await ctrctl('tag', 'local/nodate:1', 'local/nodate:2');
    const some = await d.ctrctl(['rmi', 'local/nodate:2', 'nosuch:latest', 'local/nodate:1']);
    expect(some.code).toBe(1);
    expect(some.stderr).toBe('ctrctl: no such image: nosuch:latest\n');
    expect(some.stdout).toBe(
      [
        'Untagged: local/nodate:2',
        `Untagged: local/nodate@${nodate.manifestDigest}`,
        'Untagged: local/nodate:1',
        `Untagged: local/nodate@${nodate.manifestDigest}`,
        `Deleted: ${nodate.configDigest}`,
        '',
      ].join('\n'),
    );
    // The content went with the last name (the GC ran before rmi answered).
    const blobs = (await d.ctr(['content', 'ls', '-q'])).stdout;
    expect(blobs).not.toContain(nodate.manifestDigest);
    expect(blobs).not.toContain(nodate.configDigest);
  });

  it('image prune asks first, and without a terminal refuses unless -f', async () => {
    const refused = await d.ctrctl(['image', 'prune']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^ctrctl: refusing to prune without confirmation: stdin is not a terminal \(use -f/);
    expect(await ctrctl('images', '-q', '--filter', 'dangling=true')).toBe(`${short(dangling.configDigest)}\n`);

    // On a terminal (script(1) gives ctrctl one), "n" cancels: nothing is removed and the status is 0.
    const ctrctlCommand = `${process.execPath} ${ctrctlBin} image prune`;
    const env = { ...process.env, CTRD_ADDRESS: d.address, CTRD_NAMESPACE: 'default' };
    const no = await run('script', ['-qefc', ctrctlCommand, '/dev/null'], { input: 'n\n', env });
    expect(no.code).toBe(0);
    expect(no.stdout).toContain('WARNING! This will remove all dangling images.\r\nAre you sure you want to continue? [y/N] ');
    expect(no.stdout).not.toContain('Deleted Images');
    expect(await ctrctl('images', '-q', '--filter', 'dangling=true')).toBe(`${short(dangling.configDigest)}\n`);
  });

  it('image prune -f removes the dangling images only, and says how much space that freed', async () => {
    const before = (await ctrctl('images', '--format', '{{.Repository}}:{{.Tag}}')).split('\n');
    const out = await ctrctl('image', 'prune', '-f');
    // The dangling image's blobs are its own (no layer shared), so all of them are reclaimed.
    const reclaimed = humanSize(dangling.size);
    expect(out).toBe(
      `Deleted Images:\nuntagged: busybox@${dangling.manifestDigest}\ndeleted: ${dangling.configDigest}\n\nTotal reclaimed space: ${reclaimed}\n`,
    );
    const after = (await ctrctl('images', '--format', '{{.Repository}}:{{.Tag}}')).split('\n');
    expect(after).toEqual(before.filter((n) => n !== 'busybox:<none>'));
    expect(await ctrctl('image', 'prune', '-f')).toBe('Total reclaimed space: 0B\n');
  });
});

describe('ctrctl pull from a real registry', () => {
  let reg: TestRegistry;
  let d: TestDaemon;
  let busybox: PushedBusybox;
  let multi: PushedImage;

  beforeAll(async () => {
    reg = await startRegistry();
    [busybox, multi] = await Promise.all([pushBusybox(reg), pushMultilayer(reg)]);
    d = await new TestDaemon().start();
  }, 120_000);

  afterAll(async () => {
    await d?.cleanup();
    await reg?.stop();
  });

  it("pull without a terminal: docker's lines, one per layer state change, then Digest, Status and the reference", async () => {
    const r = await d.ctrctl(['pull', multi.ref], { timeoutMs: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/\x1b/);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('latest: Pulling from test/multilayer');
    expect(lines.slice(-3)).toEqual([`Digest: ${multi.manifest.digest}`, `Status: Downloaded newer image for ${multi.ref}`, multi.ref]);
    // Every layer ends "Pull complete", having gone through the states in docker's order.
    const order = ['Waiting', 'Downloading', 'Download complete', 'Extracting', 'Pull complete'];
    for (const l of multi.layers) {
      const id = l.descriptor.digest.slice(7, 19);
      const states = lines.filter((x) => x.startsWith(`${id}: `)).map((x) => x.slice(14));
      expect(states.at(-1), id).toBe('Pull complete');
      expect(states.map((s) => order.indexOf(s)), `${id}: ${states.join(', ')}`).toEqual(
        [...states.map((s) => order.indexOf(s))].sort((a, b) => a - b),
      );
      expect(new Set(states).size).toBe(states.length);
    }
    // Nothing but the layers gets a line (the manifest and config are not shown), and each layer has its lines.
    expect(lines.slice(1, -3).every((x) => multi.layers.some((l) => x.startsWith(`${l.descriptor.digest.slice(7, 19)}: `)))).toBe(true);

    const listed = await d.ctrctl(['images', '--format', '{{.Repository}} {{.Tag}} {{.ID}}']);
    expect(listed.stdout).toBe(`${reg.host}/test/multilayer latest ${multi.config.digest.slice(7, 19)}\n`);
  });

  it('pulling it again: every layer already exists, the image is up to date', async () => {
    const r = await d.ctrctl(['pull', multi.ref], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('latest: Pulling from test/multilayer');
    expect(lines.slice(-3)).toEqual([`Digest: ${multi.manifest.digest}`, `Status: Image is up to date for ${multi.ref}`, multi.ref]);
    // ctrd queues every layer ("Waiting") behind the config before it finds each one there already.
    for (const l of multi.layers) {
      const id = l.descriptor.digest.slice(7, 19);
      expect(lines.filter((x) => x.startsWith(`${id}: `))).toEqual([`${id}: Waiting`, `${id}: Already exists`]);
    }
  });

  it('pull -q prints the reference only; --platform picks from an index', async () => {
    const q = await d.ctrctl(['pull', '-q', busybox.latest.ref], { timeoutMs: 60_000 });
    expect(q).toMatchObject({ code: 0, stderr: '', stdout: `${busybox.latest.ref}\n` });

    const arm = await d.ctrctl(['image', 'pull', '--platform', 'linux/arm64', busybox.multiarch.ref], { timeoutMs: 60_000 });
    expect(arm.code, arm.stderr).toBe(0);
    const armImage = busybox.multiarch.images[1]!;
    expect(arm.stdout).toContain(`${armImage.layers[0]!.descriptor.digest.slice(7, 19)}: Pull complete\n`);
    expect(arm.stdout).toContain(`Digest: ${busybox.multiarch.descriptor.digest}\n`);
    // Only the arm64 image's layer was fetched: the amd64 one is busybox:latest's, there already, and not shown.
    expect(arm.stdout).not.toContain(busybox.latest.layers[0]!.descriptor.digest.slice(7, 19));
  });

  it('on a terminal the layer lines are redrawn in place', async () => {
    const ref = busybox.v2s2.ref;
    // A namespace of its own, where nothing of the image is yet: every layer is downloaded and extracted.
    const env = { ...process.env, CTRD_ADDRESS: d.address, CTRD_NAMESPACE: 'tty' };
    const r = await run('script', ['-qefc', `${process.execPath} ${ctrctlBin} pull ${ref}`, '/dev/null'], { env, timeoutMs: 60_000 });
    expect(r.code, r.stdout).toBe(0);
    // Cursor up, clear the line, rewrite it, cursor back down: docker's jsonmessage redraw.
    expect(r.stdout).toMatch(/\x1b\[\d+A\r\x1b\[2K[0-9a-f]{12}: (Download complete|Extracting|Pull complete)/);
    expect(r.stdout).toContain(`Status: Downloaded newer image for ${ref}\r\n${ref}\r\n`);
  });

  it('a pull that fails exits 1 with the daemon\'s message; a bad reference is refused before any call', async () => {
    const missing = await d.ctrctl(['pull', `${reg.host}/test/nothing-here:latest`], { timeoutMs: 60_000 });
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toMatch(/^ctrctl: .*not found/i);

    const bad = await d.ctrctl(['pull', 'Not A Reference']);
    expect(bad).toMatchObject({ code: 1, stdout: '' });
    expect(bad.stderr).toMatch(/^ctrctl: invalid reference "Not A Reference"/);
  });
});
