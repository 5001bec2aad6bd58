// ctrctl push [-a] [-q] NAME[:TAG], docker's output for ctrd's ImageService.Push stream:
//   The push refers to repository [127.0.0.1:5000/test/busybox]
//   3c6e2a3b4d5f: Pushed                     (or "Layer already exists", "Mounted from test/other")
//   latest: digest: sha256:... size: 527
// Layers are listed top first, as docker lists them. On a terminal the lines are redrawn in place with
// progress bars, as pull's (progress.ts); otherwise each layer prints one plain line per state change.
// The credentials for the registry come from the docker config file (ctrctl login writes it) and ride the
// request; without any, the daemon uses its own.
import type { Command } from 'commander';
import { PushState, type PushBlobProgress, type PushResponse, type PushResult } from '../../gen/ctrd/services/images/v1/images.js';
import { CtrdError, invalidArgument, kindOf, notFound, unavailable } from '../../lib/errdefs.js';
import { unary, type Clients } from '../../lib/grpc/client.js';
import { dockerConfigCredentials, type Credentials } from '../../lib/registry/credentials.js';
import { familiarString, formatReference, parseReference, repositoryName, type Reference } from '../../lib/registry/reference.js';
import { withClients } from './connect.js';
import { ExitStatus, print } from './output.js';
import { LayerLines, progressBar, shortId, type ProgressOutput, type RendererOptions } from './progress.js';
import { readUntilInterrupted } from './stream.js';

function statusOf(blob: PushBlobProgress): string | undefined {
  switch (blob.state) {
    case PushState.PUSH_STATE_PREPARING:
      return 'Preparing';
    case PushState.PUSH_STATE_WAITING:
      return 'Waiting';
    case PushState.PUSH_STATE_PUSHING:
      return 'Pushing';
    case PushState.PUSH_STATE_EXISTS:
      return 'Layer already exists';
    case PushState.PUSH_STATE_MOUNTED:
      return `Mounted from ${blob.mountedFrom}`;
    case PushState.PUSH_STATE_PUSHED:
      return 'Pushed';
    default:
      return undefined; // a failure is told by the error that ends the push
  }
}

/** Renders one push: feed it every PushResponse; it writes as it goes and ends with docker's digest line. */
export class PushRenderer {
  private readonly lines: LayerLines<PushState>;
  private started = false;

  constructor(
    private readonly out: ProgressOutput,
    private readonly ref: Reference,
    private readonly opts: RendererOptions & { header?: boolean },
  ) {
    this.lines = new LayerLines(out, opts);
  }

  update(res: PushResponse): void {
    this.start();
    // docker shows layers only, the top one first.
    const layers = (res.progress?.blobs ?? []).filter((b) => b.kind === 'layer' && b.descriptor?.digest).reverse();
    for (const blob of layers) this.blob(blob);
  }

  /** "latest: digest: sha256:... size: 527" */
  finish(result: PushResult): void {
    this.start();
    this.out.write(`${result.tag}: digest: ${result.digest} size: ${result.size}\n`);
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    // push -a: one header for all the tags.
    if (this.opts.header !== false) this.out.write(`The push refers to repository [${repositoryName(this.ref)}]\n`);
  }

  private blob(blob: PushBlobProgress): void {
    const digest = blob.descriptor!.digest;
    const status = statusOf(blob);
    if (status === undefined) return;
    const bar =
      this.opts.tty && blob.state === PushState.PUSH_STATE_PUSHING
        ? progressBar(blob.offset, blob.total || (blob.descriptor?.size ?? 0), this.opts.columns ?? 80)
        : '';
    this.lines.show(shortId(digest), blob.state, status, `${shortId(digest)}: ${status}${bar ? ` ${bar}` : ''}`);
  }
}

interface PushFlags {
  quiet?: boolean;
  allTags?: boolean;
}

/** Whether a reference names a tag itself ("repo:v1"), rather than getting "latest" by default. */
const hasTag = (reference: string) => /:[^/]*$/.test(reference.split('@')[0]!);

/** One tag's push: its layer lines (and the header, for the first), then its digest line. */
async function pushOne(c: Clients, ref: Reference, creds: Credentials | undefined, opts: PushFlags, header: boolean): Promise<void> {
  const tty = Boolean(process.stdout.isTTY);
  const renderer = opts.quiet ? undefined : new PushRenderer(process.stdout, ref, { tty, columns: process.stdout.columns ?? 80, header });
  const call = c.ctrdImages.push({ reference: formatReference(ref), auth: creds ? { ...creds, token: '' } : undefined });
  let result: PushResult | undefined;
  let end;
  try {
    end = await readUntilInterrupted(call, (res: PushResponse) => {
      if (res.result) result = res.result;
      else renderer?.update(res);
    });
  } catch (err) {
    if (kindOf(err) === 'unauthenticated') {
      throw new CtrdError('unauthenticated', `${(err as Error).message}\nctrctl: log in first: ctrctl login ${ref.domain}`);
    }
    throw err;
  }
  if (end.interrupted) throw new ExitStatus(130);
  if (!result) throw unavailable('ctrd ended the push without reporting its digest');
  if (renderer) renderer.finish(result);
  else print(formatReference(ref));
}

async function push(command: Command, reference: string, opts: PushFlags): Promise<void> {
  // Checked before connecting: a typo is reported at once, in the words of the reference grammar.
  const ref = parseReference(reference);
  if (ref.digest !== undefined) throw invalidArgument(`cannot push a digest reference "${reference}": push a tag`);
  if (opts.allTags && hasTag(reference)) throw invalidArgument("tag can't be used with --all-tags/-a");
  const creds = await dockerConfigCredentials()(ref.domain);
  await withClients(command, async (c) => {
    let refs = [ref];
    if (opts.allTags) {
      const repo = repositoryName(ref);
      const { images } = await unary(c.ctrdImages, c.ctrdImages.list, { filters: [] });
      refs = images
        .map((i) => {
          try {
            return parseReference(i.name);
          } catch {
            return undefined; // a name that is not a reference has no tag to push
          }
        })
        .filter((r): r is Reference => r !== undefined && r.digest === undefined && r.tag !== undefined && repositoryName(r) === repo)
        .sort((a, b) => a.tag!.localeCompare(b.tag!));
      if (refs.length === 0) throw notFound(`An image does not exist locally with the tag: ${familiarString({ domain: ref.domain, path: ref.path })}`);
    }
    for (const [i, r] of refs.entries()) await pushOne(c, r, creds, opts, i === 0);
  });
}

function define(parent: Command): void {
  parent
    .command('push')
    .description('push an image to its registry')
    .argument('<name>', 'NAME[:TAG]')
    .option('-a, --all-tags', 'push every tag of the repository that is here')
    .option('-q, --quiet', 'suppress verbose output: print only the reference')
    .action((name: string, opts: PushFlags, command: Command) => push(command, name, opts));
}

/** push, and image push when the image group is there (add the image verbs first). */
export function addPushCommand(program: Command): void {
  define(program);
  const image = program.commands.find((c) => c.name() === 'image');
  if (image) define(image);
}
