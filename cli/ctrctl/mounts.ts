// A container's mounts from docker's flags: -v/--volume, --mount, --tmpfs, --volumes-from, and the image's
// VOLUME entries. Parsing is pure and done before anything is asked of ctrd (a bad spec makes nothing).
// Making them is ctrd's work: volumes are created through ctrd's VolumesService (named ones that do not exist
// yet too, as docker does; anonymous ones get random names), and a new or empty volume is filled from the
// image's directory it is mounted over by Volumes.CopyUp. What a container mounts is kept in its
// io.ctrd/volumes label, for inspect's Mounts, --volumes-from and rm -v.
import { lstatSync } from 'node:fs';
import { posix } from 'node:path';
import type { Container } from '../../gen/containerd/services/containers/v1/containers.js';
import type { Mount } from '../../gen/containerd/types/mount.js';
import type { VolumesServiceClient } from '../../gen/ctrd/services/volumes/v1/volumes.js';
import { errnoCode, invalidArgument, isNotFound, kindOf } from '../../lib/errdefs.js';
import { unary } from '../../lib/grpc/client.js';
import type { OciMount, OciSpec } from '../../lib/oci/spec.js';
import { findContainer, specOf } from './container-state.js';
import type { RuntimeClients } from './runtime-clients.js';
import { parseMemory } from './spec.js';

/** The label with a container's mounts (MountRecord[] as JSON). */
export const volumesLabel = 'io.ctrd/volumes';

export type MountType = 'volume' | 'bind' | 'tmpfs';

/** One mount a container asks for. */
export interface MountRequest {
  type: MountType;
  /** A volume's name ('' for a new anonymous volume) or a bind's host path; '' for tmpfs. */
  source: string;
  target: string;
  readonly: boolean;
  /** The mode as typed after the second colon of -v ("ro", "rw,z"...); '' otherwise. */
  mode: string;
  /** Binds: rprivate unless told. */
  propagation: string;
  /** Volumes: not filled from the image. */
  nocopy: boolean;
  /** tmpfs: mount options (size=..., mode=...). */
  tmpfsOptions: string[];
  /** Volumes: labels for a volume this mount creates (--mount volume-label). */
  labels: Record<string, string>;
  /** Volumes: an anonymous volume of another container (--volumes-from), which rm -v removes here too, as docker. */
  anonymous: boolean;
}

/** What the label keeps of each mount (the rest is in the spec). */
export interface MountRecord {
  Type: MountType;
  Destination: string;
  Name?: string;
  Mode?: string;
  Anonymous?: boolean;
}

/** docker inspect's Mounts entry. */
export interface InspectMount {
  Type: MountType;
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

export interface MountFlags {
  volume: readonly string[];
  mount: readonly string[];
  tmpfs: readonly string[];
  volumesFrom: readonly string[];
}

export interface VolumesFrom {
  container: string;
  /** undefined: each mount keeps its own. */
  mode: 'ro' | 'rw' | undefined;
}

export interface ParsedMounts {
  mounts: MountRequest[];
  volumesFrom: VolumesFrom[];
}

const propagations = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave']);
const consistencies = new Set(['consistent', 'cached', 'delegated']);
const volumeNamePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

const request = (r: Partial<MountRequest> & Pick<MountRequest, 'type' | 'target'>): MountRequest => ({
  source: '',
  readonly: false,
  mode: '',
  propagation: '',
  nocopy: false,
  tmpfsOptions: [],
  labels: {},
  anonymous: false,
  ...r,
});

function checkTarget(target: string, fail: (why: string) => Error): string {
  if (!posix.isAbsolute(target)) throw fail(`invalid mount path: '${target}' mount path must be absolute`);
  const clean = posix.normalize(target).replace(/\/+$/, '') || '/';
  if (clean === '/') throw fail("invalid specification: destination can't be '/'");
  return clean;
}

/** -v SOURCE:TARGET[:MODE] | -v TARGET (docker's Linux parser); a source of . or ./... or ../... is a path from cwd. */
export function parseVolumeFlag(spec: string, cwd = process.cwd()): MountRequest {
  const bad = (why?: string) => invalidArgument(`invalid volume specification: '${spec}'${why ? `: ${why}` : ''}`);
  const parts = spec.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) throw bad();
  if (parts.length === 1) {
    return request({ type: 'volume', target: checkTarget(parts[0]!, (why) => bad(`invalid mount config for type "volume": ${why}`)) });
  }
  const [given, rawTarget, mode = ''] = parts as [string, string, string?];
  const source = given === '.' || given === '..' || given.startsWith('./') || given.startsWith('../') ? posix.resolve(cwd, given) : given;
  const type: MountType = posix.isAbsolute(source) ? 'bind' : 'volume';
  const target = checkTarget(rawTarget, (why) => bad(`invalid mount config for type "${type}": ${why}`));
  const r = request({ type, source: type === 'bind' ? posix.normalize(source) : source, target, mode });
  let rw = 0;
  for (const m of mode === '' ? [] : mode.split(',')) {
    if (m === 'ro' || m === 'rw') {
      rw++;
      r.readonly = m === 'ro';
    } else if (propagations.has(m)) {
      if (type !== 'bind' || r.propagation !== '') throw bad(`invalid mode: ${mode}`);
      r.propagation = m;
    } else if (m === 'nocopy') {
      if (type !== 'volume' || r.nocopy) throw bad(`invalid mode: ${mode}`);
      r.nocopy = true;
    } else if (m === 'z' || m === 'Z' || consistencies.has(m)) {
      // SELinux relabelling and macOS consistency: nothing to do on this host, accepted as docker does.
    } else {
      throw bad(`invalid mode: ${mode}`);
    }
  }
  if (rw > 1) throw bad(`invalid mode: ${mode}`);
  if (type === 'volume' && !volumeNamePattern.test(source)) {
    throw bad(`"${source}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  }
  return r;
}

/** docker's strconv.ParseBool for --mount's readonly=... */
function parseBool(v: string, field: string, spec: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  throw invalidArgument(`invalid argument "${spec}" for "--mount" flag: invalid value for ${field}: ${v}`);
}

/** docker's tmpfs size option: bytes in the largest unit that divides them. */
function tmpfsSize(bytes: number): string {
  for (const [suffix, unit] of [['g', 1 << 30], ['m', 1 << 20], ['k', 1 << 10]] as const) {
    if (bytes % unit === 0) return `size=${bytes / unit}${suffix}`;
  }
  return `size=${bytes}`;
}

/** --mount type=bind|volume|tmpfs,source=...,target=...,readonly,... (docker's CSV fields). */
export function parseMountFlag(spec: string): MountRequest {
  const bad = (why: string) => invalidArgument(`invalid argument "${spec}" for "--mount" flag: ${why}`);
  const fields = new Map<string, string | undefined>();
  for (const field of spec.split(',')) {
    if (field === '') continue;
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    fields.set(key, eq < 0 ? undefined : field.slice(eq + 1));
  }
  const type = fields.get('type') ?? 'volume';
  if (type !== 'volume' && type !== 'bind' && type !== 'tmpfs') throw bad(`invalid mount type "${type}": ctrctl knows bind, volume and tmpfs`);
  const r = request({ type, target: '' });
  let target: string | undefined;
  for (const [key, value] of fields) {
    const need = () => {
      if (value === undefined || value === '') throw bad(`invalid field '${key}' must be a key=value pair`);
      return value;
    };
    switch (key) {
      case 'type':
        break;
      case 'source':
      case 'src':
        r.source = need();
        break;
      case 'target':
      case 'destination':
      case 'dst':
        target = need();
        break;
      case 'readonly':
      case 'ro':
        r.readonly = value === undefined ? true : parseBool(value, key, spec);
        break;
      case 'bind-propagation':
        if (type !== 'bind') throw bad(`cannot mix 'bind-*' options with mount type '${type}'`);
        if (!propagations.has(need())) throw bad(`invalid bind propagation: ${value}`);
        r.propagation = value!;
        break;
      case 'volume-nocopy':
        if (type !== 'volume') throw bad(`cannot mix 'volume-*' options with mount type '${type}'`);
        r.nocopy = value === undefined ? true : parseBool(value, key, spec);
        break;
      case 'volume-label': {
        if (type !== 'volume') throw bad(`cannot mix 'volume-*' options with mount type '${type}'`);
        const v = need();
        const eq = v.indexOf('=');
        r.labels[eq < 0 ? v : v.slice(0, eq)] = eq < 0 ? '' : v.slice(eq + 1);
        break;
      }
      case 'tmpfs-size': {
        if (type !== 'tmpfs') throw bad(`cannot mix 'tmpfs-*' options with mount type '${type}'`);
        let bytes: number;
        try {
          bytes = parseMemory(need());
        } catch {
          throw bad(`invalid value for ${key}: ${value}`);
        }
        r.tmpfsOptions.push(tmpfsSize(bytes));
        break;
      }
      case 'tmpfs-mode':
        if (type !== 'tmpfs') throw bad(`cannot mix 'tmpfs-*' options with mount type '${type}'`);
        if (!/^[0-7]{1,4}$/.test(need())) throw bad(`invalid value for ${key}: ${value}`);
        r.tmpfsOptions.push(`mode=${Number.parseInt(value!, 8).toString(8)}`);
        break;
      case 'consistency':
        break;
      default:
        throw bad(`unexpected key '${key}' in '${spec}'`);
    }
  }
  if (target === undefined) throw bad('target is required');
  r.target = checkTarget(target, (why) => bad(`invalid mount config for type "${type}": ${why}`));
  if (type === 'bind') {
    if (r.source === '') throw bad(`invalid mount config for type "bind": field Source must not be empty`);
    if (!posix.isAbsolute(r.source)) throw bad(`invalid mount config for type "bind": invalid mount path: '${r.source}' mount path must be absolute`);
    r.source = posix.normalize(r.source);
  } else if (type === 'tmpfs') {
    if (r.source !== '') throw bad(`invalid mount config for type "tmpfs": source must not be specified`);
  } else if (r.source !== '' && !volumeNamePattern.test(r.source)) {
    throw bad(`invalid mount config for type "volume": "${r.source}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed`);
  }
  return r;
}

/** --tmpfs /path[:options] (options as mount(8) takes them: size=64m,mode=1777,...). */
export function parseTmpfsFlag(spec: string): MountRequest {
  const colon = spec.indexOf(':');
  const target = colon < 0 ? spec : spec.slice(0, colon);
  const options = colon < 0 ? [] : spec.slice(colon + 1).split(',').filter((o) => o !== '');
  const bad = (why: string) => invalidArgument(`invalid argument "${spec}" for "--tmpfs" flag: ${why}`);
  const r = request({ type: 'tmpfs', target: checkTarget(target, bad) });
  for (const o of options) {
    if (o === 'ro' || o === 'rw') r.readonly = o === 'ro';
    else if (/^[a-z_0-9]+(=.*)?$/.test(o)) r.tmpfsOptions.push(o);
    else throw bad(`invalid option "${o}"`);
  }
  return r;
}

export function parseVolumesFrom(spec: string): VolumesFrom {
  const colon = spec.indexOf(':');
  const container = colon < 0 ? spec : spec.slice(0, colon);
  const mode = colon < 0 ? undefined : spec.slice(colon + 1);
  if (container === '' || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) {
    throw invalidArgument(`invalid argument "${spec}" for "--volumes-from" flag: expected CONTAINER[:ro|rw]`);
  }
  return { container, mode };
}

/** Every mount flag, checked; duplicate targets are refused as docker refuses them. Pure. */
export function parseMountFlags(f: MountFlags): ParsedMounts {
  const mounts = [...f.volume.map((v) => parseVolumeFlag(v)), ...f.mount.map(parseMountFlag), ...f.tmpfs.map(parseTmpfsFlag)];
  const seen = new Set<string>();
  for (const m of mounts) {
    if (seen.has(m.target)) throw invalidArgument(`Duplicate mount point: ${m.target}`);
    seen.add(m.target);
  }
  return { mounts, volumesFrom: f.volumesFrom.map(parseVolumesFrom) };
}

/** Bind sources must be there (docker's --mount rule; ctrctl applies it to -v too and creates nothing). */
export function checkBindSources(mounts: readonly MountRequest[]): void {
  for (const m of mounts) {
    if (m.type !== 'bind') continue;
    try {
      lstatSync(m.source);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ENOTDIR') throw err;
      throw invalidArgument(`invalid mount config for type "bind": bind source path does not exist: ${m.source}`);
    }
  }
}

// ---- what a container mounts ----

/** The mounts of an existing container, as docker inspect shows them (from its label and its spec). */
export function mountsOf(c: Pick<Container, 'labels' | 'spec'>, spec: OciSpec = specOf(c as Container)): InspectMount[] {
  const records = recordsOf(c);
  const byDest = new Map((spec.mounts ?? []).map((m) => [m.destination, m]));
  return records.map((r) => {
    const m = byDest.get(r.Destination);
    const options = m?.options ?? [];
    const base: InspectMount = {
      Type: r.Type,
      Source: r.Type === 'tmpfs' ? '' : (m?.source ?? ''),
      Destination: r.Destination,
      Mode: r.Mode ?? '',
      RW: !options.includes('ro'),
      Propagation: r.Type === 'bind' ? (options.find((o) => propagations.has(o)) ?? 'rprivate') : '',
    };
    return r.Type === 'volume' ? { ...base, Name: r.Name ?? '', Driver: 'local' } : base;
  });
}

export function recordsOf(c: Pick<Container, 'labels'>): MountRecord[] {
  const v = c.labels[volumesLabel];
  if (!v) return [];
  try {
    const parsed = JSON.parse(v) as unknown;
    return Array.isArray(parsed) ? (parsed as MountRecord[]) : [];
  } catch {
    return [];
  }
}

/** The mounts --volumes-from takes of a container: its volumes and binds, with the mode given or their own. */
export function inheritedMounts(c: Pick<Container, 'labels' | 'spec'>, from: VolumesFrom): MountRequest[] {
  const records = recordsOf(c);
  return mountsOf(c)
    .map((m, i) => ({ m, anonymous: records[i]?.Anonymous === true }))
    .filter(({ m }) => m.Type !== 'tmpfs')
    .map(({ m, anonymous }) =>
      request({
        type: m.Type,
        source: m.Type === 'volume' ? m.Name! : m.Source,
        target: m.Destination,
        readonly: from.mode === undefined ? !m.RW : from.mode === 'ro',
        mode: from.mode ?? m.Mode,
        propagation: m.Type === 'bind' ? m.Propagation : '',
        // Their volumes have their data already.
        nocopy: true,
        anonymous,
      }),
    );
}

/**
 * The whole list: the flags' mounts, then what --volumes-from gives where no flag mounts, then an anonymous
 * volume for each image VOLUME no mount covers.
 */
export function planMounts(flags: readonly MountRequest[], inherited: readonly MountRequest[], imageVolumes: readonly string[]): MountRequest[] {
  const out = [...flags];
  const taken = new Set(out.map((m) => m.target));
  for (const m of inherited) {
    if (taken.has(m.target)) continue;
    taken.add(m.target);
    out.push(m);
  }
  for (const raw of imageVolumes) {
    if (!posix.isAbsolute(raw)) continue;
    const target = posix.normalize(raw).replace(/\/+$/, '') || '/';
    if (target === '/' || taken.has(target)) continue;
    taken.add(target);
    out.push(request({ type: 'volume', target }));
  }
  return out;
}

// ---- making them ----

export interface MadeMounts {
  /** For the spec, after the default mounts. */
  spec: OciMount[];
  /** The io.ctrd/volumes label's value. */
  label: string;
  /** The volumes this call created, to remove should the container not be made. */
  created: string[];
}

const labelLimit = 4000;

/**
 * Creates the volumes (named ones that are missing, and the anonymous ones) and fills the new or empty ones
 * from the rootfs (mounts of the container's snapshot). On failure, what it created is removed again.
 */
export async function makeMounts(volumes: VolumesServiceClient, plan: readonly MountRequest[], rootfs: readonly Mount[]): Promise<MadeMounts> {
  const created: string[] = [];
  try {
    const spec: OciMount[] = [];
    const records: MountRecord[] = [];
    for (const m of plan) {
      const options = m.readonly ? ['ro'] : ['rw'];
      if (m.type === 'tmpfs') {
        spec.push({ destination: m.target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', ...m.tmpfsOptions, ...options] });
        records.push({ Type: 'tmpfs', Destination: m.target });
        continue;
      }
      if (m.type === 'bind') {
        spec.push({ destination: m.target, type: 'bind', source: m.source, options: ['rbind', m.propagation || 'rprivate', ...options] });
        records.push({ Type: 'bind', Destination: m.target, Mode: m.mode });
        continue;
      }
      const anonymous = m.source === '' || m.anonymous;
      const res = await unary(volumes, volumes.create, { name: m.source, driver: '', labels: m.labels, options: {}, anonymous });
      const v = res.volume!;
      if (res.created) created.push(v.name);
      if (!m.nocopy) await unary(volumes, volumes.copyUp, { name: v.name, mounts: [...rootfs], path: m.target });
      spec.push({ destination: m.target, type: 'bind', source: v.mountpoint, options: ['rbind', 'rprivate', ...options] });
      records.push({ Type: 'volume', Destination: m.target, Name: v.name, Mode: m.mode, ...(anonymous ? { Anonymous: true } : {}) });
    }
    const label = JSON.stringify(records);
    if (label.length > labelLimit) throw invalidArgument(`too many mounts for one container: their record would pass containerd's 4096-byte label limit`);
    // Parents before what is mounted inside them.
    spec.sort((a, b) => a.destination.split('/').length - b.destination.split('/').length);
    return { spec, label, created };
  } catch (err) {
    await removeVolumes(volumes, created);
    throw err;
  }
}

/** The spec's mounts with the container's: a default mount at one of their destinations gives way. */
export function withMounts(spec: OciSpec, mounts: readonly OciMount[]): void {
  const targets = new Set(mounts.map((m) => m.destination));
  spec.mounts = [...spec.mounts.filter((m) => !targets.has(m.destination)), ...mounts];
}

/** Removes volumes, quietly leaving those that are gone or still used by another container (docker rm -v's way). */
export async function removeVolumes(volumes: VolumesServiceClient, names: readonly string[]): Promise<void> {
  for (const name of names) {
    await unary(volumes, volumes.remove, { name, force: false }).catch((err: unknown) => {
      if (!isNotFound(err) && kindOf(err) !== 'failed-precondition') throw err;
    });
  }
}

/** docker rm -v: the container's anonymous volumes (never its named ones). */
export function anonymousVolumesOf(c: Pick<Container, 'labels'>): string[] {
  return recordsOf(c)
    .filter((r) => r.Type === 'volume' && r.Anonymous && r.Name)
    .map((r) => r.Name!);
}

/** The plan of a new container's mounts: its flags, the containers of --volumes-from, the image's VOLUMEs. */
export async function resolveMounts(rc: RuntimeClients, parsed: ParsedMounts, imageVolumes: Record<string, unknown> | null | undefined): Promise<MountRequest[]> {
  const inherited: MountRequest[] = [];
  for (const from of parsed.volumesFrom) inherited.push(...inheritedMounts((await findContainer(rc, from.container)).container, from));
  return planMounts(parsed.mounts, inherited, Object.keys(imageVolumes ?? {}));
}
