// ctrd.services.images.v1.ImageService: the docker-style image operations (and pull) for any gRPC client.
import {
  ImageServiceService,
  type ImageServiceServer,
  type ImageSummary as PbImageSummary,
  type HistoryEntry,
  BlobState,
  PushState,
  type RegistryAuth,
} from '../../gen/ctrd/services/images/v1/images.js';
import type { BlobProgress, BlobState as PullBlobState, Puller } from './pull.js';
import type { Pusher, PushBlobProgress, PushBlobState } from './push.js';
import type { HandlerFactory } from '../../lib/grpc/handlers.js';
import { requireNamespace } from '../../lib/grpc/context.js';
import type { GrpcService } from '../grpc-service.js';
import type { ImageManager, ImageSummary } from './manager.js';
import type { ResolvedImage } from './manifest.js';
import { plainDescriptor } from '../../lib/registry/manifest.js';

export function toPbSummary(s: ImageSummary): PbImageSummary {
  return {
    name: s.name,
    target: s.target,
    id: s.id,
    created: s.created,
    size: s.size,
    unpackedSize: s.unpackedSize,
    platform: s.platform,
    labels: s.labels,
    repoDigest: s.repoDigest,
  };
}

/** docker history: the config's history, newest first, each non-empty entry matched with its layer. */
export function history(r: ResolvedImage): HistoryEntry[] {
  const layers = [...r.manifest.layers];
  const entries = (r.config.history ?? []).map((h) => {
    const layer = h.empty_layer ? undefined : layers.shift();
    const created = h.created ? new Date(h.created) : undefined;
    return {
      created: created && !Number.isNaN(created.getTime()) ? created : undefined,
      createdBy: h.created_by ?? '',
      comment: h.comment ?? '',
      emptyLayer: h.empty_layer ?? false,
      size: layer?.size ?? 0,
      layer: layer?.digest ?? '',
    };
  });
  // Layers the history does not mention (images built without history) still show, one entry each.
  for (const layer of layers) {
    entries.push({ created: undefined, createdBy: '', comment: '', emptyLayer: false, size: layer.size, layer: layer.digest });
  }
  return entries.reverse();
}

const blobStates: Record<PullBlobState, BlobState> = {
  waiting: BlobState.BLOB_STATE_WAITING,
  downloading: BlobState.BLOB_STATE_DOWNLOADING,
  exists: BlobState.BLOB_STATE_EXISTS,
  downloaded: BlobState.BLOB_STATE_DOWNLOADED,
  extracting: BlobState.BLOB_STATE_EXTRACTING,
  extracted: BlobState.BLOB_STATE_EXTRACTED,
  failed: BlobState.BLOB_STATE_FAILED,
};

function toPbBlob(b: BlobProgress) {
  return {
    descriptor: plainDescriptor(b.descriptor),
    kind: b.kind,
    state: blobStates[b.state],
    offset: b.offset,
    total: b.total,
  };
}

const pushStates: Record<PushBlobState, PushState> = {
  preparing: PushState.PUSH_STATE_PREPARING,
  waiting: PushState.PUSH_STATE_WAITING,
  pushing: PushState.PUSH_STATE_PUSHING,
  exists: PushState.PUSH_STATE_EXISTS,
  mounted: PushState.PUSH_STATE_MOUNTED,
  pushed: PushState.PUSH_STATE_PUSHED,
  failed: PushState.PUSH_STATE_FAILED,
};

function toPbPushBlob(b: PushBlobProgress) {
  return {
    descriptor: plainDescriptor(b.descriptor),
    kind: b.kind,
    state: pushStates[b.state],
    offset: b.offset,
    total: b.total,
    mountedFrom: b.mountedFrom,
  };
}

/** A request's credentials, or undefined for the daemon's own; a token stands in for the password. */
function credentialsOf(auth: RegistryAuth | undefined): { username: string; password: string } | undefined {
  if (!auth || !(auth.username || auth.password || auth.token)) return undefined;
  return { username: auth.username, password: auth.password || auth.token };
}

/**
 * A long operation's progress on its stream: every change of a blob's state goes out at once, bytes at most
 * every 100 ms; each report is encoded when it is taken, sent in order.
 */
class ProgressStream<B extends { state: unknown }, M> {
  private sending = Promise.resolve();
  private latest: readonly B[] = [];
  private states = '';
  private dirty = false;
  private readonly timer = setInterval(() => this.dirty && this.flush(), 100);

  constructor(
    private readonly encode: (blobs: readonly B[]) => M,
    private readonly send: (message: M) => Promise<void>,
  ) {}

  readonly update = (blobs: readonly B[]): void => {
    this.latest = blobs;
    const now = blobs.map((b) => String(b.state)).join();
    if (now !== this.states) {
      this.states = now;
      this.flush();
    } else {
      this.dirty = true;
    }
  };

  /** The last report sent, and every one before it delivered. */
  async finish(): Promise<void> {
    this.stop();
    this.flush();
    await this.sending;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private flush(): void {
    this.dirty = false;
    // Encoded now: the blobs change in place, and a later state must not overwrite this one unsent.
    const message = this.encode(this.latest);
    this.sending = this.sending.then(() => this.send(message));
  }
}

export function ctrdImagesService(manager: ImageManager, puller: Puller, h: HandlerFactory, pusher: Pusher): GrpcService {
  const implementation: ImageServiceServer = {
    pull: h.serverStream('ImageService.Pull', async (req, ctx, send) => {
      const ns = requireNamespace(ctx);
      const progress = new ProgressStream((blobs: readonly BlobProgress[]) => ({ progress: { blobs: blobs.map(toPbBlob) } }), send);
      try {
        const auth = credentialsOf(req.auth);
        const image = await puller.pull(ns, req.reference, {
          platform: req.platform,
          snapshotter: req.snapshotter,
          ...(auth ? { auth } : {}),
          signal: ctx.signal,
          onProgress: progress.update,
        });
        await progress.finish();
        await send({ image: toPbSummary(await manager.summary(ns, image)) });
      } finally {
        progress.stop();
      }
    }),
    push: h.serverStream('ImageService.Push', async (req, ctx, send) => {
      const ns = requireNamespace(ctx);
      const progress = new ProgressStream((blobs: readonly PushBlobProgress[]) => ({ progress: { blobs: blobs.map(toPbPushBlob) } }), send);
      try {
        const auth = credentialsOf(req.auth);
        const result = await pusher.push(ns, req.reference, { ...(auth ? { auth } : {}), signal: ctx.signal, onProgress: progress.update });
        await progress.finish();
        await send({ result });
      } finally {
        progress.stop();
      }
    }),
    login: h.unary('ImageService.Login', async (req, ctx) => {
      await pusher.login(req.server, credentialsOf(req.auth), ctx.signal);
      return { status: 'Login Succeeded' };
    }),
    list: h.unary('ImageService.List', async (req, ctx) => ({
      images: (await manager.list(requireNamespace(ctx), req.filters)).map(toPbSummary),
    })),
    inspect: h.unary('ImageService.Inspect', async (req, ctx) => {
      const { summary, names, resolved } = await manager.inspect(requireNamespace(ctx), req.reference);
      return {
        image: toPbSummary(summary),
        names,
        manifest: Buffer.from(JSON.stringify(resolved.manifest)),
        config: Buffer.from(JSON.stringify(resolved.config)),
        history: history(resolved),
      };
    }),
    tag: h.unary('ImageService.Tag', async (req, ctx) => ({
      image: toPbSummary(await manager.tag(requireNamespace(ctx), req.source, req.target)),
    })),
    remove: h.unary('ImageService.Remove', async (req, ctx) => ({
      results: (await manager.remove(requireNamespace(ctx), req.references, req.force)).map((r) => ({
        reference: r.reference,
        untagged: r.untagged,
        deleted: r.deleted,
        error: r.error ?? '',
      })),
    })),
    prune: h.unary('ImageService.Prune', async (req, ctx) => manager.prune(requireNamespace(ctx), req.all)),
    diskUsage: h.unary('ImageService.DiskUsage', async (_req, ctx) => manager.diskUsage(requireNamespace(ctx))),
  };
  return { definition: ImageServiceService, implementation };
}
