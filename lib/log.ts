// Structured logs through pino. JSON when the output is not a terminal (a service manager or a file),
// pino-pretty lines when a person watches. Children carry ns, id and digest bindings.
import { pino, destination, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const logLevels: readonly LevelWithSilent[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export function createLogger(opts: { level: string; name?: string; pretty?: boolean }): Logger {
  const level = opts.level as LevelWithSilent;
  const pretty = opts.pretty ?? process.stderr.isTTY === true;
  const base = { level, name: opts.name ?? 'ctrd', base: { pid: process.pid } };
  if (pretty) {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { destination: 2, colorize: true, translateTime: 'SYS:standard' } },
    });
  }
  return pino(base, destination({ dest: 2, sync: true }));
}

/** A logger that drops everything, for library code used without a daemon (tests, the CLI). */
export const silentLogger: Logger = pino({ level: 'silent' });
