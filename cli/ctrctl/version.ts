// ctrctl version: docker version's two sections, the client's and the daemon's.
import type { Command } from 'commander';
import { unary } from '../../lib/grpc/client.js';
import { apiVersion, ctrdVersion, revision } from '../../lib/version.js';
import { globalFlags, connect } from './connect.js';
import { formatOption, keyValues, print, printJson, type Format } from './output.js';

/** Node's names for CPUs as Go and OCI platforms spell them (linux/amd64). */
const goArch: Readonly<Record<string, string>> = { x64: 'amd64', ia32: '386' };

const platform = `${process.platform}/${goArch[process.arch] ?? process.arch}`;

interface ServerVersion {
  Version: string;
  GitCommit: string;
  UUID: string;
}

const clientVersion = {
  Version: ctrdVersion,
  ApiVersion: apiVersion,
  NodeVersion: process.version,
  GitCommit: revision,
  Os: process.platform,
  Arch: goArch[process.arch] ?? process.arch,
};

function clientSection(): string {
  return [
    'Client:',
    keyValues(
      [
        ['Version', clientVersion.Version],
        ['API version', clientVersion.ApiVersion],
        ['Node version', clientVersion.NodeVersion],
        ['Git commit', clientVersion.GitCommit],
        ['OS/Arch', platform],
      ],
      1,
    ),
  ].join('\n');
}

function serverSection(s: ServerVersion): string {
  return [
    'Server:',
    ' ctrd:',
    keyValues(
      [
        ['Version', s.Version],
        ['GitCommit', s.GitCommit],
        ['UUID', s.UUID],
      ],
      2,
    ),
  ].join('\n');
}

export function addVersionCommand(program: Command): void {
  program
    .command('version')
    .description('show the ctrctl and ctrd version information')
    .addOption(formatOption())
    .action(async (opts: { format: Format }, cmd: Command) => {
      // Like docker, the client's half is shown even when the daemon cannot be reached.
      if (opts.format === undefined) print(clientSection());
      let server: ServerVersion | null = null;
      try {
        const clients = await connect(globalFlags(cmd));
        try {
          const [v, s] = await Promise.all([
            unary(clients.version, clients.version.version, {}),
            unary(clients.introspection, clients.introspection.server, {}),
          ]);
          server = { Version: v.version, GitCommit: v.revision, UUID: s.uuid };
        } finally {
          clients.close();
        }
      } finally {
        if (opts.format === 'json') printJson({ Client: clientVersion, Server: server });
        else if (server) print(`\n${serverSection(server)}`);
      }
    });
}
