// The shim speaks ttrpc, never gRPC, yet the generated message modules (ts-proto's grpc-js service stubs)
// and lib/grpc/status.ts import @grpc/grpc-js. Loading it would cost every shim about 5 MB and 90 ms. So
// before those modules load, a stand-in goes into the CommonJS cache under grpc-js's own path: an ESM
// import of a CommonJS package takes what that cache holds. The stand-in has what those modules use when
// they load: the status codes (gRPC's wire constants) and a client-constructor factory.
import { createRequire, Module } from 'node:module';

const status = {
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
} as const;

class NoGrpcInTheShim {
  constructor() {
    throw new Error('@grpc/grpc-js is not loaded in the shim');
  }
}

/** Puts the stand-in in place; does nothing when grpc-js is already loaded or cannot be found. */
export function standInForGrpc(): void {
  const require = createRequire(import.meta.url);
  let file: string;
  try {
    file = require.resolve('@grpc/grpc-js');
  } catch {
    return;
  }
  if (require.cache[file]) return;
  const m = new Module(file);
  m.filename = file;
  m.loaded = true;
  m.exports = { status, makeGenericClientConstructor: () => NoGrpcInTheShim, Client: NoGrpcInTheShim };
  require.cache[file] = m;
}
