// ctrctl's volume verbs, docker's names, flags and output, over ctrd's VolumesService:
//   volume create [--label K=V]... [-d local] [NAME]      volume ls [-q] [-f FILTER]... [--format T]
//   volume inspect [-f T] VOLUME...                        volume rm [-f] VOLUME...
//   volume prune [-a] [-f] [--filter label=...]
import type { Command } from 'commander';
import type { Volume } from '../../gen/ctrd/services/volumes/v1/volumes.js';
import { invalidArgument, isNotFound } from '../../lib/errdefs.js';
import { unary } from '../../lib/grpc/client.js';
import { withClients } from './connect.js';
import { formatArgument, parseFormat, renderFormat, type OutputFormat } from './go-template.js';
import { addInspectCommand, type Inspector } from './inspect.js';
import { confirmPrune, type PruneExtra } from './system.js';
import { ExitStatus, print, printError } from './output.js';
import { runtimeClients } from './runtime-clients.js';
import { humanSize, rfc3339 } from './units.js';
import { collect, filterCollector, keyValue } from './flags.js';

const collectFilter = filterCollector(['name', 'label', 'dangling', 'driver']);

/** docker volume inspect's object. */
export function inspectVolume(v: Volume): Record<string, unknown> {
  const labels = Object.keys(v.labels).length > 0 ? v.labels : null;
  return {
    CreatedAt: v.createdAt ? rfc3339(v.createdAt) : '',
    Driver: v.driver,
    Labels: labels,
    Mountpoint: v.mountpoint,
    Name: v.name,
    Options: Object.keys(v.options).length > 0 ? v.options : null,
    Scope: 'local',
  };
}

function lsRow(v: Volume): Record<string, string> {
  return {
    Name: v.name,
    Driver: v.driver,
    Scope: 'local',
    Mountpoint: v.mountpoint,
    Labels: Object.keys(v.labels)
      .sort()
      .map((k) => `${k}=${v.labels[k]}`)
      .join(','),
    Links: String(v.usedBy.length),
    CreatedAt: v.createdAt ? rfc3339(v.createdAt) : '',
    Size: humanSize(v.size),
  };
}

const lsHeaders = { Name: 'VOLUME NAME', Driver: 'DRIVER', Scope: 'SCOPE', Mountpoint: 'MOUNTPOINT', Labels: 'LABELS', Links: 'LINKS', CreatedAt: 'CREATED AT', Size: 'SIZE' };

function addCreate(volume: Command): void {
  volume
    .command('create')
    .description('create a volume')
    .argument('[name]', 'the volume name (random when not given)')
    .option('-d, --driver <name>', 'volume driver name', 'local')
    .option('--label <KEY=VALUE>', 'set metadata for a volume (repeatable)', collect, [])
    .option('-o, --opt <KEY=VALUE>', 'set driver specific options (repeatable)', collect, [])
    .option('--name <name>', 'the volume name (instead of the argument)')
    .action(async (arg: string | undefined, o: { driver: string; label: string[]; opt: string[]; name?: string }, command: Command) => {
      if (arg !== undefined && o.name !== undefined && arg !== o.name) {
        throw invalidArgument(`conflicting options: either specify --name or provide positional arg, not both`);
      }
      const labels = Object.fromEntries(o.label.map((v) => keyValue('label', v)));
      const options = Object.fromEntries(o.opt.map((v) => keyValue('label', v)));
      const res = await withClients(command, (c) => {
        const vc = runtimeClients(c).volumes;
        return unary(vc, vc.create, { name: arg ?? o.name ?? '', driver: o.driver, labels, options, anonymous: false });
      });
      print(res.volume!.name);
    });
}

function addList(volume: Command, name: string, alias?: string): void {
  const cmd = volume.command(name).description('list volumes');
  if (alias) cmd.alias(alias);
  cmd
    .option('-q, --quiet', 'only display volume names')
    .option('-f, --filter <filter>', 'filter output: name=, label=KEY[=VALUE], dangling=true|false, driver= (repeatable)', collectFilter, [])
    .option('--format <template>', "format output with a Go template ('table ...' for a table, 'json')", formatArgument)
    .action(async (o: { quiet?: boolean; filter: string[]; format?: OutputFormat }, command: Command) => {
      const { volumes } = await withClients(command, (c) => {
        const vc = runtimeClients(c).volumes;
        // Sizes only when the format shows them: measuring walks every file.
        return unary(vc, vc.list, { filters: o.filter, withSize: Boolean(o.format?.source.includes('.Size')) });
      });
      const rows = volumes.map(lsRow);
      if (o.quiet && !o.format) {
        if (rows.length > 0) print(rows.map((r) => r.Name).join('\n'));
        return;
      }
      const format = o.format ?? parseFormat('table {{.Driver}}\\t{{.Name}}');
      process.stdout.write(renderFormat(format, rows, lsHeaders));
    });
}

/** Volumes for docker's inspect, by name; undefined when there is none. */
export const volumeInspector: Inspector = {
  type: 'volume',
  async find(c, name) {
    const vc = runtimeClients(c).volumes;
    try {
      return inspectVolume((await unary(vc, vc.get, { name })).volume!);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  },
};

/** system prune --volumes: as docker's, the anonymous volumes no container uses. */
export const volumesPrune: PruneExtra = {
  flag: 'volumes',
  warning: 'all anonymous volumes not used by at least one container',
  title: 'Deleted Volumes',
  async prune(c) {
    const vc = runtimeClients(c).volumes;
    return unary(vc, vc.prune, { all: false, filters: [] });
  },
};

function addRemove(volume: Command): void {
  volume
    .command('rm')
    .alias('remove')
    .description('remove one or more volumes; a volume in use by a container cannot be removed')
    .argument('<volume...>', 'volume names')
    .option('-f, --force', 'no error for volumes that do not exist')
    .action(async (names: string[], o: { force?: boolean }, command: Command) => {
      let failed = false;
      await withClients(command, async (c) => {
        const vc = runtimeClients(c).volumes;
        for (const name of names) {
          try {
            await unary(vc, vc.remove, { name, force: Boolean(o.force) });
            print(name);
          } catch (err) {
            printError(err);
            failed = true;
          }
        }
      });
      if (failed) throw new ExitStatus(1);
    });
}

function addPrune(volume: Command): void {
  volume
    .command('prune')
    .description('remove unused anonymous volumes (with -a, every unused volume)')
    .option('-a, --all', 'remove all unused volumes, not just anonymous ones')
    .option('-f, --force', 'do not prompt for confirmation')
    .option('--filter <filter>', 'only volumes with (label=KEY[=VALUE]) or without (label!=KEY[=VALUE]) a label (repeatable)', collect, [])
    .action(async (o: { all?: boolean; force?: boolean; filter: string[] }, command: Command) => {
      const warning = o.all
        ? 'WARNING! This will remove all local volumes not used by at least one container.'
        : 'WARNING! This will remove anonymous local volumes not used by at least one container.';
      if (!(await confirmPrune(o.force, warning))) return;
      const report = await withClients(command, (c) => {
        const vc = runtimeClients(c).volumes;
        return unary(vc, vc.prune, { all: Boolean(o.all), filters: o.filter });
      });
      if (report.deleted.length > 0) process.stdout.write(`Deleted Volumes:\n${report.deleted.join('\n')}\n\n`);
      print(`Total reclaimed space: ${humanSize(report.reclaimed)}`);
    });
}

export function addVolumeCommands(program: Command): void {
  const volume = program.command('volume').description('manage volumes');
  addCreate(volume);
  addList(volume, 'ls', 'list');
  addInspectCommand(volume, [volumeInspector], 'display detailed information on one or more volumes');
  addRemove(volume);
  addPrune(volume);
}
