// ctrctl's filesystem verbs, docker's names, flags and output, done by ctrd's ContainerFilesystemService:
//   diff C                                        A/C/D lines
//   cp [-a] [-L] [-q] C:SRC DEST|-                 cp [-a] [-L] [-q] SRC|- C:DEST
//   commit [-a AUTHOR] [-c CHANGE]... [-m MSG] [-p|--no-pause] C [REPO[:TAG]]
//   export [-o FILE] C                            import [-c CHANGE]... [-m MSG] FILE|- [REPO[:TAG]]
// (also as container diff|cp|commit|export and image import). cp follows docker's rules for what lands
// where (archive.PrepareArchiveCopy): a directory's contents with "SRC/.", a destination that does not exist
// takes the source's place, "-" is a tar on stdin or stdout.
import { credentials, InterceptingCall, type ClientDuplexStream, type ClientReadableStream, type Interceptor } from '@grpc/grpc-js';
import { createReadStream } from 'node:fs';
import { lstat, readlink, realpath, stat } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { dirname, isAbsolute, join, posix, resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import {
  ChangeKind,
  ContainerFilesystemServiceClient,
  type CopyInRequest,
  type CopyInResponse,
  type CopyOutResponse,
  type ImportRequest,
  type ImportResponse,
  type NewImage,
  type PathStat,
} from '../../gen/ctrd/services/containerfs/v1/containerfs.js';
import { errnoCode, failedPrecondition, invalidArgument, isNotFound, notFound } from '../../lib/errdefs.js';
import { unary, type Clients } from '../../lib/grpc/client.js';
import { namespaceHeader } from '../../lib/grpc/context.js';
import { fromGrpcStatus } from '../../lib/grpc/status.js';
import { endsInDirectory, extractTar, rebase, treeTar } from '../../services/containerfs/archive.js';
import { withClients } from './connect.js';
import { findContainer } from './container-state.js';
import { print } from './output.js';
import { runtimeClients } from './runtime-clients.js';
import { humanSize } from './units.js';
import { collect } from './flags.js';
import { TarOutput } from './tar-output.js';

const dataPiece = 1 << 20;

/** ctrd's filesystem service on the connection of c, with the namespace in every call's metadata. */
function filesystemClient(c: Clients): ContainerFilesystemServiceClient {
  const ns: Interceptor = (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set(namespaceHeader, c.target.namespace);
        next(metadata, listener);
      },
    });
  // The channel is c's: c.close() closes it for this client too.
  return new ContainerFilesystemServiceClient(`unix://${c.target.address}`, credentials.createInsecure(), {
    interceptors: [ns],
    channelOverride: c.version.getChannel(),
  });
}

/** The container's ID for what a person typed (a name, an ID, a unique ID prefix). */
async function containerId(c: Clients, input: string): Promise<string> {
  return (await findContainer(runtimeClients(c), input)).container.id;
}

/** Every message of a server stream; a failure comes back as a CtrdError. */
async function* messages<T>(call: ClientReadableStream<T> | ClientDuplexStream<unknown, T>): AsyncGenerator<T> {
  try {
    for await (const m of call as AsyncIterable<T>) yield m;
  } catch (err) {
    throw fromGrpcStatus(err);
  }
}

/** Writes a header message, then the data in pieces, to a client stream, and returns its one response. */
async function upload<Req, Res>(call: ClientDuplexStream<Req, Res>, header: Req, data: AsyncIterable<Buffer>, piece: (b: Buffer) => Req): Promise<Res> {
  let response: Res | undefined;
  let failed = false;
  const reading = (async () => {
    for await (const m of messages(call)) response = m;
  })();
  reading.catch(() => (failed = true));
  const write = async (m: Req) => {
    if (!call.write(m)) await Promise.race([new Promise((r) => call.once('drain', r)), reading]);
  };
  try {
    await write(header);
    for await (const chunk of data) {
      if (failed) break;
      for (let i = 0; i < chunk.length && !failed; i += dataPiece) await write(piece(chunk.subarray(i, i + dataPiece)));
    }
  } finally {
    call.end();
  }
  await reading;
  if (response === undefined) throw failedPrecondition('ctrd ended the call without an answer');
  return response;
}

// ---- diff ----

const letters: Partial<Record<ChangeKind, string>> = {
  [ChangeKind.CHANGE_KIND_ADDED]: 'A',
  [ChangeKind.CHANGE_KIND_MODIFIED]: 'C',
  [ChangeKind.CHANGE_KIND_DELETED]: 'D',
};

async function diff(input: string, command: Command): Promise<void> {
  await withClients(command, async (c) => {
    const fs = filesystemClient(c);
    const { changes } = await unary(fs, fs.changes, { containerId: await containerId(c, input) });
    if (changes.length > 0) print(changes.map((ch) => `${letters[ch.kind] ?? '?'} ${ch.path}`).join('\n'));
  });
}

// ---- cp ----

interface CpOptions {
  archive?: boolean;
  followLink?: boolean;
  quiet?: boolean;
}

interface CpArg {
  container?: string;
  path: string;
}

/** docker's splitCpArg: "C:PATH" names a container, unless the argument starts like a local path. */
export function splitCpArg(arg: string): CpArg {
  if (arg === '-' || arg.startsWith('/') || arg.startsWith('.')) return { path: arg };
  const i = arg.indexOf(':');
  if (i <= 0) return { path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

interface CopyInfo {
  path: string;
  exists: boolean;
  isDir: boolean;
}

const S_IFMT = 0o170000;
const isDirMode = (mode: number) => (mode & S_IFMT) === 0o040000;
const isLinkMode = (mode: number) => (mode & S_IFMT) === 0o120000;
const isFileMode = (mode: number) => (mode & S_IFMT) === 0o100000;

/** docker's SplitPathDirEntry: "a/b/" is ("a", "b"), "a/b/." is ("a/b", "."). */
function splitPathDirEntry(path: string): { dir: string; base: string } {
  let cleaned = posix.normalize(path);
  if (cleaned.length > 1) cleaned = cleaned.replace(/\/+$/, '');
  if (path === '.' || path.endsWith('/.')) cleaned += '/.';
  return { dir: posix.dirname(cleaned), base: posix.basename(cleaned) };
}

/**
 * Where the entries of a tar whose top entry is named srcBase go, and under what name (docker's
 * PrepareArchiveCopy): into an existing directory as they are, else in place of the destination.
 */
function prepareCopy(src: { isDir: boolean; base: string }, dst: CopyInfo): { dir: string; rename?: (n: string) => string } {
  const { dir: dstDir, base: dstBase } = splitPathDirEntry(dst.path);
  if (dst.exists && dst.isDir) return { dir: dst.path };
  if (dst.exists && src.isDir) throw failedPrecondition('cannot copy directory');
  if (!dst.exists && !src.isDir && (dst.path.endsWith('/') || dst.path.endsWith('/.'))) throw notFound('no such directory');
  return { dir: dstDir, rename: rebase(src.base, dstBase) };
}

/** docker's CopyInfoDestinationPath on this host: symlinks followed; a missing destination needs its parent. */
async function hostDestination(path: string): Promise<CopyInfo> {
  let current = path;
  for (let links = 0; ; links++) {
    let st;
    try {
      st = await lstat(current);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
      const parent = splitPathDirEntry(current).dir;
      try {
        await stat(parent);
      } catch {
        throw notFound(`destination directory ${parent} does not exist`);
      }
      return { path: current, exists: false, isDir: false };
    }
    if (!st.isSymbolicLink()) return { path: current, exists: true, isDir: st.isDirectory() };
    if (links > 40) throw invalidArgument(`too many symlinks in ${path}`);
    const target = await readlink(current);
    current = isAbsolute(target) ? target : join(dirname(current), target);
  }
}

async function copyFromContainer(c: Clients, arg: CpArg & { container: string }, dst: string, o: CpOptions): Promise<void> {
  const fs = filesystemClient(c);
  const id = await containerId(c, arg.container);
  // Where it goes is known before anything is read: a destination whose parent is missing fails at once.
  const dstInfo = dst === '-' ? undefined : await hostDestination(dst);
  let srcPath = arg.path;
  let rebaseName: string | undefined;
  if (o.followLink) {
    const { stat: st } = await unary(fs, fs.stat, { containerId: id, path: srcPath }).catch((err: unknown) => {
      throw noSuchPath(err, arg);
    });
    if (st && isLinkMode(st.mode)) {
      rebaseName = splitPathDirEntry(srcPath).base;
      srcPath = st.linkTarget;
    }
  }
  const stream = messages<CopyOutResponse>(fs.copyOut({ containerId: id, path: srcPath }));
  let first;
  try {
    first = await stream.next();
  } catch (err) {
    throw noSuchPath(err, arg);
  }
  const st: PathStat | undefined = first.done ? undefined : first.value.stat;
  if (!st) throw failedPrecondition('ctrd sent no stat before the archive');
  const progress = new CopyProgress('from container', Boolean(o.quiet) || dst === '-');
  const tar = Readable.from(
    (async function* () {
      for await (const m of stream) {
        if (!m.data) continue;
        progress.size += m.data.length;
        yield m.data;
      }
    })(),
  );
  try {
    if (!dstInfo) {
      tar.pipe(process.stdout, { end: false });
      await finished(tar);
      return;
    }
    await extractFromContainer(tar, srcPath, st, rebaseName, dstInfo, o);
  } catch (err) {
    progress.failed();
    throw err;
  }
  progress.done(dst);
}

async function extractFromContainer(tar: Readable, srcPath: string, st: PathStat, rebaseName: string | undefined, dstInfo: CopyInfo, o: CpOptions): Promise<void> {
  // The entries' top name: "." for a directory's contents, else the base name the daemon used.
  const tarBase = endsInDirectory(srcPath) || srcPath === '/' || posix.normalize('/' + srcPath) === '/' ? '.' : st.name;
  const srcBase = rebaseName ?? tarBase;
  const plan = prepareCopy({ isDir: isDirMode(st.mode), base: srcBase }, dstInfo);
  const renames = [rebaseName !== undefined ? rebase(tarBase, rebaseName) : undefined, plan.rename].filter((f) => f !== undefined);
  const root = await realpath(plan.dir).catch(() => resolve(plan.dir));
  await extractTar(root, root, tar, {
    owner: o.archive ? { keep: true } : { keep: false },
    rename: (n) => renames.reduce((name, f) => f(name), n),
  });
}

/**
 * docker cp's report on stderr: on a terminal "Copying to container - 1.2MB" as bytes flow, then (unless -q)
 * "Successfully copied 1.2MB to DEST".
 */
class CopyProgress {
  size = 0;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly tty: boolean;

  constructor(direction: 'to container' | 'from container', private readonly quiet: boolean) {
    this.tty = !quiet && Boolean(process.stderr.isTTY);
    if (this.tty) {
      process.stderr.write('Preparing to copy...');
      this.timer = setInterval(() => process.stderr.write(`\r\x1b[2KCopying ${direction} - ${humanSize(this.size, 3)}`), 100);
    }
  }

  done(dest: string): void {
    clearInterval(this.timer);
    if (!this.quiet) process.stderr.write(`${this.tty ? '\r\x1b[2K' : ''}Successfully copied ${humanSize(this.size, 3)} to ${dest}\n`);
  }

  failed(): void {
    clearInterval(this.timer);
    if (this.tty) process.stderr.write('\n');
  }
}

function noSuchPath(err: unknown, arg: CpArg): unknown {
  if (isNotFound(err) && /Could not find the file/.test((err as Error).message)) return notFound(`No such container:path: ${arg.container}:${arg.path}`);
  return err;
}

async function copyToContainer(c: Clients, src: string, arg: CpArg & { container: string }, o: CpOptions): Promise<void> {
  const fs = filesystemClient(c);
  const id = await containerId(c, arg.container);
  const statOf = async (path: string): Promise<PathStat | undefined> => {
    try {
      return (await unary(fs, fs.stat, { containerId: id, path })).stat;
    } catch (err) {
      if (isNotFound(err) && /Could not find the file/.test((err as Error).message)) return undefined;
      throw err;
    }
  };
  const dst: CopyInfo = { path: arg.path, exists: false, isDir: false };
  let st = await statOf(arg.path);
  if (st && isLinkMode(st.mode)) {
    dst.path = st.linkTarget;
    st = await statOf(st.linkTarget);
  }
  if (st) {
    if (!isDirMode(st.mode) && !isFileMode(st.mode)) throw failedPrecondition(`destination "${arg.container}:${arg.path}" must be a directory or a regular file`);
    dst.exists = true;
    dst.isDir = isDirMode(st.mode);
  }
  let target: string;
  let data: AsyncIterable<Buffer>;
  if (src === '-') {
    if (!dst.isDir) throw failedPrecondition(`destination "${arg.container}:${arg.path}" must be a directory`);
    target = dst.path;
    data = process.stdin as AsyncIterable<Buffer>;
  } else {
    let host = src;
    let srcSt;
    try {
      srcSt = o.followLink ? await stat(src) : await lstat(src);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw notFound(`lstat ${src}: no such file or directory`);
      throw err;
    }
    if (o.followLink) host = await realpath(src);
    const { base } = splitPathDirEntry(src);
    const plan = prepareCopy({ isDir: srcSt.isDirectory(), base }, dst);
    target = plan.dir;
    // The top entry's name: a directory's contents ("." as base) are the rebase's "" entry.
    const name = plan.rename ? plan.rename(base === '.' ? '' : base) : base;
    data = treeTar(endsInDirectory(src) ? await realpath(src) : host, name === '' ? '.' : name);
  }
  const progress = new CopyProgress('to container', Boolean(o.quiet));
  const counted = (async function* () {
    for await (const chunk of data) {
      progress.size += chunk.length;
      yield chunk;
    }
  })();
  try {
    await upload<CopyInRequest, CopyInResponse>(
      fs.copyIn(),
      { header: { containerId: id, path: target, allowOverwriteDirWithFile: false, copyUidGid: Boolean(o.archive) } },
      counted,
      (b) => ({ data: b }),
    );
  } catch (err) {
    progress.failed();
    throw err;
  }
  progress.done(`${arg.container}:${arg.path}`);
}

async function cp(src: string, dst: string, o: CpOptions, command: Command): Promise<void> {
  const from = splitCpArg(src);
  const to = splitCpArg(dst);
  if (from.container !== undefined && to.container !== undefined) throw invalidArgument('copying between containers is not supported');
  if (from.container === undefined && to.container === undefined) throw invalidArgument('must specify at least one container source');
  if ((from.container !== undefined && from.path === '') || (to.container !== undefined && to.path === '')) throw invalidArgument('filepath cannot be empty');
  await withClients(command, async (c) => {
    if (from.container !== undefined) await copyFromContainer(c, { container: from.container, path: from.path }, dst, o);
    else await copyToContainer(c, src, { container: to.container!, path: to.path }, o);
  });
}

// ---- commit, export, import ----

interface CommitOptions {
  author?: string;
  change: string[];
  message?: string;
  pause: boolean;
}

async function commit(input: string, reference: string | undefined, o: CommitOptions, command: Command): Promise<void> {
  const image = await withClients(command, async (c) => {
    const fs = filesystemClient(c);
    const res = await unary(fs, fs.commit, {
      containerId: await containerId(c, input),
      reference: reference ?? '',
      message: o.message ?? '',
      author: o.author ?? '',
      changes: o.change,
      pause: o.pause,
    });
    return res.image;
  });
  printImage(image);
}

function printImage(image: NewImage | undefined): void {
  if (!image) throw failedPrecondition('ctrd made no image');
  print(image.id);
}

async function exportContainer(input: string, o: { output?: string }, command: Command): Promise<void> {
  TarOutput.check(o.output);
  await withClients(command, async (c) => {
    const fs = filesystemClient(c);
    const call = fs.export({ containerId: await containerId(c, input) });
    const out = await TarOutput.open(o.output, 0o644);
    try {
      for await (const m of messages(call)) if (m.data) await out.write(m.data);
      await out.commit();
    } catch (err) {
      await out.abort();
      throw err;
    }
  });
}

interface ImportOptions {
  change: string[];
  message?: string;
  snapshotter?: string;
}

async function importImage(file: string, reference: string | undefined, o: ImportOptions, command: Command): Promise<void> {
  const data = file === '-' ? (process.stdin as AsyncIterable<Buffer>) : createReadStream(file);
  if (file !== '-') {
    try {
      await stat(file);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw notFound(`open ${file}: no such file or directory`);
      throw err;
    }
  }
  const image = await withClients(command, async (c) => {
    const fs = filesystemClient(c);
    const res = await upload<ImportRequest, ImportResponse>(
      fs.import(),
      { header: { reference: reference ?? '', message: o.message ?? '', changes: o.change, source: file, snapshotter: o.snapshotter ?? '' } },
      data as AsyncIterable<Buffer>,
      (b) => ({ data: b }),
    );
    return res.image;
  });
  printImage(image);
}

// ---- registration ----

function noun(program: Command, name: string, description: string): Command {
  return program.commands.find((c) => c.name() === name) ?? program.command(name).description(description);
}

export function addFilesystemCommands(program: Command): void {
  const container = noun(program, 'container', 'manage containers');
  for (const parent of [program, container]) {
    parent
      .command('diff')
      .description("inspect changes to files or directories on a container's filesystem")
      .argument('<container>', 'name or ID')
      .action((input: string, _o: unknown, command: Command) => diff(input, command));
    parent
      .command('cp')
      .description('copy files/folders between a container and the local filesystem (- for a tar on stdin or stdout)')
      .argument('<src>', 'CONTAINER:SRC_PATH, a local path, or -')
      .argument('<dest>', 'CONTAINER:DEST_PATH, a local path, or -')
      .option('-a, --archive', 'archive mode (copy all uid/gid information)')
      .option('-L, --follow-link', 'always follow symbol link in SRC_PATH')
      .option('-q, --quiet', 'suppress progress output')
      .action((src: string, dst: string, o: CpOptions, command: Command) => cp(src, dst, o, command));
    parent
      .command('commit')
      .description("create a new image from a container's changes")
      .argument('<container>', 'name or ID')
      .argument('[repository]', 'REPOSITORY[:TAG]')
      .option('-a, --author <author>', 'author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
      .option('-c, --change <instruction>', 'apply Dockerfile instruction to the created image (repeatable)', collect, [])
      .option('-m, --message <message>', 'commit message')
      .option('-p, --pause', 'pause container during commit (the default)', true)
      .option('--no-pause', 'do not pause the container during commit')
      .action((input: string, reference: string | undefined, o: CommitOptions, command: Command) => commit(input, reference, o, command));
    parent
      .command('export')
      .description("export a container's filesystem as a tar archive")
      .argument('<container>', 'name or ID')
      .option('-o, --output <file>', 'write to a file, instead of STDOUT')
      .action((input: string, o: { output?: string }, command: Command) => exportContainer(input, o, command));
  }
  const image = noun(program, 'image', 'manage images');
  for (const parent of [program, image]) {
    parent
      .command('import')
      .description('import the contents from a tarball to create a filesystem image')
      .argument('<file>', 'a tar (plain or gzip), or - for stdin')
      .argument('[repository]', 'REPOSITORY[:TAG]')
      .option('-c, --change <instruction>', 'apply Dockerfile instruction to the created image (repeatable)', collect, [])
      .option('-m, --message <message>', 'set commit message for imported image')
      .option('--snapshotter <name>', "where to unpack: overlayfs or native (default: the daemon's)")
      .action((file: string, reference: string | undefined, o: ImportOptions, command: Command) =>
        importImage(file, reference, o, command),
      );
  }
}
