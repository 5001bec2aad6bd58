// IPv4 addresses and subnets as unsigned 32-bit numbers: parsing with docker's messages, overlap, the host's
// routes, and docker's default address pools for networks made without a subnet.
import fs from 'node:fs';
import { invalidArgument } from '../errdefs.js';

export interface Ipv4Net {
  /** The network address, unsigned. */
  base: number;
  prefix: number;
  /** "a.b.c.d/p" */
  text: string;
}

export function parseIpv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p, i) => p > 255 || (m[i + 1]!.length > 1 && m[i + 1]!.startsWith('0')))) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export const formatIpv4 = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

const maskOf = (prefix: number) => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

function net(base: number, prefix: number): Ipv4Net {
  return { base, prefix, text: `${formatIpv4(base)}/${prefix}` };
}

/** "10.1.0.0/16"; a malformed one, one with host bits set, or one too small for a gateway and a host is refused. */
export function parseSubnet(text: string): Ipv4Net {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text);
  const ip = m ? parseIpv4(m[1]!) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (ip === undefined || !(prefix >= 0 && prefix <= 32)) throw invalidArgument(`invalid CIDR address: ${text}`);
  const base = (ip & maskOf(prefix)) >>> 0;
  if (base !== ip) throw invalidArgument(`invalid subnet ${text}: it should be ${formatIpv4(base)}/${prefix}`);
  if (prefix > 30) throw invalidArgument(`invalid subnet ${text}: a /${prefix} has no room for a gateway and a container (at most /30)`);
  return net(base, prefix);
}

export const contains = (n: Ipv4Net, ip: number) => ((ip & maskOf(n.prefix)) >>> 0) === n.base;

export const overlaps = (a: Ipv4Net, b: Ipv4Net) => contains(a, b.base) || contains(b, a.base);

/** The n-th address of the subnet (1: the first host address). */
export const nthHost = (n: Ipv4Net, i: number) => (n.base + i) >>> 0;

/** The host's IPv4 routes (/proc/net/route), the default route left out. */
export function hostRoutes(file = '/proc/net/route'): Array<{ net: Ipv4Net; device: string }> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  // Fields are little-endian hex: Iface Destination Gateway Flags RefCnt Use Metric Mask ...
  const le = (hex: string) => (Buffer.from(hex.padStart(8, '0'), 'hex').readUInt32LE(0) >>> 0);
  return text
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 8)
    .map((f) => {
      const mask = le(f[7]!);
      // The mask's leading ones.
      const prefix = Math.clz32(~mask >>> 0);
      return { device: f[0]!, net: net((le(f[1]!) & mask) >>> 0, prefix) };
    })
    .filter((r) => r.net.prefix > 0);
}

/** docker's default address pools, in order: 172.17-31.0.0/16, then the /20s of 192.168.0.0/16. */
export function* defaultPools(): Generator<Ipv4Net> {
  for (let b = 17; b <= 31; b++) yield net(parseIpv4(`172.${b}.0.0`)!, 16);
  for (let c = 0; c < 256; c += 16) yield net(parseIpv4(`192.168.${c}.0`)!, 20);
}

/** The first of docker's pools that overlaps none of the taken subnets. */
export function nextFreeSubnet(taken: readonly Ipv4Net[]): Ipv4Net | undefined {
  for (const candidate of defaultPools()) if (!taken.some((t) => overlaps(t, candidate))) return candidate;
  return undefined;
}
