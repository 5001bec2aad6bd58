// What the steps that make no layer do to the image config, as docker's classic builder does it: ENV, LABEL,
// EXPOSE, USER, WORKDIR (its path; the directory is made by the builder), VOLUME, STOPSIGNAL, CMD,
// ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD, MAINTAINER and ARG. The instructions come expanded. Pure.
import { posix } from 'node:path';
import { invalidArgument } from '../../lib/errdefs.js';
import type { Instruction } from '../../lib/dockerfile/types.js';

/** The docker image config's "config" object, the fields the steps and --change set (others are kept as they are). */
export interface RunConfig {
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  Env?: string[] | null;
  ExposedPorts?: Record<string, object> | null;
  Labels?: Record<string, string> | null;
  User?: string;
  WorkingDir?: string;
  Volumes?: Record<string, object> | null;
  StopSignal?: string;
  [key: string]: unknown;
}

/** "80", "80/udp", "8000-8002/tcp" as docker's port keys ("80/tcp"...). */
export function parsePorts(spec: string): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(spec);
  if (!m) throw invalidArgument(`invalid containerPort: ${spec}`);
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from < 1 || to > 65535 || to < from) throw invalidArgument(`invalid port range: ${spec}`);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  const out: string[] = [];
  for (let p = from; p <= to; p++) out.push(`${p}/${proto}`);
  return out;
}

/** The image config's "config" object with the fields only a Dockerfile sets. */
export interface BuildRunConfig extends RunConfig {
  Shell?: string[] | null;
  Healthcheck?: { Test: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; StartInterval?: number; Retries?: number } | null;
  OnBuild?: string[] | null;
}

export const defaultShell: readonly string[] = ['/bin/sh', '-c'];

/** What a stage has set itself so far: an ENTRYPOINT resets a CMD only when the CMD came from the base image. */
export interface StageFlags {
  cmdSet: boolean;
}

/** The env entry "KEY=VALUE" set in a list, replacing the key's entry in place. */
export function setEnv(env: readonly string[], key: string, value: string): string[] {
  const out = [...env];
  const i = out.findIndex((e) => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e) === key);
  if (i >= 0) out[i] = `${key}=${value}`;
  else out.push(`${key}=${value}`);
  return out;
}

/** A variable's value in an env list ("KEY=VALUE"); undefined when the key is not there. */
export function envValue(env: readonly string[], name: string): string | undefined {
  for (let i = env.length - 1; i >= 0; i--) {
    const e = env[i]!;
    const eq = e.indexOf('=');
    if ((eq < 0 ? e : e.slice(0, eq)) === name) return eq < 0 ? '' : e.slice(eq + 1);
  }
  return undefined;
}

/** The command of a CMD/ENTRYPOINT/RUN: the exec form as is, the shell form through the shell. */
export function commandOf(form: 'shell' | 'exec', args: readonly string[], shell: readonly string[]): string[] {
  return form === 'exec' ? [...args] : [...shell, args.join(' ')];
}

/** WORKDIR's path, relative ones joined to the current working directory. */
export function workdirOf(current: string | undefined, path: string): string {
  const joined = posix.isAbsolute(path) ? posix.normalize(path) : posix.join('/', current || '/', path);
  return joined.length > 1 ? joined.replace(/\/+$/, '') : joined;
}

/**
 * The config after a metadata instruction (a copy; the input is not changed), and the image config's author
 * for MAINTAINER. RUN, COPY, ADD and FROM are not metadata: InvalidArgument.
 */
export function applyMetadata(config: BuildRunConfig, inst: Instruction, flags: StageFlags): { config: BuildRunConfig; author?: string } {
  const c: BuildRunConfig = { ...config };
  const shell = c.Shell && c.Shell.length > 0 ? c.Shell : defaultShell;
  switch (inst.kind) {
    case 'ENV': {
      let env = [...(c.Env ?? [])];
      for (const { key, value } of inst.pairs) env = setEnv(env, key, value);
      c.Env = env;
      break;
    }
    case 'LABEL': {
      const labels = { ...(c.Labels ?? {}) };
      for (const { key, value } of inst.pairs) labels[key] = value;
      c.Labels = labels;
      break;
    }
    case 'EXPOSE': {
      const ports = { ...(c.ExposedPorts ?? {}) };
      for (const p of inst.values) for (const port of parsePorts(p)) ports[port] = {};
      c.ExposedPorts = ports;
      break;
    }
    case 'VOLUME': {
      const volumes = { ...(c.Volumes ?? {}) };
      for (const v of inst.values) {
        if (v.trim() === '') throw invalidArgument('VOLUME specified can not be an empty string');
        volumes[v] = {};
      }
      c.Volumes = volumes;
      break;
    }
    case 'USER':
      c.User = inst.value;
      break;
    case 'WORKDIR':
      c.WorkingDir = workdirOf(c.WorkingDir, inst.value);
      break;
    case 'STOPSIGNAL':
      c.StopSignal = inst.value;
      break;
    case 'CMD':
      c.Cmd = commandOf(inst.form, inst.args, shell);
      flags.cmdSet = true;
      break;
    case 'ENTRYPOINT':
      c.Entrypoint = commandOf(inst.form, inst.args, shell);
      if (!flags.cmdSet) c.Cmd = null;
      break;
    case 'SHELL':
      c.Shell = [...inst.args];
      break;
    case 'HEALTHCHECK':
      c.Healthcheck = { ...inst.config };
      break;
    case 'ONBUILD':
      c.OnBuild = [...(c.OnBuild ?? []), inst.trigger];
      break;
    case 'MAINTAINER':
      return { config: c, author: inst.name };
    case 'ARG':
      break;
    default:
      throw invalidArgument(`${inst.kind} is not a metadata instruction`);
  }
  return { config: c };
}

/**
 * The history entry's created_by for a step, docker's wording: a RUN is its command line with the build args
 * it saw in front (`|2 A=1 B=2 /bin/sh -c make`), other steps `/bin/sh -c #(nop) ` and the instruction.
 */
export function createdBy(text: string, run?: { command: readonly string[]; buildArgs: readonly string[] }): string {
  if (!run) return `/bin/sh -c #(nop) ${text}`;
  const prefix = run.buildArgs.length > 0 ? `|${run.buildArgs.length} ${run.buildArgs.join(' ')} ` : '';
  return `${prefix}${run.command.join(' ')}`;
}
