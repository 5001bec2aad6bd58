// IPv4 addresses and subnets as uint32s, for picking and checking container network subnets the way docker
// does: its parse errors, its default address pools, and the host's routes a new subnet must not overlap.
import { readFileSync } from 'node:fs';
import { invalidArgument } from '../errdefs.js';

export interface Ipv4Net {
  /** The network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
  /** "a.b.c.d/p" */
  text: string;
}

/** A dotted quad as a uint32; undefined for anything else (no leading zeros, no shorthand). */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

function net(base: number, prefix: number): Ipv4Net {
  return { base, prefix, text: `${formatIpv4(base)}/${prefix}` };
}

/** A subnet as docker's `network create --subnet` takes it: the network address, host bits clear. */
export function parseSubnet(text: string): Ipv4Net {
  const m = /^([^/]+)\/(0|[1-9][0-9]?)$/.exec(text);
  const ip = m ? parseIpv4(m[1]!) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (ip === undefined || !(prefix <= 32)) throw invalidArgument(`invalid CIDR address: ${text}`);
  const base = (ip & mask(prefix)) >>> 0;
  if (base !== ip) throw invalidArgument(`invalid subnet ${text}: it should be ${formatIpv4(base)}/${prefix}`);
  // A /31 or /32 has no room for a gateway and a container.
  if (prefix > 30) throw invalidArgument(`invalid subnet ${text}: the prefix must be at most /30`);
  return net(base, prefix);
}

export function contains(n: Ipv4Net, ip: number): boolean {
  return ((ip & mask(n.prefix)) >>> 0) === n.base;
}

export function overlaps(a: Ipv4Net, b: Ipv4Net): boolean {
  return contains(a, b.base) || contains(b, a.base);
}

/** The n-th address of the subnet: n = 1 is the first host address (docker's default gateway). */
export function nthHost(n: Ipv4Net, i: number): number {
  const size = 2 ** (32 - n.prefix);
  if (!Number.isInteger(i) || i < 0 || i >= size) {
    throw invalidArgument(`address #${i} is outside ${n.text}`);
  }
  return n.base + i;
}

/** The host's IPv4 routes but the default one, from /proc/net/route (little-endian hex fields). */
export function hostRoutes(routeFile = '/proc/net/route'): Array<{ net: Ipv4Net; device: string }> {
  const routes: Array<{ net: Ipv4Net; device: string }> = [];
  for (const line of readFileSync(routeFile, 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const dest = leHex(f[1]!);
    const m = leHex(f[7]!);
    if (dest === undefined || m === undefined || m === 0) continue;
    const prefix = 32 - countTrailingZeros(m);
    routes.push({ net: net((dest & m) >>> 0, prefix), device: f[0]! });
  }
  return routes;
}

function countTrailingZeros(m: number): number {
  let z = 0;
  while (z < 32 && ((m >>> z) & 1) === 0) z++;
  return z;
}

function leHex(s: string): number | undefined {
  if (!/^[0-9A-Fa-f]{8}$/.test(s)) return undefined;
  const v = parseInt(s, 16);
  // /proc/net/route prints the in-memory (network order) word as a host-order number: bytes reversed.
  return (((v & 255) << 24) | (((v >>> 8) & 255) << 16) | (((v >>> 16) & 255) << 8) | (v >>> 24)) >>> 0;
}

/** docker's default address pools, in the order it hands them out. */
export function defaultPools(): Ipv4Net[] {
  const pools: Ipv4Net[] = [];
  for (let b = 17; b <= 31; b++) pools.push(net(((172 << 24) | (b << 16)) >>> 0, 16));
  for (let c = 0; c < 256; c += 16) pools.push(net(((192 << 24) | (168 << 16) | (c << 8)) >>> 0, 20));
  return pools;
}

/** The first default pool that overlaps none of taken (other networks' subnets, the host's routes). */
export function nextFreeSubnet(taken: readonly Ipv4Net[]): Ipv4Net | undefined {
  return defaultPools().find((p) => !taken.some((t) => overlaps(p, t)));
}
