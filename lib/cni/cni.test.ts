// The CNI runner against Debian's real plugins, in network namespaces and on bridges these tests make and remove.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../test/harness/daemon.js';
import { networkLeftovers, removeBridgesForTest } from '../../test/harness/network.js';
import { kindOf } from '../errdefs.js';
import { createLogger } from '../log.js';
import { createNetns, removeNetns } from '../netns.js';
import { Cni, type CniConfList } from './cni.js';

const binDirs = ['/usr/lib/cni'];
const log = createLogger({ level: 'silent' });

describe('Cni', () => {
  let dir: string;
  let netns: string;
  const bridge = `ctrdtc${randomBytes(3).toString('hex')}`;
  const containerId = randomBytes(32).toString('hex');

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrd-cni-'));
    netns = path.join(dir, 'netns');
    await createNetns(netns);
  });

  afterAll(async () => {
    removeNetns(netns);
    await removeBridgesForTest([bridge]);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(networkLeftovers({ bridges: [bridge], containerIds: [containerId], networks: ['cnitest'], netnsDir: dir })).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false);
  });

  const list = (): CniConfList => ({
    cniVersion: '1.0.0',
    name: 'cnitest',
    plugins: [
      {
        type: 'bridge',
        bridge,
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: '10.216.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: path.join(dir, 'ipam') },
      },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      { type: 'firewall', backend: 'iptables', ingressPolicy: 'same-bridge' },
    ],
  });

  it('brings lo up with the loopback plugin', async () => {
    const cni = new Cni({ binDirs, log });
    await cni.add({ cniVersion: '1.0.0', name: 'loopback', plugins: [{ type: 'loopback' }] }, { containerId, netns, ifname: 'lo' });
    const r = await run('nsenter', [`--net=${netns}`, 'ip', '-o', 'link', 'show', 'lo']);
    expect(r.stdout).toMatch(/LOOPBACK,UP/);
  });

  it('runs ADD through the list, CHECK against its result, and DEL backwards, leaving no address, veth or rule', async () => {
    const cni = new Cni({ binDirs, log });
    const at = { containerId, netns, ifname: 'eth0', capabilityArgs: { portMappings: [{ hostPort: 18099, containerPort: 80, protocol: 'tcp', hostIP: '127.0.0.1' }] } };
    const result = await cni.add(list(), at);
    try {
      expect(result.ips?.[0]?.address).toMatch(/^10\.216\.0\.\d+\/24$/);
      const nat = await run('iptables', ['-t', 'nat', '-S']);
      expect(nat.stdout).toContain(containerId);
      expect(nat.stdout).toMatch(/--dport 18099/);
      expect(fs.readdirSync(path.join(dir, 'ipam', 'cnitest'))).toContain(result.ips![0]!.address.split('/')[0]!);
      await cni.check(list(), at, result, new Set(['portmap']));
    } finally {
      await cni.del(list(), at, result);
    }
    const ip = result.ips![0]!.address.split('/')[0]!;
    expect(fs.readdirSync(path.join(dir, 'ipam', 'cnitest'))).not.toContain(ip);
    expect((await run('nsenter', [`--net=${netns}`, 'ip', '-o', 'link'])).stdout).not.toContain('eth0');
    expect(networkLeftovers({ bridges: [], containerIds: [containerId], networks: ['cnitest'], addresses: [ip] })).toEqual([]);
  });

  it('names a plugin that is in none of the directories', async () => {
    const empty = path.join(dir, 'empty');
    fs.mkdirSync(empty);
    const cni = new Cni({ binDirs: [empty], log });
    const err = await cni.add(list(), { containerId, netns, ifname: 'eth0' }).catch((e: unknown) => e);
    expect(kindOf(err)).toBe('failed-precondition');
    expect((err as Error).message).toBe(`failed to find plugin "bridge" in path [${empty}]`);
  });

  it("gives a failing plugin's own message, naming the plugin and the network", async () => {
    // A veth (this kernel has no dummy links) where the bridge should be.
    const tag = randomBytes(2).toString('hex');
    const dummy = `ctrdtd${tag}`;
    expect((await run('ip', ['link', 'add', dummy, 'type', 'veth', 'peer', 'name', `ctrdtp${tag}`])).code).toBe(0);
    try {
      const conf = list();
      conf.plugins[0]!.bridge = dummy;
      const cni = new Cni({ binDirs, log });
      const at = { containerId, netns, ifname: 'eth0' };
      const err = await cni.add(conf, at).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(new RegExp(`^cni plugin bridge failed \\(ADD on network cnitest\\): .*${dummy}`));
      await cni.del(conf, at, undefined);
    } finally {
      await run('ip', ['link', 'del', dummy]);
    }
  });
});
