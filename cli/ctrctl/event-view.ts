// containerd's events seen as docker's: a Type (container, image, volume...), an Action (start, die, destroy...)
// and an Actor (the object's ID and the payload's other fields), for docker's --filter keys and --format fields.
import { invalidArgument } from '../../lib/errdefs.js';

export interface DockerEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  /** Unix seconds and nanoseconds, as docker's Time and TimeNano. */
  Time: number;
  TimeNano: number;
  scope: 'local';
  /** containerd's view of the same event. */
  Namespace: string;
  Topic: string;
  Event: unknown;
}

const types: Record<string, string> = {
  containers: 'container',
  tasks: 'container',
  images: 'image',
  volumes: 'volume',
  namespaces: 'namespace',
  snapshot: 'snapshot',
  content: 'content',
};

/** docker's action names where docker has one; otherwise the topic's own word. */
const actions: Record<string, string> = {
  '/containers/delete': 'destroy',
  '/tasks/create': 'task-create',
  '/tasks/start': 'start',
  '/tasks/exit': 'die',
  '/tasks/delete': 'task-delete',
  '/tasks/paused': 'pause',
  '/tasks/resumed': 'unpause',
  '/tasks/oom': 'oom',
  '/tasks/exec-added': 'exec_create',
  '/tasks/exec-started': 'exec_start',
  '/volumes/delete': 'destroy',
};

const idFields = ['containerId', 'id', 'name', 'key', 'digest'] as const;

export function dockerEvent(timestamp: Date | undefined, namespace: string, topic: string, event: unknown): DockerEvent {
  const parts = topic.split('/').filter(Boolean);
  const fields = event && typeof event === 'object' ? (event as Record<string, unknown>) : {};
  const idField = idFields.find((f) => typeof fields[f] === 'string' && fields[f] !== '');
  let action = actions[topic] ?? parts.at(-1) ?? topic;
  // An exec's exit is not the container's.
  if (topic === '/tasks/exit' && typeof fields.id === 'string' && fields.id !== '' && fields.id !== fields.containerId) action = 'exec_die';
  const attributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (k === idField || v === null || typeof v === 'object') continue;
    attributes[k === 'exitStatus' ? 'exitCode' : k] = String(v);
  }
  if (action === 'die' && attributes.exitCode === undefined) attributes.exitCode = '0';
  const ms = timestamp?.getTime() ?? 0;
  return {
    Type: types[parts[0] ?? ''] ?? parts[0] ?? '',
    Action: action,
    Actor: { ID: idField ? String(fields[idField]) : '', Attributes: attributes },
    Time: Math.floor(ms / 1000),
    TimeNano: ms * 1e6,
    scope: 'local',
    Namespace: namespace,
    Topic: topic,
    Event: event,
  };
}

// ---- docker's filters ----

export const dockerFilterKeys = ['type', 'event', 'container', 'image', 'volume', 'label'] as const;
type Key = (typeof dockerFilterKeys)[number];

/** A docker-style filter (key=value with one of docker's keys); anything else is containerd's, for the daemon. */
export function isDockerFilter(f: string): boolean {
  const m = /^([a-z]+)=/.exec(f);
  return m !== null && (dockerFilterKeys as readonly string[]).includes(m[1]!) && !/^[a-z]+==/.test(f);
}

export type DockerFilters = Map<Key, string[]>;

export function parseDockerFilters(filters: readonly string[]): DockerFilters {
  const out: DockerFilters = new Map();
  for (const f of filters) {
    const eq = f.indexOf('=');
    const key = f.slice(0, eq) as Key;
    if (key === 'label') throw invalidArgument(`invalid filter '${f}': label filters are not supported by ctrctl events (containerd's events carry no labels)`);
    out.set(key, [...(out.get(key) ?? []), f.slice(eq + 1)]);
  }
  return out;
}

/** docker's rule: values of one key are alternatives, different keys must all match. */
export function matchesDockerFilters(f: DockerFilters, e: DockerEvent, containerIds: (nameOrId: string) => string[]): boolean {
  const any = (key: Key, test: (v: string) => boolean) => !f.has(key) || f.get(key)!.some(test);
  return (
    any('type', (v) => e.Type === v) &&
    any('event', (v) => e.Action === v) &&
    any('container', (v) => e.Type === 'container' && containerIds(v).includes(e.Actor.ID)) &&
    any('image', (v) => (e.Type === 'image' && e.Actor.ID === v) || e.Actor.Attributes.image === v) &&
    any('volume', (v) => e.Type === 'volume' && e.Actor.ID === v)
  );
}
