// ctrctl events: the daemon's event stream until Ctrl-C, each payload decoded by its containerd type URL.
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
import { unavailable } from '../../lib/errdefs.js';
import type { Clients } from '../../lib/grpc/client.js';
import { withClients } from './connect.js';
import { readUntilInterrupted } from './stream.js';
import { formatOption, print, type Format } from './output.js';

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

function formatEnvelope(env: Envelope, format: Format): string {
  const timestamp = env.timestamp?.toISOString() ?? null;
  const event = decodeEvent(env.event);
  if (format === 'json') {
    return JSON.stringify({ timestamp, namespace: env.namespace, topic: env.topic, type: env.event?.typeUrl ?? null, event });
  }
  return `${timestamp ?? '-'} ${env.namespace} ${env.topic} ${JSON.stringify(event)}`;
}

/** Prints envelopes until SIGINT or SIGTERM (a clean end) or until the stream fails or the daemon ends it. */
async function follow(c: Clients, filters: string[], format: Format): Promise<void> {
  const end = await readUntilInterrupted(c.events.subscribe({ filters }), (env: Envelope) => print(formatEnvelope(env, format)));
  // A stream that ends without being asked to is the daemon going away: as ctr does, that is a failure.
  if (end.ended) throw unavailable('ctrd closed the event stream');
}

export function addEventsCommand(program: Command): void {
  program
    .command('events')
    .description('stream events from ctrd until interrupted')
    .option(
      '-f, --filter <filter>',
      'containerd filter on topic and namespace, e.g. topic==/namespaces/create (repeatable: an event matching any is shown)',
      (value: string, previous: string[]) => [...previous, value],
      [],
    )
    .addOption(formatOption('--format <format>'))
    .action(async (opts: { filter: string[]; format: Format }, cmd: Command) => {
      await withClients(cmd, (c) => follow(c, opts.filter, opts.format));
    });
}
