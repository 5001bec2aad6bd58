// The one place where error kinds become gRPC status codes (server edge) and codes become kinds again
// (client edge), as containerd's errdefs/errgrpc does.
import type { ServiceError, StatusObject, status } from '@grpc/grpc-js';
import { CtrdError, errnoCode, type ErrorKind } from '../errdefs.js';

/**
 * gRPC's status codes, the wire values grpc-js's `status` has. They are spelled out here so that code which
 * speaks only ttrpc (the shim) never loads grpc-js.
 */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const satisfies Record<keyof typeof status, number>;
type Status = (typeof Status)[keyof typeof Status];

const kindToCode: Record<ErrorKind, Status> = {
  unknown: Status.UNKNOWN,
  'invalid-argument': Status.INVALID_ARGUMENT,
  'not-found': Status.NOT_FOUND,
  'already-exists': Status.ALREADY_EXISTS,
  'failed-precondition': Status.FAILED_PRECONDITION,
  unavailable: Status.UNAVAILABLE,
  'not-implemented': Status.UNIMPLEMENTED,
  'out-of-range': Status.OUT_OF_RANGE,
  'resource-exhausted': Status.RESOURCE_EXHAUSTED,
  canceled: Status.CANCELLED,
  'deadline-exceeded': Status.DEADLINE_EXCEEDED,
  unauthenticated: Status.UNAUTHENTICATED,
  'permission-denied': Status.PERMISSION_DENIED,
  aborted: Status.ABORTED,
  internal: Status.INTERNAL,
};

const codeToKind = new Map<Status, ErrorKind>(
  Object.entries(kindToCode).map(([kind, code]) => [code, kind as ErrorKind]),
);

/** System errors that have a natural kind; everything else unexpected stays Unknown. */
const errnoToKind: Record<string, ErrorKind> = {
  ENOSPC: 'resource-exhausted',
  EDQUOT: 'resource-exhausted',
  EMFILE: 'resource-exhausted',
  EACCES: 'permission-denied',
  EPERM: 'permission-denied',
};

export function toGrpcStatus(err: unknown): Partial<StatusObject> & { code: status; details: string } {
  if (err instanceof CtrdError) return { code: kindToCode[err.kind] as number as status, details: err.message };
  const message = err instanceof Error ? err.message : String(err);
  const errno = errnoCode(err);
  const kind = errno === undefined ? undefined : errnoToKind[errno];
  return { code: (kind ? kindToCode[kind] : Status.UNKNOWN) as number as status, details: message };
}

export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number' && 'details' in err;
}

/** Turns a gRPC error from a client call back into a CtrdError with the matching kind. */
export function fromGrpcStatus(err: unknown): Error {
  if (!isServiceError(err)) return err instanceof Error ? err : new Error(String(err));
  return new CtrdError(codeToKind.get(err.code as number as Status) ?? 'unknown', err.details || err.message, { cause: err });
}

/** A status carried outside grpc-js (a ttrpc Response's google.rpc.Status) as a CtrdError of the matching kind. */
export function fromStatusCode(code: number, message: string): CtrdError {
  return new CtrdError(codeToKind.get(code as Status) ?? 'unknown', message);
}
