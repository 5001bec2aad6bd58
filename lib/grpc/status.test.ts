import { Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { fromGrpcStatus, fromStatusCode, isServiceError, Status as ourCodes, toGrpcStatus } from './status.js';
import { CtrdError, type ErrorKind } from '../errdefs.js';

const pairs: Array<[ErrorKind, Status]> = [
  ['unknown', Status.UNKNOWN],
  ['invalid-argument', Status.INVALID_ARGUMENT],
  ['not-found', Status.NOT_FOUND],
  ['already-exists', Status.ALREADY_EXISTS],
  ['failed-precondition', Status.FAILED_PRECONDITION],
  ['unavailable', Status.UNAVAILABLE],
  ['not-implemented', Status.UNIMPLEMENTED],
  ['out-of-range', Status.OUT_OF_RANGE],
  ['resource-exhausted', Status.RESOURCE_EXHAUSTED],
  ['canceled', Status.CANCELLED],
  ['deadline-exceeded', Status.DEADLINE_EXCEEDED],
  ['unauthenticated', Status.UNAUTHENTICATED],
  ['permission-denied', Status.PERMISSION_DENIED],
  ['aborted', Status.ABORTED],
  ['internal', Status.INTERNAL],
];

describe('status codes', () => {
  it("are grpc-js's, spelled out so that ttrpc code loads no grpc-js", () => {
    for (const [name, code] of Object.entries(ourCodes)) expect(Status[name as keyof typeof Status], name).toBe(code);
    expect(Object.keys(ourCodes).length).toBe(Object.keys(Status).filter((k) => Number.isNaN(Number(k))).length);
  });
});

function serviceError(code: Status, details: string, message = `${code} ${Status[code]}: ${details}`): ServiceError {
  return Object.assign(new Error(message), { code, details, metadata: new Metadata() });
}

function errno(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code, errno: -1, syscall: 'open' });
}

describe('toGrpcStatus', () => {
  it.each(pairs)('maps kind %s to its gRPC code and keeps the message', (kind, code) => {
    const st = toGrpcStatus(new CtrdError(kind, `content sha256:abc: ${kind}`));
    expect(st.code).toBe(code);
    expect(st.details).toBe(`content sha256:abc: ${kind}`);
  });

  it('maps a plain Error to UNKNOWN with its message', () => {
    expect(toGrpcStatus(new Error('boom'))).toEqual({ code: Status.UNKNOWN, details: 'boom' });
  });

  it('maps a thrown non-Error to UNKNOWN with its text', () => {
    expect(toGrpcStatus('just a string')).toEqual({ code: Status.UNKNOWN, details: 'just a string' });
  });

  it.each([
    ['ENOSPC', Status.RESOURCE_EXHAUSTED],
    ['EDQUOT', Status.RESOURCE_EXHAUSTED],
    ['EMFILE', Status.RESOURCE_EXHAUSTED],
    ['EACCES', Status.PERMISSION_DENIED],
    ['EPERM', Status.PERMISSION_DENIED],
    ['ENOENT', Status.UNKNOWN],
    ['EIO', Status.UNKNOWN],
  ])('maps a system error %s to its natural code', (code, want) => {
    const st = toGrpcStatus(errno(code, `${code}: something, open '/x'`));
    expect(st.code).toBe(want);
    expect(st.details).toBe(`${code}: something, open '/x'`);
  });
});

describe('fromGrpcStatus', () => {
  it.each(pairs)('turns code %s back into its kind', (kind, code) => {
    const err = fromGrpcStatus(serviceError(code, 'lease "x": not here'));
    expect(err).toBeInstanceOf(CtrdError);
    expect((err as CtrdError).kind).toBe(kind);
    expect(err.message).toBe('lease "x": not here');
  });

  it('round-trips every kind through a status', () => {
    for (const [kind] of pairs) {
      const st = toGrpcStatus(new CtrdError(kind, 'm'));
      const back = fromGrpcStatus(serviceError(st.code, st.details)) as CtrdError;
      expect(back.kind).toBe(kind);
    }
  });

  it('keeps the gRPC error as the cause', () => {
    const se = serviceError(Status.NOT_FOUND, 'gone');
    expect((fromGrpcStatus(se) as CtrdError).cause).toBe(se);
  });

  it('a code with no kind (DATA_LOSS) is unknown', () => {
    expect((fromGrpcStatus(serviceError(Status.DATA_LOSS, 'lost')) as CtrdError).kind).toBe('unknown');
  });

  it('falls back to the message when details are empty', () => {
    const err = fromGrpcStatus(serviceError(Status.UNAVAILABLE, '', '14 UNAVAILABLE: No connection established'));
    expect(err.message).toBe('14 UNAVAILABLE: No connection established');
  });

  it('passes other errors through and wraps non-errors', () => {
    const plain = new Error('local failure');
    expect(fromGrpcStatus(plain)).toBe(plain);
    const wrapped = fromGrpcStatus('text');
    expect(wrapped).toBeInstanceOf(Error);
    expect(wrapped).not.toBeInstanceOf(CtrdError);
    expect(wrapped.message).toBe('text');
  });
});

describe('isServiceError', () => {
  it('needs an Error with a numeric code and details', () => {
    expect(isServiceError(serviceError(Status.INTERNAL, 'x'))).toBe(true);
    expect(isServiceError(errno('ENOENT', 'x'))).toBe(false);
    expect(isServiceError({ code: 5, details: 'not an Error' })).toBe(false);
    expect(isServiceError(Object.assign(new Error('no details'), { code: 5 }))).toBe(false);
  });
});

describe('fromStatusCode', () => {
  it('maps every code to its kind, keeping the message', () => {
    for (const [kind, code] of pairs) {
      const err = fromStatusCode(code, `m ${kind}`);
      expect(err).toBeInstanceOf(CtrdError);
      expect([err.kind, err.message]).toEqual([kind, `m ${kind}`]);
    }
  });

  it('maps codes it does not know to unknown', () => {
    expect(fromStatusCode(99, 'odd').kind).toBe('unknown');
  });
});
