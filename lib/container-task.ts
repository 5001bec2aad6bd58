// Creating and starting a container's task the standard way, shared by ctrctl (run, start, restart, over
// gRPC) and the daemon (its restart monitor, over the shim manager): nothing is needed but the container's
// label containerd.io/restart.loguri (the json-file stdio URI the daemon's Streams.LogUri gave when the
// container was made), its spec (a terminal or not) and its snapshot's mounts. stdin is always '': an
// open stdin is the URI's open-stdin=1, served by the shim's attach socket.
import { failedPrecondition } from './errdefs.js';
import { restartLabels } from './restart-policy.js';

/** The label holding a container's stdio URI, as containerd's restart monitor names it. */
export const restartLogUriLabel = restartLabels.logUri;

export interface StandardTaskIO {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

/** What these functions read of a container (the daemon's record and containerd's message both fit). */
export interface TaskContainer {
  id: string;
  labels: Readonly<Record<string, string>>;
  spec?: { value: Uint8Array } | undefined;
  snapshotter: string;
  snapshotKey: string;
}

export function specHasTerminal(c: TaskContainer): boolean {
  try {
    const spec = JSON.parse(Buffer.from(c.spec?.value ?? []).toString('utf8')) as { process?: { terminal?: unknown } };
    return spec.process?.terminal === true;
  } catch {
    return false;
  }
}

/** The stdio of the container's task: stdout the label's URI, stderr the same unless there is a terminal. */
export function standardTaskIO(c: TaskContainer): StandardTaskIO {
  const uri = c.labels[restartLogUriLabel];
  if (!uri) throw failedPrecondition(`container ${c.id} has no ${restartLogUriLabel} label: it was not made to be started this way`);
  const terminal = specHasTerminal(c);
  return { stdin: '', stdout: uri, stderr: terminal ? '' : uri, terminal };
}

/** The few task operations the standard start needs, over whatever reaches them. */
export interface TaskStarter<M> {
  /** The mounts of the container's snapshot. */
  mounts(snapshotter: string, key: string): Promise<M[]>;
  create(containerId: string, rootfs: M[], io: StandardTaskIO): Promise<void>;
  /** Starts the created task; its pid. */
  start(containerId: string): Promise<number>;
  /** Deletes a created task that could not be started. */
  remove(containerId: string): Promise<void>;
}

/**
 * Creates the container's task and starts it; `afterCreate` runs in between (ctrctl attaches there, so no
 * output is missed). A task that was created but not started is deleted again before the error goes up.
 */
export async function createAndStartTask<M>(t: TaskStarter<M>, c: TaskContainer, afterCreate?: () => Promise<void>): Promise<number> {
  const io = standardTaskIO(c);
  const rootfs = await t.mounts(c.snapshotter, c.snapshotKey);
  await t.create(c.id, rootfs, io);
  try {
    await afterCreate?.();
    return await t.start(c.id);
  } catch (err) {
    await t.remove(c.id).catch(() => undefined);
    throw err;
  }
}
