// The walking differ (containerd's io.containerd.differ.v1 "walking"): Apply streams a layer blob from the
// content store onto mounts; Diff computes the changes between two mount sets and writes them as a layer
// blob into the content store, labelled with its uncompressed digest.
import { createHash, randomBytes } from 'node:crypto';
import { pipeline, Readable } from 'node:stream';
import { digestOf, parseDigest } from '../../lib/digest.js';
import { isAlreadyExists, isNotFound, wrap } from '../../lib/errdefs.js';
import { validateLabels, type Labels } from '../../lib/labels.js';
import { silentLogger, type Logger } from '../../lib/log.js';
import type { ContentStore } from '../content/store.js';
import { applyLayer } from './apply.js';
import { overlayChanges, walkChanges, type Change } from './changes.js';
import { compressor } from './compression.js';
import { layerTar } from './layer-tar.js';
import { cleanupTempMounts, overlayUpperOver, withApplyTarget, withReadonlyView } from './mounts.js';
import {
  layerCompression,
  mediaTypes,
  uncompressedLabel,
  type ApplyOptions,
  type Compression,
  type Descriptor,
  type Differ,
  type DiffOptions,
  type Mount,
} from './types.js';

export class WalkingDiffer implements Differ {
  /**
   * tmpRoot holds the temporary mounts of mount sets that are not a plain directory; mounts a crash left
   * there are undone now.
   */
  constructor(
    private readonly content: ContentStore,
    private readonly tmpRoot: string,
    private readonly log: Logger = silentLogger,
  ) {
    cleanupTempMounts(tmpRoot, log);
  }

  async apply(ns: string, desc: Descriptor, mounts: readonly Mount[], opts: ApplyOptions = {}): Promise<Descriptor> {
    const compression = layerCompression(desc.mediaType);
    const digest = parseDigest(desc.digest);
    this.content.info(ns, digest); // NotFound before anything is mounted
    const log = this.log.child({ ns, digest });
    const started = Date.now();
    const applied = await withApplyTarget(mounts, this.tmpRoot, { log }, (target) =>
      applyLayer(target, this.content.read(ns, digest, 0, 0), { name: digest, compression, log, signal: opts.signal }),
    );
    log.debug({ diffID: applied.digest, size: applied.size, ms: Date.now() - started }, 'layer applied');
    return { mediaType: mediaTypes.layer, digest: applied.digest, size: applied.size };
  }

  async diff(ns: string, lower: readonly Mount[], upper: readonly Mount[], opts: DiffOptions = {}): Promise<Descriptor> {
    const mediaType = opts.mediaType || mediaTypes.layerGzip;
    const compression = layerCompression(mediaType);
    compressor(compression)?.destroy(); // NotImplemented (zstd) before any work
    const labels = validateLabels(opts.labels);
    const ref = opts.ref || uniqueRef();
    const write = (changes: Change[], root: string) =>
      this.write(ns, changes, root, { mediaType, compression, ref, labels, lease: opts.lease, signal: opts.signal });

    const upperdir = overlayUpperOver(lower, upper);
    if (upperdir !== undefined) {
      const changes = await overlayChanges(upperdir);
      if (changes) return write(changes, upperdir);
      this.log.debug({ upperdir }, 'upperdir needs the merged view: walking both trees');
    }
    return withReadonlyView(lower, this.tmpRoot, { log: this.log }, (lowerDir) =>
      withReadonlyView(upper, this.tmpRoot, { log: this.log }, async (upperDir) =>
        write(await walkChanges(lowerDir, upperDir), upperDir),
      ),
    );
  }

  /** Writes the layer through a content store ingest; a failed write aborts the ingest. */
  private async write(
    ns: string,
    changes: Change[],
    root: string,
    o: { mediaType: string; compression: Compression; ref: string; labels: Labels; lease?: string; signal?: AbortSignal },
  ): Promise<Descriptor> {
    const writer = await this.content.writer(ns, o.ref, { total: 0, expected: '', lease: o.lease });
    const uncompressed = createHash('sha256');
    const compressed = createHash('sha256');
    const tar = Readable.from(hashing(layerTar(changes, root), uncompressed));
    const zip = compressor(o.compression);
    const out = zip ? pipeline(tar, zip, () => {}) : tar;
    try {
      let offset = 0;
      for await (const chunk of out) {
        o.signal?.throwIfAborted();
        const data = chunk as Buffer;
        await writer.write(offset, data);
        compressed.update(data);
        offset += data.length;
      }
      const diffID = digestOf(uncompressed);
      const digest = digestOf(compressed);
      try {
        await writer.commit(offset, digest, { ...o.labels, [uncompressedLabel]: diffID });
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
      const info = this.content.info(ns, digest);
      this.log.debug({ ns, digest, diffID, size: info.size, changes: changes.length }, 'layer written');
      return { mediaType: o.mediaType, digest: info.digest, size: info.size };
    } catch (err) {
      out.destroy();
      await writer.close();
      await this.content.abort(ns, o.ref).catch((abortErr: unknown) => {
        if (!isNotFound(abortErr)) this.log.warn({ err: abortErr, ref: o.ref }, 'cannot abort the ingest of a failed diff');
      });
      throw wrap(err, 'diff');
    } finally {
      await writer.close();
    }
  }
}

async function* hashing(chunks: AsyncIterable<Buffer>, hash: ReturnType<typeof createHash>): AsyncGenerator<Buffer> {
  for await (const chunk of chunks) {
    hash.update(chunk);
    yield chunk;
  }
}

/** An ingest ref no other write uses, as containerd's uniqueRef. */
function uniqueRef(): string {
  return `${BigInt(Date.now()) * 1_000_000n}-${randomBytes(9).toString('base64url')}`;
}
