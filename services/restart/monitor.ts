// The restart monitor: carries out containers' restart policies (containerd's restart labels, docker's
// policies) inside the daemon, so a container comes back whether or not any client is watching. An init
// exit schedules a restart after a backoff (100 ms, doubled on every restart in a row, at most a minute,
// back to 100 ms once a run lasted 10 s); on daemon start every container a policy wants running and that is
// not is restarted, as docker restores its containers.
import { TaskExit } from '../../gen/containerd/events/task.js';
import { Status } from '../../gen/containerd/v1/types/task.js';
import { exitLabels, startLabels, stateLabels } from '../../lib/container-labels.js';
import { isNotFound } from '../../lib/errdefs.js';
import type { Logger } from '../../lib/log.js';
import { createAndStartTask } from '../../lib/container-task.js';
import { policyOf, restartCountOf, restartLabels, wantsRestart, type RestartPolicy } from '../../lib/restart-policy.js';
import type { ContainerEvents } from '../containers/grpc.js';
import type { ContainerStore } from '../containers/store.js';
import type { Container } from '../containers/types.js';
import type { Exchange } from '../events/exchange.js';
import type { NamespaceStore } from '../namespaces/store.js';
import type { SnapshotStore } from '../snapshots/store.js';
import type { ShimManager } from '../tasks/shim-manager.js';

const firstDelayMs = 100;
const maxDelayMs = 60_000;
/** A run at least this long was a success of sorts: the next restart waits the first delay again. */
const resetAfterMs = 10_000;

interface Pending {
  timer: NodeJS.Timeout | undefined;
  delayMs: number;
  startedAt: number;
}

const key = (ns: string, id: string) => `${ns}/${id}`;

export class RestartMonitor {
  private readonly pending = new Map<string, Pending>();
  private readonly abort = new AbortController();
  /** One restart at a time per container; the chain is awaited by close(). */
  private readonly running = new Map<string, Promise<void>>();

  constructor(
    private readonly namespaces: NamespaceStore,
    private readonly containers: ContainerStore,
    private readonly containerEvents: ContainerEvents,
    private readonly snapshots: SnapshotStore,
    private readonly shims: ShimManager,
    private readonly exchange: Exchange,
    private readonly log: Logger,
  ) {}

  /** Watches init exits from now on, and restores what the policies want running. */
  async start(): Promise<void> {
    void this.watch();
    for (const ns of this.namespaces.list()) {
      for (const c of this.containers.list(ns.name, [])) {
        await this.restore(ns.name, c).catch((err: unknown) => this.log.error({ err, ns: ns.name, id: c.id }, 'restoring a container with a restart policy'));
      }
    }
  }

  async close(): Promise<void> {
    this.abort.abort();
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
    await Promise.allSettled(this.running.values());
  }

  private async watch(): Promise<void> {
    try {
      for await (const env of this.exchange.subscribe(['topic=="/tasks/exit"'], this.abort.signal)) {
        let exit: TaskExit;
        try {
          exit = TaskExit.decode(env.event.value);
        } catch (err) {
          this.log.warn({ err, ns: env.namespace }, 'an exit event that does not decode');
          continue;
        }
        // Exits of exec'd processes are not the container's.
        if (exit.id && exit.id !== exit.containerId) continue;
        this.onExit(env.namespace, exit.containerId, exit.exitStatus, false);
      }
    } catch (err) {
      if (!this.abort.signal.aborted) this.log.error({ err }, 'the restart monitor lost its event subscription');
    }
  }

  /** After a daemon start: a container whose policy wants it running and whose task is not, restarts. */
  private async restore(ns: string, c: Container): Promise<void> {
    const policy = this.policy(ns, c);
    if (policy.name === 'no') return;
    let exitStatus: number;
    try {
      const state = await this.shims.get(ns, c.id).state();
      if (state.status !== Status.STOPPED) return;
      exitStatus = state.exitStatus;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const recorded = c.labels[stateLabels.exitCode];
      // Never started, or started and deleted by a client without an exit on record: nothing to restore.
      if (recorded === undefined || recorded === '') return;
      exitStatus = Number(recorded);
    }
    this.onExit(ns, c.id, exitStatus, true);
  }

  private policy(ns: string, c: Container): RestartPolicy {
    try {
      return policyOf(c.labels);
    } catch (err) {
      this.log.warn({ err, ns, id: c.id }, 'a restart policy label that does not parse; treated as no');
      return { name: 'no' };
    }
  }

  private onExit(ns: string, id: string, exitStatus: number, daemonStart: boolean): void {
    let c: Container;
    try {
      c = this.containers.get(ns, id);
    } catch (err) {
      if (!isNotFound(err)) this.log.error({ err, ns, id }, 'reading a container after its exit');
      else this.pending.delete(key(ns, id));
      return;
    }
    const policy = this.policy(ns, c);
    const k = key(ns, id);
    // Not restarted: its backoff is forgotten (a start by hand begins again from the first delay, as docker).
    if (!wantsRestart(policy, c.labels, exitStatus, daemonStart)) {
      this.pending.delete(k);
      return;
    }
    const p = this.pending.get(k) ?? { timer: undefined, delayMs: 0, startedAt: 0 };
    clearTimeout(p.timer);
    const ranMs = Date.now() - p.startedAt;
    p.delayMs = p.delayMs === 0 || ranMs >= resetAfterMs ? firstDelayMs : Math.min(p.delayMs * 2, maxDelayMs);
    this.log.info({ ns, id, exitStatus, policy: policy.name, delayMs: p.delayMs }, 'restarting the container after its exit');
    p.timer = setTimeout(() => {
      p.timer = undefined;
      const previous = this.running.get(k) ?? Promise.resolve();
      const next = previous.then(() => this.restart(ns, id, exitStatus, daemonStart, p));
      this.running.set(k, next);
      void next.finally(() => {
        if (this.running.get(k) === next) this.running.delete(k);
      });
    }, p.delayMs);
    this.pending.set(k, p);
  }

  /** The stopped task deleted (its exit kept in the labels), a new one made from the same stdio and started. */
  private async restart(ns: string, id: string, exitStatus: number, daemonStart: boolean, p: Pending): Promise<void> {
    if (this.abort.signal.aborted) return;
    const log = this.log.child({ ns, id });
    try {
      // Looked at again: the person may have stopped, started or removed it meanwhile.
      let c = this.containers.get(ns, id);
      if (!wantsRestart(this.policy(ns, c), c.labels, exitStatus, daemonStart)) {
        this.pending.delete(key(ns, id));
        return;
      }
      try {
        const shim = this.shims.get(ns, id);
        const state = await shim.state();
        if (state.status !== Status.STOPPED) return;
        const res = await this.shims.delete(ns, id);
        c = this.setLabels(ns, c, exitLabels(res.exitStatus, res.exitedAt));
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      const container = c;
      await createAndStartTask(
        {
          mounts: async (snapshotter, key) => (key ? this.snapshots.mounts(ns, snapshotter, key) : []).map((m) => ({ ...m, target: '' })),
          create: async (_id, rootfs, io) => void (await this.shims.create(ns, container, rootfs, io, undefined)),
          start: async () => (await this.shims.get(ns, id).start('')).pid,
          remove: async () => void (await this.shims.delete(ns, id).catch((e: unknown) => log.warn({ err: e }, 'deleting a task that did not start'))),
        },
        container,
      );
      p.startedAt = Date.now();
      this.setLabels(ns, c, {
        ...startLabels(new Date(p.startedAt)),
        [restartLabels.count]: String(restartCountOf(c.labels) + 1),
        // A restore after a daemon start brings a stopped `always` container back: it is no longer stopped by hand.
        [restartLabels.explicitlyStopped]: '',
      });
      log.info({ count: restartCountOf(c.labels) + 1 }, 'container restarted');
    } catch (err) {
      if (isNotFound(err)) {
        this.pending.delete(key(ns, id)); // removed meanwhile: its backoff goes with it
        return;
      }
      log.error({ err }, 'restarting the container failed; its policy is not tried again until it exits next');
    }
  }

  /** Sets (or, with '', removes) the given labels only, leaving any a client set meanwhile. */
  private setLabels(ns: string, c: Container, labels: Record<string, string>): Container {
    const updated = this.containers.update(ns, { id: c.id, labels }, Object.keys(labels).map((k) => `labels.${k}`));
    this.containerEvents.updated(ns, updated);
    return updated;
  }
}
