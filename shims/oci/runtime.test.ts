import { describe, expect, it } from 'vitest';
import { isCrun, runtimeError } from './runtime.js';

describe('oci runtime errors', () => {
  it('takes the error lines of a JSON log', () => {
    const log = [
      '{"level":"info","msg":"starting","time":"x"}',
      '{"level":"error","msg":"runc create failed: unable to start container process: exec: \\"nope\\": executable file not found in $PATH","time":"x"}',
    ].join('\n');
    expect(runtimeError(log, 'ignored')).toMatch(/executable file not found/);
  });

  it('falls back to stderr, and keeps lines that are not JSON', () => {
    expect(runtimeError('', ' container "x" does not exist\n')).toBe('container "x" does not exist');
    expect(runtimeError('plain words\n', '')).toBe('plain words');
  });

  it('words a missing command as runc does, whichever runtime said it', () => {
    const crun = '{"msg":"executable file `nosuch` not found in $PATH: No such file or directory","level":"error","time":"x"}';
    expect(runtimeError(crun, '')).toBe('exec: "nosuch": executable file not found in $PATH (executable file `nosuch` not found in $PATH: No such file or directory)');
  });

  it('knows crun by its name', () => {
    expect(isCrun('crun')).toBe(true);
    expect(isCrun('/usr/bin/crun')).toBe(true);
    expect(isCrun('runc')).toBe(false);
  });
});
