// Restart policies carried out by the daemon's restart monitor, driven as a docker user would: --restart
// on-failure:N restarts exactly N times, always brings a container back when its process dies (also while
// the daemon was down), a stop or kill by hand holds (except always on a daemon restart, as docker), and bad
// values are refused before anything is made.
import { describe, expect, it } from 'vitest';
import { ctrctlSuite, explain } from '../harness/ctrctl.js';
import { waitFor } from '../harness/daemon.js';
import { mountsUnder } from '../harness/mounts.js';
import { shimsOf } from '../harness/tasks.js';


describe.skipIf(process.getuid?.() !== 0)('restart policies', () => {
  const suite = ctrctlSuite('restart', { pull: true });

  const ctl = (...args: string[]) => suite.ctl(...args);
  const state = async (name: string) => {
    const [status, pid, count, code] = (await ctl('inspect', '-f', '{{.State.Status}} {{.State.Pid}} {{.RestartCount}} {{.State.ExitCode}}', name)).split(' ');
    return { status, pid: Number(pid), count: Number(count), code: Number(code) };
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  async function removeAll(): Promise<void> {
    const ids = (await ctl('ps', '-aq')).split('\n').filter(Boolean);
    if (ids.length) await ctl('rm', '-f', ...ids);
    expect(await ctl('ps', '-aq')).toBe('');
    await waitFor('the shims to go', () => shimsOf(suite.d.address).length === 0);
    expect(mountsUnder(suite.d.root)).toEqual([]);
  }

  it('on-failure:3 restarts a failing container exactly three times, with its policy and count in inspect', async () => {
    await ctl('run', '-d', '--name', 'flaky', '--restart', 'on-failure:3', suite.image, 'sh', '-c', 'echo ran; exit 3');
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
    await ctl('run', '-d', '--name', 'fine', '--restart', 'on-failure', suite.image, 'true');
    await waitFor('it to exit', async () => (await state('fine')).status === 'exited');
    await sleep(500);
    expect(await state('fine')).toMatchObject({ status: 'exited', count: 0, code: 0 });
    await removeAll();
  });

  it('always brings a container back when its process dies, and a stop by hand holds', async () => {
    await ctl('run', '-d', '--name', 'web', '--restart', 'always', suite.image, 'sleep', '1000');
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
    await ctl('run', '-d', '--name', 'al', '--restart', 'always', suite.image, 'sleep', '1000');
    await ctl('run', '-d', '--name', 'un', '--restart', 'unless-stopped', suite.image, 'sleep', '1000');
    await ctl('run', '-d', '--name', 'al-stopped', '--restart', 'always', suite.image, 'sleep', '1000');
    await ctl('run', '-d', '--name', 'un-stopped', '--restart', 'unless-stopped', suite.image, 'sleep', '1000');
    await ctl('stop', '-t', '1', 'al-stopped', 'un-stopped');
    const a = await state('al');
    const u = await state('un');
    expect(await suite.d.stop()).toBe(0);
    process.kill(a.pid, 'SIGKILL');
    process.kill(u.pid, 'SIGKILL');
    await suite.d.start();
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
    await ctl('run', '-d', '--name', 'trapper', '--stop-signal', 'USR1', suite.image, 'sh', '-c', 'trap "echo got usr1; exit 0" USR1; echo ready; while :; do sleep 0.1; done');
    await waitFor('the trap to be set', async () => (await ctl('logs', 'trapper')).includes('ready'));
    await ctl('stop', 'trapper');
    expect(await state('trapper')).toMatchObject({ status: 'exited', code: 0 });
    expect(await ctl('logs', 'trapper')).toContain('got usr1');
    // sh as PID 1 ignores SIGTERM: the timeout of the container ends it with SIGKILL.
    await ctl('run', '-d', '--name', 'stubborn', '--stop-timeout', '1', suite.image, 'sleep', '1000');
    const started = Date.now();
    await ctl('stop', 'stubborn');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(await state('stubborn')).toMatchObject({ status: 'exited', code: 137 });
    const bad = await suite.d.ctrctl(['run', '--stop-signal', 'NOPE', suite.image, 'true']);
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
      const r = await suite.d.ctrctl(['run', ...args, suite.image, 'true'], { timeoutMs: 20_000 });
      expect(r.code, explain(r, suite.d)).toBe(125);
      expect(r.stderr).toMatch(message);
    }
    expect(await ctl('ps', '-aq')).toBe('');
  });
});
