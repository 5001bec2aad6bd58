// A RUN step's container, as docker's classic builder makes one: a container record on the step's snapshot
// (labelled as the build's, so a restarted daemon can remove what a crash left), a task through the default
// runtime's shim with its stdout and stderr on FIFOs the builder reads, the network the build asked for (the
// io.ctrd/network label: the task's network is set up and torn down by the network sandboxes), then the task
// and the record removed whatever happened. The snapshot is the caller's.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { once } from 'node:events';
import { emptyNetwork, networkLabelOf, defaultNetworkName, type ContainerNetwork } from '../../lib/container-network.js';
import { defaultSpec } from '../../lib/oci/default-spec.js';
import type { OciUser } from '../../lib/oci/spec.js';
import { native } from '../../lib/native.js';
import { isNotFound } from '../../lib/errdefs.js';
import type { Logger } from '../../lib/log.js';
import type { Mount } from '../diff/types.js';
import type { ContainerStore } from '../containers/store.js';
import type { ShimManager } from '../tasks/shim-manager.js';
import type { Shim } from '../tasks/shim.js';

/** Marks a build's step containers: the value is the build's ID. */
export const buildContainerLabel = 'io.ctrd/build';
const specTypeUrl = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
const sigkill = 9;
/** How long the output may still flow once the process is gone (whatever shared its stdout died with it). */
const drainMs = 5_000;

export type BuildNetwork = 'default' | 'none' | 'host';

export interface StepContainerRequest {
  ns: string;
  id: string;
  buildId: string;
  /** The image the build is on, for the record. */
  image: string;
  snapshotter: string;
  snapshotKey: string;
  rootfs: Mount[];
  args: string[];
  env: string[];
  cwd: string;
  user: OciUser;
  network: BuildNetwork;
  runtime: string;
  onOutput: (data: Buffer, fd: 1 | 2) => void;
  signal?: AbortSignal;
}

export class StepContainers {
  constructor(
    private readonly containers: ContainerStore,
    private readonly shims: ShimManager,
    /** Where each step's FIFOs are made. */
    private readonly fifoRoot: string,
    private readonly log: Logger,
  ) {
    // The FIFOs of steps a crash interrupted are nobody's.
    fs.rmSync(fifoRoot, { recursive: true, force: true });
  }

  /** Runs the step's command to its end; its exit status. An abort kills it, and throws once it is removed. */
  async run(r: StepContainerRequest): Promise<number> {
    const log = this.log.child({ ns: r.ns, id: r.id, build: r.buildId });
    const spec = defaultSpec(r.ns, r.id);
    spec.hostname = r.id.slice(0, 12);
    spec.process = { ...spec.process!, args: r.args, env: r.env, cwd: r.cwd, user: r.user };
    // docker's RUN gets no tmpfs on /run: what a step writes there is part of its layer.
    spec.mounts = (spec.mounts ?? []).filter((m) => m.destination !== '/run');
    this.containers.create(r.ns, {
      id: r.id,
      labels: { ...networkLabelOf(networkOf(r.network)), [buildContainerLabel]: r.buildId },
      image: r.image,
      runtime: { name: r.runtime },
      spec: { typeUrl: specTypeUrl, value: Buffer.from(JSON.stringify(spec)) },
      snapshotter: r.snapshotter,
      snapshotKey: r.snapshotKey,
    });
    const dir = path.join(this.fifoRoot, r.ns, r.id);
    let shim: Shim | undefined;
    let exited = false;
    let outputs: OutputFifos | undefined;
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      outputs = new OutputFifos(dir, r.onOutput);
      r.signal?.throwIfAborted();
      shim = (await this.shims.create(r.ns, this.containers.get(r.ns, r.id), r.rootfs.map((m) => ({ type: m.type, source: m.source, target: '', options: [...m.options] })), { stdin: '', stdout: outputs.stdout, stderr: outputs.stderr, terminal: false }, undefined)).shim;
      // The shim holds the writers now: their EOF is the end of the output.
      outputs.release();
      await shim.start();
      const status = await waitOrKill(shim, r.signal);
      exited = true;
      await outputs.drained(drainMs);
      r.signal?.throwIfAborted();
      return status;
    } finally {
      outputs?.close();
      if (shim) {
        if (!exited) await waitOrKill(shim, AbortSignal.abort()).catch(() => undefined);
        await this.shims.delete(r.ns, r.id).catch((err: unknown) => {
          if (!isNotFound(err)) log.error({ err }, 'cannot delete the task of a build step');
        });
      }
      try {
        this.containers.delete(r.ns, r.id);
      } catch (err) {
        if (!isNotFound(err)) log.error({ err }, 'cannot remove the container of a build step');
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Removes the step containers a crashed build left: their tasks, then their records. Their snapshots are GC's. */
  async removeLeftovers(ns: string): Promise<number> {
    const left = this.containers.list(ns, [`labels."${buildContainerLabel}"`]);
    for (const c of left) {
      if (this.shims.has(ns, c.id)) {
        const shim = this.shims.get(ns, c.id);
        await waitOrKill(shim, AbortSignal.abort()).catch(() => undefined);
        await this.shims.delete(ns, c.id).catch((err: unknown) => this.log.error({ err, ns, id: c.id }, 'cannot delete a left build step task'));
      }
      this.containers.delete(ns, c.id);
      this.log.info({ ns, id: c.id, build: c.labels[buildContainerLabel] }, 'removed the container of an interrupted build');
    }
    return left.length;
  }
}

function networkOf(mode: BuildNetwork): ContainerNetwork {
  if (mode === 'default') return { ...emptyNetwork('networks'), networks: [{ name: defaultNetworkName, aliases: [] }] };
  return emptyNetwork(mode);
}

/** The exit status; when the signal is (or gets) aborted, the process is killed first. */
async function waitOrKill(shim: Shim, signal: AbortSignal | undefined): Promise<number> {
  if (signal && !signal.aborted) {
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return (await shim.wait('', stop.signal)).exitStatus;
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
  await shim.kill(sigkill, true).catch(() => undefined);
  return (await shim.wait('')).exitStatus;
}

/**
 * stdout and stderr FIFOs read by the builder. Each is opened for reading, and for writing until the shim has
 * opened its end (release), so that the reader sees EOF only once the shim closed it: then all was read.
 */
class OutputFifos {
  readonly stdout: string;
  readonly stderr: string;
  private readonly readers: net.Socket[] = [];
  private readonly holders: number[] = [];
  private readonly ended: Array<Promise<unknown>> = [];

  constructor(dir: string, onOutput: (data: Buffer, fd: 1 | 2) => void) {
    this.stdout = path.join(dir, 'stdout');
    this.stderr = path.join(dir, 'stderr');
    for (const [file, fd] of [[this.stdout, 1], [this.stderr, 2]] as const) {
      native().mknod(file, fs.constants.S_IFIFO | 0o600, 0, 0);
      const rfd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      this.holders.push(fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
      const reader = new net.Socket({ fd: rfd, readable: true, writable: false });
      reader.on('data', (chunk: Buffer) => onOutput(chunk, fd));
      reader.on('error', () => undefined);
      this.ended.push(once(reader, 'close').catch(() => undefined));
      this.readers.push(reader);
    }
  }

  release(): void {
    for (const fd of this.holders.splice(0)) fs.closeSync(fd);
  }

  /** Resolves once both readers reached EOF, or after ms. */
  async drained(ms: number): Promise<void> {
    this.release();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.ended), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }

  close(): void {
    this.release();
    for (const r of this.readers) r.destroy();
  }
}
