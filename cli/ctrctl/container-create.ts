// Making a container the way containerd's and nerdctl's clients do, all client-side: the image (pulled through
// ctrd's ImageService when it is not here, with docker's progress on stderr), a lease, the writable snapshot on
// the image's top layer, the image's users read through a read-only mount of it, the OCI spec, and the
// container record. Anything made before a failure is undone before the error is reported.
import type { Container } from '../../gen/containerd/services/containers/v1/containers.js';
import type { InspectResponse, PullResponse } from '../../gen/ctrd/services/images/v1/images.js';
import type { Mount } from '../../gen/containerd/types/mount.js';
import { invalidArgument, isNotFound, alreadyExists, unavailable } from '../../lib/errdefs.js';
import { unary, type Clients } from '../../lib/grpc/client.js';
import type { OciRlimit, OciSpec } from '../../lib/oci/spec.js';
import { parseReference } from '../../lib/registry/reference.js';
import { chainIds } from '../../services/images/manifest.js';
import { readFileInRoot } from '../../services/diff/resolve-in-root.js';
import { withTempMount } from '../../services/diff/mounts.js';
import { specTypeUrl, stateLabels, type StoredConfig } from './container-state.js';
import { nameLabel, newContainerId, randomName, resolveContainer, validateName } from './names.js';
import { PullRenderer } from './progress.js';
import type { RuntimeClients } from './runtime-clients.js';
import { stopSignalLabel } from './signals.js';
import { buildSpec, commandOf, parseEnvFlag, type HostResources, type ImageRunConfig, type Security } from './spec.js';
import { resolveUser, userNeedsFiles } from '../../lib/oci/user.js';
import { readUntilInterrupted } from './stream.js';
import { ExitStatus } from './output.js';
import { formatRestartPolicy, restartLabels, type RestartPolicy } from '../../lib/restart-policy.js';
import { hostNetworkHostname, networkLabels, resolveNetwork, type ParsedNetworkFlags } from './network-flags.js';
import { makeMounts, removeVolumes, resolveMounts, volumesLabel, withMounts, type MadeMounts, type ParsedMounts } from './mounts.js';

export const defaultRuntime = 'io.containerd.runc.v2';
export const defaultSnapshotter = 'overlayfs';

export const mountRoot = () => process.env.CTRCTL_MOUNT_DIR ?? '/run/ctrd/ctrctl-mounts';


export interface CreateFlags {
  name?: string;
  env: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  entrypoint?: string;
  runtime: string;
  snapshotter: string;
  tty: boolean;
  resources: HostResources;
  security: Security;
  sysctls: Record<string, string>;
  ulimits: OciRlimit[];
  /** -i: the container keeps stdin open for attached clients. */
  openStdin: boolean;
  /** --log-opt max-size (bytes; -1 no limit) and max-file; 0 for the daemon's defaults. */
  log: { maxSize: number; maxFile: number };
  restart: RestartPolicy;
  labels: Record<string, string>;
  mounts: ParsedMounts;
  /** --network, -p, --dns...: recorded in the io.ctrd/network label for ctrd to set up. */
  network: ParsedNetworkFlags;
}

interface ImageConfigJson {
  config?: ImageRunConfig;
  rootfs?: { diff_ids?: string[] };
}

// ---- the image ----

async function pullImage(c: Clients, reference: string, snapshotter: string): Promise<void> {
  const ref = parseReference(reference);
  const tty = Boolean(process.stderr.isTTY);
  const renderer = new PullRenderer(process.stderr, ref, { tty, columns: process.stderr.columns ?? 80 });
  const call = c.ctrdImages.pull({ reference, platform: '', snapshotter, auth: undefined });
  let done = false;
  const end = await readUntilInterrupted(call, (res: PullResponse) => {
    if (res.image) {
      done = true;
      renderer.finish(res.image);
    } else renderer.update(res);
  });
  if (end.interrupted) throw new ExitStatus(130);
  if (!done) throw unavailable('ctrd ended the pull without reporting the image');
}

/** The image by name or ID; pulled first when it is not here, as docker run does. */
export async function ensureImage(c: Clients, reference: string, snapshotter: string): Promise<InspectResponse> {
  try {
    return await unary(c.ctrdImages, c.ctrdImages.inspect, { reference });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  // Only a reference can be pulled; an ID that is not here is simply not found.
  try {
    parseReference(reference);
  } catch {
    throw invalidArgument(`invalid reference format: ${reference}`);
  }
  process.stderr.write(`Unable to find image '${reference}' locally\n`);
  await pullImage(c, reference, snapshotter);
  return unary(c.ctrdImages, c.ctrdImages.inspect, { reference });
}

function imageConfigOf(res: InspectResponse): ImageConfigJson {
  try {
    return JSON.parse(Buffer.from(res.config).toString('utf8')) as ImageConfigJson;
  } catch {
    throw invalidArgument(`image ${res.image?.name ?? ''} has a config that is not JSON`);
  }
}

// ---- files of the image ----

/** /etc/passwd and /etc/group of a snapshot, through a read-only mount of it. */
async function userFiles(mounts: readonly Mount[]): Promise<{ passwd: string; group: string }> {
  return withTempMount(mounts, mountRoot(), { readonly: true }, async (dir) => ({
    passwd: await readFileInRoot(dir, 'etc/passwd'),
    group: await readFileInRoot(dir, 'etc/group'),
  }));
}

// ---- leases ----

/** A lease as containerd's client takes one for making a container: it expires by itself after 24 hours. */
async function withLease<T>(c: Clients, fn: (lease: string) => Promise<T>): Promise<T> {
  const id = `ctrctl-${Date.now()}-${Math.random().toString(36).slice(2, 10)}`;
  const expire = new Date(Date.now() + 24 * 3600_000).toISOString();
  await unary(c.leases, c.leases.create, { id, labels: { 'containerd.io/gc.expire': expire } });
  try {
    return await fn(id);
  } finally {
    await unary(c.leases, c.leases.delete, { id, sync: false }).catch(() => undefined);
  }
}

// ---- the container ----

export interface Created {
  container: Container;
  spec: OciSpec;
}

/** Checks the name is free (docker's Conflict), or makes up one that is. */
export async function chooseName(rc: RuntimeClients, wanted: string | undefined): Promise<string> {
  const { containers } = await unary(rc.containers, rc.containers.list, { filters: [] });
  const taken = new Map(containers.map((x) => [x.labels[nameLabel], x.id]));
  if (wanted !== undefined) {
    const name = validateName(wanted);
    const other = taken.get(name);
    if (other) {
      throw alreadyExists(
        `Conflict. The container name "/${name}" is already in use by container "${other}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
    return name;
  }
  for (let retry = 0; ; retry++) {
    const name = randomName(retry);
    if (!taken.has(name)) return name;
  }
}

export async function createContainer(
  c: Clients,
  leased: (lease: string) => RuntimeClients,
  imageRef: string,
  cmdArgs: readonly string[],
  flags: CreateFlags,
): Promise<Created> {
  const ns = c.target.namespace;
  const rc0 = leased('');
  const image = await ensureImage(c, imageRef, flags.snapshotter);
  const config = imageConfigOf(image);
  const run = config.config ?? {};
  const command = commandOf(run, flags.entrypoint, cmdArgs);
  const env = flags.env.map((e) => parseEnvFlag(e)).filter((e): e is string => e !== undefined);
  const { containers: existing } = await unary(rc0.containers, rc0.containers.list, { filters: [] });
  const name = await chooseName(rc0, flags.name);
  const diffIds = config.rootfs?.diff_ids ?? [];
  const parent = chainIds(diffIds).at(-1) ?? '';
  const id = newContainerId();
  const user = flags.user ?? run.User ?? '';
  const plan = await resolveMounts(rc0, flags.mounts, run.Volumes);
  const network = await resolveNetwork(flags.network, {
    imageExposed: Object.keys(run.ExposedPorts ?? {}),
    containerId: (input) => resolveContainer(existing, input).id,
    checkNetwork: async (name) => void (await unary(rc0.networks, rc0.networks.get, { name })),
  });

  return withLease(c, async (lease) => {
    const rc = leased(lease);
    const prepare = () => unary(rc.snapshots, rc.snapshots.prepare, { snapshotter: flags.snapshotter, key: id, parent, labels: {} });
    let mounts: Mount[];
    try {
      ({ mounts } = await prepare());
    } catch (err) {
      // The image may be unpacked for another snapshotter only: a pull unpacks it for this one.
      if (!isNotFound(err) || parent === '') throw err;
      await pullImage(c, image.image?.name ?? imageRef, flags.snapshotter);
      ({ mounts } = await prepare());
    }
    let made: MadeMounts | undefined;
    try {
      made = await makeMounts(rc.volumes, plan, mounts);
      const files = userNeedsFiles(user) ? await userFiles(mounts) : { passwd: '', group: '' };
      const spec = buildSpec({
        ns,
        id,
        image: run,
        args: command.args,
        env,
        workdir: flags.workdir,
        user: resolveUser(user, files.passwd, files.group),
        hostname: hostNetworkHostname(network, flags.hostname),
        tty: flags.tty,
        resources: flags.resources,
        security: flags.security,
        sysctls: flags.sysctls,
        ulimits: flags.ulimits,
      });
      withMounts(spec, made.spec);
      const stored: StoredConfig = { Entrypoint: command.entrypoint, Cmd: command.cmd, Image: imageRef };
      const labels: Record<string, string> = {
        ...flags.labels,
        ...networkLabels(network),
        [nameLabel]: name,
        // How its task is created, now and by ctrd's restarts: its json-file log, made by ctrd (lib/container-task.ts).
        [restartLabels.logUri]: (await unary(c.ctrdStreams, c.ctrdStreams.logUri, { containerId: id, ...flags.log, openStdin: flags.openStdin })).uri,
        ...(flags.restart.name === 'no' ? {} : { [restartLabels.policy]: formatRestartPolicy(flags.restart) }),
      };
      const storedJson = JSON.stringify(stored);
      // containerd limits a label to 4096 bytes: a longer command is still in the spec.
      if (storedJson.length < 4000) labels[stateLabels.config] = storedJson;
      if (run.StopSignal && !labels[stopSignalLabel]) labels[stopSignalLabel] = run.StopSignal;
      if (plan.length > 0) labels[volumesLabel] = made.label;
      const { container } = await unary(rc.containers, rc.containers.create, {
        container: {
          id,
          labels,
          image: image.image?.name ?? imageRef,
          runtime: { name: flags.runtime, options: undefined },
          spec: { typeUrl: specTypeUrl, value: Buffer.from(JSON.stringify(spec)) },
          snapshotter: flags.snapshotter,
          snapshotKey: id,
          createdAt: undefined,
          updatedAt: undefined,
          extensions: {},
        },
      });
      return { container: container!, spec };
    } catch (err) {
      if (made) await removeVolumes(rc.volumes, made.created).catch(() => undefined);
      await unary(rc.snapshots, rc.snapshots.remove, { snapshotter: flags.snapshotter, key: id }).catch(() => undefined);
      throw err;
    }
  });
}

export function validateHostname(h: string): string {
  if (h.length > 253 || !/^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/.test(h)) throw invalidArgument(`invalid hostname format: ${h}`);
  return h;
}
