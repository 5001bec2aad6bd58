// Events travel as google.protobuf.Any with containerd's type URLs: the bare full name of the message
// (containerd.events.NamespaceCreate), no type.googleapis.com/ prefix (containerd's typeurl registry).
import type { EventPayload } from './exchange.js';

interface Encoder<T> {
  encode(message: T): { finish(): Uint8Array };
}

export function pack<T>(typeUrl: string, fns: Encoder<T>, message: T): EventPayload {
  const bytes = fns.encode(message).finish();
  return { typeUrl, value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}
