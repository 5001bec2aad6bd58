// A daemon killed with SIGKILL in the middle of a 100 MiB ingest: after a restart the ingest is still
// there, and finishing it with the stock ctr gives the right blob.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TestDaemon, waitFor } from '../harness/daemon.js';
import { writeRandomFile } from '../harness/files.js';
import { unary } from '../../lib/grpc/client.js';

describe('ingest across a daemon crash', () => {
  const d = new TestDaemon();
  afterAll(() => d.cleanup());

  it('resumes a 100 MiB ingest after kill -9 of the daemon', async () => {
    await d.start();
    const file = join(d.dir, 'blob');
    const size = 100 * 1024 * 1024;
    const digest = writeRandomFile(file, size);
    const ref = 'crash-ingest';

    // Feed ctr the first 40 MiB through a pipe that stays open, so the ingest is mid-way when we crash.
    const ctr = spawn('ctr', ['-a', d.address, 'content', 'ingest', '--expected-size', String(size), '--expected-digest', digest, ref], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    ctr.stdin!.on('error', () => {});
    createReadStream(file, { end: 40 * 1024 * 1024 - 1 }).pipe(ctr.stdin!, { end: false });
    const c = d.clients();
    await waitFor('the ingest to pass 30 MiB', async () => {
      const { statuses } = await unary(c.content, c.content.listStatuses, { filters: [] });
      return statuses.some((s) => s.ref === ref && s.offset >= 30 * 1024 * 1024);
    }, 120_000);
    c.close();
    await d.kill9();
    ctr.kill('SIGKILL');
    await new Promise((r) => ctr.once('close', r));

    await d.start();
    const active = await d.ctr(['content', 'active']);
    expect(active.code).toBe(0);
    const line = active.stdout.split('\n').find((l) => l.startsWith(ref));
    expect(line, active.stdout).toBeDefined();
    const c2 = d.clients();
    const { status } = await unary(c2.content, c2.content.status, { ref });
    c2.close();
    expect(status!.offset).toBeGreaterThanOrEqual(30 * 1024 * 1024);
    expect(status!.expected).toBe(digest);
    expect(status!.total).toBe(size);

    const finish = await d.ctr(['content', 'ingest', '--expected-size', String(size), '--expected-digest', digest, ref], {
      stdinFile: file,
      timeoutMs: 120_000,
    });
    expect(finish.stderr).toBe('');
    expect(finish.code).toBe(0);
    expect((await d.ctr(['content', 'ls', '-q'])).stdout.split('\n')).toContain(digest);
    expect((await d.ctr(['content', 'active'])).stdout).not.toContain(ref);
    // The committed blob's bytes are the file's bytes.
    const c3 = d.clients();
    const hash = createHash('sha256');
    for await (const r of c3.content.read({ digest, offset: 0, size: 0 })) hash.update((r as { data: Buffer }).data);
    c3.close();
    expect(`sha256:${hash.digest('hex')}`).toBe(digest);
  }, 180_000);
});
