// docker's capability names and its --cap-add/--cap-drop arithmetic.
import { describe, expect, it } from 'vitest';
import { allCapabilities, boundingCapabilities, normalizeCapability, tweakCapabilities } from './capabilities.js';
import { defaultCapabilities } from './default-spec.js';

describe('capabilities', () => {
  it('all 41 of them, in the kernel order', () => {
    expect(allCapabilities).toHaveLength(41);
    expect(allCapabilities[0]).toBe('CAP_CHOWN');
    expect(allCapabilities[21]).toBe('CAP_SYS_ADMIN');
    expect(allCapabilities[40]).toBe('CAP_CHECKPOINT_RESTORE');
    for (const c of defaultCapabilities) expect(allCapabilities).toContain(c);
  });

  it('names with or without CAP_, in any case; ALL; undefined for others', () => {
    expect(normalizeCapability('net_admin')).toBe('CAP_NET_ADMIN');
    expect(normalizeCapability('CAP_SYS_ADMIN')).toBe('CAP_SYS_ADMIN');
    expect(normalizeCapability('cap_kill')).toBe('CAP_KILL');
    expect(normalizeCapability('all')).toBe('ALL');
    expect(normalizeCapability('CAP_ALL')).toBeUndefined();
    expect(normalizeCapability('nope')).toBeUndefined();
    expect(normalizeCapability('')).toBeUndefined();
  });

  it('drops then adds; ALL added is all but the dropped; ALL dropped is only the added', () => {
    expect(tweakCapabilities(['CAP_CHOWN', 'CAP_KILL'], [], [])).toEqual(['CAP_CHOWN', 'CAP_KILL']);
    expect(tweakCapabilities(['CAP_CHOWN', 'CAP_KILL'], ['CAP_SYS_ADMIN', 'CAP_CHOWN'], ['CAP_KILL'])).toEqual(['CAP_CHOWN', 'CAP_SYS_ADMIN']);
    expect(tweakCapabilities(['CAP_CHOWN'], ['ALL'], ['CAP_SYS_ADMIN'])).toEqual(allCapabilities.filter((c) => c !== 'CAP_SYS_ADMIN'));
    expect(tweakCapabilities(defaultCapabilities, ['CAP_NET_BIND_SERVICE'], ['ALL'])).toEqual(['CAP_NET_BIND_SERVICE']);
    expect(tweakCapabilities(defaultCapabilities, [], ['ALL'])).toEqual([]);
    expect(tweakCapabilities([], ['ALL'], ['CAP_KILL'], ['CAP_CHOWN', 'CAP_KILL'])).toEqual(['CAP_CHOWN']);
  });

  it("a process's bounding set from its status file", () => {
    expect(boundingCapabilities('Name:\tx\nCapBnd:\t000001ffffffffff\nCapAmb:\t0\n')).toEqual([...allCapabilities]);
    expect(boundingCapabilities('CapBnd:\t00000000a80425fb\n').sort()).toEqual([...defaultCapabilities].sort());
    // A host without CAP_SYS_RESOURCE (bit 24) in its own bounding set.
    expect(boundingCapabilities('CapBnd:\t000001fffeffffff\n')).toEqual(allCapabilities.filter((c) => c !== 'CAP_SYS_RESOURCE'));
    expect(boundingCapabilities('no such line')).toEqual([...allCapabilities]);
  });
});
