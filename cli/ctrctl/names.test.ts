// Container IDs, generated names, and docker's lookup by ID, name or unique prefix.
import { describe, expect, it } from 'vitest';
import { CtrdError } from '../../lib/errdefs.js';
import { nameLabel, newContainerId, randomName, resolveContainer, validateName } from './names.js';

const c = (id: string, name?: string): { id: string; labels: Record<string, string> } => ({ id, labels: name ? { [nameLabel]: name } : {} });

describe('container ids and names', () => {
  it('makes 64-hex ids that do not start with 12 decimal digits', () => {
    const ids = new Set(Array.from({ length: 50 }, () => newContainerId()));
    expect(ids.size).toBe(50);
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{64}$/);
      expect(id.slice(0, 12)).not.toMatch(/^\d+$/);
    }
  });

  it('makes adjective_surname names, with a digit on a retry, never boring_wozniak', () => {
    expect(randomName()).toMatch(/^[a-z]+_[a-z]+$/);
    expect(randomName(1)).toMatch(/^[a-z]+_[a-z]+\d$/);
    let calls = 0;
    // The first pick gives boring_wozniak; it is drawn again.
    const pick = () => {
      calls++;
      if (calls === 1) return 10; // 'boring'
      if (calls === 2) return 99; // 'wozniak'
      return 0;
    };
    expect(randomName(0, pick)).toBe('admiring_agnesi');
  });

  it('checks names as docker does', () => {
    expect(validateName('web-1.a_b')).toBe('web-1.a_b');
    expect(validateName('/web')).toBe('web');
    for (const bad of ['', 'a', '-web', 'we b', 'x/y']) expect(() => validateName(bad), bad).toThrow(/Invalid container name/);
  });
});

describe('resolveContainer', () => {
  const all = [c('abc123' + '0'.repeat(58), 'web'), c('abd456' + '0'.repeat(58), 'db'), c('fff' + '1'.repeat(61), 'abc')];

  it('takes a full id, then a name, then a unique prefix', () => {
    expect(resolveContainer(all, all[1]!.id).labels[nameLabel]).toBe('db');
    expect(resolveContainer(all, 'web').id).toBe(all[0]!.id);
    expect(resolveContainer(all, '/db').id).toBe(all[1]!.id);
    // A name wins over a prefix it also is.
    expect(resolveContainer(all, 'abc').id).toBe(all[2]!.id);
    expect(resolveContainer(all, 'abd').id).toBe(all[1]!.id);
    expect(resolveContainer(all, 'f').id).toBe(all[2]!.id);
  });

  it('an ambiguous prefix and an unknown name are errors that name what was typed', () => {
    expect(() => resolveContainer(all, 'ab')).toThrow('multiple IDs found with provided prefix: ab');
    expect(() => resolveContainer(all, 'nope')).toThrow('No such container: nope');
    expect(() => resolveContainer(all, '999')).toThrow('No such container: 999');
    try {
      resolveContainer(all, 'nope');
    } catch (err) {
      expect((err as CtrdError).kind).toBe('not-found');
    }
  });
});
