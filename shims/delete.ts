// `delete`: what the daemon runs when the shim died or cannot be reached (cwd = the bundle). The
// runtime's container is force-deleted, the rootfs unmounted, and a containerd.task.v2.DeleteResponse
// (exit status 137, now, the init pid) is what it prints.
import fs from 'node:fs';
import path from 'node:path';
import { DeleteResponse } from '../gen/containerd/task/v2/shim.js';
import { unmountAll } from '../services/diff/mounts.js';
import type { ShimFlags } from './flags.js';
import { createShimLogger } from './log.js';
import { defaultRuntimeBinary, nativeRuntimeName } from './backend.js';
import { isCrun, isHybridCgroups, OciRuntime } from './oci/runtime.js';
import { deleteNative } from './native/backend.js';
import { Reaper } from './reaper.js';
import { attachFileName, runtimeFileName, type RuntimeFile } from './service.js';
import { socketDir } from './address.js';

export async function deleteTask(flags: ShimFlags): Promise<Uint8Array> {
  const bundle = flags.bundle || process.cwd();
  const log = createShimLogger({ level: flags.debug ? 'debug' : 'warn', bindings: { ns: flags.namespace, id: flags.id, action: 'delete' } });
  let runtime: RuntimeFile = { binary: defaultRuntimeBinary(), root: path.join('/run/ctrd/runc', flags.namespace) };
  try {
    runtime = JSON.parse(fs.readFileSync(path.join(bundle, runtimeFileName), 'utf8')) as RuntimeFile;
  } catch {
    // never created: the defaults are where it would be
  }
  if (runtime.binary === nativeRuntimeName) {
    await deleteNative(bundle, flags.namespace, flags.id).catch((err: unknown) => log.warn({ err }, 'native delete'));
  } else {
    const reaper = new Reaper(log);
    const oci = new OciRuntime(
      { ...runtime, logFile: path.join(bundle, 'log.json'), hideUnifiedCgroup: isCrun(runtime.binary) && isHybridCgroups() },
      reaper,
      log,
    );
    await oci.delete(flags.id, true).catch((err: unknown) => log.warn({ err }, 'runtime delete'));
    reaper.close();
  }
  await unmountAll(path.join(bundle, 'rootfs'));
  removeAttachSockets(bundle);
  let pid = 0;
  try {
    pid = Number(fs.readFileSync(path.join(bundle, 'init.pid'), 'utf8').trim()) || 0;
  } catch {
    // no init was ever made
  }
  return DeleteResponse.encode({ pid, exitStatus: 137, exitedAt: new Date() }).finish();
}

/** The dead shim's attach sockets (named in the bundle's attach files), when they are the shims' sockets. */
function removeAttachSockets(bundle: string): void {
  for (const name of fs.readdirSync(bundle).filter((n) => n === attachFileName || n.startsWith(`${attachFileName}-`))) {
    try {
      const socket = fs.readFileSync(path.join(bundle, name), 'utf8').trim();
      if (path.dirname(socket) === socketDir) fs.rmSync(socket, { force: true });
    } catch {
      // gone meanwhile
    }
  }
}
