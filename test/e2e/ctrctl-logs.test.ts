// ctrctl logs and attach against a real ctrd and ctrd's shim: run -d then logs (stdout and stderr apart,
// running and stopped), logs -f that sees new lines and ends when the container stops, --tail, -t, --since,
// --until, rotation by --log-opt seen through logs; and interactive use under a real pty (script(1)):
// run -it, Ctrl-P Ctrl-Q, exec -it and -i, attach, exit status. Nothing is left: containers, tasks, shims, mounts, logs,
// attach sockets.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctrctlSuite, explain as ok } from '../harness/ctrctl.js';
import { ctrctlBin, TestDaemon, waitFor } from '../harness/daemon.js';
import { mountsUnder } from '../harness/mounts.js';
import { runcBinary, shimsOf } from '../harness/tasks.js';

/** ctrctl on a pty of its own (script(1)), our pipe as the keyboard. */
class PtySession {
  readonly child: ChildProcessWithoutNullStreams;
  out = '';
  readonly exited: Promise<number>;

  constructor(d: TestDaemon, args: string) {
    const env = { ...process.env, CTRD_ADDRESS: d.address, CTRD_NAMESPACE: 'default' };
    this.child = spawn('script', ['-qfec', `${process.execPath} ${ctrctlBin} ${args}`, '/dev/null'], { env });
    this.child.stdout.on('data', (b: Buffer) => (this.out += b.toString('utf8')));
    this.child.stderr.on('data', (b: Buffer) => (this.out += b.toString('utf8')));
    // 'close', not 'exit': the exit can come before the last of the output is read.
    this.exited = new Promise((resolve) => this.child.once('close', (code, signal) => resolve(code ?? 128 + (signal ? 9 : 0))));
  }

  type(keys: string): void {
    this.child.stdin.write(keys);
  }

  async waitOutput(re: RegExp, timeoutMs = 15_000): Promise<void> {
    try {
      await waitFor(`output ${re}`, () => re.test(this.out), timeoutMs);
    } catch (err) {
      throw new Error(`${(err as Error).message}; the output was ${JSON.stringify(this.out)}`);
    }
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

describe.skipIf(!runcBinary || process.getuid?.() !== 0)('ctrctl logs and attach', () => {
  const suite = ctrctlSuite('logs', { pull: true });
  let d: TestDaemon;
  let image: string;
  const sessions: PtySession[] = [];

  beforeAll(() => {
    ({ d, image } = suite);
  });

  // Before the suite's teardown (hooks run as a stack): the sessions a failed test left.
  afterAll(() => {
    for (const s of sessions) s.kill();
  });

  const ctl = (args: string[], input?: string) => d.ctrctl(args, { timeoutMs: 30_000, input });
  const logDir = () => path.join(d.root, 'io.ctrd.logs', 'default');
  const bundleOf = (id: string) => path.join(d.state, 'io.containerd.runtime.v2.task', 'default', id);

  /** The container's attach socket, while its task is there. */
  const attachSocketOf = (id: string) => fs.readFileSync(path.join(bundleOf(id), 'attach'), 'utf8');

  /** rm -f, then nothing of it is left, its attach sockets included. */
  async function removeAndCheck(names: string[], sockets: string[]): Promise<void> {
    const rm = await ctl(['rm', '-f', ...names]);
    expect(rm.code, ok(rm, d)).toBe(0);
    expect((await d.ctr(['containers', 'ls', '-q'])).stdout.trim()).toBe('');
    expect((await d.ctr(['tasks', 'ls', '-q'])).stdout.trim()).toBe('');
    await waitFor('shims gone', () => shimsOf(d.address).length === 0);
    expect(mountsUnder(d.state)).toEqual([]);
    expect(mountsUnder(d.root)).toEqual([]);
    await waitFor('logs removed', () => !fs.existsSync(logDir()) || fs.readdirSync(logDir()).length === 0);
    for (const s of sockets) expect(fs.existsSync(s), s).toBe(false);
    // ctrctl made no FIFOs (its FIFO dir would be under the suite's work dir).
    expect(fs.existsSync(path.join(suite.work, 'fifo'))).toBe(false);
    expect((await d.ctr(['snapshots', 'ls'])).stdout).not.toMatch(/\bActive\b/);
  }

  it('run -d prints the full ID; logs has stdout and stderr apart, while running and once stopped, with --tail, -t, --since and --until', async () => {
    const run = await ctl(['run', '-d', '--name', 'talker', image, 'sh', '-c', 'echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three; sleep 1000']);
    expect(run.code, ok(run, d)).toBe(0);
    const id = run.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const socket = attachSocketOf(id);
    await waitFor('output logged', async () => (await ctl(['logs', 'talker'])).stdout === 'one\nthree\n');
    const running = await ctl(['logs', 'talker']);
    expect(running.stderr).toBe('two\n');
    const inspect = await ctl(['inspect', '-f', '{{.LogPath}}', 'talker']);
    expect(inspect.stdout.trim()).toBe(path.join(logDir(), id, `${id}-json.log`));

    const stop = await ctl(['stop', '-t', '0', 'talker']);
    expect(stop.code, ok(stop, d)).toBe(0);
    const stopped = await ctl(['logs', 'talker']);
    expect([stopped.stdout, stopped.stderr]).toEqual(['one\nthree\n', 'two\n']);

    const tail = await ctl(['logs', '--tail', '1', 'talker']);
    expect([tail.stdout, tail.stderr]).toEqual(['three\n', '']);
    const tail2 = await ctl(['logs', '-n', '2', id.slice(0, 12)]);
    expect([tail2.stdout, tail2.stderr]).toEqual(['three\n', 'two\n']);

    const ts = await ctl(['logs', '-t', 'talker']);
    const stamped = ts.stdout.split('\n').filter((l) => l);
    expect(stamped).toHaveLength(2);
    for (const l of stamped) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (one|three)$/);
    const at = stamped[1]!.split(' ')[0]!;

    // --since: from that entry on (inclusive), a relative time, the future; --until: before it.
    expect((await ctl(['logs', '--since', at, 'talker'])).stdout).toBe('three\n');
    expect((await ctl(['logs', '--since', '10m', 'talker'])).stdout).toBe('one\nthree\n');
    expect((await ctl(['logs', '--since', String(Math.floor(Date.now() / 1000) + 3600), 'talker'])).stdout).toBe('');
    const until = await ctl(['logs', '--until', at, 'talker']);
    expect([until.stdout, until.stderr]).toEqual(['one\n', 'two\n']);

    const bad = await ctl(['logs', '--since', 'yesterday', 'talker']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("invalid value for time: 'yesterday'");
    const badTail = await ctl(['logs', '--tail', '-3', 'talker']);
    expect(badTail.code).not.toBe(0);
    const none = await ctl(['logs', 'nosuch']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/No such container: nosuch/i);

    // start again: the same log goes on.
    const start = await ctl(['start', 'talker']);
    expect(start.code, ok(start, d)).toBe(0);
    await waitFor('second run logged', async () => (await ctl(['logs', 'talker'])).stdout === 'one\nthree\none\nthree\n');
    await removeAndCheck(['talker'], [socket, attachSocketOf(id)]);
  });

  it('logs -f shows new lines as they come, across a rotation, and ends when the container stops', async () => {
    // Lines of 200 bytes, one every 100 ms (after a second for logs -f to come): a 1k file holds three of
    // them, so it rotates as we follow.
    const script = 'sleep 1; i=0; while [ $i -lt 30 ]; do printf "%03d%0197d\\n" $i 0; i=$((i+1)); sleep 0.1; done; echo done >&2';
    const run = await ctl(['run', '-d', '--name', 'ticker', '--log-opt', 'max-size=1k', '--log-opt', 'max-file=2', image, 'sh', '-c', script]);
    expect(run.code, ok(run, d)).toBe(0);
    const id = run.stdout.trim();
    const socket = attachSocketOf(id);
    const env = { ...process.env, CTRD_ADDRESS: d.address, CTRD_NAMESPACE: 'default' };
    const follow = spawn(process.execPath, [ctrctlBin, 'logs', '-f', 'ticker'], { env });
    let out = '';
    let err = '';
    const lineTimes: number[] = [];
    follow.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      lineTimes.push(Date.now());
    });
    follow.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const code = await new Promise<number | null>((resolve) => follow.once('close', resolve));
    expect(code, err).toBe(0);
    // The lines in order to the last, many more than the two kept files hold (about seven): it followed
    // across rotations. (All 30 unless logs -f took over a second to start.)
    const seen = out.split('\n').filter((l) => l).map((l) => Number(l.slice(0, 3)));
    expect(seen.length).toBeGreaterThan(15);
    expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => 30 - seen.length + i));
    expect(err).toBe('done\n');
    // They came over time, not all at the end.
    expect(lineTimes.at(-1)! - lineTimes[0]!).toBeGreaterThan(1500);
    const dir = path.join(logDir(), id);
    expect(fs.readdirSync(dir).sort()).toEqual([`${id}-json.log`, `${id}-json.log.1`]);
    for (const f of fs.readdirSync(dir)) expect(fs.statSync(path.join(dir, f)).size).toBeLessThanOrEqual(1024);
    // What logs shows after the rotation: only what the kept files hold, the newest last.
    const after = await ctl(['logs', 'ticker']);
    const kept = after.stdout.split('\n').filter((l) => l).map((l) => Number(l.slice(0, 3)));
    expect(kept.at(-1)).toBe(29);
    expect(kept.length).toBeLessThan(30);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => 30 - kept.length + i));
    // -f on a stopped container prints what there is and ends.
    const stopped = await ctl(['logs', '-f', '--tail', '2', 'ticker']);
    expect([stopped.stdout.split('\n').filter((l) => l).map((l) => Number(l.slice(0, 3))), stopped.stderr]).toEqual([[29], 'done\n']);
    await removeAndCheck(['ticker'], [socket]);
  });

  it('run -it: a shell on a pty prints 42; Ctrl-P Ctrl-Q detaches and leaves it running; exec -it and -i; attach resumes, exit 3 is the status', async () => {
    const runIt = new PtySession(d, `run -it --name shell ${image} sh`);
    sessions.push(runIt);
    // busybox's prompt, then its cursor position query (ESC [6n).
    await runIt.waitOutput(/\/ # /);
    runIt.type('echo $((6*7))\r');
    // script(1) writes the pty's \r\n as \r\r\n.
    await runIt.waitOutput(/\r+\n42\r+\n/);
    // Its pty got our size through the attach (script's pty has none: 80x24).
    runIt.type('stty size\r');
    await runIt.waitOutput(/\r+\n24 80\r+\n/);
    runIt.type('\x10\x11');
    expect(await runIt.exited, runIt.out).toBe(0);
    expect(runIt.out).not.toMatch(/error|escape/i);
    const ps = await ctl(['ps', '--format', '{{.Names}} {{.Status}}']);
    expect(ps.stdout).toMatch(/^shell Up/m);
    const id = (await ctl(['inspect', '-f', '{{.Id}}', 'shell'])).stdout.trim();
    const socket = attachSocketOf(id);

    // exec -it through Attach too: its own pty, sized from ours (script's has no size: 80x24), its status.
    const execIt = new PtySession(d, "exec -it shell sh -c 'stty size; tty; exit 6'");
    sessions.push(execIt);
    expect(await execIt.exited, execIt.out).toBe(6);
    expect(execIt.out).toMatch(/24 80\r+\n\/dev\/pts\/\d+\r+\n/);
    const execI = await ctl(['exec', '-i', 'shell', 'sh', '-c', 'tr a-z A-Z; exit 2'], 'piped in\n');
    expect([execI.code, execI.stdout]).toEqual([2, 'PIPED IN\n']);
    // An exec's output is not the container's log.
    expect((await ctl(['logs', 'shell'])).stdout).not.toContain('PIPED');
    expect(fs.readdirSync(bundleOf(id)).filter((f) => f.startsWith('attach-exec-'))).toEqual([]);

    const attach = new PtySession(d, 'attach shell');
    sessions.push(attach);
    // Nothing is printed on attach: a command's output shows it is in place.
    await waitFor('attached', async () => {
      attach.type('echo at$((1+1))ch\r');
      await new Promise((r) => setTimeout(r, 300));
      return /at2ch/.test(attach.out);
    });
    attach.type('exit 3\r');
    expect(await attach.exited, attach.out).toBe(3);
    const state = await ctl(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'shell']);
    expect(state.stdout.trim()).toBe('exited 3');
    // The whole session is in the log too.
    expect((await ctl(['logs', 'shell'])).stdout).toMatch(/42\r\n/);
    await removeAndCheck(['shell'], [socket]);
  });

  it('run -i takes piped stdin through ctrd (no FIFOs), --detach-keys of its own, start -ai', async () => {
    const cat = await ctl(['run', '--rm', '-i', image, 'sh', '-c', 'wc -l; exit 4'], 'a\nb\nc\n');
    expect(cat.code, ok(cat, d)).toBe(4);
    expect(cat.stdout.trim()).toBe('3');
    // A detach key sequence of its own on a non-tty stdin: ctrl-x then 'q' detaches; other bytes pass.
    const det = await ctl(['run', '-i', '--name', 'keys', '--detach-keys', 'ctrl-x,q', image, 'cat'], 'pass\n\x18x\n\x18qafter\n');
    expect(det.code, ok(det, d)).toBe(0);
    expect((await ctl(['ps', '--format', '{{.Names}}'])).stdout).toContain('keys');
    // cat got what came before the keys (a ctrl-x that is not followed by q passes), nothing after.
    await waitFor('cat echoed', async () => (await ctl(['logs', 'keys'])).stdout === 'pass\n\x18x\n');
    const badKeys = await ctl(['attach', '--detach-keys', 'ctrl-;', 'keys']);
    expect(badKeys.code).toBe(1);
    expect(badKeys.stderr).toContain('Invalid detach keys (ctrl-;)');
    const stop = await ctl(['stop', '-t', '0', 'keys']);
    expect(stop.code, ok(stop, d)).toBe(0);
    const notRunning = await ctl(['attach', 'keys']);
    expect(notRunning.code).toBe(1);
    expect(notRunning.stderr).toContain('You cannot attach to a stopped container, start it first');
    // start -ai: stdin again, to the end of our input.
    const sai = await ctl(['start', '-ai', 'keys'], 'again\n');
    expect(sai.code, ok(sai, d)).toBe(0);
    expect(sai.stdout).toBe('again\n');
    expect((await ctl(['logs', 'keys'])).stdout).toBe('pass\n\x18x\nagain\n');
    await removeAndCheck(['keys'], []);
  });
});
