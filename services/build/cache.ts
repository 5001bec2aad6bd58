// The builder's layer cache in the metadata database: a step's key to the state after it (the image config
// and every layer under it). The cache holds nothing for GC: a row whose layers are gone is dropped, so the
// cache goes with the images built through it.
import type { Descriptor } from '../../lib/registry/manifest.js';
import type { MetadataDB } from '../metadata/db.js';
import type { ImageConfig } from '../images/manifest.js';

export interface CachedState {
  config: ImageConfig & Record<string, unknown>;
  layers: Descriptor[];
}

interface Row {
  config: string;
  layers: string;
}

export class BuildCache {
  constructor(private readonly db: MetadataDB) {}

  /** The state a step with this key made, if it is cached and every layer it names is still there. */
  get(ns: string, key: string, hasLayer: (digest: string) => boolean): CachedState | undefined {
    const row = this.db.stmt('SELECT config, layers FROM build_cache WHERE namespace = ? AND key = ?').get(ns, key) as Row | undefined;
    if (!row) return undefined;
    const state: CachedState = { config: JSON.parse(row.config) as CachedState['config'], layers: JSON.parse(row.layers) as Descriptor[] };
    if (!state.layers.every((l) => hasLayer(l.digest))) {
      this.db.stmt('DELETE FROM build_cache WHERE namespace = ? AND key = ?').run(ns, key);
      return undefined;
    }
    this.db.stmt('UPDATE build_cache SET used_at = ? WHERE namespace = ? AND key = ?').run(Date.now(), ns, key);
    return state;
  }

  put(ns: string, key: string, state: CachedState): void {
    const now = Date.now();
    this.db
      .stmt(
        `INSERT INTO build_cache (namespace, key, config, layers, created_at, used_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (namespace, key) DO UPDATE SET config = excluded.config, layers = excluded.layers, used_at = excluded.used_at`,
      )
      .run(ns, key, JSON.stringify(state.config), JSON.stringify(state.layers), now, now);
  }

  /** The layers the rows prune would drop name (a layer may be named by many). */
  layersOf(ns: string, before?: Date): Descriptor[] {
    const t = before ? before.getTime() : Number.MAX_SAFE_INTEGER;
    const rows = this.db.stmt('SELECT layers FROM build_cache WHERE namespace = ? AND used_at < ?').all(ns, t) as Array<{ layers: string }>;
    return rows.flatMap((r) => JSON.parse(r.layers) as Descriptor[]);
  }

  /** Drops the rows of a namespace not used since `before` (every row when undefined); how many went. */
  prune(ns: string, before?: Date): number {
    const t = before ? before.getTime() : Number.MAX_SAFE_INTEGER;
    return this.db.stmt('DELETE FROM build_cache WHERE namespace = ? AND used_at < ?').run(ns, t).changes;
  }

  /** Drops the rows, of every namespace, that name a layer no longer there (after a garbage collection). */
  dropStale(hasLayer: (ns: string, digest: string) => boolean): number {
    const rows = this.db.stmt('SELECT namespace, key, layers FROM build_cache').all() as Array<{ namespace: string; key: string; layers: string }>;
    const stale = rows.filter((r) => !(JSON.parse(r.layers) as Descriptor[]).every((l) => hasLayer(r.namespace, l.digest)));
    this.db.tx(() => {
      for (const r of stale) this.db.stmt('DELETE FROM build_cache WHERE namespace = ? AND key = ?').run(r.namespace, r.key);
    });
    return stale.length;
  }

  count(ns: string): number {
    return (this.db.stmt('SELECT COUNT(*) AS n FROM build_cache WHERE namespace = ?').get(ns) as { n: number }).n;
  }
}
