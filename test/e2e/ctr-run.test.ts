// Stock `ctr run --rm` against a real ctrd, through Debian's containerd-shim-runc-v2 and runc: the output,
// the exit code, the shim's events, and nothing left behind (shim, bundle, mounts, runc state, sockets).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon, type CtrEvents } from '../harness/daemon.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { pushBusybox, type PushedBusybox } from '../harness/images.js';
import { mountsUnder } from '../harness/mounts.js';
import { isAlive } from '../../lib/process.js';

const shimBinary = '/usr/bin/containerd-shim-runc-v2';
const runcBinary = ['/usr/sbin/runc', '/usr/bin/runc'].find((p) => fs.existsSync(p));
const runDir = '/run/containerd';

/** Every path under /run/containerd, so the test can remove exactly what its shims and ctr made. */
function listRunDir(): Set<string> {
  const found = new Set<string>();
  const walk = (dir: string) => {
    if (!fs.existsSync(dir)) return;
    found.add(dir);
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else found.add(p);
    }
  };
  walk(runDir);
  return found;
}


/** Pids of shims started for this daemon: their command line names its socket. */
function shimsOf(address: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return argv[0]?.endsWith('containerd-shim-runc-v2') && argv.includes(address);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The shim pids the daemon logged when it connected to them. */
function loggedShimPids(log: string): number[] {
  return log
    .split('\n')
    .filter((l) => l.includes('"shimPid"'))
    .map((l) => (JSON.parse(l) as { shimPid: number }).shimPid);
}

describe.skipIf(!fs.existsSync(shimBinary) || !runcBinary || process.getuid?.() !== 0)('stock ctr run against ctrd', () => {
  let d: TestDaemon;
  let reg: TestRegistry;
  let busybox: PushedBusybox;
  let events: CtrEvents;
  let runBefore: Set<string>;

  beforeAll(async () => {
    runBefore = listRunDir();
    [d, reg] = await Promise.all([new TestDaemon().start(), startRegistry()]);
    busybox = await pushBusybox(reg);
    const pull = await d.ctr(['images', 'pull', '--plain-http', busybox.latest.ref], { timeoutMs: 60_000 });
    expect(pull.code, pull.stderr).toBe(0);
    events = await d.ctrEvents();
  }, 120_000);

  afterAll(async () => {
    await events?.stop();
    // Only this daemon's shims, should a test have failed half-way.
    if (d) for (const pid of shimsOf(d.address)) process.kill(pid, 'SIGKILL');
    await reg?.stop();
    await d?.cleanup();
    // What our shims and ctr made under /run/containerd: empty directories go; anything else is a leak.
    const made = [...listRunDir()].filter((p) => !runBefore.has(p)).sort((a, b) => b.length - a.length);
    const leaked: string[] = [];
    for (const p of made) {
      if (fs.statSync(p).isDirectory() && fs.readdirSync(p).length === 0) fs.rmdirSync(p);
      else leaked.push(p);
    }
    expect(leaked).toEqual([]);
  });

  async function expectNothingLeft(id: string): Promise<void> {
    for (const pid of loggedShimPids(d.log())) expect(isAlive(pid), `shim ${pid}`).toBe(false);
    expect(shimsOf(d.address)).toEqual([]);
    expect(fs.existsSync(path.join(d.state, 'io.containerd.runtime.v2.task', 'default', id))).toBe(false);
    expect(mountsUnder(d.state)).toEqual([]);
    expect(mountsUnder(d.root)).toEqual([]);
    expect(fs.existsSync(path.join(runDir, 'runc', 'default', id))).toBe(false);
    const ls = await d.ctr(['containers', 'ls', '-q']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout.trim()).toBe('');
    const tasks = await d.ctr(['tasks', 'ls', '-q']);
    expect(tasks.code, tasks.stderr).toBe(0);
    expect(tasks.stdout.trim()).toBe('');
  }

  it('runs echo hello, prints its output, exits 0 and leaves nothing behind', async () => {
    const r = await d.ctr(['run', '--rm', busybox.latest.ref, 't1', 'echo', 'hello'], { timeoutMs: 60_000 });
    expect(r.code, `${r.stderr}\n${d.log().slice(-4000)}`).toBe(0);
    expect(r.stdout).toBe('hello\n');
    expect(loggedShimPids(d.log()).length).toBe(1);
    await expectNothingLeft('t1');
    // The shim's own events came back over the ttrpc Forward.
    for (const topic of ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']) {
      expect(events.text(), topic).toMatch(new RegExp(`default ${topic} .*t1`));
    }
  }, 90_000);

  it('passes the exit status through: sh -c "exit 3" makes ctr exit 3', async () => {
    const r = await d.ctr(['run', '--rm', busybox.latest.ref, 't2', 'sh', '-c', 'exit 3'], { timeoutMs: 60_000 });
    expect(r.code, `${r.stderr}\n${d.log().slice(-4000)}`).toBe(3);
    expect(r.stdout).toBe('');
    await expectNothingLeft('t2');
  }, 90_000);
});
