// docker's -p/--publish spec: [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO], ports or ranges (8000-8010), an IPv6
// address in brackets, proto tcp, udp or sctp. Parsed and checked here, with docker's messages.
import { isIP } from 'node:net';
import { invalidArgument } from '../../lib/errdefs.js';

export interface PortRange {
  start: number;
  end: number;
}

export interface PortMapping {
  hostIp: string;
  /** Unset: a port the daemon picks. */
  hostPorts: PortRange | undefined;
  containerPorts: PortRange;
  proto: 'tcp' | 'udp' | 'sctp';
}

function parseRange(text: string, what: string): PortRange {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  const start = m ? Number(m[1]) : NaN;
  const end = m?.[2] !== undefined ? Number(m[2]) : start;
  if (!m || start < 1 || start > 65535 || end < start || end > 65535) throw invalidArgument(`invalid ${what}: ${text}`);
  return { start, end };
}

export function parsePublish(spec: string): PortMapping {
  let rest = spec;
  let proto: PortMapping['proto'] = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1).toLowerCase();
    if (p !== 'tcp' && p !== 'udp' && p !== 'sctp') throw invalidArgument(`invalid proto: ${rest.slice(slash + 1)}`);
    proto = p;
    rest = rest.slice(0, slash);
  }
  let hostIp = '';
  const v6 = /^\[([^\]]*)\]:(.*)$/.exec(rest);
  if (v6) {
    hostIp = v6[1]!;
    if (isIP(hostIp) !== 6) throw invalidArgument(`invalid IP address: ${hostIp}`);
    rest = v6[2]!;
  }
  const parts = rest.split(':');
  if (parts.length > 3 || (v6 && parts.length > 2)) throw invalidArgument(`invalid port format: ${spec}: expected [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]`);
  if (parts.length === 3) {
    hostIp = parts.shift()!;
    if (isIP(hostIp) !== 4) throw invalidArgument(`invalid IP address: ${hostIp}`);
  }
  const containerText = parts.pop()!;
  if (containerText === '') throw invalidArgument(`no port specified: ${spec}<empty>`);
  const containerPorts = parseRange(containerText, 'containerPort');
  const hostText = parts.pop();
  const hostPorts = hostText === undefined || hostText === '' ? undefined : parseRange(hostText, 'hostPort');
  // One container port takes any free port of a host range; ranges on both sides must be the same length.
  if (hostPorts && containerPorts.end > containerPorts.start && hostPorts.end - hostPorts.start !== containerPorts.end - containerPorts.start) {
    throw invalidArgument(`invalid ranges specified for container and host Ports: ${containerText} and ${hostText}`);
  }
  return { hostIp, hostPorts, containerPorts, proto };
}
