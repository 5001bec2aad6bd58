// A container's networking as docker shows it: `ctrctl port`, ps's PORTS column, and inspect's
// NetworkSettings, HostConfig and Config fields, from the container's io.ctrd/network label (what was asked)
// and ctrd's endpoints (what its running task got: addresses, resolved host ports).
import type { Command } from 'commander';
import type { Container } from '../../gen/containerd/services/containers/v1/containers.js';
import type { Endpoint } from '../../gen/ctrd/services/networks/v1/networks.js';
import { containerNetworkOf, portKey, type ContainerNetwork } from '../../lib/container-network.js';
import { invalidArgument, notFound } from '../../lib/errdefs.js';
import { findContainer } from './container-state.js';
import { withClients } from './connect.js';
import { endpointId, endpointsByContainer, splitCidr } from './network.js';
import { print } from './output.js';
import { runtimeClients } from './runtime-clients.js';

/** Set when the container was made with -P (docker's HostConfig.PublishAllPorts). */
export const publishAllLabel = 'io.ctrd/publish-all';

/** The label's network, or undefined for a container without one (or with one ctrctl cannot read). */
export function networkOf(c: Container): ContainerNetwork | undefined {
  try {
    return containerNetworkOf(c.id, c.labels);
  } catch {
    return undefined;
  }
}

interface Published {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: string;
}

/** The published ports of a container's endpoints, host ports resolved. */
function publishedOf(endpoints: readonly Endpoint[]): Published[] {
  return endpoints.flatMap((e) => e.ports.map((p) => ({ hostIp: p.hostIp || '0.0.0.0', hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol })));
}

const hostPrefix = (ip: string) => (ip.includes(':') ? `[${ip}]:` : `${ip}:`);
const hostAddress = (ip: string, port: number) => `${hostPrefix(ip)}${port}`;
const range = (a: number, b: number) => (a === b ? String(a) : `${a}-${b}`);

/**
 * docker ps's PORTS: "0.0.0.0:32768->80/tcp, 80/udp", consecutive ports folded into ranges
 * ("0.0.0.0:8000-8001->80-81/tcp"). Empty for a container without endpoints (not running).
 */
export function portsColumn(n: ContainerNetwork | undefined, endpoints: readonly Endpoint[]): string {
  if (endpoints.length === 0) return '';
  const published = publishedOf(endpoints);
  const publishedKeys = new Set(published.map((p) => portKey(p.containerPort, p.protocol)));
  const groups: Array<{ sort: string; text: string }> = [];
  const sorted = [...published].sort((a, b) => a.protocol.localeCompare(b.protocol) || a.hostIp.localeCompare(b.hostIp) || a.containerPort - b.containerPort);
  for (let i = 0; i < sorted.length; ) {
    const first = sorted[i]!;
    let j = i;
    while (
      j + 1 < sorted.length &&
      sorted[j + 1]!.protocol === first.protocol &&
      sorted[j + 1]!.hostIp === first.hostIp &&
      sorted[j + 1]!.containerPort === sorted[j]!.containerPort + 1 &&
      sorted[j + 1]!.hostPort === sorted[j]!.hostPort + 1
    ) j++;
    const last = sorted[j]!;
    groups.push({
      sort: `${String(first.containerPort).padStart(5, '0')}/${first.protocol}/${first.hostIp}`,
      text: `${hostPrefix(first.hostIp)}${range(first.hostPort, last.hostPort)}->${range(first.containerPort, last.containerPort)}/${first.protocol}`,
    });
    i = j + 1;
  }
  const exposedOnly = (n?.exposed ?? [])
    .filter((k) => !publishedKeys.has(k))
    .map((k) => ({ port: Number(k.split('/')[0]), protocol: k.split('/')[1] ?? 'tcp' }))
    .filter((x) => Number.isInteger(x.port))
    .sort((a, b) => a.protocol.localeCompare(b.protocol) || a.port - b.port);
  for (let i = 0; i < exposedOnly.length; ) {
    let j = i;
    while (j + 1 < exposedOnly.length && exposedOnly[j + 1]!.protocol === exposedOnly[i]!.protocol && exposedOnly[j + 1]!.port === exposedOnly[j]!.port + 1) j++;
    groups.push({ sort: `${String(exposedOnly[i]!.port).padStart(5, '0')}/${exposedOnly[i]!.protocol}/`, text: `${range(exposedOnly[i]!.port, exposedOnly[j]!.port)}/${exposedOnly[i]!.protocol}` });
    i = j + 1;
  }
  return groups
    .sort((a, b) => (a.sort < b.sort ? -1 : a.sort > b.sort ? 1 : 0))
    .map((g) => g.text)
    .join(', ');
}

/** ps's NETWORKS: the networks a running container is on, or those it will join; none, host or nothing otherwise. */
export function psNetworks(n: ContainerNetwork | undefined, endpoints: readonly Endpoint[]): string {
  if (endpoints.length > 0) return [...new Set(endpoints.map((e) => e.network))].join(',');
  if (!n || n.mode === 'container') return '';
  if (n.mode === 'networks') return n.networks.map((a) => a.name).join(',');
  return n.mode;
}

/** "80", "80/udp": the port and protocol `ctrctl port` asks about. */
export function parsePrivatePort(value: string): { port: number; protocol: string } {
  const [port, protocol = 'tcp', ...rest] = value.split('/');
  const n = Number(port);
  if (rest.length > 0 || !/^\d+$/.test(port ?? '') || n < 1 || n > 65535) throw invalidArgument(`Invalid port: ${value}`);
  const proto = protocol.toLowerCase();
  if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') throw invalidArgument(`Invalid protocol: ${protocol}`);
  return { port: n, protocol: proto };
}

/** docker port's lines: "80/tcp -> 0.0.0.0:32768" for all, "0.0.0.0:32768" for one port asked about. */
export function portLines(endpoints: readonly Endpoint[], only?: { port: number; protocol: string }): string[] {
  const published = publishedOf(endpoints).sort((a, b) => a.containerPort - b.containerPort || a.protocol.localeCompare(b.protocol) || a.hostIp.localeCompare(b.hostIp));
  if (only) return published.filter((p) => p.containerPort === only.port && p.protocol === only.protocol).map((p) => hostAddress(p.hostIp, p.hostPort));
  return published.map((p) => `${portKey(p.containerPort, p.protocol)} -> ${hostAddress(p.hostIp, p.hostPort)}`);
}

export function addPortCommand(program: Command): void {
  program
    .command('port')
    .description('list port mappings or a specific mapping for the container')
    .argument('<container>', 'the container name or ID')
    .argument('[private-port]', 'PRIVATE_PORT[/PROTO]')
    .action(async (input: string, privatePort: string | undefined, _o: unknown, command: Command) => {
      const only = privatePort === undefined ? undefined : parsePrivatePort(privatePort);
      const lines = await withClients(command, async (c) => {
        const info = await findContainer(runtimeClients(c), input);
        const endpoints = (await endpointsByContainer(c, [info.container.id])).get(info.container.id) ?? [];
        const out = portLines(endpoints, only);
        if (only && out.length === 0) throw notFound(`No public port '${portKey(only.port, only.protocol)}' published for ${input}`);
        return out;
      });
      if (lines.length > 0) print(lines.join('\n'));
    });
}

// ---- inspect ----

const ipOf = (e: Endpoint | undefined) => splitCidr(e?.address ?? '');

/** NetworkSettings of docker's container inspect. */
export function networkSettings(c: Container, endpoints: readonly Endpoint[], networkIds: ReadonlyMap<string, string>): Record<string, unknown> {
  const n = networkOf(c);
  const first = endpoints[0];
  const ports: Record<string, Array<{ HostIp: string; HostPort: string }> | null> = {};
  if (endpoints.length > 0) {
    for (const k of n?.exposed ?? []) ports[k] = null;
    for (const p of publishedOf(endpoints)) {
      const k = portKey(p.containerPort, p.protocol);
      ports[k] = [...(ports[k] ?? []), { HostIp: p.hostIp, HostPort: String(p.hostPort) }];
    }
  }
  const networks: Record<string, unknown> = {};
  for (const a of n?.mode === 'networks' ? n.networks : []) {
    const e = endpoints.find((x) => x.network === a.name);
    const id = e?.networkId || networkIds.get(a.name) || '';
    const ip = ipOf(e);
    networks[a.name] = {
      IPAMConfig: null,
      Links: null,
      Aliases: e && e.aliases.length > 0 ? e.aliases : a.aliases.length > 0 ? a.aliases : null,
      MacAddress: e?.macAddress ?? '',
      DriverOpts: null,
      NetworkID: id,
      EndpointID: e && id ? endpointId(id, c.id) : '',
      Gateway: e?.gateway ?? '',
      IPAddress: ip.ip,
      IPPrefixLen: ip.prefixLen,
      IPv6Gateway: '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
    };
  }
  const ip = ipOf(first);
  return {
    SandboxID: '',
    SandboxKey: first?.netns ?? '',
    Ports: ports,
    Gateway: first?.gateway ?? '',
    IPAddress: ip.ip,
    IPPrefixLen: ip.prefixLen,
    MacAddress: first?.macAddress ?? '',
    Networks: networks,
  };
}

/** docker's HostConfig.NetworkMode. */
export function networkMode(n: ContainerNetwork | undefined): string {
  if (!n) return '';
  if (n.mode === 'container') return `container:${n.container}`;
  if (n.mode === 'networks') return n.networks[0]!.name;
  return n.mode;
}

/** The networking fields of docker's HostConfig; `names` gives linked containers' names by ID. */
export function hostConfigNetwork(c: Container, names: ReadonlyMap<string, string>, ownName: string): Record<string, unknown> {
  const n = networkOf(c);
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of n?.ports ?? []) {
    const k = portKey(p.containerPort, p.protocol);
    bindings[k] = [...(bindings[k] ?? []), { HostIp: p.hostIP, HostPort: p.hostPort === 0 ? '' : String(p.hostPort) }];
  }
  const list = (xs: readonly string[] | undefined) => (xs && xs.length > 0 ? [...xs] : null);
  return {
    NetworkMode: networkMode(n),
    PortBindings: bindings,
    PublishAllPorts: c.labels[publishAllLabel] === 'true',
    Dns: n?.dns ?? [],
    DnsOptions: n?.dnsOptions ?? [],
    DnsSearch: n?.dnsSearch ?? [],
    ExtraHosts: list(n?.extraHosts.map((h) => `${h.host}:${h.ip}`)),
    Links: list(n?.links.map((l) => `/${names.get(l.container) ?? l.container}:/${ownName}/${l.alias}`)),
  };
}

/** docker's Config.ExposedPorts: {"80/tcp": {}}, or null. */
export function exposedPorts(c: Container): Record<string, Record<string, never>> | null {
  const exposed = networkOf(c)?.exposed ?? [];
  return exposed.length > 0 ? Object.fromEntries(exposed.map((k) => [k, {}])) : null;
}
