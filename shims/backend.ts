// What runs the container, behind one interface: the native backend (native/backend.ts) runs it from the
// shim itself through the addon; the oci backend drives runc or crun through the OCI runtime command line. The shim's
// task service owns the lifecycle, the stdio and the reaping; a backend only acts on the runtime.
import fs from 'node:fs';
import path from 'node:path';
import { invalidArgument } from '../lib/errdefs.js';
import type { ChildStdio } from './stdio.js';

export interface BackendCreate {
  id: string;
  bundle: string;
  /** The bundle's config.json, parsed (readBundleSpec): read once per create, for the service and the backend. */
  spec: BundleSpec;
  stdio: ChildStdio;
  /** Where the runtime writes the container's init pid. */
  pidFile: string;
  noPivotRoot: boolean;
  noNewKeyring: boolean;
}

export interface BackendExec {
  id: string;
  /** A file holding the OCI process spec (JSON). */
  processFile: string;
  stdio: ChildStdio;
  pidFile: string;
}

export interface Backend {
  /** Creates the container held before its user process; the init pid is then in pidFile. */
  create(req: BackendCreate): Promise<void>;
  start(id: string): Promise<void>;
  /** Signals the init (all: every process of the container). */
  kill(id: string, signal: number, all: boolean): Promise<void>;
  /** Removes the runtime's state and the container's cgroup; force kills what still runs. */
  delete(id: string, force: boolean): Promise<void>;
  /** Starts a process in the container, detached; its pid is then in pidFile. */
  exec(req: BackendExec): Promise<void>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  /** Applies OCI LinuxResources (JSON). */
  update(id: string, resources: string): Promise<void>;
  /** The pids in the container. */
  pids(id: string): Promise<number[]>;
}

/** The binary_name that picks the native backend (`ctr run --runc-binary native`), and the shim's default. */
export const nativeRuntimeName = 'native';

/** An OCI runtime spec as read from a bundle: the parts the shim looks at typed, the rest left to the backend. */
export interface BundleSpec {
  process?: Record<string, unknown>;
  linux?: { cgroupsPath?: unknown; resources?: unknown; seccomp?: unknown };
  [key: string]: unknown;
}

export function readBundleSpec(bundle: string): BundleSpec {
  try {
    return JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as BundleSpec;
  } catch (err) {
    throw invalidArgument(`bundle ${bundle}: cannot read config.json: ${(err as Error).message}`, err);
  }
}

/**
 * The runtime when the Create options name none (their binary_name: `ctr run --runc-binary runc|crun|native`):
 * the native backend, unless the shim's environment says CTRD_SHIM_RUNTIME (a wrapper script can pick runc
 * or crun for every task it serves).
 */
export function defaultRuntimeBinary(env: NodeJS.ProcessEnv = process.env): string {
  return env.CTRD_SHIM_RUNTIME || nativeRuntimeName;
}
