// deleteBridge against what the real CNI plugins leave behind: a bridge with a container attached through
// bridge + firewall (same-bridge) + portmap in a namespace this test made; after CNI DEL the bridge device and
// the firewall's isolation rules are still there, and deleteBridge removes them.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatIpv4, hostRoutes, nthHost, overlaps, parseSubnet, type Ipv4Net } from '../../lib/net/cidr.js';
import { createNetns, removeNetns } from '../../lib/netns.js';
import {
  cniAdd,
  cniChainNames,
  cniDel,
  cniNetworkName,
  networkLeftovers,
  removeBridgesForTest,
  testBridgeName,
  type CniAttachment,
} from '../../test/harness/network.js';
import { ephemeralPort, portInUse } from './host-ports.js';
import { runChecked as run } from '../../lib/process.js';
import { deleteBridge, listRules, namesDevice, splitIptablesLine } from './bridge-teardown.js';

let dir: string;
const bridges: string[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ctrd-bridge-'));
});

afterAll(async () => {
  await removeBridgesForTest(bridges);
  expect(networkLeftovers({ bridges, containerIds: [], netnsDir: dir })).toEqual([]);
  rmSync(dir, { recursive: true, force: true });
});

/** Starts a TCP server on port 80 in netns, connects to 127.0.0.1:hostPort, returns what it said. */
async function throughMappedPort(netns: string, hostPort: number): Promise<string> {
  const serve =
    "require('net').createServer((s) => s.end('hello from ' + s.localAddress + '\\n'))" +
    ".listen(80, '0.0.0.0', () => console.log('ready'))";
  const server = spawn('nsenter', [`--net=${netns}`, process.execPath, '-e', serve], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(server, 'exit');
  try {
    const [chunk] = (await once(server.stdout, 'data')) as [Buffer];
    expect(chunk.toString()).toBe('ready\n');
    return await new Promise<string>((resolve, reject) => {
      let text = '';
      const c = connect({ host: '127.0.0.1', port: hostPort });
      c.setTimeout(5000, () => c.destroy(new Error(`no answer through 127.0.0.1:${hostPort}`)));
      c.on('data', (d: Buffer) => (text += d.toString()));
      c.on('end', () => resolve(text));
      c.on('error', reject);
    });
  } finally {
    server.kill();
    await exited;
  }
}

/** A 10.213.x.0/24 no route of the host's overlaps (and so no other test's bridge). */
function unroutedSubnet(): Ipv4Net {
  const routes = hostRoutes().map((r) => r.net);
  for (;;) {
    const candidate = parseSubnet(`10.213.${Math.floor(Math.random() * 256)}.0/24`);
    if (!routes.some((r) => overlaps(r, candidate))) return candidate;
  }
}

describe('splitIptablesLine', () => {
  it("undoes iptables -S's quoting", () => {
    expect(
      splitIptablesLine('-A POSTROUTING -s 10.0.0.2/32 -m comment --comment "name: \\"n\\" id: \\"abc\\"" -j X'),
    ).toEqual([
      ...['-A', 'POSTROUTING', '-s', '10.0.0.2/32'],
      ...['-m', 'comment', '--comment', 'name: "n" id: "abc"', '-j', 'X'],
    ]);
    expect(splitIptablesLine('-A C ! -o br0 -j DROP')).toEqual(['-A', 'C', '!', '-o', 'br0', '-j', 'DROP']);
  });
});

describe('deleteBridge', () => {
  it('removes the bridge and the isolation rules CNI DEL leaves', async () => {
    const bridge = testBridgeName();
    bridges.push(bridge);
    const containerId = `ctrdtest${bridge}c0ffee`;
    const netns = join(dir, 'ns');
    const subnet = unroutedSubnet();
    const hostPort = await ephemeralPort('', 'tcp', () => false);
    await createNetns(netns);
    const a: CniAttachment = {
      bridge,
      subnet: subnet.text,
      netns,
      containerId,
      ipamDir: join(dir, 'ipam'),
      portMappings: [{ hostPort, containerPort: 80, protocol: 'tcp' }],
    };
    try {
      const result = await cniAdd(a);
      expect(result.ips[0]!.address).toBe(`${formatIpv4(nthHost(subnet, 2))}/24`);
      const attached = networkLeftovers({ bridges: [bridge], containerIds: [containerId], netnsDir: dir });
      // The per-container chains are found by their names alone.
      const chains = cniChainNames(cniNetworkName(a), containerId);
      const byChain = networkLeftovers({ bridges: [], containerIds: [containerId], networks: [cniNetworkName(a)] });
      expect(byChain).toContain(`iptables -t nat -N ${chains[0]}`);
      expect(byChain).toContain(`iptables -t nat -N ${chains[1]}`);
      expect(attached).toContain(`link ${bridge}`);
      expect(attached.some((l) => new RegExp(`^link veth\\S+ on ${bridge}$`).test(l))).toBe(true);
      expect(attached.some((l) => l.includes('DNAT') || l.includes('dnat'))).toBe(true);
      expect(attached).toContain(`mount ${netns}`);
      const inside = execFileSync('nsenter', [`--net=${netns}`, 'ip', '-o', '-4', 'addr', 'show', 'eth0'], {
        encoding: 'utf8',
      });
      expect(inside).toContain(result.ips[0]!.address);
      // portmap forwards with DNAT and binds nothing: a port ctrd mapped is its own to remember, not a bind's.
      expect(await portInUse('', hostPort, 'tcp')).toBe(false);
      // The chain works: the host's loopback reaches a server in the namespace through the mapped port.
      expect(await throughMappedPort(netns, hostPort)).toBe(`hello from ${result.ips[0]!.address.split('/')[0]}\n`);

      await cniDel(a);
      removeNetns(netns);
      expect(
        networkLeftovers({ bridges: [], containerIds: [containerId], networks: [cniNetworkName(a)], addresses: [result.ips[0]!.address.split('/')[0]!] }),
      ).toEqual([]);
      // What network rm has to undo itself: the device and the firewall's per-bridge rules.
      const left = networkLeftovers({ bridges: [bridge], containerIds: [containerId], netnsDir: dir });
      expect(left).toContain(`link ${bridge}`);
      const filter = (await listRules('filter')).filter((r) => namesDevice(r, bridge));
      expect(filter.map((r) => r.chain).sort()).toEqual(['CNI-ISOLATION-STAGE-1', 'CNI-ISOLATION-STAGE-2']);
      expect(left.filter((l) => l.startsWith('link '))).toEqual([`link ${bridge}`]);

      await deleteBridge(bridge);
      expect(existsSync(`/sys/class/net/${bridge}`)).toBe(false);
      expect(networkLeftovers({ bridges: [bridge], containerIds: [containerId], netnsDir: dir })).toEqual([]);
      // Idempotent.
      await deleteBridge(bridge);
    } finally {
      await cniDel(a).catch(() => undefined);
      removeNetns(netns);
    }
  });

  it('removes rules naming the bridge even when the device is gone, and no other rule', async () => {
    const bridge = testBridgeName();
    bridges.push(bridge);
    const other = testBridgeName();
    bridges.push(other);
    const add = (table: string, chain: string, ...rule: string[]) =>
      execFileSync('iptables', ['-w', '-t', table, '-A', chain, ...rule], { stdio: 'pipe' });
    const comment = ['-m', 'comment', '--comment', 'a "quoted" one'];
    add('filter', 'FORWARD', '-i', bridge, '-o', bridge, ...comment, '-j', 'ACCEPT');
    add('nat', 'POSTROUTING', '!', '-o', bridge, '-j', 'RETURN');
    add('filter', 'FORWARD', '-o', other, '-j', 'ACCEPT');
    try {
      expect(networkLeftovers({ bridges: [bridge], containerIds: [], netnsDir: dir })).toHaveLength(2);
      await deleteBridge(bridge);
      expect(networkLeftovers({ bridges: [bridge], containerIds: [], netnsDir: dir })).toEqual([]);
      expect(networkLeftovers({ bridges: [other], containerIds: [] })).toHaveLength(1);
    } finally {
      await removeBridgesForTest([bridge, other]);
    }
    expect(networkLeftovers({ bridges: [other], containerIds: [] })).toEqual([]);
  });

  it('names the command and its stderr when one fails', async () => {
    const missing = `${testBridgeName()}x`;
    const err = await run('ip', ['link', 'del', missing]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe(`ip link del ${missing}: Cannot find device "${missing}"`);
    const bad = await run('iptables', ['-w', '-t', 'filter', '-D', 'CTRD-NO-SUCH-CHAIN', '-j', 'ACCEPT']).catch(
      (e: unknown) => e,
    );
    expect((bad as Error).message).toMatch(/^iptables -w -t filter -D CTRD-NO-SUCH-CHAIN -j ACCEPT: .+/);
  });
});
