// IPv4 parsing and docker's subnet rules, and the host's real routing table read back.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CtrdError } from '../errdefs.js';
import {
  contains,
  defaultPools,
  formatIpv4,
  hostRoutes,
  nextFreeSubnet,
  nthHost,
  overlaps,
  parseIpv4,
  parseSubnet,
} from './cidr.js';

function refusal(text: string): CtrdError {
  try {
    parseSubnet(text);
  } catch (err) {
    if (err instanceof CtrdError) return err;
    throw err;
  }
  throw new Error(`${text} was accepted`);
}

describe('parseIpv4 / formatIpv4', () => {
  it('round-trips dotted quads', () => {
    for (const t of ['0.0.0.0', '10.1.2.3', '172.17.0.1', '255.255.255.255']) {
      expect(formatIpv4(parseIpv4(t)!)).toBe(t);
    }
    expect(parseIpv4('192.168.0.1')).toBe(0xc0a80001);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
  });

  it('refuses what is not a dotted quad', () => {
    for (const t of ['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.-1', 'a.b.c.d', '1.2.3.4 ', '::1']) {
      expect(parseIpv4(t), t).toBeUndefined();
    }
  });
});

describe('parseSubnet', () => {
  it('accepts network addresses', () => {
    expect(parseSubnet('172.18.0.0/16')).toEqual({ base: 0xac120000, prefix: 16, text: '172.18.0.0/16' });
    expect(parseSubnet('10.0.0.0/8').prefix).toBe(8);
    expect(parseSubnet('10.9.8.4/30').text).toBe('10.9.8.4/30');
  });

  it("refuses malformed ones with docker's words", () => {
    for (const t of ['172.18.0.0', '172.18.0.0/', '172.18.0.0/33', '300.1.0.0/16', 'abc/8', '10.0.0.0/016']) {
      const e = refusal(t);
      expect(e.kind).toBe('invalid-argument');
      expect(e.message).toBe(`invalid CIDR address: ${t}`);
    }
  });

  it('refuses host bits, naming the network address', () => {
    const e = refusal('172.18.5.1/16');
    expect(e.kind).toBe('invalid-argument');
    expect(e.message).toBe('invalid subnet 172.18.5.1/16: it should be 172.18.0.0/16');
  });

  it('refuses subnets without room for a gateway and a container', () => {
    expect(refusal('10.0.0.0/31').message).toMatch(/10\.0\.0\.0\/31/);
    expect(refusal('10.0.0.1/32').kind).toBe('invalid-argument');
  });
});

describe('contains / overlaps / nthHost', () => {
  const n = parseSubnet('192.168.16.0/20');
  it('knows its addresses', () => {
    expect(contains(n, parseIpv4('192.168.16.0')!)).toBe(true);
    expect(contains(n, parseIpv4('192.168.31.255')!)).toBe(true);
    expect(contains(n, parseIpv4('192.168.32.0')!)).toBe(false);
    expect(contains(n, parseIpv4('192.168.15.255')!)).toBe(false);
    expect(contains(parseSubnet('0.0.0.0/0'), 0xffffffff)).toBe(true);
  });
  it('overlaps nested and equal subnets, not neighbours', () => {
    expect(overlaps(n, parseSubnet('192.168.0.0/16'))).toBe(true);
    expect(overlaps(parseSubnet('192.168.0.0/16'), n)).toBe(true);
    expect(overlaps(n, parseSubnet('192.168.20.0/24'))).toBe(true);
    expect(overlaps(n, n)).toBe(true);
    expect(overlaps(n, parseSubnet('192.168.32.0/20'))).toBe(false);
    expect(overlaps(n, parseSubnet('192.168.0.0/20'))).toBe(false);
  });
  it('counts hosts from the network address', () => {
    expect(formatIpv4(nthHost(parseSubnet('172.17.0.0/16'), 1))).toBe('172.17.0.1');
    expect(formatIpv4(nthHost(parseSubnet('172.17.0.0/16'), 258))).toBe('172.17.1.2');
    expect(() => nthHost(parseSubnet('10.0.0.0/30'), 4)).toThrow(/outside 10\.0\.0\.0\/30/);
  });
});

describe('nextFreeSubnet', () => {
  it("hands out docker's pools in order", () => {
    const pools = defaultPools();
    expect(pools.length).toBe(15 + 16);
    expect(pools[0]!.text).toBe('172.17.0.0/16');
    expect(pools[14]!.text).toBe('172.31.0.0/16');
    expect(pools[15]!.text).toBe('192.168.0.0/20');
    expect(pools[30]!.text).toBe('192.168.240.0/20');
    expect(nextFreeSubnet([])!.text).toBe('172.17.0.0/16');
    expect(nextFreeSubnet([parseSubnet('172.17.0.0/16')])!.text).toBe('172.18.0.0/16');
    // Anything overlapping a pool takes it, a small route as well as a wide one.
    expect(nextFreeSubnet([parseSubnet('172.17.3.0/24'), parseSubnet('172.18.0.0/15')])!.text).toBe('172.20.0.0/16');
    expect(nextFreeSubnet([parseSubnet('172.16.0.0/12')])!.text).toBe('192.168.0.0/20');
  });
  it('runs out', () => {
    expect(nextFreeSubnet([parseSubnet('172.16.0.0/12'), parseSubnet('192.168.0.0/16')])).toBeUndefined();
  });
});

describe('hostRoutes', () => {
  it('reads a route table, leaving out the default route', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctrd-cidr-'));
    try {
      const file = join(dir, 'route');
      writeFileSync(
        file,
        'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' +
          'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n' +
          'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n' +
          'docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n',
      );
      expect(hostRoutes(file).map((r) => `${r.net.text} ${r.device}`)).toEqual([
        '192.0.2.0/24 eth0',
        '172.17.0.0/16 docker0',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("matches the kernel's table as ip(8) prints it", () => {
    const fromIp = execFileSync('ip', ['-4', 'route', 'show', 'table', 'main'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l && !l.startsWith('default'))
      .map((l) => {
        const [dst] = l.split(' ');
        const dev = /\bdev (\S+)/.exec(l)![1];
        return `${dst!.includes('/') ? dst : `${dst}/32`} ${dev}`;
      });
    expect(hostRoutes().map((r) => `${r.net.text} ${r.device}`).sort()).toEqual(fromIp.sort());
  });
});
