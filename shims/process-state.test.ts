import { describe, expect, it } from 'vitest';
import { CtrdError } from '../lib/errdefs.js';
import { ProcessState, type Operation, type ProcessStatus } from './process-state.js';

function kindOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof CtrdError ? `${err.kind}: ${err.message}` : String(err);
  }
  return 'ok';
}

describe('process state machine', () => {
  it('walks created -> running -> paused -> running -> stopped -> deleted', () => {
    const s = new ProcessState();
    expect(s.status).toBe('created');
    for (const [op, next] of [
      ['start', 'running'],
      ['pause', 'paused'],
      ['resume', 'running'],
      ['exit', 'stopped'],
      ['delete', 'deleted'],
    ] as [Operation, ProcessStatus][]) {
      expect(s.apply(op)).toBe(next);
    }
  });

  it('refuses illegal moves with containerd\'s kinds', () => {
    const at = (status: ProcessStatus) => new ProcessState(status);
    expect(kindOf(() => at('running').apply('start'))).toMatch(/^failed-precondition: cannot start a running process/);
    expect(kindOf(() => at('stopped').apply('start'))).toMatch(/^failed-precondition/);
    expect(kindOf(() => at('stopped').apply('kill'))).toBe('not-found: process already finished');
    expect(kindOf(() => at('deleted').apply('kill'))).toBe('not-found: process already finished');
    expect(kindOf(() => at('running').apply('delete'))).toBe('failed-precondition: cannot delete a running process');
    expect(kindOf(() => at('paused').apply('delete'))).toBe('failed-precondition: cannot delete a running process');
    expect(kindOf(() => at('paused').apply('pause'))).toMatch(/^failed-precondition/);
    expect(kindOf(() => at('running').apply('resume'))).toMatch(/^failed-precondition/);
    expect(kindOf(() => at('paused').check('exec'))).toMatch(/^failed-precondition: cannot exec in a paused state/);
    expect(kindOf(() => at('created').check('exec'))).toBe('ok');
  });

  it('check changes nothing; kill keeps the status', () => {
    const s = new ProcessState('running');
    s.check('pause');
    expect(s.status).toBe('running');
    expect(s.apply('kill')).toBe('running');
  });

  it('a created process may be deleted or exit (killed before start)', () => {
    expect(new ProcessState('created').apply('delete')).toBe('deleted');
    expect(new ProcessState('created').apply('exit')).toBe('stopped');
  });
});
