// What docker info says about the host and the daemon: kernel, distribution, CPUs and memory, cgroup driver
// and version, directories, runtimes and snapshotters, and the namespace's containers by state and images.
import { readFileSync } from 'node:fs';
import { arch, availableParallelism, hostname, release, totalmem } from 'node:os';
import { Status } from '../../gen/containerd/v1/types/task.js';
import { isCgroup2 } from '../../shims/cgroups/paths.js';
import type { ContainerStore } from '../containers/store.js';
import type { ImageStore } from '../images/store.js';
import type { ShimManager } from '../tasks/shim-manager.js';

export interface SystemInfo {
  kernelVersion: string;
  operatingSystem: string;
  osType: string;
  architecture: string;
  ncpu: number;
  memTotal: number;
  hostname: string;
  rootDir: string;
  stateDir: string;
  cgroupDriver: string;
  cgroupVersion: string;
  runtimes: string[];
  defaultRuntime: string;
  snapshotters: string[];
  defaultSnapshotter: string;
  containers: number;
  containersRunning: number;
  containersPaused: number;
  containersStopped: number;
  images: number;
}

export interface SystemSetup {
  root: string;
  state: string;
  runtimes: readonly string[];
  defaultRuntime: string;
  snapshotters: readonly string[];
  defaultSnapshotter: string;
}

/** PRETTY_NAME of os-release, as docker shows the distribution. */
function operatingSystem(): string {
  for (const path of ['/etc/os-release', '/usr/lib/os-release']) {
    try {
      const m = /^PRETTY_NAME=(.*)$/m.exec(readFileSync(path, 'utf8'));
      if (m) return m[1]!.replace(/^"(.*)"$/, '$1');
    } catch {
      // the next candidate
    }
  }
  return 'Linux';
}

/** Go's GOARCH names, as docker prints Architecture from uname: x86_64, aarch64. */
const unameMachine: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', arm: 'armv7l', ia32: 'i686', s390x: 's390x', ppc64: 'ppc64le', riscv64: 'riscv64' };

export class SystemInfoReader {
  private readonly host = { kernelVersion: release(), operatingSystem: operatingSystem(), architecture: unameMachine[arch()] ?? arch() };

  constructor(
    private readonly setup: SystemSetup,
    private readonly containers: ContainerStore,
    private readonly images: ImageStore,
    private readonly shims: ShimManager,
  ) {}

  async info(ns: string): Promise<SystemInfo> {
    const containers = this.containers.list(ns, []);
    const states = await Promise.all(
      containers.map(async (c) => {
        try {
          return (await this.shims.get(ns, c.id).state()).status;
        } catch {
          return Status.STOPPED; // no task, or a shim that cannot answer: not running
        }
      }),
    );
    const running = states.filter((s) => s === Status.RUNNING || s === Status.PAUSING).length;
    const paused = states.filter((s) => s === Status.PAUSED).length;
    return {
      ...this.host,
      osType: 'linux',
      ncpu: availableParallelism(),
      memTotal: totalmem(),
      hostname: hostname(),
      rootDir: this.setup.root,
      stateDir: this.setup.state,
      cgroupDriver: 'cgroupfs',
      cgroupVersion: isCgroup2() ? '2' : '1',
      runtimes: [...this.setup.runtimes],
      defaultRuntime: this.setup.defaultRuntime,
      snapshotters: [...this.setup.snapshotters],
      defaultSnapshotter: this.setup.defaultSnapshotter,
      containers: containers.length,
      containersRunning: running,
      containersPaused: paused,
      containersStopped: containers.length - running - paused,
      images: this.images.list(ns, []).length,
    };
  }
}
