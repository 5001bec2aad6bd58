// docker's classic builder inside the daemon. A build receives its context (a tar) into a private directory,
// reads the Dockerfile, applies .dockerignore, and runs the stages up to the target, step by step:
//   FROM       the base image (pulled when absent, or always with --pull), an earlier stage, or scratch;
//              the base image's ONBUILD triggers run right after it
//   RUN        a container on a new snapshot of the state so far (step-container.ts), its changes a layer
//   COPY, ADD  the files copied into a new snapshot (copy.ts), its changes a layer
//   WORKDIR    a layer only when the directory had to be made
//   the rest   the config changes alone (config-steps.ts), an empty_layer history entry
// Every step is looked up in the layer cache first (cache.ts) by its parent state, its instruction with its
// resolved arguments and, for COPY/ADD, the checksum of what it copies; a hit is ` ---> Using cache`.
// Everything the build makes lives under one lease (containerfs/new-image.ts) until the image is recorded;
// the image's config carries gc.ref labels to the layers and snapshots of its other stages, so the cache of
// a multi-stage build lives as long as the image. A cancelled build kills its step's task and removes the
// step's container and snapshot on the way out.
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, rm, rmdir, unlink } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { join, posix } from 'node:path';
import { CtrdError, errnoCode, invalidArgument, isAlreadyExists, isNotFound, notFound } from '../../lib/errdefs.js';
import type { Logger } from '../../lib/log.js';
import { parseDockerfile, parseInstruction } from '../../lib/dockerfile/parse.js';
import { expandInstruction, expandWord } from '../../lib/dockerfile/expand.js';
import type { ArgInstruction, CopyInstruction, Dockerfile, Instruction, RunInstruction, Stage } from '../../lib/dockerfile/types.js';
import { IgnoreMatcher } from '../../lib/build/dockerignore.js';
import { defaultPath } from '../../lib/oci/default-spec.js';
import { resolveUser, userNeedsFiles } from '../../lib/oci/user.js';
import type { OciUser } from '../../lib/oci/spec.js';
import { mediaTypes } from '../../lib/registry/media-types.js';
import type { Descriptor } from '../../lib/registry/manifest.js';
import { familiarString, parseReference } from '../../lib/registry/reference.js';
import { defaultPlatform } from '../../lib/registry/platform.js';
import type { ContentStore } from '../content/store.js';
import type { Differ, Mount } from '../diff/types.js';
import { cleanupTempMounts, parseOverlay, withReadonlyView, withTempMount } from '../diff/mounts.js';
import { readFileInRoot, resolveDirInRoot, resolveInRoot } from '../diff/resolve-in-root.js';
import type { SnapshotStore } from '../snapshots/store.js';
import type { ImageManager } from '../images/manager.js';
import { chainIds, type ImageConfig } from '../images/manifest.js';
import type { Puller } from '../images/pull.js';
import { uncompressedLabel, unpackLayers, type Unpacker } from '../images/unpack.js';
import type { LeaseStore } from '../leases/store.js';
import type { Image } from '../images/types.js';
import type { Digest } from '../../lib/digest.js';
import type { GarbageCollector } from '../metadata/gc.js';
import { imageName, layerMediaType, type ImageMaker, type ManifestFlavour } from '../containerfs/new-image.js';
import { BuildCache, type CachedState } from './cache.js';
import { applyMetadata, createdBy, defaultShell, envValue, setEnv, workdirOf, type BuildRunConfig, type StageFlags } from './config-steps.js';
import { pruneIgnored, receiveContext } from './context.js';
import { prepareCopy } from './copy.js';
import type { BuildNetwork, StepContainers } from './step-container.js';

export interface BuildOptions {
  tags: string[];
  dockerfilePath: string;
  /** The Dockerfile's text when sent apart from the context. */
  dockerfile?: Buffer;
  buildArgs: Record<string, string>;
  target: string;
  noCache: boolean;
  pull: boolean;
  labels: Record<string, string>;
  network: string;
  snapshotter: string;
  signal?: AbortSignal;
}

export type BuildEvent =
  | { kind: 'step'; number: number; total: number; instruction: string; line: number }
  | { kind: 'container'; id: string; removed: boolean }
  | { kind: 'output'; data: Buffer; fd: 1 | 2 }
  | { kind: 'done'; cached: boolean; id: string }
  | { kind: 'message'; text: string }
  | { kind: 'warning'; text: string };

export interface BuildResult {
  id: string;
  tags: string[];
  target: Image['target'];
}

export interface BuilderOptions {
  /** `<root>/io.ctrd.build.v1`: contexts and downloads of running builds (emptied at start). */
  workRoot: string;
  /** Where snapshots are mounted while files are copied into them. */
  mountRoot: string;
  defaultSnapshotter: string;
  /** The runtime RUN steps run with (containerd's default). */
  runtime: string;
}

export interface BuilderDeps {
  content: ContentStore;
  snapshots: SnapshotStore;
  differ: Differ;
  unpacker: Unpacker;
  imageManager: ImageManager;
  puller: Puller;
  maker: ImageMaker;
  leases: LeaseStore;
  gc: GarbageCollector;
  steps: StepContainers;
  cache: BuildCache;
}

/** The image so far: its config (with rootfs and history), its layers, and what identifies it. */
interface State {
  id: string;
  config: ImageConfig & Record<string, unknown>;
  layers: Descriptor[];
  flavour: ManifestFlavour;
  /** The base image's name, for the step containers' records. */
  image: string;
}

/** One build's working set. */
interface Build {
  ns: string;
  id: string;
  lease: string;
  o: BuildOptions;
  snapshotter: string;
  network: BuildNetwork;
  df: Dockerfile;
  contextDir: string;
  tempDir: string;
  emit: (e: BuildEvent) => void;
  step: number;
  total: number;
  /** Values of the ARGs declared before the first FROM. */
  globals: Map<string, string | undefined>;
  usedArgs: Set<string>;
  warnedArgs: Set<string>;
  /** The states the stages ended in, by stage index. */
  stages: State[];
  snapshotKeys: number;
}

/** A stage's variables: its ARGs (undefined: declared without a value) and what the stage has set itself. */
interface StageScope {
  args: Map<string, string | undefined>;
  argLines: Map<string, number>;
  flags: StageFlags;
  index: number;
}

const shortId = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);
const sha256hex = (text: string) => createHash('sha256').update(text).digest('hex');
const networks: readonly string[] = ['default', 'none', 'host'];
const maxDockerfileBytes = 16 << 20;

export class Builder {
  constructor(
    private readonly d: BuilderDeps,
    private readonly opts: BuilderOptions,
    private readonly log: Logger,
  ) {
    cleanupTempMounts(opts.mountRoot, log);
    rmSync(opts.workRoot, { recursive: true, force: true });
    d.gc.afterCollect(() => {
      const dropped = d.cache.dropStale((ns, digest) => this.hasContent(ns, digest));
      if (dropped > 0) log.info({ dropped }, 'build cache entries of collected layers dropped');
    });
  }

  /** Removes the step containers of builds a crash interrupted. */
  async recover(namespaces: readonly string[]): Promise<void> {
    for (const ns of namespaces) await this.d.steps.removeLeftovers(ns);
  }

  async build(ns: string, o: BuildOptions, context: AsyncIterable<Buffer>, emit: (e: BuildEvent) => void): Promise<BuildResult> {
    // The whole request is checked before anything is made.
    for (const t of o.tags) imageName(t);
    const network = (o.network || 'default') as BuildNetwork;
    if (!networks.includes(network)) throw invalidArgument(`network mode "${o.network}" not supported for RUN: one of default, none, host`);
    const snapshotter = o.snapshotter || this.opts.defaultSnapshotter;
    this.d.snapshots.snapshotter(snapshotter);
    for (const name of Object.keys(o.buildArgs)) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw invalidArgument(`invalid build arg name "${name}"`);

    const id = randomBytes(12).toString('hex');
    const contextDir = join(this.opts.workRoot, id, 'context');
    const tempDir = join(this.opts.workRoot, id, 'tmp');
    await mkdir(contextDir, { recursive: true, mode: 0o700 });
    await mkdir(tempDir, { recursive: true, mode: 0o700 });
    const log = this.log.child({ ns, build: id });
    try {
      await receiveContext(context, contextDir, o.signal);
      const { text, name } = await this.dockerfile(o, contextDir);
      const ignore = IgnoreMatcher.parse(await readFileInRoot(contextDir, '.dockerignore'));
      await pruneIgnored(contextDir, ignore);
      const df = parseDockerfile(text, name);
      for (const w of df.warnings) emit({ kind: 'warning', text: w });
      const last = this.targetIndex(df, o.target);
      const stages = df.stages.slice(0, last + 1);
      const total = stages.reduce((n, s) => n + 1 + s.instructions.length, 0);
      return await this.d.maker.withLease(ns, 'build', async (lease) => {
        const b: Build = {
          ns, id, lease, o, snapshotter, network, df, contextDir, tempDir, emit, step: 0, total,
          globals: new Map(), usedArgs: new Set(), warnedArgs: new Set(), stages: [], snapshotKeys: 0,
        };
        for (const a of df.globalArgs) this.declareArgs(b, a, b.globals, new Map(), undefined);
        for (const stage of stages) b.stages[stage.index] = await this.stage(b, stage);
        const unused = Object.keys(o.buildArgs).filter((k) => !b.usedArgs.has(k));
        if (unused.length > 0) emit({ kind: 'warning', text: `One or more build-args [${unused.join(' ')}] were not consumed` });
        const result = await this.finish(b, b.stages[last]!);
        log.info({ image: result.id, tags: result.tags, steps: total }, 'image built');
        return result;
      });
    } finally {
      await rm(join(this.opts.workRoot, id), { recursive: true, force: true });
    }
  }

  /** docker builder prune: drops cache entries not used for keepSeconds, then collects what they alone kept. */
  async prune(ns: string, keepSeconds: number): Promise<{ deleted: number; reclaimed: number }> {
    const before = keepSeconds > 0 ? new Date(Date.now() - keepSeconds * 1000) : undefined;
    const layers = this.d.cache.layersOf(ns, before);
    const sizes = new Map(layers.map((l) => [l.digest, l.size]));
    const deleted = this.d.cache.prune(ns, before);
    await this.d.gc.collect();
    let reclaimed = 0;
    for (const [digest, size] of sizes) if (!this.hasContent(ns, digest)) reclaimed += size;
    return { deleted, reclaimed };
  }

  private hasContent(ns: string, digest: string): boolean {
    try {
      this.d.content.info(ns, digest);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  private async dockerfile(o: BuildOptions, contextDir: string): Promise<{ text: string; name: string }> {
    const name = o.dockerfilePath || 'Dockerfile';
    if (o.dockerfile && o.dockerfile.length > 0) return { text: o.dockerfile.toString('utf8'), name };
    const rel = posix.normalize(name.replace(/^\/+/, ''));
    if (rel.startsWith('..')) throw invalidArgument(`the Dockerfile (${name}) must be within the build context`);
    // Read inside the context: a Dockerfile that is a symlink leads nowhere out of it.
    const text = await readFileInRoot(contextDir, rel, maxDockerfileBytes);
    if (text === '' && !(await isEmptyFile(contextDir, rel))) throw notFound(`Cannot locate specified Dockerfile: ${name}`);
    return { text, name };
  }

  private targetIndex(df: Dockerfile, target: string): number {
    if (target === '') return df.stages.length - 1;
    const i = df.stages.findIndex((s) => s.name === target.toLowerCase());
    if (i < 0) throw invalidArgument(`failed to reach build target ${target} in Dockerfile`);
    return i;
  }

  // ---- stages ----

  private async stage(b: Build, stage: Stage): Promise<State> {
    const scope: StageScope = { args: new Map(), argLines: new Map(), flags: { cmdSet: false }, index: stage.index };
    this.beginStep(b, stage.from);
    let state = await atLine(b, stage.from, () => {
      const from = this.expand(b, stage.from, (name) => b.globals.get(name), undefined);
      return this.from(b, from.image, stage.index);
    });
    b.emit({ kind: 'done', cached: false, id: shortId(state.id) });
    const triggers = ((state.config.config ?? {}) as BuildRunConfig).OnBuild ?? [];
    if (triggers.length > 0) {
      state = this.withRunConfig(state, { ...(state.config.config as BuildRunConfig), OnBuild: null });
      b.emit({ kind: 'message', text: `# Executing ${triggers.length} build trigger${triggers.length === 1 ? '' : 's'}` });
      for (const t of triggers) {
        const inst = parseInstruction(t, b.df.escape);
        state = await this.instruction(b, scope, state, inst);
      }
    }
    for (const inst of stage.instructions) {
      this.beginStep(b, inst);
      state = await this.instruction(b, scope, state, inst);
    }
    return state;
  }

  private beginStep(b: Build, inst: Instruction): void {
    b.o.signal?.throwIfAborted();
    b.step++;
    b.emit({ kind: 'step', number: b.step, total: b.total, instruction: inst.original, line: inst.pos.line });
  }

  /** FROM: scratch, an earlier stage by name, or an image (pulled when absent or asked to). */
  private async from(b: Build, ref: string, index: number): Promise<State> {
    if (ref === 'scratch') {
      const { os, architecture, variant } = defaultPlatform();
      const config: ImageConfig & Record<string, unknown> = { architecture, os, ...(variant ? { variant } : {}), config: {}, rootfs: { type: 'layers', diff_ids: [] }, history: [] };
      return { id: `sha256:${sha256hex(JSON.stringify(config))}`, config, layers: [], flavour: 'oci', image: '' };
    }
    const earlier = b.df.stages.findIndex((s) => s.index < index && s.name === ref.toLowerCase());
    if (earlier >= 0) return b.stages[earlier]!;
    return this.image(b, ref, b.o.pull);
  }

  /** An image by reference or ID: the local one, else pulled (unless mayPull is false); always pulled with pull. */
  private async image(b: Build, ref: string, pull: boolean, mayPull = true): Promise<State> {
    let found;
    if (!pull) {
      try {
        found = await this.d.imageManager.inspect(b.ns, ref);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    if (!found) {
      if (!mayPull) throw notFound(`no such image: ${ref}`);
      let name: string;
      try {
        name = familiarString(parseReference(ref));
      } catch (err) {
        throw invalidArgument(`invalid reference format: "${ref}"`, err);
      }
      b.emit({ kind: 'message', text: `Pulling ${name}` });
      const image = await this.d.puller.pull(b.ns, ref, { snapshotter: b.snapshotter, signal: b.o.signal });
      b.emit({ kind: 'message', text: `Pulled ${name} (${image.target.digest})` });
      found = await this.d.imageManager.inspect(b.ns, image.name);
    }
    const r = found.resolved;
    return {
      id: r.manifest.config.digest,
      config: r.config as ImageConfig & Record<string, unknown>,
      layers: r.manifest.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      flavour: r.manifestDescriptor.mediaType === mediaTypes.dockerManifest ? 'docker' : 'oci',
      image: found.names[0] ?? ref,
    };
  }

  // ---- instructions ----

  private instruction(b: Build, scope: StageScope, state: State, inst: Instruction): Promise<State> {
    return atLine(b, inst, () => this.dispatch(b, scope, state, inst));
  }

  private async dispatch(b: Build, scope: StageScope, state: State, inst: Instruction): Promise<State> {
    const run = (state.config.config ?? {}) as BuildRunConfig;
    const lookup = (name: string) => envValue(run.Env ?? [], name) ?? scope.args.get(name);
    if (inst.kind === 'RUN') {
      this.warnUnset(b, scope, expandWord(inst.args.join(' '), lookup, b.df.escape).referenced, inst.pos.line, run.Env ?? []);
      return this.run(b, scope, state, inst);
    }
    const x = this.expand(b, inst, lookup, scope, run.Env ?? []);
    switch (x.kind) {
      case 'ARG':
        this.declareArgs(b, x, scope.args, scope.argLines, b.globals);
        return this.metadata(b, state, x, scope);
      case 'COPY':
      case 'ADD':
        return this.copy(b, scope, state, x);
      case 'WORKDIR':
        return this.workdir(b, state, x.original, workdirOf(run.WorkingDir, x.value));
      case 'FROM':
        throw invalidArgument('FROM in the middle of a stage');
      default:
        return this.metadata(b, state, x, scope);
    }
  }

  /** The instruction with docker's substitution; ARGs declared without a value and referenced get a warning. */
  private expand<T extends Instruction>(b: Build, inst: T, lookup: (name: string) => string | undefined, scope: StageScope | undefined, env: readonly string[] = []): T {
    const { value, referenced } = expandInstruction(inst, lookup, b.df.escape);
    if (scope) this.warnUnset(b, scope, referenced, inst.pos.line, env);
    else this.warnGlobalUnset(b, referenced, inst.pos.line);
    return value;
  }

  private warnUnset(b: Build, scope: StageScope, names: readonly string[], line: number, env: readonly string[]): void {
    for (const name of names) {
      if (!scope.args.has(name) || scope.args.get(name) !== undefined || envValue(env, name) !== undefined) continue;
      this.warnArg(b, name, line);
    }
  }

  private warnGlobalUnset(b: Build, names: readonly string[], line: number): void {
    for (const name of names) if (b.globals.has(name) && b.globals.get(name) === undefined) this.warnArg(b, name, line);
  }

  private warnArg(b: Build, name: string, line: number): void {
    if (b.warnedArgs.has(name)) return;
    b.warnedArgs.add(name);
    b.emit({ kind: 'warning', text: `${dockerfileName(b)}:${line}: ARG ${name} is used but never given a value (no default, no --build-arg): it expands to ""` });
  }

  /** ARG: --build-arg, else the default, else (in a stage) the global ARG's value. */
  private declareArgs(b: Build, inst: ArgInstruction, into: Map<string, string | undefined>, lines: Map<string, number>, globals: Map<string, string | undefined> | undefined): void {
    for (const a of inst.args) {
      let value: string | undefined;
      if (Object.hasOwn(b.o.buildArgs, a.name)) {
        value = b.o.buildArgs[a.name];
        b.usedArgs.add(a.name);
      } else if (a.default !== undefined) value = a.default;
      else if (globals?.has(a.name)) value = globals.get(a.name);
      into.set(a.name, value);
      lines.set(a.name, inst.pos.line);
    }
  }

  // ---- metadata steps ----

  private async metadata(b: Build, state: State, x: Instruction, scope: StageScope): Promise<State> {
    const applied = applyMetadata((state.config.config ?? {}) as BuildRunConfig, x, scope.flags);
    const key = this.key(b, ['meta', state.id, x.original, JSON.stringify(stripPosition(x))]);
    return this.cached(b, key, state, async () => {
      const config: State['config'] = { ...state.config, config: applied.config };
      if (applied.author !== undefined) config.author = applied.author;
      return this.next(state, config, undefined, { created_by: createdBy(x.original), empty_layer: true });
    });
  }

  private withRunConfig(state: State, run: BuildRunConfig): State {
    const config = { ...state.config, config: run };
    return { ...state, config, id: `sha256:${sha256hex(JSON.stringify(config))}` };
  }

  // ---- the cache ----

  private key(b: Build, parts: readonly string[]): string {
    return sha256hex(JSON.stringify([b.snapshotter, ...parts]));
  }

  /** The state after base for key: cached, or make() and cache its result. */
  private async cached(b: Build, key: string, base: State, make: () => Promise<State>): Promise<State> {
    if (!b.o.noCache) {
      const hit = this.d.cache.get(b.ns, key, (digest) => this.hasContent(b.ns, digest));
      if (hit) {
        for (const l of hit.layers) this.d.leases.addResource(b.ns, b.lease, { type: 'content', id: l.digest });
        const state = this.fromCache(hit, base);
        b.emit({ kind: 'done', cached: true, id: shortId(state.id) });
        return state;
      }
    }
    const state = await make();
    this.d.cache.put(b.ns, key, { config: state.config, layers: state.layers });
    b.emit({ kind: 'done', cached: false, id: shortId(state.id) });
    return state;
  }

  private fromCache(hit: CachedState, base: State): State {
    return { ...base, id: `sha256:${sha256hex(JSON.stringify(hit.config))}`, config: hit.config, layers: hit.layers };
  }

  /** The state after a step: its config, its layer if it made one, its history entry. */
  private next(state: State, config: State['config'], layer: { desc: Descriptor; diffId: string } | undefined, entry: { created_by: string; empty_layer?: boolean }): State {
    const created = new Date().toISOString();
    const out: State['config'] = {
      ...config,
      created,
      rootfs: { type: 'layers', diff_ids: layer ? [...config.rootfs.diff_ids, layer.diffId] : [...config.rootfs.diff_ids] },
      history: [...(config.history ?? []), { created, ...entry }],
    };
    return { ...state, id: `sha256:${sha256hex(JSON.stringify(out))}`, config: out, layers: layer ? [...state.layers, layer.desc] : state.layers };
  }

  // ---- layer steps ----

  private async run(b: Build, scope: StageScope, state: State, inst: RunInstruction): Promise<State> {
    const run = (state.config.config ?? {}) as BuildRunConfig;
    const shell = run.Shell && run.Shell.length > 0 ? run.Shell : defaultShell;
    const command = inst.form === 'exec' ? [...inst.args] : [...shell, inst.args.join(' ')];
    const env = run.Env ?? [];
    const buildArgs = [...scope.args]
      .filter(([k, v]) => v !== undefined && envValue(env, k) === undefined)
      .map(([k, v]) => `${k}=${v}`)
      .sort();
    const history = createdBy(inst.original, { command, buildArgs });
    const key = this.key(b, ['RUN', state.id, history]);
    return this.cached(b, key, state, () =>
      this.layerStep(b, state, { created_by: history }, async (snapshotKey, mounts) => {
        const id = randomBytes(32).toString('hex');
        const user = await this.user(mounts, run.User ?? '');
        let stepEnv = envValue(env, 'PATH') === undefined ? [defaultPath, ...env] : [...env];
        for (const a of buildArgs) stepEnv = setEnv(stepEnv, a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1));
        const lowerHad = await mountTargetsIn(mounts);
        b.emit({ kind: 'container', id, removed: false });
        let status: number;
        try {
          status = await this.d.steps.run({
            ns: b.ns, id, buildId: b.id, image: state.image, snapshotter: b.snapshotter, snapshotKey, rootfs: mounts,
            args: command, env: stepEnv, cwd: run.WorkingDir || '/', user, network: b.network, runtime: this.opts.runtime,
            onOutput: (data, fd) => b.emit({ kind: 'output', data, fd }), signal: b.o.signal,
          });
        } finally {
          b.emit({ kind: 'container', id, removed: true });
        }
        if (status !== 0) throw new CtrdError('unknown', `The command '${command.join(' ')}' returned a non-zero code: ${status}`);
        await dropMountTargets(mounts, lowerHad);
        return true;
      }),
    );
  }

  private async copy(b: Build, scope: StageScope, state: State, x: CopyInstruction): Promise<State> {
    const run = (state.config.config ?? {}) as BuildRunConfig;
    const withSource = async <T>(fn: (root: string, kind: 'context' | 'rootfs', sourceId: string) => Promise<T>): Promise<T> => {
      if (x.from === undefined) return fn(b.contextDir, 'context', '');
      const source = await this.copySource(b, scope, x.from);
      const top = await this.unpacked(b, source);
      const viewKey = this.snapshotKey(b, 'from');
      const view = top === '' ? [] : await this.d.snapshots.view(b.ns, b.snapshotter, viewKey, top, {}, { lease: b.lease });
      try {
        return await withReadonlyView(view, this.opts.mountRoot, { log: this.log }, (root) => fn(root, 'rootfs', source.id));
      } finally {
        if (top !== '') await this.d.snapshots.remove(b.ns, b.snapshotter, viewKey, { lease: b.lease });
      }
    };
    return withSource(async (sourceRoot, sourceKind, sourceId) => {
      const prepared = await prepareCopy({ sourceRoot, sourceKind, sources: x.sources, add: x.kind === 'ADD', tempDir: b.tempDir, signal: b.o.signal });
      try {
        const key = this.key(b, [x.kind, state.id, sourceId, prepared.checksum, x.dest, x.chown ?? '', x.chmod ?? '', run.WorkingDir ?? '']);
        const history = createdBy(`${x.kind} ${prepared.summary} in ${x.dest} `);
        return await this.cached(b, key, state, () =>
          this.layerStep(b, state, { created_by: history }, async (_key, mounts) => {
            await withTempMount(mounts, this.opts.mountRoot, { readonly: false, log: this.log }, (root) =>
              prepared.copyTo({ root, dest: x.dest, workdir: run.WorkingDir ?? '', chown: x.chown, chmod: x.chmod }, b.o.signal),
            );
            return true;
          }),
        );
      } finally {
        await prepared.dispose();
      }
    });
  }

  /** COPY --from: an earlier stage by name or index, else an image. */
  private async copySource(b: Build, scope: StageScope, from: string): Promise<State> {
    const byName = b.df.stages.findIndex((s) => s.index < scope.index && s.name === from.toLowerCase());
    if (byName >= 0) return b.stages[byName]!;
    if (/^\d+$/.test(from)) {
      const i = Number(from);
      if (i < scope.index) return b.stages[i]!;
      throw invalidArgument(`invalid from flag value ${from}: refers to current build stage or a later one`);
    }
    // A bare word that names no stage is taken for a stage misspelt, not for an image on Docker Hub: only a
    // reference with a registry, a repository path or a tag is pulled.
    const pullable = /[/:@.]/.test(from);
    try {
      return await this.image(b, from, false, pullable);
    } catch (err) {
      if (!pullable && isNotFound(err)) throw invalidArgument(`invalid from flag value ${from}: no build stage of that name, and no such image here`);
      throw invalidArgument(`invalid from flag value ${from}: ${(err as Error).message}`, err);
    }
  }

  /** WORKDIR: the path in the config, and a layer with the directory when it is not there yet. */
  private async workdir(b: Build, state: State, text: string, dir: string): Promise<State> {
    const run = (state.config.config ?? {}) as BuildRunConfig;
    const config = { ...state.config, config: { ...run, WorkingDir: dir } };
    const key = this.key(b, ['WORKDIR', state.id, dir]);
    const history = { created_by: createdBy(text) };
    return this.cached(b, key, state, () =>
      this.layerStep(b, { ...state, config }, history, async (_key, mounts) =>
        withTempMount(mounts, this.opts.mountRoot, { readonly: false, log: this.log }, async (root) => {
          const host = await resolveInRoot(root, dir);
          try {
            await mkdir(host);
            return true;
          } catch (err) {
            if (errnoCode(err) === 'EEXIST') return false;
            if (errnoCode(err) !== 'ENOENT') throw err;
          }
          await mkdir(host, { recursive: true });
          return true;
        }),
      ),
    );
  }

  /**
   * A step that changes files: a new snapshot on the state's top, fn changes it (returning false when it made
   * no change worth a layer: the step is then metadata only), its diff becomes a layer, and the snapshot is
   * committed under the layer's chain ID, ready for the next step. The snapshot goes if anything fails.
   */
  private async layerStep(b: Build, state: State, entry: { created_by: string }, fn: (key: string, mounts: Mount[]) => Promise<boolean>): Promise<State> {
    const parent = await this.unpacked(b, state);
    const key = this.snapshotKey(b, 'step');
    const mounts = await this.d.snapshots.prepare(b.ns, b.snapshotter, key, parent, {}, { lease: b.lease });
    let committed = false;
    try {
      if (!(await fn(key, mounts))) return this.next(state, state.config, undefined, { ...entry, empty_layer: true });
      const viewKey = this.snapshotKey(b, 'lower');
      const lower = parent === '' ? [] : await this.d.snapshots.view(b.ns, b.snapshotter, viewKey, parent, {}, { lease: b.lease });
      let desc: { mediaType: string; digest: string; size: number };
      try {
        desc = await this.d.differ.diff(b.ns, lower, mounts, { mediaType: layerMediaType(state.flavour), lease: b.lease, signal: b.o.signal });
      } finally {
        if (parent !== '') await this.d.snapshots.remove(b.ns, b.snapshotter, viewKey, { lease: b.lease });
      }
      const diffId = this.d.content.info(b.ns, desc.digest).labels[uncompressedLabel];
      if (!diffId) throw new CtrdError('internal', `layer ${desc.digest} has no ${uncompressedLabel} label`);
      const chain = chainIds([...state.config.rootfs.diff_ids, diffId]);
      try {
        this.d.snapshots.commit(b.ns, b.snapshotter, chain[chain.length - 1]!, key, {}, { lease: b.lease });
        committed = true;
      } catch (err) {
        // The same layer on the same parent is there already (another build made it): ours is a spare.
        if (!isAlreadyExists(err)) throw err;
      }
      return this.next(state, state.config, { desc: { mediaType: desc.mediaType, digest: desc.digest as Digest, size: desc.size }, diffId }, entry);
    } finally {
      if (!committed) await this.d.snapshots.remove(b.ns, b.snapshotter, key, { lease: b.lease }).catch((err: unknown) => this.log.warn({ err, ns: b.ns, key }, 'cannot remove a build step snapshot'));
    }
  }

  /** The state's layers unpacked (most often they are already); its top chain ID, '' for none. */
  private async unpacked(b: Build, state: State): Promise<string> {
    const diffIds = state.config.rootfs.diff_ids;
    if (diffIds.length === 0) return '';
    const chain = chainIds(diffIds);
    await this.d.unpacker.all(b.ns, b.lease, b.snapshotter, unpackLayers(state.layers, diffIds, chain), b.o.signal);
    return chain[chain.length - 1]!;
  }

  private snapshotKey(b: Build, what: string): string {
    return `build-${b.id}-${++b.snapshotKeys}-${what}`;
  }

  /** The step's user, names resolved through the files of its root. */
  private async user(mounts: Mount[], user: string): Promise<OciUser> {
    if (!userNeedsFiles(user)) return resolveUser(user);
    return withTempMount(mounts, this.opts.mountRoot, { readonly: true, log: this.log }, async (root) =>
      resolveUser(user, await readFileInRoot(root, 'etc/passwd'), await readFileInRoot(root, 'etc/group')),
    );
  }

  // ---- the image ----

  private async finish(b: Build, final: State): Promise<BuildResult> {
    let config = final.config;
    if (Object.keys(b.o.labels).length > 0) {
      const run = (config.config ?? {}) as BuildRunConfig;
      config = { ...config, config: { ...run, Labels: { ...(run.Labels ?? {}), ...b.o.labels } } };
    }
    // What the other stages made lives as long as this image: their layers and top snapshots.
    const own = new Set(final.layers.map((l) => l.digest));
    const configLabels: Record<string, string> = {};
    let n = 0;
    for (const s of b.stages) {
      if (!s || s === final) continue;
      for (const l of s.layers) if (!own.has(l.digest)) configLabels[`containerd.io/gc.ref.content.build.${n++}`] = l.digest;
      const chain = chainIds(s.config.rootfs.diff_ids);
      if (chain.length > 0) configLabels[`containerd.io/gc.ref.snapshot.${b.snapshotter}/build.${n++}`] = chain[chain.length - 1]!;
    }
    const made = await this.d.maker.make(b.ns, b.lease, {
      reference: b.o.tags[0] ?? '',
      moreReferences: b.o.tags.slice(1),
      snapshotter: b.snapshotter,
      config,
      layers: final.layers,
      flavour: final.flavour,
      configLabels,
      signal: b.o.signal,
    });
    return { id: made.configDigest, tags: b.o.tags.map((t) => familiarString(parseReference(t))), target: made.image.target };
  }
}

function stripPosition(inst: Instruction): Record<string, unknown> {
  const { pos: _pos, endLine: _end, original: _original, ...rest } = inst as Instruction & Record<string, unknown>;
  return rest;
}

const dockerfileName = (b: Build) => b.o.dockerfilePath || 'Dockerfile';

/** Runs a step; its failure names the Dockerfile's line (`COPY failed: ...` as docker words it for COPY and ADD). */
async function atLine<T>(b: Build, inst: Instruction, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const at = `${dockerfileName(b)}:${inst.pos.line}`;
    if (!(err instanceof CtrdError) || err.message.startsWith(`${at}:`)) throw err;
    const failed = inst.kind === 'COPY' || inst.kind === 'ADD' ? `${inst.kind} failed: ` : '';
    throw new CtrdError(err.kind, `${at}: ${failed}${err.message}`, { cause: err });
  }
}

/** Whether name is an empty regular file of root (an empty Dockerfile is the parser's to refuse). */
async function isEmptyFile(root: string, name: string): Promise<boolean> {
  try {
    const st = await lstat(await resolveDirInRoot(root, name));
    return st.isFile() && st.size === 0;
  } catch {
    return false;
  }
}


/**
 * The files the runtime bind-mounts over (/etc/hosts, /etc/resolv.conf, /etc/hostname) get an empty mount
 * target in the step's snapshot when the image has none: not the step's doing, so not in its layer (docker
 * keeps them in a layer of their own that is never committed). Which of them the layers below have.
 */
const mountTargets = ['etc/hosts', 'etc/resolv.conf', 'etc/hostname'];

async function mountTargetsIn(mounts: readonly Mount[]): Promise<Set<string> | undefined> {
  const only = mounts.length === 1 ? mounts[0]! : undefined;
  if (only?.type !== 'overlay') return undefined;
  const o = parseOverlay(only);
  const had = new Set<string>();
  for (const t of [...mountTargets, 'etc']) {
    for (const dir of o.lowerdirs) {
      if (await exists(join(dir, t))) {
        had.add(t);
        break;
      }
    }
  }
  return had;
}

async function dropMountTargets(mounts: readonly Mount[], lowerHad: Set<string> | undefined): Promise<void> {
  if (!lowerHad) return;
  const upper = parseOverlay(mounts[0]!).upperdir;
  if (upper === undefined) return;
  for (const t of mountTargets) {
    if (lowerHad.has(t)) continue;
    const file = join(upper, t);
    const st = await lstat(file).catch(() => undefined);
    if (st?.isFile() && st.size === 0) await unlink(file);
  }
  if (!lowerHad.has('etc')) {
    const etc = join(upper, 'etc');
    const left = await readdir(etc).catch(() => undefined);
    if (left && left.length === 0) await rmdir(etc);
  }
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

