import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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
    expect(parseKeyValues('cache 10\nrss 20\n\nbogus x\n')).toEqual(new Map([['cache', 10], ['rss', 20]]));
    expect(parseBlkio('8:0 Read 4096\n8:0 Write 0\nTotal 4096\n')).toEqual([
      { op: 'Read', device: '', major: 8, minor: 0, value: 4096 },
      { op: 'Write', device: '', major: 8, minor: 0, value: 0 },
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
    expect(m.pids).toEqual({ current: 3, limit: 0 });
    expect(m.cpu).toEqual({ usage: { total: 5000, kernel: 10_000_000, user: 20_000_000, perCpu: [3000, 2000] }, throttling: { periods: 4, throttledPeriods: 1, throttledTime: 99 } });
    expect(m.memory).toMatchObject({ cache: 100, rss: 200, pgPgIn: 7, totalRss: 250, hierarchicalMemoryLimit: 1024, usage: { usage: 4096, max: 8192, failcnt: 0 } });
    expect(m.memory!.usage!.limit).toBe(9223372036854771712);
    expect(m.memoryOomControl).toEqual({ oomKillDisable: 0, underOom: 0, oomKill: 2 });
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
    expect(m.pids).toEqual({ current: 1, limit: 100 });
    expect(m.cpu).toMatchObject({ usageUsec: 10, userUsec: 6, systemUsec: 4 });
    expect(m.memory).toMatchObject({ anon: 4096, file: 8192, pgfault: 3, usage: 12288, usageLimit: 0 });
    expect(m.memoryEvents).toEqual({ low: 0, high: 0, max: 1, oom: 1, oomKill: 1 });
    expect(m.io).toEqual({ usage: [{ major: 8, minor: 0, rbytes: 10, wbytes: 20, rios: 1, wios: 2 }] });
    expect(V2Metrics.decode(V2Metrics.encode(m).finish())).toEqual(m);
  });
});
