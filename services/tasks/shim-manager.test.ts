import { describe, expect, it } from 'vitest';
import { CtrdError } from '../../lib/errdefs.js';
import fs from 'node:fs';
import { resolveShim, shimBinaryName } from './shim-manager.js';

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

describe('resolveShim', () => {
  const goShim = '/usr/bin/containerd-shim-runc-v2';

  it.skipIf(!fs.existsSync(goShim))('runs an absolute path as is, a table entry as mapped, other names from PATH', () => {
    expect(resolveShim(goShim, {})).toBe(goShim);
    expect(resolveShim('io.example.go.v2', { 'io.example.go.v2': { shim: goShim } })).toBe(goShim);
    expect(resolveShim('io.containerd.runc.v2', {})).toBe(goShim);
  });

  it('names the runtime it cannot resolve, as NotFound', () => {
    for (const [name, table] of [
      ['io.containerd.nosuch.v9', {}],
      ['/nonexistent/shim', {}],
      ['io.example.x.v1', { 'io.example.x.v1': { shim: '/nonexistent/shim' } }],
    ] as const) {
      const err = (() => {
        try {
          resolveShim(name, table);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err, name).toBeInstanceOf(CtrdError);
      expect((err as CtrdError).kind).toBe('not-found');
      expect((err as CtrdError).message).toContain(name);
    }
  });
});
