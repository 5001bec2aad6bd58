// .dockerignore as moby/patternmatcher reads it.
import { describe, expect, it } from 'vitest';
import { IgnoreMatcher } from './dockerignore.js';

describe('IgnoreMatcher', () => {
  it('nothing is excluded by an empty file, comments or blank lines', () => {
    const m = IgnoreMatcher.parse('\n# a comment\n   \n');
    expect(m.excludes('Dockerfile')).toBe(false);
    expect(m.mayIncludeBelow('dir')).toBe(false);
  });

  it('globs match one level; a matched directory excludes what is below it; leading / and ./ are ignored', () => {
    const m = IgnoreMatcher.parse('*.log\n/build\n./tmp/\nsrc/*/cache\ndoc?.md\n[a-c].txt\n');
    expect(m.excludes('app.log')).toBe(true);
    expect(m.excludes('sub/app.log')).toBe(false);
    expect(m.excludes('build')).toBe(true);
    expect(m.excludes('build/out/x.o')).toBe(true);
    expect(m.excludes('tmp/a')).toBe(true);
    expect(m.excludes('src/web/cache/x')).toBe(true);
    expect(m.excludes('src/web/cachex')).toBe(false);
    expect([m.excludes('doc1.md'), m.excludes('doc12.md')]).toEqual([true, false]);
    expect([m.excludes('b.txt'), m.excludes('d.txt')]).toEqual([true, false]);
  });

  it('** matches any number of directories', () => {
    const m = IgnoreMatcher.parse('**/*.tmp\nnode_modules/**\n');
    expect(m.excludes('a.tmp')).toBe(true);
    expect(m.excludes('a/b/c.tmp')).toBe(true);
    expect(m.excludes('node_modules/x/y.js')).toBe(true);
    expect(m.excludes('a/node_modules')).toBe(false);
  });

  it('! makes exceptions; the last matching pattern wins; an exception under an excluded directory takes it back', () => {
    const m = IgnoreMatcher.parse('*.md\n!README.md\ndocs\n!docs/keep.txt\n');
    expect(m.excludes('CHANGES.md')).toBe(true);
    expect(m.excludes('README.md')).toBe(false);
    expect(m.excludes('docs')).toBe(true);
    expect(m.excludes('docs/drop.txt')).toBe(true);
    expect(m.excludes('docs/keep.txt')).toBe(false);
    expect(m.mayIncludeBelow('docs')).toBe(true);
    const again = IgnoreMatcher.parse('!README.md\n*.md\n');
    expect(again.excludes('README.md')).toBe(true);
  });

  it('bad patterns are errors naming them', () => {
    expect(() => IgnoreMatcher.parse('[abc\n')).toThrow('syntax error in pattern "[abc"');
    expect(() => IgnoreMatcher.parse('!\n')).toThrow('illegal exclusion pattern');
  });
});
