// ctrctl logs [-f] [--tail N|all] [-t] [--since T] [--until T] CONTAINER: the container's json-file log as
// ctrd's Streams.Logs reads it (so a remote client can too), its stdout lines to our stdout and its stderr
// lines to our stderr, as docker logs does. With -f, new lines as they come, until the container stops.
// And run's --log-opt max-size=..., max-file=... for the log a container is made with.
import type { Command } from 'commander';
import { LogStream, type LogsResponse } from '../../gen/ctrd/services/streams/v1/streams.js';
import { invalidArgument } from '../../lib/errdefs.js';
import { restartLogUriLabel } from '../../lib/container-task.js';
import { formatTimeNs, isJsonFileUri, parseJsonFileUri, parseLogSize, parseTimeNs } from '../../lib/jsonlog.js';
import { withClients } from './connect.js';
import { findContainer } from './container-state.js';
import { ExitStatus } from './output.js';
import { runtimeClients } from './runtime-clients.js';
import { readUntilInterrupted } from './stream.js';

/** --log-opt values: max-size (bytes; -1 no limit) and max-file; 0 where not given (ctrd's defaults then). */
export function parseLogOpts(opts: readonly string[]): { maxSize: number; maxFile: number } {
  const out = { maxSize: 0, maxFile: 0 };
  for (const opt of opts) {
    const eq = opt.indexOf('=');
    if (eq <= 0) throw invalidArgument(`invalid log opt '${opt}': expected key=value`);
    const key = opt.slice(0, eq);
    const value = opt.slice(eq + 1);
    if (key === 'max-size') {
      out.maxSize = value.trim() === '-1' ? -1 : parseLogSize(value) || -1;
    } else if (key === 'max-file') {
      if (!/^\d+$/.test(value) || Number(value) < 1) throw invalidArgument(`invalid value for max-file: '${value}' (a positive integer)`);
      out.maxFile = Number(value);
    } else {
      throw invalidArgument(`unknown log opt '${key}' for json-file log driver`);
    }
  }
  return out;
}

/** docker inspect's LogPath: the json-file log the container's label names, '' when it has none. */
export function logPathOf(labels: Readonly<Record<string, string>>): string {
  const uri = labels[restartLogUriLabel] ?? '';
  try {
    return isJsonFileUri(uri) ? parseJsonFileUri(uri).path : '';
  } catch {
    return '';
  }
}

const unitNs: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/**
 * A time as docker's --since and --until take it (timetypes.GetTimestamp): a Go duration before now
 * ("10m", "1h30m"), Unix seconds ("1700000000.5"), or an RFC 3339 time or date (no zone: local time).
 */
export function parseLogTime(value: string, now = Date.now()): Date {
  const v = value.trim();
  if (/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(v)) {
    let ns = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ns += Number(m[1]) * unitNs[m[2]!]!;
    return new Date(now - ns / 1e6);
  }
  if (/^\d+(\.\d+)?$/.test(v)) return new Date(Number(v) * 1000);
  const exact = parseTimeNs(v);
  if (exact !== undefined) return new Date(Number(exact / 1_000_000n));
  const d = new Date(/^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00` : v);
  if (Number.isNaN(d.getTime())) throw invalidArgument(`invalid value for time: '${value}' (a duration such as 10m, Unix seconds, or an RFC 3339 time)`);
  return d;
}

function parseTail(v: string): number {
  if (v === 'all') return -1;
  if (!/^\d+$/.test(v)) throw invalidArgument(`invalid value for tail: '${v}' (a number of lines, or all)`);
  return Number(v);
}

interface LogsOptions {
  follow?: boolean;
  tail: string;
  timestamps?: boolean;
  since?: string;
  until?: string;
}

export function addLogsCommand(program: Command): void {
  program
    .command('logs')
    .description("fetch the logs of a container (what it wrote to stdout and stderr)")
    .argument('<container>', 'name or ID')
    .option('-f, --follow', 'follow log output (until the container stops)')
    .option('-n, --tail <lines>', 'number of lines to show from the end of the logs', 'all')
    .option('-t, --timestamps', 'show timestamps')
    .option('--since <time>', 'show logs since a timestamp (2013-01-02T13:23:37Z) or relative (42m for 42 minutes)')
    .option('--until <time>', 'show logs before a timestamp (2013-01-02T13:23:37Z) or relative (42m for 42 minutes)')
    .action(async (input: string, o: LogsOptions, command: Command) => {
      const now = Date.now();
      const tail = parseTail(o.tail);
      const since = o.since === undefined ? undefined : parseLogTime(o.since, now);
      const until = o.until === undefined ? undefined : parseLogTime(o.until, now);
      const interrupted = await withClients(command, async (c) => {
        const rc = runtimeClients(c);
        const info = await findContainer(rc, input);
        const call = rc.streams.logs({ containerId: info.container.id, follow: Boolean(o.follow), tail, since, until, stdout: false, stderr: false });
        const end = await readUntilInterrupted(call, (res: LogsResponse) => {
          const out = res.stream === LogStream.LOG_STREAM_STDERR ? process.stderr : process.stdout;
          let data: Buffer = Buffer.from(res.data);
          if (o.timestamps) {
            const ns = parseTimeNs(res.time);
            data = Buffer.concat([Buffer.from(`${ns === undefined ? res.time : formatTimeNs(ns)} `), data]);
          }
          if (!out.write(data)) {
            call.pause();
            out.once('drain', () => call.resume());
          }
        });
        return end.interrupted;
      });
      if (interrupted) throw new ExitStatus(130);
    });
}
