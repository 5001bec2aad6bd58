// ctrctl namespace ls|create|rm|inspect: docker's network verbs, for containerd's namespaces.
import { InvalidArgumentError, type Command } from 'commander';
import type { Namespace } from '../../gen/containerd/services/namespaces/v1/namespace.js';
import { notFound } from '../../lib/errdefs.js';
import { unary, type Clients } from '../../lib/grpc/client.js';
import type { Labels } from '../../lib/labels.js';
import { withClients } from './connect.js';
import { ExitStatus, formatLabels, print, printError, printJson, table } from './output.js';

/** --label k=v, repeatable; a bare k is k with an empty value, as docker takes it. */
function collectLabel(value: string, previous: Labels): Labels {
  const eq = value.indexOf('=');
  const key = eq < 0 ? value : value.slice(0, eq);
  if (key === '') throw new InvalidArgumentError('label key must not be empty.');
  return { ...previous, [key]: eq < 0 ? '' : value.slice(eq + 1) };
}

async function list(c: Clients): Promise<Namespace[]> {
  const { namespaces } = await unary(c.namespaces, c.namespaces.list, { filter: '' });
  return namespaces.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function addNamespaceCommands(program: Command): void {
  const namespace = program.command('namespace').alias('ns').description('manage namespaces');

  namespace
    .command('ls')
    .alias('list')
    .description('list namespaces')
    .option('-q, --quiet', 'only show names')
    .action(async (opts: { quiet?: boolean }, cmd: Command) => {
      const namespaces = await withClients(cmd, list);
      if (opts.quiet) {
        for (const ns of namespaces) print(ns.name);
        return;
      }
      print(table(namespaces.map((ns) => ({ name: ns.name, labels: formatLabels(ns.labels) })), ['name', 'labels']));
    });

  namespace
    .command('create')
    .description('create a namespace')
    .argument('<name>', 'the new namespace')
    .option('--label <key=value>', 'set a label on the namespace (repeatable)', collectLabel, {})
    .action(async (name: string, opts: { label: Labels }, cmd: Command) => {
      await withClients(cmd, (c) => unary(c.namespaces, c.namespaces.create, { namespace: { name, labels: opts.label } }));
      print(name);
    });

  namespace
    .command('rm')
    .alias('remove')
    .description('remove one or more namespaces; they must be empty')
    .argument('<name...>', 'the namespaces to remove')
    .action(async (names: string[], _opts: unknown, cmd: Command) => {
      // Like docker rm: every name is tried, each failure reported, and the exit status says if any failed.
      let failed = false;
      await withClients(cmd, async (c) => {
        for (const name of names) {
          try {
            await unary(c.namespaces, c.namespaces.delete, { name });
            print(name);
          } catch (err) {
            printError(err);
            failed = true;
          }
        }
      });
      if (failed) throw new ExitStatus(1);
    });

  namespace
    .command('inspect')
    .description('show one or more namespaces in detail, as JSON')
    .argument('<name...>', 'the namespaces to show')
    .action(async (names: string[], _opts: unknown, cmd: Command) => {
      // List, not Get: Get answers for a namespace that was never made, and inspect must say it does not exist.
      const namespaces = await withClients(cmd, list);
      const found: Array<{ Name: string; Labels: Labels }> = [];
      let failed = false;
      for (const name of names) {
        const ns = namespaces.find((n) => n.name === name);
        if (ns) {
          found.push({ Name: ns.name, Labels: ns.labels });
        } else {
          printError(notFound(`namespace "${name}": not found`));
          failed = true;
        }
      }
      printJson(found, 4);
      if (failed) throw new ExitStatus(1);
    });
}
