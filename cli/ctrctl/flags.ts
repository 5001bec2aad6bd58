// Option parsers the verbs share.
import { InvalidArgumentError } from 'commander';
import { invalidArgument } from '../../lib/errdefs.js';

/** commander's parser for a repeatable flag (-e A -e B): every value, in order. */
export const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** KEY=VALUE (or KEY, an empty value), as docker's --label and -o take them; `what` names the flag in the error. */
export function keyValue(what: string, value: string): [string, string] {
  const eq = value.indexOf('=');
  const key = eq < 0 ? value : value.slice(0, eq);
  if (key === '') throw invalidArgument(`invalid ${what} '${value}': empty name`);
  return [key, eq < 0 ? '' : value.slice(eq + 1)];
}

/** commander's parser for a repeatable --filter KEY=VALUE whose key must be one of `keys`. */
export function filterCollector(keys: readonly string[]): (value: string, previous?: string[]) => string[] {
  return (value, previous = []) => {
    const eq = value.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError('bad format of filter (expected name=value)');
    const key = value.slice(0, eq);
    if (!keys.includes(key)) throw new InvalidArgumentError(`invalid filter '${key}': ctrctl knows ${keys.join(', ')}`);
    return [...previous, value];
  };
}
