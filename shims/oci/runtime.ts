// The oci backend: runc or crun through the OCI runtime command line (runc's go-runc does the same):
// `<binary> --root R --log <bundle>/log.json --log-format json <command> ...`. A failure carries the
// runtime's own words, from its JSON log or its stderr.
import fs from 'node:fs';
import path from 'node:path';
import { CtrdError } from '../../lib/errdefs.js';
import type { Backend, BackendCreate, BackendExec } from '../backend.js';
import { runCommand, type CommandResult } from '../command.js';
import type { ShimLogger } from '../log.js';
import type { Reaper } from '../reaper.js';
import type { ChildStdio } from '../stdio.js';

export interface OciRuntimeOptions {
  /** runc, crun, or a path. */
  binary: string;
  /** The runtime's state root (--root). */
  root: string;
  /** Its JSON log (--log), read back for error messages. */
  logFile: string;
  /** Run the runtime in a private mount namespace without /sys/fs/cgroup/unified (crun on hybrid hosts). */
  hideUnifiedCgroup: boolean;
}

/** cgroup v1 controllers next to a v2 hierarchy at /sys/fs/cgroup/unified: crun refuses such a host. */
export function isHybridCgroups(): boolean {
  const fsType = (mountPoint: string) => {
    for (const line of fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
      const f = line.split(' ');
      if (f[1] === mountPoint) return f[2];
    }
    return undefined;
  };
  return fsType('/sys/fs/cgroup') !== 'cgroup2' && fsType('/sys/fs/cgroup/unified') === 'cgroup2';
}

/** Whether the runtime binary is crun (which refuses hybrid cgroups). */
export function isCrun(binary: string): boolean {
  return path.basename(binary) === 'crun';
}

export class OciRuntime implements Backend {
  constructor(
    private readonly opts: OciRuntimeOptions,
    private readonly reaper: Reaper,
    private readonly log: ShimLogger,
  ) {}

  async create(req: BackendCreate): Promise<void> {
    const args = ['create', '--bundle', req.bundle, '--pid-file', req.pidFile];
    if (req.stdio.consoleSocket) args.push('--console-socket', req.stdio.consoleSocket);
    if (req.noPivotRoot) args.push('--no-pivot');
    if (req.noNewKeyring) args.push('--no-new-keyring');
    await this.run([...args, req.id], { stdio: req.stdio, cwd: req.bundle });
  }

  async start(id: string): Promise<void> {
    await this.run(['start', id]);
  }

  async kill(id: string, signal: number, all: boolean): Promise<void> {
    await this.run(['kill', ...(all ? ['--all'] : []), id, String(signal)]);
  }

  async delete(id: string, force: boolean): Promise<void> {
    await this.run(['delete', ...(force ? ['--force'] : []), id]);
  }

  async exec(req: BackendExec): Promise<void> {
    const args = ['exec', '--process', req.processFile, '--detach', '--pid-file', req.pidFile];
    if (req.stdio.consoleSocket) args.push('--console-socket', req.stdio.consoleSocket);
    await this.run([...args, req.id], { stdio: req.stdio });
  }

  async pause(id: string): Promise<void> {
    await this.run(['pause', id]);
  }

  async resume(id: string): Promise<void> {
    await this.run(['resume', id]);
  }

  async update(id: string, resources: string): Promise<void> {
    // A file, not `-`: crun opens /dev/stdin, which a socket (Node's stdio pipes) cannot be opened as.
    const file = path.join(path.dirname(this.opts.logFile), `update-${process.hrtime.bigint()}.json`);
    fs.writeFileSync(file, resources, { mode: 0o600 });
    try {
      await this.run(['update', '--resources', file, id]);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }

  async pids(id: string): Promise<number[]> {
    const r = await this.run(['ps', '--format', 'json', id]);
    const parsed = JSON.parse(r.stdout.trim() || '[]') as unknown;
    return Array.isArray(parsed) ? parsed.filter((p): p is number => typeof p === 'number') : [];
  }

  private async run(args: string[], opts: { stdio?: ChildStdio; input?: string; cwd?: string } = {}): Promise<CommandResult> {
    const global = ['--root', this.opts.root, '--log', this.opts.logFile, '--log-format', 'json'];
    let command = this.opts.binary;
    let argv = [...global, ...args];
    if (this.opts.hideUnifiedCgroup) {
      // A private mount namespace (unshare -m makes everything private) where the v2 hierarchy is gone:
      // the runtime sees pure cgroup v1 there, the host keeps its mounts.
      argv = ['-m', '--', '/bin/sh', '-c', 'umount /sys/fs/cgroup/unified && exec "$@"', 'sh', command, ...argv];
      command = 'unshare';
    }
    const logOffset = fileSize(this.opts.logFile);
    const stdio = opts.stdio?.stdio;
    const r = await runCommand(this.reaper, command, argv, {
      input: opts.input,
      cwd: opts.cwd,
      // The container inherits the runtime's stdio: never a pipe to us, whose 'close' would wait for it.
      stdio: stdio ? [...stdio] : undefined,
    });
    if (r.code !== 0) {
      const message = runtimeError(readFrom(this.opts.logFile, logOffset), r.stderr);
      this.log.warn({ args, code: r.code, message }, 'runtime command failed');
      const what = `${path.basename(this.opts.binary)} ${args[0]} failed`;
      // runc's own log lines already say "runc create failed: ...".
      throw new CtrdError('unknown', message.startsWith(what) ? message : `${what}: ${message || `exit status ${r.code}`}`);
    }
    return r;
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

function readFrom(file: string, offset: number): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      if (size <= offset) return '';
      const buf = Buffer.alloc(Math.min(size - offset, 64 * 1024));
      const n = fs.readSync(fd, buf, 0, buf.length, offset);
      return buf.subarray(0, n).toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

/** The error lines of a runtime's JSON log ({"level":"error","msg":...}), else its stderr. */
export function runtimeError(jsonLog: string, stderr: string): string {
  const messages: string[] = [];
  for (const line of jsonLog.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string; message?: string };
      const msg = entry.msg ?? entry.message;
      if (msg && (entry.level === 'error' || entry.level === 'fatal')) messages.push(msg);
    } catch {
      messages.push(line.trim());
    }
  }
  return sameWords(messages.length > 0 ? messages.join('; ') : stderr.trim());
}

/**
 * crun says "executable file `x` not found in $PATH"; runc (and so containerd's users) read `exec: "x":
 * executable file not found in $PATH`. Both words are kept, so either runtime's failure reads the same.
 */
function sameWords(message: string): string {
  const crun = /executable file `([^`]*)` not found in \$PATH/.exec(message);
  return crun ? `exec: "${crun[1]}": executable file not found in $PATH (${message})` : message;
}
