// docker login's check: are these credentials good for this registry? GET /v2/ as docker does; on a 401 the
// challenge is answered with them (Basic, or a token from the Bearer realm, whose server checks them), and
// /v2/ asked again. Nothing is stored here: keeping the credentials is the client's business.
import { CtrdError, invalidArgument } from '../errdefs.js';
import { silentLogger, type Logger } from '../log.js';
import { ctrdVersion } from '../version.js';
import { Authorizer } from './auth.js';
import type { Credentials } from './credentials.js';
import { readErrorMessage, statusError, statusMessage } from './errors.js';
import { registryEndpoints, type HostsConfig } from './hosts.js';
import { defaultDomain } from './reference.js';
import { discard, Transport } from './transport.js';

export interface LoginOptions {
  hosts?: HostsConfig;
  plainHttp?: boolean;
  timeoutMs?: number;
  logger?: Logger;
  signal?: AbortSignal;
}

const dockerHubServers = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/**
 * The registry a login server names, as references name it: "https://index.docker.io/v1/" and "" are
 * docker.io, "http://127.0.0.1:5000/v2/" is 127.0.0.1:5000 (docker's ConvertToHostname).
 */
export function loginRegistry(server: string): string {
  const bare = server.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split('/')[0]!;
  if (bare === '' || dockerHubServers.has(bare.toLowerCase())) return defaultDomain;
  if (!/^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::\d+)?$/.test(bare)) throw invalidArgument(`invalid registry server "${server}"`);
  return bare.toLowerCase();
}

/** Resolves when the registry takes the credentials; Unauthenticated with the registry's words when not. */
export async function checkLogin(server: string, creds: Credentials, opts: LoginOptions = {}): Promise<void> {
  const registry = loginRegistry(server);
  const ep = registryEndpoints(registry, opts.hosts ?? {}, { plainHttp: opts.plainHttp === true }).find((e) => e.capabilities.includes('push'))!;
  const log = opts.logger ?? silentLogger;
  const transport = new Transport({ userAgent: `ctrd/${ctrdVersion}`, logger: log, ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) });
  const auth = new Authorizer(transport, () => creds, log);
  const url = new URL(`${ep.scheme}://${ep.host}${ep.path}/`);
  const signal = opts.signal ? { signal: opts.signal } : {};
  try {
    const first = await transport.request({ method: 'GET', url, skipVerify: ep.skipVerify, ...signal });
    if (first.status === 200) {
      // A registry that asks for nothing takes any credentials, as docker login finds.
      discard(first);
      log.info({ registry }, 'login: the registry asks for no credentials');
      return;
    }
    if (first.status !== 401) throw await statusError(first, `login to ${registry}`);
    discard(first);
    let authorization: string;
    try {
      authorization = await auth.challenge(ep.host, first.headers['www-authenticate'], [], opts.signal);
    } catch (err) {
      throw err instanceof CtrdError ? new CtrdError(err.kind, `login to ${registry}: ${err.message}`, { cause: err }) : err;
    }
    const second = await transport.request({ method: 'GET', url, headers: { authorization }, skipVerify: ep.skipVerify, ...signal });
    if (second.status === 200) {
      discard(second);
      return;
    }
    if (second.status === 401) throw new CtrdError('unauthenticated', `login to ${registry}: ${statusMessage(401, await readErrorMessage(second))}`);
    throw await statusError(second, `login to ${registry}`);
  } finally {
    transport.close();
  }
}
