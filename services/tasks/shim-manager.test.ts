import { describe, expect, it } from 'vitest';
import { CtrdError } from '../../lib/errdefs.js';
import { shimBinaryName } from './shim-manager.js';

describe('shimBinaryName', () => {
  it('takes the last two dot components, as containerd does', () => {
    expect(shimBinaryName('io.containerd.runc.v2')).toBe('containerd-shim-runc-v2');
    expect(shimBinaryName('io.containerd.runsc.v1')).toBe('containerd-shim-runsc-v1');
  });

  it('refuses names that are not a runtime name', () => {
    for (const name of ['', 'runc', 'io.containerd..v2', '../../bin/sh.v2']) {
      expect(() => shimBinaryName(name), name).toThrow(CtrdError);
    }
  });
});
