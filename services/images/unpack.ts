// Unpacking an image's layers into a snapshotter: each layer into the snapshot named by its chain ID (skipped
// when that snapshot is there already), the diff ID checked, and the config labelled with the top snapshot so
// that GC keeps the unpacked chain while the image lives. Pull, load, import and commit all end here.
import { randomBytes } from 'node:crypto';
import type { ContentStore } from '../content/store.js';
import type { LeaseStore } from '../leases/store.js';
import type { SnapshotStore } from '../snapshots/store.js';
import type { Differ } from '../diff/types.js';
import type { Descriptor } from '../../lib/registry/manifest.js';
import { failedPrecondition, isAlreadyExists, isNotFound } from '../../lib/errdefs.js';
import type { Logger } from '../../lib/log.js';

export const uncompressedLabel = 'containerd.io/uncompressed';

/** What one layer's unpack is doing: the snapshot was there already, it is being applied, it is done. */
export type UnpackState = 'exists' | 'extracting' | 'extracted' | 'failed';

export interface UnpackLayer {
  layer: Descriptor;
  diffId: string;
  chainId: string;
  /** The chain ID below, '' for the bottom layer. */
  parent: string;
}

export class Unpacker {
  constructor(
    private readonly content: ContentStore,
    private readonly leases: LeaseStore,
    private readonly snapshots: SnapshotStore,
    private readonly differ: Differ,
    private readonly log: Logger,
  ) {}

  /** Unpacks one layer under the given lease (which holds the new snapshot until the config label does). */
  async layer(
    ns: string,
    lease: string,
    snapshotter: string,
    l: UnpackLayer,
    onState: (state: UnpackState) => void = () => undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      this.snapshots.stat(ns, snapshotter, l.chainId);
      this.leases.addResource(ns, lease, { type: `snapshots/${snapshotter}`, id: l.chainId });
      this.labelLayer(ns, l);
      onState('exists');
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    onState('extracting');
    const key = `extract-${Date.now()}-${randomBytes(6).toString('base64url')} ${l.chainId}`;
    const mounts = await this.snapshots.prepare(ns, snapshotter, key, l.parent, {}, { lease });
    try {
      const applied = await this.differ.apply(ns, l.layer, mounts, { signal });
      if (applied.digest !== l.diffId) {
        throw failedPrecondition(
          `wrong diff id calculated on extraction of layer ${l.layer.digest}: got ${applied.digest}, the image config says ${l.diffId}`,
        );
      }
      try {
        this.snapshots.commit(ns, snapshotter, l.chainId, key, {}, { lease });
      } catch (err) {
        // Another unpack of the same layer committed it first: ours is a spare.
        if (!isAlreadyExists(err)) throw err;
        await this.snapshots.remove(ns, snapshotter, key, { lease });
      }
    } catch (err) {
      onState('failed');
      await this.snapshots
        .remove(ns, snapshotter, key, { lease })
        .catch((e: unknown) => this.log.warn({ err: e, ns, key }, 'removing a failed extraction'));
      throw err;
    }
    this.labelLayer(ns, l);
    onState('extracted');
  }

  /** Every layer in order. */
  async all(ns: string, lease: string, snapshotter: string, layers: readonly UnpackLayer[], signal?: AbortSignal): Promise<void> {
    for (const l of layers) await this.layer(ns, lease, snapshotter, l, undefined, signal);
  }

  /** Labels the image config with its top snapshot, so that GC keeps the chain as long as the config. */
  labelConfig(ns: string, configDigest: string, snapshotter: string, topChainId: string): void {
    const key = `containerd.io/gc.ref.snapshot.${snapshotter}`;
    this.content.update(ns, configDigest, { [key]: topChainId }, [`labels.${key}`]);
  }

  private labelLayer(ns: string, l: UnpackLayer): void {
    this.content.update(ns, l.layer.digest, { [uncompressedLabel]: l.diffId }, [`labels.${uncompressedLabel}`]);
  }
}

/** The unpack steps of a manifest's layers, given the config's diff IDs and their chain IDs. */
export function unpackLayers(layers: readonly Descriptor[], diffIds: readonly string[], chain: readonly string[]): UnpackLayer[] {
  return layers.map((layer, i) => ({ layer, diffId: diffIds[i]!, chainId: chain[i]!, parent: i === 0 ? '' : chain[i - 1]! }));
}
