// ctrd's networks as objects: each is a row and a CNI conflist ctrd writes and owns (bridge with host-local
// IPAM, portmap, firewall), under <root>/io.ctrd.networks.v1/net.d. A network's bridge device, firewall chains
// and addresses are made by the plugins when the first container joins; removing the network removes them.
// The default network ("bridge") is made at the first start and cannot be removed.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { CniConfList } from '../../lib/cni/cni.js';
import { defaultNetworkName } from '../../lib/container-network.js';
import { failedPrecondition, invalidArgument, notFound } from '../../lib/errdefs.js';
import { validateLabels, type Labels } from '../../lib/labels.js';
import type { Logger } from '../../lib/log.js';
import { contains, formatIpv4, hostRoutes, nextFreeSubnet, nthHost, overlaps, parseIpv4, parseSubnet, type Ipv4Net } from '../../lib/net/cidr.js';
import { deleteBridge } from './bridge-teardown.js';
import type { Network, NetworkStore } from './store.js';

export interface NetworkInput {
  name: string;
  driver?: string;
  subnet?: string;
  gateway?: string;
  internal?: boolean;
  options?: Record<string, string>;
  labels?: Labels;
}

export interface NetworkManagerOptions {
  /** <root>/io.ctrd.networks.v1: conflists (net.d) and host-local's address store (ipam). */
  dir: string;
  /** The default network's bridge device. */
  defaultBridge: string;
  /** The default network's subnet; empty: the first free one of docker's pools. */
  defaultSubnet: string;
}

/** docker's bridge driver options that ctrd carries out. */
export const bridgeOptions = {
  name: 'com.docker.network.bridge.name',
  mtu: 'com.docker.network.driver.mtu',
  masquerade: 'com.docker.network.bridge.enable_ip_masquerade',
} as const;

/** docker's network names. */
const namePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** Linux interface names: at most 15 bytes, no slash, colon or space. */
const ifnamePattern = /^[a-zA-Z0-9_.-]{1,15}$/;
const reservedNames = new Set(['none', 'host']);

export class NetworkManager {
  readonly confDir: string;
  readonly ipamDir: string;

  constructor(
    private readonly store: NetworkStore,
    private readonly options: NetworkManagerOptions,
    private readonly log: Logger,
  ) {
    this.confDir = path.join(options.dir, 'net.d');
    this.ipamDir = path.join(options.dir, 'ipam');
    fs.mkdirSync(this.confDir, { recursive: true, mode: 0o700 });
    fs.mkdirSync(this.ipamDir, { recursive: true, mode: 0o700 });
  }

  /** Makes the default network unless it exists; rewrites every conflist (a new ctrd may write them otherwise). */
  ensureDefault(): void {
    if (!this.store.find(defaultNetworkName)) {
      const n = this.create({ name: defaultNetworkName, subnet: this.options.defaultSubnet, options: { [bridgeOptions.name]: this.options.defaultBridge } }, true);
      this.log.info({ network: n.name, subnet: n.subnet, bridge: n.bridge }, 'made the default network');
    }
    for (const n of this.store.all()) this.writeConflist(n);
  }

  get(ref: string): Network {
    return this.store.get(ref);
  }

  find(ref: string): Network | undefined {
    return this.store.find(ref);
  }

  list(): Network[] {
    return this.store.all();
  }

  create(input: NetworkInput, isDefault = false): Network {
    const name = input.name;
    if (!namePattern.test(name)) throw invalidArgument(`invalid network name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    if (reservedNames.has(name) || (name === defaultNetworkName && !isDefault)) {
      throw failedPrecondition(`operation is not permitted on predefined ${name} network`);
    }
    const driver = input.driver || 'bridge';
    if (driver !== 'bridge') throw notFound(`plugin "${driver}" not found: ctrd's networks have the bridge driver only`);
    const options = { ...(input.options ?? {}) };
    const known = new Set<string>(Object.values(bridgeOptions));
    const unknown = Object.keys(options).filter((k) => !known.has(k));
    if (unknown.length > 0) throw invalidArgument(`network ${name}: unknown bridge driver option ${unknown.map((k) => `"${k}"`).join(', ')} (known: ${[...known].join(', ')})`);
    const mtu = options[bridgeOptions.mtu];
    if (mtu !== undefined && !(/^\d+$/.test(mtu) && Number(mtu) >= 68 && Number(mtu) <= 65535)) {
      throw invalidArgument(`network ${name}: invalid MTU "${mtu}": a number from 68 to 65535`);
    }
    const masq = options[bridgeOptions.masquerade];
    if (masq !== undefined && !/^(true|false)$/.test(masq)) throw invalidArgument(`network ${name}: ${bridgeOptions.masquerade} must be true or false, not "${masq}"`);
    const labels = validateLabels(input.labels ?? {});
    return this.store.tx(() => {
      if (this.store.find(name)?.name === name) throw failedPrecondition(`network with name ${name} already exists`);
      const id = randomBytes(32).toString('hex');
      const bridge = options[bridgeOptions.name] ?? `br-${id.slice(0, 12)}`;
      if (!ifnamePattern.test(bridge)) throw invalidArgument(`network ${name}: invalid bridge name "${bridge}": at most 15 of [a-zA-Z0-9_.-]`);
      const others = this.store.all();
      const clash = others.find((o) => o.bridge === bridge);
      if (clash) throw failedPrecondition(`network ${name}: bridge ${bridge} is network ${clash.name}'s`);
      const subnet = this.chooseSubnet(name, input.subnet ?? '', others);
      const gateway = chooseGateway(name, subnet, input.gateway ?? '');
      const n: Network = {
        id,
        name,
        driver,
        subnet: subnet.text,
        gateway,
        bridge,
        internal: input.internal ?? false,
        options,
        labels,
        isDefault,
        createdAt: new Date(),
      };
      this.store.insert(n);
      this.writeConflist(n);
      return n;
    });
  }

  /** The given subnet, checked against the other networks and the host's routes; or the next free one. */
  private chooseSubnet(name: string, given: string, others: readonly Network[]): Ipv4Net {
    const ours = new Set(others.map((o) => o.bridge));
    const routes = hostRoutes().filter((r) => !ours.has(r.device));
    const taken = [...others.map((o) => parseSubnet(o.subnet)), ...routes.map((r) => r.net)];
    if (given === '') {
      const free = nextFreeSubnet(taken);
      if (!free) throw failedPrecondition(`network ${name}: could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network`);
      return free;
    }
    const subnet = parseSubnet(given);
    const other = others.find((o) => overlaps(parseSubnet(o.subnet), subnet));
    if (other) throw failedPrecondition(`network ${name}: subnet ${subnet.text} overlaps with network ${other.name} (${other.subnet}): Pool overlaps with other one on this address space`);
    const route = routes.find((r) => overlaps(r.net, subnet));
    if (route) throw failedPrecondition(`network ${name}: subnet ${subnet.text} overlaps with the host's route to ${route.net.text} on ${route.device}`);
    return subnet;
  }

  /** Removes a network no task is joined to: bridge and its firewall rules, address store, conflist, row. */
  async remove(ref: string, attached: (n: Network) => string[]): Promise<Network> {
    const n = this.store.get(ref);
    if (n.isDefault) throw failedPrecondition(`${n.name} is a pre-defined network and cannot be removed`);
    const users = attached(n);
    if (users.length > 0) throw failedPrecondition(`error while removing network: network ${n.name} id ${n.id} has active endpoints (${users.join(', ')})`);
    await deleteBridge(n.bridge);
    fs.rmSync(path.join(this.ipamDir, n.name), { recursive: true, force: true });
    fs.rmSync(this.conflistPath(n), { force: true });
    this.store.remove(n.id);
    this.log.info({ network: n.name, id: n.id }, 'network removed');
    return n;
  }

  conflistPath(n: Network): string {
    return path.join(this.confDir, `${n.name}.conflist`);
  }

  /** The conflist of a network, as ctrd hands it to the plugins. */
  conflist(n: Network): CniConfList {
    const masquerade = !n.internal && n.options[bridgeOptions.masquerade] !== 'false';
    const mtu = n.options[bridgeOptions.mtu];
    return {
      cniVersion: '1.0.0',
      name: n.name,
      plugins: [
        {
          type: 'bridge',
          bridge: n.bridge,
          isGateway: true,
          ipMasq: masquerade,
          hairpinMode: true,
          ...(mtu ? { mtu: Number(mtu) } : {}),
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: n.subnet, gateway: n.gateway }]],
            routes: n.internal ? [] : [{ dst: '0.0.0.0/0' }],
            dataDir: this.ipamDir,
          },
        },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
        { type: 'firewall', backend: 'iptables', ingressPolicy: 'same-bridge' },
      ],
    };
  }

  private writeConflist(n: Network): void {
    const file = this.conflistPath(n);
    const tmp = `${file}.tmp-${randomBytes(4).toString('hex')}`;
    fs.writeFileSync(tmp, JSON.stringify(this.conflist(n), null, 2) + '\n', { mode: 0o600 });
    fs.renameSync(tmp, file);
  }
}

function chooseGateway(name: string, subnet: Ipv4Net, given: string): string {
  if (given === '') return formatIpv4(nthHost(subnet, 1));
  const ip = parseIpv4(given);
  if (ip === undefined) throw invalidArgument(`network ${name}: invalid gateway address ${given}`);
  const size = 2 ** (32 - subnet.prefix);
  if (!contains(subnet, ip) || ip === subnet.base || ip === subnet.base + size - 1) {
    throw invalidArgument(`network ${name}: gateway ${given} is not a host address of subnet ${subnet.text}`);
  }
  return given;
}
