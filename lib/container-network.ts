// How a container is networked, as ctrctl records it in the container's io.ctrd/network label (JSON) and the
// daemon carries out when the container's task is created: the network mode, the networks with their
// aliases, the ports to publish, DNS and extra hosts. A container without the label (one made by `ctr`)
// keeps whatever its spec says and gets nothing from ctrd's networks.
import { invalidArgument } from './errdefs.js';

export const networkLabel = 'io.ctrd/network';

/** The network every container joins unless told otherwise, docker's "bridge". */
export const defaultNetworkName = 'bridge';

export type PortProtocol = 'tcp' | 'udp';

export interface PortSpec {
  /** Empty: every address of the host. */
  hostIP: string;
  /** 0: an ephemeral port, chosen when the task starts. */
  hostPort: number;
  containerPort: number;
  protocol: PortProtocol;
}

export interface NetworkAttachment {
  /** The network's name as the user gave it (resolved to the network when the task starts). */
  name: string;
  aliases: string[];
}

export interface ExtraHost {
  host: string;
  ip: string;
}

export interface Link {
  /** The linked container's ID. */
  container: string;
  /** The name it is reachable by. */
  alias: string;
}

export interface ContainerNetwork {
  /**
   * none: a network namespace of its own with lo only; host: the host's; container: another container's
   * (`container`); networks: its own namespace joined to `networks` (the first one publishes the ports).
   */
  mode: 'none' | 'host' | 'container' | 'networks';
  container?: string;
  networks: NetworkAttachment[];
  ports: PortSpec[];
  /** "80/tcp": what the container exposes (docker's ExposedPorts), published by nothing by itself. */
  exposed: string[];
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  extraHosts: ExtraHost[];
  links: Link[];
}

export function emptyNetwork(mode: ContainerNetwork['mode']): ContainerNetwork {
  return { mode, networks: [], ports: [], exposed: [], dns: [], dnsSearch: [], dnsOptions: [], extraHosts: [], links: [] };
}

export function networkLabelOf(n: ContainerNetwork): Record<string, string> {
  return { [networkLabel]: JSON.stringify(n) };
}

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
const modes = new Set(['none', 'host', 'container', 'networks']);

/** The container's network, read from its labels; undefined when it has none. Bad JSON is invalid-argument. */
export function containerNetworkOf(id: string, labels: Readonly<Record<string, string>>): ContainerNetwork | undefined {
  const text = labels[networkLabel];
  if (text === undefined || text === '') return undefined;
  const bad = (why: string) => invalidArgument(`container ${id}: label ${networkLabel}: ${why}`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw bad(`not JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('not a JSON object');
  const o = v as Record<string, unknown>;
  if (typeof o.mode !== 'string' || !modes.has(o.mode)) throw bad(`unknown mode ${JSON.stringify(o.mode)}`);
  const n = emptyNetwork(o.mode as ContainerNetwork['mode']);
  if (n.mode === 'container') {
    if (typeof o.container !== 'string' || o.container === '') throw bad('mode container needs the container');
    n.container = o.container;
  }
  for (const key of ['exposed', 'dns', 'dnsSearch', 'dnsOptions'] as const) {
    if (o[key] === undefined) continue;
    if (!isStringList(o[key])) throw bad(`${key} must be a list of strings`);
    n[key] = o[key];
  }
  if (o.networks !== undefined) {
    if (!Array.isArray(o.networks)) throw bad('networks must be a list');
    n.networks = o.networks.map((a: unknown) => {
      const x = a as Partial<NetworkAttachment> | null;
      if (typeof x?.name !== 'string' || x.name === '' || (x.aliases !== undefined && !isStringList(x.aliases))) throw bad('each network needs a name and a list of aliases');
      return { name: x.name, aliases: x.aliases ?? [] };
    });
  }
  if (n.mode === 'networks' && n.networks.length === 0) throw bad('mode networks needs at least one network');
  if (o.ports !== undefined) {
    if (!Array.isArray(o.ports)) throw bad('ports must be a list');
    n.ports = o.ports.map((p: unknown) => {
      const x = p as Partial<PortSpec> | null;
      const port = (v: unknown, min: number) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= 65535;
      if (!x || typeof x.hostIP !== 'string' || !port(x.hostPort, 0) || !port(x.containerPort, 1) || (x.protocol !== 'tcp' && x.protocol !== 'udp')) {
        throw bad(`bad port mapping ${JSON.stringify(p)}`);
      }
      return { hostIP: x.hostIP, hostPort: x.hostPort!, containerPort: x.containerPort!, protocol: x.protocol };
    });
  }
  if (n.ports.length > 0 && n.mode !== 'networks') throw bad(`ports cannot be published in network mode ${n.mode}`);
  if (o.extraHosts !== undefined) {
    if (!Array.isArray(o.extraHosts)) throw bad('extraHosts must be a list');
    n.extraHosts = o.extraHosts.map((h: unknown) => {
      const x = h as Partial<ExtraHost> | null;
      if (typeof x?.host !== 'string' || typeof x.ip !== 'string') throw bad('each extra host needs host and ip');
      return { host: x.host, ip: x.ip };
    });
  }
  if (o.links !== undefined) {
    if (!Array.isArray(o.links)) throw bad('links must be a list');
    n.links = o.links.map((l: unknown) => {
      const x = l as Partial<Link> | null;
      if (typeof x?.container !== 'string' || typeof x.alias !== 'string') throw bad('each link needs container and alias');
      return { container: x.container, alias: x.alias };
    });
  }
  return n;
}

/** "80/tcp" for a port spec's container side. */
export const portKey = (port: number, protocol: string) => `${port}/${protocol}`;
