// The differ's conformance suite: every Differ backend runs these cases on a real content store, real
// overlayfs mounts laid out as the overlay snapshotter lays them out (<id>/fs, <id>/work), and real trees.
// Apply covers the media types and the failures callers branch on; Diff is checked by round trip: the
// layer it computes, applied on a copy of the lower tree, gives back the upper tree, all of it.
import { constants as fsConstants, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync, chmodSync, lchownSync, unlinkSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LeaseStore } from '../../services/leases/store.js';
import { LocalContentStore } from '../../services/content/local-store.js';
import { ContentStore } from '../../services/content/store.js';
import { MetadataDB } from '../../services/metadata/db.js';
import { WalkingDiffer } from '../../services/diff/differ.js';
import { mountsUnder } from '../../services/diff/mounts.js';
import { mediaTypes, uncompressedLabel, type Differ, type Mount } from '../../services/diff/types.js';
import { CtrdError } from '../../lib/errdefs.js';
import { native } from '../../lib/native.js';
import { copyTree, gzip, hasZstd, listTree, netRawCapability, packTar, rawEntry, sha256Of, zstd } from '../harness/layers.js';
import { endOfArchive } from '../../services/diff/tar-header.js';
import { expectKind } from '../harness/errors.js';

interface Instance {
  differ: Differ;
  content: ContentStore;
  leases: LeaseStore;
  /** Where the backend makes its temporary mounts: empty between calls. */
  tmpRoot: string;
  close(): void;
}

interface Backend {
  name: string;
  open(root: string): Instance;
}

const backends: Backend[] = [
  {
    name: 'WalkingDiffer over LocalContentStore + SQLite metadata',
    open(root) {
      const db = MetadataDB.open(join(root, 'meta.db'));
      const leases = new LeaseStore(db);
      const content = new ContentStore(db, new LocalContentStore(join(root, 'content')), leases);
      const tmpRoot = join(root, 'tmpmounts');
      return { differ: new WalkingDiffer(content, tmpRoot), content, leases, tmpRoot, close: () => db.close() };
    },
  },
];

const ns = 'conformance';

const T = (s: number) => new Date(s * 1000);

/** A base layer with something of everything. */
async function baseLayer(): Promise<Buffer> {
  const tar = await packTar([
    { name: 'bin/', type: 'directory', mode: 0o755, mtime: T(1_500_000_000) },
    { name: 'bin/busybox', mode: 0o755, body: 'busybox binary', mtime: T(1_500_000_001) },
    { name: 'bin/sh', type: 'symlink', linkname: 'busybox', mtime: T(1_500_000_002) },
    { name: 'bin/su', mode: 0o4755, body: 'su', mtime: T(1_500_000_003) },
    { name: 'bin/su-link', type: 'link', linkname: 'bin/su', mode: 0o4755, mtime: T(1_500_000_003) },
    { name: 'etc/', type: 'directory', mode: 0o755, mtime: T(1_500_000_004) },
    { name: 'etc/passwd', mode: 0o644, body: 'root:x:0:0::/root:/bin/sh\n', mtime: T(1_500_000_005) },
    { name: 'etc/shadow', mode: 0o640, gid: 42, body: 'root:*::\n', mtime: T(1_500_000_006) },
    { name: 'etc/hosts', mode: 0o644, body: '127.0.0.1 localhost\n', mtime: T(1_500_000_007) },
    { name: 'etc/old.d/', type: 'directory', mode: 0o755, mtime: T(1_500_000_008) },
    { name: 'etc/old.d/a.conf', body: 'a', mtime: T(1_500_000_009) },
    { name: 'etc/old.d/sub/', type: 'directory', mtime: T(1_500_000_010) },
    { name: 'etc/old.d/sub/b.conf', body: 'b', mtime: T(1_500_000_011) },
    { name: 'opt/', type: 'directory', mode: 0o755, mtime: T(1_500_000_012) },
    { name: 'opt/app/', type: 'directory', mode: 0o750, uid: 1000, gid: 1000, mtime: T(1_500_000_013) },
    { name: 'opt/app/data', mode: 0o600, uid: 1000, gid: 1000, body: 'data', mtime: T(1_500_000_014) },
    { name: 'opt/app/cache/', type: 'directory', mtime: T(1_500_000_015) },
    { name: 'opt/app/cache/c1', body: 'c1', mtime: T(1_500_000_016) },
    { name: 'opt/was-dir/', type: 'directory', mtime: T(1_500_000_017) },
    { name: 'opt/was-dir/x', body: 'x', mtime: T(1_500_000_018) },
    { name: 'opt/was-file', body: 'file', mtime: T(1_500_000_019) },
    { name: 'dev/', type: 'directory', mtime: T(1_500_000_020) },
    { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666, mtime: T(1_500_000_021) },
    { name: 'tmp/', type: 'directory', mode: 0o1777, mtime: T(1_500_000_022) },
  ]);
  return Buffer.concat([
    tar.subarray(0, tar.length - endOfArchive.length),
    rawEntry(
      {
        name: 'bin/ping',
        type: 'file',
        mode: 0o755,
        uid: 0,
        gid: 0,
        size: 0,
        mtime: 1_500_000_023,
        xattrs: new Map([
          ['security.capability', netRawCapability()],
          ['user.keep', Buffer.from('k')],
          ['user.drop', Buffer.from('d')],
        ]),
      },
      Buffer.from('ping'),
    ),
    endOfArchive,
  ]);
}

/** Changes made through a mounted overlay (or any tree): everything a layer can express. */
function change(m: string): void {
  writeFileSync(join(m, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n');
  chmodSync(join(m, 'etc/hosts'), 0o600);
  lchownSync(join(m, 'etc/shadow'), 0, 43);
  unlinkSync(join(m, 'bin/su-link'));
  rmSync(join(m, 'etc/old.d'), { recursive: true });
  // Emptied and refilled: an opaque directory in an upperdir.
  rmSync(join(m, 'opt/app/cache'), { recursive: true });
  mkdirSync(join(m, 'opt/app/cache'), { mode: 0o700 });
  writeFileSync(join(m, 'opt/app/cache/c2'), 'c2');
  rmSync(join(m, 'opt/was-dir'), { recursive: true });
  writeFileSync(join(m, 'opt/was-dir'), 'now a file');
  unlinkSync(join(m, 'opt/was-file'));
  mkdirSync(join(m, 'opt/was-file'), { mode: 0o711 });
  writeFileSync(join(m, 'opt/was-file/inside'), 'inside');
  unlinkSync(join(m, 'bin/sh'));
  symlinkSync('/bin/busybox', join(m, 'bin/sh'));
  mkdirSync(join(m, 'srv/www'), { recursive: true });
  writeFileSync(join(m, 'srv/www/index.html'), '<html>');
  linkSync(join(m, 'srv/www/index.html'), join(m, 'srv/www/index.htm'));
  lchownSync(join(m, 'srv/www'), 33, 33);
  native().mknod(join(m, 'dev/zero'), fsConstants.S_IFCHR | 0o666, 1, 5);
  native().mknod(join(m, 'dev/loop0'), fsConstants.S_IFBLK | 0o660, 7, 0);
  native().mknod(join(m, 'srv/fifo'), fsConstants.S_IFIFO | 0o644, 0, 0);
  native().lsetxattr(join(m, 'etc/passwd'), 'user.checked', Buffer.from('yes'));
  native().lremovexattr(join(m, 'bin/ping'), 'user.drop');
  utimesSync(join(m, 'bin/busybox'), 1_600_000_000, 1_600_000_000);
  chmodSync(join(m, 'tmp'), 0o1770);
  renameSync(join(m, 'etc/shadow'), join(m, 'etc/shadow-'));
  writeFileSync(join(m, 'big'), Buffer.alloc(3 << 20, 0x42));
}

describe.each(backends)('differ conformance: $name', (backend) => {
  let base: string;
  let inst: Instance;
  let snapshots = 0;

  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'ctrd-diff-conformance-'));
    inst = backend.open(join(base, 'root'));
    snapshots = 0;
  });

  afterEach(() => {
    expect(mountsUnder(base)).toEqual([]);
    expect(readdirSync(inst.tmpRoot)).toEqual([]);
    inst.close();
    rmSync(base, { recursive: true, force: true });
  });

  async function put(data: Buffer): Promise<string> {
    const digest = sha256Of(data);
    await inst.content.writeBlob(ns, `put-${digest}`, data, { expected: digest });
    return digest;
  }

  /** A directory as a committed snapshot's fs. */
  function dir(name: string): string {
    const d = join(base, name);
    mkdirSync(d, { recursive: true });
    return d;
  }

  /** An active snapshot over parents (nearest first), as the overlay snapshotter describes it. */
  function active(parents: string[]): { upper: string; mounts: Mount[] } {
    const id = `snap-${++snapshots}`;
    const upper = dir(`${id}/fs`);
    const work = dir(`${id}/work`);
    if (parents.length === 0) return { upper, mounts: [{ type: 'bind', source: upper, options: ['rw', 'rbind'] }] };
    return {
      upper,
      mounts: [{ type: 'overlay', source: 'overlay', options: ['index=off', `workdir=${work}`, `upperdir=${upper}`, `lowerdir=${parents.join(':')}`] }],
    };
  }

  const bindRo = (d: string): Mount[] => [{ type: 'bind', source: d, options: ['ro', 'rbind'] }];

  /** The entry names of a layer blob, in order. */
  async function layerNames(digest: string): Promise<string[]> {
    const parts: Buffer[] = [];
    for await (const c of inst.content.read(ns, digest, 0, 0)) parts.push(c as Buffer);
    let data = Buffer.concat(parts);
    if (data[0] === 0x1f && data[1] === 0x8b) data = gunzipSync(data);
    const names: string[] = [];
    const ex = extract();
    const done = (async () => {
      for await (const entry of ex) {
        names.push(entry.header.name);
        entry.resume();
      }
    })();
    ex.end(data);
    await done;
    return names;
  }

  /** The tree the mounts show, listed. */
  function listMounted(mounts: Mount[]): ReturnType<typeof listTree> {
    const target = dir(`view-${++snapshots}`);
    const m = mounts[0]!;
    if (m.type === 'bind') return listTree(m.source);
    native().mount('overlay', target, 'overlay', native().constants.MS_RDONLY, m.options.filter((o) => !o.startsWith('upperdir') && !o.startsWith('workdir')).map((o) => {
      const upper = m.options.find((u) => u.startsWith('upperdir='))?.slice('upperdir='.length);
      return o.startsWith('lowerdir=') && upper ? `lowerdir=${upper}:${o.slice('lowerdir='.length)}` : o;
    }).join(','));
    try {
      return listTree(target);
    } finally {
      native().umount2(target, 0);
    }
  }

  describe('Apply', () => {
    it('applies a gzipped layer into an overlay snapshot and returns its diff ID', async () => {
      const tar = await baseLayer();
      const digest = await put(gzip(tar));
      const base1 = active([]);
      const applied = await inst.differ.apply(ns, { mediaType: mediaTypes.layerGzip, digest, size: 0 }, base1.mounts);
      expect(applied).toEqual({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256Of(tar), size: tar.length });

      const top = active([base1.upper]);
      const layer2 = await packTar([{ name: 'etc/', type: 'directory', mode: 0o755, mtime: T(1_500_000_004) }, { name: 'etc/.wh.hosts' }, { name: 'etc/motd', body: 'hi' }]);
      const digest2 = await put(gzip(layer2));
      expect((await inst.differ.apply(ns, { mediaType: mediaTypes.layerGzip, digest: digest2, size: 0 }, top.mounts)).digest).toBe(sha256Of(layer2));
      // Straight into the upperdir: a whiteout device, and nothing of the lower layer copied up.
      expect(readdirSync(join(top.upper, 'etc')).sort()).toEqual(['hosts', 'motd']);
      const view = listMounted(top.mounts);
      expect(view['etc/hosts']).toBeUndefined();
      expect(view['etc/motd']).toMatchObject({ type: 'file', size: 2 });
      expect(view['bin/busybox']).toMatchObject({ type: 'file', mode: '755' });
    });

    const variants: Array<[string, (tar: Buffer) => Buffer]> = [
      [mediaTypes.layer, (t) => t],
      [mediaTypes.layerGzip, gzip],
      [mediaTypes.layerNondistributable, (t) => t],
      [mediaTypes.layerNondistributableGzip, gzip],
      [mediaTypes.dockerLayerGzip, gzip],
      [mediaTypes.dockerForeignLayerGzip, gzip],
    ];
    if (hasZstd()) variants.push([mediaTypes.layerZstd, zstd], [mediaTypes.layerNondistributableZstd, zstd], [mediaTypes.dockerLayerZstd, zstd]);

    it.each(variants)('applies %s', async (mediaType, encode) => {
      const tar = await packTar([{ name: 'f', body: mediaType }]);
      const digest = await put(encode(tar));
      const snap = active([]);
      const applied = await inst.differ.apply(ns, { mediaType, digest, size: 0 }, snap.mounts);
      expect(applied.digest).toBe(sha256Of(tar));
      expect(listTree(snap.upper)['f']).toMatchObject({ sha256: sha256Of(Buffer.from(mediaType)) });
    });

    it('answers NotImplemented for a media type that is no layer, naming it', async () => {
      const digest = await put(Buffer.from('{}'));
      for (const mediaType of ['application/vnd.oci.image.config.v1+json', 'application/vnd.oci.image.layer.v1.tar+encrypted', '']) {
        await expectKind(() => inst.differ.apply(ns, { mediaType, digest, size: 2 }, active([]).mounts), 'not-implemented', `"${mediaType}"`);
      }
    });

    it('answers NotFound for a blob the namespace does not have', async () => {
      const digest = await put(await packTar([{ name: 'f', body: 'x' }]));
      await expectKind(() => inst.differ.apply('other-ns', { mediaType: mediaTypes.layer, digest, size: 0 }, active([]).mounts), 'not-found');
      await expectKind(() => inst.differ.apply(ns, { mediaType: mediaTypes.layer, digest: sha256Of(Buffer.from('nope')), size: 0 }, active([]).mounts), 'not-found');
      await expectKind(() => inst.differ.apply(ns, { mediaType: mediaTypes.layer, digest: 'md5:abc', size: 0 }, active([]).mounts), 'invalid-argument');
    });

    it('answers InvalidArgument naming the layer for a corrupt blob, and unmounts', async () => {
      const z = gzip(await baseLayer());
      for (let i = 200; i < 260; i++) z[i] = z[i]! ^ 0xff;
      const digest = await put(z);
      // A mount set that is really mounted: two lowers and no upperdir are a read-only overlay, so a bind
      // of a snapshot directory stands in for "anything else".
      const target = dir('plain-target');
      const mounts: Mount[] = [{ type: 'bind', source: target, options: ['rbind', 'nosuid'] }, { type: 'bind', source: target, options: ['rbind'] }];
      await expectKind(() => inst.differ.apply(ns, { mediaType: mediaTypes.layerGzip, digest, size: 0 }, mounts), 'invalid-argument', `layer ${digest}`);
    });

    it('applies through a real mount when the mounts are not one directory', async () => {
      const tar = await baseLayer();
      const digest = await put(tar);
      const target = dir('plain-target');
      const mounts: Mount[] = [
        { type: 'bind', source: target, options: ['rbind'] },
        { type: 'bind', source: target, options: ['rbind'] },
      ];
      expect((await inst.differ.apply(ns, { mediaType: mediaTypes.layer, digest, size: 0 }, mounts)).digest).toBe(sha256Of(tar));
      expect(listTree(target)['bin/ping']).toMatchObject({ xattrs: { 'security.capability': netRawCapability().toString('hex') } });
    });
  });

  describe('Diff', () => {
    /** lower: the base layer applied; an active overlay snapshot on it, changed through a mount. */
    async function lowerAndUpper() {
      const lower = dir('lower/fs');
      await inst.differ.apply(ns, { mediaType: mediaTypes.layerGzip, digest: await put(gzip(await baseLayer())), size: 0 }, [
        { type: 'bind', source: lower, options: ['rw', 'rbind'] },
      ]);
      const snap = active([lower]);
      const merged = dir('merged');
      const o = snap.mounts[0]!.options.join(',');
      native().mount('overlay', merged, 'overlay', 0, o);
      try {
        change(merged);
      } finally {
        native().umount2(merged, 0);
      }
      return { lower, snap, expected: listMounted(snap.mounts) };
    }

    async function roundTrip(lower: string, layer: { digest: string; mediaType: string }, expected: ReturnType<typeof listTree>) {
      // On a copy of the lower tree, in plain mode...
      const copy = dir(`copy-${++snapshots}`);
      copyTree(lower, copy);
      await inst.differ.apply(ns, { ...layer, size: 0 }, [{ type: 'bind', source: copy, options: ['rw', 'rbind'] }]);
      expect(listTree(copy)).toEqual(expected);
      // ...and as a new overlay snapshot over the lower tree.
      const snap = active([lower]);
      await inst.differ.apply(ns, { ...layer, size: 0 }, snap.mounts);
      expect(listMounted(snap.mounts)).toEqual(expected);
    }

    it('computes an overlay snapshot from its upperdir, and the layer round-trips', async () => {
      const { lower, snap, expected } = await lowerAndUpper();
      const desc = await inst.differ.diff(ns, bindRo(lower), snap.mounts, { labels: { 'test.label': 'x' } });
      expect(desc.mediaType).toBe(mediaTypes.layerGzip);
      const info = inst.content.info(ns, desc.digest);
      expect(info.size).toBe(desc.size);
      expect(info.labels['test.label']).toBe('x');
      expect(info.labels[uncompressedLabel]).toMatch(/^sha256:[a-f0-9]{64}$/);
      // The upperdir's own vocabulary: an opaque directory, whiteouts from char 0/0 devices.
      const names = await layerNames(desc.digest);
      expect(names).toContain('opt/app/cache/.wh..wh..opq');
      expect(names).toContain('etc/.wh.old.d');
      expect(names).not.toContain('etc/old.d/.wh.a.conf');
      expect(names).toContain('srv/www/index.htm');
      expect(names).not.toContain('dev/null'); // never changed, never copied up
      // Depth first, each directory's names sorted; a whiteout stands where the name it deletes would.
      const key = (n: string) =>
        n
          .replace(/\/$/, '')
          .split('/')
          .map((c) => (c === '.wh..wh..opq' ? '' : c.replace(/^\.wh\./, '')));
      const byKey = (a: string, b: string) => {
        const [ka, kb] = [key(a), key(b)];
        for (let i = 0; i < Math.min(ka.length, kb.length); i++) if (ka[i] !== kb[i]) return ka[i]! < kb[i]! ? -1 : 1;
        return ka.length - kb.length;
      };
      expect(names).toEqual([...names].sort(byKey));
      expect(expected['opt/app/cache/c2']).toBeDefined();
      expect(expected['opt/app/cache/c1']).toBeUndefined();
      expect(expected['etc/old.d']).toBeUndefined();
      expect(expected['dev/zero']).toMatchObject({ type: 'char', rdev: 0x105 });
      expect(expected['srv/www/index.html']).toMatchObject({ sameInodeAs: 'srv/www/index.htm' });
      await roundTrip(lower, desc, expected);
    });

    it('computes the same changes by walking both trees when upper is not an overlay over lower', async () => {
      const { lower, snap, expected } = await lowerAndUpper();
      const lowerCopy = dir('lower-copy');
      copyTree(lower, lowerCopy);
      const desc = await inst.differ.diff(ns, bindRo(lowerCopy), snap.mounts, { mediaType: mediaTypes.layer });
      expect(desc.mediaType).toBe(mediaTypes.layer);
      expect(inst.content.info(ns, desc.digest).labels[uncompressedLabel]).toBe(desc.digest);
      const names = await layerNames(desc.digest);
      expect(names).toContain('etc/.wh.old.d');
      expect(names).toContain('opt/app/cache/.wh.c1');
      expect(names.filter((n) => n.endsWith('.wh..wh..opq'))).toEqual([]);
      expect(names).not.toContain('dev/null');
      await roundTrip(lower, desc, expected);
    });

    it('walks both trees when the upperdir uses what only the merged view resolves', async () => {
      const { lower, snap } = await lowerAndUpper();
      // A redirect of a directory to its own path: the merged view is unchanged, the fast walk must not be used.
      native().lsetxattr(join(snap.upper, 'opt'), 'trusted.overlay.redirect', Buffer.from('/opt'));
      const expected = listMounted(snap.mounts);
      const desc = await inst.differ.diff(ns, bindRo(lower), snap.mounts);
      const names = await layerNames(desc.digest);
      expect(names.filter((n) => n.endsWith('.wh..wh..opq'))).toEqual([]);
      expect(names).toContain('opt/app/cache/.wh.c1');
      await roundTrip(lower, desc, expected);
    });

    it('computes a first layer from nothing', async () => {
      const { snap, expected } = await lowerAndUpper();
      // The whole merged tree as one directory, then diffed from no mounts at all.
      const full = dir('full');
      const view = dir('full-view');
      native().mount('overlay', view, 'overlay', native().constants.MS_RDONLY, snap.mounts[0]!.options.filter((o) => o.startsWith('lowerdir=') || o === 'index=off').map((o) => (o.startsWith('lowerdir=') ? `lowerdir=${snap.upper}:${o.slice(9)}` : o)).join(','));
      try {
        copyTree(view, full);
      } finally {
        native().umount2(view, 0);
      }
      const desc = await inst.differ.diff(ns, [], [{ type: 'bind', source: full, options: ['rw', 'rbind'] }]);
      const empty = dir('empty');
      await inst.differ.apply(ns, { ...desc, size: 0 }, [{ type: 'bind', source: empty, options: ['rw', 'rbind'] }]);
      expect(listTree(empty)).toEqual(expected);
    });

    it('is deterministic: the same trees give the same blob, committed once', async () => {
      const { lower, snap } = await lowerAndUpper();
      const a = await inst.differ.diff(ns, bindRo(lower), snap.mounts);
      const b = await inst.differ.diff(ns, bindRo(lower), snap.mounts, { ref: 'second-diff' });
      expect(b).toEqual(a);
      expect(inst.content.listStatuses(ns, [])).toEqual([]);
    });

    it('answers NotImplemented for media types it cannot write, before any work', async () => {
      const lower = dir('l');
      for (const mediaType of [mediaTypes.layerZstd, 'application/json']) {
        await expectKind(() => inst.differ.diff(ns, bindRo(lower), bindRo(lower), { mediaType }), 'not-implemented');
      }
      expect(inst.content.listStatuses(ns, [])).toEqual([]);
    });

    it('aborts its ingest when it fails, and unmounts', async () => {
      const { lower, snap } = await lowerAndUpper();
      const ac = new AbortController();
      ac.abort(new CtrdError('canceled', 'client went away'));
      const lowerCopy = dir('lower-copy');
      copyTree(lower, lowerCopy);
      await expectKind(() => inst.differ.diff(ns, bindRo(lowerCopy), snap.mounts, { ref: 'doomed', signal: ac.signal }), 'canceled');
      expect(inst.content.listStatuses(ns, [])).toEqual([]);
      expect(existsSync(join(base, 'root', 'content', 'ingest')) ? readdirSync(join(base, 'root', 'content', 'ingest')) : []).toEqual([]);
    });

    it('writes under the lease of the call', async () => {
      const { lower, snap } = await lowerAndUpper();
      inst.leases.create(ns, 'diff-lease', {});
      const desc = await inst.differ.diff(ns, bindRo(lower), snap.mounts, { lease: 'diff-lease' });
      expect(inst.leases.listResources(ns, 'diff-lease')).toContainEqual({ type: 'content', id: desc.digest });
    });
  });
});
