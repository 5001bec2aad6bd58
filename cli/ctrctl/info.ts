// ctrctl info: the part of docker info that ctrd can answer today.
import type { Command } from 'commander';
import type { Plugin } from '../../gen/containerd/services/introspection/v1/introspection.js';
import { unary } from '../../lib/grpc/client.js';
import { ctrdVersion } from '../../lib/version.js';
import { withClients } from './connect.js';
import { formatOption, print, printJson, type Format } from './output.js';

interface PluginInfo {
  Type: string;
  ID: string;
  Error?: string;
}

interface Info {
  ClientVersion: string;
  Address: string;
  Namespace: string;
  ServerVersion: string;
  GitCommit: string;
  ID: string;
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
    ` Server Version: ${info.ServerVersion}`,
    ` GitCommit: ${info.GitCommit}`,
    ` ID: ${info.ID}`,
    ` Namespaces: ${info.Namespaces}`,
    ' Plugins:',
    ...pluginLines(info.Plugins),
  ].join('\n');
}

export function addInfoCommand(program: Command): void {
  program
    .command('info')
    .description('show information about ctrd')
    .addOption(formatOption())
    .action(async (opts: { format: Format }, cmd: Command) => {
      const info = await withClients(cmd, async (c, flags): Promise<Info> => {
        const [v, s, ns, p] = await Promise.all([
          unary(c.version, c.version.version, {}),
          unary(c.introspection, c.introspection.server, {}),
          unary(c.namespaces, c.namespaces.list, { filter: '' }),
          unary(c.introspection, c.introspection.plugins, { filters: [] }),
        ]);
        return {
          ClientVersion: ctrdVersion,
          Address: flags.address,
          Namespace: flags.namespace,
          ServerVersion: v.version,
          GitCommit: v.revision,
          ID: s.uuid,
          Namespaces: ns.namespaces.length,
          Plugins: p.plugins.map(pluginInfo),
        };
      });
      if (opts.format === 'json') printJson(info);
      else print(render(info));
      // docker info lists its warnings last, on stderr.
      for (const p of info.Plugins) {
        if (p.Error !== undefined) process.stderr.write(`WARNING: plugin ${p.Type}.${p.ID} failed to load: ${p.Error}\n`);
      }
    });
}
