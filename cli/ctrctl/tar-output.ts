// Where save and export write their tar: the -o file, which appears whole or not at all (a temp file beside it,
// renamed at the end, as docker does), or stdout, never a terminal.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { failedPrecondition } from '../../lib/errdefs.js';

export class TarOutput {
  private constructor(
    readonly stream: Writable,
    private readonly file: { temp: string; path: string } | undefined,
  ) {}

  /** Refuses a terminal before anything is asked of the daemon. */
  static check(path: string | undefined): void {
    if (path === undefined && process.stdout.isTTY) throw failedPrecondition('cowardly refusing to save to a terminal. Use the -o flag or redirect');
  }

  /** The file gets `mode` (save keeps docker's 0600, export 0644). */
  static async open(path: string | undefined, mode: number): Promise<TarOutput> {
    TarOutput.check(path);
    if (path === undefined) return new TarOutput(process.stdout, undefined);
    const temp = join(dirname(path), `.${basename(path)}.ctrctl-${randomBytes(4).toString('hex')}`);
    const fh = await open(temp, 'wx', mode);
    return new TarOutput(fh.createWriteStream(), { temp, path });
  }

  /** Writes one chunk; while the output is full, a flowing source is paused (an iterated one waits anyway). */
  async write(data: Uint8Array, source?: Readable): Promise<void> {
    if (this.stream.write(data)) return;
    source?.pause();
    await once(this.stream, 'drain');
    source?.resume();
  }

  /** The file complete under its name (stdout is left open). */
  async commit(): Promise<void> {
    if (!this.file) return;
    this.stream.end();
    await once(this.stream, 'close');
    await rename(this.file.temp, this.file.path);
  }

  /** Nothing left of a file that did not complete. */
  async abort(): Promise<void> {
    if (!this.file) return;
    this.stream.destroy();
    await rm(this.file.temp, { force: true });
  }
}
