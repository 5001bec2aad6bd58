import { describe, expect, it } from 'vitest';
import { applyChanges } from './config-changes.js';

describe('applyChanges (docker commit/import --change)', () => {
  it('takes the exec form as is and the shell form through /bin/sh -c', () => {
    expect(applyChanges({}, ['CMD ["cat", "/etc/mark"]']).Cmd).toEqual(['cat', '/etc/mark']);
    expect(applyChanges({}, ['cmd echo hi']).Cmd).toEqual(['/bin/sh', '-c', 'echo hi']);
    expect(applyChanges({}, ['ENTRYPOINT ["/bin/app", "-v"]']).Entrypoint).toEqual(['/bin/app', '-v']);
  });

  it('ENV and LABEL add or replace keys, in both forms, quotes taken as the shell does', () => {
    const c = applyChanges({ Env: ['PATH=/bin', 'A=1'] }, ['ENV A=2 B="two words"', 'ENV C some value', 'LABEL x=1 "y z"=2']);
    expect(c.Env).toEqual(['PATH=/bin', 'A=2', 'B=two words', 'C=some value']);
    expect(c.Labels).toEqual({ x: '1', 'y z': '2' });
  });

  it('EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL', () => {
    const c = applyChanges({ WorkingDir: '/srv' }, ['EXPOSE 80 53/udp 8000-8001', 'VOLUME ["/data"]', 'VOLUME /a /b', 'USER nobody', 'WORKDIR app', 'STOPSIGNAL SIGINT']);
    expect(Object.keys(c.ExposedPorts ?? {})).toEqual(['80/tcp', '53/udp', '8000/tcp', '8001/tcp']);
    expect(Object.keys(c.Volumes ?? {})).toEqual(['/data', '/a', '/b']);
    expect([c.User, c.WorkingDir, c.StopSignal]).toEqual(['nobody', '/srv/app', 'SIGINT']);
  });

  it('refuses what docker refuses, by name', () => {
    expect(() => applyChanges({}, ['RUN rm -rf /'])).toThrow('RUN is not a valid change command');
    expect(() => applyChanges({}, ['EXPOSE http'])).toThrow('invalid containerPort: http');
    expect(() => applyChanges({}, ['ENV'])).toThrow('ENV requires at least one argument');
    expect(() => applyChanges({}, ['LABEL x="unterminated'])).toThrow('matching double-quote');
  });

  it('leaves the input alone', () => {
    const base = { Env: ['A=1'] };
    applyChanges(base, ['ENV A=2']);
    expect(base).toEqual({ Env: ['A=1'] });
  });
});
