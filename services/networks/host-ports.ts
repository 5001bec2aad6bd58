// Host ports: whether one is free right now (a socket can bind it), and an ephemeral one the kernel picks.
import dgram from 'node:dgram';
import net from 'node:net';
import { failedPrecondition, invalidArgument } from '../../lib/errdefs.js';

type Protocol = 'tcp' | 'udp';

/** Binds a socket to hostIP:port (port 0: any); the port it got, or undefined when the address is taken. */
function tryBind(hostIP: string, port: number, protocol: Protocol): Promise<number | undefined> {
  const host = hostIP || '0.0.0.0';
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(undefined);
      else if (err.code === 'EADDRNOTAVAIL') reject(invalidArgument(`cannot publish on ${host}: it is not an address of this host`));
      else reject(err);
    };
    if (protocol === 'udp') {
      const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
      sock.once('error', failed);
      sock.bind({ address: host, port, exclusive: true }, () => {
        const got = sock.address().port;
        sock.close(() => resolve(got));
      });
      return;
    }
    const server = net.createServer();
    server.once('error', failed);
    server.listen({ host, port, exclusive: true }, () => {
      const got = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(got));
    });
  });
}

/** Whether something on the host holds the port already. */
export async function portInUse(hostIP: string, port: number, protocol: Protocol): Promise<boolean> {
  return (await tryBind(hostIP, port, protocol)) === undefined;
}

/** A port the kernel gives out as free, none that taken() says another endpoint has. */
export async function ephemeralPort(hostIP: string, protocol: Protocol, taken: (port: number) => boolean): Promise<number> {
  for (let i = 0; i < 64; i++) {
    const port = await tryBind(hostIP, 0, protocol);
    if (port !== undefined && !taken(port)) return port;
  }
  throw failedPrecondition(`no free ${protocol} port on ${hostIP || '0.0.0.0'} for an ephemeral mapping`);
}
