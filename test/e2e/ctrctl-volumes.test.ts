// ctrctl's volumes and mounts against a real ctrd (one for the file), with test images from a real registry:
// volume create/ls/inspect/rm/prune, data that outlives its containers, -v (named, anonymous, bind, ro),
// --mount, --tmpfs, --volumes-from, the image's VOLUME filled from the image (copy-up), rm -v, a volume in use
// that cannot go, and bad specs that make nothing. Every test checks that nothing is left: containers, tasks,
// shims, mounts, temporary directories, volumes other than those it expects.
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ctrctlSuite, explain } from '../harness/ctrctl.js';
import { TestDaemon } from '../harness/daemon.js';
import { pushVolumeImage } from '../harness/images.js';
import { mountsUnder } from '../harness/mounts.js';
import type { TestRegistry } from '../harness/registry.js';
import { runcBinary, shimsOf } from '../harness/tasks.js';


describe.skipIf(!runcBinary || process.getuid?.() !== 0)('ctrctl volumes and mounts', () => {
  const suite = ctrctlSuite('volumes');
  let d: TestDaemon;
  let reg: TestRegistry;
  let image: string;
  let work: string;
  let volImage: string;
  let volumesRoot: string;
  beforeAll(async () => {
    ({ d, reg, image, work } = suite);
    volImage = (await pushVolumeImage(reg)).ref;
    volumesRoot = path.join(d.root, 'io.ctrd.volumes.v1');
    // Pulled once here, so that the tests' output is the containers' own.
    for (const ref of [image, volImage]) expect((await d.ctrctl(['pull', '-q', ref])).code).toBe(0);
  }, 120_000);

  const ctl = (args: string[], input?: string) => d.ctrctl(args, { timeoutMs: 30_000, input });
  const volumeNames = async () => (await ctl(['volume', 'ls', '-q'])).stdout.split('\n').filter((l) => l !== '').sort();
  const dataDirs = () => (fs.existsSync(path.join(volumesRoot, 'default')) ? fs.readdirSync(path.join(volumesRoot, 'default')).sort() : []);

  /** Nothing of any container is left, and exactly these volumes (rows and directories). */
  async function expectNothingLeft(volumes: string[] = []): Promise<void> {
    expect((await d.ctr(['containers', 'ls', '-q'])).stdout.trim()).toBe('');
    expect((await d.ctr(['tasks', 'ls', '-q'])).stdout.trim()).toBe('');
    expect(shimsOf(d.address)).toEqual([]);
    expect(mountsUnder(d.state)).toEqual([]);
    expect(mountsUnder(d.root)).toEqual([]);
    expect(mountsUnder(work)).toEqual([]);
    for (const dir of ['fifo', 'mnt', 'data/default']) {
      const p = path.join(work, dir);
      expect(fs.existsSync(p) ? fs.readdirSync(p) : [], dir).toEqual([]);
    }
    const copyMounts = path.join(d.state, 'volume-mounts');
    expect(fs.existsSync(copyMounts) ? fs.readdirSync(copyMounts) : []).toEqual([]);
    expect(fs.readdirSync(path.join(volumesRoot, '.trash'))).toEqual([]);
    expect((await d.ctr(['snapshots', 'ls'])).stdout).not.toMatch(/\bActive\b/);
    expect(await volumeNames()).toEqual([...volumes].sort());
    expect(dataDirs()).toEqual([...volumes].sort());
  }

  it('volume lifecycle: create, ls, inspect, data outliving its containers, in use, rm', async () => {
    // ctr events skips payloads it has no type for: ctrd's own subscription sees them.
    const events = d.clients();
    const topics: string[] = [];
    const sub = events.events.subscribe({ filters: ['topic~="^/volumes/"'] });
    sub.on('data', (e: { topic: string }) => topics.push(e.topic));
    sub.on('error', () => undefined);
    try {
      const create = await ctl(['volume', 'create', '--label', 'team=a', '--label', 'tier', 'myvol']);
      expect(create.code, explain(create, d)).toBe(0);
      expect(create.stdout).toBe('myvol\n');
      // Creating it again is no error and changes nothing (docker's way).
      expect((await ctl(['volume', 'create', 'myvol'])).stdout).toBe('myvol\n');
      const random = await ctl(['volume', 'create']);
      expect(random.stdout).toMatch(/^[0-9a-f]{64}\n$/);
      const randomName = random.stdout.trim();

      const ls = await ctl(['volume', 'ls']);
      expect(ls.stdout.split('\n')[0]).toMatch(/^DRIVER\s+VOLUME NAME$/);
      expect(ls.stdout).toMatch(/^local\s+myvol$/m);
      expect((await ctl(['volume', 'ls', '-q', '--filter', 'label=team=a'])).stdout).toBe('myvol\n');
      expect((await ctl(['volume', 'ls', '-q', '--filter', 'label=tier', '--filter', 'name=my'])).stdout).toBe('myvol\n');
      expect((await ctl(['volume', 'ls', '-q', '--filter', 'label=team=b'])).stdout).toBe('');
      expect((await ctl(['volume', 'ls', '--format', '{{.Name}} {{.Driver}} {{.Labels}}', '--filter', 'name=myvol'])).stdout).toBe('myvol local team=a,tier=\n');

      const insp = await ctl(['volume', 'inspect', 'myvol']);
      expect(insp.code, explain(insp, d)).toBe(0);
      const [v] = JSON.parse(insp.stdout) as Array<Record<string, unknown>>;
      const mountpoint = path.join(volumesRoot, 'default', 'myvol', '_data');
      expect(v).toEqual({ CreatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/), Driver: 'local', Labels: { team: 'a', tier: '' }, Mountpoint: mountpoint, Name: 'myvol', Options: null, Scope: 'local' });
      expect((await ctl(['volume', 'inspect', '-f', '{{.Mountpoint}}', 'myvol'])).stdout).toBe(`${mountpoint}\n`);
      expect(fs.statSync(mountpoint).isDirectory()).toBe(true);

      const write = await ctl(['run', '--rm', '-v', 'myvol:/data', image, 'sh', '-c', 'echo kept > /data/f; mkdir /data/d']);
      expect(write.code, explain(write, d)).toBe(0);
      expect(fs.readFileSync(path.join(mountpoint, 'f'), 'utf8')).toBe('kept\n');
      expect((await ctl(['volume', 'ls', '--filter', 'name=myvol', '--format', '{{.Name}} {{.Size}}'])).stdout).toMatch(/^myvol \d+(\.\d+)?kB\n$/);

      // In use by a container (running or not), it cannot go: the volume and its data stay.
      const holder = await ctl(['run', '-d', '--name', 'holder', '-v', 'myvol:/data', image, 'sleep', '1000']);
      expect(holder.code, explain(holder, d)).toBe(0);
      const holderId = holder.stdout.trim();
      expect((await ctl(['volume', 'ls', '-q', '--filter', 'dangling=true'])).stdout).toBe(`${randomName}\n`);
      const inUse = await ctl(['volume', 'rm', 'myvol']);
      expect(inUse.code).toBe(1);
      expect(inUse.stderr).toContain(`remove myvol: volume is in use - [${holderId}]`);
      expect(fs.readFileSync(path.join(mountpoint, 'f'), 'utf8')).toBe('kept\n');
      const forced = await ctl(['volume', 'rm', '-f', 'myvol']);
      expect(forced.code).toBe(1);
      expect(fs.existsSync(path.join(mountpoint, 'f'))).toBe(true);
      const inspMounts = JSON.parse((await ctl(['inspect', 'holder'])).stdout)[0].Mounts;
      expect(inspMounts).toEqual([{ Type: 'volume', Name: 'myvol', Source: mountpoint, Destination: '/data', Driver: 'local', Mode: '', RW: true, Propagation: '' }]);
      expect((await ctl(['rm', '-f', '-v', 'holder'])).code).toBe(0);

      const read = await ctl(['run', '--rm', '-v', 'myvol:/data', image, 'cat', '/data/f']);
      expect(read.stdout, explain(read, d)).toBe('kept\n');

      const rm = await ctl(['volume', 'rm', 'myvol', randomName]);
      expect(rm.code, explain(rm, d)).toBe(0);
      expect(rm.stdout).toBe(`myvol\n${randomName}\n`);
      expect(fs.existsSync(path.dirname(mountpoint))).toBe(false);
      const again = await ctl(['volume', 'rm', 'myvol']);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('no such volume');
      expect((await ctl(['volume', 'rm', '-f', 'myvol'])).code).toBe(0);
      const missing = await ctl(['volume', 'inspect', 'myvol']);
      expect(missing.code).toBe(1);
      expect(missing.stdout).toBe('[]\n');
    } finally {
      sub.cancel();
      events.close();
    }
    // Once for each volume made or removed, not for a create that found the volume there.
    expect(topics).toEqual(['/volumes/create', '/volumes/create', '/volumes/delete', '/volumes/delete']);
    await expectNothingLeft();
  });

  it('-v: a bind mount (ro and rw), an anonymous volume, a missing named volume made on the way; rm -v', async () => {
    const host = fs.mkdtempSync(path.join(work, 'host-'));
    fs.writeFileSync(path.join(host, 'in'), 'from the host\n');
    const ro = await ctl(['run', '--rm', '-v', `${host}:/h:ro`, image, 'sh', '-c', 'cat /h/in; touch /h/x 2>&1; echo "touch $?"']);
    expect(ro.code, explain(ro, d)).toBe(0);
    expect(ro.stdout).toMatch(/^from the host\n.*Read-only file system\ntouch 1\n$/);
    expect(fs.existsSync(path.join(host, 'x'))).toBe(false);
    const rw = await ctl(['run', '--rm', '-v', `${host}:/h`, image, 'sh', '-c', 'echo back > /h/out']);
    expect(rw.code, explain(rw, d)).toBe(0);
    expect(fs.readFileSync(path.join(host, 'out'), 'utf8')).toBe('back\n');

    const c = await ctl(['create', '--name', 'mix', '-v', '/anon', '-v', 'made:/named:ro', '-v', `${host}:/h`, image, 'sh', '-c', 'echo a > /anon/a; touch /named/x 2>&1; cat /h/in']);
    expect(c.code, explain(c, d)).toBe(0);
    const names = await volumeNames();
    expect(names).toHaveLength(2);
    expect(names).toContain('made');
    const anon = names.find((n) => n !== 'made')!;
    expect(anon).toMatch(/^[0-9a-f]{64}$/);
    const mounts = JSON.parse((await ctl(['inspect', 'mix'])).stdout)[0].Mounts as Array<Record<string, unknown>>;
    expect(mounts).toEqual([
      { Type: 'volume', Name: anon, Source: path.join(volumesRoot, 'default', anon, '_data'), Destination: '/anon', Driver: 'local', Mode: '', RW: true, Propagation: '' },
      { Type: 'volume', Name: 'made', Source: path.join(volumesRoot, 'default', 'made', '_data'), Destination: '/named', Driver: 'local', Mode: 'ro', RW: false, Propagation: '' },
      { Type: 'bind', Source: host, Destination: '/h', Mode: '', RW: true, Propagation: 'rprivate' },
    ]);
    expect((await ctl(['ps', '-a', '--format', '{{.Mounts}}'])).stdout).toBe(`${anon},made,${host}\n`);
    const start = await ctl(['start', '-a', 'mix']);
    expect(start.stdout, explain(start, d)).toMatch(/Read-only file system\nfrom the host\n$/);
    expect(fs.readFileSync(path.join(volumesRoot, 'default', anon, '_data', 'a'), 'utf8')).toBe('a\n');
    // rm -v: the anonymous volume goes, the named one stays.
    const rm = await ctl(['rm', '-v', 'mix']);
    expect(rm.code, explain(rm, d)).toBe(0);
    expect(await volumeNames()).toEqual(['made']);
    expect((await ctl(['volume', 'rm', 'made'])).code).toBe(0);
    fs.rmSync(host, { recursive: true });
    await expectNothingLeft();
  });

  it('--tmpfs and --mount (tmpfs, bind, volume); with --read-only they stay writable', async () => {
    const host = fs.mkdtempSync(path.join(work, 'host-'));
    fs.writeFileSync(path.join(host, 'in'), 'bound\n');
    const r = await ctl([
      'run', '--rm', '--read-only', '--tmpfs', '/t1:size=1m,mode=700',
      '--mount', 'type=tmpfs,target=/t2,tmpfs-size=2m,tmpfs-mode=1770',
      '--mount', `type=bind,source=${host},target=/b,readonly`,
      '--mount', 'type=volume,source=mvol,target=/m,volume-label=made.by=mount',
      image, 'sh', '-c',
      'grep " /t1 " /proc/mounts | cut -d" " -f2-4; grep " /t2 " /proc/mounts | cut -d" " -f2-4; stat -c "%a" /t1 /t2; cat /b/in; touch /b/x 2>&1; touch /rootfile 2>&1; echo m > /m/f; echo t > /t1/f && cat /t1/f',
    ]);
    expect(r.code, explain(r, d)).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^\/t1 tmpfs rw,nosuid,nodev,noexec,.*size=1024k,mode=700/);
    expect(lines[1]).toMatch(/^\/t2 tmpfs rw,nosuid,nodev,noexec,.*size=2048k,mode=1770/);
    expect(lines.slice(2, 5)).toEqual(['700', '1770', 'bound']);
    expect(r.stdout).toMatch(/\/b\/x: Read-only file system\n.*\/rootfile: Read-only file system\nt\n$/);
    expect(JSON.parse((await ctl(['volume', 'inspect', 'mvol'])).stdout)[0].Labels).toEqual({ 'made.by': 'mount' });
    expect(fs.readFileSync(path.join(volumesRoot, 'default', 'mvol', '_data', 'f'), 'utf8')).toBe('m\n');
    expect((await ctl(['volume', 'rm', 'mvol'])).code).toBe(0);
    fs.rmSync(host, { recursive: true });
    await expectNothingLeft();
  });

  it('--volumes-from takes the volumes and binds of another container, ro when asked', async () => {
    const host = fs.mkdtempSync(path.join(work, 'host-'));
    fs.writeFileSync(path.join(host, 'in'), 'bound\n');
    const src = await ctl(['create', '--name', 'src', '-v', 'shared:/shared', '-v', '/anon', '-v', `${host}:/h`, image, 'true']);
    expect(src.code, explain(src, d)).toBe(0);
    const w = await ctl(['run', '--rm', '--volumes-from', 'src', image, 'sh', '-c', 'echo w > /shared/f; cat /h/in']);
    expect(w.stdout, explain(w, d)).toBe('bound\n');
    const ro = await ctl(['run', '--rm', '--volumes-from', 'src:ro', image, 'sh', '-c', 'cat /shared/f; touch /shared/x 2>&1; touch /h/x 2>&1; true']);
    expect(ro.stdout, explain(ro, d)).toMatch(/^w\n.*Read-only file system\n.*Read-only file system\n$/);
    const missing = await ctl(['run', '--rm', '--volumes-from', 'nope', image, 'true']);
    expect(missing.code).toBe(125);
    expect(missing.stderr).toContain('No such container: nope');
    // rm -v: a named volume is never removed; an anonymous one goes with the last container that has it.
    const anon = (await volumeNames()).find((n) => n !== 'shared')!;
    const user = await ctl(['create', '--name', 'user', '--volumes-from', 'src', image, 'true']);
    expect(user.code, explain(user, d)).toBe(0);
    expect((await ctl(['rm', '-v', 'src'])).code).toBe(0);
    expect(await volumeNames()).toEqual([anon, 'shared'].sort());
    expect((await ctl(['rm', '-v', 'user'])).code).toBe(0);
    expect(await volumeNames()).toEqual(['shared']);
    expect((await ctl(['volume', 'rm', 'shared'])).code).toBe(0);
    fs.rmSync(host, { recursive: true });
    await expectNothingLeft();
  });

  it("the image's VOLUME gets an anonymous volume filled from the image, owners and modes kept; named volumes too", async () => {
    const probe = 'stat -c "%n %u:%g %a" /data /data/hello.txt /data/sub /data/sub/deep.txt; readlink /data/link; cat /data/hello.txt';
    const expected = '/data 1000:1000 750\n/data/hello.txt 1000:1000 640\n/data/sub 1001:1001 700\n/data/sub/deep.txt 1001:1001 644\nhello.txt\nfrom the image\n';
    const anon = await ctl(['create', '--name', 'withvol', volImage, 'sh', '-c', probe]);
    expect(anon.code, explain(anon, d)).toBe(0);
    const [name] = await volumeNames();
    expect(name).toMatch(/^[0-9a-f]{64}$/);
    const run = await ctl(['start', '-a', 'withvol']);
    expect(run.stdout, explain(run, d)).toBe(expected);
    expect(fs.statSync(path.join(volumesRoot, 'default', name!, '_data')).uid).toBe(1000);
    expect((await ctl(['rm', '-v', 'withvol'])).code).toBe(0);
    expect(await volumeNames()).toEqual([]);

    // run --rm removes the anonymous volume too.
    const rmRun = await ctl(['run', '--rm', volImage, 'cat', '/data/hello.txt']);
    expect(rmRun.stdout, explain(rmRun, d)).toBe('from the image\n');
    expect(await volumeNames()).toEqual([]);

    // A new named volume is filled; once it has data, it is not filled again.
    const named = await ctl(['run', '--rm', '-v', 'vdata:/data', volImage, 'sh', '-c', `${probe}; rm /data/hello.txt`]);
    expect(named.stdout, explain(named, d)).toBe(expected);
    const again = await ctl(['run', '--rm', '-v', 'vdata:/data', volImage, 'ls', '/data']);
    expect(again.stdout, explain(again, d)).toBe('link\nsub\n');
    // Over a directory that is no VOLUME, and with nocopy.
    const conf = await ctl(['run', '--rm', '-v', 'vconf:/etc/conf', '-v', 'vempty:/data:nocopy', volImage, 'sh', '-c', 'cat /etc/conf/app.conf; ls -A /data | wc -l']);
    expect(conf.stdout, explain(conf, d)).toBe('setting=1\n0\n');
    // Over a path the image does not have: an empty volume.
    const none = await ctl(['run', '--rm', '-v', 'vnone:/nothing/here', volImage, 'ls', '-A', '/nothing/here']);
    expect(none.stdout, explain(none, d)).toBe('');
    expect(await volumeNames()).toEqual(['vconf', 'vdata', 'vempty', 'vnone']);
    expect((await ctl(['volume', 'rm', 'vconf', 'vdata', 'vempty', 'vnone'])).code).toBe(0);
    await expectNothingLeft();
  });

  it('volume prune: unused anonymous volumes, with -a unused named ones too; never one in use', async () => {
    expect((await ctl(['volume', 'create', 'keepme'])).code).toBe(0);
    expect((await ctl(['volume', 'create', 'used'])).code).toBe(0);
    const anonC = await ctl(['create', '--name', 'anon', '-v', '/x', image, 'true']);
    expect(anonC.code, explain(anonC, d)).toBe(0);
    const [anonName] = (await volumeNames()).filter((n) => /^[0-9a-f]{64}$/.test(n));
    fs.writeFileSync(path.join(volumesRoot, 'default', anonName!, '_data', 'blob'), Buffer.alloc(100_000, 1));
    // rm without -v leaves the anonymous volume, unused.
    expect((await ctl(['rm', 'anon'])).code).toBe(0);
    const user = await ctl(['create', '--name', 'user', '-v', 'used:/u', image, 'true']);
    expect(user.code, explain(user, d)).toBe(0);

    const noTty = await ctl(['volume', 'prune']);
    expect(noTty.code).toBe(1);
    expect(noTty.stderr).toContain('use -f');
    const prune = await ctl(['volume', 'prune', '-f']);
    expect(prune.code, explain(prune, d)).toBe(0);
    expect(prune.stdout).toMatch(new RegExp(`^Deleted Volumes:\\n${anonName}\\n\\nTotal reclaimed space: \\d+(\\.\\d+)?kB\\n$`));
    expect(await volumeNames()).toEqual(['keepme', 'used']);
    const all = await ctl(['volume', 'prune', '-a', '-f']);
    expect(all.stdout, explain(all, d)).toMatch(/^Deleted Volumes:\nkeepme\n\nTotal reclaimed space: /);
    expect(await volumeNames()).toEqual(['used']);
    expect((await ctl(['volume', 'prune', '-a', '-f'])).stdout).toBe('Total reclaimed space: 0B\n');
    expect((await ctl(['rm', 'user'])).code).toBe(0);
    expect((await ctl(['volume', 'prune', '-a', '-f'])).stdout).toMatch(/^Deleted Volumes:\nused\n/);
    await expectNothingLeft();
  });

  it('volumes outlive a daemon restart; what a crash left in the volumes dir is collected at start', async () => {
    expect((await ctl(['volume', 'create', '--label', 'a=b', 'durable'])).code).toBe(0);
    fs.writeFileSync(path.join(volumesRoot, 'default', 'durable', '_data', 'f'), 'still here\n');
    await d.stop();
    // A half-made volume and a half-removed one, as a crash between directory and row leaves them.
    fs.mkdirSync(path.join(volumesRoot, 'default', '.tmp-deadbeef', '_data'), { recursive: true });
    fs.mkdirSync(path.join(volumesRoot, 'default', 'half-removed', '_data'), { recursive: true });
    fs.mkdirSync(path.join(volumesRoot, '.trash', 'cafe', '_data'), { recursive: true });
    await d.start();
    const r = await ctl(['run', '--rm', '-v', 'durable:/d', image, 'cat', '/d/f']);
    expect(r.stdout, explain(r, d)).toBe('still here\n');
    expect(JSON.parse((await ctl(['volume', 'inspect', 'durable'])).stdout)[0].Labels).toEqual({ a: 'b' });
    expect(d.log()).toContain('removing a volume directory without a volume');
    expect(await volumeNames()).toEqual(['durable']);
    expect((await ctl(['volume', 'rm', 'durable'])).code).toBe(0);
    await expectNothingLeft();
  });

  it('bad specs exit 125 with a clear message and make nothing: no container, volume or snapshot', async () => {
    const cases: Array<[string[], string]> = [
      [['-v', ':/x'], "invalid volume specification: ':/x'"],
      [['-v', 'a:b'], "invalid volume specification: 'a:b': invalid mount config for type \"volume\": invalid mount path: 'b' mount path must be absolute"],
      [['-v', 'x:/y:zz'], "invalid volume specification: 'x:/y:zz': invalid mode: zz"],
      [['-v', 'ok:/y', '-v', 'a b:/z'], "invalid volume specification: 'a b:/z'"],
      [['-v', 'a:/x:ro:rw'], "invalid volume specification: 'a:/x:ro:rw'"],
      [['-v', 'a:/'], "destination can't be '/'"],
      [['-v', 'aa:/x', '-v', 'bb:/x'], 'Duplicate mount point: /x'],
      [['-v', 'a:/x'], `"a" includes invalid characters for a local volume name`],
      [['-v', '/no/such/dir:/x'], 'invalid mount config for type "bind": bind source path does not exist: /no/such/dir'],
      [['--mount', 'type=bind,source=/no/such/dir,target=/x'], 'bind source path does not exist: /no/such/dir'],
      [['--mount', 'type=nfs,target=/x'], 'invalid mount type "nfs"'],
      [['--mount', 'type=volume,source=v'], 'target is required'],
      [['--mount', 'type=tmpfs,target=/x,bogus=1'], "unexpected key 'bogus'"],
      [['--tmpfs', 'relative'], "invalid mount path: 'relative' mount path must be absolute"],
      [['--volumes-from', 'c:zz'], 'invalid argument "c:zz" for "--volumes-from" flag'],
    ];
    // A few at a time: each is a ctrctl process that fails before it asks ctrd for anything.
    for (let i = 0; i < cases.length; i += 4) {
      await Promise.all(
        cases.slice(i, i + 4).map(async ([flags, message], j) => {
          const verb = (i + j) % 2 === 0 ? ['run', '--rm'] : ['create'];
          const r = await ctl([...verb, ...flags, image, 'true']);
          expect(r.code, `${flags.join(' ')}\n${explain(r, d)}`).toBe(125);
          expect(r.stderr).toContain(message);
        }),
      );
    }
    // A failure after the volumes are made (an unknown user) undoes them: the named one it made too, not one that was there.
    expect((await ctl(['volume', 'create', 'existing'])).code).toBe(0);
    const late = await ctl(['run', '--rm', '-v', 'newvol:/a', '-v', '/anon', '-v', 'existing:/e', '-u', 'nosuchuser', volImage, 'true']);
    expect(late.code, explain(late, d)).toBe(125);
    expect(late.stderr).toContain('unable to find user nosuchuser');
    expect(await volumeNames()).toEqual(['existing']);
    expect((await ctl(['volume', 'rm', 'existing'])).code).toBe(0);
    const badName = await ctl(['volume', 'create', 'a b']);
    expect(badName.code).toBe(1);
    expect(badName.stderr).toContain('"a b" includes invalid characters for a local volume name');
    const badDriver = await ctl(['volume', 'create', '-d', 'nfs', 'v1']);
    expect(badDriver.code).toBe(1);
    expect(badDriver.stderr).toContain('plugin "nfs" not found');
    const badFilter = await ctl(['volume', 'ls', '--filter', 'color=red']);
    expect(badFilter.code).toBe(2);
    await expectNothingLeft();
  });
});
