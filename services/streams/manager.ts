// Containers' stdio for any client: the json-file log URI a new container gets (in the daemon's log dir, with
// the config's rotation defaults), reading that log (docker logs, log-reader.ts), and attaching to a task
// through the attach socket its shim serves (lib/attach-frames.ts). Knows nothing of gRPC. The log files are
// its own: a container's go when the container is deleted.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ContainerDelete } from '../../gen/containerd/events/container.js';
import { Status } from '../../gen/containerd/v1/types/task.js';
import { encodeFrame, FrameDecoder, FrameKind, HelloFlags } from '../../lib/attach-frames.js';
import { restartLogUriLabel } from '../../lib/container-task.js';
import { failedPrecondition, invalidArgument, isNotFound, unavailable } from '../../lib/errdefs.js';
import { validateIdentifier } from '../../lib/identifiers.js';
import { isJsonFileUri, jsonFileUri, parseJsonFileUri, parseLogSize, type LogEntry } from '../../lib/jsonlog.js';
import type { Logger } from '../../lib/log.js';
import type { ContainerStore } from '../containers/store.js';
import type { Container } from '../containers/types.js';
import type { Exchange } from '../events/exchange.js';
import type { ShimManager } from '../tasks/shim-manager.js';
import type { Shim } from '../tasks/shim.js';
import { DetachWatcher, parseDetachKeys } from './detach-keys.js';
import { readLog, type LogQuery } from './log-reader.js';

export interface LogDefaults {
  /** Bytes (0: no limit). */
  maxSize: number;
  maxFile: number;
}

export interface AttachOptions {
  containerId: string;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  detachKeys: string;
  /** An exec process (attach:// stdio) instead of the task's init. */
  execId: string;
}

/** What an attach sends its client. */
export type AttachEvent =
  | { kind: 'attached' }
  | { kind: 'stdout' | 'stderr'; data: Buffer }
  | { kind: 'exited'; status: number }
  | { kind: 'detached' };

/** What the client sends an attach after its start. */
export type AttachInput = { kind: 'stdin'; data: Buffer } | { kind: 'resize'; width: number; height: number } | { kind: 'close-stdin' };

const attachFile = 'attach';

export function logDefaultsOf(config: { max_size: string; max_file: number }): LogDefaults {
  return { maxSize: parseLogSize(config.max_size), maxFile: config.max_file };
}

export class StreamsManager {
  private readonly stop = new AbortController();

  constructor(
    /** `<root>/io.ctrd.logs`: `<ns>/<id>/<id>-json.log` for each container. */
    private readonly logRoot: string,
    private readonly defaults: LogDefaults,
    private readonly containers: ContainerStore,
    private readonly shims: ShimManager,
    private readonly log: Logger,
  ) {}

  /** Removes each deleted container's logs, from now until close(). */
  watchDeletes(exchange: Exchange): void {
    const events = exchange.subscribe(['topic=="/containers/delete"'], this.stop.signal);
    void (async () => {
      for await (const env of events) {
        try {
          this.removeLogs(env.namespace, ContainerDelete.decode(env.event.value).id);
        } catch (err) {
          this.log.warn({ err, ns: env.namespace }, 'cannot remove the logs of a deleted container');
        }
      }
    })();
  }

  close(): void {
    this.stop.abort();
  }

  private logDir(ns: string, id: string): string {
    return path.join(this.logRoot, validateIdentifier(ns, 'namespace'), validateIdentifier(id, 'container id'));
  }

  removeLogs(ns: string, id: string): void {
    fs.rmSync(this.logDir(ns, id), { recursive: true, force: true });
  }

  /** The json-file stdio URI for a new container: maxSize -1 = no limit, 0 = the default; maxFile 0 = the default. */
  logUri(ns: string, req: { containerId: string; maxSize: number; maxFile: number; openStdin: boolean }): string {
    const dir = this.logDir(ns, req.containerId);
    if (req.maxSize < -1) throw invalidArgument(`max-size ${req.maxSize} is not a size`);
    if (req.maxFile < 0) throw invalidArgument(`max-file ${req.maxFile} must be a positive number`);
    return jsonFileUri({
      path: path.join(dir, `${req.containerId}-json.log`),
      maxSize: req.maxSize === 0 ? this.defaults.maxSize : Math.max(0, req.maxSize),
      maxFile: req.maxFile === 0 ? this.defaults.maxFile : req.maxFile,
      openStdin: req.openStdin,
    });
  }

  /** The container's log, which must be one of ours: the daemon reads no other file for a client. */
  private jsonLogOf(ns: string, c: Container) {
    const uri = c.labels[restartLogUriLabel] ?? '';
    if (!isJsonFileUri(uri)) throw failedPrecondition(`container ${c.id} has no json-file log (label ${restartLogUriLabel}): it was not made by ctrctl`);
    const log = parseJsonFileUri(uri);
    if (path.dirname(log.path) !== this.logDir(ns, c.id)) {
      throw failedPrecondition(`container ${c.id}: its log ${log.path} is not in ctrd's log directory ${this.logDir(ns, c.id)}`);
    }
    return log;
  }

  /** Logs of containers deleted while the daemon was not there to see it. */
  sweep(): void {
    for (const ns of readdirIfThere(this.logRoot)) {
      for (const id of readdirIfThere(path.join(this.logRoot, ns))) {
        try {
          this.containers.get(ns, id);
        } catch (err) {
          if (!isNotFound(err)) continue;
          this.log.info({ ns, id }, 'removing the logs of a container that is gone');
          fs.rmSync(path.join(this.logRoot, ns, id), { recursive: true, force: true });
        }
      }
    }
  }

  /** The container's log entries the query selects; with follow, then new ones until its task exits. */
  async *logs(ns: string, id: string, q: LogQuery, follow: boolean, signal: AbortSignal): AsyncGenerator<LogEntry> {
    const c = this.containers.get(ns, validateIdentifier(id, 'container id'));
    const log = this.jsonLogOf(ns, c);
    if (!follow) {
      yield* readLog(log.path, q);
      return;
    }
    const watch = new AbortController();
    const onAbort = () => watch.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const ended = this.taskEnded(ns, id, watch.signal);
      yield* readLog(log.path, q, { ended, signal });
    } finally {
      signal.removeEventListener('abort', onAbort);
      watch.abort();
    }
  }

  /** The running task of a container, or undefined when it has none (or a stopped one). */
  private async liveShim(ns: string, id: string): Promise<Shim | undefined> {
    let shim: Shim;
    try {
      shim = this.shims.get(ns, id);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    const { status } = await shim.state();
    return status === Status.STOPPED ? undefined : shim;
  }

  /** Resolves when the container's task has exited and its output is written (at once when it runs none). */
  private async taskEnded(ns: string, id: string, signal: AbortSignal): Promise<void> {
    const shim = await this.liveShim(ns, id).catch(() => undefined);
    if (!shim) return;
    const socket = shim.bundle.read(attachFile);
    if (!socket) {
      await shim.wait('', signal).catch(() => undefined);
      return;
    }
    const conn = await connectAttach(socket, 0).catch(() => undefined);
    if (!conn) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        conn.sock.destroy();
        resolve();
      };
      conn.sock.on('close', done);
      conn.sock.on('error', done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Attaches to the container's task: `send` gets 'attached' once the output is being relayed, then the
   * output, and last 'exited' or 'detached'; `input` is the client's stdin, resizes and close-stdin.
   */
  async attach(ns: string, o: AttachOptions, input: AsyncIterable<AttachInput>, send: (e: AttachEvent) => Promise<void>, signal: AbortSignal): Promise<void> {
    const c = this.containers.get(ns, validateIdentifier(o.containerId, 'container id'));
    const keys = parseDetachKeys(o.detachKeys);
    if (o.execId !== '') validateIdentifier(o.execId, 'exec id');
    // The task's stdin is open only when its log URI says so; an exec's, when its own URI did (the shim knows).
    const stdin = o.stdin && (o.execId !== '' || this.jsonLogOf(ns, c).openStdin);
    const shim = await this.liveShim(ns, c.id);
    if (!shim) throw failedPrecondition(`You cannot attach to a stopped container ${c.id}, start it first`);
    const what = o.execId ? `process ${o.execId} of container ${c.id}` : `container ${c.id}`;
    if (o.execId) await shim.state(o.execId);
    const socket = shim.bundle.read(o.execId ? `${attachFile}-exec-${o.execId}` : attachFile);
    if (!socket) throw failedPrecondition(`${what}: no attach socket (its stdio is not json-file:// or attach://, or it has not started)`);
    const flags = (o.stdout || o.stderr ? HelloFlags.output : 0) | (stdin ? HelloFlags.stdin : 0);
    const conn = await connectAttach(socket, flags);
    const sock = conn.sock;
    try {
      await send({ kind: 'attached' });
      const detach = new DetachWatcher(keys);
      let finished = false;
      // Output and the end come from the shim; our client's input is passed on meanwhile.
      const output = (async () => {
        for await (const f of conn.frames) {
          if (f.kind === FrameKind.stdout && o.stdout) await send({ kind: 'stdout', data: Buffer.from(f.payload) });
          else if (f.kind === FrameKind.stderr && o.stderr) await send({ kind: 'stderr', data: Buffer.from(f.payload) });
          else if (f.kind === FrameKind.exit) {
            finished = true;
            await send({ kind: 'exited', status: f.payload.readUInt32BE(0) });
            return;
          }
        }
        if (!finished && !signal.aborted) throw unavailable(`${what}: the shim closed the attach without an exit status`);
      })();
      const inputDone = (async () => {
        for await (const req of input) {
          if (finished) return false;
          if (req.kind === 'resize') {
            await shim.resizePty(o.execId, req.width, req.height).catch((err: unknown) => this.log.debug({ err }, 'resize'));
          } else if (req.kind === 'close-stdin') {
            if (stdin) sock.write(encodeFrame(FrameKind.closeStdin));
          } else if (stdin) {
            const { forward, detached } = detach.feed(req.data);
            if (forward.length > 0) sock.write(encodeFrame(FrameKind.stdin, forward));
            if (detached) return true;
          }
        }
        return false;
      })();
      // The client's end of input is not the end: output goes on until the exit (docker attach < file).
      const first = await Promise.race([output.then(() => 'output' as const), inputDone.then((d) => (d ? ('detached' as const) : ('input' as const)))]);
      if (first === 'detached') {
        finished = true;
        // The stdin before the keys still reaches the container.
        await new Promise<void>((resolve) => sock.end(resolve));
        await send({ kind: 'detached' });
        return;
      }
      await output;
    } finally {
      sock.destroy();
    }
  }
}

function readdirIfThere(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

interface AttachConnection {
  sock: net.Socket;
  frames: AsyncIterable<{ kind: number; payload: Buffer }>;
}

/** Connects to a task's attach socket, says hello, and waits for ready. */
async function connectAttach(socket: string, flags: number): Promise<AttachConnection> {
  const sock = net.createConnection(socket);
  const decoder = new FrameDecoder();
  const queue: Array<{ kind: number; payload: Buffer }> = [];
  let wake: (() => void) | undefined;
  let ended = false;
  let failure: Error | undefined;
  sock.on('data', (chunk: Buffer) => {
    try {
      queue.push(...decoder.push(chunk));
    } catch (err) {
      failure = err as Error;
      sock.destroy();
    }
    wake?.();
  });
  const end = (err?: Error) => {
    ended = true;
    if (err && !failure) failure = err;
    wake?.();
  };
  sock.on('end', () => end());
  sock.on('close', () => end());
  sock.on('error', (err) => end(err));
  async function* frames(): AsyncGenerator<{ kind: number; payload: Buffer }> {
    for (;;) {
      while (queue.length > 0) yield queue.shift()!;
      if (ended) {
        if (failure) throw unavailable(`attach socket ${socket}: ${failure.message}`, failure);
        return;
      }
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  }
  const it = frames();
  sock.write(encodeFrame(FrameKind.hello, Buffer.from([flags])));
  const first = await it.next();
  if (first.done || first.value.kind !== FrameKind.ready) {
    sock.destroy();
    throw unavailable(`attach socket ${socket}: the shim did not answer`);
  }
  return { sock, frames: { [Symbol.asyncIterator]: () => it } };
}
