// Which containers use which host paths: the bind mounts of each container's OCI spec (the spec is JSON,
// as containerd's clients store it; a spec that is not JSON mounts nothing that can be known).
import type { Container } from '../containers/types.js';
import type { MountUser } from './types.js';

interface SpecMounts {
  mounts?: Array<{ type?: string; source?: string; options?: string[] }>;
}

export function bindSourcesOf(c: Pick<Container, 'spec'>): string[] {
  let spec: SpecMounts;
  try {
    spec = JSON.parse(Buffer.from(c.spec.value).toString('utf8')) as SpecMounts;
  } catch {
    return [];
  }
  if (!Array.isArray(spec?.mounts)) return [];
  return spec.mounts
    .filter((m) => typeof m?.source === 'string' && (m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind')))
    .map((m) => m.source!);
}

export function mountUsersOf(containers: readonly Container[]): MountUser[] {
  return containers.map((c) => ({ id: c.id, sources: bindSourcesOf(c) }));
}
