// Client streams that start with a header message and go on with data messages (CopyIn, Import, Build).
import { invalidArgument } from '../errdefs.js';

/** A stream that starts with a header message and goes on with data messages: the header, then the data. */
export async function headerThenData<Req extends { data?: Buffer | undefined }, H>(
  requests: AsyncIterable<Req>,
  headerOf: (r: Req) => H | undefined,
  what: string,
): Promise<{ header: H; data: AsyncIterable<Buffer> }> {
  const it = requests[Symbol.asyncIterator]();
  const first = await it.next();
  const header = first.done ? undefined : headerOf(first.value);
  if (!header) throw invalidArgument(`${what}: the first message must be the header`);
  const data = (async function* () {
    for (;;) {
      const next = await it.next();
      if (next.done) return;
      if (headerOf(next.value)) throw invalidArgument(`${what}: a second header`);
      if (next.value.data && next.value.data.length > 0) yield next.value.data;
    }
  })();
  return { header, data };
}
