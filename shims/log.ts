// The shim's log: JSON lines in pino's shape ({level, time, pid, name, msg, ...}) on stderr, which is the
// bundle's `log` FIFO the daemon reads. Written synchronously and small on purpose: one shim runs per
// container, and a logging library would cost each of them memory.
import { writeSync } from 'node:fs';

const levels = { trace: 10, debug: 20, info: 30, warn: 40, error: 50 } as const;
export type Level = keyof typeof levels;

export interface ShimLogger {
  debug(fields: Record<string, unknown>, msg: string): void;
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
  child(bindings: Record<string, unknown>): ShimLogger;
}

function serialize(value: unknown): unknown {
  if (value instanceof Error) {
    const e = value as Error & { code?: unknown; kind?: unknown };
    return { type: e.name, message: e.message, code: e.code, kind: e.kind, stack: e.stack };
  }
  return value;
}

/** fd: where lines go (default stderr), or a function giving it, undefined once it is closed (lines are dropped). */
export function createShimLogger(opts: { level: Level; fd?: number | (() => number | undefined); bindings?: Record<string, unknown> }): ShimLogger {
  const min = levels[opts.level];
  const target = opts.fd ?? 2;
  const make = (bindings: Record<string, unknown>): ShimLogger => {
    const write = (level: Level, fields: Record<string, unknown>, msg: string) => {
      if (levels[level] < min) return;
      const fd = typeof target === 'function' ? target() : target;
      if (fd === undefined) return;
      const record: Record<string, unknown> = { level: levels[level], time: Date.now(), pid: process.pid, name: 'ctrd-shim', ...bindings };
      for (const [k, v] of Object.entries(fields)) record[k] = serialize(v);
      record.msg = msg;
      try {
        writeSync(fd, JSON.stringify(record) + '\n');
      } catch {
        // Nobody reads the log (the daemon is away and the FIFO is full): the line is lost, the shim goes on.
      }
    };
    return {
      debug: (f, m) => write('debug', f, m),
      info: (f, m) => write('info', f, m),
      warn: (f, m) => write('warn', f, m),
      error: (f, m) => write('error', f, m),
      child: (b) => make({ ...bindings, ...b }),
    };
  };
  return make(opts.bindings ?? {});
}
