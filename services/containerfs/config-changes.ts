// docker commit --change and docker import --change: Dockerfile instructions applied to an image config's
// "config" object, read by the Dockerfile parser and applied as the builder applies them (variables expanded
// with the config's environment). Only the instructions docker takes there: CMD, ENTRYPOINT, ENV, EXPOSE,
// LABEL, USER, WORKDIR, VOLUME, STOPSIGNAL; anything else is InvalidArgument, as docker says it.
import { CtrdError, invalidArgument } from '../../lib/errdefs.js';
import { expandInstruction } from '../../lib/dockerfile/expand.js';
import { parseInstruction } from '../../lib/dockerfile/parse.js';
import { applyMetadata, envValue, type RunConfig } from '../build/config-steps.js';

export type { RunConfig };

const allowed = new Set(['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'USER', 'WORKDIR', 'VOLUME', 'STOPSIGNAL']);

/** Applies each change in order to a copy of config. */
export function applyChanges(config: RunConfig, changes: readonly string[]): RunConfig {
  let out: RunConfig = { ...config };
  for (const change of changes) {
    const text = change.trim();
    if (text === '') continue;
    const keyword = /^\S+/.exec(text)![0];
    if (!allowed.has(keyword.toUpperCase())) throw invalidArgument(`${keyword} is not a valid change command`);
    try {
      const inst = parseInstruction(text);
      const env = out.Env ?? [];
      const expanded = expandInstruction(inst, (name) => envValue(env, name)).value;
      // As docker's commit: an ENTRYPOINT leaves the CMD it finds.
      out = applyMetadata(out, expanded, { cmdSet: true }).config;
    } catch (err) {
      // The change is one line of its own: its position says nothing.
      if (err instanceof CtrdError) throw new CtrdError(err.kind, err.message.replace(/^Dockerfile:\d+:\d+: /, ''), { cause: err });
      throw err;
    }
  }
  return out;
}
