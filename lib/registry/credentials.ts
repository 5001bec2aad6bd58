// Registry credentials: given explicitly, or read from Docker's config file ($DOCKER_CONFIG/config.json or
// ~/.docker/config.json, "auths" only: credential helpers are not run). Docker keys docker.io's entry
// "https://index.docker.io/v1/"; other keys may carry a scheme and a path, which are ignored.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { errnoCode, invalidArgument } from '../errdefs.js';

export interface Credentials {
  username: string;
  password: string;
}

/** Credentials for a registry host (as the endpoint is named: "127.0.0.1:5000", "registry-1.docker.io"). */
export type CredentialsProvider = (host: string) => Credentials | undefined | Promise<Credentials | undefined>;

const dockerHubHosts = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** Docker's ConvertToHostname: "https://index.docker.io/v1/" -> "index.docker.io". */
function configKeyHost(key: string): string {
  const bare = key.replace(/^https?:\/\//, '');
  return bare.split('/')[0]!;
}

const sameRegistry = (a: string, b: string) => a === b || (dockerHubHosts.has(a) && dockerHubHosts.has(b));

/** Explicit credentials per registry host ("docker.io" also answers for registry-1.docker.io). */
export function staticCredentials(byHost: Record<string, Credentials>): CredentialsProvider {
  return (host) => {
    for (const [key, creds] of Object.entries(byHost)) if (sameRegistry(configKeyHost(key), host)) return creds;
    return undefined;
  };
}

interface DockerAuthEntry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
}

function entryCredentials(entry: DockerAuthEntry, key: string, file: string): Credentials | undefined {
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) throw invalidArgument(`${file}: auths["${key}"].auth is not base64 of "user:password"`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string') {
    return { username: entry.username, password: entry.password };
  }
  return undefined;
}

/** The directory of Docker's config: $DOCKER_CONFIG, else ~/.docker. */
export function dockerConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker');
}

/**
 * Credentials from Docker's config.json, read at each lookup (a `docker login` meanwhile counts). A missing
 * file means no credentials; a malformed one is an InvalidArgument naming the file.
 */
export function dockerConfigCredentials(opts: { configDir?: string } = {}): CredentialsProvider {
  return (host) => {
    const file = join(opts.configDir ?? dockerConfigDir(), 'config.json');
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
    let config: { auths?: Record<string, DockerAuthEntry> };
    try {
      config = JSON.parse(text) as typeof config;
    } catch (err) {
      throw invalidArgument(`${file}: not valid JSON: ${(err as Error).message}`, err);
    }
    const auths = config.auths ?? {};
    // An exact key first, then any key naming the same host.
    const keys = Object.keys(auths).sort((a, b) => Number(b === host) - Number(a === host));
    for (const key of keys) {
      const entry = auths[key];
      if (entry === undefined || typeof entry !== 'object' || !sameRegistry(configKeyHost(key), host)) continue;
      const creds = entryCredentials(entry, key, file);
      if (creds) return creds;
    }
    return undefined;
  };
}
