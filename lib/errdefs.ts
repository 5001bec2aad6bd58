// Error kinds, as containerd's errdefs has them. Code throws a CtrdError with a kind and a message
// that names the object; the gRPC edge (lib/grpc/status.ts) is the only place that maps kinds to codes.

export type ErrorKind =
  | 'unknown'
  | 'invalid-argument'
  | 'not-found'
  | 'already-exists'
  | 'failed-precondition'
  | 'unavailable'
  | 'not-implemented'
  | 'out-of-range'
  | 'resource-exhausted'
  | 'canceled'
  | 'deadline-exceeded'
  | 'unauthenticated'
  | 'permission-denied'
  | 'aborted'
  | 'internal';

export class CtrdError extends Error {
  override readonly name = 'CtrdError';
  constructor(
    readonly kind: ErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const invalidArgument = (message: string, cause?: unknown) =>
  new CtrdError('invalid-argument', message, { cause });
export const notFound = (message: string, cause?: unknown) => new CtrdError('not-found', message, { cause });
export const alreadyExists = (message: string, cause?: unknown) =>
  new CtrdError('already-exists', message, { cause });
export const failedPrecondition = (message: string, cause?: unknown) =>
  new CtrdError('failed-precondition', message, { cause });
export const unavailable = (message: string, cause?: unknown) => new CtrdError('unavailable', message, { cause });
export const notImplemented = (message: string) => new CtrdError('not-implemented', message);
export const outOfRange = (message: string) => new CtrdError('out-of-range', message);
export const internal = (message: string, cause?: unknown) => new CtrdError('internal', message, { cause });
export const canceled = (message: string) => new CtrdError('canceled', message);

/** The kind of any thrown value; errors that are not CtrdErrors are 'unknown'. */
export function kindOf(err: unknown): ErrorKind {
  return err instanceof CtrdError ? err.kind : 'unknown';
}

export const isNotFound = (err: unknown) => kindOf(err) === 'not-found';
export const isAlreadyExists = (err: unknown) => kindOf(err) === 'already-exists';

/** Adds context in front of a message while keeping the kind, like Go's fmt.Errorf("...: %w"). */
export function wrap(err: unknown, context: string): Error {
  const message = err instanceof Error ? err.message : String(err);
  // Context the message already starts with (a shim said "create task X" too) is not said twice.
  const text = message.startsWith(`${context}: `) ? message : `${context}: ${message}`;
  return new CtrdError(err instanceof CtrdError ? err.kind : 'unknown', text, { cause: err });
}

/** A Node system error (ENOENT, EEXIST...) as its errno code, or undefined. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}
