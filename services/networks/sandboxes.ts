// Containers' networking, carried out when their tasks are made and undone when they are deleted. A container
// whose io.ctrd/network label asks for it gets a sandbox: <state>/io.ctrd.networks.v1/<ns>/<id> holding its
// network namespace (a bind-mounted file, made here and handed to the shim in the spec), and the hosts,
// hostname and resolv.conf files bind-mounted over the container's. Each network it joins is one endpoint:
// CNI ADD with the network's conflist into the namespace, recorded first (the CNI cache) so that DEL runs
// with the same configuration after a crash or a restart. Containers on one user-defined network find each
// other by name and alias through their hosts files, rewritten in place as peers come and go.
//
// All set-ups and teardowns run one at a time: host ports are chosen and checked against the endpoints of
// every namespace, and peers' files are rewritten, with nothing else changing underneath.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Cni, CniAttachment, CniConfList } from '../../lib/cni/cni.js';
import { containerNetworkOf, networkLabel, type ContainerNetwork, type PortSpec } from '../../lib/container-network.js';
import { stateLabels } from '../../lib/container-labels.js';
import { errnoCode, failedPrecondition, invalidArgument, isNotFound, notFound, wrap } from '../../lib/errdefs.js';
import type { Logger } from '../../lib/log.js';
import { createNetns, removeNetns } from '../../lib/netns.js';
import type { ContainerStore } from '../containers/store.js';
import type { Container } from '../containers/types.js';
import { hostsFile, resolvConf, writeInPlace } from './container-files.js';
import { ephemeralPort, portInUse } from './host-ports.js';
import type { NetworkManager } from './manager.js';
import type { EndpointRow, Network, NetworkStore } from './store.js';

/** What the sandboxes need to know of tasks: whether one exists, and its init pid. */
export interface TaskLookup {
  exists(ns: string, id: string): boolean;
  pid(ns: string, id: string): number | undefined;
}

/** An endpoint as the API shows it. */
export interface EndpointView {
  row: EndpointRow;
  network: Network;
  containerName: string;
  /** "172.18.0.2/16", or '' while ADD has not answered. */
  address: string;
  gateway: string;
  mac: string;
}

/**
 * Debian 12's portmap (1.1.1) fails CHECK of an IPv4-only result ("could not check ipv6 dnat: chain ... not
 * found"), whatever the rules: its CHECK says nothing, so it is not asked.
 */
const uncheckable = new Set(['portmap']);

const loopback: CniConfList = { cniVersion: '1.0.0', name: 'loopback', plugins: [{ type: 'loopback' }] };
const fileTargets = [
  ['hosts', '/etc/hosts'],
  ['hostname', '/etc/hostname'],
  ['resolv.conf', '/etc/resolv.conf'],
] as const;

interface Spec {
  hostname?: string;
  mounts?: Array<{ destination: string; type?: string; source?: string; options?: string[] }>;
  linux?: { namespaces?: Array<{ type: string; path?: string }> };
  [key: string]: unknown;
}

export class ContainerNetworks {
  private queue: Promise<unknown> = Promise.resolve();
  private tasks: TaskLookup = { exists: () => false, pid: () => undefined };

  constructor(
    private readonly store: NetworkStore,
    private readonly networks: NetworkManager,
    private readonly containers: ContainerStore,
    private readonly cni: Cni,
    /** <state>/io.ctrd.networks.v1: the sandboxes. */
    private readonly dir: string,
    private readonly log: Logger,
  ) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o711 });
  }

  /** The shim manager is made after the networks: it is handed in once it exists. */
  useTasks(tasks: TaskLookup): void {
    this.tasks = tasks;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  sandboxDir(ns: string, id: string): string {
    return path.join(this.dir, ns, id);
  }

  /**
   * Sets up the networking of a container whose task is about to be made, and returns the spec the task
   * gets: its network namespace and files in. A container without the network label keeps its spec. On
   * failure nothing is left: every endpoint made is deleted again, the namespace and files removed.
   */
  setUp(ns: string, container: Container): Promise<Buffer> {
    const cfg = containerNetworkOf(container.id, container.labels);
    if (!cfg) return Promise.resolve(container.spec.value);
    return this.serial(async () => {
      try {
        return await this.build(ns, container, cfg);
      } catch (err) {
        await this.undo(ns, container.id);
        throw wrap(err, `set up the network of container ${container.id}`);
      }
    });
  }

  private async build(ns: string, container: Container, cfg: ContainerNetwork): Promise<Buffer> {
    const id = container.id;
    const spec = parseSpec(container);
    const dir = this.sandboxDir(ns, id);
    // What an earlier task left (a DEL that failed, a daemon that died meanwhile) goes first.
    if (fs.existsSync(dir) || this.store.endpoints({ ns, containerId: id }).length > 0) await this.undo(ns, id);
    fs.mkdirSync(dir, { recursive: true, mode: 0o711 });
    const hostname = hostnameOf(spec, id);
    fs.writeFileSync(path.join(dir, 'hostname'), `${hostname}\n`, { mode: 0o644 });
    let netnsPath: string | null;
    let filesDir = dir;
    switch (cfg.mode) {
      case 'host':
        netnsPath = null;
        writeInPlace(path.join(dir, 'hosts'), hostHostsWith(cfg));
        writeInPlace(path.join(dir, 'resolv.conf'), resolvConf(readHostFile('/etc/resolv.conf'), dnsOf(cfg), 'host'));
        break;
      case 'container': {
        const target = cfg.container!;
        const pid = this.tasks.pid(ns, target);
        if (pid === undefined) throw failedPrecondition(`cannot join the network of container ${target}: it is not running`);
        const theirs = path.join(this.sandboxDir(ns, target), 'netns');
        netnsPath = fs.existsSync(theirs) ? theirs : `/proc/${pid}/ns/net`;
        if (!fs.existsSync(netnsPath)) throw failedPrecondition(`cannot join the network of container ${target}: its task has exited`);
        // The container it joins has the files of that namespace; one without (made by ctr) lends none.
        if (fs.existsSync(path.join(this.sandboxDir(ns, target), 'hosts'))) filesDir = this.sandboxDir(ns, target);
        else this.writeOwnFiles(ns, container, cfg, hostname);
        break;
      }
      case 'none':
      case 'networks': {
        netnsPath = path.join(dir, 'netns');
        await createNetns(netnsPath);
        await this.cni.add(loopback, { containerId: id, netns: netnsPath, ifname: 'lo' });
        const joined: Network[] = [];
        for (const [i, a] of cfg.networks.entries()) {
          const network = this.networks.get(a.name);
          await this.join(ns, id, network, netnsPath, `eth${i}`, a.aliases, i === 0 ? cfg.ports : []);
          joined.push(network);
        }
        this.writeOwnFiles(ns, container, cfg, hostname);
        this.refreshPeers(ns, id, joined);
        break;
      }
    }
    const files = Object.fromEntries(fileTargets.map(([name, target]) => [target, path.join(target === '/etc/hostname' ? dir : filesDir, name)]));
    return Buffer.from(JSON.stringify(withNetwork(spec, netnsPath, files)));
  }

  /** One endpoint: the row first (the cache DEL needs), then ADD, then its result. */
  private async join(ns: string, id: string, network: Network, netns: string, ifname: string, aliases: string[], wanted: PortSpec[]): Promise<EndpointRow> {
    if (aliases.length > 0 && network.isDefault) throw invalidArgument(`network-scoped alias is supported only for containers in user defined networks`);
    const ports = await this.choosePorts(wanted);
    const capabilityArgs = ports.length === 0 ? {} : { portMappings: ports.map(({ hostIP, hostPort, containerPort, protocol }) => ({ hostPort, containerPort, protocol, ...(hostIP ? { hostIP } : {}) })) };
    const row: EndpointRow = {
      ns,
      containerId: id,
      networkId: network.id,
      ifname,
      netns,
      aliases,
      ports,
      conflist: withoutUnusedPortmap(this.networks.conflist(network), ports),
      capabilityArgs,
      result: undefined,
      createdAt: new Date(),
    };
    this.store.insertEndpoint(row);
    row.result = await this.cni.add(row.conflist, attachment(row));
    this.store.setResult(ns, id, network.id, row.result);
    this.log.info({ ns, id, network: network.name, ifname, address: row.result.ips?.[0]?.address, ports: ports.length }, 'container joined network');
    return row;
  }

  /** Host ports for the wanted mappings: ephemeral ones chosen, and none taken by an endpoint or a host socket. */
  private async choosePorts(wanted: readonly PortSpec[]): Promise<PortSpec[]> {
    const published = this.store.endpoints().flatMap((e) => e.ports);
    const chosen: PortSpec[] = [];
    const clashes = (p: PortSpec) =>
      [...published, ...chosen].some((q) => q.protocol === p.protocol && q.hostPort === p.hostPort && (q.hostIP === '' || p.hostIP === '' || q.hostIP === p.hostIP));
    for (const w of wanted) {
      const where = `${w.hostIP || '0.0.0.0'}:${w.hostPort}`;
      if (w.hostPort === 0) {
        const hostPort = await ephemeralPort(w.hostIP, w.protocol, (port) => clashes({ ...w, hostPort: port }));
        chosen.push({ ...w, hostPort });
        continue;
      }
      if (clashes(w)) throw failedPrecondition(`Bind for ${where}/${w.protocol} failed: port is already allocated`);
      if (await portInUse(w.hostIP, w.hostPort, w.protocol)) throw failedPrecondition(`Bind for ${where}/${w.protocol} failed: port is already in use on the host`);
      chosen.push(w);
    }
    return chosen;
  }

  /** The container's hosts and resolv.conf, from its endpoints, peers, links and DNS flags. */
  private writeOwnFiles(ns: string, container: Container, cfg: ContainerNetwork, hostname: string): void {
    const dir = this.sandboxDir(ns, container.id);
    writeInPlace(path.join(dir, 'hosts'), this.hostsOf(ns, container, cfg, hostname));
    writeInPlace(path.join(dir, 'resolv.conf'), resolvConf(readHostFile('/etc/resolv.conf'), dnsOf(cfg), 'private'));
  }

  /** The container's hosts file: itself, its extra hosts, its links, and its peers on the user-defined networks it has joined. */
  private hostsOf(ns: string, container: Container, cfg: ContainerNetwork, hostname: string): string {
    const own = this.store.endpoints({ ns, containerId: container.id });
    const joined = this.networksOf(own);
    const first = own.find((e) => e.result)?.result?.ips?.[0];
    const name = container.labels[stateLabels.name];
    const selfNames = unique([hostname, ...(name ? [name] : []), ...own.flatMap((e) => e.aliases)]);
    const peers: Array<{ ip: string; names: string[] }> = [];
    for (const network of joined.filter((n) => !n.isDefault)) {
      for (const e of this.store.endpoints({ ns, networkId: network.id })) {
        const ip = addressOf(e);
        if (e.containerId === container.id || !ip) continue;
        const peerName = this.nameOf(ns, e.containerId);
        peers.push({ ip, names: unique([...(peerName ? [peerName] : []), ...e.aliases, e.containerId.slice(0, 12)]) });
      }
    }
    for (const link of cfg.links) {
      const theirs = this.store.endpoints({ ns, containerId: link.container }).find((e) => addressOf(e));
      const peerName = this.nameOf(ns, link.container);
      if (theirs) peers.push({ ip: addressOf(theirs)!, names: unique([link.alias, ...(peerName ? [peerName] : []), link.container.slice(0, 12)]) });
    }
    const gateway = first?.gateway;
    // host-gateway: the host's address on the container's first network; without a network there is none.
    const extraHosts = cfg.extraHosts.flatMap((h) => (h.ip !== 'host-gateway' ? [h] : gateway ? [{ host: h.host, ip: gateway }] : []));
    return hostsFile({ self: { ip: first ? first.address.split('/')[0] : undefined, names: selfNames }, extraHosts, peers });
  }

  private nameOf(ns: string, id: string): string | undefined {
    try {
      return this.containers.get(ns, id).labels[stateLabels.name] || undefined;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Rewrites the hosts files of the other containers on these (user-defined) networks. */
  private refreshPeers(ns: string, except: string, networks: readonly Network[]): void {
    const ids = new Set<string>();
    for (const n of networks.filter((x) => !x.isDefault)) {
      for (const e of this.store.endpoints({ ns, networkId: n.id })) if (e.containerId !== except) ids.add(e.containerId);
    }
    for (const id of ids) {
      try {
        const c = this.containers.get(ns, id);
        const cfg = containerNetworkOf(id, c.labels);
        const file = path.join(this.sandboxDir(ns, id), 'hosts');
        if (!cfg || !fs.existsSync(file)) continue;
        writeInPlace(file, this.hostsOf(ns, c, cfg, hostnameOf(parseSpec(c), id)));
      } catch (err) {
        this.log.warn({ ns, id, err }, 'cannot rewrite the hosts file of a peer');
      }
    }
  }

  /** Undoes a container's networking after its task is deleted: DEL for each endpoint, then the sandbox. */
  tearDown(ns: string, id: string): Promise<void> {
    return this.serial(() => this.undo(ns, id));
  }

  private async undo(ns: string, id: string): Promise<void> {
    const log = this.log.child({ ns, id });
    const endpoints = this.store.endpoints({ ns, containerId: id });
    const left: string[] = [];
    for (const e of [...endpoints].reverse()) {
      try {
        await this.deleteEndpoint(e);
      } catch (err) {
        // The row stays: the next start of the daemon runs DEL for it again.
        log.error({ err, network: e.conflist.name }, 'cni DEL failed; the endpoint is kept to be deleted again later');
        left.push(e.conflist.name);
      }
    }
    const dir = this.sandboxDir(ns, id);
    removeNetns(path.join(dir, 'netns'));
    fs.rmSync(dir, { recursive: true, force: true });
    const networks = this.networksOf(endpoints);
    this.refreshPeers(ns, id, networks);
    if (endpoints.length > 0) log.info({ networks: networks.map((n) => n.name), failed: left }, 'container left its networks');
  }

  /** Joins a container to one more network: recorded in its label; joined at once while its task runs. */
  connect(ns: string, id: string, ref: string, aliases: string[]): Promise<EndpointView | undefined> {
    return this.serial(async () => {
      const c = this.containers.get(ns, id);
      const network = this.networks.get(ref);
      const cfg = containerNetworkOf(id, c.labels);
      if (!cfg) throw failedPrecondition(`container ${id} was not made with ctrd's networking (no ${networkLabel} label)`);
      if (cfg.mode !== 'networks') throw failedPrecondition(`container ${id} cannot join network ${network.name}: its network mode is ${cfg.mode}`);
      if (cfg.networks.some((a) => this.networks.find(a.name)?.id === network.id)) {
        throw failedPrecondition(`endpoint with name ${nameOrId(c)} already exists in network ${network.name}`);
      }
      let made: EndpointRow | undefined;
      const netns = path.join(this.sandboxDir(ns, id), 'netns');
      if (this.tasks.exists(ns, id) && fs.existsSync(netns)) {
        const used = new Set(this.store.endpoints({ ns, containerId: id }).map((e) => e.ifname));
        let n = 0;
        while (used.has(`eth${n}`)) n++;
        try {
          made = await this.join(ns, id, network, netns, `eth${n}`, aliases, []);
        } catch (err) {
          await this.leave(ns, id, network).catch(() => undefined);
          throw err;
        }
      }
      this.setLabel(ns, id, { ...cfg, networks: [...cfg.networks, { name: network.name, aliases }] });
      if (made) this.afterChange(ns, id, network);
      return made && this.view(made);
    });
  }

  disconnect(ns: string, id: string, ref: string, force: boolean): Promise<void> {
    return this.serial(async () => {
      const c = this.containers.get(ns, id);
      const network = this.networks.get(ref);
      const cfg = containerNetworkOf(id, c.labels);
      const kept = cfg?.networks.filter((a) => this.networks.find(a.name)?.id !== network.id) ?? [];
      if (!cfg || kept.length === cfg.networks.length) {
        if (force) return;
        throw failedPrecondition(`container ${nameOrId(c)} is not connected to network ${network.name}`);
      }
      await this.leave(ns, id, network);
      this.setLabel(ns, id, kept.length > 0 ? { ...cfg, networks: kept } : { ...cfg, mode: 'none', networks: [], ports: [] });
      this.afterChange(ns, id, network);
    });
  }

  private async leave(ns: string, id: string, network: Network): Promise<void> {
    const e = this.store.endpoints({ ns, containerId: id, networkId: network.id })[0];
    if (e) await this.deleteEndpoint(e);
  }

  /** DEL with what ADD was given, then the row: a DEL that fails keeps it, for a later one. */
  private async deleteEndpoint(e: EndpointRow): Promise<void> {
    await this.cni.del(e.conflist, attachment(e), e.result);
    this.store.removeEndpoint(e.ns, e.containerId, e.networkId);
  }

  /** The networks of these endpoints (one removed meanwhile left out). */
  private networksOf(endpoints: readonly EndpointRow[]): Network[] {
    return endpoints.map((e) => this.store.byId(e.networkId)).filter((n): n is Network => n !== undefined);
  }

  private afterChange(ns: string, id: string, network: Network): void {
    const c = this.containers.get(ns, id);
    const cfg = containerNetworkOf(id, c.labels)!;
    if (fs.existsSync(path.join(this.sandboxDir(ns, id), 'hosts'))) this.writeOwnFiles(ns, c, cfg, hostnameOf(parseSpec(c), id));
    this.refreshPeers(ns, id, [network, ...this.networksOf(this.store.endpoints({ ns, containerId: id }))]);
  }

  private setLabel(ns: string, id: string, cfg: ContainerNetwork): void {
    this.containers.update(ns, { id, labels: { [networkLabel]: JSON.stringify(cfg) } }, [`labels.${networkLabel}`]);
  }

  /** Removes a network, refused while a container is attached; no container joins it meanwhile. */
  removeNetwork(ref: string): Promise<Network> {
    return this.serial(() => this.networks.remove(ref, (n) => this.attachedTo(n)));
  }

  /** The endpoints of a namespace's containers (all of them when ids is empty). */
  endpoints(ns: string, ids: readonly string[]): EndpointView[] {
    const want = new Set(ids);
    return this.store
      .endpoints({ ns })
      .filter((e) => want.size === 0 || want.has(e.containerId))
      .map((e) => this.view(e));
  }

  /** Every endpoint on a network, of every namespace. */
  endpointsOn(n: Network): EndpointView[] {
    return this.store.endpoints({ networkId: n.id }).map((e) => this.view(e, n));
  }

  /** The containers attached to a network, as "ns/id" (or the id alone in the caller's namespace). */
  attachedTo(n: Network): string[] {
    return this.store.endpoints({ networkId: n.id }).map((e) => `${this.nameOf(e.ns, e.containerId) ?? e.containerId.slice(0, 12)} (namespace ${e.ns})`);
  }

  private view(e: EndpointRow, network = this.store.byId(e.networkId)): EndpointView {
    if (!network) throw notFound(`network ${e.networkId} of container ${e.containerId} not found`);
    const ip = e.result?.ips?.[0];
    const iface = ip?.interface !== undefined ? e.result?.interfaces?.[ip.interface] : e.result?.interfaces?.find((i) => i.sandbox);
    return { row: e, network, containerName: this.nameOf(e.ns, e.containerId) ?? '', address: ip?.address ?? '', gateway: ip?.gateway ?? '', mac: iface?.mac ?? '' };
  }

  /**
   * After the daemon starts and its tasks are loaded: the sandboxes and endpoints of tasks that are gone
   * (deleted while the daemon was down, or lost with the machine) are torn down before it serves. The live
   * ones are checked (CNI CHECK) afterwards, behind it: that is plugin runs for every endpoint, which the
   * start need not wait for; a set-up asked meanwhile queues behind them.
   */
  async reconcile(): Promise<void> {
    const live = await this.serial(async () => {
      const keys = new Map<string, { ns: string; id: string }>();
      for (const e of this.store.endpoints()) keys.set(`${e.ns}/${e.containerId}`, { ns: e.ns, id: e.containerId });
      for (const ns of readdir(this.dir)) for (const id of readdir(path.join(this.dir, ns))) keys.set(`${ns}/${id}`, { ns, id });
      const running: Array<{ ns: string; id: string }> = [];
      for (const { ns, id } of keys.values()) {
        if (this.tasks.exists(ns, id)) {
          running.push({ ns, id });
          continue;
        }
        this.log.info({ ns, id }, 'tearing down the network of a task that is gone');
        await this.undo(ns, id);
      }
      return running;
    });
    this.serial(async () => {
      for (const { ns, id } of live) {
        for (const e of this.store.endpoints({ ns, containerId: id })) {
          if (!e.result) continue;
          await this.cni.check(e.conflist, attachment(e), e.result, uncheckable).catch((err: unknown) => this.log.warn({ ns, id, err, network: e.conflist.name }, 'cni CHECK of a running task failed'));
        }
      }
    }).catch((err: unknown) => this.log.warn({ err }, 'checking the endpoints of running tasks stopped'));
  }
}

/**
 * The list an endpoint is added with: portmap only when it publishes ports (it costs two plugin runs and a
 * dozen iptables calls otherwise for nothing). DEL runs the same list, kept with the endpoint.
 */
function withoutUnusedPortmap(list: CniConfList, ports: readonly PortSpec[]): CniConfList {
  return ports.length > 0 ? list : { ...list, plugins: list.plugins.filter((p) => p.type !== 'portmap') };
}

const attachment = (e: EndpointRow): CniAttachment => ({ containerId: e.containerId, netns: e.netns, ifname: e.ifname, capabilityArgs: e.capabilityArgs });

const addressOf = (e: EndpointRow) => e.result?.ips?.[0]?.address.split('/')[0];

const unique = (xs: readonly string[]) => [...new Set(xs.filter(Boolean))];

const nameOrId = (c: Container) => c.labels[stateLabels.name] || c.id;

/** The spec's hostname, else docker's: the ID's first 12 characters. */
const hostnameOf = (spec: Spec, id: string) => spec.hostname || id.slice(0, 12);

function parseSpec(c: Container): Spec {
  try {
    return JSON.parse(c.spec.value.toString('utf8')) as Spec;
  } catch (err) {
    throw invalidArgument(`container ${c.id}: spec is not valid JSON: ${(err as Error).message}`);
  }
}

const dnsOf = (cfg: ContainerNetwork) => ({ dns: cfg.dns, search: cfg.dnsSearch, options: cfg.dnsOptions });

/** host mode: the host's own hosts file, with the extra hosts added (host-gateway is the host: 127.0.0.1). */
function hostHostsWith(cfg: ContainerNetwork): string {
  const text = readHostFile('/etc/hosts');
  const extra = cfg.extraHosts.map((h) => `${h.ip === 'host-gateway' ? '127.0.0.1' : h.ip}\t${h.host}\n`).join('');
  return (text === '' || text.endsWith('\n') ? text : `${text}\n`) + extra;
}

function readHostFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return '';
    throw err;
  }
}

function readdir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * The spec with the network namespace (a path; null: the host's, so none of its own) and the files bind
 * mounted, unless the spec mounts something there itself.
 */
export function withNetwork(spec: Spec, netns: string | null, files: Record<string, string>): Spec {
  const linux = { ...(spec.linux ?? {}) };
  const others = (linux.namespaces ?? []).filter((n) => n.type !== 'network');
  linux.namespaces = netns === null ? others : [...others, { type: 'network', path: netns }];
  const mounts = [...(spec.mounts ?? [])];
  for (const [target, source] of Object.entries(files)) {
    if (mounts.some((m) => path.posix.normalize(m.destination).replace(/(.)\/+$/, '$1') === target)) continue;
    mounts.push({ destination: target, type: 'bind', source, options: ['rbind', 'rprivate'] });
  }
  return { ...spec, linux, mounts, ...(netns === null && spec.hostname === undefined ? { hostname: os.hostname() } : {}) };
}
