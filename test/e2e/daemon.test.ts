// The daemon process itself: its socket, signals, flags and config file.
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { ctrdBin, run, TestDaemon, waitFor } from '../harness/daemon.js';
import { Clients, unary } from '../../lib/grpc/client.js';
import { defaultConfig } from '../../daemon/config.js';
import { Any } from '../../gen/google/protobuf/any.js';
import { TaskOOM } from '../../gen/containerd/events/task.js';

describe('ctrd daemon', () => {
  const daemons: TestDaemon[] = [];
  const track = (d: TestDaemon) => (daemons.push(d), d);
  afterEach(async () => {
    for (const d of daemons.splice(0)) await d.cleanup();
  });

  it('serves on a 0660 unix socket and removes it on SIGTERM, exiting 0', async () => {
    const d = await track(new TestDaemon()).start();
    expect(statSync(d.address).isSocket()).toBe(true);
    expect(statSync(d.address).mode & 0o777).toBe(0o660);
    expect(await d.stop()).toBe(0);
    expect(existsSync(d.address)).toBe(false);
    expect(d.log()).toContain('ctrd stopped');
  });

  it('refuses to steal the socket of a live daemon, which keeps serving', async () => {
    const first = await track(new TestDaemon()).start();
    const second = await run(process.execPath, [
      ctrdBin, '--root', join(first.dir, 'root2'), '--state', join(first.dir, 'state2'), '--address', first.address,
    ]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`another daemon is already serving on ${first.address}`);
    const c = first.clients();
    await expect(unary(c.version, c.version.version, {})).resolves.toHaveProperty('version');
    c.close();
  });

  it('replaces the stale socket of a crashed daemon and keeps its UUID', async () => {
    const d = await track(new TestDaemon()).start();
    let c = d.clients();
    const { uuid } = await unary(c.introspection, c.introspection.server, {});
    c.close();
    await d.kill9();
    expect(statSync(d.address).isSocket()).toBe(true); // left behind by the crash
    await d.start();
    expect(d.log()).toContain('removing stale socket');
    c = d.clients();
    expect((await unary(c.introspection, c.introspection.server, {})).uuid).toBe(uuid);
    c.close();
  });

  it('prints a default config that is valid TOML and reads back to the defaults', async () => {
    const r = await run(process.execPath, [ctrdBin, 'config', 'default']);
    expect(r.code).toBe(0);
    const parsed = parse(r.stdout) as Record<string, unknown>;
    expect(parsed).toEqual(JSON.parse(JSON.stringify(defaultConfig())));
  });

  it('takes root, state, address and log level from a config file; flags override it', async () => {
    const d = track(new TestDaemon());
    const file = join(d.dir, 'config.toml');
    const sock = join(d.dir, 'file.sock');
    writeFileSync(
      file,
      `version = 2\nroot = "${join(d.dir, 'from-file')}"\nstate = "${d.state}"\n[grpc]\naddress = "${sock}"\n[debug]\nlevel = "debug"\n`,
    );
    // Only --config and --root: the address, state and level come from the file, the root from the flag.
    const child = spawn(process.execPath, [ctrdBin, '--config', file, '--root', d.root], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    try {
      await waitFor('the daemon on the config file address', () => existsSync(sock));
      const c = new Clients({ address: sock, namespace: 'default' });
      await unary(c.version, c.version.version, {});
      c.close();
      await waitFor('a debug line for the request', () => stderr.includes('"level":20'));
      expect(existsSync(d.root)).toBe(true);
      expect(existsSync(join(d.dir, 'from-file'))).toBe(false);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('close', r));
    }
    expect(child.exitCode).toBe(0);
    expect(existsSync(sock)).toBe(false);
  });

  it('rejects a config file with an unknown key or a bad value, naming it', async () => {
    const d = track(new TestDaemon());
    const file = join(d.dir, 'bad.toml');
    writeFileSync(file, 'version = 2\n[grpc]\nadress = "/tmp/x.sock"\n');
    let r = await run(process.execPath, [ctrdBin, '--config', file, '--address', d.address]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('unknown key "grpc.adress"');
    writeFileSync(file, 'version = 2\nroot = "relative/path"\n');
    r = await run(process.execPath, [ctrdBin, '--config', file, '--address', d.address]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('root "relative/path" must be an absolute path');
    r = await run(process.execPath, [ctrdBin, '--config', join(d.dir, 'missing.toml'), '--address', d.address]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('missing.toml');
    expect(existsSync(d.address)).toBe(false);
  });

  it('publishes an event read from stdin with `ctrd publish`, as shims without ttrpc events do', async () => {
    const d = await track(new TestDaemon()).start();
    const events = await d.ctrEvents();
    try {
      const event = Any.encode({ typeUrl: 'containerd.events.TaskOOM', value: Buffer.from(TaskOOM.encode({ containerId: 'oom-probe' }).finish()) }).finish();
      const r = await run(process.execPath, [ctrdBin, '--address', d.address, 'publish', '--namespace', 'pubns', '--topic', '/tasks/oom'], { input: Buffer.from(event) });
      expect(r.code, r.stderr).toBe(0);
      await waitFor('the published event', () => /pubns \/tasks\/oom .*oom-probe/.test(events.text()), 5_000);
      const empty = await run(process.execPath, [ctrdBin, '--address', d.address, 'publish', '--namespace', 'pubns', '--topic', '/tasks/oom'], { input: '' });
      expect(empty.code).toBe(1);
      expect(empty.stderr).toContain('no event');
      const badTopic = await run(process.execPath, [ctrdBin, '--address', d.address, 'publish', '--namespace', 'pubns', '--topic', 'no-slash'], { input: Buffer.from(event) });
      expect(badTopic.code).toBe(1);
      expect(badTopic.stderr).toContain('no-slash');
    } finally {
      await events.stop();
    }
  });
});
