// The parts of the OCI runtime spec (config.json, runtime-spec v1.2) that the native backend reads, as parsed
// JSON: every field may be missing or mistyped, so shims/native/plan.ts checks each before it uses it.

export interface OciUserJson {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
  username?: string;
}

export interface OciCapabilitiesJson {
  bounding?: string[];
  effective?: string[];
  permitted?: string[];
  inheritable?: string[];
  ambient?: string[];
}

export interface OciRlimitJson {
  type: string;
  hard: number;
  soft: number;
}

export interface OciProcessJson {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: OciUserJson;
  args?: string[];
  commandLine?: string;
  env?: string[];
  cwd: string;
  capabilities?: OciCapabilitiesJson;
  rlimits?: OciRlimitJson[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  selinuxLabel?: string;
  scheduler?: unknown;
  ioPriority?: unknown;
  execCPUAffinity?: unknown;
}

export interface OciMountJson {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
  uidMappings?: OciIdMappingJson[];
  gidMappings?: OciIdMappingJson[];
}

export interface OciIdMappingJson {
  containerID: number;
  hostID: number;
  size: number;
}

export interface OciNamespaceJson {
  type: string;
  path?: string;
}

export interface OciDeviceJson {
  type: string;
  path: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface OciLinuxJson {
  namespaces?: OciNamespaceJson[];
  uidMappings?: OciIdMappingJson[];
  gidMappings?: OciIdMappingJson[];
  devices?: OciDeviceJson[];
  cgroupsPath?: string;
  resources?: unknown;
  sysctl?: Record<string, string>;
  rootfsPropagation?: string;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  seccomp?: { defaultAction?: string; flags?: string[]; listenerPath?: string };
  personality?: { domain: string; flags?: string[] };
  timeOffsets?: unknown;
}

export interface OciHooksJson {
  prestart?: unknown[];
  createRuntime?: unknown[];
  createContainer?: unknown[];
  startContainer?: unknown[];
  poststart?: unknown[];
  poststop?: unknown[];
}

export interface OciSpecJson {
  ociVersion?: string;
  process?: OciProcessJson;
  root?: { path: string; readonly?: boolean };
  hostname?: string;
  domainname?: string;
  mounts?: OciMountJson[];
  hooks?: OciHooksJson;
  annotations?: Record<string, string>;
  linux?: OciLinuxJson;
}
