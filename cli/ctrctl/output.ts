// What every verb prints with: docker's shapes (tables with three-space gutters, "Key: value" sections,
// inspect as an indented JSON array), and the one way an error becomes a message.
import columnify from 'columnify';
import { Option } from 'commander';
import type { Labels } from '../../lib/labels.js';

/** Thrown when the verb has already reported its failures and only the exit status is left to set. */
export class ExitStatus extends Error {
  override readonly name = 'ExitStatus';
  constructor(readonly code: number) {
    super(`exit status ${code}`);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Reports one failure and lets the verb go on with the rest (docker rm's way). */
export function printError(err: unknown): void {
  process.stderr.write(`ctrctl: ${errorMessage(err)}\n`);
}

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function printJson(value: unknown, indent?: number): void {
  print(JSON.stringify(value, null, indent));
}

/** `-f, --format json`: the only format besides the default human one. */
export function formatOption(flags = '-f, --format <format>'): Option {
  return new Option(flags, 'output format').choices(['json']);
}

export type Format = 'json' | undefined;

/** A table with upper-case headings, as docker prints them; no padding after the last column. */
export function table(rows: ReadonlyArray<Record<string, string>>, columns: readonly string[]): string {
  const text = columnify(rows as Array<Record<string, string>>, {
    columns: [...columns],
    columnSplitter: '   ',
    preserveNewLines: false,
  });
  return text
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}

/** Labels as k=v,k2=v2, keys sorted. */
export function formatLabels(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

/** "Key: value" lines with the values in one column, as `docker version` aligns them. */
export function keyValues(rows: ReadonlyArray<readonly [string, string]>, indent: number, column = 20): string {
  return rows
    .map(([key, value]) => {
      const label = `${' '.repeat(indent)}${key}:`;
      return `${label.padEnd(Math.max(column, label.length + 1))}${value}`;
    })
    .join('\n');
}
