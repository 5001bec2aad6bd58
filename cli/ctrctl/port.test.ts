import { describe, expect, it } from 'vitest';
import type { Container } from '../../gen/containerd/services/containers/v1/containers.js';
import type { Endpoint, Network } from '../../gen/ctrd/services/networks/v1/networks.js';
import { emptyNetwork, networkLabelOf, type ContainerNetwork } from '../../lib/container-network.js';
import { endpointId, inspectNetwork, lsRow, splitCidr } from './network.js';
import { exposedPorts, hostConfigNetwork, networkMode, networkSettings, parsePrivatePort, portLines, portsColumn, psNetworks } from './port.js';

const id = 'c'.repeat(64);
const netId = 'a'.repeat(64);

function endpoint(o: Partial<Endpoint>): Endpoint {
  return {
    namespace: 'default',
    containerId: id,
    containerName: 'web',
    network: 'bridge',
    networkId: netId,
    ifname: 'eth0',
    address: '172.17.0.2/16',
    gateway: '172.17.0.1',
    macAddress: '02:42:ac:11:00:02',
    aliases: [],
    ports: [],
    netns: '/run/ctrd/netns/x',
    ...o,
  };
}

const port = (hostIp: string, hostPort: number, containerPort: number, protocol = 'tcp') => ({ hostIp, hostPort, containerPort, protocol });

function net(o: Partial<ContainerNetwork>): ContainerNetwork {
  return { ...emptyNetwork('networks'), networks: [{ name: 'bridge', aliases: [] }], ...o };
}

function container(n: ContainerNetwork, labels: Record<string, string> = {}): Container {
  return { id, labels: { ...networkLabelOf(n), ...labels } } as unknown as Container;
}

describe("ps's PORTS column", () => {
  it("prints docker's forms, folding consecutive ports into ranges", () => {
    const e = endpoint({ ports: [port('', 32768, 80), port('127.0.0.1', 18080, 80), port('', 8001, 81), port('', 8000, 80, 'udp')] });
    expect(portsColumn(net({ exposed: ['80/tcp', '81/tcp', '443/tcp', '444/tcp', '80/udp'] }), [e])).toBe(
      '0.0.0.0:32768->80/tcp, 127.0.0.1:18080->80/tcp, 0.0.0.0:8000->80/udp, 0.0.0.0:8001->81/tcp, 443-444/tcp',
    );
    const ranged = endpoint({ ports: [port('', 8000, 80), port('', 8001, 81), port('', 8002, 82)] });
    expect(portsColumn(net({}), [ranged])).toBe('0.0.0.0:8000-8002->80-82/tcp');
    expect(portsColumn(net({ exposed: ['80/tcp'] }), [endpoint({})])).toBe('80/tcp');
  });

  it('is empty without endpoints (a container that is not running)', () => {
    expect(portsColumn(net({ exposed: ['80/tcp'] }), [])).toBe('');
  });

  it('names the networks in NETWORKS, joined or to join', () => {
    const two = net({ networks: [{ name: 'n1', aliases: [] }, { name: 'n2', aliases: [] }] });
    expect(psNetworks(two, [])).toBe('n1,n2');
    expect(psNetworks(two, [endpoint({ network: 'n2' })])).toBe('n2');
    expect(psNetworks(emptyNetwork('host'), [])).toBe('host');
    expect(psNetworks({ ...emptyNetwork('container'), container: id }, [])).toBe('');
    expect(psNetworks(undefined, [])).toBe('');
  });
});

describe('ctrctl port', () => {
  const e = endpoint({ ports: [port('', 32768, 80), port('127.0.0.1', 5353, 53, 'udp'), port('::1', 9000, 90)] });

  it("prints docker's lines", () => {
    expect(portLines([e])).toEqual(['53/udp -> 127.0.0.1:5353', '80/tcp -> 0.0.0.0:32768', '90/tcp -> [::1]:9000']);
    expect(portLines([e], parsePrivatePort('80'))).toEqual(['0.0.0.0:32768']);
    expect(portLines([e], parsePrivatePort('53/UDP'))).toEqual(['127.0.0.1:5353']);
    expect(portLines([e], parsePrivatePort('53'))).toEqual([]);
  });

  it('refuses a bad port', () => {
    expect(() => parsePrivatePort('http')).toThrow('Invalid port: http');
    expect(() => parsePrivatePort('80/icmp')).toThrow('Invalid protocol: icmp');
    expect(() => parsePrivatePort('0')).toThrow('Invalid port: 0');
  });
});

describe("inspect's networking", () => {
  const n = net({
    networks: [
      { name: 'n1', aliases: ['db'] },
      { name: 'n2', aliases: [] },
    ],
    ports: [
      { hostIP: '', hostPort: 0, containerPort: 80, protocol: 'tcp' },
      { hostIP: '127.0.0.1', hostPort: 18080, containerPort: 80, protocol: 'tcp' },
    ],
    exposed: ['80/tcp', '443/tcp'],
    dns: ['10.0.0.53'],
    extraHosts: [{ host: 'db', ip: '10.0.0.2' }],
    links: [{ container: 'b'.repeat(64), alias: 'cache' }],
  });
  const c = container(n);

  it('shows a running container its addresses, ports and endpoints', () => {
    const e1 = endpoint({ network: 'n1', aliases: ['db'], ports: [port('', 32768, 80), port('127.0.0.1', 18080, 80)] });
    const e2 = endpoint({ network: 'n2', networkId: 'd'.repeat(64), ifname: 'eth1', address: '172.19.0.5/24', gateway: '172.19.0.1' });
    const s = networkSettings(c, [e1, e2], new Map());
    expect(s).toMatchObject({
      SandboxKey: '/run/ctrd/netns/x',
      IPAddress: '172.17.0.2',
      IPPrefixLen: 16,
      Gateway: '172.17.0.1',
      MacAddress: '02:42:ac:11:00:02',
      Ports: {
        '80/tcp': [
          { HostIp: '0.0.0.0', HostPort: '32768' },
          { HostIp: '127.0.0.1', HostPort: '18080' },
        ],
        '443/tcp': null,
      },
    });
    const networks = s.Networks as Record<string, Record<string, unknown>>;
    expect(Object.keys(networks)).toEqual(['n1', 'n2']);
    expect(networks.n1).toMatchObject({ Aliases: ['db'], NetworkID: netId, EndpointID: endpointId(netId, id), IPAddress: '172.17.0.2' });
    expect(networks.n2).toMatchObject({ Aliases: null, IPAddress: '172.19.0.5', IPPrefixLen: 24, Gateway: '172.19.0.1' });
  });

  it('shows a stopped one empty addresses, its networks still named', () => {
    const s = networkSettings(c, [], new Map([['n1', netId]]));
    expect(s).toMatchObject({ SandboxKey: '', IPAddress: '', Ports: {} });
    expect((s.Networks as Record<string, unknown>).n1).toMatchObject({ NetworkID: netId, EndpointID: '', IPAddress: '', Aliases: ['db'] });
  });

  it("fills HostConfig and Config as docker's", () => {
    expect(hostConfigNetwork(c, new Map([['b'.repeat(64), 'redis']]), 'web')).toEqual({
      NetworkMode: 'n1',
      PortBindings: {
        '80/tcp': [
          { HostIp: '', HostPort: '' },
          { HostIp: '127.0.0.1', HostPort: '18080' },
        ],
      },
      PublishAllPorts: false,
      Dns: ['10.0.0.53'],
      DnsOptions: [],
      DnsSearch: [],
      ExtraHosts: ['db:10.0.0.2'],
      Links: ['/redis:/web/cache'],
    });
    expect(exposedPorts(c)).toEqual({ '80/tcp': {}, '443/tcp': {} });
    expect(networkMode({ ...emptyNetwork('container'), container: id })).toBe(`container:${id}`);
    expect(networkMode(emptyNetwork('host'))).toBe('host');
    expect(networkMode(undefined)).toBe('');
  });
});

describe('network inspect and ls', () => {
  const n: Network = {
    id: netId,
    name: 'n1',
    driver: 'bridge',
    subnet: '172.18.0.0/16',
    gateway: '172.18.0.1',
    bridge: 'br-aaaaaaaaaaaa',
    internal: false,
    options: {},
    labels: { team: 'a' },
    createdAt: new Date('2026-01-02T03:04:05Z'),
    default: false,
    conflist: '{}',
    conflistPath: '/x',
    endpoints: [endpoint({ network: 'n1', address: '172.18.0.2/16' })],
  };

  it("makes docker's inspect object", () => {
    const o = inspectNetwork(n);
    expect(o).toMatchObject({
      Name: 'n1',
      Id: netId,
      Scope: 'local',
      Driver: 'bridge',
      EnableIPv6: false,
      IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: '172.18.0.0/16', Gateway: '172.18.0.1' }] },
      Internal: false,
      Attachable: false,
      Ingress: false,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Options: {},
      Labels: { team: 'a' },
      Containers: { [id]: { Name: 'web', EndpointID: endpointId(netId, id), MacAddress: '02:42:ac:11:00:02', IPv4Address: '172.18.0.2/16', IPv6Address: '' } },
    });
    expect(o.Created).toMatch(/^2026-01-0\dT\d\d:\d\d:05/);
  });

  it('makes ls rows, IDs truncated unless told', () => {
    expect(lsRow(n, false)).toMatchObject({ ID: netId.slice(0, 12), Name: 'n1', Driver: 'bridge', Scope: 'local', Labels: 'team=a', Internal: 'false' });
    expect(lsRow(n, true).ID).toBe(netId);
    expect(splitCidr('10.0.0.2/8')).toEqual({ ip: '10.0.0.2', prefixLen: 8 });
    expect(splitCidr('')).toEqual({ ip: '', prefixLen: 0 });
  });
});
