// A process's stdio as containerd's shims do it (pkg/process/io.go): the client names FIFOs (or a
// file:// or binary:// log URI; '' = not wanted); the container gets real pipes (so /proc/self/fd/1 can be opened) and
// the shim copies pipe -> FIFO. A FIFO is opened O_RDWR, which never blocks and keeps a reader as
// containerd does (a client gone does not make the container's writes fail with EPIPE). When a pipe
// reaches EOF (the process and everything that shared its output are gone) the FIFO's writer is closed,
// which is what `ctr run --rm` waits for. Terminal mode: runc sends the pty master over the console socket,
// and the master is copied both ways.
// A json-file:// stdout (lib/jsonlog.ts; stderr the same URI or '', stdin '') is ctrd's own: the output is
// written to that log as docker's json-file driver does (json-log.ts) and served live on the task's attach
// socket (attach.ts), which also takes the container's stdin when the URI says open-stdin=1.
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tty from 'node:tty';
import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import { CtrdError, errnoCode, invalidArgument, notImplemented } from '../lib/errdefs.js';
import { FrameKind, isAttachUri, parseAttachUri } from '../lib/attach-frames.js';
import { isJsonFileUri, parseJsonFileUri, type LogStream } from '../lib/jsonlog.js';
import { native } from '../lib/native.js';
import { AttachServer, type StdinSink } from './attach.js';
import { JsonFileWriter, LineSplitter } from './json-log.js';
import type { ShimLogger } from './log.js';

/** What opening a process's stdio needs from its shim. */
export interface IOContext {
  socketDir: string;
  log: ShimLogger;
  containerId: string;
  namespace: string;
  /** Spawns a helper that libuv reaps (the reaper's spawn). */
  spawn(command: string, args: readonly string[], options: SpawnOptions): ChildProcess;
}

export interface StdioPaths {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

/** What runc is given: fds for its stdio, or a console socket. */
export interface ChildStdio {
  stdio: [number | 'ignore', number | 'ignore', number | 'ignore'];
  consoleSocket?: string;
}

interface Destination {
  stream: Writable;
  users: number;
}

function closeQuietly(fd: number | undefined): void {
  if (fd === undefined) return;
  try {
    fs.closeSync(fd);
  } catch {
    // already closed
  }
}

export class ProcessIO {
  readonly child: ChildStdio = { stdio: ['ignore', 'ignore', 'ignore'] };
  private readonly childFds: number[] = [];
  private readonly destinations = new Map<string, Destination>();
  private stdinSource: net.Socket | undefined;
  private stdinSink: Writable | undefined;
  private consoleListener: number | undefined;
  private master: tty.ReadStream | undefined;
  private masterFd: number | undefined;
  private pendingCopies = 0;
  private logger: ChildProcess | undefined;
  private jsonLog: JsonFileWriter | undefined;
  private attach: AttachServer | undefined;
  private resolveDrained!: () => void;
  /** Resolves when every output reached EOF and its writer was closed. */
  readonly drained: Promise<void>;

  private constructor(
    readonly paths: StdioPaths,
    private readonly log: ShimLogger,
  ) {
    this.drained = new Promise((resolve) => (this.resolveDrained = resolve));
  }

  /** Opens the client's ends and makes the container's; undone as a whole if any step fails. */
  static async open(paths: StdioPaths, ctx: IOContext): Promise<ProcessIO> {
    const io = new ProcessIO(paths, ctx.log);
    try {
      if (isJsonFileUri(paths.stdout) || isAttachUri(paths.stdout)) await io.openAttached(ctx);
      else if (paths.terminal) io.openTerminal(ctx.socketDir);
      else if (paths.stdout.startsWith('binary://')) await io.openBinary(ctx);
      else io.openPipes();
    } catch (err) {
      io.destroy();
      throw err;
    }
    if (io.pendingCopies === 0 && !paths.terminal && !io.logger) io.resolveDrained();
    return io;
  }

  /**
   * A logging binary, as containerd runs it (pkg/process/io.go NewBinaryIO): the container's stdout and
   * stderr pipes are its fds 3 and 4, fd 5 is closed (or written) when it is ready; the query's pairs are
   * its arguments; CONTAINER_ID and CONTAINER_NAMESPACE its environment.
   */
  private async openBinary(ctx: IOContext): Promise<void> {
    const uri = new URL(this.paths.stdout);
    if (this.paths.stderr !== '' && this.paths.stderr !== this.paths.stdout) {
      throw invalidArgument(`stdio: a logging binary takes both streams (stdout ${this.paths.stdout}, stderr ${this.paths.stderr})`);
    }
    const args: string[] = [];
    for (const [k, v] of uri.searchParams) args.push(...(v === '' ? [k] : [k, v]));
    const [outR, outW] = native().pipe();
    const [errR, errW] = native().pipe();
    const [readyR, readyW] = native().pipe();
    this.childFds.push(outW, errW);
    this.child.stdio[1] = outW;
    this.child.stdio[2] = errW;
    let logger: ChildProcess;
    try {
      logger = ctx.spawn(uri.pathname, args, {
        stdio: ['ignore', 'ignore', 'ignore', outR, errR, readyW],
        env: { ...process.env, CONTAINER_ID: ctx.containerId, CONTAINER_NAMESPACE: ctx.namespace },
      });
    } finally {
      for (const fd of [outR, errR, readyW]) closeQuietly(fd);
    }
    this.logger = logger;
    logger.once('exit', () => this.resolveDrained());
    const ready = new net.Socket({ fd: readyR, readable: true, writable: false });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new CtrdError('deadline-exceeded', `logging binary ${uri.pathname} did not get ready`)), 10_000);
        const done = (err?: Error) => {
          clearTimeout(timer);
          if (err) reject(err);
          else resolve();
        };
        logger.once('error', (err) => done(new CtrdError('unavailable', `logging binary ${uri.pathname}: ${err.message}`, { cause: err })));
        ready.once('data', () => done());
        ready.once('end', () => done());
        ready.once('error', (err) => done(err));
      });
    } catch (err) {
      logger.kill('SIGKILL');
      throw err;
    } finally {
      ready.destroy();
    }
  }

  /** The task's attach socket, when its stdio is a json-file log. */
  get attachSocket(): string | undefined {
    return this.attach?.socketPath;
  }

  /** json-file:// (the log and the attach socket) or attach:// (the attach socket only). */
  private async openAttached(ctx: IOContext): Promise<void> {
    const { stdin, stdout, stderr, terminal } = this.paths;
    const logged = isJsonFileUri(stdout);
    const opts = logged ? parseJsonFileUri(stdout) : parseAttachUri(stdout);
    if (stderr !== '' && stderr !== stdout) throw invalidArgument(`stdio: ${stdout} takes both streams (stdout ${stdout}, stderr ${stderr})`);
    if (stdin !== '') throw invalidArgument(`stdio: with ${stdout}, stdin comes through the attach socket (open-stdin=1), not ${stdin}`);
    if (logged) this.jsonLog = new JsonFileWriter(opts as ReturnType<typeof parseJsonFileUri>, this.log);
    let sink: StdinSink | undefined;
    if (opts.openStdin && terminal) {
      // The pty is the container's stdin; closing our copy into it would not end it.
      sink = { write: (b) => void this.master?.write(b), close: () => undefined };
    } else if (opts.openStdin) {
      const [r, w] = native().pipe();
      this.childFds.push(r);
      this.child.stdio[0] = r;
      this.stdinSink = new net.Socket({ fd: w, readable: false, writable: true });
      this.stdinSink.on('error', (err) => this.log.debug({ err }, 'stdin pipe'));
      sink = { write: (b) => void this.stdinSink?.write(b), close: () => this.closeStdin() };
    }
    this.attach = await AttachServer.listen(path.join(ctx.socketDir, `attach-${randomBytes(8).toString('hex')}.sock`), sink, this.log, !logged);
    if (terminal) {
      this.openTerminal(ctx.socketDir);
      return;
    }
    for (const [i, stream] of [
      [1, 'stdout'],
      [2, 'stderr'],
    ] as const) {
      if (i === 2 && stderr === '') continue;
      const [r, w] = native().pipe();
      this.childFds.push(w);
      this.child.stdio[i] = w;
      this.tee(new net.Socket({ fd: r, readable: true, writable: false }), stream);
    }
  }

  /** A json-file task's output: into the log a line at a time, and to attached clients as it comes. */
  private tee(source: net.Socket, stream: LogStream): void {
    this.pendingCopies++;
    const splitter = new LineSplitter();
    const kind = stream === 'stdout' ? FrameKind.stdout : FrameKind.stderr;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      this.jsonLog?.write(stream, splitter.end());
      if (--this.pendingCopies === 0) this.resolveDrained();
    };
    source.on('data', (chunk: Buffer) => {
      this.jsonLog?.write(stream, splitter.push(chunk));
      this.attach?.broadcast(kind, chunk);
    });
    source.on('error', (err) => {
      if (errnoCode(err) !== 'EIO') this.log.debug({ err }, 'stdio source');
      finish();
    });
    source.on('end', finish);
    source.on('close', finish);
  }

  /** The process exited: attached clients get its status once its output is all read (or after 2s). */
  processExited(status: number): void {
    if (!this.attach) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, 2_000)));
    void Promise.race([this.drained, timeout]).then(() => {
      clearTimeout(timer);
      this.attach?.exited(status);
    });
  }

  private openPipes(): void {
    if (this.paths.stdin !== '') {
      const [r, w] = native().pipe();
      this.childFds.push(r);
      this.child.stdio[0] = r;
      this.stdinSink = new net.Socket({ fd: w, readable: false, writable: true });
      this.stdinSink.on('error', (err) => this.log.debug({ err }, 'stdin pipe'));
      this.stdinSource = openFifoReader(this.paths.stdin);
      this.stdinSource.on('error', (err) => this.log.debug({ err }, 'stdin fifo'));
      this.stdinSource.pipe(this.stdinSink);
    }
    for (const [i, target] of [
      [1, this.paths.stdout],
      [2, this.paths.stderr],
    ] as const) {
      if (target === '') continue;
      const dest = this.destination(target);
      const [r, w] = native().pipe();
      this.childFds.push(w);
      this.child.stdio[i] = w;
      const source = new net.Socket({ fd: r, readable: true, writable: false });
      this.copy(source, dest);
    }
  }

  private openTerminal(socketDir: string): void {
    if (this.paths.stdout !== '' && !this.attach) this.destination(this.paths.stdout);
    const socket = path.join(socketDir, `pty-${randomBytes(6).toString('hex')}.sock`);
    this.consoleListener = native().consoleSocket(socket);
    this.child.consoleSocket = socket;
  }

  /**
   * After runc create/exec returned: the container's ends are closed here (only the container holds them
   * now), and in terminal mode the pty master runc sent is picked up.
   */
  started(): void {
    for (const fd of this.childFds.splice(0)) closeQuietly(fd);
    if (this.consoleListener === undefined) return;
    const masterFd = native().receiveFd(this.consoleListener);
    this.closeConsoleSocket();
    this.masterFd = masterFd;
    const master = new tty.ReadStream(masterFd);
    this.master = master;
    if (this.attach) this.tee(master, 'stdout');
    else if (this.paths.stdout !== '') this.copy(master, this.destination(this.paths.stdout));
    else {
      master.on('error', () => {});
      master.resume();
    }
    if (this.paths.stdin !== '') {
      this.stdinSource = openFifoReader(this.paths.stdin);
      this.stdinSource.on('error', (err) => this.log.debug({ err }, 'stdin fifo'));
      this.stdinSource.pipe(master, { end: false });
    }
  }

  private closeConsoleSocket(): void {
    closeQuietly(this.consoleListener);
    this.consoleListener = undefined;
    if (this.child.consoleSocket) fs.rmSync(this.child.consoleSocket, { force: true });
  }

  private destination(target: string): Destination {
    const existing = this.destinations.get(target);
    if (existing) return existing;
    let stream: Writable;
    if (target.startsWith('file://')) {
      const file = new URL(target).pathname;
      if (!path.isAbsolute(file)) throw invalidArgument(`log uri ${target}: the path must be absolute`);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      stream = fs.createWriteStream(file, { flags: 'a' });
    } else if (target.includes('://')) {
      throw notImplemented(`stdio uri ${target}: only FIFO paths, file:// and binary:// are supported`);
    } else {
      const fd = fs.openSync(target, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
      stream = new net.Socket({ fd, readable: false, writable: true });
    }
    stream.on('error', (err) => this.log.warn({ err, target }, 'stdio destination'));
    const dest = { stream, users: 0 };
    this.destinations.set(target, dest);
    return dest;
  }

  private copy(source: net.Socket, dest: Destination): void {
    dest.users++;
    this.pendingCopies++;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      source.unpipe(dest.stream);
      if (--dest.users === 0) dest.stream.end();
      if (--this.pendingCopies === 0) this.resolveDrained();
    };
    // A pty master reads EIO once the last slave fd is closed: that is its EOF.
    source.on('error', (err) => {
      if (errnoCode(err) !== 'EIO') this.log.debug({ err }, 'stdio source');
      finish();
    });
    source.on('end', finish);
    source.on('close', finish);
    source.pipe(dest.stream, { end: false });
  }

  /** CloseIO: the process sees EOF on its stdin. */
  closeStdin(): void {
    this.stdinSource?.unpipe();
    this.stdinSource?.destroy();
    this.stdinSource = undefined;
    // A terminal keeps its pty: only the copy into it stops.
    this.stdinSink?.end();
    this.stdinSink = undefined;
  }

  resize(width: number, height: number): void {
    if (this.masterFd === undefined || !this.master || this.master.destroyed) return;
    native().setWinsize(this.masterFd, height, width);
  }

  /** Closes everything at once (a failed create, a delete that must not wait). */
  destroy(): void {
    for (const fd of this.childFds.splice(0)) closeQuietly(fd);
    this.closeConsoleSocket();
    this.stdinSource?.destroy();
    this.stdinSink?.destroy();
    this.master?.destroy();
    for (const dest of this.destinations.values()) dest.stream.destroy();
    this.destinations.clear();
    this.attach?.close();
    this.jsonLog?.close();
    // A logging binary sees EOF once the container's ends are gone; one that does not go is ended.
    const logger = this.logger;
    if (logger && logger.exitCode === null && logger.signalCode === null) {
      setTimeout(() => {
        if (logger.exitCode === null && logger.signalCode === null) logger.kill('SIGKILL');
      }, 12_000).unref();
    }
    this.resolveDrained();
  }
}

function openFifoReader(file: string): net.Socket {
  if (file.includes('://')) throw notImplemented(`stdin uri ${file} is not supported`);
  // O_RDWR: never blocks and never reads EOF before the client opened its writer; the process's stdin
  // ends with CloseIO, as ctr asks when its own stdin ends.
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  return new net.Socket({ fd, readable: true, writable: false });
}
