import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configToToml, defaultConfig, defaultConfigPath, hostsConfig, loadConfig, validateConfig, type Config } from './config.js';
import { errorOf } from '../test/harness/errors.js';

let dir: string;
let n = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ctrd-config-test-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  expect(existsSync(dir)).toBe(false);
});

/** Writes a config file into the test's temp dir and returns its path. */
function file(text: string): string {
  const path = join(dir, `config-${n++}.toml`);
  writeFileSync(path, text);
  return path;
}


describe('defaultConfig', () => {
  it('is valid and in containerd layout', () => {
    const c = defaultConfig();
    expect(validateConfig(c)).toBe(c);
    expect(c.version).toBe(2);
    expect(c.root).toBe('/var/lib/ctrd');
    expect(c.state).toBe('/run/ctrd');
    expect(c.grpc.address).toBe('/run/ctrd/ctrd.sock');
    expect(c.debug.level).toBe('info');
  });

  it('returns a fresh object each time', () => {
    const a = defaultConfig();
    a.grpc.uid = 1000;
    expect(defaultConfig().grpc.uid).toBe(0);
  });

  it('round-trips through TOML', () => {
    const c = defaultConfig();
    c.root = '/srv/ctrd';
    c.grpc.max_send_message_size = 1234;
    const text = configToToml(c);
    expect(text).toMatch(/^version = 2$/m);
    expect(text).toMatch(/^\[grpc\]$/m);
    expect(text.endsWith('\n')).toBe(true);
    expect(loadConfig(file(text))).toEqual(c);
  });
});

describe('loadConfig', () => {
  it.skipIf(existsSync(defaultConfigPath))('runs on defaults when no path is given and the default file is missing', () => {
    expect(loadConfig(undefined)).toEqual(defaultConfig());
  });

  it('refuses a named file that does not exist, naming it', () => {
    const path = join(dir, 'missing.toml');
    const err = errorOf(() => loadConfig(path));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toContain(`config ${path}`);
    expect(err.message).toMatch(/ENOENT/);
  });

  it('overlays a partial file on the defaults', () => {
    const c = loadConfig(file('root = "/data/ctrd"\n[grpc]\naddress = "/tmp/x.sock"\ngid = 42\n[debug]\nlevel = "debug"\n'));
    const want: Config = defaultConfig();
    want.root = '/data/ctrd';
    want.grpc.address = '/tmp/x.sock';
    want.grpc.gid = 42;
    want.debug.level = 'debug';
    expect(c).toEqual(want);
  });

  it('an empty file gives the defaults', () => {
    expect(loadConfig(file(''))).toEqual(defaultConfig());
  });

  it('refuses a TOML syntax error, naming the file', () => {
    const path = file('root = "/x\n');
    const err = errorOf(() => loadConfig(path));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toContain(`config ${path}:`);
  });

  it.each([
    ['an unknown top-level key', 'roots = "/x"\n', /unknown key "roots"/],
    ['an unknown nested key', '[grpc]\nadress = "/x.sock"\n', /unknown key "grpc.adress"/],
    ['a string where a number belongs', '[grpc]\nuid = "0"\n', /"grpc.uid" must be a number/],
    ['a number where a string belongs', 'root = 5\n', /"root" must be a string/],
    ['a scalar where a table belongs', 'grpc = "x"\n', /"grpc" must be a table/],
    ['an array where a table belongs', 'debug = ["info"]\n', /"debug" must be a table/],
    ['a table where a scalar belongs', '[root]\nx = 1\n', /"root" must be a string/],
    ['version 1', 'version = 1\n', /version 1 is not supported \(want 2\)/],
    ['a relative root', 'root = "var/lib/ctrd"\n', /root "var\/lib\/ctrd" must be an absolute path/],
    ['a relative state dir', 'state = "run"\n', /state "run" must be an absolute path/],
    ['a relative socket address', '[grpc]\naddress = "ctrd.sock"\n', /grpc.address "ctrd.sock" must be an absolute path/],
    ['an unknown log level', '[debug]\nlevel = "loud"\n', /debug.level "loud" is not one of trace, debug/],
    ['a zero message size', '[grpc]\nmax_recv_message_size = 0\n', /message sizes must be positive/],
    ['a negative message size', '[grpc]\nmax_send_message_size = -1\n', /message sizes must be positive/],
  ])('refuses %s, naming the file', (_, text, message) => {
    const path = file(text);
    const err = errorOf(() => loadConfig(path));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toContain(`config ${path}`);
    expect(err.message).toMatch(message);
  });

  // daemon/server.ts runs setInterval(expireLeases, lease_expiry_interval * 1000): 0 or a negative number
  // makes that a sweep of every lease on every tick (Node clamps the delay to 1 ms). validateConfig does not
  // check the interval at all.
  it('refuses a lease expiry interval that is not positive', () => {
    const err = errorOf(() => loadConfig(file('lease_expiry_interval = 0\n')));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toMatch(/lease_expiry_interval/);
  });
});

describe('validateConfig', () => {
  it('names "(flags)" when no file is given', () => {
    const c = defaultConfig();
    c.root = 'relative';
    expect(errorOf(() => validateConfig(c)).message).toBe('config (flags): root "relative" must be an absolute path');
  });
});

describe('registry hosts', () => {
  it('reads mirrors, insecure and skip_verify per host, and hands them to the registry client', () => {
    const c = loadConfig(
      file('version = 2\n[registry.hosts."docker.io"]\nmirrors = ["127.0.0.1:5001", "https://mirror.example"]\n[registry.hosts."reg.local:5000"]\ninsecure = true\nskip_verify = true\n'),
    );
    expect(c.registry.hosts).toEqual({
      'docker.io': { mirrors: ['127.0.0.1:5001', 'https://mirror.example'] },
      'reg.local:5000': { insecure: true, skip_verify: true },
    });
    expect(hostsConfig(c)).toEqual({
      'docker.io': { mirrors: ['127.0.0.1:5001', 'https://mirror.example'] },
      'reg.local:5000': { insecure: true, skipVerify: true },
    });
  });

  it('refuses wrong types and unknown keys, naming them', () => {
    expect(errorOf(() => loadConfig(file('version = 2\n[registry.hosts."h"]\nmirrors = "one"\n'))).message).toContain('"registry.hosts."h".mirrors" must be a list of strings');
    expect(errorOf(() => loadConfig(file('version = 2\n[registry.hosts."h"]\ninsecure = "yes"\n'))).message).toContain('must be true or false');
    expect(errorOf(() => loadConfig(file('version = 2\n[registry.hosts."h"]\nmirror = []\n'))).message).toContain('unknown key "registry.hosts."h".mirror"');
  });

  it('reads a runtime\'s shim sharing and idle time, and refuses bad ones, naming the key', () => {
    const c = loadConfig(file('version = 2\n[runtimes."io.containerd.runc.v2"]\nshim = "/bin/s"\ngroup = "pod"\nidle_timeout = 0\n'));
    expect(c.runtimes['io.containerd.runc.v2']).toEqual({ shim: '/bin/s', group: 'pod', idle_timeout: 0 });
    expect(defaultConfig().runtimes['io.containerd.runc.v2']).toMatchObject({ group: 'namespace', idle_timeout: 10 });
    const bad = (body: string) => errorOf(() => loadConfig(file(`version = 2\n[runtimes."r"]\nshim = "/bin/s"\n${body}\n`)));
    expect(bad('group = "node"').message).toContain('"runtimes."r".group" must be one of container, pod, namespace');
    expect(bad('idle_timeout = -1').message).toContain('"runtimes."r".idle_timeout" must be a number of seconds');
    expect(bad('idle_timeout = -1')).toMatchObject({ kind: 'invalid-argument' });
  });
});

describe('logs', () => {
  it('defaults to 10m and 3 files, reads [logs], and refuses a size or a count that is not one, naming the key', () => {
    expect(defaultConfig().logs).toEqual({ max_size: '10m', max_file: 3 });
    expect(loadConfig(file('version = 2\n[logs]\nmax_size = "1g"\nmax_file = 5\n')).logs).toEqual({ max_size: '1g', max_file: 5 });
    expect(loadConfig(file('version = 2\n[logs]\nmax_size = "-1"\n')).logs).toEqual({ max_size: '-1', max_file: 3 });
    const bad = (body: string) => errorOf(() => loadConfig(file(`version = 2\n[logs]\n${body}\n`)));
    expect(bad('max_size = "ten"')).toMatchObject({ kind: 'invalid-argument' });
    expect(bad('max_size = "ten"').message).toContain('logs.max_size "ten" is not a size');
    expect(bad('max_size = 10').message).toContain('"logs.max_size" must be a string');
    expect(bad('max_file = 0').message).toContain('logs.max_file must be a positive integer');
    expect(bad('max_files = 2').message).toContain('unknown key "logs.max_files"');
  });
});
