// ctrctl's image archive verbs, docker's names, flags and output, over ctrd's ArchiveService:
//   save [-o FILE] IMAGE...     (image save)   the tar on stdout unless -o; never onto a terminal
//   load [-i FILE] [-q]         (image load)   the tar from stdin unless -i; "Loaded image: NAME:TAG" per name
// The daemon does the work; a person on a terminal sees progress on stderr, as docker shows it on stdout.
import { once } from 'node:events';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import {
  LayerState,
  type LoadProgress,
  type LoadResponse,
  type LoadResult,
  type SaveProgress,
  type SaveResponse,
} from '../../gen/ctrd/services/archive/v1/archive.js';
import { invalidArgument, unavailable } from '../../lib/errdefs.js';
import type { Clients } from '../../lib/grpc/client.js';
import { fromGrpcStatus } from '../../lib/grpc/status.js';
import { familiarString, parseReference } from '../../lib/registry/reference.js';
import { withClients } from './connect.js';
import { ExitStatus, print } from './output.js';
import { progressBar, shortId } from './progress.js';
import { readUntilInterrupted } from './stream.js';
import { TarOutput } from './tar-output.js';
import { humanSize } from './units.js';

/** The most archive bytes one Load message carries. */
const chunkSize = 1 << 20;

/** One status line on a terminal, redrawn in place; cleared when done. */
class StatusLine {
  private shown = false;

  constructor(private readonly out: NodeJS.WriteStream) {}

  show(text: string): void {
    const width = this.out.columns || 80;
    this.out.write(`\r\x1b[2K${text.length < width ? text : text.slice(0, width - 1)}`);
    this.shown = true;
  }

  clear(): void {
    if (this.shown) this.out.write('\r\x1b[2K');
    this.shown = false;
  }
}

// ---- save ----

function saveProgressText(p: SaveProgress, columns: number): string {
  return `Saving ${p.blobsWritten}/${p.blobsTotal} blobs ${progressBar(p.written, p.total, columns)}`;
}

/** Writes to `out` and waits while it is full, pausing the call meanwhile. */
async function save(c: Clients, references: string[], output: string | undefined): Promise<void> {
  const out = await TarOutput.open(output, 0o600);
  const status = process.stderr.isTTY ? new StatusLine(process.stderr) : undefined;
  let ok = false;
  try {
    const call = c.archive.save({ references });
    let pending = Promise.resolve();
    const end = await readUntilInterrupted(call, (res: SaveResponse) => {
      if (res.progress) status?.show(saveProgressText(res.progress, process.stderr.columns || 80));
      if (res.data && res.data.length > 0) {
        const data = res.data;
        pending = pending.then(() => out.write(data, call));
      }
    });
    await pending;
    if (end.interrupted) throw new ExitStatus(130);
    await out.commit();
    ok = true;
  } finally {
    status?.clear();
    if (!ok) await out.abort();
  }
}

// ---- load ----

const layerStatus: Partial<Record<LayerState, string>> = {
  [LayerState.LAYER_STATE_WAITING]: 'Waiting',
  [LayerState.LAYER_STATE_EXISTS]: 'Already exists',
  [LayerState.LAYER_STATE_UNPACKING]: 'Loading layer',
  [LayerState.LAYER_STATE_UNPACKED]: 'Loaded',
  [LayerState.LAYER_STATE_FAILED]: 'Failed',
};

/** docker load's progress for a person: the archive as it is read, then a line per layer as it is unpacked. */
class LoadRenderer {
  private readonly status: StatusLine;
  private readonly layers = new Map<string, string>();

  constructor(private readonly out: NodeJS.WriteStream) {
    this.status = new StatusLine(out);
  }

  update(p: LoadProgress): void {
    if (p.layers.length === 0) {
      const entry = p.entry ? ` ${p.entry.replace(/^blobs\/sha256\//, '').slice(0, 12)} ${progressBar(p.entryOffset, p.entrySize, this.out.columns || 80)}` : '';
      this.status.show(`Reading archive ${humanSize(p.received, 3)}${entry}`);
      return;
    }
    this.status.clear();
    for (const l of p.layers) {
      const id = shortId(l.descriptor?.digest ?? '');
      const text = `${id}: ${layerStatus[l.state] ?? ''}`;
      if (this.layers.get(id) === text) continue;
      // A layer's line is written again when its state changes: on a terminal that reads as docker's list.
      this.layers.set(id, text);
      if (l.state !== LayerState.LAYER_STATE_WAITING) this.out.write(`${text}\n`);
    }
  }

  finish(): void {
    this.status.clear();
  }
}

async function openInput(path: string | undefined): Promise<{ stream: Readable; close: () => Promise<void> }> {
  if (path === undefined) return { stream: process.stdin, close: async () => undefined };
  const fh = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw invalidArgument(`open ${path}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`);
  });
  return { stream: fh.createReadStream(), close: () => fh.close().catch(() => undefined) };
}

async function load(c: Clients, input: string | undefined, quiet: boolean): Promise<void> {
  const { stream, close } = await openInput(input);
  const renderer = !quiet && process.stderr.isTTY ? new LoadRenderer(process.stderr) : undefined;
  const call = c.archive.load();
  let result: LoadResult | undefined;
  let finished = false;
  const responses = new Promise<void>((resolve, reject) => {
    call.on('data', (res: LoadResponse) => {
      if (res.progress) renderer?.update(res.progress);
      if (res.result) result = res.result;
    });
    call.on('error', (err) => {
      finished = true;
      // A read of the input that waits (stdin still open) must not keep the verb from ending.
      stream.destroy();
      reject(fromGrpcStatus(err));
    });
    call.on('end', () => {
      finished = true;
      resolve();
    });
  });
  // The call ends early when the daemon refuses the archive: writing stops, and its answer is what counts.
  const ended = responses.then(
    () => undefined,
    () => undefined,
  );
  let interrupted = false;
  const interrupt = () => {
    interrupted = true;
    call.cancel();
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    call.write({ snapshotter: '', data: Buffer.alloc(0) });
    try {
      for await (const chunk of stream) {
        if (finished) break;
        const buf = chunk as Buffer;
        for (let off = 0; off < buf.length && !finished; off += chunkSize) {
          if (!call.write({ snapshotter: '', data: buf.subarray(off, off + chunkSize) })) {
            await Promise.race([once(call, 'drain'), ended]);
          }
        }
      }
    } catch (err) {
      // The input destroyed because the call failed: the call's error is the one to report.
      if (!finished) throw err;
    }
    if (!finished) call.end();
    await responses;
  } catch (err) {
    // Ctrl-C: the daemon drops what it stored; the shell's 128+SIGINT, as for pull.
    if (interrupted) throw new ExitStatus(130);
    throw err;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    renderer?.finish();
    await close();
  }
  if (!result) throw unavailable('ctrd ended the load without reporting the images');
  for (const img of result.images) {
    if (img.name) print(`Loaded image: ${familiar(img.name)}`);
    else print(`Loaded image ID: ${img.id || img.target?.digest || ''}`);
  }
}

function familiar(name: string): string {
  try {
    return familiarString(parseReference(name));
  } catch {
    return name;
  }
}

// ---- the verbs ----

function addSaveCommand(parent: Command): void {
  parent
    .command('save')
    .description('save one or more images to a tar archive (streamed to stdout by default)')
    .argument('<image...>', 'NAME[:TAG], NAME@DIGEST or ID; a NAME alone saves every tag of it')
    .option('-o, --output <file>', 'write to a file, instead of stdout')
    .action(async (images: string[], opts: { output?: string }, command: Command) => {
      TarOutput.check(opts.output);
      await withClients(command, (c) => save(c, images, opts.output));
    });
}

function addLoadCommand(parent: Command): void {
  parent
    .command('load')
    .description('load images from a tar archive (Docker or OCI; from stdin by default)')
    .option('-i, --input <file>', 'read from a tar archive file, instead of stdin')
    .option('-q, --quiet', 'suppress the load output')
    .action(async (opts: { input?: string; quiet?: boolean }, command: Command) => {
      if (opts.input === undefined && process.stdin.isTTY) {
        throw invalidArgument('requested load from stdin, but stdin is empty');
      }
      await withClients(command, (c) => load(c, opts.input, opts.quiet ?? false));
    });
}

/** save and load, and their `image save` and `image load` forms (after addImageCommands made `image`). */
export function addArchiveCommands(program: Command): void {
  addSaveCommand(program);
  addLoadCommand(program);
  const image = program.commands.find((c) => c.name() === 'image') ?? program.command('image').description('manage images');
  addSaveCommand(image);
  addLoadCommand(image);
}
