import { describe, expect, it } from 'vitest';
import { formatRestartPolicy, parseRestartPolicy, restartLabels, wantsRestart } from './restart-policy.js';

describe('restart policies', () => {
  it("parses docker's values and refuses the rest with docker's messages", () => {
    expect(parseRestartPolicy('')).toEqual({ name: 'no' });
    expect(parseRestartPolicy('always')).toEqual({ name: 'always' });
    expect(parseRestartPolicy('on-failure')).toEqual({ name: 'on-failure', maxRetries: 0 });
    expect(parseRestartPolicy('on-failure:3')).toEqual({ name: 'on-failure', maxRetries: 3 });
    expect(formatRestartPolicy(parseRestartPolicy('on-failure:3'))).toBe('on-failure:3');
    expect(() => parseRestartPolicy('always:3')).toThrow(/maximum retry count cannot be used with restart policy 'always'/);
    expect(() => parseRestartPolicy('on-failure:x')).toThrow(/must be an integer/);
    expect(() => parseRestartPolicy('sometimes')).toThrow(/unknown policy "sometimes"/);
    expect(() => parseRestartPolicy('on-failure:1:2')).toThrow(/invalid restart policy format/);
  });

  it('decides as docker: on-failure counts and needs a failure, a stop by hand holds except always on daemon start', () => {
    const stopped = { [restartLabels.explicitlyStopped]: 'true' };
    const onFailure = parseRestartPolicy('on-failure:2');
    expect(wantsRestart(onFailure, {}, 1)).toBe(true);
    expect(wantsRestart(onFailure, {}, 0)).toBe(false);
    expect(wantsRestart(onFailure, { [restartLabels.count]: '2' }, 1)).toBe(false);
    expect(wantsRestart(onFailure, stopped, 1)).toBe(false);
    expect(wantsRestart({ name: 'always' }, {}, 0)).toBe(true);
    expect(wantsRestart({ name: 'always' }, stopped, 0)).toBe(false);
    expect(wantsRestart({ name: 'always' }, stopped, 0, true)).toBe(true);
    expect(wantsRestart({ name: 'unless-stopped' }, stopped, 0, true)).toBe(false);
    expect(wantsRestart({ name: 'no' }, {}, 1)).toBe(false);
  });
});
