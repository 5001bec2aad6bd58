import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Metrics as V1Metrics } from '../../gen/io/containerd/cgroups/v1/metrics.js';
import { Metrics as V2Metrics } from '../../gen/io/containerd/cgroups/v2/metrics.js';
import { parseBlkio, parseKeyValues, v1Metrics, v2Metrics } from './metrics.js';

let root: string;
beforeEach(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrd-cg-'))));
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

function files(dir: string, entries: Record<string, string>): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(entries)) fs.writeFileSync(path.join(dir, name), text);
}

describe('cgroup metrics', () => {
  it('parses key/value and blkio files', () => {
    expect(parseKeyValues('cache 10\nrss 20\n\nbogus x\n')).toEqual(new Map([['cache', 10n], ['rss', 20n]]));
    expect(parseBlkio('8:0 Read 4096\n8:0 Write 0\nTotal 4096\n')).toEqual([
      { op: 'Read', device: '', major: 8n, minor: 0n, value: 4096n },
      { op: 'Write', device: '', major: 8n, minor: 0n, value: 0n },
    ]);
  });

  it('reads a v1 cgroup as io.containerd.cgroups.v1.Metrics', () => {
    const p = '/default/c1';
    files(path.join(root, 'pids', p), { 'pids.current': '3\n', 'pids.max': 'max\n' });
    files(path.join(root, 'cpuacct', p), { 'cpuacct.usage': '5000\n', 'cpuacct.usage_percpu': '3000 2000 \n', 'cpuacct.stat': 'user 2\nsystem 1\n' });
    files(path.join(root, 'cpu', p), { 'cpu.stat': 'nr_periods 4\nnr_throttled 1\nthrottled_time 99\n' });
    files(path.join(root, 'memory', p), {
      'memory.stat': 'cache 100\nrss 200\npgpgin 7\ntotal_rss 250\nhierarchical_memory_limit 1024\n',
      'memory.usage_in_bytes': '4096\n',
      'memory.limit_in_bytes': '9223372036854771712\n',
      'memory.max_usage_in_bytes': '8192\n',
      'memory.failcnt': '0\n',
      'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
    });
    const m = v1Metrics(p, root);
    expect(m.pids).toEqual({ current: 3n, limit: 0n });
    expect(m.cpu).toEqual({ usage: { total: 5000n, kernel: 10_000_000n, user: 20_000_000n, perCpu: [3000n, 2000n] }, throttling: { periods: 4n, throttledPeriods: 1n, throttledTime: 99n } });
    expect(m.memory).toMatchObject({ cache: 100n, rss: 200n, pgPgIn: 7n, totalRss: 250n, hierarchicalMemoryLimit: 1024n, usage: { usage: 4096n, max: 8192n, failcnt: 0n } });
    expect(m.memory!.usage!.limit).toBe(9223372036854771712n);
    // "No limit" is past 2^53: it survives the wire exactly, as bigint.
    expect(V1Metrics.decode(V1Metrics.encode(m).finish()).memory?.usage?.limit).toBe(9223372036854771712n);
    expect(m.memoryOomControl).toEqual({ oomKillDisable: 0n, underOom: 0n, oomKill: 2n });
    expect(m.blkio).toBeUndefined();
  });

  it('reads a v2 cgroup as io.containerd.cgroups.v2.Metrics and encodes it', () => {
    const p = '/default/c2';
    files(path.join(root, p), {
      'pids.current': '1\n',
      'pids.max': '100\n',
      'cpu.stat': 'usage_usec 10\nuser_usec 6\nsystem_usec 4\n',
      'memory.stat': 'anon 4096\nfile 8192\npgfault 3\n',
      'memory.current': '12288\n',
      'memory.max': 'max\n',
      'memory.events': 'low 0\nhigh 0\nmax 1\noom 1\noom_kill 1\n',
      'io.stat': '8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n',
    });
    const m = v2Metrics(p, root);
    expect(m.pids).toEqual({ current: 1n, limit: 100n });
    expect(m.cpu).toMatchObject({ usageUsec: 10n, userUsec: 6n, systemUsec: 4n });
    expect(m.memory).toMatchObject({ anon: 4096n, file: 8192n, pgfault: 3n, usage: 12288n, usageLimit: 0n });
    expect(m.memoryEvents).toEqual({ low: 0n, high: 0n, max: 1n, oom: 1n, oomKill: 1n });
    expect(m.io).toEqual({ usage: [{ major: 8n, minor: 0n, rbytes: 10n, wbytes: 20n, rios: 1n, wios: 2n }] });
    expect(V2Metrics.decode(V2Metrics.encode(m).finish())).toEqual(m);
  });
});
