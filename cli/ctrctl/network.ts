// ctrctl's network verbs, docker's names, flags and output, over ctrd's NetworksService:
//   network create [-d bridge] [--subnet CIDR] [--gateway IP] [--internal] [-o K=V]... [--label K=V]... NAME
//   network ls [-q] [--no-trunc] [-f FILTER]... [--format T]     network inspect [-f T] NETWORK...
//   network rm NETWORK...      network prune [-f] [--filter label=...|until=...]
//   network connect [--alias A]... NETWORK CONTAINER              network disconnect [-f] NETWORK CONTAINER
import { createHash } from 'node:crypto';
import type { Command } from 'commander';
import type { Endpoint, Network } from '../../gen/ctrd/services/networks/v1/networks.js';
import { invalidArgument, isNotFound } from '../../lib/errdefs.js';
import { unary } from '../../lib/grpc/client.js';
import { findContainer } from './container-state.js';
import { withClients } from './connect.js';
import { formatArgument, parseFormat, renderFormat, type OutputFormat } from './go-template.js';
import { addInspectCommand, type Inspector } from './inspect.js';
import { ExitStatus, print, printError } from './output.js';
import { runtimeClients } from './runtime-clients.js';
import { confirmPrune, type PruneExtra } from './system.js';
import { rfc3339 } from './units.js';
import { collect, filterCollector, keyValue } from './flags.js';

export const collectNetworkFilter = filterCollector(['name', 'id', 'label', 'driver', 'type', 'dangling']);

/** docker's EndpointID: 64 hex characters, one per container on a network, the same every time it is shown. */
export const endpointId = (networkId: string, containerId: string): string =>
  createHash('sha256').update(`${networkId}/${containerId}`).digest('hex');

/** "172.18.0.2/16" as its address and prefix length. */
export function splitCidr(address: string): { ip: string; prefixLen: number } {
  const slash = address.indexOf('/');
  if (slash < 0) return { ip: address, prefixLen: 0 };
  return { ip: address.slice(0, slash), prefixLen: Number(address.slice(slash + 1)) || 0 };
}

/** docker network inspect's object. */
export function inspectNetwork(n: Network): Record<string, unknown> {
  const containers: Record<string, unknown> = {};
  for (const e of n.endpoints) {
    containers[e.containerId] = {
      Name: e.containerName || e.containerId.slice(0, 12),
      EndpointID: endpointId(n.id, e.containerId),
      MacAddress: e.macAddress,
      IPv4Address: e.address,
      IPv6Address: '',
    };
  }
  return {
    Name: n.name,
    Id: n.id,
    Created: n.createdAt ? rfc3339(n.createdAt) : '',
    Scope: 'local',
    Driver: n.driver,
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: n.subnet ? [{ Subnet: n.subnet, Gateway: n.gateway }] : [] },
    Internal: n.internal,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: { ...n.options },
    Labels: { ...n.labels },
  };
}

export function lsRow(n: Network, noTrunc: boolean): Record<string, string> {
  return {
    ID: noTrunc ? n.id : n.id.slice(0, 12),
    Name: n.name,
    Driver: n.driver,
    Scope: 'local',
    IPv6: 'false',
    Internal: String(n.internal),
    Labels: Object.keys(n.labels)
      .sort()
      .map((k) => `${k}=${n.labels[k]}`)
      .join(','),
    CreatedAt: n.createdAt ? rfc3339(n.createdAt) : '',
  };
}

const lsHeaders = { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', IPv6: 'IPV6', Internal: 'INTERNAL', Labels: 'LABELS', CreatedAt: 'CREATED AT' };

function addCreate(network: Command): void {
  network
    .command('create')
    .description('create a network')
    .argument('<name>', 'the network name')
    .option('-d, --driver <driver>', 'driver to manage the network (bridge only)', 'bridge')
    .option('--subnet <cidr>', 'subnet in CIDR format (default: the next free one)')
    .option('--gateway <ip>', "IPv4 gateway for the subnet (default: the subnet's first address)")
    .option('--internal', 'restrict external access to the network')
    .option('-o, --opt <KEY=VALUE>', 'set driver specific options (repeatable)', collect, [])
    .option('--label <KEY=VALUE>', 'set metadata on a network (repeatable)', collect, [])
    .action(async (name: string, o: { driver: string; subnet?: string; gateway?: string; internal?: boolean; opt: string[]; label: string[] }, command: Command) => {
      if (o.gateway !== undefined && o.subnet === undefined) throw invalidArgument('every ip-range or gateway must have a corresponding subnet');
      const options = Object.fromEntries(o.opt.map((v) => keyValue('option', v)));
      const labels = Object.fromEntries(o.label.map((v) => keyValue('label', v)));
      const res = await withClients(command, (c) => {
        const nc = runtimeClients(c).networks;
        return unary(nc, nc.create, { name, driver: o.driver, subnet: o.subnet ?? '', gateway: o.gateway ?? '', internal: Boolean(o.internal), options, labels });
      });
      print(res.network!.id);
    });
}

function addList(network: Command): void {
  network
    .command('ls')
    .alias('list')
    .description('list networks')
    .option('-q, --quiet', 'only display network IDs')
    .option('--no-trunc', 'do not truncate the output')
    .option('-f, --filter <filter>', 'filter output: name=, id=, label=KEY[=VALUE], driver=, type=builtin|custom, dangling=true|false (repeatable)', collectNetworkFilter, [])
    .option('--format <template>', "format output with a Go template ('table ...' for a table, 'json')", formatArgument)
    .action(async (o: { quiet?: boolean; trunc: boolean; filter: string[]; format?: OutputFormat }, command: Command) => {
      const { networks } = await withClients(command, (c) => {
        const nc = runtimeClients(c).networks;
        return unary(nc, nc.list, { filters: o.filter });
      });
      const rows = [...networks].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((n) => lsRow(n, !o.trunc));
      if (o.quiet && !o.format) {
        if (rows.length > 0) print(rows.map((r) => r.ID).join('\n'));
        return;
      }
      const format = o.format ?? parseFormat('table {{.ID}}\\t{{.Name}}\\t{{.Driver}}\\t{{.Scope}}');
      process.stdout.write(renderFormat(format, rows, lsHeaders));
    });
}

/** Networks for docker's inspect, by name, ID or unique ID prefix; undefined when there is none. */
export const networkInspector: Inspector = {
  type: 'network',
  async find(c, name) {
    const nc = runtimeClients(c).networks;
    try {
      return inspectNetwork((await unary(nc, nc.get, { name })).network!);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  },
};

/** The networks no container uses, for system prune (always, as docker's). */
export const networksPrune: PruneExtra = {
  warning: 'all networks not used by at least one container',
  title: 'Deleted Networks',
  async prune(c, _all, filters) {
    const nc = runtimeClients(c).networks;
    const { deleted } = await unary(nc, nc.prune, { filters: [...filters] });
    return { deleted, reclaimed: 0 };
  },
};

function addRemove(network: Command): void {
  network
    .command('rm')
    .alias('remove')
    .description('remove one or more networks')
    .argument('<network...>', 'network names or IDs')
    .action(async (names: string[], _o: unknown, command: Command) => {
      let failed = false;
      await withClients(command, async (c) => {
        const nc = runtimeClients(c).networks;
        for (const name of names) {
          try {
            await unary(nc, nc.remove, { name });
            print(name);
          } catch (err) {
            printError(err);
            failed = true;
          }
        }
      });
      if (failed) throw new ExitStatus(1);
    });
}

function addPrune(network: Command): void {
  network
    .command('prune')
    .description('remove all unused networks')
    .option('-f, --force', 'do not prompt for confirmation')
    .option('--filter <filter>', 'provide filter values (until=<timestamp>, label=<key>[=<value>], label!=<key>[=<value>]; repeatable)', collect, [])
    .action(async (o: { force?: boolean; filter: string[] }, command: Command) => {
      if (!(await confirmPrune(o.force, 'WARNING! This will remove all custom networks not used by at least one container.'))) return;
      const { deleted } = await withClients(command, (c) => {
        const nc = runtimeClients(c).networks;
        return unary(nc, nc.prune, { filters: o.filter });
      });
      if (deleted.length > 0) process.stdout.write(`Deleted Networks:\n${deleted.join('\n')}\n\n`);
    });
}

function addConnect(network: Command): void {
  network
    .command('connect')
    .description('connect a container to a network')
    .argument('<network>', 'the network name or ID')
    .argument('<container>', 'the container name or ID')
    .option('--alias <alias>', 'add a network-scoped alias for the container (repeatable)', collect, [])
    .action(async (name: string, input: string, o: { alias: string[] }, command: Command) => {
      await withClients(command, async (c) => {
        const rc = runtimeClients(c);
        const { container } = await findContainer(rc, input);
        await unary(rc.networks, rc.networks.connect, { containerId: container.id, network: name, aliases: o.alias });
      });
    });
}

function addDisconnect(network: Command): void {
  network
    .command('disconnect')
    .description('disconnect a container from a network')
    .argument('<network>', 'the network name or ID')
    .argument('<container>', 'the container name or ID')
    .option('-f, --force', 'force the container to disconnect from a network')
    .action(async (name: string, input: string, o: { force?: boolean }, command: Command) => {
      await withClients(command, async (c) => {
        const rc = runtimeClients(c);
        const { container } = await findContainer(rc, input);
        await unary(rc.networks, rc.networks.disconnect, { containerId: container.id, network: name, force: Boolean(o.force) });
      });
    });
}

export function addNetworkCommands(program: Command): void {
  const network = program.command('network').description('manage networks');
  addCreate(network);
  addList(network);
  addInspectCommand(network, [networkInspector], 'display detailed information on one or more networks');
  addRemove(network);
  addPrune(network);
  addConnect(network);
  addDisconnect(network);
}

/** The endpoints of containers, by container ID, from one Endpoints call. */
export async function endpointsByContainer(c: Parameters<typeof runtimeClients>[0], ids: readonly string[]): Promise<Map<string, Endpoint[]>> {
  if (ids.length === 0) return new Map();
  const nc = runtimeClients(c).networks;
  const { endpoints } = await unary(nc, nc.endpoints, { containerIds: [...ids] });
  const out = new Map<string, Endpoint[]>();
  for (const e of endpoints) out.set(e.containerId, [...(out.get(e.containerId) ?? []), e]);
  return out;
}
