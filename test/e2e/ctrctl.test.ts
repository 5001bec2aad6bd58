// ctrctl, the docker-style CLI, driving a real ctrd: each verb's output and exit status as a user sees them,
// checked against the stock `ctr` and the raw API where they can say the same thing.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs, { writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctrctlBin, run, TestDaemon } from '../harness/daemon.js';
import { CtrdError } from '../../lib/errdefs.js';
import { unary, type Clients } from '../../lib/grpc/client.js';
import { ctrdVersion, version } from '../../lib/version.js';

const rfc3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every child this file starts, so that afterAll can end the ones a failed test left running, by PID. */
const children: ChildProcess[] = [];

/** A `ctrctl events` process and what it has printed so far. */
class EventsWatcher {
  readonly child: ChildProcess;
  readonly closed: Promise<unknown[]>;
  stdout = '';
  stderr = '';

  constructor(d: TestDaemon, args: readonly string[]) {
    this.child = spawn(process.execPath, [ctrctlBin, 'events', ...args], {
      env: { ...process.env, CTRD_ADDRESS: d.address, CTRD_NAMESPACE: 'default' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(this.child);
    this.closed = once(this.child, 'close');
    this.child.stdout!.on('data', (b: Buffer) => (this.stdout += b.toString()));
    this.child.stderr!.on('data', (b: Buffer) => (this.stderr += b.toString()));
  }

  lines(): string[] {
    return this.stdout.split('\n').filter((l) => l !== '');
  }

  /**
   * Waits until a printed line passes the check. A subscription gives no sign of being in place, so `poke`
   * (which makes an event that passes the check) is repeated until one is printed.
   */
  async waitForLine(check: (line: string) => boolean, poke?: () => Promise<void>, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await poke?.();
      const pokeDeadline = Math.min(deadline, Date.now() + 200);
      while (Date.now() < pokeDeadline) {
        const line = this.lines().find(check);
        if (line !== undefined) return line;
        if (this.child.exitCode !== null) throw new Error(`ctrctl events exited ${this.child.exitCode}: ${this.stderr}`);
        await sleep(10);
      }
      if (Date.now() >= deadline) throw new Error(`timed out waiting for an event line; got:\n${this.stdout}${this.stderr}`);
    }
  }

  /** Ctrl-C, by PID; resolves with the exit code. */
  async interrupt(): Promise<number | null> {
    process.kill(this.child.pid!, 'SIGINT');
    const [code] = (await this.closed) as [number | null];
    return code;
  }
}

describe('ctrctl against ctrd', () => {
  let d: TestDaemon;
  let c: Clients;

  beforeAll(async () => {
    d = await new TestDaemon().start();
    c = d.clients();
  });

  afterAll(async () => {
    c?.close();
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid!, 'SIGKILL');
        await once(child, 'close');
      }
    }
    await d?.cleanup();
  });

  it('version shows the server version and UUID that ctr version shows', async () => {
    const ctr = await d.ctr(['version']);
    expect(ctr.code).toBe(0);
    const [, serverVersion, uuid] = /Server:\n\s+Version:\s+(\S+)\n\s+Revision:\s+\S+\n\s+UUID:\s+(\S+)/.exec(ctr.stdout) ?? [];
    expect(serverVersion).toBe(version);
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);

    const r = await d.ctrctl(['version']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [client, server] = r.stdout.split('\nServer:\n');
    expect(client).toMatch(new RegExp(`^Client:\\n Version:\\s+${escape(ctrdVersion)}\\n`));
    expect(client).toContain(process.version);
    expect(server).toMatch(new RegExp(`^ ctrd:\\n  Version:\\s+${escape(serverVersion!)}\\n`, 'm'));
    expect(server).toMatch(new RegExp(`^  UUID:\\s+${uuid}$`, 'm'));

    const json = await d.ctrctl(['version', '--format', 'json']);
    expect(json.code).toBe(0);
    const lines = json.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      Client: { Version: ctrdVersion, NodeVersion: process.version },
      Server: { Version: serverVersion, UUID: uuid },
    });
  });

  it('info shows the server, the namespace in use, the namespaces and the plugins ctr sees', async () => {
    const { uuid } = await unary(c.introspection, c.introspection.server, {});
    const nsCount = (await d.ctr(['namespaces', 'ls', '-q'])).stdout.split('\n').filter((l) => l !== '').length;
    const ctrPlugins = await d.ctr(['plugins', 'ls']);
    expect(ctrPlugins.code).toBe(0);
    const pluginCount = ctrPlugins.stdout.trim().split('\n').length - 1; // less the heading

    const r = await d.ctrctl(['info'], { namespace: 'elsewhere' });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`\n Server Version: ${version}\n`);
    expect(r.stdout).toContain(`\n ID: ${uuid}\n`);
    expect(r.stdout).toContain('\n Namespace: elsewhere\n');
    expect(r.stdout).toContain(`\n Namespaces: ${nsCount}\n`);
    expect(r.stdout).toMatch(/^ {2}io\.containerd\.grpc\.v1: .*\bnamespaces\b/m);
    // docker info's picture of the host and the daemon, from ctrd's SystemService.
    expect(r.stdout).toContain('\n Containers: 0\n  Running: 0\n  Paused: 0\n  Stopped: 0\n Images: 0\n');
    expect(r.stdout).toContain(`\n Kernel Version: ${os.release()}\n`);
    expect(r.stdout).toContain(`\n CPUs: ${os.availableParallelism()}\n`);
    expect(r.stdout).toContain(`\n Root Dir: ${d.root}\n`);
    expect(r.stdout).toMatch(/\n Cgroup Driver: cgroupfs\n Cgroup Version: [12]\n/);
    expect(r.stdout).toContain('\n Storage Driver: overlayfs\n');
    expect(r.stdout).toMatch(/\n Runtimes: .*\bio\.containerd\.runc\.v2\b/);
    const cgroup = fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? '2' : '1';
    expect((await d.ctrctl(['info', '--format', '{{.CgroupVersion}} {{.OSType}} {{.NCPU}}'])).stdout).toBe(`${cgroup} linux ${os.availableParallelism()}\n`);

    const json = await d.ctrctl(['info', '--format', 'json']);
    expect(json.code).toBe(0);
    const info = JSON.parse(json.stdout) as { ID: string; Namespace: string; Namespaces: number; Plugins: unknown[] };
    expect(info).toMatchObject({ ID: uuid, Namespace: 'default', ServerVersion: version, Namespaces: nsCount });
    expect(info.Plugins).toHaveLength(pluginCount);
    expect(info.Plugins).toContainEqual({ Type: 'io.containerd.grpc.v1', ID: 'events' });
  });

  it('namespace create, ls (with labels and -q), inspect and rm', async () => {
    const created = await d.ctrctl(['namespace', 'create', 'team-a', '--label', 'tier=gold', '--label', 'owner=alice']);
    expect(created.stderr).toBe('');
    expect(created).toMatchObject({ code: 0, stdout: 'team-a\n' });
    expect((await d.ctrctl(['ns', 'create', 'team-b'])).code).toBe(0);

    const again = await d.ctrctl(['namespace', 'create', 'team-a']);
    expect(again).toMatchObject({ code: 1, stdout: '', stderr: 'ctrctl: namespace "team-a": already exists\n' });

    const ls = await d.ctrctl(['namespace', 'ls']);
    expect(ls.code).toBe(0);
    const lines = ls.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME {3,}LABELS$/);
    expect(lines).toContainEqual(expect.stringMatching(/^team-a {3,}owner=alice,tier=gold$/));
    expect(lines).toContain('team-b');
    // The stock client reads the same labels back.
    expect((await d.ctr(['namespaces', 'ls'])).stdout).toMatch(/^team-a\s+owner=alice,tier=gold\s*$/m);

    const list = await d.ctrctl(['namespace', 'list', '-q']);
    expect(list.stdout.split('\n')).toEqual(expect.arrayContaining(['team-a', 'team-b']));
    expect(list.stdout).not.toContain('NAME');

    const inspect = await d.ctrctl(['namespace', 'inspect', 'team-a']);
    expect(inspect.code).toBe(0);
    expect(JSON.parse(inspect.stdout)).toEqual([{ Name: 'team-a', Labels: { owner: 'alice', tier: 'gold' } }]);

    const rm = await d.ctrctl(['namespace', 'rm', 'team-a', 'team-b']);
    expect(rm).toMatchObject({ code: 0, stdout: 'team-a\nteam-b\n', stderr: '' });
    const after = (await d.ctrctl(['namespace', 'ls', '-q'])).stdout.split('\n');
    expect(after).not.toContain('team-a');
    expect(after).not.toContain('team-b');
  });

  it('namespace rm of a missing namespace names it, goes on with the rest, and exits 1', async () => {
    expect((await d.ctrctl(['namespace', 'create', 'doomed'])).code).toBe(0);
    const r = await d.ctrctl(['namespace', 'rm', 'ghost', 'doomed']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('ctrctl: namespace "ghost": not found\n');
    expect(r.stdout).toBe('doomed\n');
    expect((await d.ctrctl(['namespace', 'ls', '-q'])).stdout.split('\n')).not.toContain('doomed');

    const inspect = await d.ctrctl(['namespace', 'inspect', 'ghost']);
    expect(inspect.code).toBe(1);
    expect(JSON.parse(inspect.stdout)).toEqual([]);
    expect(inspect.stderr).toContain('"ghost"');
  });

  it('namespace rm of a namespace that still holds a lease fails with the daemon\'s FailedPrecondition', async () => {
    // ctr's arguments to `leases create` are labels; it prints the new lease's generated id.
    const lease = await d.ctr(['-n', 'busy', 'leases', 'create', 'l1']);
    expect(lease.code).toBe(0);
    const leaseId = lease.stdout.trim();
    const direct = await unary(c.namespaces, c.namespaces.delete, { name: 'busy' }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(direct).toBeInstanceOf(CtrdError);
    expect((direct as CtrdError).kind).toBe('failed-precondition');

    const r = await d.ctrctl(['namespace', 'rm', 'busy']);
    expect(r).toMatchObject({ code: 1, stdout: '', stderr: `ctrctl: ${(direct as CtrdError).message}\n` });
    expect(r.stderr).toMatch(/namespace "busy" must be empty/);

    expect((await d.ctr(['-n', 'busy', 'leases', 'rm', leaseId])).code).toBe(0);
    expect((await d.ctrctl(['namespace', 'rm', 'busy'])).code).toBe(0);
  });

  it('events --format json prints a namespace create then delete, decoded, and exits 0 on SIGINT', async () => {
    const w = new EventsWatcher(d, ['--format', 'json']);
    // The probe has a type ctrctl does not know: it must come out as its type URL and base64 bytes.
    const probe = { typeUrl: 'ctrctl.test.Probe', value: Buffer.from('probe bytes') };
    const probeLine = await w.waitForLine(
      (l) => l.includes('/ctrctl-test/probe'),
      async () => void (await unary(c.events, c.events.publish, { topic: '/ctrctl-test/probe', event: probe })),
    );
    const parsed = JSON.parse(probeLine) as { timestamp: string };
    expect(parsed).toEqual({
      timestamp: expect.stringMatching(rfc3339),
      namespace: 'default',
      topic: '/ctrctl-test/probe',
      type: 'ctrctl.test.Probe',
      event: { '@type': 'ctrctl.test.Probe', value: probe.value.toString('base64') },
    });

    expect((await d.ctrctl(['namespace', 'create', 'ev-json', '--label', 'k=v'])).code).toBe(0);
    expect((await d.ctrctl(['namespace', 'rm', 'ev-json'])).code).toBe(0);
    await w.waitForLine((l) => l.includes('/namespaces/delete'));

    const events = w
      .lines()
      .map((l) => JSON.parse(l) as { timestamp: string; namespace: string; topic: string; type: string; event: unknown })
      .filter((e) => e.topic !== '/ctrctl-test/probe');
    expect(events).toEqual([
      {
        timestamp: expect.stringMatching(rfc3339),
        namespace: 'ev-json',
        topic: '/namespaces/create',
        type: 'containerd.events.NamespaceCreate',
        event: { name: 'ev-json', labels: { k: 'v' } },
      },
      {
        timestamp: expect.stringMatching(rfc3339),
        namespace: 'ev-json',
        topic: '/namespaces/delete',
        type: 'containerd.events.NamespaceDelete',
        event: { name: 'ev-json' },
      },
    ]);

    expect(await w.interrupt()).toBe(0);
    expect(w.stderr).toBe('');
  });

  it('events --filter topic==/namespaces/delete shows only deletes, in the default line format', async () => {
    const w = new EventsWatcher(d, ['--filter', 'topic==/namespaces/delete']);
    let n = 0;
    await w.waitForLine(
      (l) => / probe-\d+ \/namespaces\/delete /.test(l),
      async () => {
        const name = `probe-${n++}`;
        await unary(c.namespaces, c.namespaces.create, { namespace: { name, labels: {} } });
        await unary(c.namespaces, c.namespaces.delete, { name });
      },
    );

    expect((await d.ctrctl(['namespace', 'create', 'ev-filter'])).code).toBe(0);
    expect((await d.ctrctl(['namespace', 'rm', 'ev-filter'])).code).toBe(0);
    const line = await w.waitForLine((l) => l.includes(' ev-filter '));
    expect(line).toMatch(/^\S+ ev-filter \/namespaces\/delete \{"name":"ev-filter"\}$/);
    expect(line.split(' ')[0]).toMatch(rfc3339);

    expect(await w.interrupt()).toBe(0);
    const lines = w.lines();
    expect(lines.filter((l) => l.includes(' ev-filter '))).toHaveLength(1);
    for (const l of lines) expect(l).toMatch(/^\S+ (\S+) \/namespaces\/delete \{"name":"\1"\}$/);
    expect(w.stderr).toBe('');
  });

  it('events --since replays what the daemon kept, --until ends the stream, docker filters and --format fields', async () => {
    expect((await d.ctrctl(['namespace', 'create', 'ev-past'])).code).toBe(0);
    expect((await d.ctrctl(['namespace', 'rm', 'ev-past'])).code).toBe(0);
    const r = await d.ctrctl(['events', '--since', '1m', '--until', '0s', '--filter', 'type=namespace', '--format', '{{.Type}} {{.Action}} {{.Actor.ID}}'], { timeoutMs: 10_000 });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.filter((l) => l.endsWith(' ev-past'))).toEqual(['namespace create ev-past', 'namespace delete ev-past']);
    for (const l of lines) expect(l).toMatch(/^namespace /);
    const deletes = await d.ctrctl(['events', '--since', '1m', '--until', '0s', '--filter', 'event=delete', '--filter', 'topic==/namespaces/delete', '--format', 'json'], { timeoutMs: 10_000 });
    expect(deletes.code).toBe(0);
    const parsed = deletes.stdout.trim().split('\n').map((l) => JSON.parse(l) as { topic: string; event: { name: string } });
    expect(parsed.every((e) => e.topic === '/namespaces/delete')).toBe(true);
    expect(parsed.map((e) => e.event.name)).toContain('ev-past');
    // A future --until ends by itself when it comes, with nothing to show.
    const started = Date.now();
    const quiet = await d.ctrctl(['events', '--until', String((started + 1500) / 1000), '--filter', 'type=volume'], { timeoutMs: 10_000 });
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stdout).toBe('');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    for (const [args, message] of [
      [['--since', 'yesterday'], /invalid value for --since: "yesterday"/],
      [['--since', '0s', '--until', '1h'], /until is before since/],
      [['--filter', 'label=a=b'], /label filters are not supported/],
    ] as const) {
      const bad = await d.ctrctl(['events', ...args], { timeoutMs: 10_000 });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(message);
    }
  });

  it('events with a malformed filter exits 1 with the daemon\'s message', async () => {
    const r = await d.ctrctl(['events', '--filter', 'topic=/x'], { timeoutMs: 10_000 });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^ctrctl: filter "topic=\/x": .+\n$/);

    const unknown = await d.ctrctl(['events', '--filter', 'colour==red'], { timeoutMs: 10_000 });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown field "colour"/);
  });

  it('an unreachable address fails at once with a clear message and exit 1', async () => {
    const missing = join(d.dir, 'no-daemon.sock');
    const started = Date.now();
    const r = await d.ctrctl(['--address', missing, 'namespace', 'ls'], { timeoutMs: 10_000 });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toBe(`ctrctl: cannot connect to ctrd at ${missing}: is the daemon running?\n`);

    // From the environment, and to a path that is there but is no socket.
    const notASocket = join(d.dir, 'not-a-socket');
    writeFileSync(notASocket, '');
    const env = { ...process.env, CTRD_ADDRESS: notASocket };
    const viaEnv = await run(process.execPath, [ctrctlBin, 'events'], { env, timeoutMs: 10_000 });
    expect(viaEnv).toMatchObject({ code: 1, stdout: '' });
    expect(viaEnv.stderr).toBe(`ctrctl: cannot connect to ctrd at ${notASocket}: is the daemon running?\n`);

    // version still shows the client's half, as docker version does.
    const v = await d.ctrctl(['-a', missing, 'version'], { timeoutMs: 10_000 });
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/^Client:\n/);
    expect(v.stdout).not.toContain('Server:');
    expect(v.stderr).toContain('cannot connect to ctrd');
  });

  it('usage errors exit 2; --version exits 0', async () => {
    const missingArg = await d.ctrctl(['namespace', 'create']);
    expect(missingArg.code).toBe(2);
    expect(missingArg.stderr).toMatch(/missing required argument 'name'/);

    const badFormat = await d.ctrctl(['events', '--format', '{{.Type']);
    expect(badFormat.code).toBe(2);
    expect(badFormat.stderr).toMatch(/template parsing error: unclosed action/);

    const badLabel = await d.ctrctl(['namespace', 'create', 'x', '--label', '=v']);
    expect(badLabel.code).toBe(2);
    expect(badLabel.stderr).toMatch(/label key must not be empty/);

    expect((await d.ctrctl(['no-such-verb'])).code).toBe(2);
    // A near miss gets a suggestion, for verbs and flags alike.
    const typo = await d.ctrctl(['imags']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/unknown command 'imags'\n\(Did you mean one of image, images\?\)/);
    const flagTypo = await d.ctrctl(['ps', '--al']);
    expect(flagTypo.code).toBe(2);
    expect(flagTypo.stderr).toMatch(/unknown option '--al'\n\(Did you mean --all\?\)/);

    const v = await d.ctrctl(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(new RegExp(`^ctrctl version ${escape(ctrdVersion)}, build \\S+\\n$`));
  });
});
