import { describe, expect, it } from 'vitest';
import { errorOf } from '../../test/harness/errors.js';
import { defaultPlatform, formatPlatform, normalizePlatform, onlyPlatform, parsePlatform, strictPlatform, type Platform } from './platform.js';

const hostArch = process.arch === 'x64' ? 'amd64' : process.arch;

describe('parsePlatform', () => {
  it.each([
    ['linux/amd64', 'linux/amd64'],
    ['linux/x86_64', 'linux/amd64'],
    ['linux/x86-64', 'linux/amd64'],
    ['linux/amd64/v1', 'linux/amd64'],
    ['linux/amd64/v3', 'linux/amd64/v3'],
    ['linux/aarch64', 'linux/arm64'],
    ['linux/arm64/v8', 'linux/arm64'],
    ['linux/arm64/8', 'linux/arm64'],
    ['linux/arm64/v8.2', 'linux/arm64/v8.2'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/arm/7', 'linux/arm/v7'],
    ['linux/arm/6', 'linux/arm/v6'],
    ['linux/armhf', 'linux/arm/v7'],
    ['linux/armel', 'linux/arm/v6'],
    ['linux/i386', 'linux/386'],
    ['LINUX/AMD64', 'linux/amd64'],
    ['macos/arm64', 'darwin/arm64'],
    ['windows/amd64', 'windows/amd64'],
    ['arm64', 'linux/arm64'],
  ])('%s -> %s', (spec, normalized) => {
    expect(formatPlatform(parsePlatform(spec))).toBe(normalized);
  });

  it('fills the architecture of this machine in when only an OS is given', () => {
    expect(parsePlatform('linux').architecture).toBe(defaultPlatform().architecture);
  });

  it.each([
    ['*', /wildcards/],
    ['linux/am d64', /"am d64" is an invalid component/],
    ['linux//amd64', /"" is an invalid component/],
    ['a/b/c/d', /cannot parse platform specifier/],
    ['nonsense', /unknown operating system or architecture/],
  ])('rejects %j', (spec, why) => {
    const err = errorOf(() => parsePlatform(spec));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toContain(`platform "${spec}"`);
    expect(err.message).toMatch(why);
  });
});

describe('defaultPlatform', () => {
  it('is this machine: linux and its architecture in Go words', () => {
    const p = defaultPlatform();
    expect(p.os).toBe('linux');
    expect(p.architecture).toBe(hostArch);
  });
});

describe('normalizePlatform', () => {
  it('keeps os.version and os.features, drops a default variant', () => {
    expect(normalizePlatform({ os: 'Windows', architecture: 'x86_64', variant: 'v1', 'os.version': '10.0.17763' })).toEqual({
      os: 'windows',
      architecture: 'amd64',
      'os.version': '10.0.17763',
    });
  });
});

describe('onlyPlatform', () => {
  const p = (s: string): Platform => {
    const [os, architecture, variant] = s.split('/');
    return { os: os!, architecture: architecture!, ...(variant ? { variant } : {}) };
  };
  const ranked = (want: string, have: string[]) => {
    const m = onlyPlatform(want);
    return have.filter((h) => m.match(p(h))).sort((a, b) => m.compare(p(a), p(b)));
  };

  it('amd64 runs amd64 first, then 386, and nothing else', () => {
    expect(ranked('linux/amd64', ['linux/386', 'linux/arm64', 'linux/amd64', 'windows/amd64', 'linux/amd64/v3'])).toEqual(['linux/amd64', 'linux/386']);
  });

  it('amd64/v3 also runs v2 and v1, best first', () => {
    expect(ranked('linux/amd64/v3', ['linux/amd64', 'linux/amd64/v2', 'linux/amd64/v3', 'linux/amd64/v4', 'linux/386'])).toEqual([
      'linux/amd64/v3',
      'linux/amd64/v2',
      'linux/amd64',
      'linux/386',
    ]);
  });

  it('arm64 takes arm64 written any way, then arm v8 down to v5', () => {
    expect(ranked('linux/arm64', ['linux/arm/v5', 'linux/arm/v7', 'linux/arm64/v8', 'linux/amd64', 'linux/arm/v6'])).toEqual([
      'linux/arm64/v8',
      'linux/arm/v7',
      'linux/arm/v6',
      'linux/arm/v5',
    ]);
    expect(onlyPlatform('linux/aarch64').match(p('linux/arm64'))).toBe(true);
  });

  it('arm64/v8.2 also runs v8.1 and v8', () => {
    expect(ranked('linux/arm64/v8.2', ['linux/arm64', 'linux/arm64/v8.1', 'linux/arm64/v8.2', 'linux/arm64/v8.3'])).toEqual([
      'linux/arm64/v8.2',
      'linux/arm64/v8.1',
      'linux/arm64',
    ]);
  });

  it('arm/v7 runs v7 (also written without a variant), v6 and v5, not v8', () => {
    expect(ranked('linux/arm/v7', ['linux/arm/v8', 'linux/arm', 'linux/arm/v6', 'linux/arm/v5'])).toEqual(['linux/arm', 'linux/arm/v6', 'linux/arm/v5']);
  });

  it('strictPlatform takes only the platform itself', () => {
    const m = strictPlatform('linux/amd64');
    expect(m.match(p('linux/amd64'))).toBe(true);
    expect(m.match(p('linux/386'))).toBe(false);
    expect(strictPlatform('linux/arm64').match(p('linux/aarch64/v8'))).toBe(true);
  });
});
