// ctrctl, the docker-style admin CLI for ctrd: a thin gRPC client, one file per verb group.
//   ctrctl [-a ADDRESS] [-n NAMESPACE] version | info | namespace ls|create|rm|inspect | events
//          | pull | push | login | logout | images | tag | rmi | history | image ls|pull|tag|rm|inspect|history|prune | system df
//          | save | load | image save|load
//          | run | create | ps | start | stop | restart | kill | rm | exec | wait | pause | unpause | top | stats
//          | inspect | logs | attach | container <any container verb>|ls|prune | system df|prune | volume create|ls|inspect|rm|prune
//          | network create|ls|inspect|rm|prune|connect|disconnect | port
//          | diff | cp | commit | export | import (and container diff|cp|commit|export, image import)
// Exit status: 0 success, 1 a failure (reported as "ctrctl: <message>"), 2 a usage error.
import { Command, CommanderError, Option } from 'commander';
import { errnoCode } from '../../lib/errdefs.js';
import { defaultAddress, defaultNamespace } from '../../lib/grpc/client.js';
import { ctrdVersion, revision } from '../../lib/version.js';
import { addArchiveCommands } from './archive.js';
import { addBuildCommands } from './build.js';
import { addCompletionCommand } from './completion.js';
import { addContainerCommands, containerInspector } from './containers.js';
import { addInspectCommand } from './inspect.js';
import { addEventsCommand } from './events.js';
import { addExecCommand } from './exec.js';
import { addFilesystemCommands } from './filesystem.js';
import { addImageCommands, imageInspector } from './images.js';
import { addInfoCommand } from './info.js';
import { addMonitorCommands } from './monitor.js';
import { addNamespaceCommands } from './namespace.js';
import { addContainerPruneCommand, addDiskUsageCommand, addSystemPruneCommand } from './system.js';
import { addPushCommand } from './push.js';
import { addRegistryAuthCommands } from './registry-auth.js';
import { ExitStatus, printError } from './output.js';
import { addRunCommands } from './run.js';
import { addVersionCommand } from './version.js';
import { addVolumeCommands, volumeInspector, volumesPrune } from './volumes.js';
import { addNetworkCommands, networkInspector, networksPrune } from './network.js';
import { addPortCommand } from './port.js';

const usageError = 2;

function cli(): Command {
  const program = new Command('ctrctl')
    .description('ctrctl: manage a ctrd daemon')
    .version(`ctrctl version ${ctrdVersion}, build ${revision}`, '-v, --version', 'print the version and quit')
    .addOption(
      new Option('-a, --address <path>', 'address of ctrd (a unix socket path)').env('CTRD_ADDRESS').default(defaultAddress),
    )
    .addOption(new Option('-n, --namespace <name>', 'namespace to work in').env('CTRD_NAMESPACE').default(defaultNamespace))
    // As docker's: the global flags come before the verb, so that a verb's own -a or -n (images -a) is its own.
    .enablePositionalOptions()
    // Settings made before the verbs are added are inherited by them.
    .exitOverride()
    .showHelpAfterError('(add --help for usage)');
  addVersionCommand(program);
  addInfoCommand(program);
  addNamespaceCommands(program);
  addEventsCommand(program);
  const system = program.command('system').description('manage ctrd');
  addImageCommands(program);
  addArchiveCommands(program);
  addBuildCommands(program);
  addPushCommand(program);
  addRegistryAuthCommands(program);
  addDiskUsageCommand(system);
  addSystemPruneCommand(system, [networksPrune, volumesPrune]);
  // docker's container verbs, at the top and under `container` alike.
  const container = program.command('container').description('manage containers');
  for (const parent of [program, container]) {
    addRunCommands(parent);
    addContainerCommands(parent);
    addExecCommand(parent);
    addMonitorCommands(parent);
    addPortCommand(parent);
  }
  container.commands.find((c) => c.name() === 'ps')?.aliases(['ls', 'list']);
  addInspectCommand(container, [containerInspector], 'show one or more containers in detail, as JSON');
  addInspectCommand(program, [containerInspector, imageInspector, volumeInspector, networkInspector], 'show containers, images, volumes or networks in detail, as JSON');
  addContainerPruneCommand(container);
  addVolumeCommands(program);
  addNetworkCommands(program);
  addFilesystemCommands(program);
  addCompletionCommand(program);
  return program;
}

async function main(argv: readonly string[]): Promise<number> {
  try {
    await cli().parseAsync(argv);
    return 0;
  } catch (err) {
    // Commander has already printed its message (or the help, or the version).
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : usageError;
    if (err instanceof ExitStatus) return err.code;
    printError(err);
    return 1;
  }
}

// `ctrctl events | head -1`: the reader has gone, which is not an error of ours.
process.stdout.on('error', (err) => {
  if (errnoCode(err) === 'EPIPE') process.exit(0);
  throw err;
});

process.exitCode = await main(process.argv);
