import { describe, expect, it } from 'vitest';
import { CtrdError } from '../errdefs.js';
import { encodeFrame, FrameDecoder, headerLength, maxPayloadLength, MessageType } from './framing.js';

const frame = (streamId: number, text: string) =>
  ({ streamId, type: MessageType.Request, flags: 0, payload: Buffer.from(text) });

describe('ttrpc framing', () => {
  it('encodes the 10-byte big-endian header', () => {
    const bytes = encodeFrame({ streamId: 0x01020304, type: MessageType.Response, flags: 0, payload: Buffer.from('abc') });
    expect(bytes.subarray(0, headerLength).toString('hex')).toBe('00000003' + '01020304' + '02' + '00');
    expect(bytes.subarray(headerLength).toString()).toBe('abc');
  });

  it('decodes coalesced frames from one read', () => {
    const bytes = Buffer.concat([encodeFrame(frame(1, 'one')), encodeFrame(frame(3, '')), encodeFrame(frame(5, 'three'))]);
    const frames = new FrameDecoder().push(bytes);
    expect(frames.map((f) => [f.streamId, f.type, f.payload.toString()])).toEqual([
      [1, 1, 'one'],
      [3, 1, ''],
      [5, 1, 'three'],
    ]);
  });

  it('decodes frames split at every byte', () => {
    const bytes = Buffer.concat([encodeFrame(frame(1, 'hello')), encodeFrame(frame(3, 'world!'))]);
    const decoder = new FrameDecoder();
    const frames = [];
    for (let i = 0; i < bytes.length; i++) frames.push(...decoder.push(bytes.subarray(i, i + 1)));
    expect(frames.map((f) => f.payload.toString())).toEqual(['hello', 'world!']);
    expect(decoder.pending).toBe(0);
  });

  it('decodes a frame and a half, then the rest', () => {
    const bytes = Buffer.concat([encodeFrame(frame(1, 'a'.repeat(100))), encodeFrame(frame(3, 'b'.repeat(100)))]);
    const decoder = new FrameDecoder();
    expect(decoder.push(bytes.subarray(0, 150)).map((f) => f.streamId)).toEqual([1]);
    expect(decoder.push(bytes.subarray(150)).map((f) => f.payload.toString())).toEqual(['b'.repeat(100)]);
  });

  it('accepts exactly 4 MiB and rejects one byte more, from the header alone', () => {
    const max = Buffer.alloc(maxPayloadLength, 7);
    const decoded = new FrameDecoder().push(encodeFrame({ streamId: 1, type: 1, flags: 0, payload: max }));
    expect(decoded[0]!.payload.length).toBe(maxPayloadLength);

    expect(() => encodeFrame({ streamId: 1, type: 1, flags: 0, payload: Buffer.alloc(maxPayloadLength + 1) })).toThrow(CtrdError);
    const header = Buffer.alloc(headerLength);
    header.writeUInt32BE(maxPayloadLength + 1, 0);
    header.writeUInt32BE(1, 4);
    header.writeUInt8(1, 8);
    const decoder = new FrameDecoder();
    let err: unknown;
    try {
      decoder.push(header);
    } catch (e) {
      err = e;
    }
    expect((err as CtrdError).kind).toBe('resource-exhausted');
    // The stream cannot be resynced: the decoder stays failed.
    expect(() => decoder.push(encodeFrame(frame(3, 'x')))).toThrow(/exceeds maximum/);
  });
});
