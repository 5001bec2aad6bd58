// A container's cgroup statistics as containerd's cgroups library reports them: io.containerd.cgroups.v1
// .Metrics on cgroup v1 hosts (one hierarchy per controller under /sys/fs/cgroup/<controller>), and
// io.containerd.cgroups.v2.Metrics when /sys/fs/cgroup is cgroup2. The path is the spec's
// linux.cgroupsPath. A missing controller or file leaves its part of the message out.
import fs from 'node:fs';
import path from 'node:path';
import { Metrics as V1Metrics, type BlkIOEntry, type MemoryEntry } from '../../gen/io/containerd/cgroups/v1/metrics.js';
import { Metrics as V2Metrics, type IOEntry } from '../../gen/io/containerd/cgroups/v2/metrics.js';
import type { Any } from '../../gen/google/protobuf/any.js';
import { cgroupRoot, isCgroup2, parseKeyValues } from './paths.js';

export { parseKeyValues };

function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** A file holding one counter ("max" is 0, as containerd reports no limit); uint64, so a bigint. */
function readUint(file: string): bigint | undefined {
  const text = read(file)?.trim();
  if (text === undefined || text === '') return undefined;
  if (text === 'max') return 0n;
  return /^\d+$/.test(text) ? BigInt(text) : undefined;
}

/** blkio files: "8:0 Read 4096" lines; the "Total" line is dropped. */
export function parseBlkio(text: string | undefined): BlkIOEntry[] {
  const out: BlkIOEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.trim().split(/\s+/);
    const dev = /^(\d+):(\d+)$/.exec(f[0] ?? '');
    if (!dev) continue;
    const op = f.length === 3 ? f[1]! : '';
    const value = f[f.length - 1]!;
    if (!/^\d+$/.test(value)) continue;
    out.push({ op, device: '', major: BigInt(dev[1]!), minor: BigInt(dev[2]!), value: BigInt(value) });
  }
  return out;
}

/** The USER_HZ of cpuacct.stat: 100 on every Linux architecture containerd supports. */
const nanosPerTick = 10_000_000n;

export function v1Metrics(cgroupsPath: string, root = cgroupRoot): V1Metrics {
  const dir = (controller: string) => path.join(root, controller, cgroupsPath);
  const m = V1Metrics.fromPartial({});

  const pidsCurrent = readUint(path.join(dir('pids'), 'pids.current'));
  if (pidsCurrent !== undefined) m.pids = { current: pidsCurrent, limit: readUint(path.join(dir('pids'), 'pids.max')) ?? 0n };

  const total = readUint(path.join(dir('cpuacct'), 'cpuacct.usage'));
  if (total !== undefined) {
    const stat = parseKeyValues(read(path.join(dir('cpuacct'), 'cpuacct.stat')));
    const perCpu = (read(path.join(dir('cpuacct'), 'cpuacct.usage_percpu')) ?? '').trim().split(/\s+/).filter((s) => /^\d+$/.test(s)).map(BigInt);
    const throttle = parseKeyValues(read(path.join(dir('cpu'), 'cpu.stat')));
    m.cpu = {
      usage: { total, kernel: (stat.get('system') ?? 0n) * nanosPerTick, user: (stat.get('user') ?? 0n) * nanosPerTick, perCpu },
      throttling: { periods: throttle.get('nr_periods') ?? 0n, throttledPeriods: throttle.get('nr_throttled') ?? 0n, throttledTime: throttle.get('throttled_time') ?? 0n },
    };
  }

  const mem = dir('memory');
  const memStat = read(path.join(mem, 'memory.stat'));
  if (memStat !== undefined) {
    const s = parseKeyValues(memStat);
    const g = (k: string) => s.get(k) ?? 0n;
    const entry = (prefix: string): MemoryEntry => ({
      usage: readUint(path.join(mem, `${prefix}usage_in_bytes`)) ?? 0n,
      limit: readUint(path.join(mem, `${prefix}limit_in_bytes`)) ?? 0n,
      max: readUint(path.join(mem, `${prefix}max_usage_in_bytes`)) ?? 0n,
      failcnt: readUint(path.join(mem, `${prefix}failcnt`)) ?? 0n,
    });
    const both = (name: string) => [g(name), g(`total_${name}`)] as const;
    const [cache, totalCache] = both('cache');
    const [rss, totalRss] = both('rss');
    const [rssHuge, totalRssHuge] = both('rss_huge');
    const [mappedFile, totalMappedFile] = both('mapped_file');
    const [dirty, totalDirty] = both('dirty');
    const [writeback, totalWriteback] = both('writeback');
    const [pgPgIn, totalPgPgIn] = both('pgpgin');
    const [pgPgOut, totalPgPgOut] = both('pgpgout');
    const [pgFault, totalPgFault] = both('pgfault');
    const [pgMajFault, totalPgMajFault] = both('pgmajfault');
    const [inactiveAnon, totalInactiveAnon] = both('inactive_anon');
    const [activeAnon, totalActiveAnon] = both('active_anon');
    const [inactiveFile, totalInactiveFile] = both('inactive_file');
    const [activeFile, totalActiveFile] = both('active_file');
    const [unevictable, totalUnevictable] = both('unevictable');
    m.memory = {
      cache, rss, rssHuge, mappedFile, dirty, writeback, pgPgIn, pgPgOut, pgFault, pgMajFault,
      inactiveAnon, activeAnon, inactiveFile, activeFile, unevictable,
      hierarchicalMemoryLimit: g('hierarchical_memory_limit'),
      hierarchicalSwapLimit: g('hierarchical_memsw_limit'),
      totalCache, totalRss, totalRssHuge, totalMappedFile, totalDirty, totalWriteback, totalPgPgIn, totalPgPgOut,
      totalPgFault, totalPgMajFault, totalInactiveAnon, totalActiveAnon, totalInactiveFile, totalActiveFile, totalUnevictable,
      usage: entry('memory.'),
      swap: entry('memory.memsw.'),
      kernel: entry('memory.kmem.'),
      kernelTcp: entry('memory.kmem.tcp.'),
    };
    const oom = parseKeyValues(read(path.join(mem, 'memory.oom_control')));
    m.memoryOomControl = { oomKillDisable: oom.get('oom_kill_disable') ?? 0n, underOom: oom.get('under_oom') ?? 0n, oomKill: oom.get('oom_kill') ?? 0n };
  }

  const blk = dir('blkio');
  if (fs.existsSync(blk)) {
    const recursive = (name: string) => parseBlkio(read(path.join(blk, `blkio.${name}_recursive`)));
    let serviceBytes = recursive('io_service_bytes');
    let serviced = recursive('io_serviced');
    // Without CFQ/BFQ the recursive files are empty: the throttle counters are what there is (as containerd).
    if (serviceBytes.length === 0 && serviced.length === 0) {
      serviceBytes = parseBlkio(read(path.join(blk, 'blkio.throttle.io_service_bytes')));
      serviced = parseBlkio(read(path.join(blk, 'blkio.throttle.io_serviced')));
    }
    m.blkio = {
      ioServiceBytesRecursive: serviceBytes,
      ioServicedRecursive: serviced,
      ioQueuedRecursive: recursive('io_queued'),
      ioServiceTimeRecursive: recursive('io_service_time'),
      ioWaitTimeRecursive: recursive('io_wait_time'),
      ioMergedRecursive: recursive('io_merged'),
      ioTimeRecursive: parseBlkio(read(path.join(blk, 'blkio.time_recursive'))),
      sectorsRecursive: parseBlkio(read(path.join(blk, 'blkio.sectors_recursive'))),
    };
  }
  return m;
}

export function v2Metrics(cgroupsPath: string, root = cgroupRoot): V2Metrics {
  const dir = path.join(root, cgroupsPath);
  const m = V2Metrics.fromPartial({});
  const pidsCurrent = readUint(path.join(dir, 'pids.current'));
  if (pidsCurrent !== undefined) m.pids = { current: pidsCurrent, limit: readUint(path.join(dir, 'pids.max')) ?? 0n };
  const cpu = parseKeyValues(read(path.join(dir, 'cpu.stat')));
  if (cpu.size > 0) {
    m.cpu = {
      usageUsec: cpu.get('usage_usec') ?? 0n,
      userUsec: cpu.get('user_usec') ?? 0n,
      systemUsec: cpu.get('system_usec') ?? 0n,
      nrPeriods: cpu.get('nr_periods') ?? 0n,
      nrThrottled: cpu.get('nr_throttled') ?? 0n,
      throttledUsec: cpu.get('throttled_usec') ?? 0n,
    };
  }
  const memText = read(path.join(dir, 'memory.stat'));
  if (memText !== undefined) {
    const s = parseKeyValues(memText);
    const g = (k: string) => s.get(k) ?? 0n;
    m.memory = {
      anon: g('anon'), file: g('file'), kernelStack: g('kernel_stack'), slab: g('slab'), sock: g('sock'), shmem: g('shmem'),
      fileMapped: g('file_mapped'), fileDirty: g('file_dirty'), fileWriteback: g('file_writeback'), anonThp: g('anon_thp'),
      inactiveAnon: g('inactive_anon'), activeAnon: g('active_anon'), inactiveFile: g('inactive_file'), activeFile: g('active_file'),
      unevictable: g('unevictable'), slabReclaimable: g('slab_reclaimable'), slabUnreclaimable: g('slab_unreclaimable'),
      pgfault: g('pgfault'), pgmajfault: g('pgmajfault'), workingsetRefault: g('workingset_refault'),
      workingsetActivate: g('workingset_activate'), workingsetNodereclaim: g('workingset_nodereclaim'), pgrefill: g('pgrefill'),
      pgscan: g('pgscan'), pgsteal: g('pgsteal'), pgactivate: g('pgactivate'), pgdeactivate: g('pgdeactivate'),
      pglazyfree: g('pglazyfree'), pglazyfreed: g('pglazyfreed'), thpFaultAlloc: g('thp_fault_alloc'),
      thpCollapseAlloc: g('thp_collapse_alloc'),
      usage: readUint(path.join(dir, 'memory.current')) ?? 0n,
      usageLimit: readUint(path.join(dir, 'memory.max')) ?? 0n,
      swapUsage: readUint(path.join(dir, 'memory.swap.current')) ?? 0n,
      swapLimit: readUint(path.join(dir, 'memory.swap.max')) ?? 0n,
    };
  }
  const events = parseKeyValues(read(path.join(dir, 'memory.events')));
  if (events.size > 0) {
    m.memoryEvents = { low: events.get('low') ?? 0n, high: events.get('high') ?? 0n, max: events.get('max') ?? 0n, oom: events.get('oom') ?? 0n, oomKill: events.get('oom_kill') ?? 0n };
  }
  const io: IOEntry[] = [];
  for (const line of (read(path.join(dir, 'io.stat')) ?? '').split('\n')) {
    const f = line.trim().split(/\s+/);
    const dev = /^(\d+):(\d+)$/.exec(f[0] ?? '');
    if (!dev) continue;
    const kv = new Map(f.slice(1).map((p) => p.split('=') as [string, string]));
    const n = (k: string) => (/^\d+$/.test(kv.get(k) ?? '') ? BigInt(kv.get(k)!) : 0n);
    io.push({ major: BigInt(dev[1]!), minor: BigInt(dev[2]!), rbytes: n('rbytes'), wbytes: n('wbytes'), rios: n('rios'), wios: n('wios') });
  }
  if (io.length > 0) m.io = { usage: io };
  return m;
}

/** The Stats answer: the metrics of the container's cgroup as an Any, v1 or v2 as the host runs. */
export function cgroupMetrics(cgroupsPath: string): Any {
  if (isCgroup2()) {
    return { typeUrl: 'io.containerd.cgroups.v2.Metrics', value: Buffer.from(V2Metrics.encode(v2Metrics(cgroupsPath)).finish()) };
  }
  return { typeUrl: 'io.containerd.cgroups.v1.Metrics', value: Buffer.from(V1Metrics.encode(v1Metrics(cgroupsPath)).finish()) };
}
