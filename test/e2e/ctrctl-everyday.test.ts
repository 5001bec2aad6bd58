// The everyday flow of issue 6, typed as a docker user would, each output checked: pull, images, run -d --name,
// ps, logs -f (new lines arrive), exec, stop, start, restart, inspect --format, diff, cp both ways, commit and
// a run of the committed image, export | import, save | load (digests kept), tag + push (skopeo reads back
// the same digest), rmi, a volume whose data outlives its container, --restart on-failure:3, system df, prune.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ctrctlSuite } from '../harness/ctrctl.js';
import { ctrctlBin, run, waitFor } from '../harness/daemon.js';
import { mountsUnder } from '../harness/mounts.js';
import { shimsOf } from '../harness/tasks.js';


describe.skipIf(process.getuid?.() !== 0)('the everyday flow of a docker user, with ctrctl', () => {
  const suite = ctrctlSuite('everyday');

  const ctl = (...args: string[]) => suite.ctl(...args);
  const sh = (script: string) => suite.sh(script);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('pull, images, run -d, ps, logs -f, exec, stop, start, restart, inspect', async () => {
    expect(await ctl('pull', suite.image)).toMatch(new RegExp(`Status: Downloaded newer image for ${suite.image.replace(/[.]/g, '\\.')}\\n${suite.image.replace(/[.]/g, '\\.')}$`));
    expect((await ctl('images', '--format', '{{.Repository}}:{{.Tag}}')).split('\n')).toContain(suite.image);

    const id = await ctl('run', '-d', '--name', 'web', suite.image, 'sh', '-c', 'i=0; while :; do echo "line $i"; i=$((i+1)); sleep 0.2; done');
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(await ctl('ps', '--format', '{{.ID}} {{.Names}} {{.Status}}')).toMatch(new RegExp(`^${id.slice(0, 12)} web Up `));

    // logs -f: lines written after it started arrive while it follows.
    const follower = spawn(process.execPath, [ctrctlBin, 'logs', '-f', 'web'], { env: { ...process.env, CTRD_ADDRESS: suite.d.address }, stdio: ['ignore', 'pipe', 'pipe'] });
    let followed = '';
    follower.stdout!.on('data', (b: Buffer) => (followed += b.toString()));
    try {
      await waitFor('a first line', () => /line \d+/.test(followed));
      const seen = Math.max(...[...followed.matchAll(/line (\d+)/g)].map((m) => Number(m[1])));
      await waitFor('new lines while following', () => followed.includes(`line ${seen + 3}`));
    } finally {
      follower.kill('SIGINT');
    }

    expect(await ctl('exec', 'web', 'echo', 'from exec')).toBe('from exec');
    await ctl('stop', '-t', '1', 'web');
    expect(await ctl('inspect', '--format', '{{.State.Status}}', 'web')).toBe('exited');
    expect(await ctl('ps', '-a', '--filter', 'name=web', '--format', '{{.Status}}')).toMatch(/^Exited \(\d+\) /);
    await ctl('start', 'web');
    expect(await ctl('inspect', '--format', '{{.State.Status}}', 'web')).toBe('running');
    const pid = Number(await ctl('inspect', '--format', '{{.State.Pid}}', 'web'));
    await ctl('restart', '-t', '1', 'web');
    expect(await ctl('inspect', '--format', '{{.State.Status}} {{.State.Running}}', 'web')).toBe('running true');
    expect(Number(await ctl('inspect', '--format', '{{.State.Pid}}', 'web'))).not.toBe(pid);
  });

  it('diff, cp both ways, commit and a run of the committed image', async () => {
    await ctl('exec', 'web', 'sh', '-c', 'echo changed > /etc/motd-new && rm /bin/uniq');
    const diff = (await ctl('diff', 'web')).split('\n');
    expect(diff).toContain('A /etc/motd-new');
    expect(diff).toContain('C /etc');
    expect(diff).toContain('D /bin/uniq');

    const host = path.join(suite.work, 'in.txt');
    fs.writeFileSync(host, 'from the host\n', { mode: 0o640 });
    await ctl('cp', host, 'web:/tmp/in.txt');
    expect(await ctl('exec', 'web', 'cat', '/tmp/in.txt')).toBe('from the host');
    expect(await ctl('exec', 'web', 'stat', '-c', '%a', '/tmp/in.txt')).toBe('640');
    const out = path.join(suite.work, 'motd');
    await ctl('cp', 'web:/etc/motd-new', out);
    expect(fs.readFileSync(out, 'utf8')).toBe('changed\n');

    const committed = await ctl('commit', '-m', 'a motd', '-a', 'tester', '-c', 'CMD ["cat", "/etc/motd-new"]', 'web', 'test/web:v2');
    expect(committed).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await ctl('run', '--rm', 'test/web:v2')).toBe('changed');
    expect(await ctl('history', '--format', '{{.Comment}}', 'test/web:v2')).toMatch(/^a motd/);
  });

  it('export | import, and save | load keeping the digests', async () => {
    expect(await sh('ctrctl export web | ctrctl import - test/imported:v1')).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await ctl('run', '--rm', 'test/imported:v1', 'cat', '/etc/motd-new')).toBe('changed');

    const before = [await ctl('image', 'inspect', '--format', '{{.Id}}', 'test/web:v2'), await ctl('image', 'inspect', '--format', '{{.Id}}', suite.image)];
    const archive = path.join(suite.work, 'images.tar');
    await ctl('save', '-o', archive, 'test/web:v2', suite.image);
    await ctl('rmi', 'test/web:v2');
    expect(await sh(`ctrctl load < ${archive}`)).toContain('Loaded image: test/web:v2');
    const after = [await ctl('image', 'inspect', '--format', '{{.Id}}', 'test/web:v2'), await ctl('image', 'inspect', '--format', '{{.Id}}', suite.image)];
    expect(after).toEqual(before);
  });

  it('tag + push to the local registry: skopeo reads back the same digest; rmi', async () => {
    const target = `${suite.reg.host}/team/web:v2`;
    await ctl('tag', 'test/web:v2', target);
    const pushed = await ctl('push', target);
    const digest = /v2: digest: (sha256:[0-9a-f]{64}) size: \d+$/.exec(pushed)?.[1];
    expect(digest, pushed).toBeDefined();
    const raw = await run('skopeo', ['inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://${target}`]);
    expect(raw.code, raw.stderr).toBe(0);
    expect(raw.stdout.trim()).toBe(digest);
    expect((await ctl('rmi', target)).split('\n')[0]).toBe(`Untagged: ${target}`);
    await ctl('rmi', 'test/imported:v1');
    expect((await ctl('images', '--format', '{{.Repository}}')).split('\n')).not.toContain('test/imported');
  });

  it('a volume whose data outlives its container; --restart on-failure:3 restarts exactly three times', async () => {
    expect(await ctl('volume', 'create', 'keep')).toBe('keep');
    await ctl('run', '--name', 'writer', '-v', 'keep:/data', suite.image, 'sh', '-c', 'echo kept > /data/f');
    await ctl('rm', 'writer');
    expect(await ctl('run', '--rm', '-v', 'keep:/data', suite.image, 'cat', '/data/f')).toBe('kept');
    expect(await ctl('volume', 'ls', '--format', '{{.Name}}')).toContain('keep');
    // An anonymous volume, left for system prune --volumes.
    await ctl('run', '--name', 'anon', '-v', '/scratch', suite.image, 'true');
    await ctl('rm', 'anon');
    expect(await ctl('volume', 'rm', 'keep')).toBe('keep');

    await ctl('run', '-d', '--name', 'flaky', '--restart', 'on-failure:3', suite.image, 'sh', '-c', 'exit 1');
    await waitFor('three restarts', async () => (await ctl('inspect', '-f', '{{.RestartCount}} {{.State.Status}}', 'flaky')) === '3 exited');
    await sleep(1500);
    expect(await ctl('inspect', '-f', '{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}', 'flaky')).toBe('3 exited 1');
  });

  it('system df, then prune: containers, images and volumes go, the machine is left as it was', async () => {
    const df = await ctl('system', 'df', '--format', '{{.Type}} {{.TotalCount}} {{.Active}}');
    expect(df).toMatch(/^Images \d+ /m);
    expect(df).toMatch(/^Containers 2 1$/m);
    await ctl('rm', '-f', 'web');
    expect(await ctl('container', 'prune', '-f')).toMatch(/^Deleted Containers:\n[0-9a-f]{64}\n/);
    const pruned = await ctl('system', 'prune', '-a', '-f', '--volumes');
    expect(pruned).toMatch(/Total reclaimed space: /);
    expect(await ctl('ps', '-aq')).toBe('');
    expect(await ctl('images', '-q')).toBe('');
    expect(pruned).toMatch(/^Deleted Volumes:\n[0-9a-f]{64}\n/m);
    expect(await ctl('volume', 'ls', '-q')).toBe('');
    await waitFor('the shims to go', () => shimsOf(suite.d.address).length === 0);
    expect(mountsUnder(suite.d.root)).toEqual([]);
    expect(mountsUnder(suite.d.state)).toEqual([]);
  });
});
