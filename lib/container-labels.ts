// What containerd's container record does not keep (a name, when the container last started, how its last
// task ended once that task is deleted) kept in its labels, read and written by ctrctl and by the daemon's
// restart monitor alike.
export const stateLabels = {
  name: 'io.ctrd/name',
  /** RFC 3339 time the last task started. */
  startedAt: 'io.ctrd/started-at',
  /** The exit status and time of the last task, kept when the task is deleted. */
  exitCode: 'io.ctrd/exit-code',
  finishedAt: 'io.ctrd/finished-at',
  /** The docker-level Entrypoint and Cmd as JSON (the spec has only their concatenation). */
  config: 'io.ctrd/config',
} as const;

/** A time that is set: protobuf's zero time (0001-01-01 or the epoch) is none. */
export const setTime = (d: Date | undefined) => (d && d.getTime() > 0 ? d : undefined);

export const startLabels = (at: Date): Record<string, string> => ({
  [stateLabels.startedAt]: at.toISOString(),
  [stateLabels.exitCode]: '',
  [stateLabels.finishedAt]: '',
});

export const exitLabels = (code: number, at: Date | undefined): Record<string, string> => ({
  [stateLabels.exitCode]: String(code),
  [stateLabels.finishedAt]: (setTime(at) ?? new Date()).toISOString(),
});
