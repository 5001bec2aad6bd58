// One task's shim as the daemon sees it: the ttrpc client of containerd.task.v2.Task while the shim lives,
// and, once its connection is lost without the daemon asking, a dead task with the exit the manager
// recorded for it (killed, 137), cleaned up by `<shim> delete`. A dead task answers as a stopped one until
// it is deleted.
import type net from 'node:net';
import type { Any } from '../../gen/google/protobuf/any.js';
import { Empty } from '../../gen/google/protobuf/empty.js';
import {
  CloseIORequest,
  DeleteRequest,
  DeleteResponse,
  ExecProcessRequest,
  KillRequest,
  PauseRequest,
  PidsRequest,
  PidsResponse,
  ResizePtyRequest,
  ResumeRequest,
  StartRequest,
  StartResponse,
  StateRequest,
  StateResponse,
  StatsRequest,
  StatsResponse,
  UpdateTaskRequest,
  WaitRequest,
  WaitResponse,
} from '../../gen/containerd/task/v2/shim.js';
import { Status } from '../../gen/containerd/v1/types/task.js';
import { CtrdError, failedPrecondition, notFound } from '../../lib/errdefs.js';
import type { CallOptions, TtrpcClient } from '../../lib/ttrpc/client.js';
import type { Bundle, ShimCommand } from './bundle.js';

const taskService = 'containerd.task.v2.Task';

export interface TaskIO {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

export interface ExecRequest extends TaskIO {
  execId: string;
  spec: Any | undefined;
}

export interface Exit {
  pid: number;
  exitStatus: number;
  exitedAt: Date;
}

export class Shim {
  private exit: Exit | undefined;
  private detached = false;
  private readonly died: Promise<Exit>;
  private markDead!: (exit: Exit) => void;

  constructor(
    readonly ns: string,
    readonly id: string,
    readonly bundle: Bundle,
    readonly command: ShimCommand,
    readonly address: string,
    readonly shimPid: number,
    readonly taskPid: number,
    readonly io: TaskIO,
    /** None for a shim found dead after a restart. */
    private readonly client: TtrpcClient | undefined,
    readonly logReader: net.Socket,
  ) {
    this.died = new Promise((resolve) => (this.markDead = resolve));
  }

  get dead(): boolean {
    return this.exit !== undefined;
  }

  /** Resolves when the connection goes without the daemon having closed it: the shim died. */
  async lost(): Promise<boolean> {
    if (!this.client) return false;
    await this.client.whenClosed();
    return !this.detached;
  }

  /** Resolves once what a dead shim left has been cleaned up. */
  cleanedUp: Promise<void> = Promise.resolve();

  /** Records the exit of a shim that died; every call from now on answers from it. */
  recordDeath(exit: Exit, cleanedUp: Promise<void>): void {
    if (this.exit) return;
    this.exit = exit;
    this.cleanedUp = cleanedUp;
    this.markDead(exit);
  }

  private call<Req, Res>(
    method: string,
    req: { encode(m: Req): { finish(): Uint8Array } },
    res: { decode(b: Uint8Array): Res },
    message: Req,
    options: CallOptions = { timeoutMs: 10_000 },
  ): Promise<Res> {
    if (this.exit || !this.client) return Promise.reject(failedPrecondition(`task ${this.id}: its shim is gone; the task is stopped`));
    return this.client.unary(taskService, method, req, res, message, options);
  }

  async state(execId = ''): Promise<StateResponse> {
    if (this.exit) {
      if (execId) throw notFound(`process ${execId} of task ${this.id} not found: the task's shim is gone`);
      return {
        id: this.id,
        bundle: this.bundle.path,
        pid: this.exit.pid,
        status: Status.STOPPED,
        stdin: this.io.stdin,
        stdout: this.io.stdout,
        stderr: this.io.stderr,
        terminal: this.io.terminal,
        exitStatus: this.exit.exitStatus,
        exitedAt: this.exit.exitedAt,
        execId: '',
      };
    }
    return this.call('State', StateRequest, StateResponse, { id: this.id, execId });
  }

  start(execId = ''): Promise<StartResponse> {
    return this.call('Start', StartRequest, StartResponse, { id: this.id, execId }, { timeoutMs: 30_000 });
  }

  /** Blocks until the process exits; a shim dying meanwhile ends the wait with the exit recorded for it. */
  async wait(execId = '', signal?: AbortSignal): Promise<WaitResponse> {
    if (!this.exit) {
      try {
        return await this.call('Wait', WaitRequest, WaitResponse, { id: this.id, execId }, signal ? { signal } : {});
      } catch (err) {
        if (!(err instanceof CtrdError && err.kind === 'unavailable') || this.detached) throw err;
      }
      if (execId) throw notFound(`process ${execId} of task ${this.id}: the task's shim is gone`);
      await this.died;
    }
    return { exitStatus: this.exit!.exitStatus, exitedAt: this.exit!.exitedAt };
  }

  async kill(signal: number, all: boolean, execId = ''): Promise<void> {
    if (this.exit) throw notFound(`task ${this.id}: process already finished`);
    await this.call('Kill', KillRequest, Empty, { id: this.id, execId, signal, all });
  }

  async exec(req: ExecRequest): Promise<void> {
    await this.call('Exec', ExecProcessRequest, Empty, { id: this.id, ...req }, { timeoutMs: 30_000 });
  }

  async resizePty(execId: string, width: number, height: number): Promise<void> {
    await this.call('ResizePty', ResizePtyRequest, Empty, { id: this.id, execId, width, height });
  }

  async closeIO(execId: string, stdin: boolean): Promise<void> {
    await this.call('CloseIO', CloseIORequest, Empty, { id: this.id, execId, stdin });
  }

  async pause(): Promise<void> {
    await this.call('Pause', PauseRequest, Empty, { id: this.id }, { timeoutMs: 30_000 });
  }

  async resume(): Promise<void> {
    await this.call('Resume', ResumeRequest, Empty, { id: this.id }, { timeoutMs: 30_000 });
  }

  pids(): Promise<PidsResponse> {
    return this.call('Pids', PidsRequest, PidsResponse, { id: this.id });
  }

  async update(resources: Any | undefined, annotations: Record<string, string>): Promise<void> {
    await this.call('Update', UpdateTaskRequest, Empty, { id: this.id, resources, annotations }, { timeoutMs: 30_000 });
  }

  stats(): Promise<StatsResponse> {
    return this.call('Stats', StatsRequest, StatsResponse, { id: this.id });
  }

  delete(execId = ''): Promise<DeleteResponse> {
    if (this.exit) {
      if (execId) return Promise.reject(notFound(`process ${execId} of task ${this.id} not found: the task's shim is gone`));
      return Promise.resolve({ ...this.exit });
    }
    return this.call('Delete', DeleteRequest, DeleteResponse, { id: this.id, execId }, { timeoutMs: 30_000 });
  }

  /** Asks the shim to exit; the shim may drop the connection before its reply is out, which is fine too. */
  /** Lets go of the shim without stopping it (the daemon is stopping; the shim outlives it). */
  async detach(): Promise<void> {
    this.detached = true;
    await this.client?.close();
    this.logReader.destroy();
  }
}
