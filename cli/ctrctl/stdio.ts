// A process's stdio through FIFOs, as containerd's cio does: ctrctl makes them in a fresh directory under
// /run/ctrd/fifo, hands their paths to Tasks.Create or Tasks.Exec, and copies between them and its own
// stdin, stdout and stderr. The shim opens the other ends.
//
// The reading ends are first opened blocking (in libuv's thread pool), which returns once the shim has opened
// its writing end; then a non-blocking descriptor takes over, read on the event loop, whose EOF comes when
// the shim closes its end after the process's last output. Opening a reading end before the shim has a
// writer would read EOF at once. stdin is opened read-write and non-blocking: it never waits for the shim,
// and closing it is the shim's EOF.
import { randomBytes } from 'node:crypto';
import { closeSync, constants as fsConstants, mkdirSync, openSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { Socket } from 'node:net';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { native } from '../../lib/native.js';

const { O_RDONLY, O_RDWR, O_NONBLOCK, S_IFIFO } = fsConstants;

export const fifoRoot = () => process.env.CTRCTL_FIFO_DIR ?? '/run/ctrd/fifo';

export interface StdioRequest {
  stdin: boolean;
  tty: boolean;
}

export class Fifos {
  readonly stdin: string;
  readonly stdout: string;
  readonly stderr: string;
  private readonly sockets: Socket[] = [];
  private readonly pending = new Set<string>();
  private readonly ended: Array<Promise<void>> = [];
  private disposed = false;
  private markStarted!: () => void;
  /** Resolved once the process has started: stdin is closed no earlier (see copyIn). */
  private readonly started = new Promise<void>((resolve) => (this.markStarted = resolve));

  private constructor(
    readonly dir: string,
    id: string,
    req: StdioRequest,
  ) {
    this.stdin = req.stdin ? join(dir, `${id}-stdin`) : '';
    this.stdout = join(dir, `${id}-stdout`);
    // With a terminal there is one stream: the shim uses stdout only.
    this.stderr = req.tty ? '' : join(dir, `${id}-stderr`);
  }

  /** Makes the directory and the FIFOs (mode 0600, as containerd's). */
  static create(id: string, req: StdioRequest): Fifos {
    const root = fifoRoot();
    mkdirSync(root, { recursive: true, mode: 0o700 });
    const dir = join(root, randomBytes(8).toString('hex'));
    mkdirSync(dir, { mode: 0o700 });
    const f = new Fifos(dir, id, req);
    try {
      for (const p of [f.stdin, f.stdout, f.stderr]) if (p) native().mknod(p, S_IFIFO | 0o600, 0, 0);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return f;
  }

  /**
   * Starts copying: the process's output to out and err as it comes, in to the process's stdin. Call before
   * Tasks.Create (the opens wait for the shim). `done()` resolves when the output has ended.
   */
  attach(io: { in?: Readable; out: Writable; err: Writable; onInputEnd?: () => void }): void {
    if (this.stdin && io.in) this.copyIn(io.in, io.onInputEnd);
    // A FIFO that cannot be opened has nothing to copy: its stream is simply done.
    this.ended.push(this.copyOut(this.stdout, io.out).catch(() => undefined));
    if (this.stderr) this.ended.push(this.copyOut(this.stderr, io.err).catch(() => undefined));
  }

  /** The process has started: the end of our input may now be passed on. */
  processStarted(): void {
    this.markStarted();
  }

  /** Resolves when every output stream has reached EOF, or after timeoutMs (the rest is then dropped). */
  async done(timeoutMs = 2000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.all(this.ended).then(() => undefined), timeout]);
    clearTimeout(timer);
  }

  private copyIn(input: Readable, onEnd?: () => void): void {
    const fd = openSync(this.stdin, O_RDWR | O_NONBLOCK);
    const sock = new Socket({ fd, readable: false, writable: true });
    this.sockets.push(sock);
    sock.on('error', () => undefined); // the process may be gone before it read everything
    input.on('data', (chunk: Buffer) => {
      if (!sock.write(chunk)) {
        input.pause();
        sock.once('drain', () => input.resume());
      }
    });
    input.once('end', () => {
      // A FIFO cannot be shut down half-way: closing our only writing end is the EOF the shim reads, and
      // CloseIO says it too. Neither may come before the process has started: with no reader open yet, the
      // buffered input would go with our descriptor, and a CloseIO before the task exists does nothing.
      const close = () => {
        sock.destroy();
        if (!this.disposed) onEnd?.();
      };
      void this.started.then(() => {
        if (sock.writableNeedDrain) sock.once('drain', close);
        else close();
      });
    });
  }

  private async copyOut(path: string, out: Writable): Promise<void> {
    this.pending.add(path);
    let blocking;
    try {
      blocking = await open(path, O_RDONLY);
    } finally {
      this.pending.delete(path);
    }
    let fd: number;
    try {
      if (this.disposed) return;
      fd = openSync(path, O_RDONLY | O_NONBLOCK);
    } finally {
      await blocking.close();
    }
    const sock = new Socket({ fd, readable: true, writable: false });
    this.sockets.push(sock);
    await new Promise<void>((resolve) => {
      sock.on('data', (chunk: Buffer) => {
        if (!out.write(chunk)) {
          sock.pause();
          out.once('drain', () => sock.resume());
        }
      });
      sock.once('end', resolve);
      sock.once('close', () => resolve());
      sock.once('error', () => resolve());
    });
    sock.destroy();
  }

  /** Stops copying, releases opens that still wait for a shim, and removes the FIFOs and their directory. */
  dispose(): void {
    this.disposed = true;
    this.markStarted();
    for (const path of this.pending) {
      // An open of the reading end waits for a writer: a read-write open is one, and lets it return.
      try {
        closeSync(openSync(path, O_RDWR | O_NONBLOCK));
      } catch {
        // Gone already.
      }
    }
    for (const s of this.sockets) s.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Puts the terminal in raw mode for a -t session, and back as it was afterwards. */
export function rawTerminal(enable: boolean): () => void {
  const stdin = process.stdin;
  if (!enable || !stdin.isTTY) return () => undefined;
  const was = stdin.isRaw;
  stdin.setRawMode(true);
  return () => stdin.setRawMode(was);
}
