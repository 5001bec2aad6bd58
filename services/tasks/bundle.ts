// A task's bundle, as containerd's runtime v2 lays it out: `<state>/io.containerd.runtime.v2.task/<ns>/<id>`
// holds config.json, rootfs/ (the shim mounts the task's rootfs there), the `log` FIFO the shim writes its
// log to, `work` (a link to the task's directory under root) and, once the shim runs, its `address` and
// `shim-binary-path`. Everything a restarted daemon needs to find the shim again is in it.
//
// Removal goes by rename first: a bundle whose name starts with ".deleted-" belongs to a task already
// deleted, so a crash in the middle of removing it never brings the task back.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { CtrdError } from '../../lib/errdefs.js';
import type { Logger } from '../../lib/log.js';
import { detachMountsUnder } from '../diff/mounts.js';
import { native } from '../../lib/native.js';
import { runCaptured, type Captured } from '../../lib/process.js';

export const runtimeDir = 'io.containerd.runtime.v2.task';
const deletedPrefix = '.deleted-';

export interface ShimCommand {
  /** The shim binary. */
  binary: string;
  ns: string;
  id: string;
  /** The daemon's gRPC socket; the shim's events go to `<address>.ttrpc`. */
  grpcAddress: string;
  publishBinary: string;
}

// runc lives in /usr/sbin, which a daemon started from a plain user PATH may not have.
export const searchPath = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].filter(
  (d, i, all) => d !== '' && all.indexOf(d) === i,
);

export class Bundle {
  constructor(
    readonly path: string,
    /** The task's directory under the daemon's root, which `work` links to. */
    readonly workDir: string,
  ) {}

  static at(state: string, root: string, ns: string, id: string): Bundle {
    return new Bundle(path.join(state, runtimeDir, ns, id), path.join(root, runtimeDir, ns, id));
  }

  /** Makes the directories, config.json and the `work` link; throws already-exists if the bundle is there. */
  create(spec: Uint8Array): void {
    fs.mkdirSync(path.dirname(this.path), { recursive: true, mode: 0o711 });
    try {
      fs.mkdirSync(this.path, { mode: 0o711 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new CtrdError('already-exists', `bundle ${this.path} already exists`);
      throw err;
    }
    fs.mkdirSync(path.join(this.path, 'rootfs'), { mode: 0o711 });
    fs.writeFileSync(path.join(this.path, 'config.json'), spec);
    fs.mkdirSync(this.workDir, { recursive: true, mode: 0o711 });
    fs.symlinkSync(this.workDir, path.join(this.path, 'work'));
  }

  file(name: string): string {
    return path.join(this.path, name);
  }

  read(name: string): string | undefined {
    try {
      return fs.readFileSync(this.file(name), 'utf8').trim();
    } catch {
      return undefined;
    }
  }

  /**
   * Renames the bundle out of the way (a crash after this never revives the task) and returns it under
   * its new name, for remove() once its shim is gone. A running shim does not mind: its cwd moves with it.
   */
  retire(): Bundle {
    if (!fs.existsSync(this.path) || path.basename(this.path).startsWith(deletedPrefix)) return this;
    const doomed = path.join(path.dirname(this.path), `${deletedPrefix}${path.basename(this.path)}-${randomBytes(4).toString('hex')}`);
    fs.renameSync(this.path, doomed);
    return new Bundle(doomed, this.workDir);
  }

  /** Unmounts what is left mounted in it, then removes it and its work dir. */
  remove(log: Logger): void {
    if (fs.existsSync(this.path)) {
      // The shim unmounts the rootfs on Delete; should it not have, nothing is removed through a mount.
      if (!detachMountsUnder(this.path, log)) return;
      fs.rmSync(this.path, { recursive: true, force: true });
    }
    removeWork(this.workDir, log);
  }

  /** The bundles under the state dir, by namespace; leftovers of interrupted removals are finished off. */
  static list(state: string, root: string, log: Logger): Bundle[] {
    const base = path.join(state, runtimeDir);
    const found: Bundle[] = [];
    for (const ns of readdir(base)) {
      const names = readdir(path.join(base, ns));
      const live = new Set(names.filter((n) => !n.startsWith(deletedPrefix)));
      for (const name of names) {
        if (live.has(name)) {
          found.push(Bundle.at(state, root, ns, name));
          continue;
        }
        // `.deleted-<id>-<8 hex>`: its work dir goes too, unless a newer task of the same id uses it.
        const id = name.slice(deletedPrefix.length, -9);
        new Bundle(path.join(base, ns, name), live.has(id) ? '' : path.join(root, runtimeDir, ns, id)).remove(log);
      }
    }
    return found;
  }
}

function readdir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function removeWork(dir: string, log: Logger): void {
  if (!dir) return;
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch (err) {
    log.warn({ err, dir }, 'cannot remove the task work dir');
  }
}

/**
 * The shim dup2's the `log` FIFO over its stderr and will not start without it. The daemon keeps a reader
 * open (O_RDWR, so it never sees EOF) and logs each line; a restarted daemon reopens it.
 */
export function openLogFifo(bundle: Bundle, log: Logger): net.Socket {
  const file = bundle.file('log');
  if (!fs.existsSync(file)) native().mknod(file, fs.constants.S_IFIFO | 0o600, 0, 0);
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  const reader = new net.Socket({ fd, readable: true, writable: false });
  let pending = '';
  reader.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) log.info({ shim: line }, 'shim log');
  });
  reader.on('error', (err) => log.debug({ err }, 'shim log reader'));
  return reader;
}

/** Runs `<shim> ... <action>` in the bundle, containerd's way; resolves with its stdout. */
async function runShim(cmd: ShimCommand, bundle: Bundle, action: 'start' | 'delete', stdin: Buffer, timeoutMs: number): Promise<Buffer> {
  const args = ['-namespace', cmd.ns, '-address', cmd.grpcAddress, '-publish-binary', cmd.publishBinary, '-id', cmd.id];
  if (action === 'delete') args.push('-bundle', bundle.path);
  args.push(action);
  const env = { ...process.env, PATH: searchPath.join(':'), TTRPC_ADDRESS: `${cmd.grpcAddress}.ttrpc`, GOMAXPROCS: '2' };
  let r: Captured;
  try {
    r = await runCaptured(cmd.binary, args, { env, cwd: bundle.path, input: stdin, timeoutMs });
  } catch (e) {
    throw new CtrdError('unavailable', `shim ${cmd.binary} ${action}: ${(e as Error).message}`, { cause: e });
  }
  if (r.code === 0) return r.stdout;
  const text = Buffer.concat([r.stdout, r.stderr]).toString('utf8').trim();
  throw new CtrdError('unavailable', `shim ${cmd.binary} ${action} exited ${r.code ?? r.signal}${text ? `: ${text}` : ''}`);
}

/** `<shim> start`: the shim daemonizes and prints its ttrpc address. stdin carries the runtime options Any. */
export async function startShim(cmd: ShimCommand, bundle: Bundle, options: Buffer): Promise<string> {
  const out = await runShim(cmd, bundle, 'start', options, 20_000);
  const text = out.toString('utf8').trim();
  if (!text.startsWith('unix://') && !text.startsWith('/')) throw new CtrdError('unavailable', `shim ${cmd.binary} printed no address: ${text}`);
  return text;
}

/** `<shim> delete`, for a shim that is gone: it cleans what the dead shim left and prints a DeleteResponse. */
export function shimDelete(cmd: ShimCommand, bundle: Bundle): Promise<Buffer> {
  return runShim(cmd, bundle, 'delete', Buffer.alloc(0), 30_000);
}
