// Domain types of the volume store: a volume is a named directory under the daemon's root (docker's local
// driver), a row in the metadata database, and the containers whose spec mounts something inside it.
import type { Labels } from '../../lib/labels.js';

export const localDriver = 'local';

export interface Volume {
  name: string;
  driver: string;
  labels: Labels;
  options: Record<string, string>;
  /** Made for one container without a name (docker's anonymous volumes): pruned by default. */
  anonymous: boolean;
  createdAt: Date;
  /** The host directory with the data. */
  mountpoint: string;
}

export interface VolumeInput {
  /** Empty or absent: a random 64-hex name. */
  name?: string;
  driver?: string;
  labels?: Labels;
  options?: Record<string, string>;
  anonymous?: boolean;
}

/** A container of the namespace and the host paths its spec mounts (bind sources). */
export interface MountUser {
  id: string;
  sources: readonly string[];
}

/** The containers of a namespace with their mount sources: what "in use" is decided by. */
export type MountUsers = (ns: string) => MountUser[];

export interface PruneResult {
  deleted: string[];
  reclaimed: number;
}
