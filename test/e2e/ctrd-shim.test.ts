// The stock `ctr` task flows with ctrd's own shim (bin/containerd-shim-ctrd-v2): named by its absolute
// path with runc; through a wrapper that makes crun its default runtime; and as the daemon's default
// io.containerd.runc.v2, where `ctr run --runc-binary crun` picks crun as it does with containerd's runc-v2 shim.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon, waitFor } from '../harness/daemon.js';
import { pushBusybox } from '../harness/images.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { ctrdShimBinary } from '../harness/shim.js';
import { cgroupsOf, removeNamespaceCgroups, runcBinary, runLeftovers, shimsOf } from '../harness/tasks.js';
import { mountsUnder } from '../harness/mounts.js';
import { describeTaskFlows } from './task-flows.js';

const root = process.getuid?.() === 0;
const haveCrun = fs.existsSync('/usr/bin/crun');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrd-shim-e2e-'));
const crunShim = path.join(dir, 'containerd-shim-ctrd-crun-v2');
fs.writeFileSync(crunShim, `#!/bin/sh\nCTRD_SHIM_RUNTIME=crun exec "${ctrdShimBinary}" "$@"\n`, { mode: 0o755 });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The shim binaries the daemon logged creating tasks with. */
const shimsLogged = (log: string) =>
  log
    .split('\n')
    .filter((l) => l.includes('"task created"'))
    .map((l) => (JSON.parse(l) as { shim: string }).shim);

describe.skipIf(!root || !runcBinary)("ctrd's shim with runc", () => {
  describeTaskFlows("ctrd's shim (runc)", { runArgs: ['--runtime', ctrdShimBinary], runtime: ctrdShimBinary, heavy: true });
});

describe.skipIf(!root || !runcBinary)("ctrd's shim as the default runtime, told --runc-binary runc", () => {
  describeTaskFlows("ctrd's shim (--runc-binary runc)", { runArgs: ['--runc-binary', 'runc'], createArgs: [], runtime: 'io.containerd.runc.v2' });
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
    [d, reg] = await Promise.all([new TestDaemon().start(), startRegistry()]);
    image = (await pushBusybox(reg)).latest.ref;
    const pull = await d.ctr(['images', 'pull', '--plain-http', image], { namespace: ns, timeoutMs: 60_000 });
    expect(pull.code, pull.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    if (d) for (const pid of shimsOf(d.address)) process.kill(pid, 'SIGKILL');
    await reg?.stop();
    await d?.cleanup();
    if (d) expect(runLeftovers(d.address, ns, ['v1', 'v2'])).toEqual([]);
    expect(cgroupsOf(ns)).toEqual([]);
    expect(removeNamespaceCgroups(ns)).toEqual([]);
  });

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

  it('and without --runc-binary, runc', async () => {
    const r = await d.ctr(['run', '--rm', '--fifo-dir', path.join(d.dir, 'fifo'), image, 'v2', 'echo', 'via runc'], { namespace: ns, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('via runc\n');
    await waitFor('the shim to exit', () => shimsOf(d.address).length === 0);
  }, 90_000);
});
