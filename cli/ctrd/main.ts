// ctrd, the daemon's command line, with containerd's flags:
//   ctrd [-a ADDRESS] [--root DIR] [--state DIR] [-c CONFIG] [-l LEVEL]
//   ctrd config default
import { Command, Option } from 'commander';
import { configToToml, defaultConfig, loadConfig, validateConfig, type Config } from '../../daemon/config.js';
import { Daemon } from '../../daemon/server.js';
import { createLogger, logLevels } from '../../lib/log.js';
import { version, revision } from '../../lib/version.js';

interface Flags {
  address?: string;
  root?: string;
  state?: string;
  config?: string;
  logLevel?: string;
}

function configFrom(flags: Flags): Config {
  const config = loadConfig(flags.config);
  if (flags.root !== undefined) config.root = flags.root;
  if (flags.state !== undefined) config.state = flags.state;
  if (flags.address !== undefined) config.grpc.address = flags.address;
  if (flags.logLevel !== undefined) config.debug.level = flags.logLevel;
  return validateConfig(config);
}

async function serve(flags: Flags): Promise<void> {
  const config = configFrom(flags);
  const log = createLogger({ level: config.debug.level });
  const daemon = await Daemon.start(config, log);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    log.info({ signal }, 'signal received');
    daemon.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

const program = new Command('ctrd')
  .description('ctrd: a container runtime daemon, wire-compatible with containerd')
  .version(`ctrd ${version} ${revision}`, '-v, --version')
  .option('-a, --address <path>', 'address for the gRPC server (a unix socket path)')
  .option('--root <dir>', 'root directory for persistent data')
  .option('--state <dir>', 'state directory for runtime data')
  .option('-c, --config <file>', 'path to the TOML configuration file (default /etc/ctrd/config.toml if present)')
  .addOption(new Option('-l, --log-level <level>', 'log level').choices(logLevels as string[]))
  .action(async (flags: Flags) => serve(flags));

program
  .command('config')
  .description('information on the ctrd config')
  .command('default')
  .description('print the default config')
  .action(() => {
    process.stdout.write(configToToml(defaultConfig()));
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`ctrd: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
