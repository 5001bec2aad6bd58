// A container's task from creation to removal, as docker's verbs need it: started the standard way
// (lib/container-task.ts: stdio is the container's json-file log), attached through ctrd's Streams.Attach
// or detached, stopped with the stop signal and then SIGKILL, and the whole container removed with its
// task and snapshot.
import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import type { WaitResponse } from '../../gen/containerd/services/tasks/v1/tasks.js';
import { Status } from '../../gen/containerd/v1/types/task.js';
import { failedPrecondition, isNotFound, kindOf } from '../../lib/errdefs.js';
import { unary } from '../../lib/grpc/client.js';
import { fromGrpcStatus } from '../../lib/grpc/status.js';
import type { Mount } from '../../gen/containerd/types/mount.js';
import { createAndStartTask, type TaskStarter } from '../../lib/container-task.js';
import { restartLabels } from '../../lib/restart-policy.js';
import { AttachSession, type AttachIO } from './attach.js';
import { getTask, recordExit, recordStart, recordStopByHand, type ContainerInfo } from './container-state.js';
import { anonymousVolumesOf, removeVolumes } from './mounts.js';
import type { RuntimeClients } from './runtime-clients.js';
import { stopSignalOf } from './signals.js';
import { constants } from 'node:os';

/** docker's status when a process cannot start: 127 for a command not found, 126 for one that cannot run. */
export function statusOfStartError(err: unknown, otherwise = 126): number {
  const m = err instanceof Error ? err.message : String(err);
  if (/executable file not found|no such file or directory/i.test(m)) return 127;
  if (/permission denied/i.test(m)) return 126;
  return otherwise;
}

export interface ExitResult {
  exitStatus: number;
  exitedAt: Date | undefined;
}

/** Tasks.Wait, with an optional deadline: undefined when it passes first. */
export function waitProcess(rc: RuntimeClients, id: string, execId = '', timeoutMs?: number): Promise<ExitResult | undefined> {
  return new Promise((resolve, reject) => {
    const options = timeoutMs === undefined ? {} : { deadline: Date.now() + timeoutMs };
    rc.tasks.wait({ containerId: id, execId }, new Metadata(), options, (err: ServiceError | null, res: WaitResponse) => {
      if (err?.code === GrpcStatus.DEADLINE_EXCEEDED) resolve(undefined);
      else if (err) reject(fromGrpcStatus(err));
      else resolve({ exitStatus: res.exitStatus, exitedAt: res.exitedAt });
    });
  });
}

/** Deletes a task that is over (stopped, or created and never started), keeping its exit in the labels. */
export async function deleteTask(rc: RuntimeClients, id: string, record = true): Promise<void> {
  try {
    const res = await unary(rc.tasks, rc.tasks.delete, { containerId: id });
    if (record) await recordExit(rc, id, res.exitStatus, res.exitedAt);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** A task left from the last run (stopped) is deleted before a new one is made, as nerdctl start does. */
async function clearOldTask(rc: RuntimeClients, info: ContainerInfo): Promise<void> {
  const t = info.task ?? (await getTask(rc, info.container.id));
  if (!t) return;
  if (t.status === Status.STOPPED || t.status === Status.CREATED) await deleteTask(rc, info.container.id, t.status === Status.STOPPED);
  else throw failedPrecondition(`container ${info.container.id} is already running`);
}

/** Tasks.Create/Start over gRPC, for the standard start (lib/container-task.ts). */
function taskStarter(rc: RuntimeClients): TaskStarter<Mount> {
  return {
    mounts: async (snapshotter, key) => (await unary(rc.snapshots, rc.snapshots.mounts, { snapshotter, key })).mounts,
    create: async (containerId, rootfs, io) => {
      await unary(rc.tasks, rc.tasks.create, { containerId, rootfs, ...io, checkpoint: undefined, options: undefined, runtimePath: '' });
    },
    start: async (containerId) => (await unary(rc.tasks, rc.tasks.start, { containerId, execId: '' })).pid,
    remove: (containerId) => deleteTask(rc, containerId, false),
  };
}

/** Starts a container's task the standard way (its output to its json-file log); returns the pid. */
export async function startDetached(rc: RuntimeClients, info: ContainerInfo): Promise<number> {
  await clearOldTask(rc, info);
  const pid = await createAndStartTask(taskStarter(rc), info.container);
  await recordStart(rc, info.container.id);
  return pid;
}

/**
 * Runs the container's task attached through Streams.Attach: the task is created the standard way, attached
 * to before it starts (no output is missed), and relayed until it exits, then deleted (its exit kept in
 * labels). Returns the exit status, or 'detached' when the detach keys were typed (the task runs on).
 */
export async function runAttached(rc: RuntimeClients, info: ContainerInfo, io: AttachIO): Promise<number | 'detached'> {
  await clearOldTask(rc, info);
  const c = info.container;
  let session: AttachSession | undefined;
  try {
    // Attached from before the start: no output and no exit is missed.
    await createAndStartTask(taskStarter(rc), c, async () => {
      session = await AttachSession.open(rc, c.id, io);
      // Our terminal's size and stdin before the start: the process never sees a pty of no size.
      session.begin();
    });
    await recordStart(rc, c.id);
    const end = await session!.done;
    if ('detached' in end) return 'detached';
    await deleteTask(rc, c.id);
    return end.exitStatus;
  } finally {
    session?.close();
  }
}

/** docker stop: the stop signal, then SIGKILL after timeoutSec; the stopped task is deleted. */
export async function stopContainer(rc: RuntimeClients, info: ContainerInfo, timeoutSec: number, signal?: number): Promise<void> {
  const id = info.container.id;
  // Before the signal (and also when a restart is only pending): the restart monitor must leave it stopped.
  if (info.container.labels[restartLabels.policy]) await recordStopByHand(rc, id);
  const task = info.task ?? (await getTask(rc, id));
  if (!task) return;
  if (task.status === Status.RUNNING || task.status === Status.PAUSED || task.status === Status.PAUSING) {
    const exited = waitProcess(rc, id, '', timeoutSec * 1000);
    exited.catch(() => undefined);
    // A paused process cannot act on its signal: docker resumes it after sending.
    await kill(rc, id, signal ?? stopSignalOf(info.container.labels));
    if (task.status !== Status.RUNNING) await unary(rc.tasks, rc.tasks.resume, { containerId: id }).catch(() => undefined);
    if (!(await exited)) {
      const killed = waitProcess(rc, id);
      killed.catch(() => undefined);
      await kill(rc, id, constants.signals.SIGKILL);
      await killed;
    }
  }
  await deleteTask(rc, id, task.status !== Status.CREATED);
}

export async function kill(rc: RuntimeClients, id: string, signal: number, execId = ''): Promise<void> {
  try {
    await unary(rc.tasks, rc.tasks.kill, { containerId: id, execId, signal, all: false });
  } catch (err) {
    // The process ended between our look and the signal: nothing to stop.
    if (!isNotFound(err) && kindOf(err) !== 'failed-precondition') throw err;
  }
}

/** docker rm [-f] [-v]: the task (killed first with -f), the container record, its snapshot (ctrd removes its logs) and, with -v, its anonymous volumes. */
export async function removeContainer(rc: RuntimeClients, info: ContainerInfo, force: boolean, volumes = false): Promise<void> {
  const c = info.container;
  const task = info.task ?? (await getTask(rc, c.id));
  if (task && (task.status === Status.RUNNING || task.status === Status.PAUSED || task.status === Status.PAUSING)) {
    if (!force) {
      throw failedPrecondition(
        `cannot remove container "${info.name}": container is running: stop the container before removing or force remove`,
      );
    }
    await stopContainer(rc, { ...info, task }, 0, constants.signals.SIGKILL);
  } else if (task) {
    await deleteTask(rc, c.id, false);
  }
  await unary(rc.containers, rc.containers.delete, { id: c.id });
  if (c.snapshotKey) {
    await unary(rc.snapshots, rc.snapshots.remove, { snapshotter: c.snapshotter, key: c.snapshotKey }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }
  if (volumes) await removeVolumes(rc.volumes, anonymousVolumesOf(c));
}
