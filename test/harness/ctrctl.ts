// The set-up ctrctl's end-to-end files share: a work dir that ctrctl's own files (FIFOs, mounts, logs, docker
// config) go under, a daemon and a registry with the test busybox, and a teardown that removes what a failed
// test left (containers first, so their rootfs mounts go with them) and puts the environment back.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { ctrctlBin, run, TestDaemon, type RunResult } from './daemon.js';
import { pushBusybox } from './images.js';
import { startRegistry, type TestRegistry } from './registry.js';
import { shimsOf } from './tasks.js';

export interface CtrctlSuite {
  d: TestDaemon;
  reg: TestRegistry;
  /** The test busybox in the registry, as a reference. */
  image: string;
  work: string;
  /** ctrctl with the arguments; fails the test unless it exits 0; its stdout, trimmed. */
  ctl(...args: string[]): Promise<string>;
  /** A bash pipeline with ctrctl on PATH talking to the test daemon; fails the test unless it exits 0. */
  sh(script: string): Promise<string>;
}

export const explain = (r: RunResult, d: TestDaemon) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}\n${d.log().slice(-3000)}`;

/** Registers beforeAll/afterAll for one file; the returned object is filled in by beforeAll. */
export function ctrctlSuite(name: string, opts: { pull?: boolean } = {}): CtrctlSuite {
  const saved: Record<string, string | undefined> = {};
  const suite = {} as CtrctlSuite;

  beforeAll(async () => {
    suite.work = fs.mkdtempSync(path.join(os.tmpdir(), `ctrctl-${name}-`));
    for (const [k, v] of Object.entries({ CTRCTL_FIFO_DIR: 'fifo', CTRCTL_MOUNT_DIR: 'mnt', CTRCTL_DATA_ROOT: 'data', DOCKER_CONFIG: 'docker' })) {
      saved[k] = process.env[k];
      process.env[k] = path.join(suite.work, v);
    }
    [suite.d, suite.reg] = await Promise.all([new TestDaemon().start(), startRegistry()]);
    suite.image = (await pushBusybox(suite.reg)).latest.ref;
    if (opts.pull) await suite.ctl('pull', '-q', suite.image);
  }, 120_000);

  afterAll(async () => {
    const d = suite.d;
    const left = d ? (await d.ctrctl(['ps', '-aq'])).stdout.split('\n').filter(Boolean) : [];
    if (left.length) await d.ctrctl(['rm', '-f', ...left], { timeoutMs: 60_000 });
    if (d) await d.ctrctl(['network', 'prune', '-f'], { timeoutMs: 60_000 });
    if (d) for (const pid of shimsOf(d.address)) process.kill(pid, 'SIGKILL');
    await suite.reg?.stop();
    await d?.cleanup();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    if (suite.work) fs.rmSync(suite.work, { recursive: true, force: true });
  }, 120_000);

  suite.ctl = async (...args: string[]) => {
    const r = await suite.d.ctrctl(args, { timeoutMs: 60_000 });
    expect(r.code, explain(r, suite.d)).toBe(0);
    return r.stdout.trim();
  };
  suite.sh = async (script: string) => {
    const bin = path.join(suite.work, 'bin');
    if (!fs.existsSync(bin)) {
      fs.mkdirSync(bin);
      fs.writeFileSync(path.join(bin, 'ctrctl'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(ctrctlBin)} "$@"\n`, { mode: 0o755 });
    }
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, CTRD_ADDRESS: suite.d.address };
    const r = await run('bash', ['-o', 'pipefail', '-c', script], { env, timeoutMs: 60_000 });
    expect(r.code, explain(r, suite.d)).toBe(0);
    return r.stdout.trim();
  };
  return suite;
}
