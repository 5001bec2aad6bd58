// Signals as docker takes them: a number, a name with or without SIG (any case), and the image's
// StopSignal label in the same forms.
import { constants } from 'node:os';
import { invalidArgument } from '../../lib/errdefs.js';

const byName = constants.signals as Readonly<Record<string, number>>;

/** "SIGKILL", "kill", "9" -> 9; anything else is an invalid signal, named as docker names it. */
export function parseSignal(input: string): number {
  const s = input.trim();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n >= 1 && n <= 64) return n;
    throw invalidArgument(`invalid signal: ${input}`);
  }
  const upper = s.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  const n = byName[name];
  if (n === undefined || name === 'SIGUNUSED') throw invalidArgument(`invalid signal: ${input}`);
  return n;
}

/** The container's stop signal label (the image's StopSignal), SIGTERM when it has none or a bad one. */
export function stopSignalOf(labels: Readonly<Record<string, string>>): number {
  const v = labels[stopSignalLabel];
  if (!v) return byName.SIGTERM!;
  try {
    return parseSignal(v);
  } catch {
    return byName.SIGTERM!;
  }
}

export const stopSignalLabel = 'io.containerd.image.config.stop-signal';

/** The container's own wait before SIGKILL (--stop-timeout), in seconds. */
export const stopTimeoutLabel = 'io.ctrd/stop-timeout';
