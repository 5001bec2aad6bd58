// ctrctl's filesystem verbs against a real ctrd (ctrd's ContainerFilesystemService), with the test busybox
// pulled from a real registry: diff, cp both ways (files, directories, owners and modes, "-" tars), paths
// that would leave the container's root, commit then run of the committed image, export | import then run,
// and bad input (truncated and traversal tars, unknown containers), each leaving nothing behind: no image,
// no blob, no ingest, no snapshot, no mount.
import fs from 'node:fs';
import path from 'node:path';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { ctrctlSuite, explain } from '../harness/ctrctl.js';
import { ContainerFilesystemServiceClient, type CopyInRequest } from '../../gen/ctrd/services/containerfs/v1/containerfs.js';
import { ctrctlBin, run, TestDaemon, waitFor } from '../harness/daemon.js';
import { rawEntry, rawTar } from '../harness/layers.js';
import { mountsUnder } from '../harness/mounts.js';
import { runcBinary } from '../harness/tasks.js';


describe.skipIf(!runcBinary || process.getuid?.() !== 0)('ctrctl filesystem verbs', () => {
  const suite = ctrctlSuite('filesystem', { pull: true });
  let d: TestDaemon;
  let image: string;
  let work: string;

  beforeAll(async () => {
    ({ d, image, work } = suite);
  }, 120_000);

  const ctl = (args: string[], input?: string) => d.ctrctl(args, { timeoutMs: 30_000, input });
  const env = () => ({ ...process.env, CTRD_ADDRESS: d.address, CTRD_NAMESPACE: 'default' });
  /** ctrctl through sh, for pipes and redirections of binary tars. */
  const sh = (script: string) => run('sh', ['-c', script], { env: { ...env(), CTRCTL: `${process.execPath} ${ctrctlBin}` }, timeoutMs: 60_000 });
  const must = async (args: string[]) => {
    const r = await ctl(args);
    expect(r.code, explain(r, d)).toBe(0);
    return r.stdout;
  };

  async function runDetached(name: string, script: string): Promise<void> {
    await must(['run', '-d', '--name', name, image, 'sh', '-c', `${script}; touch /tmp/ready; sleep 1000`]);
    await waitFor(`${name} to be ready`, async () => (await ctl(['exec', name, 'test', '-e', '/tmp/ready'])).code === 0, 15_000);
  }

  async function stopped(name: string): Promise<void> {
    await must(['kill', name]);
    await must(['wait', name]);
  }

  /** What the daemon holds, to compare before and after a failure: images, blobs, ingests, snapshots, mounts. */
  async function holdings(): Promise<string> {
    const parts = await Promise.all([
      d.ctr(['images', 'ls', '-q']),
      d.ctr(['content', 'ls', '-q']),
      d.ctr(['content', 'active']),
      d.ctr(['snapshots', 'ls']),
    ]);
    return [...parts.map((p) => p.stdout), mountsUnder(path.join(d.state, 'containerfs-mounts')).join('\n')].join('\n--\n');
  }

  it('diff shows what a container added, changed and deleted, running and stopped', async () => {
    await runDetached('fsdiff', 'echo x > /etc/added; rm /etc/group; mkdir -p /newdir/sub; echo y > /newdir/sub/f');
    // /run is the mount point the runtime made for its tmpfs, /etc/hosts and /etc/resolv.conf those of the files
    // the daemon bind-mounts there (the image has an /etc/hostname already): in the container's layer (docker
    // hides its own in an init layer).
    const expected = ['C /etc', 'A /etc/added', 'D /etc/group', 'A /etc/hosts', 'A /etc/resolv.conf', 'A /newdir', 'A /newdir/sub', 'A /newdir/sub/f', 'A /run'];
    const lines = (await must(['diff', 'fsdiff'])).trim().split('\n');
    expect(lines.filter((l) => !l.startsWith('C /tmp') && !l.startsWith('A /tmp'))).toEqual(expected);
    expect(lines).toContain('A /tmp/ready');
    await stopped('fsdiff');
    expect((await must(['container', 'diff', 'fsdiff'])).trim().split('\n')).toEqual(lines);
    await must(['rm', 'fsdiff']);
    const missing = await ctl(['diff', 'nosuchcontainer']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('No such container: nosuchcontainer');
  });

  it('cp copies files and directories both ways, keeping modes, and owners with -a, on a running and a stopped container', async () => {
    const src = path.join(work, 'src');
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(src, 'a.txt'), 'alpha\n');
    fs.chmodSync(path.join(src, 'a.txt'), 0o640);
    fs.chownSync(path.join(src, 'a.txt'), 1234, 5678);
    fs.writeFileSync(path.join(src, 'sub', 'b.txt'), 'beta\n');
    fs.chmodSync(path.join(src, 'sub', 'b.txt'), 0o600);
    fs.chownSync(path.join(src, 'sub', 'b.txt'), 42, 43);
    fs.chmodSync(path.join(src, 'sub'), 0o750);
    fs.symlinkSync('a.txt', path.join(src, 'link'));

    await runDetached('fscp', 'true');
    const statIn = async (paths: string) => (await must(['exec', 'fscp', 'stat', '-c', '%a %u %g %F', ...paths.split(' ')])).trim();
    // A directory to a path that does not exist becomes that path; with -a the owners stay.
    const r = await ctl(['cp', '-a', src, 'fscp:/dst']);
    expect(r.code, explain(r, d)).toBe(0);
    expect(r.stderr).toMatch(/^Successfully copied \S+ to fscp:\/dst\n$/);
    expect(await statIn('/dst/a.txt /dst/sub /dst/sub/b.txt /dst/link')).toBe(
      '640 1234 5678 regular file\n750 0 0 directory\n600 42 43 regular file\n777 0 0 symbolic link',
    );
    expect(await must(['exec', 'fscp', 'cat', '/dst/link', '/dst/sub/b.txt'])).toBe('alpha\nbeta\n');
    // A file into an existing directory keeps its name; without -a it belongs to the container's root.
    await must(['cp', '-q', path.join(src, 'a.txt'), 'fscp:/tmp']);
    expect(await statIn('/tmp/a.txt')).toBe('640 0 0 regular file');
    // A file to a new name; a directory's contents with "/.".
    await must(['cp', path.join(src, 'a.txt'), 'fscp:/etc/renamed']);
    await must(['cp', `${src}/sub/.`, 'fscp:/tmp']);
    await must(['cp', `${src}/sub/.`, 'fscp:/contents']);
    expect(await must(['exec', 'fscp', 'cat', '/etc/renamed', '/tmp/b.txt', '/contents/b.txt'])).toBe('alpha\nbeta\nbeta\n');

    // Back out: a directory, a file, a directory's contents; modes always, owners with -a.
    const back = path.join(work, 'back');
    await must(['cp', '-a', 'fscp:/dst', back]);
    const st = fs.statSync(path.join(back, 'sub', 'b.txt'));
    expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o600, 42, 43]);
    expect(fs.readFileSync(path.join(back, 'a.txt'), 'utf8')).toBe('alpha\n');
    expect(fs.readlinkSync(path.join(back, 'link'))).toBe('a.txt');
    expect(fs.statSync(path.join(back, 'sub')).mode & 0o7777).toBe(0o750);
    await must(['cp', 'fscp:/etc/passwd', path.join(work, 'passwd.copy')]);
    expect(fs.readFileSync(path.join(work, 'passwd.copy'), 'utf8')).toMatch(/^root:x:0:0:/);
    fs.mkdirSync(path.join(work, 'into'));
    await must(['cp', 'fscp:/dst/sub/.', path.join(work, 'into')]);
    expect(fs.readdirSync(path.join(work, 'into'))).toEqual(['b.txt']);
    // -L copies what a symlink points at, under the link's name.
    await must(['cp', '-L', 'fscp:/dst/link', path.join(work, 'followed')]);
    expect(fs.lstatSync(path.join(work, 'followed')).isFile()).toBe(true);
    expect(fs.readFileSync(path.join(work, 'followed'), 'utf8')).toBe('alpha\n');

    // Stopped: the same both ways, into its snapshot.
    await stopped('fscp');
    await must(['cp', '-a', path.join(src, 'sub'), 'fscp:/stopped']);
    const out = path.join(work, 'from-stopped');
    await must(['container', 'cp', '-a', 'fscp:/stopped', out]);
    expect(fs.readFileSync(path.join(out, 'b.txt'), 'utf8')).toBe('beta\n');
    expect(fs.statSync(path.join(out, 'b.txt')).uid).toBe(42);
    await must(['start', 'fscp']);
    await waitFor('fscp to run again', async () => (await ctl(['exec', 'fscp', 'true'])).code === 0);
    expect(await statIn('/stopped/b.txt')).toBe('600 42 43 regular file');

    // Never started (no task): its snapshot is mounted for the copy, and unmounted after.
    await must(['create', '--name', 'fscreated', image, 'cat', '/created/b.txt']);
    await must(['cp', '-a', path.join(src, 'sub'), 'fscreated:/created']);
    const created = path.join(work, 'from-created');
    await must(['cp', '-a', 'fscreated:/created/b.txt', created]);
    expect([fs.readFileSync(created, 'utf8'), fs.statSync(created).uid]).toEqual(['beta\n', 42]);
    expect(await must(['diff', 'fscreated'])).toBe('A /created\nA /created/b.txt\n');
    expect(mountsUnder(path.join(d.state, 'containerfs-mounts'))).toEqual([]);
    expect(await must(['start', '-a', 'fscreated'])).toBe('beta\n');
    await must(['rm', 'fscreated']);

    const none = await ctl(['cp', 'fscp:/no/such/file', path.join(work, 'x')]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('No such container:path: fscp:/no/such/file');
    expect(fs.existsSync(path.join(work, 'x'))).toBe(false);
    await must(['rm', '-f', 'fscp']);
    expect(mountsUnder(path.join(d.state, 'containerfs-mounts'))).toEqual([]);
  });

  it('cp with - reads and writes tar streams', async () => {
    await runDetached('fsdash', 'mkdir -p /data/in; echo one > /data/in/1; chown 7:8 /data/in/1');
    const tarFile = path.join(work, 'data.tar');
    const out = await sh(`$CTRCTL cp fsdash:/data - > ${tarFile}`);
    expect(out.code, out.stderr).toBe(0);
    const list = await run('tar', ['-tvf', tarFile, '--numeric-owner']);
    expect(list.stdout).toMatch(/ 7\/8 .* data\/in\/1\n/);
    expect(list.stdout).toMatch(/^d.* data\/\n/);
    const into = await sh(`$CTRCTL cp -a - fsdash:/tmp < ${tarFile}`);
    expect(into.code, into.stderr).toBe(0);
    expect(await must(['exec', 'fsdash', 'stat', '-c', '%u:%g %s', '/tmp/data/in/1'])).toBe('7:8 4\n');
    // A tar on stdin needs a directory to go into.
    const notDir = await sh(`$CTRCTL cp - fsdash:/etc/passwd < ${tarFile}`);
    expect(notDir.code).toBe(1);
    expect(notDir.stderr).toContain('must be a directory');
    await must(['rm', '-f', 'fsdash']);
  });

  it('paths that would leave the container stay inside it, the host untouched', async () => {
    await runDetached('fsjail', 'ln -s ../../../../../../../etc /tmp/hostetc');
    const file = path.join(work, 'pwned');
    fs.writeFileSync(file, 'inside\n');
    const marker = `ctrd-fs-test-${process.pid}`;
    await must(['cp', file, `fsjail:../../../etc/${marker}`]);
    await must(['cp', file, `fsjail:/tmp/hostetc/${marker}-2`]);
    expect(fs.existsSync(`/etc/${marker}`)).toBe(false);
    expect(fs.existsSync(`/etc/${marker}-2`)).toBe(false);
    expect(await must(['exec', 'fsjail', 'cat', `/etc/${marker}`, `/etc/${marker}-2`])).toBe('inside\ninside\n');
    // Reading through the link gives the container's /etc (its own hostname, bind-mounted there), never the host's.
    await must(['cp', 'fsjail:/tmp/hostetc/hostname', path.join(work, 'hostname.copy')]);
    const id = (await must(['inspect', '--format', '{{.Id}}', 'fsjail'])).trim();
    expect(fs.readFileSync(path.join(work, 'hostname.copy'), 'utf8')).toBe(`${id.slice(0, 12)}\n`);

    // A tar whose entry climbs out is refused whole: its good entry before is not written either.
    const evil = path.join(work, 'evil.tar');
    fs.writeFileSync(
      evil,
      rawTar(
        rawEntry({ name: 'good', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 }, Buffer.from('ok\n')),
        rawEntry({ name: '../../../evil', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 }, Buffer.from('bad\n')),
      ),
    );
    const r = await sh(`$CTRCTL cp - fsjail:/tmp < ${evil}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('"../../../evil"');
    expect((await ctl(['exec', 'fsjail', 'ls', '/tmp/good'])).code).not.toBe(0);
    expect(fs.existsSync('/evil')).toBe(false);
    await must(['rm', '-f', 'fsjail']);

    // A read-only root filesystem takes nothing.
    await must(['run', '-d', '--name', 'fsro', '--read-only', image, 'sleep', '1000']);
    const ro = await ctl(['cp', file, 'fsro:/etc/']);
    expect(ro.code).toBe(1);
    expect(ro.stderr).toContain('container rootfs is marked read-only');
    await must(['rm', '-f', 'fsro']);
  });

  it('commit -m -a -c makes an image whose run sees the change and the new CMD, with the comment in its history', async () => {
    await runDetached('fscommit', 'echo committed > /etc/mark; rm /etc/group');
    const before = await ctl(['images', '-q']);
    const r = await ctl(['commit', '-m', 'add a mark', '-a', 'Tester <t@example.com>', '-c', 'CMD ["cat", "/etc/mark"]', '-c', 'ENV FOO=bar', 'fscommit', 'test/committed:v1']);
    expect(r.code, explain(r, d)).toBe(0);
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect((await ctl(['images', '-q'])).stdout).not.toBe(before.stdout);
    // The container ran on, unpaused.
    expect((await must(['inspect', '-f', '{{.State.Status}}', 'fscommit'])).trim()).toBe('running');
    expect(await must(['run', '--rm', 'test/committed:v1'])).toBe('committed\n');
    expect(await must(['run', '--rm', 'test/committed:v1', 'sh', '-c', 'echo $FOO; test -e /etc/group || echo gone'])).toBe('bar\ngone\n');
    const history = await must(['history', '--no-trunc', 'test/committed:v1']);
    expect(history).toContain('add a mark');
    const inspect = JSON.parse(await must(['image', 'inspect', 'test/committed:v1'])) as Array<Record<string, unknown>>;
    expect(JSON.stringify(inspect)).toContain('Tester <t@example.com>');
    // Untagged, and a bad change: nothing made.
    const untagged = await ctl(['commit', 'fscommit']);
    expect(untagged.code, explain(untagged, d)).toBe(0);
    expect((await must(['images', '-q'])).split('\n')).toContain(untagged.stdout.trim().slice(7, 19));
    // As docker: the container's own command and environment are the new image's.
    expect(await must(['image', 'inspect', untagged.stdout.trim().slice(7, 19)])).toContain('touch /tmp/ready; sleep 1000');
    const held = await holdings();
    const bad = await ctl(['commit', '-c', 'RUN rm -rf /', 'fscommit', 'test/bad:v1']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('RUN is not a valid change command');
    expect(await holdings()).toBe(held);
    await must(['rm', '-f', 'fscommit']);
  });

  it('export | import round-trips a root filesystem that then runs; export refuses a terminal', async () => {
    await runDetached('fsexport', 'echo exported > /etc/mark');
    const file = path.join(work, 'rootfs.tar');
    await must(['export', '-o', file, 'fsexport']);
    const list = await run('tar', ['-tf', file]);
    expect(list.stdout.split('\n')).toEqual(expect.arrayContaining(['bin/', 'bin/busybox', 'etc/mark']));
    expect(list.stdout).not.toMatch(/^proc\/.+/m);
    const imported = await ctl(['import', '-c', 'CMD ["cat", "/etc/mark"]', '-m', 'from a file', file, 'test/imported:v1']);
    expect(imported.code, explain(imported, d)).toBe(0);
    expect(imported.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(await must(['run', '--rm', 'test/imported:v1'])).toBe('exported\n');
    expect(await must(['history', 'test/imported:v1'])).toContain('from a file');

    // Stopped, through a pipe, gzip on the way.
    await stopped('fsexport');
    const piped = await sh(`$CTRCTL export fsexport | gzip | $CTRCTL image import - test/imported:v2`);
    expect(piped.code, piped.stderr).toBe(0);
    expect(await must(['run', '--rm', 'test/imported:v2', 'cat', '/etc/mark'])).toBe('exported\n');
    expect(await must(['history', '--no-trunc', 'test/imported:v2'])).toContain('Imported from -');

    const tty = await run('script', ['-qec', `${process.execPath} ${ctrctlBin} export fsexport`, '/dev/null'], { env: env() });
    expect(tty.code).not.toBe(0);
    expect(tty.stdout).toContain('cowardly refusing to save to a terminal');
    await must(['rm', 'fsexport']);
  });

  it('any gRPC client: Changes and Stat answer, a CopyIn without its header or for no container is refused', async () => {
    const client = new ContainerFilesystemServiceClient(`unix://${d.address}`, credentials.createInsecure());
    const md = () => {
      const m = new Metadata();
      m.set('containerd-namespace', 'default');
      return m;
    };
    try {
      const changes = await new Promise<ServiceError | null>((resolve) => client.changes({ containerId: 'nope' }, md(), (err) => resolve(err)));
      expect([changes?.code, changes?.details]).toEqual([status.NOT_FOUND, 'No such container: nope']);
      const copyIn = (requests: CopyInRequest[]) =>
        new Promise<ServiceError>((resolve, reject) => {
          const call = client.copyIn(md());
          call.on('data', () => reject(new Error('CopyIn answered')));
          call.on('error', (err: ServiceError) => resolve(err));
          for (const r of requests) call.write(r);
          call.end();
        });
      const noHeader = await copyIn([{ data: Buffer.from('x') }]);
      expect([noHeader.code, noHeader.details]).toEqual([status.INVALID_ARGUMENT, 'CopyIn: the first message must be the header']);
      const noContainer = await copyIn([{ header: { containerId: 'nope', path: '/', allowOverwriteDirWithFile: false, copyUidGid: false } }]);
      expect(noContainer.code).toBe(status.NOT_FOUND);
    } finally {
      client.close();
    }
  });

  it('bad input fails with a clear message and leaves nothing: truncated and traversal tars, unknown containers', async () => {
    const good = rawTar(rawEntry({ name: 'file', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 }, Buffer.alloc(5000, 1)));
    const truncated = path.join(work, 'truncated.tar');
    fs.writeFileSync(truncated, good.subarray(0, 2048));
    const traversal = path.join(work, 'traversal.tar');
    fs.writeFileSync(
      traversal,
      rawTar(
        rawEntry({ name: 'etc/ok', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 }, Buffer.from('ok')),
        rawEntry({ name: 'etc/../../escape', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 }, Buffer.from('x')),
      ),
    );
    const held = await holdings();
    const t = await ctl(['import', truncated, 'test/truncated:v1']);
    expect(t.code).toBe(1);
    expect(t.stderr).toMatch(/ctrctl: .*(Unexpected end of data|truncated)/i);
    const g = await sh(`head -c 3000 ${truncated} | gzip | head -c 200 | $CTRCTL import - test/truncated:v2`);
    expect(g.code).toBe(1);
    expect(g.stderr).toMatch(/ctrctl: import: /);
    const x = await ctl(['import', traversal, 'test/traversal:v1']);
    expect(x.code).toBe(1);
    expect(x.stderr).toContain('"etc/../../escape" leaves the directory');
    expect(await holdings()).toBe(held);
    for (const args of [['diff', 'nope'], ['export', '-o', path.join(work, 'nope.tar'), 'nope'], ['commit', 'nope'], ['cp', 'nope:/etc', work]]) {
      const r = await ctl(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toBe('ctrctl: No such container: nope\n');
    }
    expect(fs.existsSync(path.join(work, 'nope.tar'))).toBe(false);
    const both = await ctl(['cp', 'a:/x', 'b:/y']);
    expect(both.stderr).toContain('copying between containers is not supported');
    expect(await holdings()).toBe(held);
    expect(mountsUnder(d.state).filter((m) => m.includes('containerfs'))).toEqual([]);
  });
});
