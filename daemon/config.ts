// ctrd's configuration: a TOML file in containerd's style (version 2, root, state, [grpc], [debug]),
// overlaid by command-line flags. `ctrd config default` prints defaultConfig() as TOML.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'smol-toml';
import { errnoCode, invalidArgument } from '../lib/errdefs.js';
import { logLevels } from '../lib/log.js';
import { parseLogSize } from '../lib/jsonlog.js';
import { projectRoot } from '../lib/project-root.js';

export interface Config {
  version: number;
  root: string;
  state: string;
  grpc: {
    address: string;
    uid: number;
    gid: number;
    max_recv_message_size: number;
    max_send_message_size: number;
  };
  debug: {
    level: string;
  };
  images: {
    /** Where pulls unpack when the client names no snapshotter: overlayfs or native. */
    snapshotter: string;
    /** Layers one pull fetches at once. */
    max_concurrent_downloads: number;
  };
  registry: {
    /** Per registry host ("docker.io", "127.0.0.1:5000"): mirrors tried first, plain http, no TLS checks. */
    hosts: Record<string, { mirrors?: string[]; insecure?: boolean; skip_verify?: boolean }>;
  };
  /** Seconds between sweeps of expired leases. */
  lease_expiry_interval: number;
  /** Containers' json-file logs: what a container gets when its client names no max-size or max-file. */
  logs: {
    /** Bytes a log file holds before it is rotated, as docker's max-size ("10m", "1g"; "-1" for no limit). */
    max_size: string;
    /** Files kept per container, the live one included. */
    max_file: number;
  };
  /** Containers' networks (CNI). */
  network: {
    /** The bridge device of the default network ("bridge"). */
    default_bridge: string;
    /** The default network's subnet when it is first made; empty: the first free one of docker's pools. */
    default_subnet: string;
    /** Where CNI plugin executables are looked for, in order. */
    cni_bin_dirs: string[];
  };
  /**
   * Runtime names ("io.containerd.runc.v2") to the shim binary that serves them. A name not listed here
   * resolves by containerd's rule (containerd-shim-runc-v2 on PATH); an absolute path runs that binary.
   */
  runtimes: Record<string, RuntimeConfig>;
}

export interface RuntimeConfig {
  /** The shim binary, an absolute path. */
  shim: string;
  /**
   * Which tasks share one shim process: "container" (one shim each, as containerd without pods),
   * "pod" (the tasks of a pod: the io.kubernetes.cri.sandbox-id or io.containerd.runc.v2.group
   * annotation), "namespace" (every task of a namespace, pods still apart). The shim must serve several
   * tasks (ctrd's and containerd's runc shims do). Default: "namespace" for ctrd's own shim, else "container".
   */
  group?: ShimGrouping;
  /** Seconds an emptied shared shim is kept for the next task before it is shut down (default 10). */
  idle_timeout?: number;
}

export const shimGroupings = ['container', 'pod', 'namespace'] as const;
export type ShimGrouping = (typeof shimGroupings)[number];

/** ctrd's own shim, the default runtime's. */
export const ctrdShimBinary = join(projectRoot, 'bin', 'containerd-shim-ctrd-v2');

export const defaultConfigPath = '/etc/ctrd/config.toml';

export function defaultConfig(): Config {
  return {
    version: 2,
    root: '/var/lib/ctrd',
    state: '/run/ctrd',
    grpc: {
      address: '/run/ctrd/ctrd.sock',
      uid: 0,
      gid: 0,
      max_recv_message_size: 16 * 1024 * 1024,
      max_send_message_size: 16 * 1024 * 1024,
    },
    debug: { level: 'info' },
    images: { snapshotter: 'overlayfs', max_concurrent_downloads: 3 },
    registry: { hosts: {} },
    lease_expiry_interval: 60,
    logs: { max_size: '10m', max_file: 3 },
    network: { default_bridge: 'ctrd0', default_subnet: '', cni_bin_dirs: ['/usr/lib/cni', '/opt/cni/bin'] },
    // containerd's default runtime name runs ctrd's own shim.
    runtimes: { 'io.containerd.runc.v2': { shim: ctrdShimBinary, group: 'namespace', idle_timeout: 10 } },
  };
}

export function configToToml(config: Config): string {
  return stringify(config as unknown as Record<string, unknown>) + '\n';
}

type Shape = { [key: string]: 'string' | 'number' | 'strings' | 'hosts' | 'runtimes' | Shape };

const shape: Shape = {
  version: 'number',
  root: 'string',
  state: 'string',
  grpc: { address: 'string', uid: 'number', gid: 'number', max_recv_message_size: 'number', max_send_message_size: 'number' },
  debug: { level: 'string' },
  images: { snapshotter: 'string', max_concurrent_downloads: 'number' },
  registry: { hosts: 'hosts' },
  lease_expiry_interval: 'number',
  logs: { max_size: 'string', max_file: 'number' },
  network: { default_bridge: 'string', default_subnet: 'string', cni_bin_dirs: 'strings' },
  runtimes: 'runtimes',
};

/** Copies the keys of `from` onto `into`, checking each against the shape; unknown keys are errors. */
function overlay(into: Record<string, unknown>, from: Record<string, unknown>, sh: Shape, where: string, file: string): void {
  for (const [key, value] of Object.entries(from)) {
    const want = sh[key];
    const path = where ? `${where}.${key}` : key;
    if (want === undefined) throw invalidArgument(`config ${file}: unknown key "${path}"`);
    if (want === 'hosts') {
      into[key] = registryHosts(value, path, file);
    } else if (want === 'runtimes') {
      into[key] = { ...(into[key] as Config['runtimes']), ...runtimes(value, path, file) };
    } else if (want === 'strings') {
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw invalidArgument(`config ${file}: "${path}" must be a list of strings`);
      into[key] = [...(value as string[])];
    } else if (typeof want === 'object') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw invalidArgument(`config ${file}: "${path}" must be a table`);
      }
      overlay(into[key] as Record<string, unknown>, value as Record<string, unknown>, want, path, file);
    } else {
      if (typeof value !== want && !(want === 'number' && typeof value === 'bigint')) {
        throw invalidArgument(`config ${file}: "${path}" must be a ${want}`);
      }
      into[key] = want === 'number' ? Number(value) : value;
    }
  }
}

const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** [registry.hosts."<host>"] tables: mirrors (strings), insecure and skip_verify (booleans). */
function registryHosts(value: unknown, path: string, file: string): Config['registry']['hosts'] {
  if (!isTable(value)) throw invalidArgument(`config ${file}: "${path}" must be a table of registry hosts`);
  const out: Config['registry']['hosts'] = {};
  for (const [host, h] of Object.entries(value)) {
    const where = `${path}."${host}"`;
    if (!isTable(h)) throw invalidArgument(`config ${file}: "${where}" must be a table`);
    const entry: Config['registry']['hosts'][string] = {};
    for (const [k, v] of Object.entries(h)) {
      if (k === 'mirrors') {
        if (!Array.isArray(v) || v.some((m) => typeof m !== 'string')) throw invalidArgument(`config ${file}: "${where}.mirrors" must be a list of strings`);
        entry.mirrors = v as string[];
      } else if (k === 'insecure' || k === 'skip_verify') {
        if (typeof v !== 'boolean') throw invalidArgument(`config ${file}: "${where}.${k}" must be true or false`);
        entry[k] = v;
      } else {
        throw invalidArgument(`config ${file}: unknown key "${where}.${k}"`);
      }
    }
    out[host] = entry;
  }
  return out;
}

/** [runtimes."<name>"] tables: shim, an absolute path; group; idle_timeout. */
function runtimes(value: unknown, path: string, file: string): Config['runtimes'] {
  if (!isTable(value)) throw invalidArgument(`config ${file}: "${path}" must be a table of runtimes`);
  const out: Config['runtimes'] = {};
  for (const [name, r] of Object.entries(value)) {
    const where = `${path}."${name}"`;
    if (!isTable(r)) throw invalidArgument(`config ${file}: "${where}" must be a table`);
    for (const k of Object.keys(r)) if (!['shim', 'group', 'idle_timeout'].includes(k)) throw invalidArgument(`config ${file}: unknown key "${where}.${k}"`);
    if (typeof r.shim !== 'string' || !r.shim.startsWith('/')) throw invalidArgument(`config ${file}: "${where}.shim" must be an absolute path`);
    const entry: RuntimeConfig = { shim: r.shim };
    if (r.group !== undefined) {
      if (!shimGroupings.includes(r.group as ShimGrouping)) throw invalidArgument(`config ${file}: "${where}.group" must be one of ${shimGroupings.join(', ')}`);
      entry.group = r.group as ShimGrouping;
    }
    if (r.idle_timeout !== undefined) {
      if (typeof r.idle_timeout !== 'number' || !(r.idle_timeout >= 0)) throw invalidArgument(`config ${file}: "${where}.idle_timeout" must be a number of seconds, 0 or more`);
      entry.idle_timeout = r.idle_timeout;
    }
    out[name] = entry;
  }
  return out;
}

/** The registry client's hosts config from the daemon's. */
export function hostsConfig(config: Config): Record<string, { mirrors?: string[]; insecure?: boolean; skipVerify?: boolean }> {
  return Object.fromEntries(
    Object.entries(config.registry.hosts).map(([host, h]) => [
      host,
      { ...(h.mirrors ? { mirrors: h.mirrors } : {}), ...(h.insecure !== undefined ? { insecure: h.insecure } : {}), ...(h.skip_verify !== undefined ? { skipVerify: h.skip_verify } : {}) },
    ]),
  );
}

export function validateConfig(config: Config, file = '(flags)'): Config {
  if (config.version !== 2) throw invalidArgument(`config ${file}: version ${config.version} is not supported (want 2)`);
  for (const [key, v] of [['root', config.root], ['state', config.state], ['grpc.address', config.grpc.address]] as const) {
    if (!v.startsWith('/')) throw invalidArgument(`config ${file}: ${key} "${v}" must be an absolute path`);
  }
  if (!logLevels.includes(config.debug.level as never)) {
    throw invalidArgument(`config ${file}: debug.level "${config.debug.level}" is not one of ${logLevels.join(', ')}`);
  }
  if (!['overlayfs', 'native'].includes(config.images.snapshotter)) {
    throw invalidArgument(`config ${file}: images.snapshotter "${config.images.snapshotter}" is not one of overlayfs, native`);
  }
  if (!Number.isInteger(config.images.max_concurrent_downloads) || config.images.max_concurrent_downloads < 1) {
    throw invalidArgument(`config ${file}: images.max_concurrent_downloads must be a positive integer`);
  }
  if (!(config.lease_expiry_interval > 0)) {
    throw invalidArgument(`config ${file}: lease_expiry_interval must be a positive number of seconds`);
  }
  try {
    parseLogSize(config.logs.max_size);
  } catch {
    throw invalidArgument(`config ${file}: logs.max_size "${config.logs.max_size}" is not a size (10m, 1g, -1 for no limit)`);
  }
  if (!Number.isInteger(config.logs.max_file) || config.logs.max_file < 1) {
    throw invalidArgument(`config ${file}: logs.max_file must be a positive integer`);
  }
  if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(config.network.default_bridge)) {
    throw invalidArgument(`config ${file}: network.default_bridge "${config.network.default_bridge}" is not an interface name (at most 15 of [a-zA-Z0-9_.-])`);
  }
  if (config.network.cni_bin_dirs.length === 0 || config.network.cni_bin_dirs.some((d) => !d.startsWith('/'))) {
    throw invalidArgument(`config ${file}: network.cni_bin_dirs must be a list of absolute paths`);
  }
  if (config.grpc.max_recv_message_size <= 0 || config.grpc.max_send_message_size <= 0) {
    throw invalidArgument(`config ${file}: grpc message sizes must be positive`);
  }
  return config;
}

/**
 * Loads the config file over the defaults. A missing file is fine only when it is the default path
 * (a daemon runs on embedded defaults); a file the operator named must exist.
 */
export function loadConfig(path: string | undefined): Config {
  const config = defaultConfig();
  const file = path ?? defaultConfigPath;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' && path === undefined) return config;
    throw invalidArgument(`config ${file}: ${(err as Error).message}`);
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = parse(text) as Record<string, unknown>;
  } catch (err) {
    throw invalidArgument(`config ${file}: ${(err as Error).message}`);
  }
  overlay(config as unknown as Record<string, unknown>, parsed, shape, '', file);
  return validateConfig(config, file);
}
