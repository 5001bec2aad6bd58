import { describe, expect, it } from 'vitest';
import { errorOf } from '../../test/harness/errors.js';
import { apiHost, endpointUrl, isLocalHost, registryEndpoints } from './hosts.js';

describe('registryEndpoints', () => {
  it('sends docker.io to registry-1.docker.io over https', () => {
    expect(registryEndpoints('docker.io')).toEqual([
      { host: 'registry-1.docker.io', scheme: 'https', path: '/v2', skipVerify: false, capabilities: ['pull', 'resolve', 'push'] },
    ]);
    expect(apiHost('docker.io')).toBe('registry-1.docker.io');
    expect(apiHost('ghcr.io')).toBe('ghcr.io');
  });

  it.each([
    ['127.0.0.1:5000', 'http'],
    ['127.1.2.3', 'http'],
    ['localhost:5000', 'http'],
    ['localhost', 'http'],
    ['[::1]:5000', 'http'],
    ['registry.example.com', 'https'],
    ['10.0.0.1:5000', 'https'],
  ])('%s speaks %s by default', (host, scheme) => {
    expect(registryEndpoints(host)[0]!.scheme).toBe(scheme);
  });

  it('uses plain http and no certificate check for hosts configured insecure, skipVerify keeps https', () => {
    expect(registryEndpoints('reg.example:5000', { 'reg.example:5000': { insecure: true } })[0]).toMatchObject({ scheme: 'http', skipVerify: true });
    expect(registryEndpoints('reg.example', { 'reg.example': { skipVerify: true } })[0]).toMatchObject({ scheme: 'https', skipVerify: true });
    expect(registryEndpoints('reg.example', {}, { plainHttp: true })[0]!.scheme).toBe('http');
  });

  it('tries mirrors first, for pull and resolve only, with the registry as ns', () => {
    const eps = registryEndpoints('docker.io', {
      'docker.io': { mirrors: ['mirror.example.com', 'http://127.0.0.1:5001', 'https://cache.example/prefix/'] },
    });
    expect(eps.map(endpointUrl)).toEqual([
      'https://mirror.example.com/v2',
      'http://127.0.0.1:5001/v2',
      'https://cache.example/prefix/v2',
      'https://registry-1.docker.io/v2',
    ]);
    expect(eps.slice(0, 3).every((e) => e.namespace === 'docker.io' && e.capabilities.join() === 'pull,resolve')).toBe(true);
    expect(eps[3]!.namespace).toBeUndefined();
  });

  it('gives a local mirror without a scheme plain http', () => {
    expect(registryEndpoints('docker.io', { 'docker.io': { mirrors: ['localhost:5001'] } })[0]!.scheme).toBe('http');
  });

  it('refuses a mirror it cannot use, naming it', () => {
    const plain = errorOf(() => registryEndpoints('docker.io', { 'docker.io': { mirrors: ['http://mirror.example.com'] } }));
    expect(plain.kind).toBe('invalid-argument');
    expect(plain.message).toContain('"http://mirror.example.com" is plain http');
    const bad = errorOf(() => registryEndpoints('docker.io', { 'docker.io': { mirrors: ['ftp://m.example'] } }));
    expect(bad.message).toContain('must be http or https');
    expect(() => registryEndpoints('docker.io', { 'docker.io': { mirrors: ['http://m.example'] }, 'm.example': { insecure: true } })).not.toThrow();
  });
});

describe('isLocalHost', () => {
  it.each([
    ['localhost', true],
    ['localhost:5000', true],
    ['registry.localhost', true],
    ['127.0.0.1:5000', true],
    ['127.255.0.1', true],
    ['[::1]:5000', true],
    ['128.0.0.1', false],
    ['localhost.example.com', false],
    ['[::2]:5000', false],
  ])('%s: %s', (host, local) => {
    expect(isLocalHost(host)).toBe(local);
  });
});
