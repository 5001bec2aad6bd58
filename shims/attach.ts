// A task's attach endpoint: a unix socket the shim serves for a process whose stdio is a json-file log
// (lib/attach-frames.ts has the framing). Every client that asks for the output gets it live, as it is
// read from the container (nothing from before it came: the log has that); a client that said it writes
// stdin has its bytes passed to the container's stdin when the task was made with open-stdin. Once the
// process has exited and its output is all read, each client gets the exit status and is closed, and so is
// any client that comes later. The daemon's streams service is the usual client.
import fs from 'node:fs';
import net from 'node:net';
import { encodeFrame, exitPayload, FrameDecoder, FrameKind, HelloFlags, maxFramePayload, type FrameKindValue } from '../lib/attach-frames.js';
import type { ShimLogger } from './log.js';

/** Output queued for a client that does not read beyond this is dropped for it (the container never waits). */
const maxQueuedBytes = 8 * 1024 * 1024;
/** What a process with no log writes before its first client comes is kept for it, up to this. */
const maxReplayBytes = 1024 * 1024;

interface Client {
  sock: net.Socket;
  output: boolean;
  stdin: boolean;
  dropping: boolean;
}

export interface StdinSink {
  write(data: Buffer): void;
  close(): void;
}

export class AttachServer {
  private readonly clients = new Set<Client>();
  private exitStatus: number | undefined;
  private closed = false;
  /** Output kept for the first client (processes with no log), until one that wants output comes. */
  private replay: Buffer[] | undefined;
  private replayBytes = 0;

  private constructor(
    readonly socketPath: string,
    private readonly server: net.Server,
    private readonly stdin: StdinSink | undefined,
    private readonly log: ShimLogger,
    keepForFirst: boolean,
  ) {
    if (keepForFirst) this.replay = [];
    server.on('connection', (sock) => this.accept(sock));
    server.on('error', (err) => log.warn({ err, socket: socketPath }, 'attach socket'));
  }

  /**
   * Listens on socketPath (mode 0600); stdin: where clients' stdin goes, none when the task has no open
   * stdin; keepForFirst: the output until the first client that wants it is kept for that client.
   */
  static async listen(socketPath: string, stdin: StdinSink | undefined, log: ShimLogger, keepForFirst = false): Promise<AttachServer> {
    fs.rmSync(socketPath, { force: true });
    const server = net.createServer({ pauseOnConnect: false });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    fs.chmodSync(socketPath, 0o600);
    return new AttachServer(socketPath, server, stdin, log, keepForFirst);
  }

  private accept(sock: net.Socket): void {
    if (this.closed) {
      sock.destroy();
      return;
    }
    const decoder = new FrameDecoder();
    let client: Client | undefined;
    sock.on('error', (err) => this.log.debug({ err }, 'attach client'));
    sock.on('close', () => {
      if (client) this.clients.delete(client);
    });
    sock.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        this.log.warn({ err }, 'attach client sent a bad frame; closing it');
        sock.destroy();
        return;
      }
      for (const f of frames) {
        if (!client) {
          if (f.kind !== FrameKind.hello || f.payload.length !== 1) {
            sock.destroy();
            return;
          }
          const flags = f.payload[0]!;
          client = { sock, output: (flags & HelloFlags.output) !== 0, stdin: (flags & HelloFlags.stdin) !== 0, dropping: false };
          sock.write(encodeFrame(FrameKind.ready));
          if (client.output && this.replay) {
            for (const f of this.replay) sock.write(f);
            this.replay = undefined;
          }
          if (this.exitStatus !== undefined) {
            sock.end(encodeFrame(FrameKind.exit, exitPayload(this.exitStatus)));
            return;
          }
          this.clients.add(client);
          continue;
        }
        if (!client.stdin || !this.stdin) continue;
        if (f.kind === FrameKind.stdin) this.stdin.write(Buffer.from(f.payload));
        else if (f.kind === FrameKind.closeStdin) this.stdin.close();
      }
    });
  }

  /** Output of the container, to every client that wants it. */
  broadcast(kind: typeof FrameKind.stdout | typeof FrameKind.stderr, data: Buffer): void {
    if (this.clients.size === 0 && !this.replay) return;
    const frames: Buffer[] = [];
    for (let off = 0; off < data.length; off += maxFramePayload) frames.push(encodeFrame(kind as FrameKindValue, data.subarray(off, off + maxFramePayload)));
    if (this.replay) {
      this.replay.push(...frames);
      this.replayBytes += data.length;
      while (this.replayBytes > maxReplayBytes && this.replay.length > 1) this.replayBytes -= this.replay.shift()!.length - 8;
      return;
    }
    for (const c of this.clients) {
      if (!c.output) continue;
      if (c.sock.writableLength > maxQueuedBytes) {
        if (!c.dropping) this.log.warn({}, 'an attached client does not keep up; dropping its output');
        c.dropping = true;
        continue;
      }
      c.dropping = false;
      for (const f of frames) c.sock.write(f);
    }
  }

  /** The process is over and its output all sent: every client gets the status and goes. */
  exited(status: number): void {
    if (this.exitStatus !== undefined) return;
    this.exitStatus = status;
    for (const c of this.clients) c.sock.end(encodeFrame(FrameKind.exit, exitPayload(status)));
    this.clients.clear();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.clients) c.sock.destroy();
    this.clients.clear();
    this.server.close();
    fs.rmSync(this.socketPath, { force: true });
  }
}
