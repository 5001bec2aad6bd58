// A container's task from creation to removal, as docker's verbs need it: started attached (stdio through
// FIFOs, the exit status passed through) or detached (output to the container's log file), stopped with the
// stop signal and then SIGKILL, and the whole container removed with its task and snapshot.
import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Container } from '../../gen/containerd/services/containers/v1/containers.js';
import type { WaitResponse } from '../../gen/containerd/services/tasks/v1/tasks.js';
import { Status } from '../../gen/containerd/v1/types/task.js';
import { failedPrecondition, isNotFound, kindOf } from '../../lib/errdefs.js';
import { unary } from '../../lib/grpc/client.js';
import { fromGrpcStatus } from '../../lib/grpc/status.js';
import { getTask, recordExit, recordStart, recordStopByHand, stateLabels, type ContainerInfo } from './container-state.js';
import { restartLabels } from '../../lib/restart-policy.js';
import { logPathOf } from './container-create.js';
import type { RuntimeClients } from './runtime-clients.js';
import { stopSignalOf } from './signals.js';
import { Fifos, rawTerminal } from './stdio.js';
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

async function rootfsOf(rc: RuntimeClients, c: Container) {
  const { mounts } = await unary(rc.snapshots, rc.snapshots.mounts, { snapshotter: c.snapshotter, key: c.snapshotKey });
  return mounts;
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

/** Starts a container's task with its output to the log file; returns the pid. */
export async function startDetached(rc: RuntimeClients, info: ContainerInfo, ns: string): Promise<number> {
  await clearOldTask(rc, info);
  const c = info.container;
  const uri = c.labels[restartLabels.logUri] || `file://${c.labels[stateLabels.logPath] || logPathOf(ns, c.id)}`;
  if (uri.startsWith('file://')) mkdirSync(dirname(new URL(uri).pathname), { recursive: true, mode: 0o700 });
  const tty = Boolean(specTerminal(c));
  await unary(rc.tasks, rc.tasks.create, {
    containerId: c.id,
    rootfs: await rootfsOf(rc, c),
    stdin: '',
    stdout: uri,
    stderr: tty ? '' : uri,
    terminal: tty,
    checkpoint: undefined,
    options: undefined,
    runtimePath: '',
  });
  try {
    const { pid } = await unary(rc.tasks, rc.tasks.start, { containerId: c.id, execId: '' });
    await recordStart(rc, c.id);
    return pid;
  } catch (err) {
    await deleteTask(rc, c.id, false).catch(() => undefined);
    throw err;
  }
}

function specTerminal(c: Container): boolean {
  try {
    return Boolean((JSON.parse(Buffer.from(c.spec?.value ?? []).toString('utf8')) as { process?: { terminal?: boolean } }).process?.terminal);
  } catch {
    return false;
  }
}

export interface AttachOptions {
  /** -i: our stdin goes to the process. */
  stdin: boolean;
  /** The process has a terminal (-t): raw mode and resizes. */
  tty: boolean;
}

/** Keeps the process's terminal the size of ours, from now until the returned function is called. */
export function followTerminalSize(rc: RuntimeClients, id: string, execId: string): () => void {
  if (!process.stdout.isTTY) return () => undefined;
  const resize = () => {
    const { columns, rows } = process.stdout;
    unary(rc.tasks, rc.tasks.resizePty, { containerId: id, execId, width: columns ?? 80, height: rows ?? 24 }).catch(() => undefined);
  };
  resize();
  process.stdout.on('resize', resize);
  return () => process.stdout.off('resize', resize);
}

/** docker's --sig-proxy: SIGINT and SIGTERM to ctrctl go to the process instead. */
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

/**
 * Runs the container's task attached: creates it with FIFOs, starts it, copies stdio until it exits, and
 * deletes the task (the exit is kept in labels). Returns the exit status.
 */
export async function runAttached(rc: RuntimeClients, info: ContainerInfo, opts: AttachOptions): Promise<number> {
  await clearOldTask(rc, info);
  const c = info.container;
  const fifos = Fifos.create(c.id, { stdin: opts.stdin, tty: opts.tty });
  const cleanups: Array<() => void> = [];
  try {
    const rootfs = await rootfsOf(rc, c);
    fifos.attach({
      in: opts.stdin ? process.stdin : undefined,
      out: process.stdout,
      err: process.stderr,
      // The shim sees EOF on the FIFO; CloseIO says so too, for shims that wait for it.
      onInputEnd: () => void unary(rc.tasks, rc.tasks.closeIo, { containerId: c.id, execId: '', stdin: true }).catch(() => undefined),
    });
    await unary(rc.tasks, rc.tasks.create, {
      containerId: c.id,
      rootfs,
      stdin: fifos.stdin,
      stdout: fifos.stdout,
      stderr: fifos.stderr,
      terminal: opts.tty,
      checkpoint: undefined,
      options: undefined,
      runtimePath: '',
    });
    // Waiting from before the start: an exit that comes at once is not missed.
    const exited = waitProcess(rc, c.id);
    exited.catch(() => undefined);
    try {
      await unary(rc.tasks, rc.tasks.start, { containerId: c.id, execId: '' });
    } catch (err) {
      await deleteTask(rc, c.id, false).catch(() => undefined);
      throw err;
    }
    fifos.processStarted();
    await recordStart(rc, c.id);
    if (opts.tty) {
      cleanups.push(rawTerminal(opts.stdin));
      cleanups.push(followTerminalSize(rc, c.id, ''));
    } else cleanups.push(proxySignals(rc, c.id, ''));
    const res = (await exited)!;
    // As containerd's client: the shim's delete waits for its copying to end and closes its ends of the
    // FIFOs, and then ours reach EOF.
    await deleteTask(rc, c.id);
    await fifos.done();
    return res.exitStatus;
  } finally {
    for (const undo of cleanups.reverse()) undo();
    fifos.dispose();
    if (opts.stdin) process.stdin.destroy();
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

/** docker rm [-f]: the task (killed first with -f), the container record, its snapshot and its logs. */
export async function removeContainer(rc: RuntimeClients, info: ContainerInfo, ns: string, force: boolean): Promise<void> {
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
  rmSync(dirname(logPathOf(ns, c.id)), { recursive: true, force: true });
}
