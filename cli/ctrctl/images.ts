// ctrctl's image verbs, docker's names and output, over ctrd's own ImageService:
//   pull [-q] [--platform P] REF          images / image ls [-q] [-a] [--digests] [--no-trunc] [--filter F]... [--format T] [REPO[:TAG]]
//   tag SOURCE TARGET                     rmi / image rm [-f] IMAGE...
//   image inspect [-f T] IMAGE...         history / image history [--no-trunc] [-q] [--format T] IMAGE
//   image prune [-a] [-f]
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { Image as ContainerdImage } from '../../gen/containerd/services/images/v1/images.js';
import type { HistoryEntry, ImageSummary, InspectResponse, PullResponse } from '../../gen/ctrd/services/images/v1/images.js';
import { failedPrecondition, isNotFound, unavailable } from '../../lib/errdefs.js';
import { unary, type Clients } from '../../lib/grpc/client.js';
import { familiarString, formatReference, parseReference, type Reference } from '../../lib/registry/reference.js';
import { withClients } from './connect.js';
import { confirmPrune } from './system.js';
import { addInspectCommand, type Inspector } from './inspect.js';
import { readUntilInterrupted } from './stream.js';
import { formatArgument, parseFormat, renderFormat, type OutputFormat } from './go-template.js';
import { ExitStatus, print, printError } from './output.js';
import { PullRenderer, shortId } from './progress.js';
import { createdSince, goTimeString, humanSize, rfc3339 } from './units.js';

// ---- names ----

interface NameParts {
  /** The familiar repository ("busybox", "127.0.0.1:5000/test/busybox"), or <none> for a name that is not a reference. */
  repository: string;
  tag: string;
  reference?: Reference;
}

function nameParts(name: string): NameParts {
  try {
    const reference = parseReference(name);
    return { repository: familiarString({ domain: reference.domain, path: reference.path }), tag: reference.tag ?? '<none>', reference };
  } catch {
    return { repository: '<none>', tag: '<none>' };
  }
}

/** docker's image ID: the config digest, or the target's when the image's content is not all there. */
const imageId = (s: ImageSummary) => s.id || s.target?.digest || '';

const truncateId = (id: string, trunc: boolean) => (trunc ? shortId(id) : id);

// ---- filters ----

interface Filter {
  key: 'dangling' | 'reference' | 'before' | 'since' | 'label';
  value: string;
}

const filterKeys = new Set<Filter['key']>(['dangling', 'reference', 'before', 'since', 'label']);

/** --filter key=value, repeatable; the keys and values are checked here, so a bad one is a usage error. */
function collectFilter(value: string, previous: Filter[] = []): Filter[] {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('bad format of filter (expected name=value)');
  const key = value.slice(0, eq).trim().toLowerCase();
  const v = value.slice(eq + 1);
  if (!filterKeys.has(key as Filter['key'])) {
    throw new InvalidArgumentError(`invalid filter '${key}': ctrctl knows ${[...filterKeys].join(', ')}`);
  }
  if (key === 'dangling' && !/^(true|false|1|0)$/i.test(v)) throw new InvalidArgumentError(`invalid filter 'dangling=${v}'`);
  if (v === '') throw new InvalidArgumentError(`invalid filter '${key}=': a value is needed`);
  return [...previous, { key: key as Filter['key'], value: v }];
}

/** Go's path.Match as a RegExp: '*' is any run of non-'/' characters, '?' one of them, [a-z] and [^...] classes. */
function globRegExp(pattern: string): RegExp | undefined {
  const esc = (c: string) => c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      if (++i >= pattern.length) return undefined;
      re += esc(pattern[i]!);
    } else if (c === '[') {
      let j = i + 1;
      let cls = '';
      if (pattern[j] === '^') {
        cls = '^';
        j++;
      }
      let ranges = 0;
      for (; j < pattern.length && pattern[j] !== ']'; j++) {
        let lo = pattern[j]!;
        if (lo === '\\') lo = pattern[++j] ?? '';
        if (lo === '') return undefined;
        cls += esc(lo);
        if (pattern[j + 1] === '-' && pattern[j + 2] !== undefined && pattern[j + 2] !== ']') {
          let hi = pattern[j + 2]!;
          j += 2;
          if (hi === '\\') hi = pattern[++j] ?? '';
          if (hi === '' || hi < lo) return undefined;
          cls += `-${esc(hi)}`;
        }
        ranges++;
      }
      if (j >= pattern.length || ranges === 0) return undefined;
      re += `[${cls}]`;
      i = j;
    } else re += esc(c);
  }
  return new RegExp(`^${re}$`, 'u');
}

/** distribution/reference.FamiliarMatch: the pattern against "name:tag", then against the bare name. */
function referenceMatches(pattern: string, parts: NameParts): boolean {
  if (!parts.reference) return false;
  const re = globRegExp(pattern);
  if (!re) return false;
  return re.test(familiarString(parts.reference)) || re.test(parts.repository);
}

function labelMatches(filter: string, labels: Readonly<Record<string, string>>): boolean {
  const eq = filter.indexOf('=');
  if (eq < 0) return Object.hasOwn(labels, filter);
  return labels[filter.slice(0, eq)] === filter.slice(eq + 1);
}

// ---- images ----

interface Listed {
  summary: ImageSummary;
  parts: NameParts;
  id: string;
}

async function inspectOne(c: Clients, reference: string): Promise<InspectResponse> {
  return unary(c.ctrdImages, c.ctrdImages.inspect, { reference });
}

function parseConfig(bytes: Uint8Array): ImageConfigJson {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as ImageConfigJson;
  } catch {
    return {};
  }
}

async function listImages(c: Clients, filters: readonly Filter[]): Promise<Listed[]> {
  const { images } = await unary(c.ctrdImages, c.ctrdImages.list, { filters: [] });
  let listed = images.map((summary) => ({ summary, parts: nameParts(summary.name), id: imageId(summary) }));
  const byKey = (key: Filter['key']) => filters.filter((f) => f.key === key).map((f) => f.value);

  const dangling = byKey('dangling').map((v) => /^(true|1)$/i.test(v));
  if (dangling.some((d) => d !== dangling[0])) throw failedPrecondition('conflicting dangling filters: true and false');
  if (dangling.length > 0) listed = listed.filter((l) => (l.parts.tag === '<none>') === dangling[0]);

  const patterns = byKey('reference');
  if (patterns.length > 0) listed = listed.filter((l) => patterns.some((p) => referenceMatches(p, l.parts)));

  for (const [key, keep] of [
    ['before', (t: number, ref: number) => t < ref],
    ['since', (t: number, ref: number) => t > ref],
  ] as const) {
    for (const reference of byKey(key)) {
      const created = (await inspectOne(c, reference)).image?.created;
      if (!created) throw failedPrecondition(`image "${reference}" has no creation time to compare with`);
      listed = listed.filter((l) => l.summary.created !== undefined && keep(l.summary.created.getTime(), created.getTime()));
    }
  }

  const labels = byKey('label');
  if (labels.length > 0) {
    // docker matches the labels of the image config (Dockerfile LABEL); ctrd also has the record's own.
    const configLabels = new Map<string, Record<string, string>>();
    for (const l of listed) {
      if (configLabels.has(l.summary.name)) continue;
      let fromConfig: Record<string, string> = {};
      try {
        fromConfig = parseConfig((await inspectOne(c, l.summary.name)).config).config?.Labels ?? {};
      } catch {
        // An image whose content is incomplete has no config to read: its record labels still count.
      }
      configLabels.set(l.summary.name, fromConfig);
    }
    listed = listed.filter((l) => {
      const all = { ...l.summary.labels, ...configLabels.get(l.summary.name) };
      return labels.every((f) => labelMatches(f, all));
    });
  }

  // Newest first, as docker's daemon sorts; then by name, so that the order is stable.
  return listed.sort(
    (a, b) =>
      (b.summary.created?.getTime() ?? -Infinity) - (a.summary.created?.getTime() ?? -Infinity) ||
      a.parts.repository.localeCompare(b.parts.repository) ||
      a.parts.tag.localeCompare(b.parts.tag) ||
      a.summary.name.localeCompare(b.summary.name),
  );
}

const imageHeaders = {
  ID: 'IMAGE ID',
  Repository: 'REPOSITORY',
  Tag: 'TAG',
  Digest: 'DIGEST',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  Size: 'SIZE',
  Containers: 'CONTAINERS',
  VirtualSize: 'SIZE',
  SharedSize: 'SHARED SIZE',
  UniqueSize: 'UNIQUE SIZE',
};

/** Size as docker shows it: the unpacked snapshots when known, else what the pull fetched. */
const imageSize = (s: ImageSummary) => s.unpackedSize || s.size;

/** One row of docker images, with the fields (and key order) of docker's {{json .}}. */
function imageRow(l: Listed, trunc: boolean): Record<string, string> {
  const s = l.summary;
  return {
    Containers: 'N/A',
    CreatedAt: s.created ? goTimeString(s.created) : 'N/A',
    CreatedSince: createdSince(s.created),
    Digest: l.parts.reference ? (s.target?.digest ?? '<none>') : '<none>',
    ID: truncateId(l.id, trunc),
    Repository: l.parts.repository,
    SharedSize: 'N/A',
    Size: humanSize(imageSize(s), 3),
    Tag: l.parts.tag,
    UniqueSize: 'N/A',
    VirtualSize: humanSize(imageSize(s)),
  };
}

interface ListOptions {
  quiet?: boolean;
  all?: boolean;
  digests?: boolean;
  trunc: boolean;
  filter?: Filter[];
  format?: OutputFormat;
}

function addListCommand(parent: Command, name: string, alias?: string): void {
  const cmd = parent.command(name).description('list images');
  if (alias) cmd.alias(alias);
  cmd
    .argument('[repository]', 'only images of this REPOSITORY[:TAG] (a reference filter)')
    .option('-q, --quiet', 'only show image IDs')
    .option('-a, --all', 'show all images (ctrd keeps no intermediate images: the same as without)')
    .option('--digests', 'show digests')
    .option('--no-trunc', "don't truncate output")
    .option('-f, --filter <filter>', 'filter output: dangling=true|false, reference=PATTERN, before=IMAGE, since=IMAGE, label=KEY[=VALUE] (repeatable)', collectFilter)
    .option('--format <template>', "format output with a Go template ('table ...' for a table, 'json')", formatArgument)
    .action(async (repository: string | undefined, opts: ListOptions, command: Command) => {
      const filters = [...(opts.filter ?? []), ...(repository ? [{ key: 'reference' as const, value: repository }] : [])];
      const listed = await withClients(command, (c) => listImages(c, filters));
      if (opts.quiet && !opts.format) {
        const ids = [...new Set(listed.map((l) => truncateId(l.id, opts.trunc)))];
        if (ids.length > 0) print(ids.join('\n'));
        return;
      }
      const format =
        opts.format ??
        parseFormat(
          opts.digests
            ? 'table {{.Repository}}\\t{{.Tag}}\\t{{.Digest}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}'
            : 'table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}',
        );
      process.stdout.write(renderFormat(format, listed.map((l) => imageRow(l, opts.trunc)), imageHeaders));
    });
}

// ---- pull ----

interface PullFlags {
  quiet?: boolean;
  platform?: string;
  snapshotter?: string;
}

async function pull(c: Clients, reference: string, ref: Reference, opts: PullFlags): Promise<void> {
  const tty = Boolean(process.stdout.isTTY);
  const renderer = opts.quiet ? undefined : new PullRenderer(process.stdout, ref, { tty, columns: process.stdout.columns ?? 80 });
  const call = c.ctrdImages.pull({ reference, platform: opts.platform ?? '', snapshotter: opts.snapshotter ?? '', auth: undefined });
  let image: ImageSummary | undefined;
  const end = await readUntilInterrupted(call, (res: PullResponse) => {
    if (res.image) image = res.image;
    else renderer?.update(res);
  });
  // Ctrl-C ends the pull (the daemon keeps what it fetched, for the next try) with the shell's 128+SIGINT.
  if (end.interrupted) throw new ExitStatus(130);
  if (!image) throw unavailable('ctrd ended the pull without reporting the image');
  if (renderer) renderer.finish(image);
  else print(formatReference(ref));
}

function addPullCommand(parent: Command): void {
  parent
    .command('pull')
    .description('download an image from a registry and unpack it')
    .argument('<reference>', 'NAME[:TAG|@DIGEST]')
    .option('-q, --quiet', 'suppress verbose output: print only the reference')
    .option('--platform <platform>', 'os/arch[/variant] to pull, when the image is multi-platform')
    .option('--snapshotter <name>', "where to unpack: overlayfs or native (default: the daemon's)")
    .action(async (reference: string, opts: PullFlags, command: Command) => {
      // Checked before connecting: a typo is reported at once, in the words of the reference grammar.
      const ref = parseReference(reference);
      await withClients(command, (c) => pull(c, reference, ref, opts));
    });
}

// ---- tag, rmi ----

function addTagCommand(parent: Command): void {
  parent
    .command('tag')
    .description('create a tag TARGET_IMAGE that refers to SOURCE_IMAGE')
    .argument('<source>', 'SOURCE_IMAGE[:TAG], or an image ID')
    .argument('<target>', 'TARGET_IMAGE[:TAG]')
    .action(async (source: string, target: string, _opts: unknown, command: Command) => {
      await withClients(command, (c) => unary(c.ctrdImages, c.ctrdImages.tag, { source, target }));
    });
}

/**
 * docker's "Untagged: x" and "Deleted: y" lines. ctrd names the repository digest of every name it untags, so
 * two names of one repository (or a digest-only name) give the same line twice: docker prints it once.
 */
function untaggedAndDeleted(untagged: readonly string[], deleted: readonly string[], u: string, d: string): string[] {
  return [...new Set([...untagged.map((x) => `${u}: ${x}`), ...deleted.map((x) => `${d}: ${x}`)])];
}

function addRemoveCommand(parent: Command, name: string, alias?: string): void {
  const cmd = parent.command(name).description('remove one or more images');
  if (alias) cmd.alias(alias);
  cmd
    .argument('<image...>', 'names, IDs or digests')
    .option('-f, --force', 'force removal: every name of an image given by ID')
    .action(async (references: string[], opts: { force?: boolean }, command: Command) => {
      const { results } = await withClients(command, (c) =>
        unary(c.ctrdImages, c.ctrdImages.remove, { references, force: Boolean(opts.force) }),
      );
      // As docker rmi: every reference is tried and answered in turn, and the status says whether any failed.
      let failed = false;
      for (const r of results) {
        const lines = untaggedAndDeleted(r.untagged, r.deleted, 'Untagged', 'Deleted');
        if (lines.length > 0) print(lines.join('\n'));
        if (r.error) {
          printError(r.error);
          failed = true;
        }
      }
      if (failed) throw new ExitStatus(1);
    });
}

// ---- inspect ----

interface ImageConfigJson {
  created?: string;
  author?: string;
  architecture?: string;
  os?: string;
  variant?: string;
  'os.version'?: string;
  docker_version?: string;
  comment?: string;
  config?: Record<string, unknown> & { Labels?: Record<string, string> };
  rootfs?: { type?: string; diff_ids?: string[] };
}

/** docker image inspect's object, built from what ctrd answers; the fields docker leaves empty stay empty. */
function inspectObject(res: InspectResponse, sameImage: readonly ImageSummary[], records: readonly ContainerdImage[]): Record<string, unknown> {
  const s = res.image!;
  const config = parseConfig(res.config);
  const repoTags = sameImage.map((i) => nameParts(i.name)).filter((p) => p.reference?.tag !== undefined).map((p) => familiarString(p.reference!));
  const repoDigests = [...new Set(sameImage.map((i) => i.repoDigest).filter((d) => d !== ''))];
  const names = new Set(sameImage.map((i) => i.name));
  const tagTimes = records.filter((r) => names.has(r.name)).map((r) => (r.updatedAt ?? r.createdAt)?.getTime() ?? 0);
  const lastTag = tagTimes.length > 0 ? Math.max(...tagTimes) : 0;
  return {
    Id: imageId(s),
    RepoTags: repoTags.sort(),
    RepoDigests: repoDigests.sort(),
    Parent: '',
    Comment: config.comment ?? '',
    Created: config.created ?? '',
    DockerVersion: config.docker_version ?? '',
    Author: config.author ?? '',
    Config: config.config ?? null,
    Architecture: config.architecture ?? '',
    ...(config.variant ? { Variant: config.variant } : {}),
    Os: config.os ?? '',
    ...(config['os.version'] ? { OsVersion: config['os.version'] } : {}),
    Size: imageSize(s),
    RootFS: { Type: config.rootfs?.type ?? 'layers', Layers: config.rootfs?.diff_ids ?? [] },
    Metadata: { LastTagTime: lastTag > 0 ? new Date(lastTag).toISOString() : '0001-01-01T00:00:00Z' },
    Descriptor: s.target ? { mediaType: s.target.mediaType, digest: s.target.digest, size: s.target.size } : null,
  };
}

/** Images for docker's inspect: by name, ID or digest; undefined when there is none. */
export const imageInspector: Inspector = {
  type: 'image',
  async find(c, reference) {
    let res;
    try {
      res = await inspectOne(c, reference);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    const [{ images }, { images: records }] = await Promise.all([
      unary(c.ctrdImages, c.ctrdImages.list, { filters: [] }),
      unary(c.images, c.images.list, { filters: [] }),
    ]);
    const id = imageId(res.image!);
    return inspectObject(res, images.filter((i) => imageId(i) === id), records);
  },
  templateView: (found) => ({ Variant: '', OsVersion: '', ...found }),
};

// ---- history ----

const historyHeaders = { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT' };

/** docker's formatter.Ellipsis: cut to width with "…" as the last character. */
function ellipsis(s: string, width: number): string {
  const chars = [...s];
  return chars.length <= width ? s : `${chars.slice(0, width - 1).join('')}…`;
}

/** docker history leaves CREATED empty for times before 2000 (unknown, or the epoch of reproducible builds). */
const historyEpoch = Date.UTC(2000, 0, 1);

function historyRow(h: HistoryEntry, id: string, trunc: boolean, human: boolean): Record<string, string> {
  const createdBy = h.createdBy.replace(/\t/g, ' ');
  const known = h.created !== undefined && h.created.getTime() > historyEpoch;
  return {
    Comment: h.comment,
    CreatedAt: h.created ? rfc3339(h.created) : '',
    CreatedBy: trunc ? ellipsis(createdBy, 45) : createdBy,
    CreatedSince: !human ? (h.created ? rfc3339(h.created) : '') : known ? createdSince(h.created) : '',
    ID: id === '<missing>' ? id : truncateId(id, trunc),
    Size: human ? humanSize(h.size, 3) : String(h.size),
  };
}

function addHistoryCommand(parent: Command): void {
  parent
    .command('history')
    .description('show the history of an image')
    .argument('<image>', 'name, ID or digest')
    .option('--no-trunc', "don't truncate output")
    .option('-q, --quiet', 'only show image IDs')
    .addOption(new Option('-H, --human <bool>', 'print sizes and dates in human readable format').choices(['true', 'false']).default('true'))
    .option('--format <template>', 'format output with a Go template', formatArgument)
    .action(async (reference: string, opts: { trunc: boolean; quiet?: boolean; human: string; format?: OutputFormat }, command: Command) => {
      const res = await withClients(command, (c) => inspectOne(c, reference));
      const id = imageId(res.image!);
      const human = opts.human === 'true';
      const rows = res.history.map((h, i) => historyRow(h, i === 0 ? id : '<missing>', opts.trunc, human));
      const format =
        opts.format ??
        parseFormat(
          opts.quiet
            ? '{{.ID}}'
            : human
              ? 'table {{.ID}}\\t{{.CreatedSince}}\\t{{.CreatedBy}}\\t{{.Size}}\\t{{.Comment}}'
              : 'table {{.ID}}\\t{{.CreatedAt}}\\t{{.CreatedBy}}\\t{{.Size}}\\t{{.Comment}}',
        );
      process.stdout.write(renderFormat(format, rows, historyHeaders));
    });
}

// ---- prune ----

function addPruneCommand(image: Command): void {
  image
    .command('prune')
    .description('remove dangling images (with -a, every image no container uses)')
    .option('-a, --all', 'remove all unused images, not just dangling ones')
    .option('-f, --force', 'do not prompt for confirmation')
    .action(async (opts: { all?: boolean; force?: boolean }, command: Command) => {
      const warning = opts.all
        ? 'WARNING! This will remove all images without at least one container associated to them.'
        : 'WARNING! This will remove all dangling images.';
      if (!(await confirmPrune(opts.force, warning))) return;
      const report = await withClients(command, (c) => unary(c.ctrdImages, c.ctrdImages.prune, { all: Boolean(opts.all) }));
      const lines = untaggedAndDeleted(report.untagged, report.deleted, 'untagged', 'deleted');
      if (lines.length > 0) process.stdout.write(`Deleted Images:\n${lines.join('\n')}\n\n`);
      print(`Total reclaimed space: ${humanSize(lines.length > 0 ? report.reclaimed : 0)}`);
    });
}

// ---- registration ----

export function addImageCommands(program: Command): void {
  addPullCommand(program);
  addListCommand(program, 'images');
  addTagCommand(program);
  addRemoveCommand(program, 'rmi');
  addHistoryCommand(program);

  const image = program.command('image').description('manage images');
  addPullCommand(image);
  addListCommand(image, 'ls', 'list');
  addTagCommand(image);
  addRemoveCommand(image, 'rm', 'remove');
  addInspectCommand(image, [imageInspector], 'show one or more images in detail, as JSON');
  addHistoryCommand(image);
  addPruneCommand(image);

}
