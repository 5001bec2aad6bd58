import { describe, expect, it } from 'vitest';
import { errorOf } from '../../test/harness/errors.js';
import { familiarString, formatReference, parseReference, referenceObject, repositoryName } from './reference.js';

const hex = 'a'.repeat(64);
const digest = `sha256:${hex}`;

describe('parseReference', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['user/app', 'docker.io/user/app:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['docker.io/library/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['localhost/x', 'localhost/x:latest'],
    ['localhost:5000/x', 'localhost:5000/x:latest'],
    ['127.0.0.1:5000/test/busybox:latest', '127.0.0.1:5000/test/busybox:latest'],
    ['[::1]:5000/a/b:c', '[::1]:5000/a/b:c'],
    ['ghcr.io/org/sub/img:v1.2.3', 'ghcr.io/org/sub/img:v1.2.3'],
    ['user/a.b-c_d__e', 'docker.io/user/a.b-c_d__e:latest'],
    ['a-b.c/f', 'a-b.c/f:latest'],
    ['Registry.Example/x', 'Registry.Example/x:latest'],
    ['localhost:5000', 'docker.io/library/localhost:5000'],
    [`busybox@${digest}`, `docker.io/library/busybox@${digest}`],
    [`busybox:1.36@${digest}`, `docker.io/library/busybox:1.36@${digest}`],
    [`127.0.0.1:5000/test/busybox@${digest}`, `127.0.0.1:5000/test/busybox@${digest}`],
  ])('%s -> %s', (input, normalized) => {
    expect(formatReference(parseReference(input))).toBe(normalized);
  });

  it('splits domain, path, tag and digest', () => {
    expect(parseReference('127.0.0.1:5000/test/busybox:latest')).toEqual({ domain: '127.0.0.1:5000', path: 'test/busybox', tag: 'latest' });
    const pinned = parseReference(`busybox:1@${digest}`);
    expect(pinned).toEqual({ domain: 'docker.io', path: 'library/busybox', tag: '1', digest });
    expect(referenceObject(pinned)).toBe(digest);
    expect(referenceObject(parseReference('busybox'))).toBe('latest');
    expect(repositoryName(pinned)).toBe('docker.io/library/busybox');
    expect(parseReference(`busybox@${digest}`).tag).toBeUndefined();
  });

  it.each([
    ['', /repository name must have at least one component/],
    ['UPPER', /repository name "library\/UPPER" must be lowercase/],
    ['localhost:5000/Foo', /repository name "Foo" must be lowercase/],
    ['busybox:-bad', /invalid tag "-bad"/],
    ['busybox:', /invalid tag ""/],
    [`busybox:${'t'.repeat(129)}`, /invalid tag/],
    ['busybox@sha256:abc', /invalid digest "sha256:abc"/],
    [`busybox@sha256:${'A'.repeat(64)}`, /invalid digest/],
    [`busybox@sha512:${'a'.repeat(128)}`, /unsupported digest algorithm/],
    [hex, /64-byte hexadecimal/],
    ['a//b', /invalid repository name "a\/\/b"/],
    ['-x/y', /invalid repository name/],
    ['ex ample/x', /invalid/],
    ['host_name:5000/x', /invalid registry host "host_name:5000"/],
    [`example.com/${'a'.repeat(250)}`, /not be more than 255 characters/],
    ['busybox@', /invalid digest ""/],
  ])('rejects %j as InvalidArgument naming it', (input, why) => {
    const err = errorOf(() => parseReference(input));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toContain(`invalid reference "${input}"`);
    expect(err.message).toMatch(why);
  });
});

describe('familiarString', () => {
  it.each([
    ['docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox', 'busybox:latest'],
    ['docker.io/user/app:1', 'user/app:1'],
    ['docker.io/library/a/b:1', 'library/a/b:1'],
    ['127.0.0.1:5000/test/busybox:latest', '127.0.0.1:5000/test/busybox:latest'],
    [`busybox@${digest}`, `busybox@${digest}`],
  ])('%s -> %s', (input, familiar) => {
    expect(familiarString(parseReference(input))).toBe(familiar);
  });
});
