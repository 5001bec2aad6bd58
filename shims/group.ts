// The tasks one shim serves. containerd's runc shim serves one task, or a pod's tasks as a group; ctrd's
// shim serves whatever tasks its daemon hands it, each with its own TaskService, and goes when it has none
// left and is told to (Shutdown), or when it has been empty for a long while (its daemon went away).
import fs from 'node:fs';
import path from 'node:path';
import type { ConnectResponse, CreateTaskRequest } from '../gen/containerd/task/v2/shim.js';
import { alreadyExists, notFound } from '../lib/errdefs.js';
import { createShimLogger, type Level, type ShimLogger } from './log.js';
import { shimVersion, TaskService, type ServiceOptions } from './service.js';

/** How long an empty shim waits for a task (its first, or one more) before it exits on its own. */
const emptyTtlMs = 5 * 60_000;

export type GroupOptions = Omit<ServiceOptions, 'id' | 'log' | 'gone'> & {
  log: ShimLogger;
  logLevel: Level;
  /** Called once the shim has nothing to serve and should go. */
  exit: () => void;
  emptyTtlMs?: number;
};

class Member {
  service!: TaskService;
  /** The bundle's `log` FIFO, where this task's lines go (the daemon reads it with the task's ids); undefined once closed. */
  constructor(public logFd: number | undefined) {}
}

export class TaskGroup {
  private readonly members = new Map<string, Member>();
  private emptyTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: GroupOptions) {
    this.armEmptyTimer();
  }

  get size(): number {
    return this.members.size;
  }

  get(id: string): TaskService {
    const m = this.members.get(id);
    if (!m) throw notFound(`task ${id} not found`);
    return m.service;
  }

  async create(req: CreateTaskRequest): Promise<{ pid: number }> {
    if (this.members.has(req.id)) throw alreadyExists(`task ${req.id} already exists`);
    const logFd = openLogFifo(req.bundle);
    // Lines logged after the task is gone (a late exit) are dropped: its fd number may be another file's by then.
    const member = new Member(logFd);
    const log = logFd === undefined ? this.o.log.child({ id: req.id }) : createShimLogger({ level: this.o.logLevel, fd: () => member.logFd, bindings: { ns: this.o.namespace, id: req.id } });
    member.service = new TaskService({ ...this.o, id: req.id, log, gone: () => this.remove(req.id, member) });
    this.members.set(req.id, member);
    this.disarmEmptyTimer();
    try {
      return await member.service.create(req);
    } catch (err) {
      this.remove(req.id, member);
      throw err;
    }
  }

  connect(id: string): ConnectResponse {
    return { shimPid: process.pid, taskPid: this.members.get(id)?.service.taskPid ?? 0, version: shimVersion };
  }

  /** Shutdown: ignored while any task is left (containerd's runc shim does the same), else the shim goes. */
  shutdown(): void {
    if (this.members.size > 0) return;
    this.disarmEmptyTimer();
    setTimeout(() => this.o.exit(), 10);
  }

  private remove(id: string, member: Member): void {
    if (this.members.get(id) !== member) return;
    this.members.delete(id);
    if (member.logFd !== undefined) fs.closeSync(member.logFd);
    member.logFd = undefined;
    if (this.members.size === 0) this.armEmptyTimer();
  }

  /** A shim whose daemon went away (between `start` and Create, or for good) would serve nobody, for ever. */
  private armEmptyTimer(): void {
    this.disarmEmptyTimer();
    const ttl = this.o.emptyTtlMs ?? emptyTtlMs;
    this.emptyTimer = setTimeout(() => {
      if (this.members.size > 0) return;
      this.o.log.warn({}, `no task to serve for ${ttl / 1000} s: exiting`);
      this.o.exit();
    }, ttl);
    this.emptyTimer.unref();
  }

  private disarmEmptyTimer(): void {
    if (this.emptyTimer) clearTimeout(this.emptyTimer);
    this.emptyTimer = undefined;
  }
}

/**
 * The bundle's log FIFO, opened for writing without blocking: the daemon opened its reader before Create.
 * Non-blocking on purpose: a full FIFO loses a line rather than stalling every task of the shim.
 */
function openLogFifo(bundle: string): number | undefined {
  try {
    return fs.openSync(path.join(bundle, 'log'), fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  } catch {
    return undefined; // run by hand, or by a daemon that reads no log
  }
}
