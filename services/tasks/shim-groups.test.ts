import { describe, expect, it } from 'vitest';
import { groupKey } from './shim-groups.js';

describe('groupKey', () => {
  const pod = { 'io.kubernetes.cri.sandbox-id': 'p1' };
  it('gives "container" tasks no group, and "pod" ones the sandbox or runc group annotation', () => {
    expect(groupKey('container', 'ns', '/s', pod)).toBeUndefined();
    expect(groupKey('pod', 'ns', '/s', {})).toBeUndefined();
    expect(groupKey('pod', 'ns', '/s', pod)).toBe(groupKey('pod', 'ns', '/s', { 'io.containerd.runc.v2.group': 'p1' }));
  });
  it('puts a namespace together under "namespace", pods still apart, and never across namespaces or shims', () => {
    const a = groupKey('namespace', 'ns', '/s', {});
    expect(a).toBeDefined();
    expect(groupKey('namespace', 'ns', '/s', pod)).not.toBe(a);
    expect(groupKey('namespace', 'other', '/s', {})).not.toBe(a);
    expect(groupKey('namespace', 'ns', '/t', {})).not.toBe(a);
  });
});
