// Calling CNI plugins as the CNI spec (1.0) has a runtime do it: each plugin of a network configuration list is
// an executable found in the plugin directories, run with CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS,
// CNI_IFNAME, CNI_ARGS and CNI_PATH in its environment and its configuration on stdin (the list's name and
// cniVersion, prevResult, and runtimeConfig for the capabilities it declares); its result or error is JSON on
// stdout. ADD runs the list in order, each plugin getting the result of the one before; DEL and CHECK get the
// result of the ADD (the caller keeps it: the CNI cache), DEL in reverse order.
import fs from 'node:fs';
import path from 'node:path';
import { CtrdError, failedPrecondition } from '../errdefs.js';
import type { Logger } from '../log.js';
import { runCaptured } from '../process.js';

export interface CniPluginConf {
  type: string;
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

export interface CniConfList {
  cniVersion: string;
  name: string;
  plugins: CniPluginConf[];
}

export interface CniInterface {
  name: string;
  mac?: string;
  sandbox?: string;
}

export interface CniIpConfig {
  /** Index into interfaces. */
  interface?: number;
  /** "10.88.0.2/16" */
  address: string;
  gateway?: string;
}

export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: Array<{ dst: string; gw?: string }>;
  dns?: Record<string, unknown>;
}

/** One attachment of a container to a network: what every call for it names. */
export interface CniAttachment {
  containerId: string;
  /** The network namespace file. */
  netns: string;
  ifname: string;
  /** CNI_ARGS pairs. */
  args?: Array<[string, string]>;
  /** Values for the capabilities plugins declare (portMappings, ...), passed as their runtimeConfig. */
  capabilityArgs?: Record<string, unknown>;
}

type Command = 'ADD' | 'DEL' | 'CHECK';

export interface CniOptions {
  /** Where plugin executables are looked for, in order. */
  binDirs: readonly string[];
  log: Logger;
  /** How long one plugin may run. */
  timeoutMs?: number;
}

export class Cni {
  constructor(private readonly options: CniOptions) {}

  /** Runs ADD through the list; the last plugin's result. Undoing a failed ADD (DEL) is the caller's. */
  async add(list: CniConfList, at: CniAttachment): Promise<CniResult> {
    let prev: CniResult | undefined;
    for (const plugin of list.plugins) {
      const out = await this.exec('ADD', list, plugin, at, prev);
      prev = parseResult(out, plugin.type, list.name);
    }
    if (!prev) throw failedPrecondition(`cni network ${list.name} has no plugins`);
    return prev;
  }

  /** Runs CHECK through the list against the ADD's result, but for the plugin types in skip. */
  async check(list: CniConfList, at: CniAttachment, result: CniResult, skip: ReadonlySet<string> = new Set()): Promise<void> {
    for (const plugin of list.plugins) if (!skip.has(plugin.type)) await this.exec('CHECK', list, plugin, at, result);
  }

  /**
   * Runs DEL through the list backwards. Every plugin is run even when one fails, so that each undoes what it
   * can; the first failure is thrown at the end. The netns may be gone: plugins then undo their host side.
   */
  async del(list: CniConfList, at: CniAttachment, result: CniResult | undefined): Promise<void> {
    let first: unknown;
    for (const plugin of [...list.plugins].reverse()) {
      try {
        await this.exec('DEL', list, plugin, at, result);
      } catch (err) {
        first ??= err;
      }
    }
    if (first) throw first;
  }

  /** The executable of a plugin type; libcni's error when it is in none of the directories. */
  private find(type: string): string {
    if (type === '' || type.includes('/') || type === '.' || type === '..') throw failedPrecondition(`invalid cni plugin type ${JSON.stringify(type)}`);
    for (const dir of this.options.binDirs) {
      const file = path.join(dir, type);
      try {
        fs.accessSync(file, fs.constants.X_OK);
        if (fs.statSync(file).isFile()) return file;
      } catch {
        // not in this one
      }
    }
    throw failedPrecondition(`failed to find plugin "${type}" in path [${this.options.binDirs.join(' ')}]`);
  }

  private async exec(command: Command, list: CniConfList, plugin: CniPluginConf, at: CniAttachment, prev: CniResult | undefined): Promise<Buffer> {
    const binary = this.find(plugin.type);
    const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
    if (prev) conf.prevResult = prev;
    const runtimeConfig: Record<string, unknown> = {};
    for (const [cap, on] of Object.entries(plugin.capabilities ?? {})) {
      if (on && at.capabilityArgs?.[cap] !== undefined) runtimeConfig[cap] = at.capabilityArgs[cap];
    }
    if (Object.keys(runtimeConfig).length > 0) conf.runtimeConfig = runtimeConfig;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: command,
      CNI_CONTAINERID: at.containerId,
      CNI_NETNS: at.netns,
      CNI_IFNAME: at.ifname,
      CNI_PATH: this.options.binDirs.join(':'),
    };
    if (at.args?.length) env.CNI_ARGS = at.args.map(([k, v]) => `${k}=${v}`).join(';');
    const log = this.options.log.child({ plugin: plugin.type, network: list.name, command, id: at.containerId, ifname: at.ifname });
    const started = Date.now();
    const { code, signal, stdout, stderr } = await runCaptured(binary, [], { env, input: Buffer.from(JSON.stringify(conf)), timeoutMs: this.options.timeoutMs ?? 60_000 });
    if (code !== 0) {
      const why = pluginError(stdout, stderr, code ?? `signal ${signal}`);
      log.warn({ code, why, ms: Date.now() - started }, 'cni plugin failed');
      throw new CtrdError('unknown', `cni plugin ${plugin.type} failed (${command} on network ${list.name}): ${why}`);
    }
    log.debug({ ms: Date.now() - started }, 'cni plugin ran');
    return stdout;
  }
}

/** A plugin's error JSON ({code, msg, details}) as one line; its raw output when it is not that. */
function pluginError(stdout: Buffer, stderr: Buffer, code: number | string): string {
  try {
    const e = JSON.parse(stdout.toString('utf8')) as { code?: number; msg?: string; details?: string };
    if (typeof e.msg === 'string') return e.details ? `${e.msg}: ${e.details}` : e.msg;
  } catch {
    // not JSON
  }
  const text = (stdout.toString('utf8') + stderr.toString('utf8')).trim();
  return text || `exit ${code}`;
}

function parseResult(out: Buffer, type: string, network: string): CniResult {
  try {
    const r = JSON.parse(out.toString('utf8')) as CniResult;
    if (typeof r === 'object' && r !== null && !Array.isArray(r)) return r;
  } catch {
    // below
  }
  throw new CtrdError('unknown', `cni plugin ${type} (ADD on network ${network}) printed no result: ${JSON.stringify(out.toString('utf8').slice(0, 200))}`);
}
