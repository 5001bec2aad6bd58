// kill -9 of the daemon in the middle of pulling a 150 MiB image: after a restart the pull resumes from the
// ingests it left, the result is right, and garbage collection leaves no orphan behind.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon, waitFor } from '../harness/daemon.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { pushBig, type PushedImage } from '../harness/images.js';
import { startThrottleProxy, type ThrottleProxy } from '../harness/throttle-proxy.js';
import { pullImage } from '../harness/pull.js';
import { unary } from '../../lib/grpc/client.js';
import { BlobState } from '../../gen/ctrd/services/images/v1/images.js';

describe('pull across a daemon crash', () => {
  let reg: TestRegistry;
  let proxy: ThrottleProxy;
  let big: PushedImage;
  const d = new TestDaemon();

  beforeAll(async () => {
    reg = await startRegistry();
    big = await pushBig(reg);
    const [host, port] = reg.host.split(':');
    proxy = await startThrottleProxy({ host: host!, port: Number(port) }, 40 * 1024 * 1024);
  }, 180_000);
  afterAll(async () => {
    await d.cleanup();
    await proxy?.stop();
    await reg?.stop();
  });

  it('resumes after kill -9 and leaves no orphans', async () => {
    await d.start();
    const slowRef = big.ref.replace(reg.host, proxy.host);
    const first = pullImage(d.address, slowRef);
    const c = d.clients();
    await waitFor('the layer downloads to be under way', async () => {
      const { statuses } = await unary(c.content, c.content.listStatuses, { filters: [] });
      return statuses.filter((s) => s.ref.startsWith('layer-') && s.offset > 4 * 1024 * 1024).length > 0;
    }, 60_000);
    c.close();
    await d.kill9();
    expect((await first).error).toBeDefined(); // the stream broke with the daemon

    await d.start();
    const c2 = d.clients();
    const { statuses } = await unary(c2.content, c2.content.listStatuses, { filters: [] });
    const partial = statuses.filter((s) => s.ref.startsWith('layer-') && s.offset > 0 && s.offset < s.total);
    expect(partial.length).toBeGreaterThan(0);

    // Straight from the registry this time; the partial layers resume from their offsets.
    const second = await pullImage(d.address, big.ref);
    expect(second.error).toBeUndefined();
    const image = second.messages[second.messages.length - 1]!.image!;
    expect(image.id).toBe(big.config.digest);
    // Each partial layer's download started where its ingest had stopped, not at 0.
    const seen = second.messages.flatMap((m) => m.progress?.blobs ?? []);
    for (const p of partial) {
      const firstDownload = seen.find((b) => b.descriptor?.digest === p.expected && b.state === BlobState.BLOB_STATE_DOWNLOADING);
      expect(firstDownload, p.ref).toBeDefined();
      expect(firstDownload!.offset).toBeGreaterThanOrEqual(p.offset);
    }

    // Collect now, then count: every blob on disk has its row, every snapshot its row, no ingest, no lease.
    await unary(c2.leases, c2.leases.create, { id: 'gc-now', labels: {} });
    await unary(c2.leases, c2.leases.delete, { id: 'gc-now', sync: true });
    const blobs = readdirSync(join(d.root, 'io.containerd.content.v1.content', 'blobs', 'sha256')).map((h) => `sha256:${h}`).sort();
    const rows = (await d.ctr(['content', 'ls', '-q'])).stdout.trim().split('\n').sort();
    expect(blobs).toEqual(rows);
    expect(blobs).toHaveLength(2 + big.layers.length);
    expect(readdirSync(join(d.root, 'io.containerd.content.v1.content', 'ingest'))).toEqual([]);
    const { leases } = await unary(c2.leases, c2.leases.list, { filters: [] });
    expect(leases).toEqual([]);
    const snapshots = (await d.ctr(['snapshots', 'ls'])).stdout.trim().split('\n').slice(1);
    expect(snapshots).toHaveLength(big.layers.length);
    expect(readdirSync(join(d.root, 'io.containerd.snapshotter.v1.overlayfs', 'snapshots'))).toHaveLength(big.layers.length);
    c2.close();
  });
});
