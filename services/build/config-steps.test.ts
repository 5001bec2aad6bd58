// What the metadata steps do to the image config, as docker's classic builder does it.
import { describe, expect, it } from 'vitest';
import type { Instruction } from '../../lib/dockerfile/types.js';
import { applyMetadata, commandOf, createdBy, workdirOf, type BuildRunConfig } from './config-steps.js';

const at = { pos: { line: 1, column: 1 }, endLine: 1, original: '' };
const apply = (config: BuildRunConfig, inst: Instruction, cmdSet = false) => applyMetadata(config, inst, { cmdSet });

describe('applyMetadata', () => {
  it('ENV replaces a key in place and appends new ones; LABEL merges; the input is not changed', () => {
    const base: BuildRunConfig = { Env: ['PATH=/bin', 'A=1'], Labels: { a: '1' } };
    const env = apply(base, { ...at, kind: 'ENV', pairs: [{ key: 'A', value: '2' }, { key: 'B', value: 'x y' }] }).config;
    expect(env.Env).toEqual(['PATH=/bin', 'A=2', 'B=x y']);
    expect(apply(base, { ...at, kind: 'LABEL', pairs: [{ key: 'b', value: '2' }] }).config.Labels).toEqual({ a: '1', b: '2' });
    expect(base).toEqual({ Env: ['PATH=/bin', 'A=1'], Labels: { a: '1' } });
  });

  it('EXPOSE as port keys (ranges and protocols), VOLUME as a set, USER and STOPSIGNAL as given', () => {
    const c = apply({}, { ...at, kind: 'EXPOSE', values: ['80', '53/udp', '8000-8001'] }).config;
    expect(c.ExposedPorts).toEqual({ '80/tcp': {}, '53/udp': {}, '8000/tcp': {}, '8001/tcp': {} });
    expect(apply({ Volumes: { '/a': {} } }, { ...at, kind: 'VOLUME', values: ['/b'] }).config.Volumes).toEqual({ '/a': {}, '/b': {} });
    expect(() => apply({}, { ...at, kind: 'VOLUME', values: [' '] })).toThrow('VOLUME specified can not be an empty string');
    expect(apply({}, { ...at, kind: 'USER', value: 'app:staff' }).config.User).toBe('app:staff');
    expect(apply({}, { ...at, kind: 'STOPSIGNAL', value: 'SIGQUIT' }).config.StopSignal).toBe('SIGQUIT');
  });

  it('CMD and ENTRYPOINT: the shell form through SHELL; an ENTRYPOINT drops a CMD the stage did not set', () => {
    const shelled = apply({ Shell: ['/bin/bash', '-c'] }, { ...at, kind: 'CMD', form: 'shell', args: ['echo hi'] }).config;
    expect(shelled.Cmd).toEqual(['/bin/bash', '-c', 'echo hi']);
    const inherited = apply({ Cmd: ['sh'] }, { ...at, kind: 'ENTRYPOINT', form: 'exec', args: ['/app'] }).config;
    expect(inherited).toMatchObject({ Entrypoint: ['/app'], Cmd: null });
    const flags = { cmdSet: false };
    const withCmd = applyMetadata({}, { ...at, kind: 'CMD', form: 'exec', args: ['--help'] }, flags).config;
    expect(applyMetadata(withCmd, { ...at, kind: 'ENTRYPOINT', form: 'exec', args: ['/app'] }, flags).config).toMatchObject({ Entrypoint: ['/app'], Cmd: ['--help'] });
  });

  it('HEALTHCHECK and ONBUILD are stored; MAINTAINER is the author; ARG changes nothing', () => {
    const hc = apply({}, { ...at, kind: 'HEALTHCHECK', config: { Test: ['CMD-SHELL', 'true'], Interval: 30e9 } }).config;
    expect(hc.Healthcheck).toEqual({ Test: ['CMD-SHELL', 'true'], Interval: 30e9 });
    const trigger = { ...at, kind: 'RUN', form: 'shell', args: ['make'] } as Instruction;
    expect(apply({ OnBuild: ['RUN a'] }, { ...at, kind: 'ONBUILD', trigger: 'RUN make', instruction: trigger }).config.OnBuild).toEqual(['RUN a', 'RUN make']);
    expect(apply({}, { ...at, kind: 'MAINTAINER', name: 'Kate <k@example.com>' }).author).toBe('Kate <k@example.com>');
    expect(apply({ Env: ['A=1'] }, { ...at, kind: 'ARG', args: [{ name: 'X' }] }).config).toEqual({ Env: ['A=1'] });
  });

  it('RUN, COPY and FROM are not metadata', () => {
    expect(() => apply({}, { ...at, kind: 'RUN', form: 'shell', args: ['true'] })).toThrow('RUN is not a metadata instruction');
  });
});

describe('paths, commands and history', () => {
  it('WORKDIR joins relative paths to the current one', () => {
    expect(workdirOf(undefined, 'app')).toBe('/app');
    expect(workdirOf('/opt', 'app/../srv')).toBe('/opt/srv');
    expect(workdirOf('/opt', '/abs//x/')).toBe('/abs/x');
    expect(workdirOf('/opt', '/')).toBe('/');
  });

  it("commandOf and created_by in docker's wording", () => {
    expect(commandOf('exec', ['a', 'b'], ['/bin/sh', '-c'])).toEqual(['a', 'b']);
    expect(commandOf('shell', ['make all'], ['/bin/sh', '-c'])).toEqual(['/bin/sh', '-c', 'make all']);
    expect(createdBy('EXPOSE 80')).toBe('/bin/sh -c #(nop) EXPOSE 80');
    expect(createdBy('RUN make', { command: ['/bin/sh', '-c', 'make'], buildArgs: ['A=1', 'B=2'] })).toBe('|2 A=1 B=2 /bin/sh -c make');
    expect(createdBy('RUN make', { command: ['/bin/sh', '-c', 'make'], buildArgs: [] })).toBe('/bin/sh -c make');
  });
});
