// ctrctl info: docker info's picture of the daemon (containers by state, images, storage, cgroups, runtimes,
// the host) from ctrd's SystemService, plus what containerd's introspection says (ID, plugins).
import type { Command } from 'commander';
import type { Plugin } from '../../gen/containerd/services/introspection/v1/introspection.js';
import { unary } from '../../lib/grpc/client.js';
import { ctrdVersion } from '../../lib/version.js';
import { withClients } from './connect.js';
import { formatArgument, renderFormat, type OutputFormat } from './go-template.js';
import { print } from './output.js';
import { humanBinarySize } from './units.js';

interface PluginInfo {
  Type: string;
  ID: string;
  Error?: string;
}

interface Info {
  ClientVersion: string;
  Address: string;
  Namespace: string;
  Containers: number;
  ContainersRunning: number;
  ContainersPaused: number;
  ContainersStopped: number;
  Images: number;
  ServerVersion: string;
  GitCommit: string;
  Driver: string;
  Snapshotters: string[];
  CgroupDriver: string;
  CgroupVersion: string;
  Runtimes: string[];
  DefaultRuntime: string;
  KernelVersion: string;
  OperatingSystem: string;
  OSType: string;
  Architecture: string;
  NCPU: number;
  MemTotal: number;
  Name: string;
  ID: string;
  RootDir: string;
  StateDir: string;
  Namespaces: number;
  Plugins: PluginInfo[];
}

function pluginInfo(p: Plugin): PluginInfo {
  return p.initErr ? { Type: p.type, ID: p.id, Error: p.initErr.message } : { Type: p.type, ID: p.id };
}

/** docker info's "Plugins:" block: one line per type with its ids, the failed ones left out. */
function pluginLines(plugins: readonly PluginInfo[]): string[] {
  const byType = new Map<string, string[]>();
  for (const p of plugins) {
    if (p.Error !== undefined) continue;
    byType.set(p.Type, [...(byType.get(p.Type) ?? []), p.ID]);
  }
  return [...byType.keys()].sort().map((type) => `  ${type}: ${byType.get(type)!.sort().join(' ')}`);
}

function render(info: Info): string {
  return [
    'Client:',
    ` Version: ${info.ClientVersion}`,
    ` Address: ${info.Address}`,
    ` Namespace: ${info.Namespace}`,
    '',
    'Server:',
    ` Containers: ${info.Containers}`,
    `  Running: ${info.ContainersRunning}`,
    `  Paused: ${info.ContainersPaused}`,
    `  Stopped: ${info.ContainersStopped}`,
    ` Images: ${info.Images}`,
    ` Server Version: ${info.ServerVersion}`,
    ` GitCommit: ${info.GitCommit}`,
    ` Storage Driver: ${info.Driver}`,
    ` Snapshotters: ${info.Snapshotters.join(' ')}`,
    ` Cgroup Driver: ${info.CgroupDriver}`,
    ` Cgroup Version: ${info.CgroupVersion}`,
    ' Plugins:',
    ...pluginLines(info.Plugins),
    ` Runtimes: ${info.Runtimes.join(' ')}`,
    ` Default Runtime: ${info.DefaultRuntime}`,
    ` Kernel Version: ${info.KernelVersion}`,
    ` Operating System: ${info.OperatingSystem}`,
    ` OSType: ${info.OSType}`,
    ` Architecture: ${info.Architecture}`,
    ` CPUs: ${info.NCPU}`,
    ` Total Memory: ${humanBinarySize(info.MemTotal)}`,
    ` Name: ${info.Name}`,
    ` ID: ${info.ID}`,
    ` Root Dir: ${info.RootDir}`,
    ` State Dir: ${info.StateDir}`,
    ` Namespaces: ${info.Namespaces}`,
  ].join('\n');
}

export function addInfoCommand(program: Command): void {
  program
    .command('info')
    .description('show information about ctrd')
    .option('-f, --format <template>', "format the output with a Go template ('json' for JSON)", formatArgument)
    .action(async (opts: { format?: OutputFormat }, cmd: Command) => {
      const info = await withClients(cmd, async (c, flags): Promise<Info> => {
        const [v, s, ns, p, sys] = await Promise.all([
          unary(c.version, c.version.version, {}),
          unary(c.introspection, c.introspection.server, {}),
          unary(c.namespaces, c.namespaces.list, { filter: '' }),
          unary(c.introspection, c.introspection.plugins, { filters: [] }),
          unary(c.ctrdSystem, c.ctrdSystem.info, {}),
        ]);
        return {
          ClientVersion: ctrdVersion,
          Address: flags.address,
          Namespace: flags.namespace,
          Containers: sys.containers,
          ContainersRunning: sys.containersRunning,
          ContainersPaused: sys.containersPaused,
          ContainersStopped: sys.containersStopped,
          Images: sys.images,
          ServerVersion: v.version,
          GitCommit: v.revision,
          Driver: sys.defaultSnapshotter,
          Snapshotters: sys.snapshotters,
          CgroupDriver: sys.cgroupDriver,
          CgroupVersion: sys.cgroupVersion,
          Runtimes: sys.runtimes,
          DefaultRuntime: sys.defaultRuntime,
          KernelVersion: sys.kernelVersion,
          OperatingSystem: sys.operatingSystem,
          OSType: sys.osType,
          Architecture: sys.architecture,
          NCPU: sys.ncpu,
          MemTotal: sys.memTotal,
          Name: sys.hostname,
          ID: s.uuid,
          RootDir: sys.rootDir,
          StateDir: sys.stateDir,
          Namespaces: ns.namespaces.length,
          Plugins: p.plugins.map(pluginInfo),
        };
      });
      if (opts.format) process.stdout.write(renderFormat(opts.format, [info], {}));
      else print(render(info));
      // docker info lists its warnings last, on stderr.
      for (const p of info.Plugins) {
        if (p.Error !== undefined) process.stderr.write(`WARNING: plugin ${p.Type}.${p.ID} failed to load: ${p.Error}\n`);
      }
    });
}
