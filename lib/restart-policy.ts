// Restart policies, docker's names over containerd's restart labels (the labels containerd's restart monitor
// and nerdctl read and write): the daemon's restart monitor carries them out, ctrctl sets them.
import { invalidArgument } from './errdefs.js';

export const restartLabels = {
  /** The policy: no, always, on-failure[:N], unless-stopped. */
  policy: 'containerd.io/restart.policy',
  /** The state the person wants: running or stopped. */
  status: 'containerd.io/restart.status',
  /** Restarts made since the container was last started by hand. */
  count: 'containerd.io/restart.count',
  /** "true" once the person stopped the container: no policy restarts it (always does, on daemon start). */
  explicitlyStopped: 'containerd.io/restart.explicitly-stopped',
  /** The stdout (and stderr) URI a restarted task gets. */
  logUri: 'containerd.io/restart.loguri',
} as const;

export type RestartPolicy =
  | { name: 'no' }
  | { name: 'always' }
  | { name: 'unless-stopped' }
  /** maxRetries 0: no limit. */
  | { name: 'on-failure'; maxRetries: number };

/** Parses docker's --restart value ('' is no). */
export function parseRestartPolicy(value: string): RestartPolicy {
  const [name, count, ...rest] = value.split(':');
  if (rest.length > 0) throw invalidArgument(`invalid restart policy format: ${value}`);
  switch (name) {
    case '':
    case 'no':
    case 'always':
    case 'unless-stopped':
      if (count !== undefined) throw invalidArgument(`maximum retry count cannot be used with restart policy '${name}'`);
      return name === '' ? { name: 'no' } : { name };
    case 'on-failure': {
      if (count === undefined) return { name, maxRetries: 0 };
      if (!/^\d+$/.test(count)) throw invalidArgument(`invalid restart policy format: maximum retry count must be an integer: ${value}`);
      return { name, maxRetries: Number(count) };
    }
    default:
      throw invalidArgument(`invalid restart policy format: unknown policy "${name}": it must be no, always, on-failure[:N] or unless-stopped`);
  }
}

export function formatRestartPolicy(p: RestartPolicy): string {
  return p.name === 'on-failure' && p.maxRetries > 0 ? `on-failure:${p.maxRetries}` : p.name;
}

/** A container's policy from its labels; a label that does not parse is no policy (and the caller logs it). */
export function policyOf(labels: Readonly<Record<string, string>>): RestartPolicy {
  return parseRestartPolicy(labels[restartLabels.policy] ?? '');
}

export const restartCountOf = (labels: Readonly<Record<string, string>>) => Number(labels[restartLabels.count] ?? 0) || 0;

/**
 * Whether a policy restarts a container whose task just exited with `exitStatus`. `daemonStart` is the
 * restore after a daemon (re)start, where docker restarts `always` containers even if stopped by hand.
 */
export function wantsRestart(p: RestartPolicy, labels: Readonly<Record<string, string>>, exitStatus: number, daemonStart = false): boolean {
  const stoppedByHand = labels[restartLabels.explicitlyStopped] === 'true';
  switch (p.name) {
    case 'no':
      return false;
    case 'always':
      return daemonStart || !stoppedByHand;
    case 'unless-stopped':
      return !stoppedByHand;
    case 'on-failure':
      return !stoppedByHand && exitStatus !== 0 && (p.maxRetries === 0 || restartCountOf(labels) < p.maxRetries);
  }
}
