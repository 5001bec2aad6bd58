// The /etc/hosts and /etc/resolv.conf ctrd writes for each container and bind-mounts in, laid out as docker
// lays them out, and rewritten in place so that the bind mount sees later changes (a peer joining).
import { closeSync, constants, fchmodSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import type { ExtraHost } from '../../lib/container-network.js';

const defaultHosts: ReadonlyArray<[string, string]> = [
  ['127.0.0.1', 'localhost'],
  ['::1', 'localhost ip6-localhost ip6-loopback'],
  ['fe00::0', 'ip6-localnet'],
  ['ff00::0', 'ip6-mcastprefix'],
  ['ff02::1', 'ip6-allnodes'],
  ['ff02::2', 'ip6-allrouters'],
];

export interface HostsEntry {
  ip: string;
  names: string[];
}

/**
 * docker's /etc/hosts: the loopback and IPv6 lines, --add-host entries, linked peers, then the container's own
 * address with its names. A container without an address (network none) gets no line of its own, as in docker.
 */
export function hostsFile(o: {
  self: { ip?: string; names: string[] };
  extraHosts: ExtraHost[];
  peers: HostsEntry[];
}): string {
  const lines = defaultHosts.map(([ip, names]) => `${ip}\t${names}`);
  for (const h of o.extraHosts) lines.push(`${h.ip}\t${h.host}`);
  for (const p of o.peers) if (p.names.length > 0) lines.push(`${p.ip}\t${p.names.join(' ')}`);
  if (o.self.ip && o.self.names.length > 0) lines.push(`${o.self.ip}\t${o.self.names.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/** docker's fallback nameservers, for a private network whose host has only loopback ones. */
export const defaultNameservers = ['8.8.8.8', '8.8.4.4'];

export interface DnsOverrides {
  /** --dns: replaces the nameservers. */
  dns: string[];
  /** --dns-search: replaces search (and domain); ['.'] means none. */
  search: string[];
  /** --dns-option: replaces options. */
  options: string[];
  /** Whether the container's network has IPv6; without it (ctrd's networks are IPv4) IPv6 nameservers go too. */
  ipv6?: boolean;
}

function isLoopbackNameserver(ip: string): boolean {
  if (isIPv4(ip)) return ip.startsWith('127.');
  // The URL parser writes an IPv6 address in its shortest form: 0:0:0:0:0:0:0:1 becomes [::1].
  return isIPv6(ip) && new URL(`http://[${ip}]/`).hostname === '[::1]';
}

/**
 * A container's resolv.conf from the host's. With its own network namespace ('private') the host's loopback
 * nameservers cannot be reached and are dropped, and so are IPv6 ones on a network without IPv6, docker's
 * defaults standing in when none remain; with the
 * host's ('host') the file is kept. --dns, --dns-search and --dns-option replace their lines in either mode.
 */
export function resolvConf(hostText: string, o: DnsOverrides, mode: 'host' | 'private'): string {
  const lines = hostText.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const keyword = (line: string) => /^\s*(\S+)/.exec(line)?.[1] ?? '';
  const valuesOf = (k: string) =>
    lines.filter((l) => keyword(l) === k).flatMap((l) => l.trim().split(/\s+/).slice(1));

  const hostNameservers = valuesOf('nameserver');
  let nameservers = o.dns.length > 0 ? o.dns : hostNameservers;
  if (o.dns.length === 0 && mode === 'private') {
    nameservers = nameservers.filter((ip) => !isLoopbackNameserver(ip) && (o.ipv6 === true || !isIPv6(ip)));
    if (nameservers.length === 0) nameservers = defaultNameservers;
  }
  const nameserversChanged = nameservers.join(' ') !== hostNameservers.join(' ');
  if (!nameserversChanged && o.search.length === 0 && o.options.length === 0) {
    return lines.length > 0 ? `${lines.join('\n')}\n` : '';
  }

  const replaced = new Set<string>();
  if (nameserversChanged) replaced.add('nameserver');
  if (o.search.length > 0) replaced.add('search').add('domain');
  if (o.options.length > 0) replaced.add('options');
  const out = lines.filter((l) => !replaced.has(keyword(l)));
  if (o.search.length > 0 && !(o.search.length === 1 && o.search[0] === '.')) out.push(`search ${o.search.join(' ')}`);
  if (nameserversChanged) out.push(...nameservers.map((ip) => `nameserver ${ip}`));
  if (o.options.length > 0) out.push(`options ${o.options.join(' ')}`);
  return `${out.join('\n')}\n`;
}

/**
 * Writes text over file's contents without replacing the file (a rename would leave a bind mount of it on the
 * old inode); creates it mode 0644 when missing.
 */
export function writeInPlace(file: string, text: string): void {
  let fd: number;
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
    fchmodSync(fd, 0o644); // not the umask's say
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    fd = openSync(file, constants.O_WRONLY);
  }
  try {
    ftruncateSync(fd, 0);
    const data = Buffer.from(text);
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off, off);
  } finally {
    closeSync(fd);
  }
}
