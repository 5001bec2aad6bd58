// docker ps --filter: id, name, label, exited, status, ancestor, before, since, network, publish and expose;
// each key may be given more than once (any of its values matches), different keys must all match.
import { invalidArgument, isNotFound } from '../../lib/errdefs.js';
import { unary, type Clients } from '../../lib/grpc/client.js';
import { stateOf, type ContainerInfo, type DockerState } from './container-state.js';
import { resolveContainer } from './names.js';
import { runtimeClients } from './runtime-clients.js';
import { networkOf } from './port.js';
import { portKey } from '../../lib/container-network.js';

const statuses: readonly DockerState[] = ['created', 'running', 'paused', 'exited'];
// docker's other states, which a ctrd container is never in but a person may still ask for.
const otherStatuses = ['restarting', 'removing', 'dead'];
const keys = ['id', 'name', 'label', 'exited', 'status', 'ancestor', 'before', 'since', 'network', 'publish', 'expose'] as const;
type Key = (typeof keys)[number];

export type PsFilters = Map<Key, string[]>;

export function parsePsFilters(filters: readonly string[]): PsFilters {
  const out: PsFilters = new Map();
  for (const f of filters) {
    const eq = f.indexOf('=');
    if (eq < 1) throw invalidArgument(`bad format of filter (expected name=value): ${f}`);
    const key = f.slice(0, eq) as Key;
    const value = f.slice(eq + 1);
    if (!keys.includes(key)) throw invalidArgument(`invalid filter '${f.slice(0, eq)}': ps filters by ${keys.join(', ')}`);
    if (key === 'status' && !statuses.includes(value as DockerState) && !otherStatuses.includes(value)) {
      throw invalidArgument(`invalid filter 'status=${value}': the status is one of ${[...statuses, ...otherStatuses].join(', ')}`);
    }
    if (key === 'exited' && !/^-?\d+$/.test(value)) throw invalidArgument(`invalid filter 'exited=${value}': the exit code is an integer`);
    if ((key === 'publish' || key === 'expose') && !/^\d+(\/(tcp|udp|sctp))?$/i.test(value)) {
      throw invalidArgument(`invalid filter '${key}=${value}': a port, as 80 or 80/udp`);
    }
    out.set(key, [...(out.get(key) ?? []), value]);
  }
  return out;
}

/** Whether a filter implies stopped containers (docker ps shows them then without -a). */
export const listsStopped = (f: PsFilters) => f.has('exited') || (f.get('status') ?? []).some((s) => s !== 'running' && s !== 'paused');

/** docker matches name filters as regular expressions against the name (with its leading slash). */
function nameMatches(pattern: string, name: string): boolean {
  try {
    return new RegExp(pattern).test(`/${name}`);
  } catch {
    return `/${name}`.includes(pattern);
  }
}

function labelMatches(spec: string, labels: Readonly<Record<string, string>>): boolean {
  const eq = spec.indexOf('=');
  if (eq < 0) return spec in labels;
  return labels[spec.slice(0, eq)] === spec.slice(eq + 1);
}

/** The predicate, with what it needs from ctrd looked up once (image IDs for ancestor, containers for before/since). */
export async function compilePsFilters(c: Clients, f: PsFilters, all: readonly ContainerInfo[]): Promise<(i: ContainerInfo) => boolean> {
  const imageIdOf = new Map<string, string>();
  const idOfImage = async (ref: string): Promise<string | undefined> => {
    if (!imageIdOf.has(ref)) {
      try {
        const res = await unary(c.ctrdImages, c.ctrdImages.inspect, { reference: ref });
        imageIdOf.set(ref, res.image?.id ?? '');
      } catch (err) {
        if (!isNotFound(err)) throw err;
        imageIdOf.set(ref, '');
      }
    }
    return imageIdOf.get(ref) || undefined;
  };
  const ancestors = new Set<string>();
  for (const a of f.get('ancestor') ?? []) {
    const id = await idOfImage(a);
    // An image that is not here has no containers: the filter matches none.
    ancestors.add(id ?? `missing:${a}`);
  }
  const imageIds = new Map<string, string | undefined>();
  if (ancestors.size > 0) for (const i of all) imageIds.set(i.container.id, await idOfImage(i.container.image));
  const createdOf = (input: string) => resolveContainer(all.map((i) => i.container), input).createdAt?.getTime() ?? 0;
  // A network filter is a name, an ID or an ID prefix: each as the network's name (none matches a network that is not here).
  const networks = new Set<string>();
  for (const v of f.get('network') ?? []) {
    const nc = runtimeClients(c).networks;
    const got = await unary(nc, nc.get, { name: v }).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (got?.network) networks.add(got.network.name);
  }
  const portOf = (v: string) => (v.includes('/') ? v.toLowerCase() : `${v}/tcp`);
  const before = (f.get('before') ?? []).map(createdOf);
  const since = (f.get('since') ?? []).map(createdOf);

  const any = (key: Key, test: (v: string) => boolean) => {
    const values = f.get(key);
    return !values || values.some(test);
  };
  return (i) => {
    const c = i.container;
    const s = stateOf(i);
    const created = c.createdAt?.getTime() ?? 0;
    return (
      any('id', (v) => c.id.startsWith(v)) &&
      any('name', (v) => nameMatches(v, i.name)) &&
      (f.get('label') ?? []).every((v) => labelMatches(v, c.labels)) &&
      any('exited', (v) => s.status === 'exited' && s.exitCode === Number(v)) &&
      any('status', (v) => s.status === v) &&
      any('ancestor', () => ancestors.has(imageIds.get(c.id) ?? '')) &&
      before.every((t) => created < t) &&
      since.every((t) => created > t) &&
      (!f.has('network') || (networkOf(c)?.networks ?? []).some((a) => networks.has(a.name))) &&
      any('publish', (v) => (networkOf(c)?.ports ?? []).some((p) => portKey(p.containerPort, p.protocol) === portOf(v))) &&
      any('expose', (v) => (networkOf(c)?.exposed ?? []).includes(portOf(v)))
    );
  };
}
