// docker inspect: one JSON array of the objects named (an indented array, or a Go template per object). The
// top-level verb looks for each name among containers, then images, then volumes (or only --type's); the
// nouns' own inspect verbs look among theirs.
import type { Command } from 'commander';
import { invalidArgument, notFound } from '../../lib/errdefs.js';
import type { Clients } from '../../lib/grpc/client.js';
import { withClients } from './connect.js';
import { formatArgument, renderFormat, type OutputFormat } from './go-template.js';
import { ExitStatus, printError, printJson } from './output.js';

export interface Inspector {
  /** container, image, volume: docker's --type values. */
  type: string;
  /** The object as docker's inspect shows it; undefined when there is none by that name. */
  find(c: Clients, input: string): Promise<Record<string, unknown> | undefined>;
  /** What Go templates see, when more than the JSON (docker's struct has fields its JSON leaves out when empty). */
  templateView?(found: Record<string, unknown>): Record<string, unknown>;
}

interface Found {
  json: Record<string, unknown>;
  view: Record<string, unknown>;
}

async function inspectOne(c: Clients, inspectors: readonly Inspector[], input: string): Promise<Found> {
  for (const i of inspectors) {
    const json = await i.find(c, input);
    if (json) return { json, view: i.templateView?.(json) ?? json };
  }
  throw notFound(inspectors.length === 1 ? `No such ${inspectors[0]!.type}: ${input}` : `No such object: ${input}`);
}

export function addInspectCommand(parent: Command, inspectors: readonly Inspector[], description: string): void {
  const cmd = parent
    .command('inspect')
    .description(description)
    .argument(inspectors.length === 1 ? `<${inspectors[0]!.type}...>` : '<name...>', 'names or IDs')
    .option('-f, --format <template>', 'format output with a Go template', formatArgument);
  if (inspectors.length > 1) cmd.option('--type <type>', `only objects of this type: ${inspectors.map((i) => i.type).join(', ')}`);
  cmd.action(async (inputs: string[], o: { format?: OutputFormat; type?: string }, command: Command) => {
    const chosen = o.type === undefined ? inspectors : inspectors.filter((i) => i.type === o.type);
    if (chosen.length === 0) throw invalidArgument(`"${o.type}" is not a valid value for --type: one of ${inspectors.map((i) => i.type).join(', ')}`);
    const found: Found[] = [];
    let failed = false;
    await withClients(command, async (c) => {
      for (const input of inputs) {
        try {
          found.push(await inspectOne(c, chosen, input));
        } catch (err) {
          printError(err);
          failed = true;
        }
      }
    });
    // --format json is the default (an indented array), as docker inspect has it; {{json .}} is one line each.
    const format = o.format?.source === 'json' ? undefined : o.format;
    if (format) process.stdout.write(renderFormat(format, found.map((f) => f.view), {}));
    else printJson(found.map((f) => f.json), 4);
    if (failed) throw new ExitStatus(1);
  });
}
