// The OCI runtime spec of a container, built client-side as containerd's and nerdctl's clients do: the default
// Linux spec of containerd's oci.WithDefaultSpec (lib/oci/default-spec.ts), the image config (Entrypoint, Cmd,
// Env, WorkingDir, User) with docker's override rules, the user resolved through the image's /etc/passwd and
// /etc/group, and the resource flags (-m, --cpus, --cpuset-cpus, --pids-limit) parsed and checked as docker
// checks them. Pure: the files come in as strings.
import { invalidArgument } from '../../lib/errdefs.js';
import { defaultPath, defaultSpec } from '../../lib/oci/default-spec.js';
import type { OciSpec, OciUser } from '../../lib/oci/spec.js';

/** The parts of an image config a container is made from. */
export interface ImageRunConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
  StopSignal?: string;
  Labels?: Record<string, string> | null;
}

// ---- command ----

/**
 * docker's rules: --entrypoint replaces the image's Entrypoint and drops its Cmd ("" clears it); CMD arguments
 * replace the image's Cmd. The process runs Entrypoint + Cmd.
 */
export function commandOf(image: ImageRunConfig, entrypointFlag: string | undefined, cmdArgs: readonly string[]): { entrypoint: string[]; cmd: string[]; args: string[] } {
  const entrypoint = entrypointFlag === undefined ? [...(image.Entrypoint ?? [])] : entrypointFlag === '' ? [] : [entrypointFlag];
  const cmd = cmdArgs.length > 0 ? [...cmdArgs] : entrypointFlag === undefined ? [...(image.Cmd ?? [])] : [];
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw invalidArgument('no command specified');
  return { entrypoint, cmd, args };
}

// ---- environment ----

/** KEY=VALUE entries, later ones replacing earlier ones of the same key in place (first-seen order). */
export function mergeEnv(...lists: ReadonlyArray<readonly string[]>): string[] {
  const byKey = new Map<string, string>();
  for (const list of lists) {
    for (const entry of list) {
      const eq = entry.indexOf('=');
      const key = eq < 0 ? entry : entry.slice(0, eq);
      byKey.set(key, entry);
    }
  }
  return [...byKey.values()];
}

/** -e KEY=VALUE, or -e KEY to take the value from ctrctl's own environment (skipped when unset), as docker. */
export function parseEnvFlag(value: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const eq = value.indexOf('=');
  const key = eq < 0 ? value : value.slice(0, eq);
  if (key === '' || /\s/.test(key)) throw invalidArgument(`invalid environment variable: ${value}`);
  if (eq >= 0) return value;
  const v = env[key];
  return v === undefined ? undefined : `${key}=${v}`;
}

// ---- users ----

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const nonNegativeInt = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined);

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const uid = nonNegativeInt(f[2]);
    const gid = nonNegativeInt(f[3]);
    if (!f[0] || uid === undefined || gid === undefined) continue;
    out.push({ name: f[0], uid, gid, home: f[5] ?? '' });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const gid = nonNegativeInt(f[2]);
    if (!f[0] || gid === undefined) continue;
    out.push({ name: f[0], gid, members: (f[3] ?? '').split(',').filter((m) => m !== '') });
  }
  return out;
}

/** Whether a user string needs the image's files: a name anywhere, or a uid without a group. */
export function userNeedsFiles(user: string): boolean {
  return user !== '' && !/^\d+:\d+$/.test(user);
}

/**
 * docker's user resolution (USER[:GROUP], each a name or a number): a name must be in /etc/passwd (or
 * /etc/group); a bare uid takes its passwd gid, or 0; the supplementary groups are the groups that list the
 * user by name. Files that are missing count as empty.
 */
export function resolveUser(user: string, passwdText = '', groupText = ''): OciUser {
  if (user === '') return { uid: 0, gid: 0 };
  const [userPart = '', groupPart] = user.split(':', 2);
  if (userPart === '') throw invalidArgument(`invalid user "${user}"`);
  const passwd = parsePasswd(passwdText);
  const groups = parseGroup(groupText);
  const uidNum = nonNegativeInt(userPart);
  let entry: PasswdEntry | undefined;
  let uid: number;
  if (uidNum !== undefined) {
    uid = uidNum;
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) throw invalidArgument(`unable to find user ${userPart}: no matching entries in passwd file`);
    uid = entry.uid;
  }
  let gid = entry?.gid ?? 0;
  if (groupPart !== undefined) {
    if (groupPart === '') throw invalidArgument(`invalid user "${user}"`);
    const gidNum = nonNegativeInt(groupPart);
    if (gidNum !== undefined) gid = gidNum;
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw invalidArgument(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  }
  const additional = entry ? groups.filter((g) => g.members.includes(entry.name) && g.gid !== gid).map((g) => g.gid) : [];
  return additional.length > 0 ? { uid, gid, additionalGids: [...new Set(additional)] } : { uid, gid };
}

// ---- resources ----

const binaryUnits: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** go-units RAMInBytes: "64m", "1.5g", "512k", "1024" (bytes); the units are binary, b/B and i optional. */
export function parseMemory(value: string): number {
  const m = /^(\d+(?:\.\d+)?) ?([kKmMgGtTpPbB])?[iI]?[bB]?$/.exec(value.trim());
  if (!m) throw invalidArgument(`invalid size: '${value}'`);
  const bytes = Math.trunc(Number(m[1]) * binaryUnits[(m[2] ?? 'b').toLowerCase()]!);
  return bytes;
}

/** docker's linux minimum for -m. */
export const minimumMemory = 6 * 1024 * 1024;

export interface ResourceFlags {
  memory?: string;
  cpus?: string;
  cpusetCpus?: string;
  pidsLimit?: string;
}

export interface HostResources {
  /** Bytes; 0 = no limit. */
  Memory: number;
  NanoCpus: number;
  CpusetCpus: string;
  /** null = no limit, as docker reports it. */
  PidsLimit: number | null;
}

export const cpuPeriod = 100_000;

/** Checks the resource flags and turns them into docker's HostConfig numbers. */
export function parseResources(flags: ResourceFlags, onlineCpus: number): HostResources {
  const out: HostResources = { Memory: 0, NanoCpus: 0, CpusetCpus: '', PidsLimit: null };
  if (flags.memory !== undefined) {
    out.Memory = parseMemory(flags.memory);
    if (out.Memory > 0 && out.Memory < minimumMemory) throw invalidArgument('Minimum memory limit allowed is 6MB');
  }
  if (flags.cpus !== undefined) {
    if (!/^\d*\.?\d+$/.test(flags.cpus.trim())) throw invalidArgument(`invalid argument "${flags.cpus}" for "--cpus" flag`);
    const nano = Math.round(Number(flags.cpus) * 1e9);
    if (nano !== 0 && (nano < 0.01 * 1e9 || nano > onlineCpus * 1e9)) {
      throw invalidArgument(`range of CPUs is from 0.01 to ${onlineCpus}.00, as there are only ${onlineCpus} CPUs available`);
    }
    out.NanoCpus = nano;
  }
  if (flags.cpusetCpus !== undefined) {
    const v = flags.cpusetCpus.trim();
    if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(v)) throw invalidArgument(`invalid value ${flags.cpusetCpus} for cpuset cpus`);
    for (const part of v.split(',')) {
      const [lo, hi = lo] = part.split('-').map(Number) as [number, number?];
      if (hi! < lo || hi! >= onlineCpus) {
        throw invalidArgument(`Requested CPUs are not available - requested ${flags.cpusetCpus}, available: 0-${onlineCpus - 1}`);
      }
    }
    out.CpusetCpus = v;
  }
  if (flags.pidsLimit !== undefined) {
    if (!/^-?\d+$/.test(flags.pidsLimit.trim())) throw invalidArgument(`invalid argument "${flags.pidsLimit}" for "--pids-limit" flag`);
    const n = Number(flags.pidsLimit);
    // docker: 0 and -1 mean no limit.
    out.PidsLimit = n > 0 ? n : null;
  }
  return out;
}

function applyResources(spec: OciSpec, r: HostResources): void {
  const res = spec.linux.resources;
  if (r.Memory > 0) res.memory = { limit: r.Memory };
  if (r.NanoCpus > 0 || r.CpusetCpus) {
    res.cpu = {};
    if (r.NanoCpus > 0) {
      res.cpu.period = cpuPeriod;
      res.cpu.quota = Math.round((r.NanoCpus * cpuPeriod) / 1e9);
    }
    if (r.CpusetCpus) res.cpu.cpus = r.CpusetCpus;
  }
  if (r.PidsLimit !== null) res.pids = { limit: r.PidsLimit };
}

/** The HostConfig numbers back from a spec (for inspect). */
export function resourcesOf(spec: OciSpec): HostResources {
  const res = spec.linux?.resources;
  const quota = res?.cpu?.quota ?? 0;
  const period = res?.cpu?.period ?? 0;
  return {
    Memory: res?.memory?.limit ?? 0,
    NanoCpus: quota > 0 && period > 0 ? Math.round((quota * 1e9) / period) : 0,
    CpusetCpus: res?.cpu?.cpus ?? '',
    PidsLimit: res?.pids?.limit ?? null,
  };
}

// ---- the whole spec ----

export interface RunSpecOptions {
  ns: string;
  id: string;
  image: ImageRunConfig;
  args: string[];
  env: string[];
  workdir?: string;
  user: OciUser;
  hostname?: string;
  tty: boolean;
  resources: HostResources;
}

export function buildSpec(o: RunSpecOptions): OciSpec {
  const spec = defaultSpec(o.ns, o.id);
  const hostname = o.hostname ?? o.id.slice(0, 12);
  spec.hostname = hostname;
  spec.process.args = [...o.args];
  spec.process.terminal = o.tty;
  spec.process.user = o.user;
  const workdir = o.workdir || o.image.WorkingDir || '/';
  if (!workdir.startsWith('/')) throw invalidArgument(`the working directory '${workdir}' is invalid, it needs to be an absolute path`);
  spec.process.cwd = workdir;
  // docker's order: PATH default, HOSTNAME, the image's, TERM for a tty, then the flags.
  spec.process.env = mergeEnv([defaultPath, `HOSTNAME=${hostname}`], o.image.Env ?? [], o.tty ? ['TERM=xterm'] : [], o.env);
  applyResources(spec, o.resources);
  return spec;
}
