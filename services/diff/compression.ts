// Layer compression as streams: gzip through Node's zlib, zstd through fzstd (decompression only; Node 20's
// zlib has no zstd). As containerd's compression.DecompressStream, the format of a compressed layer is told
// by its magic bytes, not by its media type. fzstd does not verify a zstd frame's content checksum: corrupt
// block data can decode to other bytes, which then show as a wrong diff ID (callers check it against the
// image config, as containerd's client does); corrupt framing fails here.
import { once } from 'node:events';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { Decompress } from 'fzstd';
import { notImplemented } from '../../lib/errdefs.js';
import type { Compression } from './types.js';

const gzipMagic = Buffer.from([0x1f, 0x8b, 0x08]);
const zstdMagic = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** The compression of a stream that starts with head; 'none' when no known magic matches. */
export function detectCompression(head: Buffer): Compression {
  if (head.subarray(0, gzipMagic.length).equals(gzipMagic)) return 'gzip';
  if (head.subarray(0, zstdMagic.length).equals(zstdMagic)) return 'zstd';
  return 'none';
}

export const magicLength = zstdMagic.length;

/** A stream that undoes the compression, or undefined when there is none. */
export function decompressor(c: Compression): Transform | undefined {
  switch (c) {
    case 'none':
      return undefined;
    case 'gzip':
      // 1 MiB slices: the default 16 KiB makes hashing, tar parsing and file writes per slice dominate an unpack.
      return createGunzip({ chunkSize: 1 << 20 });
    case 'zstd':
      return new ZstdDecompress();
  }
}

export function compressor(c: Compression): Transform | undefined {
  switch (c) {
    case 'none':
      return undefined;
    case 'gzip':
      return createGzip();
    case 'zstd':
      throw notImplemented('zstd compression of layers is not implemented (only decompression)');
  }
}

class ZstdDecompress extends Transform {
  // fzstd may hand out views of its window, which it overwrites: each block is copied before it is pushed.
  private readonly zstd = new Decompress((data) => {
    if (data.length > 0) this.push(Buffer.from(data));
  });

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.zstd.push(chunk);
      callback();
    } catch (err) {
      callback(zstdError(err));
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.zstd.push(new Uint8Array(0), true);
      callback();
    } catch (err) {
      callback(zstdError(err));
    }
  }
}

function zstdError(err: unknown): Error {
  const message = err instanceof Error ? err.message : String(err);
  return new Error(`zstd: ${message}`, { cause: err });
}

/**
 * The first n bytes of src (fewer when it is shorter), and a stream of all of its bytes: src itself with the
 * head put back, or, when src already ended, a new stream of the head.
 */
export async function peek(src: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const parts: Buffer[] = [];
  let length = 0;
  while (length < n) {
    const chunk = src.read() as Buffer | null;
    if (chunk !== null) {
      parts.push(chunk);
      length += chunk.length;
      continue;
    }
    if (src.readableEnded) break;
    if (src.destroyed) throw new Error('stream closed before its first bytes were read');
    // Both waits are cancelled once either fires: a 'readable' listener left behind would keep src paused.
    const ac = new AbortController();
    try {
      await Promise.race([once(src, 'readable', { signal: ac.signal }), once(src, 'end', { signal: ac.signal })]);
    } finally {
      ac.abort();
    }
  }
  const head = Buffer.concat(parts);
  if (src.readableEnded) return { head, stream: Readable.from(head.length > 0 ? [head] : []) };
  if (head.length > 0) src.unshift(head);
  return { head: head.subarray(0, n), stream: src };
}
