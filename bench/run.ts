// The benchmarks' entry (`npm run bench`, i.e. node dist/bench/run.js): runs the benchmarks of bench/ one after
// another, each against its reference in the same run, prints their tables on stdout (progress on stderr),
// and with --json FILE also writes every result as JSON.
//   node dist/bench/run.js [--json FILE] [benchmark options] [NAME...]
// Exit status: 0 success, 1 a benchmark failed, 2 a usage error.
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { Command, CommanderError } from 'commander';
import { revision } from '../lib/version.js';
import { densityBenchmark } from './density.js';
import { loadBenchmark } from './load.js';
import { pullBenchmark } from './pull.js';
import { startBenchmark } from './start.js';
import { networkBenchmark } from './network.js';
import { buildBenchmark } from './build.js';

interface Benchmark<R> {
  name: string;
  description: string;
  /** Adds the benchmark's flags (sizes, counts) to the command line. */
  addOptions(cmd: Command): void;
  run(flags: Record<string, unknown>, progress: (line: string) => void): Promise<R>;
  format(result: R): string;
}

interface Runnable {
  name: string;
  description: string;
  addOptions(cmd: Command): void;
  run(flags: Record<string, unknown>, progress: (line: string) => void): Promise<{ result: unknown; text: string }>;
}

function runnable<R>(b: Benchmark<R>): Runnable {
  return {
    ...b,
    run: async (flags, progress) => {
      const result = await b.run(flags, progress);
      return { result, text: b.format(result) };
    },
  };
}

/** Every benchmark, in the order they run. */
const benchmarks: Runnable[] = [runnable(loadBenchmark), runnable(pullBenchmark), runnable(startBenchmark), runnable(densityBenchmark), runnable(networkBenchmark), runnable(buildBenchmark)];

function cli(): Command {
  const program = new Command('bench')
    .description(`ctrd's benchmarks: ${benchmarks.map((b) => `${b.name} (${b.description})`).join('; ')}`)
    .argument('[names...]', `benchmarks to run: ${benchmarks.map((b) => b.name).join(', ')} (default: all)`)
    .option('--json <file>', 'also write the results as JSON to this file')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)');
  for (const b of benchmarks) b.addOptions(program);
  return program;
}

async function main(argv: readonly string[]): Promise<number> {
  const program = cli();
  try {
    program.parse(argv);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    throw err;
  }
  const flags = program.opts();
  const names = program.args.length > 0 ? program.args : benchmarks.map((b) => b.name);
  const unknown = names.filter((n) => !benchmarks.some((b) => b.name === n));
  if (unknown.length > 0) {
    process.stderr.write(`bench: no benchmark named ${unknown.join(', ')} (there are: ${benchmarks.map((b) => b.name).join(', ')})\n`);
    return 2;
  }
  const results: Record<string, unknown> = {};
  for (const b of benchmarks.filter((x) => names.includes(x.name))) {
    const progress = (line: string) => process.stderr.write(`[${b.name}] ${line}\n`);
    try {
      const { result, text } = await b.run(flags, progress);
      process.stdout.write(`${text}\n\n`);
      results[b.name] = result;
    } catch (err) {
      process.stderr.write(`bench: ${b.name} failed: ${err instanceof Error ? err.message : String(err)}\n`);
      return 1;
    }
  }
  if (typeof flags['json'] === 'string') {
    const doc = { date: new Date().toISOString(), revision, node: process.version, cpus: cpus().length, results };
    writeFileSync(flags['json'], `${JSON.stringify(doc, null, 2)}\n`);
    process.stderr.write(`bench: results written to ${flags['json']}\n`);
  }
  return 0;
}

// Exit explicitly: a benchmark must stop by itself even if a handle (a closing channel, a timer) lingers.
process.exit(await main(process.argv));
