// docker build (and image build), and builder prune: the context is sent to ctrd's BuildService as a tar
// (what .dockerignore excludes left out), and the build's events are printed as docker's classic builder
// prints them:
//   Step 2/7 : RUN make
//    ---> Running in 1a2b3c4d5e6f
//   (the step's output)
//   Removing intermediate container 1a2b3c4d5e6f
//    ---> 7e8f9a0b1c2d
//   Successfully built 7e8f9a0b1c2d
//   Successfully tagged ouruser/sinatra:v2
// -q prints the image ID alone (the output of a failed build goes to stderr). Ctrl-C cancels the build: the
// daemon kills and removes the step's container and what the build made.
import { readFile, stat } from 'node:fs/promises';
import { basename, relative, resolve, sep } from 'node:path';
import { Option, type Command } from 'commander';
import type { BuildRequest, BuildResponse, BuildOptions as PbBuildOptions } from '../../gen/ctrd/services/build/v1/build.js';
import { errnoCode, invalidArgument, notFound } from '../../lib/errdefs.js';
import { unary } from '../../lib/grpc/client.js';
import type { ClientReadableStream } from '@grpc/grpc-js';
import { withClients } from './connect.js';
import { readUntilInterrupted } from './stream.js';
import { collect, keyValue } from './flags.js';
import { ExitStatus, print } from './output.js';
import { runtimeClients } from './runtime-clients.js';
import { humanSize } from './units.js';
import { contextTar, openContext } from './build-context.js';

interface BuildFlags {
  tag: string[];
  file?: string;
  buildArg: string[];
  target?: string;
  cache: boolean;
  pull?: boolean;
  label: string[];
  network?: string;
  quiet?: boolean;
  progress: string;
  snapshotter?: string;
}

const dataPiece = 1 << 20;
const shortId = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

/** --build-arg KEY=VALUE, or KEY for the value of ctrctl's own environment (skipped when unset), as docker. */
export function buildArgs(values: readonly string[], env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const [key, value] = keyValue('--build-arg', v);
    if (v.includes('=')) out[key] = value;
    else if (env[key] !== undefined) out[key] = env[key]!;
  }
  return out;
}

/** What is sent: the header and the context's bytes. */
async function prepare(path: string, f: BuildFlags): Promise<{ options: PbBuildOptions; data: AsyncIterable<Buffer>; size?: () => number }> {
  const options: PbBuildOptions = {
    tags: f.tag,
    dockerfilePath: '',
    dockerfile: Buffer.alloc(0),
    buildArgs: buildArgs(f.buildArg),
    target: f.target ?? '',
    noCache: !f.cache,
    pull: f.pull ?? false,
    labels: Object.fromEntries(f.label.map((l) => keyValue('--label', l))),
    network: f.network ?? '',
    snapshotter: f.snapshotter ?? '',
  };
  if (path === '-') {
    // A tar on stdin is the context itself, its Dockerfile inside (or given with -f from outside it).
    if (f.file === '-') throw invalidArgument('the Dockerfile and the context cannot both come from stdin');
    if (f.file) Object.assign(options, await dockerfileApart(f.file));
    return { options, data: process.stdin as AsyncIterable<Buffer> };
  }
  const { root, ignore } = await openContext(path);
  let inside = 'Dockerfile';
  if (f.file === '-') {
    options.dockerfile = await readAll(process.stdin as AsyncIterable<Buffer>);
    options.dockerfilePath = 'Dockerfile';
  } else if (f.file) {
    const file = resolve(f.file);
    const rel = relative(root, file);
    if (rel.startsWith(`..${sep}`) || rel === '..' || rel.startsWith(sep)) Object.assign(options, await dockerfileApart(f.file));
    else inside = rel.split(sep).join('/');
  }
  if (options.dockerfile.length === 0) options.dockerfilePath = inside;
  let size = 0;
  const tar = contextTar(root, ignore, { always: [options.dockerfilePath || 'Dockerfile', '.dockerignore'] });
  const data = (async function* () {
    for await (const chunk of tar) {
      size += chunk.length;
      yield chunk;
    }
  })();
  return { options, data, size: () => size };
}

async function dockerfileApart(file: string): Promise<{ dockerfile: Buffer; dockerfilePath: string }> {
  try {
    return { dockerfile: await readFile(file), dockerfilePath: basename(file) };
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw notFound(`Cannot locate specified Dockerfile: ${file}`);
    throw err;
  }
}

async function readAll(data: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of data) parts.push(chunk);
  return Buffer.concat(parts);
}

/** Prints a build's events the classic way; with quiet, keeps them for a failure. */
class BuildPrinter {
  private readonly kept: string[] = [];
  private atLineStart = true;

  constructor(private readonly quiet: boolean) {}

  private write(text: string): void {
    if (text === '') return;
    if (this.quiet) this.kept.push(text);
    else process.stdout.write(text);
    this.atLineStart = text.endsWith('\n');
  }

  /** A line of ours, after output that may not have ended its own. */
  private line(text: string): void {
    this.write(`${this.atLineStart ? '' : '\n'}${text}\n`);
  }

  event(r: BuildResponse): void {
    if (r.step) this.line(`Step ${r.step.number}/${r.step.total} : ${r.step.instruction}`);
    else if (r.container) this.line(r.container.removed ? `Removing intermediate container ${shortId(r.container.id)}` : ` ---> Running in ${shortId(r.container.id)}`);
    else if (r.output) this.write(Buffer.from(r.output.data).toString('utf8'));
    else if (r.done) {
      if (r.done.cached) this.line(' ---> Using cache');
      this.line(` ---> ${shortId(r.done.id)}`);
    } else if (r.message !== undefined) this.line(r.message);
    else if (r.warning !== undefined) {
      if (this.quiet) this.kept.push(`[Warning] ${r.warning}\n`);
      else process.stderr.write(`${this.atLineStart ? '' : '\n'}[Warning] ${r.warning}\n`);
    }
  }

  /** With quiet, what the build printed goes to stderr once it failed. */
  failed(): void {
    if (this.quiet) process.stderr.write(this.kept.join(''));
    else if (!this.atLineStart) process.stdout.write('\n');
  }
}

async function build(path: string, f: BuildFlags, command: Command): Promise<void> {
  if (!['auto', 'plain', 'tty', 'quiet'].includes(f.progress)) throw invalidArgument(`invalid --progress "${f.progress}": one of auto, plain, tty, quiet`);
  const quiet = f.quiet === true || f.progress === 'quiet';
  if (path !== '-') {
    try {
      await stat(path);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw invalidArgument(`unable to prepare context: path "${path}" not found`);
      if (errnoCode(err) !== 'ELOOP') throw err;
    }
  }
  const { options, data, size } = await prepare(path, f);
  const printer = new BuildPrinter(quiet);
  await withClients(command, async (c) => {
    const call = runtimeClients(c).build.build();
    let result: BuildResponse['result'];
    let announced = false;
    const reading = readUntilInterrupted(call as unknown as ClientReadableStream<BuildResponse>, (r) => {
      if (!announced && size && !quiet) {
        announced = true;
        printer.event({ message: `Sending build context to ctrd  ${humanSize(size())}` });
      }
      if (r.result) result = r.result;
      else printer.event(r);
    });
    // The call may end (an error, Ctrl-C) while the context is still going out: then sending stops.
    let over = false;
    reading.then(
      () => (over = true),
      () => (over = true),
    );
    try {
      const write = async (m: BuildRequest) => {
        if (!call.write(m)) await Promise.race([new Promise((r) => call.once('drain', r)), reading]);
      };
      try {
        await write({ options });
        for await (const chunk of data) {
          for (let i = 0; i < chunk.length && !over; i += dataPiece) await write({ data: chunk.subarray(i, i + dataPiece) });
          if (over) break;
        }
      } finally {
        call.end();
      }
      // Ctrl-C: the daemon stops the build and removes what it made.
      if ((await reading).interrupted) throw new ExitStatus(130);
    } catch (err) {
      printer.failed();
      throw err;
    }
    if (!result) throw invalidArgument('ctrd ended the build without a result');
    if (quiet) print(result.id);
    else {
      print(`Successfully built ${shortId(result.id)}`);
      for (const t of result.tags) print(`Successfully tagged ${t}`);
    }
  });
}

async function prune(o: { all?: boolean; force?: boolean; keepStorage?: string; filter: string[] }, command: Command): Promise<void> {
  let keepSeconds = 0;
  for (const f of o.filter) {
    const [key, value] = keyValue('--filter', f);
    if (key !== 'until') throw invalidArgument(`invalid filter '${key}': ctrctl knows until`);
    keepSeconds = durationSeconds(value);
  }
  await withClients(command, async (c) => {
    const b = runtimeClients(c).build;
    const res = await unary(b, b.prune, { keepSeconds });
    print(`Deleted build cache objects: ${res.deleted}`);
    print(`Total reclaimed space: ${humanSize(Number(res.reclaimed))}`);
  });
}

/** "24h", "90m", "1h30m", "3600s" (Go durations, whole seconds). */
export function durationSeconds(value: string): number {
  const units: Record<string, number> = { h: 3600, m: 60, s: 1 };
  const parts = [...value.matchAll(/(\d+)([hms])/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) throw invalidArgument(`invalid duration "${value}"`);
  return parts.reduce((n, p) => n + Number(p[1]) * units[p[2]!]!, 0);
}

function buildCommand(parent: Command): void {
  parent
    .command('build')
    .description('build an image from a Dockerfile')
    .argument('<path>', 'the context directory, or - for a tar on stdin')
    .option('-t, --tag <name>', 'name and optionally a tag in the name:tag format (repeatable)', collect, [])
    .option('-f, --file <path>', "name of the Dockerfile (default: 'PATH/Dockerfile'; - for stdin)")
    .option('--build-arg <arg>', 'set build-time variables (repeatable)', collect, [])
    .option('--target <stage>', 'set the target build stage to build')
    .option('--no-cache', 'do not use cache when building the image')
    .option('--pull', 'always attempt to pull a newer version of the image')
    .option('--label <label>', 'set metadata for an image (repeatable)', collect, [])
    .option('--network <mode>', 'set the networking mode for the RUN instructions: default, none, host')
    .option('-q, --quiet', 'suppress the build output and print image ID on success')
    .addOption(new Option('--progress <type>', 'type of progress output: auto, plain, tty, quiet').default('auto'))
    .option('--snapshotter <name>', "where to unpack: overlayfs or native (default: the daemon's)")
    .option('--rm', 'remove intermediate containers after a successful build (always)')
    .option('--force-rm', 'always remove intermediate containers (always)')
    .action((path: string, f: BuildFlags, command: Command) => build(path, f, command));
}

export function addBuildCommands(program: Command): void {
  buildCommand(program);
  const image = program.commands.find((c) => c.name() === 'image');
  if (image) buildCommand(image);
  const builder = program.command('builder').description('manage builds');
  buildCommand(builder);
  builder
    .command('prune')
    .description('remove build cache')
    .option('-a, --all', 'remove all unused build cache (the default here)')
    .option('-f, --force', 'do not prompt for confirmation')
    .option('--filter <filter>', "provide filter values (e.g. 'until=24h')", collect, [])
    .option('--keep-storage <bytes>', 'accepted for docker compatibility; ignored')
    .action((o: { all?: boolean; force?: boolean; keepStorage?: string; filter: string[] }, command: Command) => prune(o, command));
}
