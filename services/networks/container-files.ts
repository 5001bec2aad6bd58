// The files ctrd writes for each networked container and bind-mounts over its own: /etc/hosts (localhost,
// the extra hosts, the peers it should find by name, then itself), /etc/resolv.conf (docker's rules) and
// /etc/hostname. They are rewritten in place, so that a bind mount of them sees every change.
import fs from 'node:fs';
import type { ExtraHost } from '../../lib/container-network.js';

export interface HostsInput {
  /** The container's own address (none with network none) and names (hostname first). */
  self: { ip?: string | undefined; names: string[] };
  extraHosts: readonly ExtraHost[];
  peers: ReadonlyArray<{ ip: string; names: string[] }>;
}

const localhost = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
];

export function hostsFile(o: HostsInput): string {
  const lines = [...localhost];
  for (const h of o.extraHosts) lines.push(`${h.ip}\t${h.host}`);
  for (const p of o.peers) if (p.names.length > 0) lines.push(`${p.ip}\t${p.names.join(' ')}`);
  if (o.self.names.length > 0) lines.push(`${o.self.ip ?? '127.0.0.1'}\t${o.self.names.join(' ')}`);
  return lines.join('\n') + '\n';
}

export interface DnsInput {
  dns: readonly string[];
  search: readonly string[];
  options: readonly string[];
}

/** docker's defaults when the host has no nameserver a container can reach. */
const fallbackNameservers = ['8.8.8.8', '8.8.4.4'];

const isLoopback = (ip: string) => /^127\./.test(ip) || ip === '::1' || ip === '0:0:0:0:0:0:0:1';

/**
 * A container's resolv.conf from the host's: with a network of its own, the host's loopback nameservers
 * (which it cannot reach) are left out, and docker's defaults stand in when none is left; with the host's
 * network the host's are kept. --dns, --dns-search and --dns-option replace their kind of line.
 */
export function resolvConf(hostText: string, o: DnsInput, mode: 'host' | 'private'): string {
  const nameservers: string[] = [];
  const search: string[] = [];
  const options: string[] = [];
  const other: string[] = [];
  for (const raw of hostText.split('\n')) {
    const line = raw.trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0]) nameservers.push(rest[0]);
    else if ((key === 'search' || key === 'domain') && rest.length > 0) search.splice(0, search.length, ...rest);
    else if (key === 'options' && rest.length > 0) options.push(...rest);
    else if (line !== '' && !line.startsWith('#') && !line.startsWith(';')) other.push(line);
  }
  let servers = o.dns.length > 0 ? [...o.dns] : nameservers;
  if (mode === 'private' && o.dns.length === 0) {
    servers = servers.filter((s) => !isLoopback(s));
    if (servers.length === 0) servers = fallbackNameservers;
  }
  const lines = [
    ...other,
    ...(o.search.length > 0 ? (o.search.length === 1 && o.search[0] === '.' ? [] : [`search ${o.search.join(' ')}`]) : search.length > 0 ? [`search ${search.join(' ')}`] : []),
    ...servers.map((s) => `nameserver ${s}`),
    ...((o.options.length > 0 ? o.options : options).length > 0 ? [`options ${(o.options.length > 0 ? o.options : options).join(' ')}`] : []),
  ];
  return lines.join('\n') + '\n';
}

/** Writes the file keeping its inode (created 0644 when missing), so that bind mounts of it see the text. */
export function writeInPlace(file: string, text: string): void {
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT, 0o644);
  try {
    const data = Buffer.from(text);
    fs.writeSync(fd, data, 0, data.length, 0);
    fs.ftruncateSync(fd, data.length);
  } finally {
    fs.closeSync(fd);
  }
}
