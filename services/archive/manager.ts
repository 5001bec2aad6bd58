// Image archives: docker save (save.ts) and docker load (load.ts) for one namespace at a time, over the content,
// image and snapshot stores. It knows nothing of gRPC; services/archive/grpc.ts serves it.
import type { Readable } from 'node:stream';
import type { Loader, LoadedImage, LoadOptions } from './load.js';
import type { Saver, SaveOptions } from './save.js';

export class ArchiveManager {
  constructor(
    private readonly saver: Saver,
    private readonly loader: Loader,
  ) {}

  /** The images as one tar, streaming as it is read; unknown images fail before the first byte. */
  save(ns: string, references: readonly string[], opts: SaveOptions = {}): Promise<Readable> {
    return this.saver.save(ns, references, opts);
  }

  /** Loads the archive that `source` yields; resolves with the images once they are stored, unpacked and named. */
  load(ns: string, source: AsyncIterable<Uint8Array>, opts: LoadOptions = {}): Promise<LoadedImage[]> {
    return this.loader.load(ns, source, opts);
  }
}
