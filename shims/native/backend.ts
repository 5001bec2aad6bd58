// The native backend: the shim runs the container itself. The addon clones the init from this process
// (spawn.ts), it joins the cgroup made here (cgroups/manager.ts) before it goes on, sets itself up, and
// waits before execve until Start; exec processes join the init's namespaces and cgroup. No runtime binary
// runs, so a start costs a clone, not a runc.
import fs from 'node:fs';
import { failedPrecondition, invalidArgument, notFound, wrap } from '../../lib/errdefs.js';
import { readBundleSpec, type Backend, type BackendCreate, type BackendExec, type BundleSpec } from '../backend.js';
import { Cgroup, type LinuxResources } from '../cgroups/manager.js';
import type { ShimLogger } from '../log.js';
import type { ChildStdio } from '../stdio.js';
import { compileSeccompProfile } from './seccomp.js';
import { spawnExec, spawnInit, type SpawnedProcess, type SpawnOptions } from './spawn.js';

/** The cgroup of a container: the spec's, else /<namespace>/<id> (what ctr and containerd's CRI name too). */
function cgroupsPathOf(spec: BundleSpec, namespace: string, id: string): string {
  const cg = spec.linux?.cgroupsPath;
  return typeof cg === 'string' && cg !== '' ? cg : `/${namespace}/${id}`;
}

export class NativeRuntime implements Backend {
  private init: SpawnedProcess | undefined;
  private initPid = 0;
  private cgroup: Cgroup | undefined;
  private seccomp: Buffer | undefined;

  constructor(private readonly o: { namespace: string; log: ShimLogger }) {}

  async create(req: BackendCreate): Promise<void> {
    const spec = req.spec;
    this.seccomp = compileSeccompProfile(spec.linux?.seccomp as never);
    const cgroupsPath = cgroupsPathOf(spec, this.o.namespace, req.id);
    if (cgroupsPath.includes(':')) throw invalidArgument(`linux.cgroupsPath "${cgroupsPath}": systemd cgroup paths (slice:prefix:name) are not supported by the native backend`);
    const t0 = performance.now();
    const cgroup = Cgroup.create(cgroupsPath, spec.linux?.resources as LinuxResources | undefined);
    const t1 = performance.now();
    let p: SpawnedProcess | undefined;
    try {
      p = spawnInit(spec as never, req.bundle, { ...spawnStdio(req.stdio), seccomp: this.seccomp, noPivotRoot: req.noPivotRoot });
      const t2 = performance.now();
      cgroup.join(p.pid);
      p.proceed();
      await p.ready();
      this.o.log.info({ ms: { cgroup: t1 - t0, spawn: t2 - t1, ready: performance.now() - t2 } }, 'native create');
    } catch (err) {
      if (p) {
        killQuietly(p.pid);
        p.close();
      }
      await cgroup.killAll();
      await cgroup.destroy().catch((e: unknown) => this.o.log.warn({ err: e }, 'cannot remove the cgroup of a failed create'));
      throw err;
    }
    fs.writeFileSync(req.pidFile, String(p.pid));
    this.init = p;
    this.initPid = p.pid;
    this.cgroup = cgroup;
  }

  async start(): Promise<void> {
    const init = this.init;
    if (!init) throw failedPrecondition('the container was not created, or has started already');
    this.init = undefined;
    try {
      await init.release();
    } finally {
      init.close();
    }
  }

  async kill(_id: string, signal: number, all: boolean): Promise<void> {
    const procs = this.created().procs();
    // The init's pid only while it is in the cgroup: once reaped, the number may be another process's.
    if (!all && !procs.includes(this.initPid)) throw notFound('process already finished: no such process');
    const pids = all ? procs : [this.initPid];
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ESRCH') {
          if (!all) throw notFound('process already finished: no such process', err);
          continue;
        }
        throw wrap(err, `kill ${pid}`);
      }
    }
  }

  async delete(): Promise<void> {
    this.init?.close();
    this.init = undefined;
    const cgroup = this.cgroup;
    if (!cgroup) return;
    await cgroup.killAll();
    await cgroup.destroy();
    this.cgroup = undefined;
  }

  async exec(req: BackendExec): Promise<void> {
    const cgroup = this.created();
    let proc: Record<string, unknown>;
    try {
      proc = JSON.parse(fs.readFileSync(req.processFile, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw invalidArgument(`exec process spec: ${(err as Error).message}`, err);
    }
    const p = spawnExec(this.initPid, proc as never, { ...spawnStdio(req.stdio), seccomp: this.seccomp });
    try {
      cgroup.join(p.pid);
      p.proceed();
      await p.ready();
      await p.release();
    } catch (err) {
      killQuietly(p.pid);
      throw err;
    } finally {
      p.close();
    }
    fs.writeFileSync(req.pidFile, String(p.pid));
  }

  async pause(): Promise<void> {
    await this.created().freeze(true);
  }

  async resume(): Promise<void> {
    await this.created().freeze(false);
  }

  async update(_id: string, resources: string): Promise<void> {
    let r: LinuxResources;
    try {
      r = JSON.parse(resources) as LinuxResources;
    } catch (err) {
      throw invalidArgument(`update: resources are not JSON: ${(err as Error).message}`, err);
    }
    this.created().apply(r);
  }

  async pids(): Promise<number[]> {
    return this.created().procs();
  }

  private created(): Cgroup {
    if (!this.cgroup) throw failedPrecondition('the container was not created');
    return this.cgroup;
  }
}

/** What `<shim> delete` does for a dead shim's native container: everything in its cgroup dies, the cgroup goes. */
export async function deleteNative(bundle: string, namespace: string, id: string): Promise<void> {
  const cgroup = Cgroup.create(cgroupsPathOf(readBundleSpec(bundle), namespace, id), undefined);
  await cgroup.killAll();
  await cgroup.destroy();
}

function spawnStdio(stdio: ChildStdio): Pick<SpawnOptions, 'stdio' | 'consoleSocket'> {
  const fd = (f: number | 'ignore') => (f === 'ignore' ? 'null' : f);
  return { stdio: [fd(stdio.stdio[0]), fd(stdio.stdio[1]), fd(stdio.stdio[2])], consoleSocket: stdio.consoleSocket };
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}
