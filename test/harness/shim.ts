// A shim under test, started as the daemon starts it: a bundle (config.json from `runc spec`, a busybox
// rootfs given to Create as a bind mount, the `log` FIFO with a reader), a fake daemon events server on
// TTRPC_ADDRESS that records what the shim forwards, `<shim> ... start`, and a ttrpc client. cleanup()
// undoes it all and reports what it had to remove.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as taskEvents from '../../gen/containerd/events/task.js';
import { ForwardRequest } from '../../gen/containerd/services/events/ttrpc/v1/events.js';
import { Empty } from '../../gen/google/protobuf/empty.js';
import { TtrpcClient } from '../../lib/ttrpc/client.js';
import { TtrpcServer } from '../../lib/ttrpc/server.js';
import { isAlive } from '../../lib/process.js';
import { projectRoot } from '../../lib/project-root.js';
import { run, type RunResult } from './daemon.js';
import { mountsUnder } from './mounts.js';

/** The task event messages by type URL. */
const eventCodecs: Record<string, { decode(b: Uint8Array): unknown }> = Object.fromEntries(
  ['TaskCreate', 'TaskStart', 'TaskDelete', 'TaskExit', 'TaskOOM', 'TaskExecAdded', 'TaskExecStarted', 'TaskPaused', 'TaskResumed'].map((n) => [
    `containerd.events.${n}`,
    (taskEvents as unknown as Record<string, { decode(b: Uint8Array): unknown }>)[n]!,
  ]),
);

export const ctrdShimBinary = path.join(projectRoot, 'bin', 'containerd-shim-ctrd-v2');
export const taskService = 'containerd.task.v2.Task';
const busyboxBinary = '/usr/bin/busybox';
export const haveBusybox = fs.existsSync(busyboxBinary);

export interface ForwardedEvent {
  topic: string;
  namespace: string;
  typeUrl: string;
  event: Record<string, unknown>;
}

/** A busybox-static root: /bin/busybox and its applets as symlinks. */
export function makeBusyboxRoot(dir: string): void {
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'etc']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.copyFileSync(busyboxBinary, path.join(dir, 'bin', 'busybox'));
  fs.chmodSync(path.join(dir, 'bin', 'busybox'), 0o755);
  for (const applet of ['sh', 'echo', 'cat', 'sleep', 'true', 'ls', 'tty', 'stty', 'ps', 'head', 'dd', 'tail']) {
    fs.symlinkSync('busybox', path.join(dir, 'bin', applet));
  }
}

export class ShimFixture {
  readonly dir: string;
  readonly bundle: string;
  readonly rootfsSource: string;
  readonly eventsSocket: string;
  readonly daemonAddress: string;
  readonly events: ForwardedEvent[] = [];
  client: TtrpcClient | undefined;
  address = '';
  shimPid = 0;
  shimLog = '';
  private eventsServer: TtrpcServer | undefined;
  private logReader: net.Socket | undefined;
  private readonly readers: net.Socket[] = [];

  constructor(
    readonly id: string,
    readonly namespace = 'ctrdshimtest',
  ) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrd-shim-'));
    this.bundle = path.join(this.dir, 'bundle');
    this.rootfsSource = path.join(this.dir, 'rootfs-src');
    this.eventsSocket = path.join(this.dir, 'events.sock');
    this.daemonAddress = path.join(this.dir, 'daemon.sock');
  }

  get cgroupsPath(): string {
    return `/${this.namespace}/${this.id}`;
  }

  /** The bundle with a spec running args; the rootfs comes with Create. */
  async prepare(args: string[], specEdit: (spec: Record<string, any>) => void = () => {}): Promise<void> {
    fs.mkdirSync(path.join(this.bundle, 'rootfs'), { recursive: true });
    makeBusyboxRoot(this.rootfsSource);
    execFileSync('runc', ['spec', '--bundle', this.bundle]);
    const specFile = path.join(this.bundle, 'config.json');
    const spec = JSON.parse(fs.readFileSync(specFile, 'utf8')) as Record<string, any>;
    spec.process.terminal = false;
    spec.process.args = args;
    spec.root = { path: 'rootfs', readonly: false };
    spec.linux.cgroupsPath = this.cgroupsPath;
    specEdit(spec);
    fs.writeFileSync(specFile, JSON.stringify(spec));
    execFileSync('mkfifo', [path.join(this.bundle, 'log')]);
    const fd = fs.openSync(path.join(this.bundle, 'log'), fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    this.logReader = new net.Socket({ fd, readable: true, writable: false });
    this.logReader.on('data', (b: Buffer) => (this.shimLog += b.toString()));
    this.logReader.on('error', () => {});
    const events = new TtrpcServer();
    events.registerUnary('containerd.services.events.ttrpc.v1.Events', 'Forward', ForwardRequest, Empty, async (req) => {
      const env = req.envelope!;
      const typeUrl = env.event?.typeUrl ?? '';
      let event: Record<string, unknown> = {};
      const codec = eventCodecs[typeUrl];
      if (codec) event = codec.decode(env.event!.value) as Record<string, unknown>;
      this.events.push({ topic: env.topic, namespace: env.namespace, typeUrl, event });
      return {};
    });
    await events.listen(this.eventsSocket);
    this.eventsServer = events;
  }

  /** `<shim> ... start` as the daemon runs it. */
  startCommand(extraEnv: NodeJS.ProcessEnv = {}): Promise<RunResult> {
    return runIn(this.bundle, ctrdShimBinary, ['-namespace', this.namespace, '-address', this.daemonAddress, '-publish-binary', '/bin/true', '-id', this.id, 'start'], {
      ...process.env,
      TTRPC_ADDRESS: this.eventsSocket,
      ...extraEnv,
    });
  }

  async start(): Promise<TtrpcClient> {
    const r = await this.startCommand();
    if (r.code !== 0) throw new Error(`shim start failed (${r.code}): ${r.stdout}${r.stderr}\n${this.shimLog}`);
    this.address = r.stdout.trim();
    this.client = await TtrpcClient.connect(this.address, { namespace: this.namespace });
    return this.client;
  }

  /** A FIFO with a reader that collects everything until EOF. */
  fifo(name: string): { path: string; text: () => string; ended: Promise<void> } {
    const file = path.join(this.dir, name);
    execFileSync('mkfifo', [file]);
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const reader = new net.Socket({ fd, readable: true, writable: false });
    this.readers.push(reader);
    let text = '';
    reader.on('data', (b: Buffer) => (text += b.toString()));
    reader.on('error', () => {});
    const ended = new Promise<void>((resolve) => reader.once('end', () => resolve()));
    return { path: file, text: () => text, ended };
  }

  topics(): string[] {
    return this.events.map((e) => e.topic);
  }

  /** Kills what is left (the shim by the pid it reported, only), unmounts, removes; returns what it found. */
  async cleanup(): Promise<string[]> {
    const leftovers: string[] = [];
    await this.client?.close().catch(() => {});
    if (this.shimPid && isAlive(this.shimPid)) {
      leftovers.push(`shim ${this.shimPid}`);
      process.kill(this.shimPid, 'SIGKILL');
    }
    const runcState = ['/run/ctrd/runc', this.namespace, this.id].join('/');
    if (fs.existsSync(runcState)) {
      leftovers.push(runcState);
      await run('runc', ['--root', `/run/ctrd/runc/${this.namespace}`, 'delete', '--force', this.id]);
    }
    const mounts = mountsUnder(this.dir);
    for (const m of mounts.reverse()) {
      leftovers.push(`mount ${m}`);
      await run('umount', ['-l', m]);
    }
    for (const c of fs.readdirSync('/sys/fs/cgroup')) {
      const d = path.join('/sys/fs/cgroup', c, this.cgroupsPath);
      if (fs.existsSync(d)) {
        leftovers.push(d);
        try {
          fs.rmdirSync(d);
        } catch {
          // still busy
        }
      }
    }
    if (this.address) {
      const sock = this.address.replace('unix://', '');
      if (fs.existsSync(sock)) {
        leftovers.push(sock);
        fs.rmSync(sock, { force: true });
      }
    }
    try {
      fs.rmdirSync(`/run/ctrd/runc/${this.namespace}`); // the runtime's namespace dir, once empty
    } catch {
      // another fixture's container is still in it, or it was never made
    }
    for (const r of this.readers) r.destroy();
    this.logReader?.destroy();
    await this.eventsServer?.close(0);
    fs.rmSync(this.dir, { recursive: true, force: true });
    for (const c of fs.readdirSync('/sys/fs/cgroup')) {
      const d = path.join('/sys/fs/cgroup', c, this.namespace);
      // The namespace's parent cgroup the runtime made; empty once our containers are gone.
      try {
        if (fs.existsSync(d) && fs.readdirSync(d).every((e) => !fs.statSync(path.join(d, e)).isDirectory())) fs.rmdirSync(d);
      } catch {
        // another test's container is still in it
      }
    }
    return leftovers;
  }
}

function runIn(cwd: string, cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end();
  });
}
