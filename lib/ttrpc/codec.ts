// What client and server share above the framing: the ts-proto codec shapes and the metadata conventions.
import type { KeyValue } from '../../gen/ttrpc/ttrpc.js';

/** The metadata key containerd's namespaces package reads on ttrpc (namespaces/ttrpc.go). */
export const namespaceKey = 'containerd-namespace-ttrpc';

/** The encode half of a ts-proto MessageFns. */
export interface Encoder<T> {
  encode(message: T): { finish(): Uint8Array };
}

/** The decode half of a ts-proto MessageFns. */
export interface Decoder<T> {
  decode(input: Uint8Array): T;
}

export function encodeMessage<T>(codec: Encoder<T>, message: T): Buffer {
  const bytes = codec.encode(message).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The first value of a metadata key, as Go's ttrpc MD.Get returns it; keys are case-sensitive. */
export function metadataValue(metadata: readonly KeyValue[], key: string): string | undefined {
  for (const kv of metadata) if (kv.key === key) return kv.value;
  return undefined;
}
