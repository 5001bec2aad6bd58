import { describe, expect, it } from 'vitest';
import { loginRegistry } from './login.js';

describe('loginRegistry', () => {
  it('names docker.io for docker hub servers and for none, as docker login does', () => {
    for (const server of ['', 'docker.io', 'index.docker.io', 'https://index.docker.io/v1/', 'registry-1.docker.io']) {
      expect(loginRegistry(server), server).toBe('docker.io');
    }
  });

  it('keeps host and port, dropping a scheme and a path (ConvertToHostname)', () => {
    expect(loginRegistry('127.0.0.1:5000')).toBe('127.0.0.1:5000');
    expect(loginRegistry('http://127.0.0.1:5000/v2/')).toBe('127.0.0.1:5000');
    expect(loginRegistry('https://Registry.Example.com')).toBe('registry.example.com');
    expect(loginRegistry('[::1]:5000')).toBe('[::1]:5000');
  });

  it('refuses what cannot be a host', () => {
    expect(() => loginRegistry('not a host')).toThrow(/invalid registry server "not a host"/);
    expect(() => loginRegistry('host:port')).toThrow(/invalid registry server/);
  });
});
