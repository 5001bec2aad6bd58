// OOM kills in a container's cgroup, as containerd's shims watch for them: on v1 an eventfd registered
// for memory.oom_control through cgroup.event_control (the kernel signals it on OOM and when the cgroup
// goes); on v2 changes of memory.events whose oom_kill count grew.
import fs from 'node:fs';
import path from 'node:path';
import { native } from '../../lib/native.js';
import type { ShimLogger } from '../log.js';
import { cgroupRoot, isCgroup2, parseKeyValues } from './paths.js';

export interface OomWatcher {
  close(): void;
}

function oomKills(file: string): number {
  try {
    return Number(parseKeyValues(fs.readFileSync(file, 'utf8')).get('oom_kill') ?? 0n);
  } catch {
    return -1;
  }
}

export function watchOom(cgroupsPath: string, onOom: () => void, log: ShimLogger): OomWatcher | undefined {
  try {
    return isCgroup2() ? watchV2(path.join(cgroupRoot, cgroupsPath), onOom) : watchV1(path.join(cgroupRoot, 'memory', cgroupsPath), onOom, log);
  } catch (err) {
    log.warn({ err, cgroupsPath }, 'cannot watch for OOM kills');
    return undefined;
  }
}

function watchV1(dir: string, onOom: () => void, log: ShimLogger): OomWatcher {
  const control = path.join(dir, 'memory.oom_control');
  const efd = native().eventfd();
  let ofd: number | undefined;
  try {
    ofd = fs.openSync(control, 'r');
    fs.writeFileSync(path.join(dir, 'cgroup.event_control'), `${efd} ${ofd}`);
  } catch (err) {
    fs.closeSync(efd);
    if (ofd !== undefined) fs.closeSync(ofd);
    throw err;
  }
  let stopped = false;
  let seen = oomKills(control);
  const buf = Buffer.alloc(8);
  const closeFds = () => {
    fs.close(efd, () => {});
    if (ofd !== undefined) fs.close(ofd, () => {});
  };
  // A blocking read in the thread pool: it returns on an OOM, or when the cgroup is removed.
  const next = () =>
    fs.read(efd, buf, 0, 8, null, (err) => {
      if (err) log.debug({ err }, 'oom eventfd read');
      if (err || stopped || !fs.existsSync(dir)) {
        closeFds();
        return;
      }
      const kills = oomKills(control);
      if (kills !== seen) onOom();
      seen = kills;
      next();
    });
  next();
  // The pending read ends when the runtime removes the cgroup; close() only stops reporting.
  return { close: () => (stopped = true) };
}

function watchV2(dir: string, onOom: () => void): OomWatcher {
  const events = path.join(dir, 'memory.events');
  let seen = oomKills(events);
  const watcher = fs.watch(events, () => {
    const kills = oomKills(events);
    if (kills > seen) onOom();
    if (kills >= 0) seen = kills;
  });
  watcher.on('error', () => watcher.close());
  return { close: () => watcher.close() };
}
