import { describe, expect, it } from 'vitest';
import { formatFlags, parseFlags } from './flags.js';

describe('shim flags (Go flag style)', () => {
  it('parses what containerd passes to start', () => {
    const f = parseFlags(['-namespace', 'default', '-address', '/run/ctrd/ctrd.sock', '-publish-binary', '/usr/bin/ctrd', '-id', 'c1', 'start']);
    expect(f).toMatchObject({ namespace: 'default', address: '/run/ctrd/ctrd.sock', publishBinary: '/usr/bin/ctrd', id: 'c1', bundle: '', debug: false, action: 'start' });
  });

  it('takes -flag=value, --flag, booleans, -bundle and delete', () => {
    const f = parseFlags(['--namespace=k8s.io', '-id=x', '-debug', '-bundle', '/b', 'delete']);
    expect(f).toMatchObject({ namespace: 'k8s.io', id: 'x', debug: true, bundle: '/b', action: 'delete' });
    expect(parseFlags(['-namespace', 'n', '-id', 'i', '-debug=false']).debug).toBe(false);
  });

  it('no action is the server', () => {
    expect(parseFlags(['-namespace', 'n', '-id', 'i']).action).toBe('');
  });

  it('refuses what Go\'s flag package refuses', () => {
    expect(() => parseFlags(['-nope', 'x', '-namespace', 'n', '-id', 'i'])).toThrow(/flag provided but not defined: -nope/);
    expect(() => parseFlags(['-namespace'])).toThrow(/needs an argument/);
    expect(() => parseFlags(['-namespace', 'n', '-id', 'i', 'run'])).toThrow(/unknown action/);
    expect(() => parseFlags(['-id', 'i', 'start'])).toThrow(/namespace/);
    expect(() => parseFlags(['-namespace', 'n', 'start'])).toThrow(/id/);
    expect(() => parseFlags(['-namespace', 'n', '-id', 'i', '-debug=maybe'])).toThrow(/boolean/);
  });

  it('formats the flags back for the server copy', () => {
    const f = parseFlags(['-namespace', 'n', '-address', 'a', '-publish-binary', 'p', '-id', 'i', '-debug', 'start']);
    expect(parseFlags(formatFlags({ ...f, bundle: '/b' }))).toMatchObject({ namespace: 'n', address: 'a', publishBinary: 'p', id: 'i', bundle: '/b', debug: true, action: '' });
  });
});
