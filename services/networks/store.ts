// The rows of ctrd's networks and of their endpoints (the CNI cache) in the metadata database. Knows SQL and
// nothing of CNI or devices; the network manager decides what to write when.
import type { CniConfList, CniResult } from '../../lib/cni/cni.js';
import type { PortSpec } from '../../lib/container-network.js';
import { alreadyExists, invalidArgument, notFound } from '../../lib/errdefs.js';
import type { Labels } from '../../lib/labels.js';
import { parseLabels, type MetadataDB } from '../metadata/db.js';

export interface Network {
  id: string;
  name: string;
  driver: string;
  subnet: string;
  gateway: string;
  bridge: string;
  internal: boolean;
  options: Record<string, string>;
  labels: Labels;
  isDefault: boolean;
  createdAt: Date;
}

export interface EndpointRow {
  ns: string;
  containerId: string;
  networkId: string;
  ifname: string;
  netns: string;
  aliases: string[];
  /** Host ports resolved. */
  ports: PortSpec[];
  conflist: CniConfList;
  capabilityArgs: Record<string, unknown>;
  /** Undefined while ADD has not finished (or never did). */
  result: CniResult | undefined;
  createdAt: Date;
}

interface NetworkRow {
  id: string;
  name: string;
  driver: string;
  subnet: string;
  gateway: string;
  bridge: string;
  internal: number;
  options: string;
  labels: string;
  is_default: number;
  created_at: number;
}

interface RawEndpoint {
  namespace: string;
  container_id: string;
  network_id: string;
  ifname: string;
  netns: string;
  aliases: string;
  ports: string;
  conflist: string;
  capability_args: string;
  result: string;
  created_at: number;
}

const toNetwork = (r: NetworkRow): Network => ({
  id: r.id,
  name: r.name,
  driver: r.driver,
  subnet: r.subnet,
  gateway: r.gateway,
  bridge: r.bridge,
  internal: r.internal === 1,
  options: parseLabels(r.options),
  labels: parseLabels(r.labels),
  isDefault: r.is_default === 1,
  createdAt: new Date(r.created_at),
});

const toEndpoint = (r: RawEndpoint): EndpointRow => ({
  ns: r.namespace,
  containerId: r.container_id,
  networkId: r.network_id,
  ifname: r.ifname,
  netns: r.netns,
  aliases: JSON.parse(r.aliases) as string[],
  ports: JSON.parse(r.ports) as PortSpec[],
  conflist: JSON.parse(r.conflist) as CniConfList,
  capabilityArgs: JSON.parse(r.capability_args) as Record<string, unknown>,
  result: r.result === '' ? undefined : (JSON.parse(r.result) as CniResult),
  createdAt: new Date(r.created_at),
});

const networkColumns = 'id, name, driver, subnet, gateway, bridge, internal, options, labels, is_default, created_at';
const endpointColumns = 'namespace, container_id, network_id, ifname, netns, aliases, ports, conflist, capability_args, result, created_at';

export class NetworkStore {
  constructor(private readonly db: MetadataDB) {}

  tx<T>(fn: () => T): T {
    return this.db.tx(fn);
  }

  all(): Network[] {
    return (this.db.stmt(`SELECT ${networkColumns} FROM networks ORDER BY is_default DESC, name`).all() as NetworkRow[]).map(toNetwork);
  }

  byId(id: string): Network | undefined {
    const row = this.db.stmt(`SELECT ${networkColumns} FROM networks WHERE id = ?`).get(id) as NetworkRow | undefined;
    return row && toNetwork(row);
  }

  /** docker's lookup: the exact name, then the full ID, then a unique ID prefix. */
  find(ref: string): Network | undefined {
    if (ref === '') throw invalidArgument('network name must not be empty');
    const byName = this.db.stmt(`SELECT ${networkColumns} FROM networks WHERE name = ?`).get(ref) as NetworkRow | undefined;
    if (byName) return toNetwork(byName);
    if (!/^[0-9a-f]+$/.test(ref)) return undefined;
    const rows = this.db.stmt(`SELECT ${networkColumns} FROM networks WHERE substr(id, 1, ?) = ?`).all(ref.length, ref) as NetworkRow[];
    if (rows.length > 1) throw invalidArgument(`network ${ref} is ambiguous (${rows.length} matches found based on ID prefix)`);
    return rows[0] && toNetwork(rows[0]);
  }

  get(ref: string): Network {
    const n = this.find(ref);
    if (!n) throw notFound(`network ${ref} not found`);
    return n;
  }

  insert(n: Network): void {
    try {
      this.db
        .stmt(`INSERT INTO networks (${networkColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(n.id, n.name, n.driver, n.subnet, n.gateway, n.bridge, n.internal ? 1 : 0, JSON.stringify(n.options), JSON.stringify(n.labels), n.isDefault ? 1 : 0, n.createdAt.getTime());
    } catch (err) {
      if ((err as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT')) {
        throw alreadyExists(`network with name ${n.name} already exists (or its bridge ${n.bridge} is another network's)`, err);
      }
      throw err;
    }
  }

  remove(id: string): void {
    this.db.stmt('DELETE FROM networks WHERE id = ?').run(id);
  }

  endpoints(where: { ns?: string; containerId?: string; networkId?: string } = {}): EndpointRow[] {
    const clauses: string[] = [];
    const args: string[] = [];
    if (where.ns !== undefined) clauses.push('namespace = ?'), args.push(where.ns);
    if (where.containerId !== undefined) clauses.push('container_id = ?'), args.push(where.containerId);
    if (where.networkId !== undefined) clauses.push('network_id = ?'), args.push(where.networkId);
    const sql = `SELECT ${endpointColumns} FROM network_endpoints${clauses.length ? ` WHERE ${clauses.join(' AND ')}` : ''} ORDER BY created_at, ifname`;
    return (this.db.stmt(sql).all(...args) as RawEndpoint[]).map(toEndpoint);
  }

  insertEndpoint(e: EndpointRow): void {
    this.db
      .stmt(`INSERT INTO network_endpoints (${endpointColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(
        e.ns,
        e.containerId,
        e.networkId,
        e.ifname,
        e.netns,
        JSON.stringify(e.aliases),
        JSON.stringify(e.ports),
        JSON.stringify(e.conflist),
        JSON.stringify(e.capabilityArgs),
        e.result ? JSON.stringify(e.result) : '',
        e.createdAt.getTime(),
      );
  }

  setResult(ns: string, containerId: string, networkId: string, result: CniResult): void {
    this.db.stmt('UPDATE network_endpoints SET result = ? WHERE namespace = ? AND container_id = ? AND network_id = ?').run(JSON.stringify(result), ns, containerId, networkId);
  }

  removeEndpoint(ns: string, containerId: string, networkId: string): void {
    this.db.stmt('DELETE FROM network_endpoints WHERE namespace = ? AND container_id = ? AND network_id = ?').run(ns, containerId, networkId);
  }
}
