// docker pull's output for ctrd's ImageService.Pull stream: "latest: Pulling from test/busybox", one line per
// layer ("a3ed95caeb02: Downloading [====>    ]  1.2MB/3.4MB"), then Digest, Status and the full reference.
// On a terminal the layer lines are redrawn in place (cursor up, clear line, cursor down, as docker's
// jsonmessage does); otherwise each layer prints one plain line per state change and no escape sequences.
// A hand-written renderer rather than a progress-bar package: the format is docker's, not a library's, it
// is a few ANSI sequences, and the non-terminal output must stay line-for-line stable for scripts and logs.
import { BlobState, type BlobProgress, type ImageSummary, type PullResponse } from '../../gen/ctrd/services/images/v1/images.js';
import { familiarString, formatReference, type Reference } from '../../lib/registry/reference.js';
import { humanSize } from './units.js';

export interface ProgressOutput {
  write(text: string): unknown;
}

export interface RendererOptions {
  /** Redraw in place with ANSI sequences (stdout is a terminal). */
  tty: boolean;
  /** The terminal's width: docker draws the bar only when it is wider than 110 columns. */
  columns?: number;
}

/** docker's short ID: 12 hex digits of a digest. */
export const shortId = (digest: string) => digest.replace(/^[^:]*:/, '').slice(0, 12);

/** docker's JSONProgress.String(): "[=====>     ]  1.234MB/3.456MB", the bar only on a wide terminal. */
export function progressBar(current: number, total: number, columns: number): string {
  if (current <= 0 && total <= 0) return '';
  const pad8 = (s: string) => s.padStart(8);
  if (total <= 0) return pad8(humanSize(current));
  const percentage = Math.min(50, Math.trunc(Math.trunc((current / total) * 100) / 2));
  const bar = columns > 110 ? `[${'='.repeat(percentage)}>${' '.repeat(50 - percentage)}] ` : '';
  const numbers = current > total ? pad8(humanSize(current)) : `${pad8(humanSize(current))}/${humanSize(total)}`;
  return bar + numbers;
}

/**
 * docker's jsonmessage lines, one per layer (pull and push alike): a layer's line is printed when it is first
 * seen; on a terminal it is redrawn in place as it changes, elsewhere a new line is printed when its status does.
 */
export class LayerLines<S> {
  private readonly lines: Array<{ id: string; state: S; status: string; text: string }> = [];
  private readonly byId = new Map<string, { id: string; state: S; status: string; text: string }>();

  constructor(
    private readonly out: ProgressOutput,
    private readonly opts: RendererOptions,
  ) {}

  get(id: string): { state: S; status: string } | undefined {
    return this.byId.get(id);
  }

  show(id: string, state: S, status: string, text: string): void {
    const previous = this.byId.get(id);
    if (!previous) {
      const line = { id, state, status, text };
      this.lines.push(line);
      this.byId.set(id, line);
      this.out.write(`${this.fit(text)}\n`);
      return;
    }
    const changed = previous.status !== status;
    previous.state = state;
    previous.status = status;
    if (!this.opts.tty) {
      if (changed) this.out.write(`${text}\n`);
      return;
    }
    if (previous.text === text) return;
    previous.text = text;
    // Up to the layer's line, clear it, write it, and back down to the line below the last layer.
    const up = this.lines.length - this.lines.indexOf(previous);
    this.out.write(`\x1b[${up}A\r\x1b[2K${this.fit(text)}\x1b[${up}B\r`);
  }

  /** On a terminal a line that wraps would throw the line count off: it is cut to the width. */
  private fit(text: string): string {
    if (!this.opts.tty || !this.opts.columns || text.length < this.opts.columns) return text;
    return text.slice(0, this.opts.columns - 1);
  }
}

/** The status shown; `previous` is the layer's line so far: EXTRACTED after EXISTS is still "Already exists". */
function statusOf(previous: { state: BlobState; status: string } | undefined, state: BlobState): string | undefined {
  switch (state) {
    case BlobState.BLOB_STATE_WAITING:
      return 'Waiting';
    case BlobState.BLOB_STATE_DOWNLOADING:
      return 'Downloading';
    case BlobState.BLOB_STATE_EXISTS:
      return 'Already exists';
    case BlobState.BLOB_STATE_DOWNLOADED:
      return 'Download complete';
    case BlobState.BLOB_STATE_EXTRACTING:
      return 'Extracting';
    case BlobState.BLOB_STATE_EXTRACTED:
      // The blob and its snapshot were both there: docker says so, not "Pull complete".
      return previous?.status === 'Already exists' ? 'Already exists' : 'Pull complete';
    case BlobState.BLOB_STATE_FAILED:
      return 'Failed';
    default:
      return undefined;
  }
}

const fetching = new Set([BlobState.BLOB_STATE_DOWNLOADING, BlobState.BLOB_STATE_DOWNLOADED]);

/** Renders one pull: feed it every PullResponse; it writes as it goes and ends with docker's summary. */
export class PullRenderer {
  private readonly lines: LayerLines<BlobState>;
  private started = false;
  /** Whether the pull fetched or unpacked anything. */
  private fetched = false;

  constructor(
    private readonly out: ProgressOutput,
    private readonly ref: Reference,
    private readonly opts: RendererOptions,
  ) {
    this.lines = new LayerLines(out, opts);
  }

  /** "latest: Pulling from test/busybox": the tag (or digest) and the repository path, without the host. */
  header(): string {
    return `${this.ref.digest ?? this.ref.tag ?? 'latest'}: Pulling from ${this.ref.path}`;
  }

  update(res: PullResponse): void {
    this.start();
    for (const blob of res.progress?.blobs ?? []) this.blob(blob);
  }

  /** The summary once the image is there: Digest, Status, and the full reference on the last line. */
  finish(image: ImageSummary): void {
    this.start();
    const familiar = familiarString(this.ref);
    const status = this.fetched ? `Downloaded newer image for ${familiar}` : `Image is up to date for ${familiar}`;
    this.out.write(`Digest: ${image.target?.digest ?? ''}\nStatus: ${status}\n${formatReference(this.ref)}\n`);
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.out.write(`${this.header()}\n`);
  }

  private blob(blob: BlobProgress): void {
    const digest = blob.descriptor?.digest;
    if (!digest) return;
    // A blob written now (a manifest too: ctrd reports one it had as "exists"), or a layer unpacked now, means
    // the image is new here; only a pull that found everything in place is "up to date".
    if (fetching.has(blob.state) || (blob.kind === 'layer' && blob.state === BlobState.BLOB_STATE_EXTRACTING)) this.fetched = true;
    // docker shows layers only: the index, manifest and config are small and come first.
    if (blob.kind !== 'layer') return;
    const id = shortId(digest);
    const status = statusOf(this.lines.get(id), blob.state);
    if (status === undefined) return;
    const withBar = blob.state === BlobState.BLOB_STATE_DOWNLOADING || blob.state === BlobState.BLOB_STATE_EXTRACTING;
    const bar = this.opts.tty && withBar ? progressBar(blob.offset, blob.total || (blob.descriptor?.size ?? 0), this.opts.columns ?? 80) : '';
    this.lines.show(id, blob.state, status, `${id}: ${status}${bar ? ` ${bar}` : ''}`);
  }
}
