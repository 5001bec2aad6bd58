// A TCP proxy on 127.0.0.1 that slows what the server sends to a fixed rate, so that a test can catch a
// download in the middle (to kill the daemon there). Each connection gets the full rate.
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ThrottleProxy {
  host: string;
  stop(): Promise<void>;
}

export async function startThrottleProxy(target: { host: string; port: number }, bytesPerSecond: number): Promise<ThrottleProxy> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    // Downstream in 16 KiB slices, each followed by the pause that keeps the rate.
    const slice = 16 * 1024;
    upstream.on('data', (chunk: Buffer) => {
      upstream.pause();
      let at = 0;
      const next = () => {
        if (client.destroyed) return;
        if (at >= chunk.length) {
          upstream.resume();
          return;
        }
        const part = chunk.subarray(at, at + slice);
        at += part.length;
        client.write(part);
        setTimeout(next, (part.length / bytesPerSecond) * 1000);
      };
      next();
    });
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
