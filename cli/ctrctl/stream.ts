// Reading a server stream until it ends or the person presses Ctrl-C (or the process gets SIGTERM).
import { status as Status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { fromGrpcStatus } from '../../lib/grpc/status.js';

export interface StreamEnd {
  /** The stream was cancelled by SIGINT or SIGTERM. */
  interrupted: boolean;
  /** The server ended the stream (rather than an interruption). */
  ended: boolean;
}

/** Hands every message to onData; resolves when the stream ends or is interrupted, rejects on an error. */
export function readUntilInterrupted<T>(call: ClientReadableStream<T>, onData: (msg: T) => void): Promise<StreamEnd> {
  return new Promise((resolve, reject) => {
    let interrupted = false;
    const stop = () => {
      interrupted = true;
      call.cancel();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const settle = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    };
    call.on('data', onData);
    call.on('error', (err: ServiceError) => {
      settle();
      if (interrupted && err.code === Status.CANCELLED) resolve({ interrupted: true, ended: false });
      else reject(fromGrpcStatus(err));
    });
    call.on('end', () => {
      settle();
      resolve({ interrupted, ended: !interrupted });
    });
  });
}
