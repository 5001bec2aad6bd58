// Stock `ctr` against a real ctrd with ctrd's own shim (bin/containerd-shim-ctrd-v2) as the runtime:
// output, exit codes, a detached task through its life (ls, ps, pause/resume, metrics, kill, rm), with
// runc and crun, and nothing left behind (shims, bundles, mounts, runtime state, cgroups, sockets).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon, waitFor, type CtrEvents } from '../harness/daemon.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { pushBusybox, type PushedBusybox } from '../harness/images.js';
import { mountsUnder } from '../harness/mounts.js';
import { ctrdShimBinary } from '../harness/shim.js';
import { isAlive } from '../../lib/process.js';
import { socketAddress } from '../../shims/address.js';
import { run as runCmd } from '../harness/daemon.js';

const ids = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];

const haveCrun = fs.existsSync('/usr/bin/crun');

/** Pids of ctrd shims serving this daemon: their command line names its socket. */
function shimsOf(address: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return argv.some((a) => a.endsWith('containerd-shim-ctrd-v2')) && argv.includes(address);
      } catch {
        return false;
      }
    })
    .map(Number);
}

function loggedShimPids(log: string): number[] {
  return log
    .split('\n')
    .filter((l) => l.includes('"shimPid"'))
    .map((l) => (JSON.parse(l) as { shimPid: number }).shimPid);
}

function cgroupsLeft(ns: string, id: string): string[] {
  return fs
    .readdirSync('/sys/fs/cgroup')
    .map((c) => path.join('/sys/fs/cgroup', c, ns, id))
    .filter((d) => fs.existsSync(d));
}

describe.skipIf(process.getuid?.() !== 0)('stock ctr with ctrd\'s shim', () => {
  let d: TestDaemon;
  let reg: TestRegistry;
  let busybox: PushedBusybox;
  let events: CtrEvents;
  // The daemon's default runtime is ctrd's shim (a [runtimes] entry), so --runc-binary works as with runc-v2.
  let configDir = '';

  beforeAll(async () => {
    configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrd-shim-config-'));
    const configFile = path.join(configDir, 'config.toml');
    fs.writeFileSync(configFile, `[runtimes."io.containerd.runc.v2"]\nshim = "${ctrdShimBinary}"\n`);
    [d, reg] = await Promise.all([new TestDaemon(['--config', configFile]).start(), startRegistry()]);
    busybox = await pushBusybox(reg);
    const pull = await d.ctr(['images', 'pull', '--plain-http', busybox.latest.ref], { timeoutMs: 60_000 });
    expect(pull.code, pull.stderr).toBe(0);
    events = await d.ctrEvents();
  }, 120_000);

  afterAll(async () => {
    await events?.stop();
    // Should a test have failed half-way: only this daemon's shims, containers, mounts and sockets.
    if (d) {
      for (const pid of shimsOf(d.address)) process.kill(pid, 'SIGKILL');
      for (const id of ids) {
        if (fs.existsSync(`/run/ctrd/runc/default/${id}`)) await runCmd('runc', ['--root', '/run/ctrd/runc/default', 'delete', '--force', id]);
        fs.rmSync(socketAddress(d.address, 'default', id).slice('unix://'.length), { force: true });
      }
      for (const m of mountsUnder(d.state).reverse()) await runCmd('umount', ['-l', m]);
    }
    await reg?.stop();
    await d?.cleanup();
    if (configDir) fs.rmSync(configDir, { recursive: true, force: true });
  });

  async function expectNothingLeft(id: string, runtimeRoot = '/run/ctrd/runc'): Promise<void> {
    for (const pid of loggedShimPids(d.log())) expect(isAlive(pid), `shim ${pid}`).toBe(false);
    expect(shimsOf(d.address)).toEqual([]);
    expect(fs.existsSync(path.join(d.state, 'io.containerd.runtime.v2.task', 'default', id))).toBe(false);
    expect(mountsUnder(d.state)).toEqual([]);
    expect(mountsUnder(d.root)).toEqual([]);
    expect(fs.existsSync(path.join(runtimeRoot, 'default', id))).toBe(false);
    expect(cgroupsLeft('default', id)).toEqual([]);
    const ls = await d.ctr(['containers', 'ls', '-q']);
    expect(ls.stdout.trim()).toBe('');
    const tasks = await d.ctr(['tasks', 'ls', '-q']);
    expect(tasks.stdout.trim()).toBe('');
  }

  const run = (args: string[]) => d.ctr(['run', ...args], { timeoutMs: 60_000 });

  it('ctr run --runtime <abs shim> --rm echo hi prints hi and exits 0; the shim\'s events reach ctr events', async () => {
    const r = await run(['--runtime', ctrdShimBinary, '--rm', busybox.latest.ref, 'c1', 'echo', 'hi']);
    expect(r.code, `${r.stderr}\n${d.log().slice(-4000)}`).toBe(0);
    expect(r.stdout).toBe('hi\n');
    await expectNothingLeft('c1');
    for (const topic of ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']) {
      expect(events.text(), topic).toMatch(new RegExp(`default ${topic} .*c1`));
    }
  }, 90_000);

  it('passes the exit status through: sh -c "exit 3" makes ctr exit 3', async () => {
    const r = await run(['--rm', busybox.latest.ref, 'c2', 'sh', '-c', 'exit 3']);
    expect(r.code, `${r.stderr}\n${d.log().slice(-4000)}`).toBe(3);
    await expectNothingLeft('c2');
  }, 90_000);

  it('a missing command fails ctr run with the runtime\'s words and leaves nothing', async () => {
    const r = await run(['--rm', busybox.latest.ref, 'c4', 'no-such-command']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/executable file not found/);
    await d.ctr(['containers', 'rm', 'c4']);
    await expectNothingLeft('c4');
  }, 90_000);

  it('a detached task: ls RUNNING, ps, kill, wait STOPPED, rm', async () => {
    const r = await run(['-d', busybox.latest.ref, 'c3', 'sleep', '1000']);
    expect(r.code, `${r.stderr}\n${d.log().slice(-4000)}`).toBe(0);
    const ls = await d.ctr(['tasks', 'ls']);
    expect(ls.stdout).toMatch(/c3\s+\d+\s+RUNNING/);
    const ps = await d.ctr(['tasks', 'ps', 'c3']);
    if (ps.code === 0) expect(ps.stdout).toMatch(/\d+/);
    // sleep is the pid 1 of its namespace: only SIGKILL ends it.
    const kill = await d.ctr(['tasks', 'kill', '-s', 'SIGKILL', 'c3']);
    expect(kill.code, kill.stderr).toBe(0);
    await waitFor('c3 to stop', async () => /c3\s+\d+\s+STOPPED/.test((await d.ctr(['tasks', 'ls'])).stdout), 10_000);
    const rm = await d.ctr(['tasks', 'rm', 'c3']);
    expect(rm.code, rm.stderr).toBe(0);
    const crm = await d.ctr(['containers', 'rm', 'c3']);
    expect(crm.code, crm.stderr).toBe(0);
    await expectNothingLeft('c3');
  }, 90_000);

  it.skipIf(!haveCrun)('runs with --runc-binary crun', async () => {
    const r = await run(['--rm', '--runc-binary', 'crun', busybox.latest.ref, 'c5', 'sh', '-c', 'echo from crun; exit 4']);
    expect(r.code, `${r.stderr}\n${d.log().slice(-4000)}`).toBe(4);
    expect(r.stdout).toBe('from crun\n');
    await expectNothingLeft('c5');
  }, 90_000);
});
