import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.js';
import { hostRoutes } from '../../lib/net/cidr.js';
import { expectKind } from '../../test/harness/errors.js';
import { MetadataDB } from '../metadata/db.js';
import { networkFilter } from './filters.js';
import { bridgeOptions, NetworkManager } from './manager.js';
import { NetworkStore } from './store.js';

describe('NetworkManager', () => {
  let dir: string;
  let db: MetadataDB;
  let manager: NetworkManager;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctrd-networks-'));
    db = MetadataDB.open(':memory:');
    manager = new NetworkManager(new NetworkStore(db), { dir, defaultBridge: 'ctrdt-unit0', defaultSubnet: '' }, silentLogger);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes the default network once, on a free pool subnet, with a conflist of bridge, portmap and firewall', () => {
    manager.ensureDefault();
    manager.ensureDefault();
    const [bridge, ...rest] = manager.list();
    expect(rest).toEqual([]);
    expect(bridge).toMatchObject({ name: 'bridge', bridge: 'ctrdt-unit0', isDefault: true, driver: 'bridge', internal: false });
    const routes = hostRoutes();
    expect(routes.some((r) => r.net.text === bridge!.subnet)).toBe(false);
    expect(bridge!.subnet).toMatch(/^(172\.(1[7-9]|2\d|3[01])\.0\.0\/16|192\.168\.\d+\.0\/20)$/);
    const list = JSON.parse(readFileSync(manager.conflistPath(bridge!), 'utf8')) as { name: string; plugins: Array<{ type: string; ipam?: { ranges: unknown; dataDir: string } }> };
    expect(list.name).toBe('bridge');
    expect(list.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap', 'firewall']);
    expect(list.plugins[0]!.ipam).toMatchObject({ ranges: [[{ subnet: bridge!.subnet, gateway: bridge!.gateway }]], dataDir: manager.ipamDir });
  });

  it('checks names, subnets, gateways and options before anything is made', async () => {
    manager.ensureDefault();
    const n1 = manager.create({ name: 'n1', subnet: '10.217.0.0/16', labels: { team: 'a' } });
    expect(n1).toMatchObject({ gateway: '10.217.0.1', bridge: `br-${n1.id.slice(0, 12)}`, labels: { team: 'a' } });
    await expectKind(() => manager.create({ name: 'n1' }), 'failed-precondition', 'network with name n1 already exists');
    await expectKind(() => manager.create({ name: 'n2', subnet: '10.217.5.0/24' }), 'failed-precondition', 'overlaps with network n1');
    await expectKind(() => manager.create({ name: 'n2', subnet: '10.217.0.0' }), 'invalid-argument', 'invalid CIDR address: 10.217.0.0');
    await expectKind(() => manager.create({ name: 'n2', subnet: '10.218.0.1/16' }), 'invalid-argument', 'it should be 10.218.0.0/16');
    await expectKind(() => manager.create({ name: 'n2', subnet: '10.218.0.0/16', gateway: '10.219.0.1' }), 'invalid-argument', 'not a host address of subnet 10.218.0.0/16');
    await expectKind(() => manager.create({ name: 'n2', options: { 'com.docker.network.bridge.enable_icc': 'false' } }), 'invalid-argument', 'unknown bridge driver option');
    await expectKind(() => manager.create({ name: 'n2', options: { [bridgeOptions.mtu]: '20' } }), 'invalid-argument', 'invalid MTU');
    await expectKind(() => manager.create({ name: 'n2', options: { [bridgeOptions.name]: 'a-name-far-too-long' } }), 'invalid-argument', 'invalid bridge name');
    await expectKind(() => manager.create({ name: 'host' }), 'failed-precondition', 'predefined host network');
    await expectKind(() => manager.create({ name: 'bridge' }), 'failed-precondition', 'predefined bridge network');
    await expectKind(() => manager.create({ name: 'bad/name' }), 'invalid-argument', 'invalid network name');
    await expectKind(() => manager.create({ name: 'n2', driver: 'overlay' }), 'not-found', 'plugin "overlay" not found');
    expect(manager.list().map((n) => n.name)).toEqual(['bridge', 'n1']);
    const internal = manager.create({ name: 'quiet', internal: true, options: { [bridgeOptions.mtu]: '1400' } });
    const plugins = manager.conflist(internal).plugins;
    expect(plugins[0]).toMatchObject({ ipMasq: false, mtu: 1400, ipam: { routes: [] } });
  });

  it('removes a network that nothing is attached to, conflist included; never the default one', async () => {
    manager.ensureDefault();
    const n = manager.create({ name: 'gone', subnet: '10.218.0.0/24' });
    await expect(manager.remove('gone', () => ['web (namespace default)'])).rejects.toThrow(/has active endpoints \(web \(namespace default\)\)/);
    await manager.remove(n.id.slice(0, 6), () => []);
    expect(existsSync(manager.conflistPath(n))).toBe(false);
    expect(manager.find('gone')).toBeUndefined();
    await expect(manager.remove('bridge', () => [])).rejects.toThrow('bridge is a pre-defined network and cannot be removed');
    await expect(manager.remove('nope', () => [])).rejects.toThrow('network nope not found');
  });

  it('filters as docker does', () => {
    manager.ensureDefault();
    manager.create({ name: 'front', labels: { tier: 'web' } });
    const pick = (filters: string[], prune = false) =>
      manager
        .list()
        .filter((network) => networkFilter(filters, prune)({ network, used: network.name === 'front' }))
        .map((n) => n.name);
    expect(pick(['name=ro'])).toEqual(['front']);
    expect(pick(['type=builtin'])).toEqual(['bridge']);
    expect(pick(['label=tier=web'])).toEqual(['front']);
    expect(pick(['dangling=true'])).toEqual(['bridge']);
    expect(pick(['label!=tier'], true)).toEqual(['bridge']);
    expect(pick(['until=1h'], true)).toEqual([]);
    expect(() => pick(['colour=red'])).toThrow("invalid filter 'colour'");
  });
});
