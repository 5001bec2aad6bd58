// Issue 7's acceptance, as a docker user types it: containers on CNI bridge networks made by the real plugins
// (Debian's containernetworking-plugins), reaching each other by name and alias, published ports reached from
// the host on 127.0.0.1, the network modes none, host and container:, a daemon restart that keeps
// addresses and ports, and many set-ups and teardowns that leave no veth, netns, rule or address behind.
// Traffic stays on loopback and inside the namespaces these tests make.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { explain, ctrctlSuite } from '../harness/ctrctl.js';
import { run } from '../harness/daemon.js';
import { networkLeftovers } from '../harness/network.js';
import { unary } from '../../lib/grpc/client.js';

const s = ctrctlSuite('networks', { pull: true });
const netnsDir = () => path.join(s.d.state, 'io.ctrd.networks.v1');

/** GET http://127.0.0.1:port/path from the host; the body. */
function fetchLocal(port: number, file = '/'): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: file, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`GET 127.0.0.1:${port}${file} timed out`)));
    req.on('error', reject);
  });
}

const webServer = (text: string) => ['sh', '-c', `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`];

async function waitForBody(port: number, want: string): Promise<void> {
  let last: unknown;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetchLocal(port)).trim() === want) return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`127.0.0.1:${port} never answered ${want}: ${String(last)}`);
}

const ipOf = async (name: string) => s.ctl('inspect', '--format', '{{.NetworkSettings.IPAddress}}', name);
const idOf = async (name: string) => s.ctl('inspect', '--format', '{{.Id}}', name);
const interfaces = (procNetDev: string) =>
  procNetDev
    .split('\n')
    .slice(2)
    .map((l) => l.split(':')[0]!.trim())
    .filter(Boolean)
    .sort();

describe('ctrctl on container networks', () => {
  it('joins containers on a user network by name and alias, and keeps other networks apart', async () => {
    const created = await s.ctl('network', 'create', 'n1');
    expect(created).toMatch(/^[0-9a-f]{64}$/);
    await s.ctl('network', 'create', 'n2');
    await s.ctl('run', '-d', '--name', 'db', '--network', 'n1', '--network-alias', 'database', s.image, 'nc', '-ll', '-p', '5000', '-e', 'echo', 'ok');
    expect(await s.ctl('run', '--rm', '--network', 'n1', s.image, 'sh', '-c', 'echo | nc db 5000')).toBe('ok');
    expect(await s.ctl('run', '--rm', '--network', 'n1', s.image, 'sh', '-c', 'echo | nc database 5000')).toBe('ok');

    // The peer's hosts file learns of a newcomer while it runs, and forgets it once it is gone.
    await s.ctl('run', '-d', '--name', 'late', '--network', 'n1', s.image, 'sleep', '300');
    const lateIp = await ipOf('late');
    expect(await s.ctl('exec', 'db', 'cat', '/etc/hosts')).toMatch(new RegExp(`^${lateIp.replace(/\./g, '\\.')}\\s.*\\blate\\b`, 'm'));
    await s.ctl('rm', '-f', 'late');
    expect(await s.ctl('exec', 'db', 'cat', '/etc/hosts')).not.toMatch(/\blate\b/);

    // n2 neither knows the name nor reaches the address.
    const dbIp = await ipOf('db');
    expect(dbIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const byName = await s.d.ctrctl(['run', '--rm', '--network', 'n2', s.image, 'sh', '-c', 'echo | nc -w 2 db 5000']);
    expect(byName.stdout).not.toContain('ok');
    const byIp = await s.d.ctrctl(['run', '--rm', '--network', 'n2', s.image, 'sh', '-c', `echo | nc -w 2 ${dbIp} 5000`]);
    expect(byIp.stdout, explain(byIp, s.d)).not.toContain('ok');
    // ...and from n1, the address answers: what kept n2 out was the isolation, not the server.
    expect(await s.ctl('run', '--rm', '--network', 'n1', s.image, 'sh', '-c', `echo | nc -w 2 ${dbIp} 5000`)).toBe('ok');

    const inspected = JSON.parse(await s.ctl('network', 'inspect', 'n1')) as Array<{ Name: string; Containers: Record<string, { Name: string; IPv4Address: string }> }>;
    expect(inspected[0]!.Name).toBe('n1');
    expect(Object.values(inspected[0]!.Containers)).toEqual([expect.objectContaining({ Name: 'db', IPv4Address: expect.stringMatching(new RegExp(`^${dbIp}/`)) })]);

    const inUse = await s.d.ctrctl(['network', 'rm', 'n1']);
    expect(inUse.code).not.toBe(0);
    expect(inUse.stderr).toMatch(/n1.*active endpoints.*db/);
    await s.ctl('rm', '-f', 'db');
    expect(await s.ctl('network', 'rm', 'n1', 'n2')).toBe('n1\nn2');
  }, 120_000);

  it('publishes ports on 127.0.0.1, ephemeral ones too, reached from the host and by hairpin', async () => {
    await s.ctl('run', '-d', '--name', 'web', '-p', '127.0.0.1:18080:80', s.image, ...webServer('fixed'));
    await waitForBody(18080, 'fixed');
    await s.ctl('run', '-d', '--name', 'eph', '-p', '80', s.image, ...webServer('ephemeral'));
    const mapping = await s.ctl('port', 'eph', '80');
    const port = Number(/^0\.0\.0\.0:(\d+)$/.exec(mapping.split('\n')[0]!)?.[1]);
    expect(port, mapping).toBeGreaterThan(1023);
    await waitForBody(port, 'ephemeral');
    expect(await s.ctl('ps', '--filter', 'name=eph', '--format', '{{.Ports}}')).toBe(`0.0.0.0:${port}->80/tcp`);
    // Hairpin: the container reaches its own published port through the host's address on its bridge.
    const gateway = await s.ctl('inspect', '--format', '{{.NetworkSettings.Gateway}}', 'eph');
    expect(await s.ctl('exec', 'eph', 'wget', '-qO-', `http://${gateway}:${port}/`)).toBe('ephemeral');

    // A port another container publishes is refused, and the refused container is left with nothing.
    const clash = await s.d.ctrctl(['run', '-d', '--name', 'clash', '-p', '127.0.0.1:18080:80', s.image, 'sleep', '300']);
    expect(clash.code).not.toBe(0);
    expect(clash.stderr).toContain('127.0.0.1:18080/tcp failed: port is already allocated');
    const clashId = await idOf('clash');
    expect(await s.ctl('inspect', '--format', '{{.State.Status}}', 'clash')).not.toBe('running');
    expect(networkLeftovers({ bridges: [], containerIds: [clashId], networks: ['bridge'], netnsDir: netnsDir() })).toEqual([]);
    await waitForBody(18080, 'fixed');
    await s.ctl('rm', '-f', 'web', 'eph', 'clash');
    await expect(fetchLocal(18080)).rejects.toThrow();
  }, 120_000);

  it('gives none only lo, host the host interfaces, and container: the other container address', async () => {
    expect(interfaces(await s.ctl('run', '--rm', '--network', 'none', s.image, 'cat', '/proc/net/dev'))).toEqual(['lo']);
    const hostIfs = interfaces(fs.readFileSync('/proc/net/dev', 'utf8'));
    expect(interfaces(await s.ctl('run', '--rm', '--network', 'host', s.image, 'cat', '/proc/net/dev'))).toEqual(hostIfs);
    await s.ctl('run', '-d', '--name', 'owner', s.image, 'sleep', '300');
    const ip = await ipOf('owner');
    expect(await s.ctl('run', '--rm', '--network', 'container:owner', s.image, 'ip', '-4', '-o', 'addr', 'show', 'eth0')).toContain(`inet ${ip}/`);
    const lo = await s.ctl('run', '--rm', '--network', 'none', s.image, 'ip', '-o', 'link', 'show', 'lo');
    expect(lo).toMatch(/LOOPBACK,UP/);
    await s.ctl('rm', '-f', 'owner');
  }, 120_000);

  it('keeps addresses and ports across a daemon restart, and releases them when the containers go', async () => {
    await s.ctl('network', 'create', '--subnet', '10.213.7.0/24', 'keep');
    await s.ctl('run', '-d', '--name', 'kept', '--network', 'keep', '-p', '127.0.0.1:18081:80', s.image, ...webServer('kept'));
    await waitForBody(18081, 'kept');
    const ip = await ipOf('kept');
    const id = await idOf('kept');
    expect(ip).toMatch(/^10\.213\.7\.\d+$/);
    await s.d.stop();
    await s.d.start();
    expect(await ipOf('kept')).toBe(ip);
    await waitForBody(18081, 'kept');
    const reservations = path.join(s.d.root, 'io.ctrd.networks.v1', 'ipam', 'keep');
    expect(fs.readdirSync(reservations)).toContain(ip);
    await s.ctl('rm', '-f', 'kept');
    expect(fs.readdirSync(reservations)).not.toContain(ip);
    expect(networkLeftovers({ bridges: [], containerIds: [id], networks: ['keep'], addresses: [ip], netnsDir: netnsDir() })).toEqual([]);
    await expect(fetchLocal(18081)).rejects.toThrow();
    await s.ctl('network', 'rm', 'keep');
  }, 120_000);

  it('leaves no veth, netns, rule or reservation after 100 set-ups and teardowns', async () => {
    await s.ctl('network', 'create', 'cycles');
    const id = await s.ctl('create', '--name', 'cycler', '--network', 'cycles', '-p', '127.0.0.1::80', s.image, 'true');
    const c = s.d.clients();
    try {
      const container = (await unary(c.containers, c.containers.get, { id })).container!;
      const mounts = (await unary(c.snapshots, c.snapshots.mounts, { snapshotter: container.snapshotter, key: container.snapshotKey })).mounts;
      const links = () => fs.readdirSync('/sys/class/net').sort();
      const before = links();
      for (let i = 0; i < 100; i++) {
        await unary(c.tasks, c.tasks.create, { containerId: id, rootfs: mounts, stdin: '', stdout: '', stderr: '', terminal: false, checkpoint: undefined, options: undefined, runtimePath: '' });
        await unary(c.tasks, c.tasks.delete, { containerId: id });
      }
      // The bridge came with the first task and stays, as docker's do: the one link more than before.
      const networkId = await s.ctl('network', 'inspect', '--format', '{{.Id}}', 'cycles');
      expect(links().filter((l) => !before.includes(l))).toEqual([`br-${networkId.slice(0, 12)}`]);
      expect(before.filter((l) => !links().includes(l))).toEqual([]);
      const leftovers = networkLeftovers({ bridges: [], containerIds: [id], networks: ['cycles'], netnsDir: netnsDir() });
      expect(leftovers).toEqual([]);
      const reservations = path.join(s.d.root, 'io.ctrd.networks.v1', 'ipam', 'cycles');
      expect(fs.readdirSync(reservations).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))).toEqual([]);
      expect(fs.readdirSync(path.join(s.d.state, 'io.ctrd.networks.v1', 'default'))).toEqual([]);
    } finally {
      c.close();
    }
    await s.ctl('rm', 'cycler');
    await s.ctl('network', 'rm', 'cycles');
  }, 240_000);

  it('refuses bad subnets and names, and a failing plugin starts nothing and leaves nothing', async () => {
    await s.ctl('network', 'create', '--subnet', '10.214.0.0/16', 'wide');
    const overlap = await s.d.ctrctl(['network', 'create', '--subnet', '10.214.3.0/24', 'narrow']);
    expect(overlap.code).not.toBe(0);
    expect(overlap.stderr).toMatch(/10\.214\.3\.0\/24 overlaps with network wide/);
    const malformed = await s.d.ctrctl(['network', 'create', '--subnet', '10.300.0.0/16', 'bad']);
    expect(malformed.code).not.toBe(0);
    expect(malformed.stderr).toContain('invalid CIDR address: 10.300.0.0/16');
    const hostBits = await s.d.ctrctl(['network', 'create', '--subnet', '10.215.0.1/16', 'bad']);
    expect(hostBits.stderr).toContain('it should be 10.215.0.0/16');
    const missing = await s.d.ctrctl(['run', '--rm', '--network', 'nosuch', s.image, 'true']);
    expect(missing.code).toBe(125);
    expect(missing.stderr).toContain('network nosuch not found');
    expect(await s.ctl('network', 'ls', '--format', '{{.Name}}')).not.toMatch(/narrow|bad/);

    // The bridge plugin fails on a device of that name that is no bridge: its message comes back whole.
    // A veth (this kernel has no dummy links) where the bridge should be.
    const dummy = `ctrdtd${process.pid % 10000}`;
    expect((await run('ip', ['link', 'add', dummy, 'type', 'veth', 'peer', 'name', `ctrdtp${process.pid % 10000}`])).code).toBe(0);
    try {
      await s.ctl('network', 'create', '-o', `com.docker.network.bridge.name=${dummy}`, 'broken');
      const r = await s.d.ctrctl(['run', '-d', '--name', 'victim', '--network', 'broken', s.image, 'sleep', '300']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/cni plugin bridge failed \(ADD on network broken\): .*\S/);
      const id = await idOf('victim');
      expect(await s.ctl('inspect', '--format', '{{.State.Status}}', 'victim')).not.toBe('running');
      expect(networkLeftovers({ bridges: [], containerIds: [id], networks: ['broken'], netnsDir: netnsDir() })).toEqual([]);
      const endpoints = JSON.parse(await s.ctl('network', 'inspect', 'broken')) as Array<{ Containers: object }>;
      expect(endpoints[0]!.Containers).toEqual({});
      await s.ctl('rm', 'victim');
      await s.ctl('network', 'rm', 'broken', 'wide');
    } finally {
      await run('ip', ['link', 'del', dummy]);
    }
  }, 120_000);
});
