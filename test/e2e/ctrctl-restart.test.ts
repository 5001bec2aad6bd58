// Restart policies carried out by the daemon's restart monitor, driven as a docker user would: --restart
// on-failure:N restarts exactly N times, always brings a container back when its process dies (also while
// the daemon was down), a stop or kill by hand holds (except always on a daemon restart, as docker), and bad
// values are refused before anything is made.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon, waitFor, type RunResult } from '../harness/daemon.js';
import { pushBusybox } from '../harness/images.js';
import { mountsUnder } from '../harness/mounts.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { shimsOf } from '../harness/tasks.js';

const ok = (r: RunResult, d: TestDaemon) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}\n${d.log().slice(-3000)}`;

describe.skipIf(process.getuid?.() !== 0)('restart policies', () => {
  let d: TestDaemon;
  let reg: TestRegistry;
  let image: string;
  let work: string;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrctl-restart-'));
    for (const [k, v] of Object.entries({ CTRCTL_FIFO_DIR: 'fifo', CTRCTL_MOUNT_DIR: 'mnt', CTRCTL_DATA_ROOT: 'data' })) {
      saved[k] = process.env[k];
      process.env[k] = path.join(work, v);
    }
    [d, reg] = await Promise.all([new TestDaemon().start(), startRegistry()]);
    image = (await pushBusybox(reg)).latest.ref;
    const pull = await d.ctrctl(['pull', '-q', image], { timeoutMs: 60_000 });
    expect(pull.code, ok(pull, d)).toBe(0);
  }, 120_000);

  afterAll(async () => {
    if (d) for (const pid of shimsOf(d.address)) process.kill(pid, 'SIGKILL');
    await reg?.stop();
    await d?.cleanup();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  const ctl = async (...args: string[]) => {
    const r = await d.ctrctl(args, { timeoutMs: 20_000 });
    expect(r.code, ok(r, d)).toBe(0);
    return r.stdout.trim();
  };
  const state = async (name: string) => {
    const [status, pid, count, code] = (await ctl('inspect', '-f', '{{.State.Status}} {{.State.Pid}} {{.RestartCount}} {{.State.ExitCode}}', name)).split(' ');
    return { status, pid: Number(pid), count: Number(count), code: Number(code) };
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  async function removeAll(): Promise<void> {
    const ids = (await ctl('ps', '-aq')).split('\n').filter(Boolean);
    if (ids.length) await ctl('rm', '-f', ...ids);
    expect(await ctl('ps', '-aq')).toBe('');
    await waitFor('the shims to go', () => shimsOf(d.address).length === 0);
    expect(mountsUnder(d.root)).toEqual([]);
  }

  it('on-failure:3 restarts a failing container exactly three times, with its policy and count in inspect', async () => {
    await ctl('run', '-d', '--name', 'flaky', '--restart', 'on-failure:3', image, 'sh', '-c', 'echo ran; exit 3');
    await waitFor('three restarts and a final exit', async () => {
      const s = await state('flaky');
      return s.count === 3 && s.status === 'exited';
    });
    // Longer than the last backoff (800 ms) would be: no fourth restart comes.
    await sleep(1500);
    expect(await state('flaky')).toMatchObject({ status: 'exited', count: 3, code: 3 });
    expect(await ctl('inspect', '-f', '{{json .HostConfig.RestartPolicy}}', 'flaky')).toBe('{"Name":"on-failure","MaximumRetryCount":3}');
    expect((await ctl('logs', 'flaky')).split('\n').filter((l) => l.includes('ran'))).toHaveLength(4);
    // A success is not a failure: on-failure leaves it be.
    await ctl('run', '-d', '--name', 'fine', '--restart', 'on-failure', image, 'true');
    await waitFor('it to exit', async () => (await state('fine')).status === 'exited');
    await sleep(500);
    expect(await state('fine')).toMatchObject({ status: 'exited', count: 0, code: 0 });
    await removeAll();
  });

  it('always brings a container back when its process dies, and a stop by hand holds', async () => {
    await ctl('run', '-d', '--name', 'web', '--restart', 'always', image, 'sleep', '1000');
    const first = await state('web');
    expect(first.status).toBe('running');
    process.kill(first.pid, 'SIGKILL'); // the container's process, which this test started
    await waitFor('the restart', async () => {
      const s = await state('web');
      return s.status === 'running' && s.pid !== first.pid && s.count === 1;
    });
    await ctl('stop', '-t', '1', 'web');
    await sleep(600);
    expect(await state('web')).toMatchObject({ status: 'exited' });
    // A start by hand begins the count again, and the policy holds once more.
    await ctl('start', 'web');
    expect(await state('web')).toMatchObject({ status: 'running', count: 0 });
    await removeAll();
  });

  it('across a daemon restart: always and unless-stopped come back from a death while the daemon was down; by hand, only always does', async () => {
    await ctl('run', '-d', '--name', 'al', '--restart', 'always', image, 'sleep', '1000');
    await ctl('run', '-d', '--name', 'un', '--restart', 'unless-stopped', image, 'sleep', '1000');
    await ctl('run', '-d', '--name', 'al-stopped', '--restart', 'always', image, 'sleep', '1000');
    await ctl('run', '-d', '--name', 'un-stopped', '--restart', 'unless-stopped', image, 'sleep', '1000');
    await ctl('stop', '-t', '1', 'al-stopped', 'un-stopped');
    const a = await state('al');
    const u = await state('un');
    expect(await d.stop()).toBe(0);
    process.kill(a.pid, 'SIGKILL');
    process.kill(u.pid, 'SIGKILL');
    await d.start();
    await waitFor('a and u to run again', async () => {
      const [sa, su] = [await state('al'), await state('un')];
      return sa.status === 'running' && sa.pid !== a.pid && su.status === 'running' && su.pid !== u.pid;
    });
    await waitFor('always, stopped by hand, to come back on the daemon start', async () => (await state('al-stopped')).status === 'running');
    await sleep(500);
    expect(await state('un-stopped')).toMatchObject({ status: 'exited' });
    await removeAll();
  });

  it('stop sends the stop signal, then SIGKILL after --stop-timeout (or -t)', async () => {
    await ctl('run', '-d', '--name', 'trapper', '--stop-signal', 'USR1', image, 'sh', '-c', 'trap "echo got usr1; exit 0" USR1; echo ready; while :; do sleep 0.1; done');
    await waitFor('the trap to be set', async () => (await ctl('logs', 'trapper')).includes('ready'));
    await ctl('stop', 'trapper');
    expect(await state('trapper')).toMatchObject({ status: 'exited', code: 0 });
    expect(await ctl('logs', 'trapper')).toContain('got usr1');
    // sh as PID 1 ignores SIGTERM: the timeout of the container ends it with SIGKILL.
    await ctl('run', '-d', '--name', 'stubborn', '--stop-timeout', '1', image, 'sleep', '1000');
    const started = Date.now();
    await ctl('stop', 'stubborn');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(await state('stubborn')).toMatchObject({ status: 'exited', code: 137 });
    const bad = await d.ctrctl(['run', '--stop-signal', 'NOPE', image, 'true']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/invalid signal: NOPE/);
    await removeAll();
  });

  it('bad values are refused before anything is made', async () => {
    for (const [args, message] of [
      [['--restart', 'sometimes'], /unknown policy "sometimes"/],
      [['--restart', 'always:3'], /maximum retry count cannot be used with restart policy 'always'/],
      [['--restart', 'on-failure:x'], /must be an integer/],
      [['--rm', '--restart', 'always'], /cannot specify both --restart and --rm/],
    ] as const) {
      const r = await d.ctrctl(['run', ...args, image, 'true'], { timeoutMs: 20_000 });
      expect(r.code, ok(r, d)).toBe(125);
      expect(r.stderr).toMatch(message);
    }
    expect(await ctl('ps', '-aq')).toBe('');
  });
});
