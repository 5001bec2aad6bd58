import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { errorOf } from '../../test/harness/errors.js';
import { defaultSpec } from '../../lib/oci/default-spec.js';
import {
  anonymousVolumesOf,
  checkBindSources,
  inheritedMounts,
  mountsOf,
  parseMountFlag,
  parseMountFlags,
  parseTmpfsFlag,
  parseVolumeFlag,
  planMounts,
  volumesLabel,
  withMounts,
} from './mounts.js';

const base = { source: '', readonly: false, mode: '', propagation: '', nocopy: false, tmpfsOptions: [], labels: {}, anonymous: false };

describe('-v', () => {
  it('named, anonymous and bind mounts, with their modes', () => {
    expect(parseVolumeFlag('/data')).toEqual({ ...base, type: 'volume', target: '/data' });
    expect(parseVolumeFlag('web-data:/srv/')).toEqual({ ...base, type: 'volume', source: 'web-data', target: '/srv' });
    expect(parseVolumeFlag('v1:/x:ro')).toMatchObject({ type: 'volume', readonly: true, mode: 'ro' });
    expect(parseVolumeFlag('v1:/x:nocopy,rw')).toMatchObject({ nocopy: true, readonly: false });
    expect(parseVolumeFlag('./src:/x', '/work')).toMatchObject({ type: 'bind', source: '/work/src' });
    expect(parseVolumeFlag('..:/x', '/work/a')).toMatchObject({ type: 'bind', source: '/work' });
    expect(parseVolumeFlag('/host/./dir:/x:ro,rshared,z')).toEqual({ ...base, type: 'bind', source: '/host/dir', target: '/x', readonly: true, mode: 'ro,rshared,z', propagation: 'rshared' });
  });

  it("refuses docker's bad specs, naming them", () => {
    const cases: Array<[string, string]> = [
      [':/x', "invalid volume specification: ':/x'"],
      ['a:b', "invalid volume specification: 'a:b': invalid mount config for type \"volume\": invalid mount path: 'b' mount path must be absolute"],
      ['x:/y:zz', "invalid volume specification: 'x:/y:zz': invalid mode: zz"],
      ['vv:/y:ro,rw', 'invalid mode: ro,rw'],
      ['vv:/y:rshared', 'invalid mode: rshared'],
      ['/h:/y:nocopy', 'invalid mode: nocopy'],
      ['a:/x:ro:z', "invalid volume specification: 'a:/x:ro:z'"],
      ['vv:/', "destination can't be '/'"],
      ['rel', "invalid mount path: 'rel' mount path must be absolute"],
      ['a b:/x', '"a b" includes invalid characters for a local volume name'],
      ['/x:', "invalid volume specification: '/x:'"],
    ];
    for (const [spec, message] of cases) {
      const err = errorOf(() => parseVolumeFlag(spec));
      expect(err.kind, spec).toBe('invalid-argument');
      expect(err.message).toContain(message);
    }
  });
});

describe('--mount and --tmpfs', () => {
  it('parses the CSV fields', () => {
    expect(parseMountFlag('type=bind,src=/h,dst=/c,readonly,bind-propagation=rslave')).toEqual({ ...base, type: 'bind', source: '/h', target: '/c', readonly: true, propagation: 'rslave' });
    expect(parseMountFlag('source=v1,target=/d,volume-nocopy,volume-label=a=b,ro=false')).toEqual({ ...base, type: 'volume', source: 'v1', target: '/d', nocopy: true, labels: { a: 'b' } });
    expect(parseMountFlag('type=volume,target=/anon')).toMatchObject({ source: '', target: '/anon' });
    expect(parseMountFlag('type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1777').tmpfsOptions).toEqual(['size=64m', 'mode=1777']);
    expect(parseMountFlag('type=tmpfs,target=/t,tmpfs-size=1000').tmpfsOptions).toEqual(['size=1000']);
    expect(parseTmpfsFlag('/run/x:size=1m,mode=700,ro')).toEqual({ ...base, type: 'tmpfs', target: '/run/x', readonly: true, tmpfsOptions: ['size=1m', 'mode=700'] });
  });

  it('refuses what docker refuses', () => {
    const cases: Array<[string, string]> = [
      ['type=nfs,target=/x', 'invalid mount type "nfs"'],
      ['type=bind,target=/x', 'field Source must not be empty'],
      ['type=bind,source=rel,target=/x', "invalid mount path: 'rel'"],
      ['type=tmpfs,source=x,target=/x', 'source must not be specified'],
      ['source=v1', 'target is required'],
      ['type=volume,target=/x,tmpfs-size=1m', "cannot mix 'tmpfs-*' options with mount type 'volume'"],
      ['type=tmpfs,target=/x,tmpfs-mode=999', 'invalid value for tmpfs-mode'],
      ['type=bind,source=/h,target=/x,readonly=maybe', 'invalid value for readonly'],
      ['type=volume,target=/x,whatever=1', "unexpected key 'whatever'"],
      ['type=volume,target=', "invalid field 'target' must be a key=value pair"],
    ];
    for (const [spec, message] of cases) {
      const err = errorOf(() => parseMountFlag(spec));
      expect(err.kind, spec).toBe('invalid-argument');
      expect(err.message).toContain(message);
    }
    expect(errorOf(() => parseTmpfsFlag('rel')).message).toContain('mount path must be absolute');
    expect(errorOf(() => parseMountFlags({ volume: ['v1:/x'], mount: [], tmpfs: ['/x/'], volumesFrom: [] })).message).toBe('Duplicate mount point: /x');
    expect(errorOf(() => parseMountFlags({ volume: [], mount: [], tmpfs: [], volumesFrom: ['c:rx'] })).message).toContain('--volumes-from');
  });

  it('bind sources must exist', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctrctl-mounts-'));
    try {
      checkBindSources([{ ...base, type: 'bind', source: dir, target: '/x' }]);
      const err = errorOf(() => checkBindSources([{ ...base, type: 'bind', source: join(dir, 'none'), target: '/x' }]));
      expect(err.message).toBe(`invalid mount config for type "bind": bind source path does not exist: ${join(dir, 'none')}`);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('a container and its mounts', () => {
  const container = (records: unknown[], mounts: unknown[]) => ({
    labels: { [volumesLabel]: JSON.stringify(records) },
    spec: { typeUrl: 'x', value: Buffer.from(JSON.stringify({ mounts })) },
  });
  const c = container(
    [
      { Type: 'volume', Destination: '/v', Name: 'named', Mode: 'ro' },
      { Type: 'volume', Destination: '/a', Name: 'f00', Mode: '', Anonymous: true },
      { Type: 'bind', Destination: '/b', Mode: '' },
      { Type: 'tmpfs', Destination: '/t' },
    ],
    [
      { destination: '/proc', type: 'proc', source: 'proc', options: [] },
      { destination: '/v', type: 'bind', source: '/vol/named/_data', options: ['rbind', 'rprivate', 'ro'] },
      { destination: '/a', type: 'bind', source: '/vol/f00/_data', options: ['rbind', 'rprivate', 'rw'] },
      { destination: '/b', type: 'bind', source: '/host', options: ['rbind', 'rslave', 'rw'] },
      { destination: '/t', type: 'tmpfs', source: 'tmpfs', options: ['nosuid'] },
    ],
  );

  it("shows them as docker inspect's Mounts, and names the anonymous volumes for rm -v", () => {
    expect(mountsOf(c)).toEqual([
      { Type: 'volume', Name: 'named', Source: '/vol/named/_data', Destination: '/v', Driver: 'local', Mode: 'ro', RW: false, Propagation: '' },
      { Type: 'volume', Name: 'f00', Source: '/vol/f00/_data', Destination: '/a', Driver: 'local', Mode: '', RW: true, Propagation: '' },
      { Type: 'bind', Source: '/host', Destination: '/b', Mode: '', RW: true, Propagation: 'rslave' },
      { Type: 'tmpfs', Source: '', Destination: '/t', Mode: '', RW: true, Propagation: '' },
    ]);
    expect(anonymousVolumesOf(c)).toEqual(['f00']);
    expect(mountsOf({ labels: {}, spec: c.spec })).toEqual([]);
  });

  it('--volumes-from takes volumes and binds (not tmpfs), with the mode given; flags and the image come first', () => {
    const inherited = inheritedMounts(c, { container: 'c', mode: 'ro' });
    expect(inherited.map((m) => [m.type, m.source, m.target, m.readonly])).toEqual([
      ['volume', 'named', '/v', true],
      ['volume', 'f00', '/a', true],
      ['bind', '/host', '/b', true],
    ]);
    expect(inheritedMounts(c, { container: 'c', mode: undefined }).map((m) => m.readonly)).toEqual([true, false, false]);
    // The other container's anonymous volume stays anonymous here: rm -v of the last user removes it.
    expect(inherited.map((m) => m.anonymous)).toEqual([false, true, false]);
    const flags = [parseVolumeFlag('mine:/a')];
    const plan = planMounts(flags, inherited, ['/v', '/data/', 'relative', '/']);
    expect(plan.map((m) => [m.type, m.source, m.target])).toEqual([
      ['volume', 'mine', '/a'],
      ['volume', 'named', '/v'],
      ['bind', '/host', '/b'],
      ['volume', '', '/data'],
    ]);
  });

  it('a mount at a default mount destination replaces it', () => {
    const spec = defaultSpec('default', 'id');
    withMounts(spec, [{ destination: '/dev/shm', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }]);
    expect(spec.mounts.filter((m) => m.destination === '/dev/shm')).toEqual([{ destination: '/dev/shm', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }]);
  });
});
