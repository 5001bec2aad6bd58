// The framing of a task's attach socket (shims/attach.ts serves it, services/streams reads it): frames of an
// 8-byte header, [kind, 0, 0, 0, length as a big-endian uint32], then length bytes, as docker's stdcopy.
//   client -> shim: hello (1 byte of flags: 1 = send me the output, 2 = I will write stdin), stdin bytes,
//                   close-stdin (empty)
//   shim -> client: ready (once the client is registered), stdout bytes, stderr bytes,
//                   exit (4 bytes: the status, big-endian), after the last output; then the shim closes.
import { invalidArgument } from './errdefs.js';

/**
 * The stdio URI of a process whose output goes to its attach socket only (an exec: ctrctl exec): no log;
 * the output before the first client is kept for it (1 MiB at most). attach://[?open-stdin=1]
 */
export const attachScheme = 'attach';

export const isAttachUri = (uri: string) => uri.startsWith(`${attachScheme}://`);

export function attachUri(openStdin: boolean): string {
  return `${attachScheme}://${openStdin ? '?open-stdin=1' : ''}`;
}

export function parseAttachUri(uri: string): { openStdin: boolean } {
  const m = /^attach:\/\/(\?open-stdin=([01]))?$/.exec(uri);
  if (!m) throw invalidArgument(`stdio uri ${uri}: expected ${attachScheme}:// or ${attachScheme}://?open-stdin=1`);
  return { openStdin: m[2] === '1' };
}

export const FrameKind = {
  stdin: 0,
  stdout: 1,
  stderr: 2,
  closeStdin: 3,
  exit: 4,
  hello: 5,
  ready: 6,
} as const;
export type FrameKindValue = (typeof FrameKind)[keyof typeof FrameKind];

export const HelloFlags = { output: 1, stdin: 2 } as const;

const headerSize = 8;
/** No frame is larger: bigger chunks are cut. */
export const maxFramePayload = 1 << 20;

export interface Frame {
  kind: number;
  payload: Buffer;
}

export function encodeFrame(kind: FrameKindValue, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(headerSize);
  header[0] = kind;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

export function exitPayload(status: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(status >>> 0, 0);
  return b;
}

/** Cuts a byte stream into frames; a frame larger than maxFramePayload is an error (the peer is not one of ours). */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Frame[] = [];
    while (this.buf.length >= headerSize) {
      const len = this.buf.readUInt32BE(4);
      if (len > maxFramePayload) throw new Error(`attach frame of ${len} bytes is too large`);
      if (this.buf.length < headerSize + len) break;
      out.push({ kind: this.buf[0]!, payload: this.buf.subarray(headerSize, headerSize + len) });
      this.buf = this.buf.subarray(headerSize + len);
    }
    return out;
  }
}
