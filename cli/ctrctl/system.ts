// Disk usage and pruning, as docker's verbs: `system df` shows the space images, containers, content and
// snapshots take; `container prune` removes every stopped container, `system prune` removes stopped containers,
// the networks no container uses and dangling images (-a: every image no container uses; --volumes: unused volumes too). Each prune asks
// first unless -f; without a terminal to ask on, it refuses.
//   system df [--format T]
//   container prune [-f] [--filter until=T|label=K[=V]|label!=K[=V]]
//   system prune [-a] [-f] [--volumes] [--filter ...]
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { Status } from '../../gen/containerd/v1/types/task.js';
import { failedPrecondition, invalidArgument } from '../../lib/errdefs.js';
import { unary, type Clients } from '../../lib/grpc/client.js';
import { withClients } from './connect.js';
import { listContainers, type ContainerInfo } from './container-state.js';
import { removeContainer } from './lifecycle.js';
import { print, printError } from './output.js';
import { runtimeClients, type RuntimeClients } from './runtime-clients.js';
import { humanSize, parseTimeArg } from './units.js';
import { formatArgument, parseFormat, renderFormat, type OutputFormat } from './go-template.js';
import { collect } from './flags.js';

/** docker's prompt: the question, " [y/N] ", and yes only for y or Y. */
async function confirm(question: string): Promise<boolean> {
  process.stdout.write(`${question} [y/N] `);
  const rl = createInterface({ input: process.stdin, terminal: false });
  try {
    const answer = await new Promise<string>((resolve) => {
      rl.once('line', resolve);
      rl.once('close', () => resolve(''));
    });
    return answer.trim().toLowerCase() === 'y';
  } finally {
    rl.close();
  }
}

/** True to go on: -f, or a yes on the terminal. Without a terminal and without -f, a refusal. */
export async function confirmPrune(force: boolean | undefined, warning: string): Promise<boolean> {
  if (force) return true;
  if (!process.stdin.isTTY) throw failedPrecondition('refusing to prune without confirmation: stdin is not a terminal (use -f to prune anyway)');
  // As docker: no is a cancellation, not a failure.
  return confirm(`${warning}\nAre you sure you want to continue?`);
}

// ---- filters ----

interface PruneFilter {
  until?: Date;
  labels: Array<{ key: string; value?: string; negate: boolean }>;
}

export function parsePruneFilters(filters: readonly string[]): PruneFilter {
  const out: PruneFilter = { labels: [] };
  for (const f of filters) {
    const m = /^(until|label!?)=(.*)$/.exec(f);
    if (!m) throw invalidArgument(`invalid filter '${f}': prune takes until=<timestamp>, label=<key>[=<value>] and label!=<key>[=<value>]`);
    const [, name, value] = m as unknown as [string, string, string];
    if (name === 'until') {
      const at = parseTimeArg(value);
      if (!at) throw invalidArgument(`invalid filter 'until=${value}': not a timestamp or a duration`);
      out.until = at;
    } else {
      const eq = value.indexOf('=');
      out.labels.push({ key: eq < 0 ? value : value.slice(0, eq), value: eq < 0 ? undefined : value.slice(eq + 1), negate: name === 'label!' });
    }
  }
  return out;
}

function matches(f: PruneFilter, created: Date | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (f.until && created && created.getTime() >= f.until.getTime()) return false;
  return f.labels.every((l) => {
    const has = l.key in labels && (l.value === undefined || labels[l.key] === l.value);
    return l.negate ? !has : has;
  });
}

// ---- containers ----

const stopped = (i: ContainerInfo) => !i.task || i.task.status === Status.STOPPED || i.task.status === Status.CREATED;

/** The writable layer's size, for the space reclaimed. */
async function snapshotSize(rc: RuntimeClients, i: ContainerInfo): Promise<number> {
  const c = i.container;
  if (!c.snapshotKey) return 0;
  try {
    return (await unary(rc.snapshots, rc.snapshots.usage, { snapshotter: c.snapshotter, key: c.snapshotKey })).size;
  } catch {
    return 0;
  }
}

/** Removes every stopped container the filter lets through; a failure is reported and the rest go on. */
export async function pruneContainers(c: Clients, ns: string, f: PruneFilter): Promise<{ deleted: string[]; reclaimed: number; failed: boolean }> {
  const rc = runtimeClients(c);
  const out = { deleted: [] as string[], reclaimed: 0, failed: false };
  for (const i of await listContainers(rc)) {
    if (!stopped(i) || !matches(f, i.container.createdAt, i.container.labels)) continue;
    try {
      const size = await snapshotSize(rc, i);
      await removeContainer(rc, i, false);
      out.deleted.push(i.container.id);
      out.reclaimed += size;
    } catch (err) {
      printError(err);
      out.failed = true;
    }
  }
  return out;
}

function printDeleted(title: string, lines: readonly string[]): void {
  if (lines.length > 0) process.stdout.write(`${title}:\n${lines.join('\n')}\n\n`);
}


export function addContainerPruneCommand(container: Command): void {
  container
    .command('prune')
    .description('remove all stopped containers')
    .option('-f, --force', 'do not prompt for confirmation')
    .option('--filter <filter>', 'provide filter values (until=<timestamp>, label=<key>[=<value>])', collect, [])
    .action(async (o: { force?: boolean; filter: string[] }, command: Command) => {
      const filter = parsePruneFilters(o.filter);
      if (!(await confirmPrune(o.force, 'WARNING! This will remove all stopped containers.'))) return;
      const res = await withClients(command, (c, flags) => pruneContainers(c, flags.namespace, filter));
      printDeleted('Deleted Containers', res.deleted);
      print(`Total reclaimed space: ${humanSize(res.reclaimed)}`);
      if (res.failed) process.exitCode = 1;
    });
}

/** What system prune can also prune, registered by the groups that own them (networks, volumes). */
export interface PruneExtra {
  /** The flag that asks for it (--volumes); without one, always pruned (networks, as docker's). */
  flag?: string;
  warning: string;
  title: string;
  /** `filters`: system prune's --filter values, as given. */
  prune(c: Clients, all: boolean, filters: readonly string[]): Promise<{ deleted: string[]; reclaimed: number }>;
}

export function addSystemPruneCommand(system: Command, extras: readonly PruneExtra[] = []): void {
  const cmd = system
    .command('prune')
    .description('remove unused data: stopped containers, unused networks and dangling images (-a: all unused images)')
    .option('-a, --all', 'remove all unused images, not just dangling ones')
    .option('-f, --force', 'do not prompt for confirmation')
    .option('--filter <filter>', 'provide filter values (until=<timestamp>, label=<key>[=<value>])', collect, []);
  for (const e of extras) if (e.flag) cmd.option(`--${e.flag}`, `prune ${e.flag}`);
  cmd.action(async (o: { all?: boolean; force?: boolean; filter: string[] } & Record<string, unknown>, command: Command) => {
    const filter = parsePruneFilters(o.filter);
    const chosen = extras.filter((e) => !e.flag || o[e.flag]);
    const warning = [
      'WARNING! This will remove:',
      '  - all stopped containers',
      ...chosen.map((e) => `  - ${e.warning}`),
      o.all ? '  - all images without at least one container associated to them' : '  - all dangling images',
      '',
    ].join('\n');
    if (!(await confirmPrune(o.force, warning))) return;
    const res = await withClients(command, async (c, flags) => {
      const containers = await pruneContainers(c, flags.namespace, filter);
      const extra = [];
      for (const e of chosen) extra.push({ e, res: await e.prune(c, Boolean(o.all), o.filter) });
      const images = await unary(c.ctrdImages, c.ctrdImages.prune, { all: Boolean(o.all) });
      return { containers, extra, images };
    });
    printDeleted('Deleted Containers', res.containers.deleted);
    for (const { e, res: r } of res.extra) printDeleted(e.title, r.deleted);
    printDeleted('Deleted Images', [...res.images.untagged.map((x) => `untagged: ${x}`), ...res.images.deleted.map((x) => `deleted: ${x}`)]);
    const total = res.containers.reclaimed + res.extra.reduce((n, x) => n + x.res.reclaimed, 0) + res.images.reclaimed;
    print(`Total reclaimed space: ${humanSize(total)}`);
    if (res.containers.failed) process.exitCode = 1;
  });
}

// ---- system df ----

/** Containers' writable layers: all of them, the running ones, and what removing the stopped ones frees. */
async function containersUsage(c: Clients): Promise<{ total: number; active: number; size: number; reclaimable: number }> {
  const rc = runtimeClients(c);
  const out = { total: 0, active: 0, size: 0, reclaimable: 0 };
  for (const i of await listContainers(rc)) {
    const size = await snapshotSize(rc, i);
    out.total++;
    out.size += size;
    if (stopped(i)) out.reclaimable += size;
    else out.active++;
  }
  return out;
}

/** Volumes: all, those in use, the space they take and what the unused ones would free. */
async function volumesUsage(c: Clients): Promise<{ total: number; active: number; size: number; reclaimable: number }> {
  const vc = runtimeClients(c).volumes;
  const { volumes } = await unary(vc, vc.list, { filters: [], withSize: true });
  const out = { total: volumes.length, active: 0, size: 0, reclaimable: 0 };
  for (const v of volumes) {
    out.size += v.size;
    if (v.usedBy.length > 0) out.active++;
    else out.reclaimable += v.size;
  }
  return out;
}

export function addDiskUsageCommand(system: Command): void {
  system
    .command('df')
    .description('show disk usage: images, containers, volumes, content blobs and snapshots')
    .option('--format <template>', 'format output with a Go template', formatArgument)
    .action(async (opts: { format?: OutputFormat }, command: Command) => {
      const [du, containers, volumes] = await withClients(command, (c) =>
        Promise.all([unary(c.ctrdImages, c.ctrdImages.diskUsage, {}), containersUsage(c), volumesUsage(c)]),
      );
      const reclaimable = (n: number, total: number) => (total > 0 ? `${humanSize(n)} (${Math.trunc((n * 100) / total)}%)` : humanSize(n));
      // ACTIVE (in use by a container) and what can be reclaimed of blobs and snapshots are not reported by
      // ctrd: N/A says so rather than a guess.
      const rows = [
        { Type: 'Images', TotalCount: String(du.images), Active: 'N/A', Size: humanSize(du.imagesSize), Reclaimable: reclaimable(du.imagesReclaimable, du.imagesSize) },
        {
          Type: 'Containers',
          TotalCount: String(containers.total),
          Active: String(containers.active),
          Size: humanSize(containers.size),
          Reclaimable: reclaimable(containers.reclaimable, containers.size),
        },
        {
          Type: 'Local Volumes',
          TotalCount: String(volumes.total),
          Active: String(volumes.active),
          Size: humanSize(volumes.size),
          Reclaimable: reclaimable(volumes.reclaimable, volumes.size),
        },
        { Type: 'Content blobs', TotalCount: String(du.contentBlobs), Active: 'N/A', Size: humanSize(du.contentSize), Reclaimable: 'N/A' },
        { Type: 'Snapshots', TotalCount: String(du.snapshots), Active: 'N/A', Size: humanSize(du.snapshotsSize), Reclaimable: 'N/A' },
      ];
      const format = opts.format ?? parseFormat('table {{.Type}}\\t{{.TotalCount}}\\t{{.Active}}\\t{{.Size}}\\t{{.Reclaimable}}');
      process.stdout.write(
        renderFormat(format, rows, { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' }),
      );
    });
}
