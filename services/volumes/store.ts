// Volumes per namespace: a row in the metadata database and a directory <root>/<ns>/<name> whose _data is
// what containers mount. The store owns that directory tree. A volume is made directory first (under a
// temporary name, renamed into place) and row second; removed row first, then its directory renamed into
// the trash and deleted. What a crash leaves (temporary directories, directories without a row, the trash)
// is garbage, removed when the store opens. A volume is in use while a container's spec mounts a path
// inside it, or while the lease of the client that made it lives (a container about to be made); such a
// volume cannot be removed.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, normalize } from 'node:path';
import { errnoCode, failedPrecondition, invalidArgument, notFound } from '../../lib/errdefs.js';
import { validateLabels, type Labels } from '../../lib/labels.js';
import type { Logger } from '../../lib/log.js';
import { parseLabels, type MetadataDB } from '../metadata/db.js';
import { detachMountsUnder } from '../diff/mounts.js';
import { isInside } from '../diff/resolve-in-root.js';
import { diskUsage } from '../snapshots/disk-usage.js';
import { localDriver, type LeaseExists, type MountUser, type MountUsers, type PruneResult, type Volume, type VolumeInput } from './types.js';

interface VolumeRow {
  name: string;
  driver: string;
  labels: string;
  options: string;
  anonymous: number;
  lease: string;
  created_at: number;
}

const columns = 'name, driver, labels, options, anonymous, lease, created_at';

/** docker's local volume names. */
const namePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const maxNameLength = 255;

export function validateVolumeName(name: string): string {
  if (!namePattern.test(name) || name.length > maxNameLength) {
    throw invalidArgument(
      `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
  return name;
}

/** A docker-style volume filter: name=, label=, dangling=, driver= (list); label=, label!= (prune). */
interface Filter {
  key: string;
  value: string;
}

const listFilterKeys = new Set(['name', 'label', 'dangling', 'driver']);
const pruneFilterKeys = new Set(['label', 'label!']);

function parseFilters(filters: readonly string[], keys: ReadonlySet<string>): Filter[] {
  return filters.map((f) => {
    const eq = f.indexOf('=');
    const key = eq < 0 ? f : f.slice(0, eq);
    const value = eq < 0 ? '' : f.slice(eq + 1);
    if (!keys.has(key)) throw invalidArgument(`invalid filter '${key}'`);
    if (key === 'dangling' && !/^(true|false|1|0)$/i.test(value)) throw invalidArgument(`invalid filter 'dangling=${value}'`);
    if (value === '') throw invalidArgument(`invalid filter '${f}': a value is needed`);
    return { key, value };
  });
}

function labelMatches(filter: string, labels: Labels): boolean {
  const eq = filter.indexOf('=');
  if (eq < 0) return Object.hasOwn(labels, filter);
  return labels[filter.slice(0, eq)] === filter.slice(eq + 1);
}

export class VolumeStore {
  private readonly trash: string;

  constructor(
    private readonly db: MetadataDB,
    readonly root: string,
    private readonly users: MountUsers,
    private readonly log: Logger,
    private readonly leaseExists: LeaseExists = () => false,
  ) {
    this.trash = join(root, '.trash');
    mkdirSync(this.trash, { recursive: true, mode: 0o700 });
    chmodSync(root, 0o701);
    this.collectGarbage();
  }

  /** The host directory a volume's data is in. */
  mountpointOf(ns: string, name: string): string {
    return join(this.dirOf(ns, name), '_data');
  }

  private dirOf(ns: string, name: string): string {
    return join(this.root, ns, name);
  }

  private toVolume(ns: string, r: VolumeRow): Volume {
    return {
      name: r.name,
      driver: r.driver,
      labels: parseLabels(r.labels),
      options: parseLabels(r.options),
      anonymous: r.anonymous === 1,
      lease: r.lease,
      createdAt: new Date(r.created_at),
      mountpoint: this.mountpointOf(ns, r.name),
    };
  }

  private find(ns: string, name: string): Volume | undefined {
    const row = this.db.stmt(`SELECT ${columns} FROM volumes WHERE namespace = ? AND name = ?`).get(ns, name) as VolumeRow | undefined;
    return row && this.toVolume(ns, row);
  }

  get(ns: string, name: string): Volume {
    if (name === '') throw invalidArgument('volume name must not be empty');
    const v = this.find(ns, name);
    if (!v) throw notFound(`get ${name}: no such volume`);
    return v;
  }

  /** The containers whose spec mounts something inside the volume, and the lease of its maker while it lives. */
  usersOf(ns: string, v: Volume, users: readonly MountUser[] = this.users(ns), ownLease = ''): string[] {
    const dir = this.dirOf(ns, v.name);
    const containers = users.filter((u) => u.sources.some((s) => isInside(dir, normalize(s)))).map((u) => u.id);
    const held = v.lease !== '' && v.lease !== ownLease && this.leaseExists(ns, v.lease);
    return held ? [...containers, `lease ${v.lease}`] : containers;
  }

  list(ns: string, filters: readonly string[] = []): Array<{ volume: Volume; usedBy: string[] }> {
    const parsed = parseFilters(filters, listFilterKeys);
    const rows = this.db.stmt(`SELECT ${columns} FROM volumes WHERE namespace = ? ORDER BY name`).all(ns) as VolumeRow[];
    const users = this.users(ns);
    const values = (key: string) => parsed.filter((f) => f.key === key).map((f) => f.value);
    const names = values('name');
    const labels = values('label');
    const drivers = values('driver');
    const dangling = values('dangling').map((v) => /^(true|1)$/i.test(v));
    if (dangling.some((d) => d !== dangling[0])) throw invalidArgument('conflicting dangling filters: true and false');
    return rows
      .map((r) => {
        const volume = this.toVolume(ns, r);
        return { volume, usedBy: this.usersOf(ns, volume, users) };
      })
      .filter(({ volume, usedBy }) => {
        if (names.length > 0 && !names.some((n) => volume.name.includes(n))) return false;
        if (!labels.every((l) => labelMatches(l, volume.labels))) return false;
        if (drivers.length > 0 && !drivers.includes(volume.driver)) return false;
        if (dangling.length > 0 && (usedBy.length === 0) !== dangling[0]) return false;
        return true;
      });
  }

  /** Bytes the volume's data takes on disk; 0 when it is gone meanwhile. */
  async sizeOf(v: Volume): Promise<number> {
    try {
      return (await diskUsage(v.mountpoint)).size;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return 0;
      throw err;
    }
  }

  /** Makes a volume; one of that name that exists already is returned unchanged (created false), as docker does. */
  create(ns: string, input: VolumeInput): { volume: Volume; created: boolean } {
    const name = input.name || randomBytes(32).toString('hex');
    validateVolumeName(name);
    const driver = input.driver || localDriver;
    if (driver !== localDriver) throw notFound(`create ${name}: error looking up volume plugin ${driver}: plugin "${driver}" not found`);
    const labels = validateLabels(input.labels);
    const options = input.options ?? {};
    const unknown = Object.keys(options);
    if (unknown.length > 0) {
      throw invalidArgument(`create ${name}: the local driver of ctrd takes no options (got ${unknown.map((k) => `"${k}"`).join(', ')})`);
    }
    let stale: string | undefined;
    const result = this.db.tx(() => {
      const existing = this.find(ns, name);
      if (existing) return { volume: existing, created: false };
      const nsDir = join(this.root, ns);
      mkdirSync(nsDir, { recursive: true, mode: 0o701 });
      const dir = this.dirOf(ns, name);
      // A directory without a row is what a crash left of an earlier volume of that name: garbage.
      stale = this.moveToTrash(dir);
      // Volume names begin with a letter or digit: a dot-name never clashes with one.
      const tmp = join(nsDir, `.tmp-${randomBytes(8).toString('hex')}`);
      mkdirSync(tmp, { mode: 0o701 });
      try {
        chmodSync(tmp, 0o701);
        mkdirSync(join(tmp, '_data'), { mode: 0o755 });
        chmodSync(join(tmp, '_data'), 0o755);
        renameSync(tmp, dir);
      } catch (err) {
        rmSync(tmp, { recursive: true, force: true });
        throw err;
      }
      try {
        const now = Date.now();
        this.db.ensureNamespace(ns, now);
        this.db
          .stmt(`INSERT INTO volumes (namespace, name, driver, labels, options, anonymous, lease, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
          .run(ns, name, driver, JSON.stringify(labels), JSON.stringify(options), input.anonymous ? 1 : 0, input.lease ?? '', now);
      } catch (err) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
      return { volume: this.get(ns, name), created: true };
    });
    void this.purge(stale);
    return result;
  }

  /**
   * Removes a volume and its data; returns it, or undefined when it was not there and force was given. A
   * volume in use is refused, force or not (as docker); the lease it was made under does not hold it against
   * a removal under that same lease (its maker undoing it).
   */
  async remove(ns: string, name: string, opts: { force?: boolean; lease?: string } = {}): Promise<Volume | undefined> {
    if (name === '') throw invalidArgument('volume name must not be empty');
    const removed = this.db.tx(() => {
      const v = this.find(ns, name);
      if (!v) {
        if (opts.force) return undefined;
        throw notFound(`get ${name}: no such volume`);
      }
      const usedBy = this.usersOf(ns, v, this.users(ns), opts.lease ?? '');
      if (usedBy.length > 0) throw failedPrecondition(`remove ${name}: volume is in use - [${usedBy.join(', ')}]`);
      return this.removeRow(ns, v);
    });
    if (!removed) return undefined;
    await this.purge(removed.trashed);
    return removed.volume;
  }

  /** Removes the volumes no container uses: anonymous ones, or all with all; label filters narrow it. */
  async prune(ns: string, opts: { all?: boolean; filters?: readonly string[] } = {}): Promise<PruneResult> {
    const filters = parseFilters(opts.filters ?? [], pruneFilterKeys);
    const candidates = this.list(ns).filter(
      ({ volume, usedBy }) =>
        usedBy.length === 0 &&
        (opts.all || volume.anonymous) &&
        filters.every((f) => (f.key === 'label' ? labelMatches(f.value, volume.labels) : !labelMatches(f.value, volume.labels))),
    );
    const out: PruneResult = { deleted: [], reclaimed: 0 };
    for (const { volume } of candidates) {
      const size = await this.sizeOf(volume);
      try {
        // Checked again in the removal's own transaction: a container may have come since the list.
        if ((await this.remove(ns, volume.name, { force: true })) === undefined) continue;
      } catch (err) {
        this.log.info({ ns, volume: volume.name, err }, 'prune: volume kept');
        continue;
      }
      out.deleted.push(volume.name);
      out.reclaimed += size;
    }
    return out;
  }

  /** Deletes the row and moves the directory to the trash (inside the caller's transaction). */
  private removeRow(ns: string, v: Volume): { volume: Volume; trashed: string | undefined } {
    this.db.stmt('DELETE FROM volumes WHERE namespace = ? AND name = ?').run(ns, v.name);
    return { volume: v, trashed: this.moveToTrash(this.dirOf(ns, v.name)) };
  }

  /** Renames dir into the trash; undefined when there was nothing. */
  private moveToTrash(dir: string): string | undefined {
    const to = join(this.trash, randomBytes(8).toString('hex'));
    try {
      renameSync(dir, to);
      return to;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  private async purge(trashed: string | undefined): Promise<void> {
    if (!trashed) return;
    // Never through a mount: what is mounted below is detached first, or nothing is deleted.
    if (!detachMountsUnder(trashed, this.log)) {
      this.log.error({ dir: trashed }, 'a removed volume still has mounts below it: its directory is left in the trash');
      return;
    }
    await rm(trashed, { recursive: true, force: true }).catch((err: unknown) =>
      this.log.error({ err, dir: trashed }, 'cannot delete a removed volume directory'),
    );
  }

  /** What a crash left: temporary directories, directories without a row, and the trash. */
  private collectGarbage(): void {
    for (const ns of readdirSync(this.root)) {
      if (ns === '.trash') continue;
      const nsDir = join(this.root, ns);
      let names: string[];
      try {
        names = readdirSync(nsDir);
      } catch (err) {
        if (errnoCode(err) === 'ENOTDIR') continue;
        throw err;
      }
      for (const name of names) {
        if (!name.startsWith('.tmp-') && this.find(ns, name)) continue;
        this.log.warn({ ns, dir: join(nsDir, name) }, 'removing a volume directory without a volume');
        this.moveToTrash(join(nsDir, name));
      }
    }
    for (const name of readdirSync(this.trash)) void this.purge(join(this.trash, name));
  }
}
