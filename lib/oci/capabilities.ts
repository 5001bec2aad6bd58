// Linux capabilities by their OCI names, and docker's rules for --cap-add and --cap-drop (moby's
// oci/caps.TweakCapabilities): names with or without CAP_, in any case, and ALL.

/** Every capability, in the kernel's order (CAP_CHOWN is 0, CAP_CHECKPOINT_RESTORE is 40, Linux 5.9). */
export const allCapabilities: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** What --cap-add ALL and --cap-drop ALL say. */
export const allCapabilitiesKeyword = 'ALL';

/**
 * The capabilities of a process's bounding set, from its /proc/<pid>/status text: what --privileged and ALL may
 * give on this host (a host that is itself confined lacks some), as containerd's WithAllCurrentCapabilities.
 */
export function boundingCapabilities(statusText: string): string[] {
  const hex = /^CapBnd:\s*([0-9a-f]+)$/m.exec(statusText)?.[1];
  if (hex === undefined) return [...allCapabilities];
  const mask = BigInt(`0x${hex}`);
  return allCapabilities.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/** 'net_admin', 'CAP_NET_ADMIN' -> 'CAP_NET_ADMIN'; 'all' -> 'ALL'; undefined for a name that is no capability. */
export function normalizeCapability(name: string): string | undefined {
  const upper = name.toUpperCase();
  if (upper === allCapabilitiesKeyword) return upper;
  const cap = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  return allCapabilities.includes(cap) ? cap : undefined;
}

/**
 * docker's order: ALL added means every capability (of available) but the dropped ones; ALL dropped means only the
 * added ones; otherwise the base set less the dropped, then the added. Names are normalized (normalizeCapability).
 */
export function tweakCapabilities(base: readonly string[], add: readonly string[], drop: readonly string[], available: readonly string[] = allCapabilities): string[] {
  let caps: string[];
  if (add.includes(allCapabilitiesKeyword)) caps = available.filter((c) => !drop.includes(c));
  else if (drop.includes(allCapabilitiesKeyword)) caps = [...add];
  else caps = [...base.filter((c) => !drop.includes(c)), ...add];
  return [...new Set(caps)];
}
