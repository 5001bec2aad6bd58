import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { withNetwork } from './sandboxes.js';

describe('withNetwork', () => {
  const files = { '/etc/hosts': '/s/hosts', '/etc/hostname': '/s/hostname', '/etc/resolv.conf': '/s/resolv.conf' };
  const spec = () => ({
    hostname: 'web',
    mounts: [{ destination: '/etc/resolv.conf/', type: 'bind', source: '/mine', options: ['rbind'] }],
    linux: { namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'mount' }] },
  });

  it("sets the network namespace's path and mounts the files the spec does not mount itself", () => {
    const out = withNetwork(spec(), '/s/netns', files);
    expect(out.linux!.namespaces).toEqual([{ type: 'pid' }, { type: 'mount' }, { type: 'network', path: '/s/netns' }]);
    expect(out.mounts!.map((m) => [m.destination, m.source])).toEqual([
      ['/etc/resolv.conf/', '/mine'],
      ['/etc/hosts', '/s/hosts'],
      ['/etc/hostname', '/s/hostname'],
    ]);
    expect(out.hostname).toBe('web');
  });

  it("leaves the host's network namespace with no namespace of its own, and takes the host's name when none is given", () => {
    const out = withNetwork({ ...spec(), hostname: undefined }, null, files);
    expect(out.linux!.namespaces!.map((n) => n.type)).toEqual(['pid', 'mount']);
    expect(out.hostname).toBe(hostname());
    expect(withNetwork(spec(), null, files).hostname).toBe('web');
  });
});
