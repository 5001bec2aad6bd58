// A container as docker shows it, put together from containerd's two records: the container (labels, spec,
// image) and its task, if it has one (pid, status, exit). What containerd does not keep (a name, when the
// container last started, how its last task ended once that task is deleted) ctrctl keeps in labels.
import type { Container } from '../../gen/containerd/services/containers/v1/containers.js';
import { Status, type Process } from '../../gen/containerd/v1/types/task.js';
import { isNotFound } from '../../lib/errdefs.js';
import { unary } from '../../lib/grpc/client.js';
import type { OciSpec } from '../../lib/oci/spec.js';
import { exitLabels, setTime, startLabels, stateLabels } from '../../lib/container-labels.js';
import { restartLabels } from '../../lib/restart-policy.js';
import { containerName, resolveContainer } from './names.js';
import type { RuntimeClients } from './runtime-clients.js';
import { humanDuration } from './units.js';

export { stateLabels };

export const specTypeUrl = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
export const processTypeUrl = 'types.containerd.io/opencontainers/runtime-spec/1/Process';

export interface ContainerInfo {
  container: Container;
  task: Process | undefined;
  name: string;
}

export type DockerState = 'created' | 'running' | 'paused' | 'exited';

export interface StateView {
  status: DockerState;
  running: boolean;
  paused: boolean;
  pid: number;
  exitCode: number;
  startedAt: Date | undefined;
  finishedAt: Date | undefined;
}

export function specOf(c: Container): OciSpec {
  if (!c.spec) return {} as OciSpec;
  try {
    return JSON.parse(Buffer.from(c.spec.value).toString('utf8')) as OciSpec;
  } catch {
    return {} as OciSpec;
  }
}

export interface StoredConfig {
  Entrypoint: string[];
  Cmd: string[];
  /** The image as the person named it. */
  Image: string;
}

export function storedConfig(c: Container): StoredConfig | undefined {
  const v = c.labels[stateLabels.config];
  if (!v) return undefined;
  try {
    return JSON.parse(v) as StoredConfig;
  } catch {
    return undefined;
  }
}

const dateOf = (s: string | undefined) => {
  if (!s) return undefined;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? undefined : d;
};


export function stateOf(info: ContainerInfo): StateView {
  const labels = info.container.labels;
  const startedAt = dateOf(labels[stateLabels.startedAt]);
  const t = info.task;
  if (t) {
    switch (t.status) {
      case Status.RUNNING:
      case Status.PAUSING:
        return { status: 'running', running: true, paused: false, pid: t.pid, exitCode: 0, startedAt, finishedAt: undefined };
      case Status.PAUSED:
        return { status: 'paused', running: true, paused: true, pid: t.pid, exitCode: 0, startedAt, finishedAt: undefined };
      case Status.STOPPED:
        return { status: 'exited', running: false, paused: false, pid: 0, exitCode: t.exitStatus, startedAt, finishedAt: setTime(t.exitedAt) };
      default:
        return { status: 'created', running: false, paused: false, pid: t.pid, exitCode: 0, startedAt: undefined, finishedAt: undefined };
    }
  }
  const code = labels[stateLabels.exitCode];
  if (code !== undefined && code !== '') {
    return { status: 'exited', running: false, paused: false, pid: 0, exitCode: Number(code), startedAt, finishedAt: dateOf(labels[stateLabels.finishedAt]) };
  }
  return { status: 'created', running: false, paused: false, pid: 0, exitCode: 0, startedAt: undefined, finishedAt: undefined };
}

/** docker ps's STATUS: "Up 3 seconds", "Up 2 minutes (Paused)", "Exited (0) 5 seconds ago", "Created". */
export function statusText(s: StateView, now = Date.now()): string {
  switch (s.status) {
    case 'running':
    case 'paused': {
      const up = s.startedAt ? humanDuration(now - s.startedAt.getTime()) : 'Less than a second';
      return s.paused ? `Up ${up} (Paused)` : `Up ${up}`;
    }
    case 'exited':
      return s.finishedAt ? `Exited (${s.exitCode}) ${humanDuration(now - s.finishedAt.getTime())} ago` : `Exited (${s.exitCode})`;
    default:
      return 'Created';
  }
}

/** Every container of the namespace with its task. */
export async function listContainers(rc: RuntimeClients): Promise<ContainerInfo[]> {
  const [{ containers }, { tasks }] = await Promise.all([
    unary(rc.containers, rc.containers.list, { filters: [] }),
    unary(rc.tasks, rc.tasks.list, { filter: '' }),
  ]);
  const byId = new Map(tasks.map((t) => [t.containerId || t.id, t]));
  return containers.map((container) => ({ container, task: byId.get(container.id), name: containerName(container) }));
}

/** One container by full ID, name or unique ID prefix ("No such container: X" otherwise). */
export async function findContainer(rc: RuntimeClients, input: string): Promise<ContainerInfo> {
  const { containers } = await unary(rc.containers, rc.containers.list, { filters: [] });
  const container = resolveContainer(containers, input);
  return { container, task: await getTask(rc, container.id), name: containerName(container) };
}

export async function getTask(rc: RuntimeClients, id: string): Promise<Process | undefined> {
  try {
    return (await unary(rc.tasks, rc.tasks.get, { containerId: id, execId: '' })).process;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Sets (or, with '', removes) ctrctl's state labels of a container. */
export async function setLabels(rc: RuntimeClients, id: string, labels: Record<string, string>): Promise<void> {
  await unary(rc.containers, rc.containers.update, {
    container: {
      id,
      labels,
      image: '',
      runtime: undefined,
      spec: undefined,
      snapshotter: '',
      snapshotKey: '',
      createdAt: undefined,
      updatedAt: undefined,
      extensions: {},
    },
    updateMask: Object.keys(labels).map((k) => `labels.${k}`),
  });
}

/** A start by hand: the restart count begins again, and a stop by hand no longer holds. */
export const recordStart = (rc: RuntimeClients, id: string, at = new Date()) =>
  setLabels(rc, id, { ...startLabels(at), [restartLabels.count]: '', [restartLabels.explicitlyStopped]: '' });

/** A stop by hand, recorded before the signal: the restart monitor leaves the container stopped. */
export const recordStopByHand = (rc: RuntimeClients, id: string) => setLabels(rc, id, { [restartLabels.explicitlyStopped]: 'true' });

export const recordExit = (rc: RuntimeClients, id: string, code: number, at: Date | undefined) => setLabels(rc, id, exitLabels(code, at));
