// .dockerignore as docker reads it (moby/patternmatcher): one pattern a line, `#` comments and blank lines
// skipped, each pattern cleaned as a path (a leading `/` or `./` ignored), `!` making an exception, Go's
// filepath.Match syntax (`*`, `?`, `[...]`, `\` escapes) plus `**` for any number of directories. A pattern
// matching a directory matches everything below it; the last pattern that matches decides.
import { posix } from 'node:path';
import { invalidArgument } from '../errdefs.js';

interface Pattern {
  text: string;
  exclusion: boolean;
  re: RegExp;
}

/**
 * A Go filepath.Match pattern (`*` and `?` within a path component, `[...]` classes with `^` negating, `\`
 * escapes), with `**` for any number of components, as an anchored regular expression over slash-separated
 * paths. .dockerignore and COPY's globs both take it.
 */
export function globRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (ch === '?') re += '[^/]';
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) throw invalidArgument(`syntax error in pattern "${pattern}"`);
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^')) cls = `^${cls.slice(1)}`;
      re += `[${cls.replace(/\\(?!.)/g, '\\\\')}]`;
      i = end;
    } else if (ch === '\\') {
      const next = pattern[++i];
      if (next === undefined) throw invalidArgument(`syntax error in pattern "${pattern}"`);
      re += next.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else re += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export class IgnoreMatcher {
  private constructor(private readonly patterns: readonly Pattern[]) {}

  static parse(text: string): IgnoreMatcher {
    const patterns: Pattern[] = [];
    for (const raw of text.split(/\r?\n/)) {
      let line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const exclusion = line.startsWith('!');
      if (exclusion) line = line.slice(1).trim();
      if (line === '') throw invalidArgument('illegal exclusion pattern: "!"');
      let p = posix.normalize(line).replace(/^\/+/, '');
      if (p === '.' || p === '') p = '.';
      p = p.replace(/\/+$/, '');
      patterns.push({ text: p, exclusion, re: globRegExp(p) });
    }
    return new IgnoreMatcher(patterns);
  }

  /** Whether a path of the context (relative, slash-separated) is left out. */
  excludes(rel: string): boolean {
    const path = rel.replace(/^\.\/+/, '').replace(/\/+$/, '');
    const parents = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
    let matched = false;
    for (const p of this.patterns) {
      // Only a pattern that would change the verdict needs looking at.
      if (p.exclusion !== matched) continue;
      if (p.text === '.' ? !p.exclusion : parents.some((q) => p.re.test(q))) matched = !p.exclusion;
    }
    return matched;
  }

  /** Whether an excluded directory must still be walked: an exception may take something below it back. */
  mayIncludeBelow(_dirRel: string): boolean {
    return this.patterns.some((p) => p.exclusion);
  }
}
