// containerd.services.tasks.v1.Tasks over the shim manager: the container's spec and runtime come from the
// container store, the processes themselves from the task's shim. Checkpoints are not supported.
import { TasksService, type TasksServer } from '../../gen/containerd/services/tasks/v1/tasks.js';
import { Status, type Process } from '../../gen/containerd/v1/types/task.js';
import type { StateResponse } from '../../gen/containerd/task/v2/shim.js';
import type { HandlerFactory } from '../../lib/grpc/handlers.js';
import { requireNamespace, type CallContext } from '../../lib/grpc/context.js';
import { compileFilters, type FieldReader } from '../../lib/filters.js';
import { failedPrecondition, invalidArgument, notImplemented } from '../../lib/errdefs.js';
import { validateIdentifier } from '../../lib/identifiers.js';
import type { ContainerStore } from '../containers/store.js';
import type { GrpcService } from '../grpc-service.js';
import type { ShimManager } from './shim-manager.js';
import type { Shim } from './shim.js';

function toProcess(shim: Shim, s: StateResponse): Process {
  const init = s.execId === '';
  return {
    containerId: shim.id,
    id: s.execId || s.id,
    pid: s.pid,
    status: s.status,
    // Go shims report the paths too; the init process's are also what the client gave, for re-attaching.
    stdin: s.stdin || (init ? shim.io.stdin : ''),
    stdout: s.stdout || (init ? shim.io.stdout : ''),
    stderr: s.stderr || (init ? shim.io.stderr : ''),
    terminal: s.terminal,
    exitStatus: s.exitStatus,
    exitedAt: s.exitedAt,
  };
}

/** Task filters, as containerd's: by id, namespace and runtime. */
const taskFields = { id: 'value', namespace: 'value', runtime: 'value' } as const;
const readTask: FieldReader<Shim> = (shim, [field]) =>
  field === 'id' ? shim.id : field === 'namespace' ? shim.ns : field === 'runtime' ? shim.command.binary : undefined;

function requireContainerId(id: string): string {
  if (!id) throw invalidArgument('container_id must be set');
  return id;
}

export function tasksService(shims: ShimManager, containers: ContainerStore, h: HandlerFactory): GrpcService {
  const shimOf = (ctx: CallContext, containerId: string) => shims.get(requireNamespace(ctx), requireContainerId(containerId));
  const implementation: TasksServer = {
    create: h.unary('Tasks.Create', async (req, ctx) => {
      const ns = requireNamespace(ctx);
      requireContainerId(req.containerId);
      if (req.checkpoint) throw notImplemented('checkpoint restore is not supported by ctrd');
      const container = containers.get(ns, req.containerId);
      const io = { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal };
      const { pid } = await shims.create(ns, container, req.rootfs, io, req.options);
      return { containerId: req.containerId, pid };
    }),
    start: h.unary('Tasks.Start', async (req, ctx) => {
      const shim = shimOf(ctx, req.containerId);
      // Shims answer a second Start with an untyped error; the move is checked here against the process state.
      const { status } = await shim.state(req.execId);
      if (status !== Status.CREATED) {
        throw failedPrecondition(`${req.execId ? `process ${req.execId} of task` : 'task'} ${req.containerId} cannot be started: it is ${Status[status]?.toLowerCase() ?? status}`);
      }
      const { pid } = await shim.start(req.execId);
      return { pid };
    }),
    delete: h.unary('Tasks.Delete', async (req, ctx) => {
      const res = await shims.delete(requireNamespace(ctx), requireContainerId(req.containerId));
      return { id: req.containerId, pid: res.pid, exitStatus: res.exitStatus, exitedAt: res.exitedAt };
    }),
    deleteProcess: h.unary('Tasks.DeleteProcess', async (req, ctx) => {
      if (!req.execId) throw invalidArgument('exec_id must be set; delete the task itself with Tasks.Delete');
      const res = await shimOf(ctx, req.containerId).delete(req.execId);
      return { id: req.execId, pid: res.pid, exitStatus: res.exitStatus, exitedAt: res.exitedAt };
    }),
    get: h.unary('Tasks.Get', async (req, ctx) => {
      const shim = shimOf(ctx, req.containerId);
      return { process: toProcess(shim, await shim.state(req.execId)) };
    }),
    list: h.unary('Tasks.List', async (req, ctx) => {
      const ns = requireNamespace(ctx);
      const match = compileFilters(req.filter ? [req.filter] : [], taskFields, readTask);
      const list = shims.list(ns).filter(match);
      const states = await Promise.allSettled(list.map(async (shim) => toProcess(shim, await shim.state())));
      // A shim that cannot answer right now is left out, as containerd does, rather than failing the list.
      return { tasks: states.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : [])) };
    }),
    kill: h.unary('Tasks.Kill', async (req, ctx) => {
      await shimOf(ctx, req.containerId).kill(req.signal, req.all, req.execId);
      return {};
    }),
    exec: h.unary('Tasks.Exec', async (req, ctx) => {
      const shim = shimOf(ctx, req.containerId);
      validateIdentifier(req.execId, 'exec id');
      if (!req.spec?.value.length) throw invalidArgument(`exec ${req.execId}: a process spec must be set`);
      await shim.exec({ execId: req.execId, spec: req.spec, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal });
      return {};
    }),
    resizePty: h.unary('Tasks.ResizePty', async (req, ctx) => {
      await shimOf(ctx, req.containerId).resizePty(req.execId, req.width, req.height);
      return {};
    }),
    closeIo: h.unary('Tasks.CloseIO', async (req, ctx) => {
      await shimOf(ctx, req.containerId).closeIO(req.execId, req.stdin);
      return {};
    }),
    pause: h.unary('Tasks.Pause', async (req, ctx) => {
      await shimOf(ctx, req.containerId).pause();
      return {};
    }),
    resume: h.unary('Tasks.Resume', async (req, ctx) => {
      await shimOf(ctx, req.containerId).resume();
      return {};
    }),
    listPids: h.unary('Tasks.ListPids', async (req, ctx) => {
      const { processes } = await shimOf(ctx, req.containerId).pids();
      return { processes };
    }),
    checkpoint: h.unary('Tasks.Checkpoint', () => {
      throw notImplemented('checkpoint is not supported by ctrd');
    }),
    update: h.unary('Tasks.Update', async (req, ctx) => {
      if (!req.resources?.value.length && Object.keys(req.annotations).length === 0) throw invalidArgument('update: resources or annotations must be set');
      await shimOf(ctx, req.containerId).update(req.resources, req.annotations);
      return {};
    }),
    metrics: h.unary('Tasks.Metrics', async (req, ctx) => {
      const ns = requireNamespace(ctx);
      const match = compileFilters(req.filters, taskFields, readTask);
      const metrics = await Promise.all(
        shims
          .list(ns)
          .filter(match)
          .filter((shim) => !shim.dead)
          .map(async (shim) => ({ timestamp: new Date(), id: shim.id, data: (await shim.stats()).stats })),
      );
      return { metrics };
    }),
    wait: h.unary('Tasks.Wait', async (req, ctx) => {
      const res = await shimOf(ctx, req.containerId).wait(req.execId, ctx.signal);
      return { exitStatus: res.exitStatus, exitedAt: res.exitedAt };
    }),
  };
  return { definition: TasksService, implementation };
}
