// The stock containerd client (`ctr` from Debian's containerd package) driving a real ctrd.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon, type CtrEvents } from '../harness/daemon.js';
import { writeRandomFile } from '../harness/files.js';
import { unary } from '../../lib/grpc/client.js';
import { version } from '../../lib/version.js';

describe('stock ctr against ctrd', () => {
  let d: TestDaemon;
  let events: CtrEvents;

  beforeAll(async () => {
    d = await new TestDaemon().start();
    // `ctr events` runs through the whole file and must print the events of every call below.
    events = await d.ctrEvents();
  });

  afterAll(async () => {
    await events.stop();
    await d.cleanup();
  });

  it('ctr version shows the server version and UUID of ctrd', async () => {
    const r = await d.ctr(['version']);
    expect(r.code).toBe(0);
    const server = r.stdout.slice(r.stdout.indexOf('Server:'));
    expect(server).toMatch(new RegExp(`Version:\\s+${version.replace(/[.+]/g, '\\$&')}\\n`));
    const c = d.clients();
    const { uuid } = await unary(c.introspection, c.introspection.server, {});
    c.close();
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(server).toContain(`UUID: ${uuid}`);
  });

  it('ctr namespaces create, ls, label and rm', async () => {
    expect((await d.ctr(['namespaces', 'create', 'team-a', 'owner=alice'])).code).toBe(0);
    expect((await d.ctr(['namespaces', 'label', 'team-a', 'tier=gold'])).code).toBe(0);
    let ls = await d.ctr(['namespaces', 'ls']);
    expect(ls.code).toBe(0);
    const line = ls.stdout.split('\n').find((l) => l.startsWith('team-a'));
    expect(line).toBeDefined();
    expect(line).toMatch(/owner=alice/);
    expect(line).toMatch(/tier=gold/);
    const again = await d.ctr(['namespaces', 'create', 'team-a']);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/team-a.*already exists/);
    expect((await d.ctr(['namespaces', 'rm', 'team-a'])).stdout.trim()).toBe('team-a');
    ls = await d.ctr(['namespaces', 'ls', '-q']);
    expect(ls.stdout.split('\n')).not.toContain('team-a');
  });

  it('ctr content ingest of 100 MiB, then ls, get (same bytes) and rm', async () => {
    const file = join(d.dir, 'blob-100m');
    const size = 100 * 1024 * 1024;
    const digest = writeRandomFile(file, size);
    const ingest = await d.ctr(
      ['content', 'ingest', '--expected-size', String(size), '--expected-digest', digest, 'ingest-100m'],
      { stdinFile: file, timeoutMs: 120_000 },
    );
    expect(ingest.stderr).toBe('');
    expect(ingest.code).toBe(0);

    const ls = await d.ctr(['content', 'ls']);
    expect(ls.stdout).toContain(digest);
    expect(ls.stdout).toMatch(/104\.9\s?MB/);

    const get = await new Promise<string>((resolve, reject) => {
      const child = spawn('ctr', ['-a', d.address, 'content', 'get', digest], { stdio: ['ignore', 'pipe', 'inherit'] });
      const hash = sha256Stream();
      child.stdout!.on('data', (b: Buffer) => hash.update(b));
      child.once('error', reject);
      child.once('close', (code) => (code === 0 ? resolve(hash.hex()) : reject(new Error(`ctr content get exited ${code}`))));
    });
    expect(`sha256:${get}`).toBe(digest);

    expect((await d.ctr(['content', 'rm', digest])).code).toBe(0);
    expect((await d.ctr(['content', 'ls', '-q'])).stdout).not.toContain(digest);
    // Nothing references the blob any more: its file is gone too, and no ingest is left.
    const blobs = join(d.root, 'io.containerd.content.v1.content', 'blobs', 'sha256');
    expect(readdirSync(blobs)).not.toContain(digest.slice(7));
    expect(readdirSync(join(d.root, 'io.containerd.content.v1.content', 'ingest'))).toEqual([]);
  });

  it('ctr leases create, ls and rm', async () => {
    const create = await d.ctr(['leases', 'create', '--id', 'lease-1', '--expires', '1h']);
    expect(create.code).toBe(0);
    expect(create.stdout.trim()).toBe('lease-1');
    const random = await d.ctr(['leases', 'create']);
    expect(random.code).toBe(0);
    const randomId = random.stdout.trim();
    expect(randomId).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]*$/);
    const ls = await d.ctr(['leases', 'ls']);
    expect(ls.stdout).toMatch(/lease-1\s+.*containerd\.io\/gc\.expire=/);
    expect(ls.stdout).toContain(randomId);
    expect((await d.ctr(['leases', 'rm', 'lease-1', randomId])).code).toBe(0);
    const after = await d.ctr(['leases', 'ls', '-q']);
    expect(after.stdout.trim()).toBe('');
    const missing = await d.ctr(['leases', 'rm', 'lease-1']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/lease-1.*not found/);
  });

  it('ctr events printed the events of the calls above', async () => {
    const want = [
      ['team-a', '/namespaces/create', '"name":"team-a"'],
      ['team-a', '/namespaces/update', '"tier":"gold"'],
      ['team-a', '/namespaces/delete', '"name":"team-a"'],
      ['default', '/content/delete', '"digest":"sha256:'],
    ];
    await waitUntil(() => want.every(([, topic]) => events.text().includes(topic!)));
    const lines = events.text().split('\n');
    let last = -1;
    for (const [ns, topic, payload] of want) {
      const i = lines.findIndex((l) => l.includes(` ${ns} ${topic} `) && l.includes(payload!));
      expect(i, `${topic} in:\n${events.text()}`).toBeGreaterThan(last);
      last = i;
    }
  });
});

async function waitUntil(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
}

function sha256Stream() {
  const h = createHash('sha256');
  return { update: (b: Buffer) => h.update(b), hex: () => h.digest('hex') };
}
