// Container networking for tests: the real CNI plugins run through ctrd's runner (bridge + firewall + portmap,
// as a ctrd network's conflist chains them), and the check that a test left no bridge, veth, iptables rule or network
// namespace mount behind.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { deleteBridge, splitIptablesLine } from '../../services/networks/bridge-teardown.js';
import { Cni, type CniConfList, type CniResult } from '../../lib/cni/cni.js';
import { silentLogger } from '../../lib/log.js';

const cniBin = '/usr/lib/cni';

/** A name for a test's bridge: ctrdtst and 4 hex digits (IFNAMSIZ allows 15 characters). */
export function testBridgeName(): string {
  return `ctrdtst${Math.floor(Math.random() * 0x10000)
    .toString(16)
    .padStart(4, '0')}`;
}

export interface CniAttachment {
  bridge: string;
  subnet: string;
  netns: string;
  containerId: string;
  ipamDir: string;
  portMappings?: Array<{ hostPort: number; containerPort: number; protocol: 'tcp' | 'udp'; hostIP?: string }>;
}

/** The CNI network name cniAdd uses for an attachment. */
export const cniNetworkName = (a: { bridge: string }) => `net-${a.bridge}`;

/** The chain as a ctrd network's conflist has it (bridge, firewall, portmap). */
function conflistOf(a: CniAttachment): CniConfList {
  return {
    cniVersion: '1.0.0',
    name: cniNetworkName(a),
    plugins: [
      { type: 'bridge', bridge: a.bridge, isGateway: true, ipMasq: true, ipam: { type: 'host-local', ranges: [[{ subnet: a.subnet }]], dataDir: a.ipamDir } },
      { type: 'firewall', ingressPolicy: 'same-bridge' },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
}

const cni = new Cni({ binDirs: [cniBin], log: silentLogger });
/** Each attachment's ADD result: DEL gets it as prevResult (the firewall finds its rules by the address). */
const results = new WeakMap<CniAttachment, CniResult>();
const at = (a: CniAttachment) => ({ containerId: a.containerId, netns: a.netns, ifname: 'eth0', capabilityArgs: { portMappings: a.portMappings ?? [] } });

/** CNI ADD of the chain (through ctrd's own runner); the result of the last plugin. */
export async function cniAdd(a: CniAttachment): Promise<{ ips: Array<{ address: string; gateway?: string }> }> {
  const result = await cni.add(conflistOf(a), at(a));
  results.set(a, result);
  return { ips: result.ips ?? [] };
}

/** CNI DEL of the chain, last plugin first, with the ADD's result. */
export async function cniDel(a: CniAttachment): Promise<void> {
  await cni.del(conflistOf(a), at(a), results.get(a));
}

/**
 * The per-container chains the bridge plugin (ipMasq) and portmap make, named after the CNI network's name and
 * the container ID (CNI's FormatChainName: "CNI-" + prefix + sha512(name + id) in hex, cut to 28 characters).
 * Their rules do not all mention the container ID, the chains themselves never do.
 */
export function cniChainNames(network: string, containerId: string): string[] {
  const hash = createHash('sha512').update(network + containerId).digest('hex');
  return ['', 'DN-'].map((prefix) => `CNI-${prefix}${hash}`.slice(0, 28));
}

/**
 * One line per thing left: a link of a bridge's name, a link enslaved to one, an iptables rule (filter, nat)
 * naming a bridge or a container ID, a mount under netnsDir. host-local's reservations are in the daemon's own
 * directories, which tests check with their other files. With the CNI networks' names, the per-container
 * chains of every network and container ID pair count too.
 */
export function networkLeftovers(o: {
  bridges: string[];
  containerIds: string[];
  netnsDir?: string;
  networks?: string[];
  /** Container addresses: the firewall plugin's rules name those, not the container. */
  addresses?: string[];
}): string[] {
  const chains = new Set((o.networks ?? []).flatMap((n) => o.containerIds.flatMap((id) => cniChainNames(n, id))));
  const left: string[] = [];
  for (const link of readdirSync('/sys/class/net')) {
    if (o.bridges.includes(link)) left.push(`link ${link}`);
    const master = `/sys/class/net/${link}/master`;
    if (existsSync(master) && o.bridges.includes(basename(readlinkSync(master)))) {
      left.push(`link ${link} on ${basename(readlinkSync(master))}`);
    }
  }
  for (const table of ['filter', 'nat']) {
    const out = execFileSync('iptables', ['-w', '-t', table, '-S'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const line of out.split('\n')) {
      const words = splitIptablesLine(line);
      const named =
        o.bridges.some((b) => words.includes(b)) ||
        o.containerIds.some((id) => line.includes(id)) ||
        words.some((w) => chains.has(w)) ||
        (o.addresses ?? []).some((ip) => words.includes(`${ip}/32`));
      if (named) left.push(`iptables -t ${table} ${line}`);
    }
  }
  if (o.netnsDir !== undefined) {
    const dir = o.netnsDir;
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const target = line.split(' ')[4];
      if (target !== undefined && (target === dir || target.startsWith(`${dir}/`))) left.push(`mount ${target}`);
    }
  }
  return left;
}

/** deleteBridge for each, for a test's cleanup. */
export async function removeBridgesForTest(names: readonly string[]): Promise<void> {
  for (const name of names) await deleteBridge(name);
}
