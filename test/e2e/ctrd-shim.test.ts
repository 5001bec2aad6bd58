// The stock `ctr` task flows with ctrd's own shim (bin/containerd-shim-ctrd-v2): named by its absolute
// path, on its default native backend; through wrappers that make runc or crun its default runtime; and as
// the daemon's default io.containerd.runc.v2, where `ctr run --runc-binary crun` picks crun as it does with
// containerd's runc-v2 shim.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon, waitFor } from '../harness/daemon.js';
import { pushBusybox } from '../harness/images.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { ctrdShimBinary } from '../harness/shim.js';
import { cgroupsOf, parentOf, runcBinary, shimsOf, stopTaskDaemon } from '../harness/tasks.js';
import { mountsUnder } from '../harness/mounts.js';
import { isCgroup2 } from '../../shims/cgroups/paths.js';
import { describeTaskFlows } from './task-flows.js';

const root = process.getuid?.() === 0;
const haveCrun = fs.existsSync('/usr/bin/crun');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrd-shim-e2e-'));
/** ctrd's shim with another default runtime, through a wrapper script. */
const shimWith = (runtime: string) => {
  const file = path.join(dir, `containerd-shim-ctrd-${runtime}-v2`);
  fs.writeFileSync(file, `#!/bin/sh\nCTRD_SHIM_RUNTIME=${runtime} exec "${ctrdShimBinary}" "$@"\n`, { mode: 0o755 });
  return file;
};
const crunShim = shimWith('crun');
const runcShim = shimWith('runc');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The shim binaries the daemon logged creating tasks with. */
const shimsLogged = (log: string) =>
  log
    .split('\n')
    .filter((l) => l.includes('"task created"'))
    .map((l) => (JSON.parse(l) as { shim: string }).shim);

/** A daemon (the tests' config unless args bring one) and a registry, the busybox image pulled into ns. */
async function startDaemon(ns: string, args: string[] = []): Promise<{ d: TestDaemon; reg: TestRegistry; image: string }> {
  const [d, reg] = await Promise.all([new TestDaemon(args).start(), startRegistry()]);
  const image = (await pushBusybox(reg)).latest.ref;
  const pull = await d.ctr(['images', 'pull', '--plain-http', image], { namespace: ns, timeoutMs: 60_000 });
  expect(pull.code, pull.stderr).toBe(0);
  return { d, reg, image };
}

describe.skipIf(!root)("ctrd's shim with its native backend", () => {
  describeTaskFlows("ctrd's shim (native)", { runArgs: ['--runtime', ctrdShimBinary], runtime: ctrdShimBinary, heavy: true, sharedShim: true });
});

describe.skipIf(!root || !runcBinary)("ctrd's shim with runc", () => {
  describeTaskFlows("ctrd's shim (runc)", { runArgs: ['--runtime', runcShim], runtime: runcShim });
});

describe.skipIf(!root || !haveCrun)("ctrd's shim with crun", () => {
  describeTaskFlows("ctrd's shim (crun)", { runArgs: ['--runtime', crunShim], runtime: crunShim });
});

describe.skipIf(!root || !haveCrun)("ctrd's shim as the default io.containerd.runc.v2", () => {
  let d: TestDaemon;
  let reg: TestRegistry;
  let image: string;
  const ns = `shim-runcv2-${process.pid}`;

  beforeAll(async () => {
    ({ d, reg, image } = await startDaemon(ns));
  }, 120_000);

  afterAll(() => stopTaskDaemon(d, reg, ns, ['v1', 'v2']));

  it('ctr run --runc-binary crun goes through ctrd\'s shim to crun', async () => {
    const r = await d.ctr(['run', '--rm', '--fifo-dir', path.join(d.dir, 'fifo'), '--runc-binary', 'crun', image, 'v1', 'sh', '-c', 'echo via crun; exit 4'], {
      namespace: ns,
      timeoutMs: 60_000,
    });
    expect(r.code, `${r.stderr}\n${d.log().slice(-3000)}`).toBe(4);
    expect(r.stdout).toBe('via crun\n');
    expect(shimsLogged(d.log())).toEqual([ctrdShimBinary]);
    await waitFor('the shim to exit', () => shimsOf(d.address).length === 0);
    expect(mountsUnder(d.state)).toEqual([]);
  }, 90_000);

  it('and without --runc-binary, the native backend', async () => {
    const r = await d.ctr(['run', '-d', '--fifo-dir', path.join(d.dir, 'fifo'), image, 'v2', 'sleep', '100'], { namespace: ns, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const bundle = path.join(d.state, 'io.containerd.runtime.v2.task', ns, 'v2');
    expect(JSON.parse(fs.readFileSync(path.join(bundle, 'ctrd-shim-runtime.json'), 'utf8'))).toMatchObject({ binary: 'native' });
    expect(fs.existsSync(path.join('/run/ctrd/runc', ns, 'v2'))).toBe(false);
    expect((await d.ctr(['tasks', 'kill', '-s', 'KILL', 'v2'], { namespace: ns })).code).toBe(0);
    await waitFor('v2 to stop', async () => (await d.ctr(['tasks', 'ls'], { namespace: ns })).stdout.includes('STOPPED'));
    expect((await d.ctr(['tasks', 'rm', 'v2'], { namespace: ns })).code).toBe(0);
    expect((await d.ctr(['containers', 'rm', 'v2'], { namespace: ns })).code).toBe(0);
    await waitFor('the shim to exit', () => shimsOf(d.address).length === 0);
  }, 90_000);
});

describe.skipIf(!root)('the native backend, from inside its containers, through stock ctr', () => {
  let d: TestDaemon;
  let reg: TestRegistry;
  let image: string;
  const ns = `shim-native-${process.pid}`;
  const run = (args: string[]) => d.ctr(['run', '--rm', '--fifo-dir', path.join(d.dir, 'fifo'), ...args], { namespace: ns, timeoutMs: 60_000 });

  beforeAll(async () => {
    ({ d, reg, image } = await startDaemon(ns));
  }, 120_000);

  afterAll(() => stopTaskDaemon(d, reg, ns, ['n1', 'n2', 'n3']));

  it('sees its cgroup limits in its own cgroup files (a cgroup mount, as CRI gives one)', async () => {
    const files = isCgroup2() ? 'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max' : 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us';
    const cgroupMount = 'type=cgroup,src=cgroup,dst=/sys/fs/cgroup,options=ro:nosuid:nodev:noexec';
    const r = await run(['--memory-limit', String(48 << 20), '--cpus', '0.5', '--mount', cgroupMount, image, 'n1', 'sh', '-c', `${files}; touch /sys/fs/cgroup/x 2>&1; true`]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.slice(0, -1).join(' ').split(/\s+/)).toEqual(isCgroup2() ? [String(48 << 20), '50000', '100000'] : [String(48 << 20), '50000']);
    expect(lines.at(-1)).toMatch(/Read-only file system/);
  }, 60_000);

  it('runs ctr --seccomp with the filter on (Seccomp: 2) and ctr --read-only with a read-only root', async () => {
    const r = await run(['--seccomp', '--read-only', image, 'n2', 'sh', '-c', 'grep ^Seccomp: /proc/self/status; touch /x 2>&1; true']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Seccomp:\s+2$/m);
    expect(r.stdout).toMatch(/Read-only file system/);
  }, 60_000);

  it('refuses an image whose /proc is a symlink out of the root, as runc does, and leaves nothing', async () => {
    // A container whose rootfs has /proc -> / (the image made it): its snapshot is changed before the task starts.
    expect((await d.ctr(['containers', 'create', image, 'n3', 'true'], { namespace: ns })).code).toBe(0);
    const mounts = await d.ctr(['snapshots', 'mounts', '/tmp/m', 'n3'], { namespace: ns });
    const upper = /upperdir=([^,\s]+)/.exec(mounts.stdout)?.[1];
    expect(upper, mounts.stdout).toBeDefined();
    fs.symlinkSync('/', path.join(upper!, 'proc'));
    const r = await d.ctr(['tasks', 'start', 'n3'], { namespace: ns, timeoutMs: 60_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/must be mounted on ordinary directory/);
    expect(shimsOf(d.address)).toEqual([]);
    expect(cgroupsOf(ns)).toEqual([]);
    expect(mountsUnder(d.state)).toEqual([]);
    expect((await d.ctr(['containers', 'rm', 'n3'], { namespace: ns })).code).toBe(0);
  }, 60_000);
});

describe.skipIf(!root || !runcBinary)('one ctrd shim for the tasks of a namespace', () => {
  let d: TestDaemon;
  let reg: TestRegistry;
  let image: string;
  const ns = `shim-group-${process.pid}`;
  const config = path.join(dir, 'group.toml');
  const run = (args: string[]) => d.ctr(['run', '--fifo-dir', path.join(d.dir, 'fifo'), ...args], { namespace: ns, timeoutMs: 60_000 });
  const taskPids = async () =>
    new Map(
      (await d.ctr(['tasks', 'ls'], { namespace: ns })).stdout
        .split('\n')
        .slice(1)
        .filter((l) => l.trim() !== '')
        .map((l) => l.trim().split(/\s+/))
        .map((f) => [f[0]!, Number(f[1])]),
    );

  beforeAll(async () => {
    // An emptied shim stays 2 s for the next task.
    fs.writeFileSync(config, `version = 2\n[runtimes."io.containerd.runc.v2"]\nshim = ${JSON.stringify(ctrdShimBinary)}\ngroup = "namespace"\nidle_timeout = 2\n`);
    ({ d, reg, image } = await startDaemon(ns, ['--config', config]));
  }, 120_000);

  afterAll(() => stopTaskDaemon(d, reg, ns, ['g1', 'g2', 'g3', 'g4']));

  it('runs two tasks in one shim, keeps it while one is left, reuses it while idle, then shuts it down', async () => {
    for (const id of ['g1', 'g2']) expect((await run(['-d', '--runc-binary', 'runc', image, id, 'sleep', '1000'])).code).toBe(0);
    const shims = shimsOf(d.address);
    expect(shims).toHaveLength(1);
    const pids = await taskPids();
    expect(parentOf(pids.get('g1')!)).toBe(shims[0]);
    expect(parentOf(pids.get('g2')!)).toBe(shims[0]);
    const rm = async (id: string) => {
      expect((await d.ctr(['tasks', 'kill', '-s', 'KILL', id], { namespace: ns })).code).toBe(0);
      await waitFor(`${id} to stop`, async () => (await d.ctr(['tasks', 'ls'], { namespace: ns })).stdout.includes('STOPPED'));
      expect((await d.ctr(['tasks', 'rm', id], { namespace: ns })).code).toBe(0);
      expect((await d.ctr(['containers', 'rm', id], { namespace: ns })).code).toBe(0);
    };
    await rm('g1');
    expect(shimsOf(d.address)).toEqual(shims);
    // g2 still answers through the shared shim.
    const exec = await d.ctr(['tasks', 'exec', '--exec-id', 'e', 'g2', 'echo', 'still here'], { namespace: ns });
    expect(exec.stdout, exec.stderr).toBe('still here\n');
    await rm('g2');
    // Empty now, but kept for the next task: a run --rm starts no shim.
    const r = await run(['--rm', '--runc-binary', 'runc', image, 'g3', 'echo', 'reused']);
    expect(r.stdout, r.stderr).toBe('reused\n');
    expect(shimsOf(d.address)).toEqual(shims);
    const log = d.log();
    expect(log).toMatch(/"sharedShim":true[^\n]*"task created"|"task created"[^\n]*"sharedShim":true/);
    await waitFor('the idle shim to be shut down', () => shimsOf(d.address).length === 0, 10_000);
    // The next task gets a new shim, and the daemon's stop shuts an idle one at once.
    expect((await run(['--rm', '--runc-binary', 'runc', image, 'g4', 'true'])).code).toBe(0);
    expect(shimsOf(d.address)).toHaveLength(1);
    expect(await d.stop()).toBe(0);
    await waitFor('the idle shim to go with the daemon', () => shimsOf(d.address).length === 0, 10_000);
    await d.start();
    expect(mountsUnder(d.state)).toEqual([]);
  }, 120_000);
});
