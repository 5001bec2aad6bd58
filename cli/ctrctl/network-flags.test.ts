import { describe, expect, it } from 'vitest';
import { containerNetworkOf } from '../../lib/container-network.js';
import { notFound } from '../../lib/errdefs.js';
import { networkLabels, parseAddHost, parseExpose, parseLink, parseNetworkFlags, publishSpecs, resolveNetwork, type NetworkFlagValues } from './network-flags.js';

const none: NetworkFlagValues = { network: [], networkAlias: [], publish: [], expose: [], dns: [], dnsSearch: [], dnsOption: [], addHost: [], link: [] };
const flags = (o: Partial<NetworkFlagValues>): NetworkFlagValues => ({ ...none, ...o });

describe("run's networking flags", () => {
  it('joins the default bridge network unless told otherwise', () => {
    const p = parseNetworkFlags(none);
    expect(p.network).toMatchObject({ mode: 'networks', networks: [{ name: 'bridge', aliases: [] }], ports: [], exposed: [] });
    expect(parseNetworkFlags(flags({ network: ['default'] })).network.networks).toEqual([{ name: 'bridge', aliases: [] }]);
  });

  it('takes several networks, the aliases going to the first', () => {
    const p = parseNetworkFlags(flags({ network: ['n1', 'n2'], networkAlias: ['db', 'db', 'database'] }));
    expect(p.network.networks).toEqual([
      { name: 'n1', aliases: ['db', 'database'] },
      { name: 'n2', aliases: [] },
    ]);
    expect(() => parseNetworkFlags(flags({ network: ['n1', 'n1'] }))).toThrow('network n1 is given more than once');
  });

  it('reads none, host and container: alone', () => {
    expect(parseNetworkFlags(flags({ network: ['none'] })).network).toMatchObject({ mode: 'none', networks: [] });
    expect(parseNetworkFlags(flags({ network: ['host'] })).network).toMatchObject({ mode: 'host', networks: [] });
    expect(parseNetworkFlags(flags({ network: ['container:web'] })).network).toMatchObject({ mode: 'container', container: 'web' });
    for (const network of [['none', 'n1'], ['n1', 'host'], ['container:a', 'bridge']]) {
      expect(() => parseNetworkFlags(flags({ network }))).toThrow('conflicting options: cannot attach both user-defined and non-user-defined network-modes');
    }
    expect(() => parseNetworkFlags(flags({ network: ['container:'] }))).toThrow(/invalid container format/);
  });

  it("refuses what docker refuses, with docker's messages", () => {
    expect(() => parseNetworkFlags(flags({ networkAlias: ['x'] }))).toThrow('network-scoped alias is supported only for containers in user defined networks');
    expect(() => parseNetworkFlags(flags({ network: ['bridge'], networkAlias: ['x'] }))).toThrow(/user defined networks/);
    for (const network of ['none', 'host', 'container:x']) {
      expect(() => parseNetworkFlags(flags({ network: [network], publish: ['80'] }))).toThrow('conflicting options: port publishing and the container type network mode');
      expect(() => parseNetworkFlags(flags({ network: [network], publishAll: true }))).toThrow(/port publishing/);
    }
    expect(() => parseNetworkFlags(flags({ dns: ['8.8.8'] }))).toThrow('8.8.8 is not an ip address');
    const other = (o: Partial<NetworkFlagValues>) => () => parseNetworkFlags(flags({ network: ['container:x'], ...o }));
    expect(other({ hostname: 'h' })).toThrow('conflicting options: hostname and the network mode');
    expect(other({ dns: ['1.1.1.1'] })).toThrow('conflicting options: dns and the network mode');
    expect(other({ dnsSearch: ['example.org'] })).toThrow('conflicting options: dns and the network mode');
    expect(other({ addHost: ['a:1.2.3.4'] })).toThrow('conflicting options: custom host-to-IP mapping and the network mode');
    expect(other({ expose: ['80'] })).toThrow('conflicting options: port exposing and the container type network mode');
    expect(parseNetworkFlags(flags({ network: ['host'], hostname: 'h', dns: ['1.1.1.1'] })).network.dns).toEqual(['1.1.1.1']);
    expect(() => parseNetworkFlags(flags({ network: ['host'], link: ['a'] }))).toThrow(/links/);
  });

  it('publishes -p specs, a range a port each, no host port as ephemeral, and exposes them', () => {
    expect(publishSpecs('80')).toEqual([{ hostIP: '', hostPort: 0, containerPort: 80, protocol: 'tcp' }]);
    expect(publishSpecs('127.0.0.1:8080:80/udp')).toEqual([{ hostIP: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'udp' }]);
    expect(publishSpecs('8000-8001:80-81')).toEqual([
      { hostIP: '', hostPort: 8000, containerPort: 80, protocol: 'tcp' },
      { hostIP: '', hostPort: 8001, containerPort: 81, protocol: 'tcp' },
    ]);
    expect(publishSpecs('127.0.0.1::80-81').map((p) => p.hostPort)).toEqual([0, 0]);
    expect(() => publishSpecs('80/sctp')).toThrow(/sctp/);
    expect(() => publishSpecs('8000-8010:80')).toThrow(/host port range for one container port/);
    const p = parseNetworkFlags(flags({ publish: ['8080:80', '53/udp'], expose: ['80', '90-91/udp'] }));
    expect(p.network.exposed).toEqual(['80/tcp', '90/udp', '91/udp', '53/udp']);
  });

  it('reads --expose, --add-host and --link', () => {
    expect(parseExpose('8080')).toEqual(['8080/tcp']);
    expect(parseExpose('53-54/UDP')).toEqual(['53/udp', '54/udp']);
    expect(() => parseExpose('90-80')).toThrow('invalid range format for --expose: 90-80');
    expect(() => parseExpose('80/icmp')).toThrow('invalid proto: icmp');
    expect(parseAddHost('db:10.0.0.2')).toEqual({ host: 'db', ip: '10.0.0.2' });
    expect(parseAddHost('db=10.0.0.2')).toEqual({ host: 'db', ip: '10.0.0.2' });
    expect(parseAddHost('gw:host-gateway')).toEqual({ host: 'gw', ip: 'host-gateway' });
    expect(parseAddHost('v6:::1')).toEqual({ host: 'v6', ip: '::1' });
    expect(parseAddHost('v6=[fd00::1]')).toEqual({ host: 'v6', ip: 'fd00::1' });
    expect(() => parseAddHost('db:10.0.0')).toThrow('invalid IP address in add-host: "10.0.0"');
    expect(() => parseAddHost('db')).toThrow('bad format for add-host: "db"');
    expect(parseLink('web')).toEqual({ target: 'web', alias: 'web' });
    expect(parseLink('/web:site')).toEqual({ target: 'web', alias: 'site' });
    expect(() => parseLink('web:')).toThrow('invalid link format: web:');
  });
});

describe('the recorded network', () => {
  const ids: Record<string, string> = { web: 'a'.repeat(64), db: 'b'.repeat(64) };
  const ctx = (networks: string[]) => ({
    imageExposed: ['80/tcp', '443/tcp'],
    containerId: (input: string) => ids[input] ?? (() => { throw notFound(`No such container: ${input}`); })(),
    checkNetwork: async (name: string) => {
      if (!networks.includes(name)) throw notFound(`network ${name}: no such network`);
    },
  });

  it('checks the networks exist, as docker says it', async () => {
    const p = parseNetworkFlags(flags({ network: ['n1', 'n2'] }));
    await expect(resolveNetwork(p, ctx(['n1']))).rejects.toThrow(/^network n2 not found$/);
    await expect(resolveNetwork(p, ctx(['n1', 'n2']))).resolves.toMatchObject({ networks: [{ name: 'n1' }, { name: 'n2' }] });
  });

  it('resolves container: and links to IDs, and -P publishes every exposed port not already published', async () => {
    const c = await resolveNetwork(parseNetworkFlags(flags({ network: ['container:web'] })), ctx([]));
    expect(c.container).toBe(ids.web);
    await expect(resolveNetwork(parseNetworkFlags(flags({ network: ['container:nope'] })), ctx([]))).rejects.toThrow('No such container: nope');
    const p = parseNetworkFlags(flags({ publishAll: true, publish: ['127.0.0.1:8443:443'], expose: ['53/udp'], link: ['db:database'] }));
    const n = await resolveNetwork(p, ctx(['bridge']));
    expect(n.links).toEqual([{ container: ids.db, alias: 'database' }]);
    expect(n.exposed.sort()).toEqual(['443/tcp', '53/udp', '80/tcp']);
    expect(n.ports).toEqual([
      { hostIP: '127.0.0.1', hostPort: 8443, containerPort: 443, protocol: 'tcp' },
      { hostIP: '', hostPort: 0, containerPort: 80, protocol: 'tcp' },
      { hostIP: '', hostPort: 0, containerPort: 53, protocol: 'udp' },
    ]);
    // What ctrctl records is what the daemon reads back.
    expect(containerNetworkOf('x', networkLabels(n))).toEqual(n);
  });

  it('refuses a label containerd would not keep', async () => {
    const n = await resolveNetwork(parseNetworkFlags(flags({ publish: ['10000-10999:10000-10999'] })), ctx(['bridge']));
    expect(() => networkLabels(n)).toThrow(/too many ports/);
  });
});
