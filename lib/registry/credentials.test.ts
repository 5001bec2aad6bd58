import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerConfigCredentials, dockerConfigDir, staticCredentials } from './credentials.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('dockerConfigCredentials', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctrd-docker-config-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const write = (config: unknown) => writeFileSync(join(dir, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));

  it('reads auth (base64 user:password, the password may hold colons) and username/password entries', async () => {
    write({
      auths: {
        'https://index.docker.io/v1/': { auth: b64('hubuser:pa:ss') },
        '127.0.0.1:5000': { username: 'local', password: 'secret' },
        'https://ghcr.io': { auth: b64('gh:token') },
        'empty.example': {},
      },
    });
    const creds = dockerConfigCredentials({ configDir: dir });
    expect(await creds('registry-1.docker.io')).toEqual({ username: 'hubuser', password: 'pa:ss' });
    expect(await creds('docker.io')).toEqual({ username: 'hubuser', password: 'pa:ss' });
    expect(await creds('127.0.0.1:5000')).toEqual({ username: 'local', password: 'secret' });
    expect(await creds('ghcr.io')).toEqual({ username: 'gh', password: 'token' });
    expect(await creds('empty.example')).toBeUndefined();
    expect(await creds('other.example')).toBeUndefined();
  });

  it('prefers the exact key over one that only names the same host', async () => {
    write({ auths: { 'http://reg.example/v1/': { auth: b64('a:1') }, 'reg.example': { auth: b64('b:2') } } });
    expect(await dockerConfigCredentials({ configDir: dir })('reg.example')).toEqual({ username: 'b', password: '2' });
  });

  it('has no credentials without a file, and names a malformed one', async () => {
    expect(await dockerConfigCredentials({ configDir: join(dir, 'missing') })('x')).toBeUndefined();
    write('{ not json');
    expect(() => dockerConfigCredentials({ configDir: dir })('x')).toThrow(/config\.json: not valid JSON/);
    write({ auths: { x: { auth: b64('no-colon') } } });
    expect(() => dockerConfigCredentials({ configDir: dir })('x')).toThrow(/auths\["x"\]\.auth is not base64/);
  });

  it('finds the config in $DOCKER_CONFIG, else ~/.docker', () => {
    expect(dockerConfigDir({ DOCKER_CONFIG: '/etc/dc', HOME: '/root' })).toBe('/etc/dc');
    expect(dockerConfigDir({ HOME: '/home/u' })).toBe('/home/u/.docker');
  });
});

describe('staticCredentials', () => {
  it('answers for the host, docker.io for its API host too', () => {
    const creds = staticCredentials({ 'docker.io': { username: 'a', password: 'b' }, '127.0.0.1:5000': { username: 'c', password: 'd' } });
    expect(creds('registry-1.docker.io')).toEqual({ username: 'a', password: 'b' });
    expect(creds('127.0.0.1:5000')).toEqual({ username: 'c', password: 'd' });
    expect(creds('127.0.0.1:5001')).toBeUndefined();
  });
});
