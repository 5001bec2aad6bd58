// Shims shared by several tasks. containerd runs a pod's tasks in one shim (the sandbox annotations); ctrd
// does the same, and by default runs every task of a namespace in one ctrd shim ([runtimes] `group`), so a
// task costs no process of its own and a start costs no shim start. The first task of a group runs
// `<shim> start`; the next ones are handed the same address, as containerd hands a pod's containers the
// sandbox's shim. An emptied shim is kept `idle_timeout` seconds for the next task, then shut down.
import fs from 'node:fs';
import { ShutdownRequest } from '../../gen/containerd/task/v2/shim.js';
import { Empty } from '../../gen/google/protobuf/empty.js';
import type { ShimGrouping } from '../../daemon/config.js';
import type { Logger } from '../../lib/log.js';
import { waitGone } from '../../lib/process.js';
import { socketPath, TtrpcClient } from '../../lib/ttrpc/client.js';

const taskService = 'containerd.task.v2.Task';

/** The annotations that put tasks in one shim (containerd's CRI plugin and runc shim read the same). */
const groupAnnotations = ['io.kubernetes.cri.sandbox-id', 'io.containerd.runc.v2.group'];

/** The group of a task, or undefined when it gets a shim of its own. */
export function groupKey(grouping: ShimGrouping, ns: string, binary: string, annotations: Record<string, string>): string | undefined {
  if (grouping === 'container') return undefined;
  const pod = groupAnnotations.map((a) => annotations[a]).find((v) => v !== undefined && v !== '');
  if (pod !== undefined) return `${ns}\0${binary}\0pod\0${pod}`;
  return grouping === 'namespace' ? `${ns}\0${binary}` : undefined;
}

interface Shared {
  address: string;
  shimPid: number;
  /** Tasks on it, those being created included. */
  tasks: number;
  idle: NodeJS.Timeout | undefined;
}

export class ShimGroups {
  private readonly shared = new Map<string, Shared>();
  private readonly starting = new Map<string, Promise<string>>();

  constructor(private readonly log: Logger) {}

  /**
   * The address of the group's shim for one more task: the live one, or the one `start` makes (once,
   * however many tasks wait for it). Every acquire is paired with a release.
   */
  async acquire(key: string, start: () => Promise<string>): Promise<{ address: string; started: boolean }> {
    const live = this.shared.get(key);
    if (live) {
      live.tasks++;
      if (live.idle) clearTimeout(live.idle);
      live.idle = undefined;
      return { address: live.address, started: false };
    }
    const pending = this.starting.get(key);
    if (pending) {
      await pending;
      return this.acquire(key, start);
    }
    const starting = start();
    this.starting.set(key, starting);
    try {
      const address = await starting;
      this.shared.set(key, { address, shimPid: 0, tasks: 1, idle: undefined });
      return { address, started: true };
    } finally {
      this.starting.delete(key);
    }
  }

  /** The shim's pid, once Connect told it. */
  connected(key: string, address: string, shimPid: number): void {
    const s = this.shared.get(key);
    if (s?.address === address) s.shimPid = shimPid;
  }

  /** A task found on a running shim after a restart. */
  adopt(key: string, address: string, shimPid: number): void {
    const s = this.shared.get(key);
    if (s && s.address === address) s.tasks++;
    else if (!s) this.shared.set(key, { address, shimPid, tasks: 1, idle: undefined });
  }

  /**
   * A task of the group is gone. Once none is left the shim is shut down: at once (idleSeconds 0; the
   * promise waits for it) or once it has stayed unused that long.
   */
  async release(key: string, address: string, idleSeconds: number): Promise<void> {
    const s = this.shared.get(key);
    if (!s || s.address !== address) return;
    s.tasks--;
    if (s.tasks > 0) return;
    const go = async () => {
      if (this.shared.get(key) !== s || s.tasks > 0) return;
      this.shared.delete(key);
      await shutdownShim(s.address, s.shimPid, this.log);
    };
    if (idleSeconds === 0) return go();
    s.idle = setTimeout(() => void go(), idleSeconds * 1000);
    s.idle.unref();
  }

  /** The group's shim died: the next task starts a new one. */
  forget(key: string, address: string): void {
    if (this.shared.get(key)?.address === address) this.shared.delete(key);
  }

  /** The daemon stops: idle shims go now (nobody would hand them a task); busy ones outlive the daemon. */
  async closeIdle(): Promise<void> {
    const idle = [...this.shared.entries()].filter(([, s]) => s.tasks === 0);
    await Promise.all(
      idle.map(([key, s]) => {
        if (s.idle) clearTimeout(s.idle);
        this.shared.delete(key);
        return shutdownShim(s.address, s.shimPid, this.log);
      }),
    );
  }
}

/** Shutdown over a fresh connection, then the process is waited for (killed if it stays), its socket removed. */
export async function shutdownShim(address: string, shimPid: number, log: Logger): Promise<void> {
  try {
    const client = await TtrpcClient.connect(address, { connectTimeoutMs: 2_000 });
    await client.unary(taskService, 'Shutdown', ShutdownRequest, Empty, { id: '', now: true }, { timeoutMs: 5_000 }).catch(() => undefined);
    await client.close();
  } catch (err) {
    log.debug({ err, address }, 'shim shutdown: cannot connect');
  }
  if (shimPid > 0 && !(await waitGone(shimPid, 10_000))) {
    log.warn({ pid: shimPid, address }, 'shim did not exit after Shutdown; killing it');
    try {
      process.kill(shimPid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
    await waitGone(shimPid, 5_000);
  }
  fs.rmSync(socketPath(address), { force: true });
}
