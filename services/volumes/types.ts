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
  /** The lease it was made under ('' for none): while that lease lives, the volume is in use. */
  lease: string;
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
  /** The lease of the client making it (a container about to mount it). */
  lease?: string;
}

/** A container of the namespace and the host paths its spec mounts (bind sources). */
export interface MountUser {
  id: string;
  sources: readonly string[];
}

/** The containers of a namespace with their mount sources: what "in use" is decided by. */
export type MountUsers = (ns: string) => MountUser[];

/** Whether a lease still exists (a volume made under it is held until it goes). */
export type LeaseExists = (ns: string, id: string) => boolean;

export interface PruneResult {
  deleted: string[];
  reclaimed: number;
}
