// ctrd, the daemon's command line, with containerd's flags:
//   ctrd [-a ADDRESS] [--root DIR] [--state DIR] [-c CONFIG] [-l LEVEL]
//   ctrd config default
//   ctrd [-a ADDRESS] publish --namespace NS --topic TOPIC   (an event Any on stdin; what shims run)
import { Command, Option } from 'commander';
import { configToToml, defaultConfig, loadConfig, validateConfig, type Config } from '../../daemon/config.js';
import { Daemon } from '../../daemon/server.js';
import { createLogger, logLevels } from '../../lib/log.js';
import { version, revision } from '../../lib/version.js';
import { Any } from '../../gen/google/protobuf/any.js';
import { Clients, unary } from '../../lib/grpc/client.js';

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

// Shims that do not forward events over ttrpc run this, as containerd's shims run `containerd publish`.
program
  .command('publish')
  .description('publish an event (a protobuf google.protobuf.Any read from stdin) to a running ctrd')
  .requiredOption('--namespace <ns>', 'the namespace of the event')
  .requiredOption('--topic <topic>', 'the topic of the event')
  .action(async (opts: { namespace: string; topic: string }) => {
    const address = (program.opts() as Flags).address ?? configFrom({ config: (program.opts() as Flags).config }).grpc.address;
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    const event = Any.decode(Buffer.concat(chunks));
    if (!event.typeUrl) throw new Error('publish: stdin holds no event (an Any with a type url)');
    const clients = new Clients({ address, namespace: opts.namespace });
    try {
      await unary(clients.events, clients.events.publish, { topic: opts.topic, event });
    } finally {
      clients.close();
    }
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`ctrd: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
