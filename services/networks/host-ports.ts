// Host ports for -p: whether one is free right now, and the kernel's pick for -p CONTAINERPORT. CNI's portmap
// plugin forwards with iptables DNAT and binds nothing, so a bind is the only test of what else uses a port;
// ports ctrd itself has mapped are the caller's to know (taken).
import { createSocket, type SocketType } from 'node:dgram';
import { createServer, isIP, isIPv6 } from 'node:net';
import { CtrdError, failedPrecondition, invalidArgument } from '../../lib/errdefs.js';

const anyAddress = (hostIP: string) => (hostIP === '' ? '0.0.0.0' : hostIP);

/** Binds (and at once closes) a socket there; resolves to the port bound, rejects with the bind's error. */
function bindOnce(hostIP: string, port: number, protocol: 'tcp' | 'udp'): Promise<number> {
  const address = anyAddress(hostIP);
  return new Promise((resolve, reject) => {
    if (protocol === 'tcp') {
      const server = createServer();
      server.once('error', reject);
      server.listen({ host: address, port, exclusive: true, backlog: 1 }, () => {
        const bound = (server.address() as { port: number }).port;
        server.close(() => resolve(bound));
      });
    } else {
      const type: SocketType = isIPv6(address) ? 'udp6' : 'udp4';
      const socket = createSocket({ type });
      socket.once('error', (err) => {
        socket.close();
        reject(err);
      });
      socket.bind({ address, port, exclusive: true }, () => {
        const bound = socket.address().port;
        socket.close(() => resolve(bound));
      });
    }
  });
}

function validate(hostIP: string, port: number, protocol: string): void {
  if (protocol !== 'tcp' && protocol !== 'udp') throw invalidArgument(`invalid protocol ${protocol}`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalidArgument(`invalid port ${port}`);
  if (hostIP !== '' && isIP(hostIP) === 0) throw invalidArgument(`invalid host IP ${hostIP}`);
}

function bindError(hostIP: string, port: number, protocol: string, err: unknown): CtrdError {
  const code = (err as NodeJS.ErrnoException).code;
  const where = `${anyAddress(hostIP)}:${port}/${protocol}`;
  if (code === 'EADDRNOTAVAIL') {
    return failedPrecondition(`cannot bind ${where}: ${hostIP} is not an address of this host`, err);
  }
  return new CtrdError('unknown', `cannot bind ${where}: ${(err as Error).message}`, { cause: err });
}

/** Whether something else holds port on hostIP ('' = every address) for protocol right now. */
export async function portInUse(hostIP: string, port: number, protocol: 'tcp' | 'udp'): Promise<boolean> {
  validate(hostIP, port, protocol);
  try {
    await bindOnce(hostIP, port, protocol);
    return false;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' || (err as NodeJS.ErrnoException).code === 'EACCES') {
      return true;
    }
    throw bindError(hostIP, port, protocol, err);
  }
}

/** A free port from the kernel's ephemeral range, picked again while taken(port) says ctrd has it mapped. */
export async function ephemeralPort(
  hostIP: string,
  protocol: 'tcp' | 'udp',
  taken: (port: number) => boolean,
): Promise<number> {
  validate(hostIP, 0, protocol);
  for (let attempt = 0; attempt < 64; attempt++) {
    let port: number;
    try {
      port = await bindOnce(hostIP, 0, protocol);
    } catch (err) {
      throw bindError(hostIP, 0, protocol, err);
    }
    if (!taken(port)) return port;
  }
  throw new CtrdError('resource-exhausted', `no free ${protocol} port on ${anyAddress(hostIP)}`);
}
