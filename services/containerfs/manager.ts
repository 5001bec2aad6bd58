// The container filesystem verbs (docker diff, cp, export, commit, import), knowing nothing of gRPC.
//
// Where a container's files are: a running (or paused) task's through its mount namespace,
// /proc/<pid>/root (its volumes too; the pseudo filesystems the runtime mounted are not descended into); a
// task that is over but not deleted still has its rootfs mounted in its bundle; a container without a task
// has its snapshot mounted on a temporary directory (read-only unless written to), unmounted after. Every
// path is resolved inside that root (resolve-in-root.ts), never through the host's view.
//
// diff and commit read the snapshot itself (an overlay upperdir is the changes), export a read-only view of
// it: image and changes, as docker export, not what is mounted over it. Commit and import end in ImageMaker
// (new-image.ts), which records the image as a pull does.
//
// Known gap: a running container's paths are resolved component by component under /proc/<pid>/root, but a
// process inside that swaps a directory for a symlink between the check and the use could still redirect a
// copy (docker closed this with a chrooted helper process; ctrd has none yet).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, rmSync } from 'node:fs';
import { lstat, mkdir, open, readFile, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { join, relative } from 'node:path';
import { pipeline, Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { ContainerStore } from '../containers/store.js';
import type { Container } from '../containers/types.js';
import type { ContentStore } from '../content/store.js';
import type { SnapshotStore } from '../snapshots/store.js';
import type { ShimManager } from '../tasks/shim-manager.js';
import type { Shim } from '../tasks/shim.js';
import type { ImageStore } from '../images/store.js';
import type { ImageManager } from '../images/manager.js';
import type { ImageConfig } from '../images/manifest.js';
import { uncompressedLabel } from '../images/unpack.js';
import type { Differ, Mount } from '../diff/types.js';
import { overlayChanges, walkChanges, type Change } from '../diff/changes.js';
import { decompressor, detectCompression, magicLength, peek } from '../diff/compression.js';
import { cleanupTempMounts, mountsUnder, parseOverlay, withReadonlyView, withTempMount } from '../diff/mounts.js';
import { resolveDirInRoot } from '../diff/resolve-in-root.js';
import { Status } from '../../gen/containerd/v1/types/task.js';
import { mediaTypes } from '../../lib/registry/media-types.js';
import { defaultPlatform } from '../../lib/registry/platform.js';
import { digestOf } from '../../lib/digest.js';
import { CtrdError, errnoCode, failedPrecondition, invalidArgument, isAlreadyExists, isNotFound, notFound, wrap } from '../../lib/errdefs.js';
import type { Logger } from '../../lib/log.js';
import { checkTar, endsInDirectory, extractTar, hostPathInRoot, lstatEntry, statInRoot, treeTar, type PathInfo } from './archive.js';
import { applyChanges, type RunConfig } from './config-changes.js';
import { imageName, layerMediaType, type ImageMaker, type NewImageResult } from './new-image.js';

export type ChangeLetter = 'A' | 'C' | 'D';

export interface ContainerChange {
  /** Absolute in the container. */
  path: string;
  kind: ChangeLetter;
}

export interface CopyInOptions {
  id: string;
  /** The directory extracted into. */
  path: string;
  allowOverwriteDirWithFile: boolean;
  copyUidGid: boolean;
  signal?: AbortSignal;
}

export interface CommitOptions {
  id: string;
  reference: string;
  message: string;
  author: string;
  changes: readonly string[];
  pause: boolean;
  signal?: AbortSignal;
}

export interface ImportOptions {
  reference: string;
  message: string;
  changes: readonly string[];
  source: string;
  snapshotter: string;
  signal?: AbortSignal;
}

export interface ContainerFilesystemOptions {
  /** Where stopped containers' snapshots are mounted while they are read or written. */
  mountRoot: string;
  /** Where a tar sent to CopyIn is kept while it is checked, before anything is extracted. */
  spoolDir: string;
  defaultSnapshotter: string;
}

/** What a root is while fn runs: the directory, and directories whose contents are not the container's. */
interface RootView {
  root: string;
  skip: ReadonlySet<string>;
  running: boolean;
}

/** The filesystems a runtime mounts for the process: their contents are no files of the container. */
const pseudoFilesystems = new Set(['proc', 'sysfs', 'devpts', 'mqueue', 'cgroup', 'cgroup2', 'securityfs', 'debugfs', 'tracefs', 'bpf', 'pstore', 'configfs', 'fusectl', 'binfmt_misc', 'devtmpfs']);

const dataPiece = 1 << 20;

export class ContainerFilesystem {
  constructor(
    private readonly containers: ContainerStore,
    private readonly snapshots: SnapshotStore,
    private readonly shims: ShimManager,
    private readonly images: ImageStore,
    private readonly imageManager: ImageManager,
    private readonly content: ContentStore,
    private readonly differ: Differ,
    private readonly maker: ImageMaker,
    private readonly opts: ContainerFilesystemOptions,
    private readonly log: Logger,
  ) {
    cleanupTempMounts(opts.mountRoot, log);
    // Tars a crash left half received are nobody's.
    rmSync(opts.spoolDir, { recursive: true, force: true });
  }

  private container(ns: string, id: string): Container {
    try {
      const c = this.containers.get(ns, id);
      if (c.snapshotter === '' || c.snapshotKey === '') throw failedPrecondition(`container ${id} has no root filesystem snapshot`);
      return c;
    } catch (err) {
      if (isNotFound(err)) throw notFound(`No such container: ${id}`);
      throw err;
    }
  }

  private shim(ns: string, id: string): Shim | undefined {
    try {
      return this.shims.get(ns, id);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Runs fn on the container's root: see the top of this file. */
  private async withRoot<T>(ns: string, c: Container, access: 'read' | 'write', fn: (view: RootView) => Promise<T>): Promise<T> {
    const shim = this.shim(ns, c.id);
    if (shim && !shim.dead) {
      const state = await shim.state();
      if ((state.status === Status.RUNNING || state.status === Status.PAUSED) && state.pid > 0) {
        const root = `/proc/${state.pid}/root`;
        const skip = await pseudoMounts(state.pid, root);
        return fn({ root, skip, running: true });
      }
    }
    if (shim) {
      const rootfs = join(shim.bundle.path, 'rootfs');
      if (mountsUnder(rootfs).includes(rootfs)) return fn({ root: rootfs, skip: new Set(), running: false });
    }
    if (access === 'write' && readonlyRootfs(c)) throw failedPrecondition(`container rootfs is marked read-only`);
    const mounts = this.snapshots.mounts(ns, c.snapshotter, c.snapshotKey);
    return withTempMount(mounts, this.opts.mountRoot, { readonly: access === 'read', log: this.log }, (root) => fn({ root, skip: new Set(), running: false }));
  }

  // ---- diff ----

  /** docker diff: A, C and D against the image's top snapshot, in walk order. */
  async changes(ns: string, id: string): Promise<ContainerChange[]> {
    const c = this.container(ns, id);
    const mounts = this.snapshots.mounts(ns, c.snapshotter, c.snapshotKey);
    const only = mounts.length === 1 ? mounts[0]! : undefined;
    if (only?.type === 'overlay') {
      const o = parseOverlay(only);
      const upper = o.upperdir === undefined ? undefined : await overlayChanges(o.upperdir);
      if (upper) return this.classify(upper, lowerMounts(o.lowerdirs));
    }
    const parent = this.snapshots.stat(ns, c.snapshotter, c.snapshotKey).parent;
    return this.maker.withLease(ns, 'diff', async (lease) => {
      const key = `containerfs-diff-${Date.now()}-${randomBytes(6).toString('hex')}`;
      const lower = parent === '' ? [] : await this.snapshots.view(ns, c.snapshotter, key, parent, {}, { lease });
      try {
        const changes = await withReadonlyView(lower, this.opts.mountRoot, { log: this.log }, (l) =>
          withReadonlyView(mounts, this.opts.mountRoot, { log: this.log }, (u) => walkChanges(l, u)),
        );
        const letters: Record<string, ChangeLetter> = { add: 'A', modify: 'C', delete: 'D' };
        return changes.filter((ch) => ch.kind !== 'opaque').map((ch) => ({ path: `/${ch.path}`, kind: letters[ch.kind]! }));
      } finally {
        if (parent !== '') await this.snapshots.remove(ns, c.snapshotter, key, { lease });
      }
    });
  }

  /** An upperdir's changes as docker has them: what the layers below have already is changed, else added. */
  private async classify(changes: readonly Change[], lower: readonly Mount[]): Promise<ContainerChange[]> {
    const letter = async (dir: string | undefined, ch: Change): Promise<ChangeLetter> => {
      if (ch.kind === 'delete') return 'D';
      if (dir === undefined) return 'A';
      try {
        await lstat(join(dir, ch.path));
        return 'C';
      } catch (err) {
        if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return 'A';
        throw err;
      }
    };
    const run = async (dir: string | undefined) => {
      const out: ContainerChange[] = [];
      for (const ch of changes) if (ch.kind !== 'opaque') out.push({ path: `/${ch.path}`, kind: await letter(dir, ch) });
      return out;
    };
    if (lower.length === 0) return run(undefined);
    return withReadonlyView(lower, this.opts.mountRoot, { log: this.log }, run);
  }

  // ---- cp ----

  async stat(ns: string, id: string, path: string): Promise<PathInfo> {
    const c = this.container(ns, id);
    return this.withRoot(ns, c, 'read', ({ root }) =>
      statInRoot(root, path).catch((err: unknown) => {
        throw notFoundIn(err, id, path);
      }),
    );
  }

  /** The path's stat, then its tar, handed to send in pieces. */
  async copyOut(
    ns: string,
    id: string,
    path: string,
    send: (part: { stat: PathInfo } | { data: Buffer }) => Promise<void>,
    signal?: AbortSignal,
  ): Promise<void> {
    const c = this.container(ns, id);
    await this.withRoot(ns, c, 'read', async ({ root, skip }) => {
      const stat = await statInRoot(root, path).catch((err: unknown) => {
        throw notFoundIn(err, id, path);
      });
      const host = await hostPathInRoot(root, path);
      // "dir/." (and the root) is the directory's contents: entries "./...", as docker's rebase of ".".
      const name = endsInDirectory(path) || host === root ? '.' : stat.name;
      await send({ stat });
      for await (const data of pieces(treeTar(host, name, { skipContents: skip, signal }))) await send({ data });
    });
  }

  /**
   * Extracts a tar into a directory of the container. The tar is spooled and checked whole first; then the
   * extraction is tried dry (a directory and a file that would replace each other are refused) before
   * anything is written.
   */
  async copyIn(ns: string, o: CopyInOptions, data: AsyncIterable<Buffer>): Promise<{ entries: number; size: number }> {
    const c = this.container(ns, o.id);
    await mkdir(this.opts.spoolDir, { recursive: true, mode: 0o700 });
    const spool = join(this.opts.spoolDir, `copy-in-${Date.now()}-${randomBytes(6).toString('hex')}.tar`);
    const fh = await open(spool, 'wx', 0o600);
    try {
      let summary;
      try {
        summary = await checkTar(data, async (chunk) => {
          await fh.write(chunk);
        });
      } finally {
        await fh.close();
      }
      const entries = await this.withRoot(ns, c, 'write', async ({ root }) => {
        const dir = await resolveDirInRoot(root, o.path);
        let st;
        try {
          st = await lstatEntry(dir);
        } catch (err) {
          throw notFoundIn(err, o.id, o.path);
        }
        if (!st.isDirectory()) throw failedPrecondition(`extraction point "${o.path}" is not a directory`);
        const opts = {
          allowOverwriteDirWithFile: o.allowOverwriteDirWithFile,
          owner: o.copyUidGid ? ({ keep: true } as const) : ({ keep: false, uid: 0, gid: 0 } as const),
          signal: o.signal,
        };
        await extractTar(root, dir, createReadStream(spool), opts, true);
        try {
          return await extractTar(root, dir, createReadStream(spool), opts);
        } catch (err) {
          if (errnoCode(err) === 'EROFS' || (err instanceof Error && /EROFS/.test(err.message))) throw failedPrecondition('container rootfs is marked read-only', err);
          throw err;
        }
      });
      this.log.debug({ ns, id: o.id, path: o.path, entries, size: summary.size }, 'copied into the container');
      return { entries, size: summary.size };
    } finally {
      await rm(spool, { force: true });
    }
  }

  // ---- export ----

  /** docker export: the root filesystem (image and changes, no volumes) as a tar, in pieces. */
  async export(ns: string, id: string, send: (data: Buffer) => Promise<void>, signal?: AbortSignal): Promise<void> {
    const c = this.container(ns, id);
    const mounts = this.snapshots.mounts(ns, c.snapshotter, c.snapshotKey);
    await withReadonlyView(mounts, this.opts.mountRoot, { log: this.log }, async (root) => {
      for await (const data of pieces(treeTar(root, '', { signal }))) await send(data);
    });
  }

  // ---- commit ----

  async commit(ns: string, o: CommitOptions): Promise<NewImageResult> {
    imageName(o.reference); // a bad reference fails before anything is done
    const c = this.container(ns, o.id);
    let image;
    try {
      image = this.images.get(ns, c.image);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      throw failedPrecondition(`the image "${c.image}" of container ${o.id} is gone: nothing to commit onto`);
    }
    const resolved = await this.imageManager.resolve(ns, image);
    const runConfig = applyChanges(containerRunConfig((resolved.config.config ?? {}) as RunConfig, c), o.changes);
    const parent = this.snapshots.stat(ns, c.snapshotter, c.snapshotKey).parent;
    const top = resolved.chainIds[resolved.chainIds.length - 1] ?? '';
    if (parent !== top) throw failedPrecondition(`container ${o.id} is not on the top snapshot of its image ${c.image}`);
    const flavour = resolved.manifestDescriptor.mediaType === mediaTypes.dockerManifest ? 'docker' : 'oci';
    const createdBy = processArgs(c).join(' ');

    return this.maker.withLease(ns, 'commit', async (lease) => {
      const upper = this.snapshots.mounts(ns, c.snapshotter, c.snapshotKey);
      const key = `containerfs-commit-${Date.now()}-${randomBytes(6).toString('hex')}`;
      const lower = parent === '' ? [] : await this.snapshots.view(ns, c.snapshotter, key, parent, {}, { lease });
      let layer;
      try {
        layer = await this.paused(ns, o.id, o.pause, () =>
          this.differ.diff(ns, lower, upper, { mediaType: layerMediaType(flavour), lease, signal: o.signal }),
        );
      } finally {
        if (parent !== '') await this.snapshots.remove(ns, c.snapshotter, key, { lease });
      }
      const diffId = this.content.info(ns, layer.digest).labels[uncompressedLabel];
      if (!diffId) throw new CtrdError('internal', `layer ${layer.digest} has no ${uncompressedLabel} label`);
      const now = new Date().toISOString();
      const base = resolved.config as ImageConfig & Record<string, unknown>;
      const config: ImageConfig & Record<string, unknown> = {
        ...base,
        created: now,
        config: runConfig,
        rootfs: { type: 'layers', diff_ids: [...base.rootfs.diff_ids, diffId] },
        history: [...(base.history ?? []), { created: now, created_by: createdBy, ...(o.author ? { author: o.author } : {}), ...(o.message ? { comment: o.message } : {}) }],
      };
      if (o.author) config.author = o.author;
      else delete config.author;
      return this.maker.make(ns, lease, {
        reference: o.reference,
        snapshotter: c.snapshotter,
        config,
        layers: [...resolved.manifest.layers, { mediaType: layer.mediaType, digest: layer.digest as never, size: layer.size }],
        flavour,
        signal: o.signal,
      });
    });
  }

  /** Runs fn with the container's task paused when asked and it is running; resumed whatever happens. */
  private async paused<T>(ns: string, id: string, pause: boolean, fn: () => Promise<T>): Promise<T> {
    const shim = pause ? this.shim(ns, id) : undefined;
    const running = shim && !shim.dead ? (await shim.state()).status === Status.RUNNING : false;
    if (!running) return fn();
    await shim!.pause();
    try {
      return await fn();
    } finally {
      await shim!.resume().catch((err: unknown) => this.log.error({ err, ns, id }, 'cannot resume a container paused for a commit'));
    }
  }

  // ---- import ----

  async import(ns: string, o: ImportOptions, data: AsyncIterable<Buffer>): Promise<NewImageResult> {
    imageName(o.reference);
    const runConfig = applyChanges({}, o.changes);
    const snapshotter = o.snapshotter || this.opts.defaultSnapshotter;
    this.snapshots.snapshotter(snapshotter);
    return this.maker.withLease(ns, 'import', async (lease) => {
      const { layer, diffId } = await this.ingestLayer(ns, lease, data, o.signal);
      const now = new Date().toISOString();
      const platform = defaultPlatform();
      const config: ImageConfig & Record<string, unknown> = {
        created: now,
        architecture: platform.architecture,
        os: platform.os,
        ...(platform.variant ? { variant: platform.variant } : {}),
        config: runConfig,
        rootfs: { type: 'layers', diff_ids: [diffId] },
        history: [{ created: now, comment: o.message || `Imported from ${o.source || '-'}` }],
      };
      return this.maker.make(ns, lease, { reference: o.reference, snapshotter, config, layers: [layer], flavour: 'oci', signal: o.signal });
    });
  }

  /**
   * A rootfs tar (plain, gzip or zstd) as a gzip layer in the content store: checked entry by entry while it
   * streams in, its diff ID the sha256 of the plain tar. A bad tar aborts the ingest: nothing is left.
   */
  private async ingestLayer(ns: string, lease: string, data: AsyncIterable<Buffer>, signal?: AbortSignal) {
    const ref = `import-${Date.now()}-${randomBytes(6).toString('hex')}`;
    const writer = await this.content.writer(ns, ref, { total: 0, expected: '', lease });
    const gz = createGzip();
    try {
      const { head, stream } = await peek(Readable.from(data), magicLength);
      const dec = decompressor(detectCompression(head));
      const plain = dec ? pipeline(stream, dec, () => undefined) : stream;
      const diffHash = createHash('sha256');
      const blobHash = createHash('sha256');
      let offset = 0;
      const writing = (async () => {
        for await (const chunk of gz) {
          await writer.write(offset, chunk as Buffer);
          blobHash.update(chunk as Buffer);
          offset += (chunk as Buffer).length;
        }
      })();
      writing.catch(() => undefined);
      try {
        await checkTar(plain as AsyncIterable<Buffer>, async (chunk) => {
          signal?.throwIfAborted();
          diffHash.update(chunk);
          if (!gz.write(chunk)) await Promise.race([once(gz, 'drain'), writing]);
        });
      } catch (err) {
        if (err instanceof CtrdError) throw err;
        throw invalidArgument(`import: the tar cannot be read: ${(err as Error).message}`, err);
      }
      gz.end();
      await writing;
      const digest = digestOf(blobHash);
      const diffId = digestOf(diffHash);
      try {
        await writer.commit(offset, digest, { [uncompressedLabel]: diffId });
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        this.content.update(ns, digest, { [uncompressedLabel]: diffId }, [`labels.${uncompressedLabel}`]);
      }
      return { layer: { mediaType: mediaTypes.ociLayerGzip, digest, size: this.content.info(ns, digest).size }, diffId };
    } catch (err) {
      gz.destroy();
      await writer.close();
      await this.content.abort(ns, ref).catch((e: unknown) => {
        if (!isNotFound(e)) this.log.warn({ err: e, ref }, 'cannot abort the ingest of a failed import');
      });
      throw wrap(err, 'import');
    } finally {
      await writer.close();
    }
  }
}

/** A path that is not there, said as docker says it, naming the path and the container. */
function notFoundIn(err: unknown, id: string, path: string): unknown {
  if (isNotFound(err) || ['ENOENT', 'ENOTDIR'].includes(errnoCode(err) ?? '')) return notFound(`Could not find the file ${path} in container ${id}`);
  return err;
}

/** The mounts of a read-only view of layer directories (nearest first), as a snapshotter would give them. */
function lowerMounts(dirs: readonly string[]): Mount[] {
  if (dirs.length === 0) return [];
  if (dirs.length === 1) return [{ type: 'bind', source: dirs[0]!, options: ['ro', 'rbind'] }];
  return [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${dirs.join(':')}`] }];
}

/** Mount points of the process's pseudo filesystems (and /dev), as paths under root. */
async function pseudoMounts(pid: number, root: string): Promise<Set<string>> {
  const out = new Set<string>();
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/mountinfo`, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    if (sep < 0 || fields[4] === undefined) continue;
    const point = fields[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    if (pseudoFilesystems.has(fields[sep + 1] ?? '') || point === '/dev') out.add(point === '/' ? root : join(root, relative('/', point)));
  }
  out.delete(root);
  return out;
}

interface SpecFields {
  process?: { args?: string[]; env?: string[]; cwd?: string };
  root?: { readonly?: boolean };
}

function specOf(c: Container): SpecFields {
  try {
    return JSON.parse(Buffer.from(c.spec.value).toString('utf8')) as SpecFields;
  } catch {
    return {};
  }
}

const processArgs = (c: Container) => specOf(c).process?.args ?? [];

/**
 * The image's run config with what the container ran instead, as docker commit keeps the container's config:
 * its environment, working directory and command (the args past the image's entrypoint; all of them, with
 * the first as the entrypoint, when the entrypoint was replaced).
 */
export function containerRunConfig(image: RunConfig, c: Container): RunConfig {
  const proc = specOf(c).process;
  if (!proc) return image;
  const out: RunConfig = { ...image };
  if (proc.env) out.Env = proc.env;
  if (proc.cwd) out.WorkingDir = proc.cwd;
  const args = proc.args ?? [];
  const entrypoint = image.Entrypoint ?? [];
  if (args.length > 0) {
    if (args.length >= entrypoint.length && entrypoint.every((e, i) => args[i] === e)) {
      out.Cmd = args.slice(entrypoint.length);
    } else {
      out.Entrypoint = [args[0]!];
      out.Cmd = args.slice(1);
    }
  }
  return out;
}
const readonlyRootfs = (c: Container) => specOf(c).root?.readonly === true;


/** Chunks gathered into pieces of about dataPiece bytes: a message per 512-byte header would be wasteful. */
async function* pieces(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of chunks) {
    let c = chunk;
    while (c.length > 0) {
      const take = Math.min(c.length, dataPiece - size);
      parts.push(c.subarray(0, take));
      size += take;
      c = c.subarray(take);
      if (size === dataPiece) {
        yield Buffer.concat(parts);
        parts = [];
        size = 0;
      }
    }
  }
  if (size > 0) yield Buffer.concat(parts);
}
