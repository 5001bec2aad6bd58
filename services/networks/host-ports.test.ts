// Host ports against real sockets on loopback.
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CtrdError } from '../../lib/errdefs.js';
import { ephemeralPort, portInUse } from './host-ports.js';

const open: Array<Server | Socket> = [];
afterEach(async () => {
  for (const s of open.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

function tcpListener(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    open.push(s);
    s.once('error', reject);
    s.listen({ host, port: 0 }, () => resolve((s.address() as { port: number }).port));
  });
}

function udpSocket(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    open.push(s);
    s.once('error', reject);
    s.bind({ address: host, port: 0 }, () => resolve(s.address().port));
  });
}

describe('portInUse', () => {
  it('sees a TCP listener on its address and on the wildcard', async () => {
    const port = await tcpListener('127.0.0.1');
    expect(await portInUse('127.0.0.1', port, 'tcp')).toBe(true);
    expect(await portInUse('', port, 'tcp')).toBe(true);
    // Another protocol on the same number is free.
    expect(await portInUse('127.0.0.1', port, 'udp')).toBe(false);
  });

  it('sees a UDP socket', async () => {
    const port = await udpSocket('127.0.0.1');
    expect(await portInUse('127.0.0.1', port, 'udp')).toBe(true);
    expect(await portInUse('', port, 'udp')).toBe(true);
  });

  it('finds a port free once its holder closed it, and leaves it free', async () => {
    const port = await tcpListener('127.0.0.1');
    await new Promise<void>((r) => (open.pop() as Server).close(() => r()));
    expect(await portInUse('127.0.0.1', port, 'tcp')).toBe(false);
    expect(await portInUse('127.0.0.1', port, 'tcp')).toBe(false);
    expect(await tcpListener('127.0.0.1')).toBeGreaterThan(0);
  });

  it('refuses an address that is not the host’s, and bad input', async () => {
    const err = await portInUse('192.0.2.77', 8080, 'tcp').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CtrdError);
    expect((err as CtrdError).kind).toBe('failed-precondition');
    expect((err as CtrdError).message).toContain('192.0.2.77:8080/tcp');
    await expect(portInUse('', 70000, 'tcp')).rejects.toThrow('invalid port 70000');
    await expect(portInUse('', 80, 'sctp' as 'tcp')).rejects.toThrow('invalid protocol sctp');
    await expect(portInUse('localhost', 80, 'tcp')).rejects.toThrow('invalid host IP localhost');
  });
});

describe('ephemeralPort', () => {
  it("returns a bindable port from the kernel's range", async () => {
    const [low, high] = (await import('node:fs')).readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    for (const protocol of ['tcp', 'udp'] as const) {
      const port = await ephemeralPort('127.0.0.1', protocol, () => false);
      expect(port).toBeGreaterThanOrEqual(low!);
      expect(port).toBeLessThanOrEqual(high!);
      expect(await portInUse('127.0.0.1', port, protocol)).toBe(false);
    }
  });

  it('asks again while the port is taken', async () => {
    const seen: number[] = [];
    const port = await ephemeralPort('', 'tcp', (p) => {
      seen.push(p);
      return seen.length < 3;
    });
    expect(seen).toHaveLength(3);
    expect(port).toBe(seen[2]);
  });

  it('gives up when every pick is taken', async () => {
    const err = await ephemeralPort('127.0.0.1', 'udp', () => true).catch((e: unknown) => e);
    expect((err as CtrdError).kind).toBe('resource-exhausted');
  });
});
