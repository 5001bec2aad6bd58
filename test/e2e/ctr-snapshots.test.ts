// Stock `ctr snapshots` against a real ctrd: prepare, mounts (whose printed mount command is run as is),
// commit, view, ls, tree, info, usage, label, rm, on the overlayfs and native snapshotters, and the events.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, TestDaemon, type CtrEvents } from '../harness/daemon.js';
import { mountsUnder } from '../harness/mounts.js';

describe('stock ctr snapshots against ctrd', () => {
  let d: TestDaemon;
  let events: CtrEvents;
  const mounted: string[] = [];
  let points = 0;

  beforeAll(async () => {
    d = await new TestDaemon().start();
    events = await d.ctrEvents();
  });

  afterAll(async () => {
    for (const target of mounted.reverse()) await run('umount', ['-R', '-l', target]);
    await events.stop();
    expect(mountsUnder(d.dir)).toEqual([]);
    await d.cleanup();
  });

  async function ctr(...args: string[]): Promise<string> {
    const r = await d.ctr(args);
    expect(r.stderr, `ctr ${args.join(' ')}`).toBe('');
    expect(r.code, `ctr ${args.join(' ')}`).toBe(0);
    return r.stdout;
  }

  /** Asks ctr for the mount command of key, runs it as printed, and returns the mount point. */
  async function mountWithCtr(key: string, ...global: string[]): Promise<{ target: string; command: string }> {
    const target = join(d.dir, `mnt-${points++}`);
    mkdirSync(target);
    const command = (await ctr('snapshots', ...global, 'mounts', target, key)).trim();
    expect(command.split('\n')).toHaveLength(1);
    const r = await run('sh', ['-c', command]);
    expect(r.stderr, command).toBe('');
    expect(r.code, command).toBe(0);
    mounted.push(target);
    expect(mountsUnder(target)).toEqual([target]);
    return { target, command };
  }

  async function unmount(target: string): Promise<void> {
    expect((await run('umount', [target])).code).toBe(0);
    mounted.splice(mounted.indexOf(target), 1);
    expect(mountsUnder(target)).toEqual([]);
  }

  const overlayRoot = () => join(d.root, 'io.containerd.snapshotter.v1.overlayfs', 'snapshots');
  const nativeRoot = () => join(d.root, 'io.containerd.snapshotter.v1.native', 'snapshots');

  it('prepare, mounts, commit: a chain of layers that mounts as ctr prints it', async () => {
    expect(await ctr('snapshots', 'prepare', 'k1')).toBe('');
    const m1 = await mountWithCtr('k1');
    expect(m1.command).toMatch(new RegExp(`^mount -t bind ${overlayRoot()}/\\d+/fs ${m1.target} -o rw,rbind$`));
    writeFileSync(join(m1.target, 'from-k1'), 'layer one');
    await unmount(m1.target);
    await ctr('snapshots', 'commit', 'c1', 'k1');

    await ctr('snapshots', 'prepare', 'k2', 'c1');
    const m2 = await mountWithCtr('k2');
    expect(m2.command).toMatch(
      new RegExp(`^mount -t overlay overlay ${m2.target} -o (index=off,)?workdir=${overlayRoot()}/\\d+/work,upperdir=${overlayRoot()}/\\d+/fs,lowerdir=${overlayRoot()}/\\d+/fs$`),
    );
    expect(readFileSync(join(m2.target, 'from-k1'), 'utf8')).toBe('layer one');
    writeFileSync(join(m2.target, 'from-k2'), 'layer two');
    await unmount(m2.target);
    await ctr('snapshots', 'commit', 'c2', 'k2');

    await ctr('snapshots', 'prepare', 'k3', 'c2');
    const m3 = await mountWithCtr('k3');
    expect(m3.command).toMatch(/lowerdir=[^,:]+\/fs:[^,:]+\/fs$/);
    expect(readFileSync(join(m3.target, 'from-k1'), 'utf8')).toBe('layer one');
    expect(readFileSync(join(m3.target, 'from-k2'), 'utf8')).toBe('layer two');
    await unmount(m3.target);

    await ctr('snapshots', 'view', 'v3', 'c2');
    const v = await mountWithCtr('v3');
    expect(v.command).toMatch(/ -o (index=off,)?lowerdir=[^,]+$/);
    expect(readFileSync(join(v.target, 'from-k2'), 'utf8')).toBe('layer two');
    expect(() => writeFileSync(join(v.target, 'nope'), 'x')).toThrow(/EROFS|read-only/i);
    await unmount(v.target);
  });

  it('ls, tree and info show the chain', async () => {
    const ls = (await ctr('snapshots', 'ls')).trim().split('\n').map((l) => l.trim().split(/\s+/));
    expect(ls).toEqual([
      ['KEY', 'PARENT', 'KIND'],
      ['c1', 'Committed'],
      ['c2', 'c1', 'Committed'],
      ['k3', 'c2', 'Active'],
      ['v3', 'c2', 'View'],
    ]);
    expect(await ctr('snapshots', 'tree')).toBe([' c1', '  \\_ c2', '    \\_ k3', '    \\_ v3', ''].join('\n'));
    const info = JSON.parse(await ctr('snapshots', 'info', 'c2')) as Record<string, unknown>;
    expect(info).toMatchObject({ Kind: 'Committed', Name: 'c2', Parent: 'c1' });
    expect(Object.keys(info.Labels as object)).toEqual(['containerd.io/gc.root']);
    expect(Date.parse(info.Created as string)).toBeGreaterThan(Date.now() - 60_000);
    const missing = await d.ctr(['snapshots', 'info', 'nope']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/snapshot "nope": not found/);
  });

  it('usage counts what each layer holds', async () => {
    const rows = (await ctr('snapshots', 'usage', '-b')).trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
    const usage = Object.fromEntries(rows.map(([key, size, inodes]) => [key, { size: Number(size), inodes: Number(inodes) }]));
    expect(Object.keys(usage).sort()).toEqual(['c1', 'c2', 'k3', 'v3']);
    expect(usage.c1).toMatchObject({ inodes: 2 });
    expect(usage.c1!.size).toBeGreaterThan(0);
    expect(usage.k3).toMatchObject({ inodes: 1 });
    expect(usage.v3).toEqual({ size: 0, inodes: 0 });
    expect((await ctr('snapshots', 'usage', 'c2')).split('\n')[1]).toMatch(/^c2\s+\d+(\.\d+)? \w?i?B\s+2\s*$/);
  });

  it('label sets and removes labels', async () => {
    const out = (await ctr('snapshots', 'label', 'c1', 'team=blue', 'tier=base')).trim();
    expect(out.split(',').sort()).toEqual([expect.stringMatching(/^containerd\.io\/gc\.root=/), 'team=blue', 'tier=base']);
    await ctr('snapshots', 'label', 'c1', 'tier=');
    const info = JSON.parse(await ctr('snapshots', 'info', 'c1')) as { Labels: Record<string, string>; Updated: string; Created: string };
    expect(info.Labels.team).toBe('blue');
    expect(info.Labels.tier).toBeUndefined();
    expect(Date.parse(info.Updated)).toBeGreaterThanOrEqual(Date.parse(info.Created));
  });

  it('rm refuses a parent with children, then removes leaves and parents with their directories', async () => {
    const refused = await d.ctr(['snapshots', 'rm', 'c2']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/failed to remove "c2": cannot remove snapshot "c2": snapshot "(k3|v3)" has it as parent: failed precondition/);
    await ctr('snapshots', 'rm', 'k3', 'v3');
    await ctr('snapshots', 'rm', 'c2', 'c1');
    expect((await ctr('snapshots', 'ls')).trim()).toBe('KEY PARENT KIND');
    expect(readdirSync(overlayRoot())).toEqual([]);
  });

  it('--snapshotter native: a bind of a full copy of the parent', async () => {
    const native = ['--snapshotter', 'native'];
    await ctr('snapshots', ...native, 'prepare', 'n1');
    const m1 = await mountWithCtr('n1', ...native);
    expect(m1.command).toMatch(new RegExp(`^mount -t bind ${nativeRoot()}/\\d+ ${m1.target} -o rbind,rw$`));
    writeFileSync(join(m1.target, 'native-file'), 'copied');
    await unmount(m1.target);
    await ctr('snapshots', ...native, 'commit', 'nc1', 'n1');
    await ctr('snapshots', ...native, 'prepare', 'n2', 'nc1');
    const m2 = await mountWithCtr('n2', ...native);
    expect(readFileSync(join(m2.target, 'native-file'), 'utf8')).toBe('copied');
    writeFileSync(join(m2.target, 'native-file'), 'changed in n2');
    await unmount(m2.target);
    await ctr('snapshots', ...native, 'view', 'nv', 'nc1');
    const v = await mountWithCtr('nv', ...native);
    expect(v.command).toMatch(/ -o rbind,ro$/);
    expect(readFileSync(join(v.target, 'native-file'), 'utf8')).toBe('copied');
    await unmount(v.target);

    const ls = (await ctr('snapshots', ...native, 'ls')).trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/)[0]);
    expect(ls).toEqual(['n2', 'nc1', 'nv']);
    expect((await ctr('snapshots', 'ls')).trim()).toBe('KEY PARENT KIND');
    await ctr('snapshots', ...native, 'rm', 'n2', 'nv', 'nc1');
    expect(readdirSync(nativeRoot())).toEqual([]);
  });

  it('an unknown snapshotter is an error naming it', async () => {
    const r = await d.ctr(['snapshots', '--snapshotter', 'bogus', 'ls']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/snapshotter "bogus" not found.*invalid argument/);
  });

  it('ctr plugins ls lists both snapshotters and the service', async () => {
    const out = await ctr('plugins', 'ls');
    expect(out).toMatch(/io\.containerd\.snapshotter\.v1\s+overlayfs\s+-\s+ok/);
    expect(out).toMatch(/io\.containerd\.snapshotter\.v1\s+native\s+-\s+ok/);
    expect(out).toMatch(/io\.containerd\.grpc\.v1\s+snapshots\s+-\s+ok/);
  });

  it('ctr events printed /snapshot/prepare, /commit and /remove', async () => {
    const want = [
      ['/snapshot/prepare', '"key":"k1"'],
      ['/snapshot/commit', '"key":"k1","name":"c1"'],
      ['/snapshot/prepare', '"key":"k2","parent":"c1"'],
      ['/snapshot/remove', '"key":"k3"'],
      ['/snapshot/remove', '"key":"c1"'],
      ['/snapshot/prepare', '"key":"n1"'],
    ];
    const deadline = Date.now() + 5000;
    while (!events.text().includes('"key":"n1"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    const lines = events.text().split('\n');
    let last = -1;
    for (const [topic, payload] of want) {
      const i = lines.findIndex((l, n) => n > last && l.includes(` default ${topic} `) && l.includes(payload!));
      expect(i, `${topic} ${payload} in:\n${events.text()}`).toBeGreaterThan(last);
      last = i;
    }
    // A view publishes no event, as in containerd.
    expect(events.text()).not.toMatch(/\/snapshot\/prepare \{"key":"(v3|nv)"/);
    expect(events.text()).toContain('/snapshot/remove {"key":"v3"}');
  });
});
