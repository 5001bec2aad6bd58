import { describe, expect, it } from 'vitest';
import { Metrics as V1Metrics } from '../../gen/io/containerd/cgroups/v1/metrics.js';
import { Metrics as V2Metrics } from '../../gen/io/containerd/cgroups/v2/metrics.js';
import { sample } from './monitor.js';

const any = (typeUrl: string, bytes: Uint8Array) => ({ typeUrl, value: Buffer.from(bytes) });
// No such process: the network part reads as zero.
const nopid = 0x7fffffff;

describe('stats sample', () => {
  it('reads cgroup v1 metrics: cpu total, memory less inactive file, limit, pids, blkio by op', () => {
    const m = V1Metrics.fromPartial({
      cpu: { usage: { total: 5_000_000 } },
      memory: { usage: { usage: 10 << 20, limit: 64 << 20 }, totalInactiveFile: 2 << 20 },
      pids: { current: 3, limit: 20 },
      blkio: {
        ioServiceBytesRecursive: [
          { op: 'Read', major: 8, minor: 0, value: 4096, device: '' },
          { op: 'Write', major: 8, minor: 0, value: 512, device: '' },
          { op: 'Read', major: 8, minor: 16, value: 4096, device: '' },
        ],
      },
    });
    const s = sample(any('io.containerd.cgroups.v1.Metrics', V1Metrics.encode(m).finish()), nopid, 1);
    expect(s).toEqual({ at: 1, netRx: 0, netTx: 0, cpuNs: 5_000_000, memUsage: 8 << 20, memLimit: 64 << 20, pids: 3, blkRead: 8192, blkWrite: 512 });
  });

  it('reads cgroup v2 metrics: usec to ns, no limit as Infinity, io.stat bytes', () => {
    const m = V2Metrics.fromPartial({
      cpu: { usageUsec: 7 },
      memory: { usage: 3 << 20, usageLimit: 0, inactiveFile: 1 << 20 },
      pids: { current: 1 },
      io: { usage: [{ major: 8, minor: 0, rbytes: 100, wbytes: 200, rios: 1, wios: 2 }] },
    });
    const s = sample(any('io.containerd.cgroups.v2.Metrics', V2Metrics.encode(m).finish()), nopid, 2);
    expect(s).toEqual({ at: 2, netRx: 0, netTx: 0, cpuNs: 7000, memUsage: 2 << 20, memLimit: Infinity, pids: 1, blkRead: 100, blkWrite: 200 });
  });

  it('reads nothing from a task that reported no metrics', () => {
    expect(sample(undefined, nopid, 3)).toMatchObject({ cpuNs: 0, memUsage: 0, pids: 0 });
  });
});
