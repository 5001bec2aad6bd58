// ctrctl events: the daemon's event stream until Ctrl-C (or --until), from --since on, each payload decoded by
// its containerd type URL; docker's filters and --format fields over a docker view of each event (event-view.ts).
import type { Command } from 'commander';
import { ContainerCreate, ContainerDelete, ContainerUpdate } from '../../gen/containerd/events/container.js';
import { ContentDelete } from '../../gen/containerd/events/content.js';
import { NamespaceCreate, NamespaceDelete, NamespaceUpdate } from '../../gen/containerd/events/namespace.js';
import { SnapshotCommit, SnapshotPrepare, SnapshotRemove } from '../../gen/containerd/events/snapshot.js';
import {
  TaskCheckpointed,
  TaskCreate,
  TaskDelete,
  TaskExecAdded,
  TaskExecStarted,
  TaskExit,
  TaskOOM,
  TaskPaused,
  TaskResumed,
  TaskStart,
} from '../../gen/containerd/events/task.js';
import type { Envelope } from '../../gen/containerd/services/events/v1/events.js';
import { ImageCreate, ImageDelete, ImageUpdate } from '../../gen/containerd/services/images/v1/image_events.js';
import type { Any } from '../../gen/google/protobuf/any.js';
import { invalidArgument, unavailable } from '../../lib/errdefs.js';
import { unary, type Clients } from '../../lib/grpc/client.js';
import type { SubscribeResponse } from '../../gen/ctrd/services/events/v1/events.js';
import { dockerEvent, isDockerFilter, matchesDockerFilters, parseDockerFilters, type DockerEvent } from './event-view.js';
import { formatArgument, type OutputFormat } from './go-template.js';
import { nameLabel } from './names.js';
import { parseTimeArg } from './units.js';
import { withClients } from './connect.js';
import { readUntilInterrupted } from './stream.js';
import { print } from './output.js';
import { collect } from './flags.js';

type Decoder = (bytes: Uint8Array) => unknown;

/** A payload's bytes as its message's proto3 JSON. */
function decoder<T>(codec: { decode(bytes: Uint8Array): T; toJSON(message: T): unknown }): Decoder {
  return (bytes) => codec.toJSON(codec.decode(bytes));
}

/** Every event containerd and ctrd publish, by type URL (the message's full name, as containerd's typeurl has it). */
const eventTypes: ReadonlyMap<string, Decoder> = new Map([
  ['containerd.events.ContainerCreate', decoder(ContainerCreate)],
  ['containerd.events.ContainerUpdate', decoder(ContainerUpdate)],
  ['containerd.events.ContainerDelete', decoder(ContainerDelete)],
  ['containerd.events.ContentDelete', decoder(ContentDelete)],
  ['containerd.events.NamespaceCreate', decoder(NamespaceCreate)],
  ['containerd.events.NamespaceUpdate', decoder(NamespaceUpdate)],
  ['containerd.events.NamespaceDelete', decoder(NamespaceDelete)],
  ['containerd.events.SnapshotPrepare', decoder(SnapshotPrepare)],
  ['containerd.events.SnapshotCommit', decoder(SnapshotCommit)],
  ['containerd.events.SnapshotRemove', decoder(SnapshotRemove)],
  ['containerd.events.TaskCreate', decoder(TaskCreate)],
  ['containerd.events.TaskStart', decoder(TaskStart)],
  ['containerd.events.TaskDelete', decoder(TaskDelete)],
  ['containerd.events.TaskExit', decoder(TaskExit)],
  ['containerd.events.TaskOOM', decoder(TaskOOM)],
  ['containerd.events.TaskExecAdded', decoder(TaskExecAdded)],
  ['containerd.events.TaskExecStarted', decoder(TaskExecStarted)],
  ['containerd.events.TaskPaused', decoder(TaskPaused)],
  ['containerd.events.TaskResumed', decoder(TaskResumed)],
  ['containerd.events.TaskCheckpointed', decoder(TaskCheckpointed)],
  ['containerd.services.images.v1.ImageCreate', decoder(ImageCreate)],
  ['containerd.services.images.v1.ImageUpdate', decoder(ImageUpdate)],
  ['containerd.services.images.v1.ImageDelete', decoder(ImageDelete)],
]);

/** The payload as JSON; one we cannot decode keeps its type URL and bytes, in the shape proto3 JSON gives an Any. */
function decodeEvent(event: Any | undefined): unknown {
  if (!event) return null;
  const decode = eventTypes.get(event.typeUrl);
  if (decode) {
    try {
      return decode(event.value);
    } catch {
      // Bytes that do not parse as their declared type are shown raw below, not dropped.
    }
  }
  return { '@type': event.typeUrl, value: Buffer.from(event.value).toString('base64') };
}

interface EventsOptions {
  filter: string[];
  format?: OutputFormat;
  since?: string;
  until?: string;
}

function timeFlag(flag: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const at = parseTimeArg(value);
  if (!at) throw invalidArgument(`invalid value for ${flag}: "${value}" is not a timestamp (RFC 3339, Unix seconds) or a duration (10m)`);
  return at;
}

/** One line per event: containerd's view by default (time, namespace, topic, payload), else the --format's. */
function render(env: Envelope, format: OutputFormat | undefined, view: DockerEvent): string {
  const timestamp = env.timestamp?.toISOString() ?? null;
  if (format?.source === 'json') {
    return JSON.stringify({ timestamp, namespace: env.namespace, topic: env.topic, type: env.event?.typeUrl ?? null, event: view.Event });
  }
  if (format) return format.template.execute(view);
  return `${timestamp ?? '-'} ${env.namespace} ${env.topic} ${JSON.stringify(view.Event)}`;
}

/** Prints envelopes until SIGINT or SIGTERM (a clean end), the --until time, or the stream failing. */
async function follow(c: Clients, o: EventsOptions): Promise<void> {
  const since = timeFlag('--since', o.since);
  const until = timeFlag('--until', o.until);
  const docker = parseDockerFilters(o.filter.filter(isDockerFilter));
  const filters = o.filter.filter((f) => !isDockerFilter(f));
  // Names given to container= are resolved once, to the IDs they name now.
  let containerIds: (v: string) => string[] = (v) => [v];
  if (docker.has('container')) {
    const { containers } = await unary(c.containers, c.containers.list, { filters: [] });
    containerIds = (v) => containers.filter((k) => k.id === v || k.id.startsWith(v) || k.labels[nameLabel] === v).map((k) => k.id).concat(v);
  }
  const call = c.ctrdEvents.subscribe({ filters, since, until });
  const end = await readUntilInterrupted(call, (res: SubscribeResponse) => {
    const env = res.envelope;
    if (!env) return;
    const view = dockerEvent(env.timestamp, env.namespace, env.topic, decodeEvent(env.event));
    if (matchesDockerFilters(docker, view, containerIds)) print(render(env, o.format, view));
  });
  // Without --until, a stream that ends without being asked to is the daemon going away: as ctr does, a failure.
  if (end.ended && !until) throw unavailable('ctrd closed the event stream');
}

export function addEventsCommand(program: Command): void {
  program
    .command('events')
    .description('stream events from ctrd until interrupted (or until --until)')
    .option(
      '-f, --filter <filter>',
      "docker's type=, event=, container=, image=, volume= or containerd's topic==/namespace== filters (repeatable)",
      collect,
      [],
    )
    .option('--since <time>', 'show events since a timestamp or a duration back (10m); the daemon keeps at least a thousand')
    .option('--until <time>', 'stream events until this timestamp or duration')
    .option('--format <format>', "'json', or a Go template over Type, Action, Actor.ID, Actor.Attributes, Time, TimeNano, Namespace, Topic, Event", formatArgument)
    .action(async (opts: EventsOptions, cmd: Command) => {
      await withClients(cmd, (c) => follow(c, opts));
    });
}
