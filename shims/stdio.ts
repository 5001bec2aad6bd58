// A process's stdio as containerd's shims do it (pkg/process/io.go): the client names FIFOs (or a
// file:// log URI; '' = not wanted); the container gets real pipes (so /proc/self/fd/1 can be opened) and
// the shim copies pipe -> FIFO. A FIFO is opened O_RDWR, which never blocks and keeps a reader as
// containerd does (a client gone does not make the container's writes fail with EPIPE). When a pipe
// reaches EOF (the process and everything that shared its output are gone) the FIFO's writer is closed,
// which is what `ctr run --rm` waits for. Terminal mode: runc sends the pty master over the console socket,
// and the master is copied both ways.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tty from 'node:tty';
import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import { errnoCode, invalidArgument, notImplemented } from '../lib/errdefs.js';
import { native } from '../lib/native.js';
import type { ShimLogger } from './log.js';

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
  static open(paths: StdioPaths, socketDir: string, log: ShimLogger): ProcessIO {
    const io = new ProcessIO(paths, log);
    try {
      if (paths.terminal) io.openTerminal(socketDir);
      else io.openPipes();
    } catch (err) {
      io.destroy();
      throw err;
    }
    if (io.pendingCopies === 0 && !paths.terminal) io.resolveDrained();
    return io;
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
    if (this.paths.stdout !== '') this.destination(this.paths.stdout);
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
    if (this.paths.stdout !== '') this.copy(master, this.destination(this.paths.stdout));
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
      throw notImplemented(`stdio uri ${target}: only FIFO paths and file:// are supported`);
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
