// The long-lived shim: serves containerd.task.v2.Task on its socket, for every task its daemon hands it
// (group.ts), until none is left and the daemon says Shutdown. `start` spawned it detached, with the bundle's log FIFO as stderr and a readiness
// pipe as fd 3: "ok" once it listens, or the reason it cannot.
import fs from 'node:fs';
import path from 'node:path';
import {
  CheckpointTaskRequest,
  CloseIORequest,
  ConnectRequest,
  ConnectResponse,
  CreateTaskRequest,
  CreateTaskResponse,
  DeleteRequest,
  DeleteResponse,
  ExecProcessRequest,
  KillRequest,
  PauseRequest,
  PidsRequest,
  PidsResponse,
  ResizePtyRequest,
  ResumeRequest,
  ShutdownRequest,
  StartRequest,
  StartResponse,
  StateRequest,
  StateResponse,
  StatsRequest,
  StatsResponse,
  UpdateTaskRequest,
  WaitRequest,
  WaitResponse,
} from '../gen/containerd/task/v2/shim.js';
import { Empty } from '../gen/google/protobuf/empty.js';
import { socketPath } from '../lib/ttrpc/client.js';
import type { Decoder, Encoder } from '../lib/ttrpc/codec.js';
import { TtrpcServer } from '../lib/ttrpc/server.js';
import { socketAddress, socketDir } from './address.js';
import { Publisher } from './events.js';
import type { ShimFlags } from './flags.js';
import { createShimLogger } from './log.js';
import { defaultRuntimeBinary, nativeRuntimeName } from './backend.js';
import { isCrun, isHybridCgroups, OciRuntime } from './oci/runtime.js';
import { NativeRuntime } from './native/backend.js';
import { Reaper } from './reaper.js';
import { TaskGroup } from './group.js';
import type { TaskService } from './service.js';

const readyFd = 3;
const taskService = 'containerd.task.v2.Task';

export async function serve(flags: ShimFlags): Promise<void> {
  const log = createShimLogger({ level: flags.debug ? 'debug' : 'info', bindings: { ns: flags.namespace, id: flags.id } });
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
  process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception'));
  const address = socketAddress(flags.address, flags.namespace, flags.id);
  try {
    const reaper = new Reaper(log);
    const publisher = new Publisher(process.env.TTRPC_ADDRESS ?? '', flags.namespace, log);
    const srv = new TtrpcServer({ onError: (err) => log.debug({ err }, 'ttrpc') });
    let exiting = false;
    const exit = () => {
      if (exiting) return;
      exiting = true;
      log.info({}, 'shim exiting');
      // Answers already written go out with the process; the events still queued are waited for.
      void srv.close(0).catch(() => {});
      fs.rmSync(socketPath(address), { force: true });
      void publisher
        .close(3_000)
        .catch(() => {})
        .then(() => process.exit(0));
    };
    const hybrid = isHybridCgroups();
    const group = new TaskGroup({
      namespace: flags.namespace,
      logLevel: flags.debug ? 'debug' : 'info',
      publisher,
      reaper,
      log,
      socketDir,
      defaultBinary: defaultRuntimeBinary(),
      exit,
      backend: (o) =>
        o.binary === nativeRuntimeName
          ? new NativeRuntime({ namespace: flags.namespace, log: o.log })
          : new OciRuntime({ binary: o.binary, root: o.root, logFile: path.join(o.bundle, 'log.json'), hideUnifiedCgroup: hybrid && isCrun(o.binary) }, reaper, o.log),
    });
    register(srv, group);
    await srv.listen(address);
  } catch (err) {
    ready(`cannot serve on ${address}: ${(err as Error).message}`);
    process.exit(1);
  }
  log.info({ address }, 'shim serving');
  ready('ok');
}

function ready(message: string): void {
  try {
    fs.writeSync(readyFd, message + '\n');
    fs.closeSync(readyFd);
  } catch {
    // started by hand, without a readiness pipe
  }
}

function register(srv: TtrpcServer, g: TaskGroup): void {
  const on = <Req, Res>(method: string, req: Decoder<Req>, res: Encoder<Res>, handler: (r: Req) => Res | Promise<Res>) =>
    srv.registerUnary(taskService, method, req, res, async (r) => handler(r));
  /** A method of one task: the group finds its service by the request's id. */
  const task = <Req extends { id: string }, Res>(method: string, req: Decoder<Req>, res: Encoder<Res>, handler: (s: TaskService, r: Req) => Res | Promise<Res>) =>
    on(method, req, res, (r) => handler(g.get(r.id), r));
  task('State', StateRequest, StateResponse, (s, r) => s.state(r.id, r.execId));
  on('Create', CreateTaskRequest, CreateTaskResponse, (r) => g.create(r));
  task('Start', StartRequest, StartResponse, (s, r) => s.start(r.id, r.execId));
  task('Delete', DeleteRequest, DeleteResponse, (s, r) => s.delete(r.id, r.execId));
  task('Pids', PidsRequest, PidsResponse, async (s, r) => ({ processes: await s.pids(r.id) }));
  task('Pause', PauseRequest, Empty, async (s, r) => (await s.pause(r.id), {}));
  task('Resume', ResumeRequest, Empty, async (s, r) => (await s.resume(r.id), {}));
  task('Checkpoint', CheckpointTaskRequest, Empty, (s) => s.checkpoint());
  task('Kill', KillRequest, Empty, async (s, r) => (await s.kill(r), {}));
  task('Exec', ExecProcessRequest, Empty, (s, r) => (s.exec(r), {}));
  task('ResizePty', ResizePtyRequest, Empty, (s, r) => (s.resizePty(r), {}));
  task('CloseIO', CloseIORequest, Empty, (s, r) => (s.closeIO(r), {}));
  task('Update', UpdateTaskRequest, Empty, async (s, r) => (await s.update(r), {}));
  task('Wait', WaitRequest, WaitResponse, (s, r) => s.wait(r.id, r.execId));
  task('Stats', StatsRequest, StatsResponse, (s, r) => s.stats(r.id));
  on('Connect', ConnectRequest, ConnectResponse, (r) => g.connect(r.id));
  on('Shutdown', ShutdownRequest, Empty, () => (g.shutdown(), {}));
}
