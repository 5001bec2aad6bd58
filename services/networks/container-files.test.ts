// The hosts and resolv.conf files as docker writes them, and in-place rewrites seen through a real bind mount.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { native } from '../../lib/native.js';
import { hostsFile, resolvConf, writeInPlace } from './container-files.js';

const defaults =
  '127.0.0.1\tlocalhost\n' +
  '::1\tlocalhost ip6-localhost ip6-loopback\n' +
  'fe00::0\tip6-localnet\n' +
  'ff00::0\tip6-mcastprefix\n' +
  'ff02::1\tip6-allnodes\n' +
  'ff02::2\tip6-allrouters\n';

describe('hostsFile', () => {
  it('has the defaults, extra hosts, peers and then the container itself', () => {
    expect(
      hostsFile({
        self: { ip: '172.18.0.3', names: ['3f2a1b0c9d8e', 'web'] },
        extraHosts: [
          { host: 'db.example', ip: '10.1.2.3' },
          { host: 'v6.example', ip: '2001:db8::1' },
        ],
        peers: [{ ip: '172.18.0.2', names: ['cache', 'redis', '9a8b7c6d5e4f'] }],
      }),
    ).toBe(
      defaults +
        '10.1.2.3\tdb.example\n' +
        '2001:db8::1\tv6.example\n' +
        '172.18.0.2\tcache redis 9a8b7c6d5e4f\n' +
        '172.18.0.3\t3f2a1b0c9d8e web\n',
    );
  });

  it('has no line of its own without an address (network none)', () => {
    expect(hostsFile({ self: { names: ['3f2a1b0c9d8e'] }, extraHosts: [], peers: [] })).toBe(defaults);
  });
});

describe('resolvConf', () => {
  const none = { dns: [], search: [], options: [] };
  const host =
    '# from the host\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\noptions edns0 trust-ad\n';

  it('drops loopback nameservers for a private network', () => {
    expect(resolvConf(host, none, 'private')).toBe(
      '# from the host\nsearch corp.example\noptions edns0 trust-ad\nnameserver 10.0.0.2\n',
    );
  });

  it("falls back to docker's defaults when only loopback ones remain", () => {
    const text = 'nameserver 127.0.0.53\nnameserver ::1\nnameserver 0:0:0:0:0:0:0:1\nsearch lan\n';
    expect(resolvConf(text, none, 'private')).toBe('search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n');
    expect(resolvConf('', none, 'private')).toBe('nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  });

  it("keeps the host's file as is for the host network and when nothing is to change", () => {
    expect(resolvConf(host, none, 'host')).toBe(host);
    const plain = 'nameserver 10.0.0.2\nnameserver fd00::53\n';
    expect(resolvConf(plain, { ...none, ipv6: true }, 'private')).toBe(plain);
    expect(resolvConf(plain, none, 'host')).toBe(plain);
  });

  it('drops IPv6 nameservers on a network without IPv6, as docker does', () => {
    expect(resolvConf('nameserver 10.0.0.2\nnameserver fd00::53\n', none, 'private')).toBe('nameserver 10.0.0.2\n');
    expect(resolvConf('nameserver fd00::53\n', none, 'private')).toBe('nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  });

  it('replaces nameservers, search and options with --dns, --dns-search and --dns-option', () => {
    const o = { dns: ['1.1.1.1', '2606:4700:4700::1111'], search: ['a.example', 'b.example'], options: ['ndots:2'] };
    const expected =
      '# from the host\nsearch a.example b.example\n' +
      'nameserver 1.1.1.1\nnameserver 2606:4700:4700::1111\noptions ndots:2\n';
    expect(resolvConf(host, o, 'private')).toBe(expected);
    expect(resolvConf(host, o, 'host')).toBe(expected);
    // --dns keeps even a loopback server: the user asked for it.
    expect(resolvConf(host, { ...none, dns: ['127.0.0.1'] }, 'private')).toContain('nameserver 127.0.0.1\n');
    // domain goes with search; '.' means no search list at all.
    expect(resolvConf('domain lan\nnameserver 10.0.0.2\n', { ...none, search: ['.'] }, 'private')).toBe(
      'nameserver 10.0.0.2\n',
    );
    expect(resolvConf(host, { ...none, options: ['rotate'] }, 'host')).toBe(
      '# from the host\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\noptions rotate\n',
    );
  });
});

describe('writeInPlace', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctrd-files-'));
  });
  afterEach(() => {
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(dir);
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the file 0644 whatever the umask', () => {
    const file = join(dir, 'hosts');
    const old = process.umask(0o077);
    try {
      writeInPlace(file, 'a\n');
    } finally {
      process.umask(old);
    }
    expect(readFileSync(file, 'utf8')).toBe('a\n');
    expect(statSync(file).mode & 0o777).toBe(0o644);
  });

  it('rewrites the same inode, which a bind mount of it sees', () => {
    const file = join(dir, 'hosts');
    const target = join(dir, 'mounted');
    writeInPlace(file, 'a long first version of the file\n');
    writeFileSync(target, '');
    const n = native();
    n.mount(file, target, '', n.constants.MS_BIND, '');
    try {
      const ino = statSync(file).ino;
      writeInPlace(file, 'short\n');
      expect(statSync(file).ino).toBe(ino);
      expect(readFileSync(target, 'utf8')).toBe('short\n');
      writeInPlace(file, '');
      expect(readFileSync(target, 'utf8')).toBe('');
    } finally {
      n.umount2(target, 0);
    }
  });
});
