// containerd's default Linux spec (oci.WithDefaultSpec, populateDefaultUnixSpec in pkg/oci/spec.go): root user,
// the default capabilities, RLIMIT_NOFILE 1024, no new privileges, the usual mounts, five new namespaces, the
// masked and read-only /proc and /sys paths, and no devices. One addition, docker's: /sys/fs/cgroup read-only.
import type { OciMount, OciSpec } from './spec.js';

/** containerd's defaultUnixCaps (pkg/oci/spec.go), docker's default set too. */
export const defaultCapabilities: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** containerd's defaultUnixEnv. */
export const defaultPath = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Paths of /proc and /sys that leak the host or let a container touch it: a container sees them empty. */
export const defaultMaskedPaths: readonly string[] = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
  '/proc/scsi',
];

export const defaultReadonlyPaths: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export const defaultNamespaces: readonly string[] = ['pid', 'ipc', 'uts', 'mount', 'network'];

/** containerd's defaultMounts (pkg/oci/mounts.go), with docker's read-only cgroup mount. */
export function defaultMounts(): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] },
    { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
  ];
}

/** The default spec of container id in namespace ns: its cgroup is /<ns>/<id>, its root the bundle's rootfs. */
export function defaultSpec(ns: string, id: string): OciSpec {
  return {
    ociVersion: '1.0.2-dev',
    root: { path: 'rootfs' },
    process: {
      user: { uid: 0, gid: 0 },
      args: [],
      env: [defaultPath],
      cwd: '/',
      capabilities: { bounding: [...defaultCapabilities], permitted: [...defaultCapabilities], effective: [...defaultCapabilities] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    mounts: defaultMounts(),
    linux: {
      maskedPaths: [...defaultMaskedPaths],
      readonlyPaths: [...defaultReadonlyPaths],
      cgroupsPath: `/${ns}/${id}`,
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: defaultNamespaces.map((type) => ({ type })),
    },
  };
}
