// ctrd.services.archive.v1.ArchiveService: docker save and load for any gRPC client, over ArchiveManager.
import {
  ArchiveServiceService,
  LayerState,
  type ArchiveServiceServer,
  type LoadProgress as PbLoadProgress,
  type LoadRequest,
  type LoadResponse,
  type SaveResponse,
} from '../../gen/ctrd/services/archive/v1/archive.js';
import type { HandlerFactory, Send } from '../../lib/grpc/handlers.js';
import { requireNamespace } from '../../lib/grpc/context.js';
import type { GrpcService } from '../grpc-service.js';
import type { ArchiveManager } from './manager.js';
import type { LayerState as LoadLayerState, LoadProgress } from './load.js';
import type { SaveProgress } from './save.js';
import { plainDescriptor } from '../../lib/registry/manifest.js';

/** The most data one message carries (well under the 16 MiB message limit). */
const chunkSize = 1 << 20;
/** Progress goes out at most this often while bytes flow, and at once when a layer's state changes. */
const progressIntervalMs = 100;

const layerStates: Record<LoadLayerState, LayerState> = {
  waiting: LayerState.LAYER_STATE_WAITING,
  exists: LayerState.LAYER_STATE_EXISTS,
  unpacking: LayerState.LAYER_STATE_UNPACKING,
  unpacked: LayerState.LAYER_STATE_UNPACKED,
  failed: LayerState.LAYER_STATE_FAILED,
};

function toPbLoadProgress(p: LoadProgress): PbLoadProgress {
  return {
    received: p.received,
    entry: p.entry,
    entryOffset: p.entryOffset,
    entrySize: p.entrySize,
    layers: p.layers.map((l) => ({ descriptor: plainDescriptor(l.descriptor), state: layerStates[l.state] })),
  };
}

/** Sends progress in order with the other messages: on `urgent` at once, otherwise at most every interval. */
class Throttle<T> {
  private latest: T | undefined;
  private last = 0;
  private key = '';
  private sending = Promise.resolve();
  private failure: { err: unknown } | undefined;

  constructor(
    private readonly send: (value: T) => Promise<void>,
    private readonly keyOf: (value: T) => string,
  ) {}

  offer(value: T): void {
    this.latest = value;
    const key = this.keyOf(value);
    if (key !== this.key || Date.now() - this.last >= progressIntervalMs) this.flush(key);
  }

  flush(key = this.latest === undefined ? '' : this.keyOf(this.latest)): void {
    if (this.latest === undefined) return;
    const value = this.latest;
    this.latest = undefined;
    this.key = key;
    this.last = Date.now();
    // A failed send (the client went away) is kept for done(): a chain left rejected would go unhandled.
    this.sending = this.sending.then(() => this.send(value)).catch((err: unknown) => {
      this.failure ??= { err };
    });
  }

  /** Waits for what is being sent; throws what failed. */
  async done(): Promise<void> {
    await this.sending;
    if (this.failure) throw this.failure.err;
  }
}

export function archiveService(manager: ArchiveManager, h: HandlerFactory): GrpcService {
  const implementation: ArchiveServiceServer = {
    save: h.serverStream('ArchiveService.Save', async (req, ctx, send: Send<SaveResponse>) => {
      const ns = requireNamespace(ctx);
      const progress = new Throttle<SaveProgress>(
        (p) => send({ progress: p }),
        (p) => `${p.blobsWritten}`,
      );
      const tar = await manager.save(ns, req.references, { signal: ctx.signal, onProgress: (p) => progress.offer(p) });
      try {
        let pending: Buffer[] = [];
        let size = 0;
        const sendData = async () => {
          if (size === 0) return;
          const data = Buffer.concat(pending, size);
          pending = [];
          size = 0;
          await progress.done();
          await send({ data });
        };
        for await (const chunk of tar) {
          pending.push(chunk as Buffer);
          size += (chunk as Buffer).length;
          if (size >= chunkSize) await sendData();
        }
        await sendData();
        progress.flush();
        await progress.done();
      } finally {
        tar.destroy();
      }
    }),
    load: h.bidi('ArchiveService.Load', async (requests, ctx, send: Send<LoadResponse>) => {
      const ns = requireNamespace(ctx);
      const it = requests[Symbol.asyncIterator]();
      const first = await it.next();
      const head: LoadRequest | undefined = first.done ? undefined : first.value;
      const data = (async function* () {
        if (head?.data.length) yield head.data;
        for (;;) {
          const next = await it.next();
          if (next.done) return;
          if (next.value.data.length > 0) yield next.value.data;
        }
      })();
      // A copy of the progress at each report: the manager goes on changing its own while a send waits.
      const progress = new Throttle<PbLoadProgress>(
        (p) => send({ progress: p }),
        (p) => `${p.entry === ''}:${p.layers.map((l) => l.state).join()}`,
      );
      const images = await manager.load(ns, data, {
        snapshotter: head?.snapshotter ?? '',
        signal: ctx.signal,
        onProgress: (p) => progress.offer(toPbLoadProgress(p)),
      });
      progress.flush();
      await progress.done();
      await send({
        result: { images: images.map((i) => ({ name: i.name, id: i.id, target: plainDescriptor(i.target) })) },
      });
    }),
  };
  return { definition: ArchiveServiceService, implementation };
}
