// Where to send a registry's requests: per registry host, its mirrors in order (pull and resolve only), then
// the host itself (pull, resolve, push), as containerd's hosts.toml (remotes/docker/config). docker.io's API
// lives at registry-1.docker.io. Plain http is for loopback hosts and hosts configured insecure.
import { isIP } from 'node:net';
import { invalidArgument } from '../errdefs.js';
import { defaultDomain } from './reference.js';

export type Capability = 'pull' | 'resolve' | 'push';

/** One registry host's settings; the daemon fills these from its TOML config. */
export interface HostConfig {
  /** Mirrors tried first, in order: "host[:port]" or "http(s)://host[:port][/prefix]". */
  mirrors?: string[];
  /** Plain http (and no certificate check over https). */
  insecure?: boolean;
  /** https without verifying the server's certificate. */
  skipVerify?: boolean;
}

/** Keyed by registry host as a reference names it: "docker.io", "127.0.0.1:5000". */
export type HostsConfig = Record<string, HostConfig>;

export interface RegistryEndpoint {
  /** host[:port] to connect to. */
  host: string;
  scheme: 'http' | 'https';
  /** The API root: "/v2", or a mirror's prefix ending in "/v2". */
  path: string;
  skipVerify: boolean;
  capabilities: readonly Capability[];
  /** The registry the reference names, sent as ?ns= to mirrors (as containerd does). */
  namespace?: string;
}

const dockerApiHost = 'registry-1.docker.io';

/** The host[:port] without the port, IPv6 brackets removed. */
export function hostname(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

/** localhost, 127.0.0.0/8 and ::1: registries that may be plain http without configuration. */
export function isLocalHost(host: string): boolean {
  const name = hostname(host).toLowerCase();
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  if (isIP(name) === 6) return name === '::1' || name === '0:0:0:0:0:0:0:1';
  return false;
}

/** The host the API of a registry answers on: docker.io's is registry-1.docker.io. */
export const apiHost = (registry: string) => (registry === defaultDomain ? dockerApiHost : registry);

function plainAllowed(host: string, config: HostsConfig): boolean {
  return isLocalHost(host) || config[host]?.insecure === true;
}

function apiPath(path: string): string {
  const p = path.replace(/\/+$/, '');
  if (p === '') return '/v2';
  return p.endsWith('/v2') ? p : `${p}/v2`;
}

function mirrorEndpoint(registry: string, mirror: string, config: HostsConfig, plainHttp: boolean): RegistryEndpoint {
  const explicit = /^[a-z][a-z0-9+.-]*:\/\//i.test(mirror);
  let url: URL;
  try {
    url = new URL(explicit ? mirror : `https://${mirror}`);
  } catch (err) {
    throw invalidArgument(`registry ${registry}: invalid mirror "${mirror}"`, err);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalidArgument(`registry ${registry}: mirror "${mirror}" must be http or https`);
  }
  if (url.search || url.hash || url.username) throw invalidArgument(`registry ${registry}: mirror "${mirror}" must be a host and a path`);
  const host = url.host;
  let scheme: 'http' | 'https' = url.protocol === 'http:' ? 'http' : 'https';
  if (!explicit && (plainHttp || plainAllowed(host, config))) scheme = 'http';
  if (scheme === 'http' && explicit && !plainAllowed(host, config) && !plainHttp) {
    throw invalidArgument(`registry ${registry}: mirror "${mirror}" is plain http but ${host} is neither local nor configured insecure`);
  }
  return {
    host,
    scheme,
    path: apiPath(url.pathname),
    skipVerify: config[host]?.skipVerify === true || config[host]?.insecure === true,
    capabilities: ['pull', 'resolve'],
    namespace: registry,
  };
}

/**
 * The endpoints to try for a registry, in order: its mirrors, then the registry itself. `plainHttp` is
 * ctr's --plain-http: http for every host.
 */
export function registryEndpoints(registry: string, config: HostsConfig = {}, opts: { plainHttp?: boolean } = {}): RegistryEndpoint[] {
  const plainHttp = opts.plainHttp === true;
  const own = config[registry] ?? {};
  const endpoints = (own.mirrors ?? []).map((m) => mirrorEndpoint(registry, m, config, plainHttp));
  const host = apiHost(registry);
  endpoints.push({
    host,
    scheme: plainHttp || plainAllowed(registry, config) ? 'http' : 'https',
    path: '/v2',
    skipVerify: own.skipVerify === true || own.insecure === true,
    capabilities: ['pull', 'resolve', 'push'],
  });
  return endpoints;
}

/** The base URL of an endpoint: "http://127.0.0.1:5000/v2". */
export const endpointUrl = (e: RegistryEndpoint) => `${e.scheme}://${e.host}${e.path}`;
