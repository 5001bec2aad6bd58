// Attached to a container through ctrd's Streams.Attach (no FIFOs: a remote client works the same): the
// output to our stdout and stderr, our stdin (with -i) to the container's, our terminal's size (with -t)
// to its pty; the detach keys (ctrl-p,ctrl-q unless --detach-keys says otherwise) end the attach and leave
// the container running, as docker's do, and ctrd watches for them. Also the verb:
//   attach [--detach-keys K] [--no-stdin] [--sig-proxy=false] CONTAINER
// Exit status: the container's when it ends while attached, 0 when detached.
import type { ClientDuplexStream, ServiceError } from '@grpc/grpc-js';
import { Option, type Command } from 'commander';
import type { AttachRequest, AttachResponse } from '../../gen/ctrd/services/streams/v1/streams.js';
import { failedPrecondition } from '../../lib/errdefs.js';
import { fromGrpcStatus } from '../../lib/grpc/status.js';
import { connect, globalFlags } from './connect.js';
import { findContainer, specOf, stateOf } from './container-state.js';
import { unary } from '../../lib/grpc/client.js';
import { constants } from 'node:os';
import { ExitStatus } from './output.js';
import { runtimeClients, type RuntimeClients } from './runtime-clients.js';
import { rawTerminal } from './stdio.js';

/** docker's --sig-proxy: SIGINT, SIGTERM and SIGHUP to ctrctl go to the process instead. */
export function proxySignals(rc: RuntimeClients, id: string, execId: string): () => void {
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((name) => {
    const h = () => void unary(rc.tasks, rc.tasks.kill, { containerId: id, execId, signal: constants.signals[name], all: false }).catch(() => undefined);
    process.on(name, h);
    return [name, h] as const;
  });
  return () => {
    for (const [name, h] of handlers) process.off(name, h);
  };
}

export interface AttachIO {
  /** Our stdin goes to the container's (it must have been made with -i for it to be taken). */
  stdin: boolean;
  /** The container has a terminal: raw mode and resizes. */
  tty: boolean;
  /** docker's --detach-keys; '' = ctrl-p,ctrl-q. */
  detachKeys: string;
  /** docker's StdinOnce (run -i): the end of our stdin is the end of the container's. */
  closeStdinOnEnd: boolean;
  /** SIGINT, SIGTERM and SIGHUP go to the container (not with a terminal: there they are keys). */
  sigProxy: boolean;
}

export type AttachEnd = { exitStatus: number } | { detached: true };

/** One Streams.Attach call, open and relaying output; begin() starts our side (stdin, terminal). */
export class AttachSession {
  private readonly cleanups: Array<() => void> = [];
  readonly done: Promise<AttachEnd>;

  private constructor(
    private readonly rc: RuntimeClients,
    private readonly containerId: string,
    private readonly call: ClientDuplexStream<AttachRequest, AttachResponse>,
    private readonly io: AttachIO,
    done: Promise<AttachEnd>,
    private readonly execId: string,
  ) {
    this.done = done;
  }

  /** Resolves once ctrd relays the container's output (so a start after it misses nothing). */
  static open(rc: RuntimeClients, containerId: string, io: AttachIO, execId = ''): Promise<AttachSession> {
    const call = rc.streams.attach();
    let attached: (s: AttachSession) => void;
    let failedEarly: (err: unknown) => void;
    const ready = new Promise<AttachSession>((resolve, reject) => {
      attached = resolve;
      failedEarly = reject;
    });
    let session: AttachSession | undefined;
    let end: AttachEnd | undefined;
    const done = new Promise<AttachEnd>((resolve, reject) => {
      call.on('data', (res: AttachResponse) => {
        if (res.attached) attached(session!);
        else if (res.stdout) process.stdout.write(res.stdout);
        else if (res.stderr) process.stderr.write(res.stderr);
        else if (res.exited) end = { exitStatus: res.exited.exitStatus };
        else if (res.detached) end = { detached: true };
      });
      call.on('error', (err: ServiceError) => {
        const e = fromGrpcStatus(err);
        failedEarly(e);
        reject(e);
      });
      call.on('end', () => {
        if (end) resolve(end);
        else reject(failedPrecondition(`container ${containerId}: ctrd ended the attach without an exit status`));
        failedEarly(failedPrecondition(`container ${containerId}: ctrd ended the attach before it was in place`));
      });
    });
    done.catch(() => undefined);
    session = new AttachSession(rc, containerId, call, io, done, execId);
    call.write({ start: { containerId, stdin: io.stdin, stdout: true, stderr: true, detachKeys: io.detachKeys, execId } });
    return ready;
  }

  /** Our side: raw mode and the terminal's size (with -t), our stdin, signals passed on. */
  begin(): void {
    const { tty, stdin } = this.io;
    if (tty) {
      this.cleanups.push(rawTerminal(stdin));
      this.cleanups.push(this.followSize());
    }
    if (this.io.sigProxy && !tty) this.cleanups.push(proxySignals(this.rc, this.containerId, this.execId));
    if (stdin) this.pumpStdin();
  }

  private followSize(): () => void {
    if (!process.stdout.isTTY) return () => undefined;
    const resize = () => {
      const { columns, rows } = process.stdout;
      // A pty of no size (script(1) with no terminal of its own) gets the usual 80x24.
      this.send({ resize: { width: columns || 80, height: rows || 24 } });
    };
    resize();
    process.stdout.on('resize', resize);
    return () => process.stdout.off('resize', resize);
  }

  private send(req: AttachRequest): void {
    if (this.call.writable) this.call.write(req);
  }

  private pumpStdin(): void {
    const input = process.stdin;
    const onData = (chunk: Buffer) => {
      if (!this.call.writable) return;
      if (!this.call.write({ stdin: chunk })) {
        input.pause();
        this.call.once('drain', () => input.resume());
      }
    };
    const onEnd = () => {
      if (this.io.closeStdinOnEnd) this.send({ closeStdin: {} });
    };
    input.on('data', onData);
    input.once('end', onEnd);
    this.cleanups.push(() => {
      input.off('data', onData);
      input.off('end', onEnd);
    });
  }

  /** Our side restored; the call closed; our stdin let go (so that ctrctl can exit). */
  close(): void {
    for (const undo of this.cleanups.splice(0).reverse()) undo();
    this.call.end();
    if (this.io.stdin) process.stdin.destroy();
  }
}

interface AttachVerbOptions {
  detachKeys?: string;
  stdin: boolean;
  sigProxy: boolean;
}

export function addAttachCommand(program: Command): void {
  program
    .command('attach')
    .description("attach local standard input, output, and error streams to a running container")
    .argument('<container>', 'name or ID')
    .option('--detach-keys <keys>', 'override the key sequence for detaching a container (default ctrl-p,ctrl-q)')
    .option('--no-stdin', 'do not attach STDIN')
    .addOption(new Option('--sig-proxy [bool]', 'proxy all received signals to the process').default(true).argParser((v) => v !== 'false'))
    .action(async (input: string, o: AttachVerbOptions, command: Command) => {
      const c = await connect(globalFlags(command));
      let end: AttachEnd;
      try {
        const rc = runtimeClients(c);
        const info = await findContainer(rc, input);
        if (!stateOf(info).running) throw failedPrecondition('You cannot attach to a stopped container, start it first');
        const tty = Boolean(specOf(info.container).process?.terminal);
        const session = await AttachSession.open(rc, info.container.id, {
          stdin: o.stdin,
          tty,
          detachKeys: o.detachKeys ?? '',
          closeStdinOnEnd: false,
          sigProxy: o.sigProxy,
        });
        try {
          session.begin();
          end = await session.done;
        } finally {
          session.close();
        }
      } finally {
        c.close();
      }
      if ('exitStatus' in end && end.exitStatus !== 0) throw new ExitStatus(end.exitStatus);
    });
}
