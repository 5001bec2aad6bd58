// Pulling from a real registry (Debian's docker-registry on 127.0.0.1): the stock ctr, which pulls
// client-side through Content, Diff and Snapshots, and ctrd's own ImageService.Pull.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, Metadata } from '@grpc/grpc-js';
import { TestDaemon } from '../harness/daemon.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { pushBusybox, pushMultilayer, type PushedBusybox, type PushedImage } from '../harness/images.js';
import { ImageServiceClient, type PullResponse } from '../../gen/ctrd/services/images/v1/images.js';

function pull(d: TestDaemon, reference: string, opts: { snapshotter?: string; namespace?: string } = {}) {
  const client = new ImageServiceClient(`unix://${d.address}`, credentials.createInsecure());
  const md = new Metadata();
  md.set('containerd-namespace', opts.namespace ?? 'default');
  const call = client.pull(
    { reference, platform: '', snapshotter: opts.snapshotter ?? '', auth: undefined },
    md,
  );
  return new Promise<PullResponse[]>((resolve, reject) => {
    const out: PullResponse[] = [];
    call.on('data', (r: PullResponse) => out.push(r));
    call.on('error', (e) => {
      client.close();
      reject(e);
    });
    call.on('end', () => {
      client.close();
      resolve(out);
    });
  });
}

describe('pull', () => {
  let reg: TestRegistry;
  let d: TestDaemon;
  let busybox: PushedBusybox;
  let multi: PushedImage;

  beforeAll(async () => {
    reg = await startRegistry();
    [busybox, multi] = await Promise.all([pushBusybox(reg), pushMultilayer(reg)]);
    d = await new TestDaemon().start();
  }, 120_000);
  afterAll(async () => {
    await d?.cleanup();
    await reg?.stop();
  });

  it('stock ctr pulls and unpacks through ctrd', async () => {
    const r = await d.ctr(['images', 'pull', '--plain-http', busybox.latest.ref], { timeoutMs: 60_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const ls = await d.ctr(['images', 'ls']);
    expect(ls.stdout).toContain(busybox.latest.ref);
    const snaps = await d.ctr(['snapshots', 'ls']);
    expect(snaps.stdout).toContain(busybox.latest.layers[0]!.diffId);
  });

  it('ctrd pulls the multi-layer image itself, streaming progress, and ends with the image', async () => {
    const msgs = await pull(d, multi.ref);
    const last = msgs[msgs.length - 1]!;
    expect(last.image?.name).toBe(multi.ref);
    expect(last.image?.id).toBe(multi.config.digest);
    expect(msgs.some((m) => m.progress?.blobs.some((b) => b.kind === 'layer'))).toBe(true);
    const snaps = await d.ctr(['snapshots', 'ls']);
    expect(snaps.stdout).toContain(multi.layers[0]!.diffId);
  });
});
