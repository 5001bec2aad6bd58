// ttrpc framing (containerd/ttrpc channel.go, PROTOCOL.md): a 10-byte header, then the payload.
// Header: uint32 BE payload length | uint32 BE stream id | uint8 type | uint8 flags.
import { CtrdError } from '../errdefs.js';

export const headerLength = 10;
/** ttrpc's messageLengthMax: a payload of exactly 4 MiB is still accepted. */
export const maxPayloadLength = 4 << 20;

export const MessageType = {
  Request: 1,
  Response: 2,
  /** Streaming data, ttrpc >= 1.2 only; containerd 1.6's ttrpc 1.1 never sends it. */
  Data: 3,
} as const;

export interface Frame {
  streamId: number;
  type: number;
  flags: number;
  payload: Buffer;
}

export function encodeFrame(frame: Frame): Buffer {
  const { payload } = frame;
  if (payload.length > maxPayloadLength) {
    throw new CtrdError(
      'resource-exhausted',
      `ttrpc: message length ${payload.length} exceeds maximum message size of ${maxPayloadLength}`,
    );
  }
  const out = Buffer.allocUnsafe(headerLength + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeUInt32BE(frame.streamId >>> 0, 4);
  out.writeUInt8(frame.type, 8);
  out.writeUInt8(frame.flags, 9);
  payload.copy(out, headerLength);
  return out;
}

interface Header {
  length: number;
  streamId: number;
  type: number;
  flags: number;
}

/**
 * Turns socket reads into frames, whatever their boundaries: a read may hold part of a header, several
 * frames, or a frame and a half. An oversized length is rejected as soon as its header is complete, before
 * any of its payload is buffered; after that the decoder stays failed, because the stream cannot be resynced.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private header: Header | undefined;
  private failure: Error | undefined;

  constructor(private readonly maxLength = maxPayloadLength) {}

  push(chunk: Buffer): Frame[] {
    if (this.failure) throw this.failure;
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (!this.header) {
        if (this.buffered < headerLength) break;
        const raw = this.take(headerLength);
        const header = {
          length: raw.readUInt32BE(0),
          streamId: raw.readUInt32BE(4),
          type: raw.readUInt8(8),
          flags: raw.readUInt8(9),
        };
        if (header.length > this.maxLength) {
          this.failure = new CtrdError(
            'resource-exhausted',
            `ttrpc: message length ${header.length} exceeds maximum message size of ${this.maxLength}`,
          );
          this.chunks = [];
          this.buffered = 0;
          throw this.failure;
        }
        this.header = header;
      }
      if (this.buffered < this.header.length) break;
      const { streamId, type, flags, length } = this.header;
      frames.push({ streamId, type, flags, payload: this.take(length) });
      this.header = undefined;
    }
    return frames;
  }

  /** Bytes held for an incomplete frame (header included once parsed). */
  get pending(): number {
    return this.buffered + (this.header ? headerLength : 0);
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const c = this.chunks[0]!;
        const used = Math.min(c.length, n - filled);
        c.copy(out, filled, 0, used);
        filled += used;
        if (used === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(used);
      }
    }
    this.buffered -= n;
    return out;
  }
}
