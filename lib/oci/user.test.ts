// docker's user resolution: names and numbers through /etc/passwd and /etc/group.
import { describe, expect, it } from 'vitest';
import { resolveUser, userNeedsFiles } from './user.js';

const passwd = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n# comment\nbroken\n';
const group = 'root:x:0:\nwheel:x:10:alice,bob\nstaff:x:50:alice\nnobody:x:65534:\nalice:x:1000:\n';

describe('resolveUser', () => {
  it('names and numbers, with the passwd gid and supplementary groups', () => {
    expect(resolveUser('', passwd, group)).toEqual({ uid: 0, gid: 0 });
    expect(resolveUser('nobody', passwd, group)).toEqual({ uid: 65534, gid: 65534 });
    expect(resolveUser('alice', passwd, group)).toEqual({ uid: 1000, gid: 1000, additionalGids: [10, 50] });
    expect(resolveUser('1000', passwd, group)).toEqual({ uid: 1000, gid: 1000, additionalGids: [10, 50] });
    expect(resolveUser('4242', passwd, group)).toEqual({ uid: 4242, gid: 0 });
    expect(resolveUser('alice:wheel', passwd, group)).toEqual({ uid: 1000, gid: 10, additionalGids: [50] });
    expect(resolveUser('123:456')).toEqual({ uid: 123, gid: 456 });
  });
  it('unknown names are errors, as docker words them', () => {
    expect(() => resolveUser('bob', passwd, group)).toThrow('unable to find user bob: no matching entries in passwd file');
    expect(() => resolveUser('alice:nogroup', passwd, group)).toThrow('unable to find group nogroup');
    expect(() => resolveUser(':1', passwd, group)).toThrow('invalid user');
  });
  it('only numeric uid:gid needs no files', () => {
    expect(userNeedsFiles('1:2')).toBe(false);
    expect(userNeedsFiles('')).toBe(false);
    expect(userNeedsFiles('1')).toBe(true);
    expect(userNeedsFiles('nobody')).toBe(true);
  });
});
