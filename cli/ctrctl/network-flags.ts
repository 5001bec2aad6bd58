// run/create's networking flags, docker's: --network/--net, --network-alias/--alias, -p/--publish, -P/--publish-all,
// --expose, --dns, --dns-search, --dns-option, --add-host, --link. Checked here (parseNetworkFlags, no daemon),
// then resolved against the image and the daemon (resolveNetwork: the networks exist, container names become
// IDs) into the ContainerNetwork recorded in the container's io.ctrd/network label for ctrd to carry out.
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { invalidArgument, isNotFound, notFound } from '../../lib/errdefs.js';
import { defaultNetworkName, emptyNetwork, networkLabelOf, portKey, type ContainerNetwork, type PortProtocol, type PortSpec } from '../../lib/container-network.js';
import { parsePublish } from './ports.js';

export interface NetworkFlagValues {
  network: string[];
  networkAlias: string[];
  publish: string[];
  publishAll?: boolean;
  expose: string[];
  dns: string[];
  dnsSearch: string[];
  dnsOption: string[];
  addHost: string[];
  link: string[];
  /** --hostname, which container: refuses (the other container's is used). */
  hostname?: string;
}

/** The flags checked; container names (container:X, --link X) not yet resolved to IDs. */
export interface ParsedNetworkFlags {
  network: ContainerNetwork;
  publishAll: boolean;
  /** --link targets as typed, with their aliases. */
  links: { target: string; alias: string }[];
}

const isDefaultNetwork = (name: string) => name === defaultNetworkName || name === 'default';

/** --expose PORT[-PORT][/PROTO]: "80/tcp" keys. */
export function parseExpose(value: string): string[] {
  const slash = value.lastIndexOf('/');
  const proto = slash < 0 ? 'tcp' : value.slice(slash + 1).toLowerCase();
  const ports = slash < 0 ? value : value.slice(0, slash);
  if (proto !== 'tcp' && proto !== 'udp') throw invalidArgument(`invalid proto: ${value.slice(slash + 1)}`);
  const m = /^(\d+)(?:-(\d+))?$/.exec(ports);
  const start = m ? Number(m[1]) : NaN;
  const end = m?.[2] !== undefined ? Number(m[2]) : start;
  if (!m || start < 1 || end > 65535 || end < start) throw invalidArgument(`invalid range format for --expose: ${value}`);
  const out: string[] = [];
  for (let p = start; p <= end; p++) out.push(portKey(p, proto));
  return out;
}

/** -p specs as PortSpecs: a range on both sides is one spec a port; no host port is 0 (ephemeral). */
export function publishSpecs(spec: string): PortSpec[] {
  const m = parsePublish(spec);
  if (m.proto === 'sctp') throw invalidArgument(`invalid proto: sctp: ctrd's networks publish tcp and udp ports only (-p ${spec})`);
  const protocol: PortProtocol = m.proto;
  const count = m.containerPorts.end - m.containerPorts.start + 1;
  const host = m.hostPorts;
  if (host && count === 1 && host.end > host.start) {
    throw invalidArgument(`a host port range for one container port is not supported by ctrd (-p ${spec}): give one host port, or none for an ephemeral one`);
  }
  const out: PortSpec[] = [];
  for (let i = 0; i < count; i++) {
    out.push({ hostIP: m.hostIp, hostPort: host ? host.start + i : 0, containerPort: m.containerPorts.start + i, protocol });
  }
  return out;
}

/** --add-host HOST:IP or HOST=IP, or HOST:host-gateway (the IP may be IPv6, so only the first separator splits). */
export function parseAddHost(value: string): { host: string; ip: string } {
  const m = /^([^:=]+)[:=](.*)$/.exec(value);
  if (!m) throw invalidArgument(`bad format for add-host: "${value}"`);
  const host = m[1]!;
  let ip = m[2]!;
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  // host-gateway: the address of the host on the container's network (its gateway), filled in by the daemon.
  if (ip !== 'host-gateway' && isIP(ip) === 0) throw invalidArgument(`invalid IP address in add-host: "${m[2]}"`);
  return { host, ip };
}

function parseDns(value: string): string {
  if (isIP(value) === 0) throw invalidArgument(`${value} is not an ip address`);
  return value;
}

/** --link NAME_OR_ID[:ALIAS]; the alias defaults to the name. */
export function parseLink(value: string): { target: string; alias: string } {
  const colon = value.indexOf(':');
  const target = (colon < 0 ? value : value.slice(0, colon)).replace(/^\//, '');
  const alias = colon < 0 ? target : value.slice(colon + 1);
  if (target === '' || alias === '') throw invalidArgument(`invalid link format: ${value}`);
  return { target, alias };
}

/** Every networking flag checked, before anything is asked of ctrd. */
export function parseNetworkFlags(o: NetworkFlagValues): ParsedNetworkFlags {
  const given = o.network.length > 0 ? o.network : [defaultNetworkName];
  const special = given.filter((n) => n === 'none' || n === 'host' || n.startsWith('container:'));
  if (special.length > 0 && given.length > 1) {
    throw invalidArgument('conflicting options: cannot attach both user-defined and non-user-defined network-modes');
  }
  let network: ContainerNetwork;
  const mode = special[0];
  if (mode === 'none' || mode === 'host') network = emptyNetwork(mode);
  else if (mode !== undefined) {
    network = emptyNetwork('container');
    network.container = mode.slice('container:'.length);
    if (network.container === '') throw invalidArgument(`invalid container format container:<name|id>: ${mode}`);
  } else {
    network = emptyNetwork('networks');
    const seen = new Set<string>();
    for (const name of given) {
      if (name === '') throw invalidArgument('invalid network name: an empty name');
      if (seen.has(name)) throw invalidArgument(`network ${name} is given more than once`);
      seen.add(name);
      network.networks.push({ name: name === 'default' ? defaultNetworkName : name, aliases: [] });
    }
  }
  if (o.networkAlias.length > 0) {
    const first = network.networks[0];
    if (!first || isDefaultNetwork(first.name)) throw invalidArgument('network-scoped alias is supported only for containers in user defined networks');
    first.aliases = [...new Set(o.networkAlias)];
  }
  const ports = o.publish.flatMap(publishSpecs);
  if ((ports.length > 0 || o.publishAll) && network.mode !== 'networks') {
    throw invalidArgument('conflicting options: port publishing and the container type network mode');
  }
  if (network.mode === 'container') {
    // docker's refusals: the other container's namespace, names and files are used as they are.
    if (o.hostname !== undefined) throw invalidArgument('conflicting options: hostname and the network mode');
    if (o.dns.length > 0 || o.dnsSearch.length > 0 || o.dnsOption.length > 0) throw invalidArgument('conflicting options: dns and the network mode');
    if (o.addHost.length > 0) throw invalidArgument('conflicting options: custom host-to-IP mapping and the network mode');
    if (o.expose.length > 0) throw invalidArgument('conflicting options: port exposing and the container type network mode');
  }
  network.ports = ports;
  const exposed = new Set([...o.expose.flatMap(parseExpose), ...ports.map((p) => portKey(p.containerPort, p.protocol))]);
  network.exposed = [...exposed];
  network.dns = o.dns.map(parseDns);
  network.dnsSearch = o.dnsSearch;
  network.dnsOptions = o.dnsOption;
  network.extraHosts = o.addHost.map(parseAddHost);
  const links = o.link.map(parseLink);
  if (links.length > 0 && network.mode !== 'networks') throw invalidArgument('conflicting options: container type network can\'t be used with links');
  return { network, publishAll: Boolean(o.publishAll), links };
}

export interface ResolveContext {
  /** The image's ExposedPorts keys ("80/tcp"). */
  imageExposed: readonly string[];
  /** A container's ID by name, ID or unique prefix (throws not-found as docker says it). */
  containerId(input: string): string;
  /** Throws not-found when there is no such network. */
  checkNetwork(name: string): Promise<void>;
}

/** The container's network as recorded: networks checked, container names resolved, -P's ports added. */
export async function resolveNetwork(p: ParsedNetworkFlags, ctx: ResolveContext): Promise<ContainerNetwork> {
  const n: ContainerNetwork = { ...p.network, networks: p.network.networks.map((a) => ({ ...a })), ports: [...p.network.ports] };
  for (const a of n.networks) {
    try {
      await ctx.checkNetwork(a.name);
    } catch (err) {
      if (isNotFound(err)) throw notFound(`network ${a.name} not found`);
      throw err;
    }
  }
  if (n.mode === 'container') n.container = ctx.containerId(n.container!);
  n.links = p.links.map((l) => ({ container: ctx.containerId(l.target), alias: l.alias }));
  const exposed = new Set([...ctx.imageExposed, ...n.exposed]);
  n.exposed = [...exposed];
  if (p.publishAll) {
    const published = new Set(n.ports.map((x) => portKey(x.containerPort, x.protocol)));
    for (const key of n.exposed) {
      if (published.has(key)) continue;
      const [port, proto] = key.split('/');
      if (proto !== 'tcp' && proto !== 'udp') continue;
      n.ports.push({ hostIP: '', hostPort: 0, containerPort: Number(port), protocol: proto });
    }
  }
  return n;
}

/** The label, refused when it would pass containerd's 4096-byte limit for a label. */
export function networkLabels(n: ContainerNetwork): Record<string, string> {
  const labels = networkLabelOf(n);
  const size = Object.entries(labels).reduce((s, [k, v]) => s + k.length + v.length, 0);
  if (size > 4096) throw invalidArgument(`too many ports or networking options for one container (${n.ports.length} published ports)`);
  return labels;
}

/** --network host: the host's name, unless --hostname. */
export const hostNetworkHostname = (n: ContainerNetwork, given: string | undefined): string | undefined =>
  given ?? (n.mode === 'host' ? hostname() : undefined);
