// ctrctl's network verbs and run's networking flags against a real daemon, as docker prints them: network
// create/ls/inspect/rm/prune/connect/disconnect, the io.ctrd/network label run records, inspect's networking
// fields for a stopped and a running container, and docker's refusals.
import { describe, expect, it } from 'vitest';
import { ctrctlSuite } from '../harness/ctrctl.js';
import { networkLeftovers } from '../harness/network.js';

const s = ctrctlSuite('network-verbs', { pull: true });

describe('ctrctl network verbs', () => {
  it('creates, lists, inspects and removes networks as docker prints them', async () => {
    const id = await s.ctl('network', 'create', '--subnet', '10.216.0.0/24', '--label', 'team=a', '-o', 'com.docker.network.driver.mtu=1400', 'v1');
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const table = (await s.ctl('network', 'ls')).split('\n');
    expect(table[0]).toMatch(/^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$/);
    expect(table).toContainEqual(expect.stringMatching(new RegExp(`^${id.slice(0, 12)}\\s+v1\\s+bridge\\s+local$`)));
    expect(table).toContainEqual(expect.stringMatching(/^[0-9a-f]{12}\s+bridge\s+bridge\s+local$/));
    expect((await s.ctl('network', 'ls', '-q', '--no-trunc', '--filter', 'label=team=a'))).toBe(id);
    expect(await s.ctl('network', 'ls', '--filter', 'name=v1', '--format', '{{.Name}} {{.Labels}}')).toBe('v1 team=a');
    const [n] = JSON.parse(await s.ctl('network', 'inspect', 'v1')) as Array<Record<string, unknown>>;
    expect(n).toMatchObject({
      Name: 'v1',
      Id: id,
      Scope: 'local',
      Driver: 'bridge',
      IPAM: { Driver: 'default', Config: [{ Subnet: '10.216.0.0/24', Gateway: '10.216.0.1' }] },
      Internal: false,
      Containers: {},
      Options: { 'com.docker.network.driver.mtu': '1400' },
      Labels: { team: 'a' },
    });
    expect(await s.ctl('inspect', '--type', 'network', '--format', '{{.Name}}', id.slice(0, 12))).toBe('v1');
    const taken = await s.d.ctrctl(['network', 'create', 'v1']);
    expect(taken.code).toBe(1);
    const rm = await s.d.ctrctl(['network', 'rm', 'v1', 'nosuch']);
    expect(rm.code).toBe(1);
    expect(rm.stdout.trim()).toBe('v1');
    expect(rm.stderr).toContain('nosuch');
    await s.ctl('network', 'create', 'unused');
    expect(await s.ctl('network', 'prune', '-f')).toBe('Deleted Networks:\nunused');
    expect(await s.ctl('network', 'ls', '--format', '{{.Name}}')).toBe('bridge');
  }, 60_000);

  it('records the flags of run/create, and inspect shows them, with and without a task', async () => {
    await s.ctl('network', 'create', 'v2');
    await s.ctl('run', '-d', '--name', 'target', s.image, 'sleep', '300');
    const targetId = await s.ctl('inspect', '--format', '{{.Id}}', 'target');
    await s.ctl(
      'create', '--name', 'web', '--network', 'v2', '--network-alias', 'site', '-p', '127.0.0.1:18090:80', '-P', '--expose', '443',
      '--dns', '10.0.0.53', '--dns-search', 'example.org', '--dns-option', 'ndots:2', '--add-host', 'db:10.0.0.2', '--add-host', 'gw:host-gateway', '--link', 'target:tgt',
      s.image, 'sleep', '300',
    );
    const stopped = JSON.parse(await s.ctl('inspect', 'web')) as Array<Record<string, Record<string, unknown>>>;
    expect(stopped[0]!.HostConfig).toMatchObject({
      NetworkMode: 'v2',
      PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '18090' }], '443/tcp': [{ HostIp: '', HostPort: '' }] },
      PublishAllPorts: true,
      Dns: ['10.0.0.53'],
      DnsSearch: ['example.org'],
      DnsOptions: ['ndots:2'],
      ExtraHosts: ['db:10.0.0.2', 'gw:host-gateway'],
      Links: ['/target:/web/tgt'],
    });
    expect(stopped[0]!.Config!.ExposedPorts).toEqual({ '80/tcp': {}, '443/tcp': {} });
    expect(stopped[0]!.NetworkSettings).toMatchObject({ IPAddress: '', SandboxKey: '', Ports: {}, Networks: { v2: { Aliases: ['site'], IPAddress: '' } } });
    expect(await s.ctl('ps', '-a', '--filter', 'name=web', '--format', '{{.Ports}}')).toBe('');

    await s.ctl('start', 'web');
    const running = JSON.parse(await s.ctl('inspect', 'web')) as Array<{ NetworkSettings: Record<string, unknown> & { Networks: Record<string, Record<string, unknown>>; Ports: Record<string, Array<{ HostPort: string }>> } }>;
    const ns = running[0]!.NetworkSettings;
    expect(ns.IPAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(ns.SandboxKey).not.toBe('');
    expect(ns.Networks.v2).toMatchObject({ IPAddress: ns.IPAddress, Gateway: ns.Gateway, EndpointID: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const ephemeral = ns.Ports['443/tcp']![0]!.HostPort;
    expect(Number(ephemeral)).toBeGreaterThan(1023);
    expect(await s.ctl('port', 'web')).toBe(`80/tcp -> 127.0.0.1:18090\n443/tcp -> 0.0.0.0:${ephemeral}`);
    expect(await s.ctl('port', 'web', '443/tcp')).toBe(`0.0.0.0:${ephemeral}`);
    const none = await s.d.ctrctl(['port', 'web', '8080']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("No public port '8080/tcp' published for web");
    expect(await s.ctl('ps', '--filter', 'name=web', '--format', '{{.Ports}}')).toBe(`127.0.0.1:18090->80/tcp, 0.0.0.0:${ephemeral}->443/tcp`);
    expect(await s.ctl('ps', '--filter', 'network=v2', '--format', '{{.Names}} {{.Networks}}')).toBe('web v2');
    expect(await s.ctl('ps', '--filter', 'publish=443/tcp', '--filter', 'expose=80', '--format', '{{.Names}}')).toBe('web');
    expect(await s.ctl('ps', '--filter', 'publish=443/udp', '--format', '{{.Names}}')).toBe('');
    const [net] = JSON.parse(await s.ctl('network', 'inspect', 'v2')) as Array<{ Containers: Record<string, { Name: string }> }>;
    expect(Object.values(net!.Containers).map((c) => c.Name)).toEqual(['web']);
    expect(await s.ctl('exec', 'web', 'cat', '/etc/resolv.conf')).toMatch(/nameserver 10\.0\.0\.53/);
    const hosts = await s.ctl('exec', 'web', 'cat', '/etc/hosts');
    expect(hosts).toMatch(/10\.0\.0\.2\s+db/);
    expect(hosts).toMatch(new RegExp(`^${String(ns.Gateway).replace(/\./g, '\\.')}\\s+gw$`, 'm'));

    // connect and disconnect while it runs.
    await s.ctl('network', 'connect', 'bridge', 'web');
    const networksOf = async () => Object.keys(JSON.parse(await s.ctl('inspect', '--format', '{{json .NetworkSettings.Networks}}', 'web')) as object).sort();
    expect(await networksOf()).toEqual(['bridge', 'v2']);
    expect(await s.ctl('inspect', '--format', '{{.NetworkSettings.Networks.bridge.IPAddress}}', 'web')).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    await s.ctl('network', 'disconnect', 'bridge', 'web');
    expect(await networksOf()).toEqual(['v2']);

    const labels = JSON.parse(await s.ctl('inspect', '--format', '{{json .Config.Labels}}', 'web')) as Record<string, string>;
    expect(JSON.parse(labels['io.ctrd/network']!)).toMatchObject({ mode: 'networks', links: [{ container: targetId, alias: 'tgt' }] });
    const webId = await s.ctl('inspect', '--format', '{{.Id}}', 'web');
    await s.ctl('rm', '-f', 'web', 'target');
    expect(networkLeftovers({ bridges: [], containerIds: [webId, targetId], netnsDir: s.d.state })).toEqual([]);
    await s.ctl('network', 'rm', 'v2');
  }, 120_000);

  it("refuses what docker refuses, before anything is made", async () => {
    for (const [flags, message, code] of [
      [['--network', 'nosuch'], 'network nosuch not found', 125],
      [['--network-alias', 'x'], 'network-scoped alias is supported only for containers in user defined networks', 125],
      [['--network', 'host', '-p', '80'], 'conflicting options: port publishing and the container type network mode', 125],
      [['--network', 'none', '--network', 'bridge'], 'conflicting options: cannot attach both user-defined and non-user-defined network-modes', 125],
      [['--add-host', 'db:1.2.3'], 'invalid IP address in add-host: "1.2.3"', 125],
      [['--network', 'container:nosuch'], 'No such container: nosuch', 125],
    ] as const) {
      const r = await s.d.ctrctl(['create', '--name', 'refused', ...flags, s.image, 'true']);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toContain(message);
    }
    expect(await s.ctl('ps', '-aq', '--filter', 'name=refused')).toBe('');
  }, 60_000);

  it('runs with none, host and container: and shows the mode', async () => {
    const host = await s.ctl('run', '--rm', '--network', 'host', s.image, 'hostname');
    expect(host).toBe((await import('node:os')).hostname());
    await s.ctl('create', '--name', 'lonely', '--network', 'none', s.image, 'true');
    expect(await s.ctl('inspect', '--format', '{{.HostConfig.NetworkMode}}', 'lonely')).toBe('none');
    await s.ctl('rm', 'lonely');
    await s.ctl('network', 'create', 'idle');
    expect(await s.ctl('system', 'prune', '-f')).toMatch(/^Deleted Networks:\nidle\n\nTotal reclaimed space/m);
    expect(await s.ctl('network', 'ls', '-q', '--filter', 'name=idle')).toBe('');
  }, 60_000);
});
