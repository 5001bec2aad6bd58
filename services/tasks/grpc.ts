// containerd.services.tasks.v1.Tasks over the shim manager: the container's spec and runtime come from the
// container store, the process itself from the shim. Exec, pause, checkpoint and the like: not yet.
import { TasksService, type TasksServer } from '../../gen/containerd/services/tasks/v1/tasks.js';
import type { Process } from '../../gen/containerd/v1/types/task.js';
import type { StateResponse } from '../../gen/containerd/task/v2/shim.js';
import type { HandlerFactory } from '../../lib/grpc/handlers.js';
import { requireNamespace } from '../../lib/grpc/context.js';
import { invalidArgument, notImplemented } from '../../lib/errdefs.js';
import type { ContainerStore } from '../containers/store.js';
import type { GrpcService } from '../grpc-service.js';
import type { Shim, ShimManager } from './shim-manager.js';

function toProcess(containerId: string, s: StateResponse, shim: Shim): Process {
  return {
    containerId,
    id: s.execId || s.id,
    pid: s.pid,
    status: s.status,
    // The shim reports them too; ours are what the client gave, for re-attaching.
    stdin: s.stdin || shim.io.stdin,
    stdout: s.stdout || shim.io.stdout,
    stderr: s.stderr || shim.io.stderr,
    terminal: s.terminal,
    exitStatus: s.exitStatus,
    exitedAt: s.exitedAt,
  };
}

function noExec(execId: string, method: string): void {
  if (execId) throw notImplemented(`${method} of exec processes is not implemented by ctrd yet`);
}

export function tasksService(shims: ShimManager, containers: ContainerStore, h: HandlerFactory): GrpcService {
  const unimplemented = <Req, Res>(method: string) =>
    h.unary<Req, Res>(method, () => {
      throw notImplemented(`${method} is not implemented by ctrd yet`);
    });
  const implementation: TasksServer = {
    create: h.unary('Tasks.Create', async (req, ctx) => {
      const ns = requireNamespace(ctx);
      if (!req.containerId) throw invalidArgument('container_id must be set');
      if (req.checkpoint) throw notImplemented('checkpoint restore is not implemented by ctrd yet');
      const container = containers.get(ns, req.containerId);
      const io = { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal };
      const { pid } = await shims.create(ns, container, req.rootfs, io, req.options);
      return { containerId: req.containerId, pid };
    }),
    start: h.unary('Tasks.Start', async (req, ctx) => {
      noExec(req.execId, 'Tasks.Start');
      const { pid } = await shims.get(requireNamespace(ctx), req.containerId).start();
      return { pid };
    }),
    delete: h.unary('Tasks.Delete', async (req, ctx) => {
      const res = await shims.delete(requireNamespace(ctx), req.containerId);
      return { id: req.containerId, pid: res.pid, exitStatus: res.exitStatus, exitedAt: res.exitedAt };
    }),
    deleteProcess: unimplemented('Tasks.DeleteProcess'),
    get: h.unary('Tasks.Get', async (req, ctx) => {
      noExec(req.execId, 'Tasks.Get');
      const shim = shims.get(requireNamespace(ctx), req.containerId);
      return { process: toProcess(req.containerId, await shim.state(), shim) };
    }),
    list: h.unary('Tasks.List', async (req, ctx) => {
      if (req.filter) throw notImplemented('Tasks.List filters are not implemented by ctrd yet');
      const list = shims.list(requireNamespace(ctx));
      return { tasks: await Promise.all(list.map(async (shim) => toProcess(shim.id, await shim.state(), shim))) };
    }),
    kill: h.unary('Tasks.Kill', async (req, ctx) => {
      noExec(req.execId, 'Tasks.Kill');
      await shims.get(requireNamespace(ctx), req.containerId).kill(req.signal, req.all);
      return {};
    }),
    exec: unimplemented('Tasks.Exec'),
    resizePty: unimplemented('Tasks.ResizePty'),
    closeIo: unimplemented('Tasks.CloseIO'),
    pause: unimplemented('Tasks.Pause'),
    resume: unimplemented('Tasks.Resume'),
    listPids: unimplemented('Tasks.ListPids'),
    checkpoint: unimplemented('Tasks.Checkpoint'),
    update: unimplemented('Tasks.Update'),
    metrics: unimplemented('Tasks.Metrics'),
    wait: h.unary('Tasks.Wait', async (req, ctx) => {
      noExec(req.execId, 'Tasks.Wait');
      const res = await shims.get(requireNamespace(ctx), req.containerId).wait('', ctx.signal);
      return { exitStatus: res.exitStatus, exitedAt: res.exitedAt };
    }),
  };
  return { definition: TasksService, implementation };
}
