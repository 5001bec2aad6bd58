import { describe, expect, it } from 'vitest';
import { errorOf } from '../../test/harness/errors.js';
import { blobPathDigest, entryPath, linkTarget } from './paths.js';

describe('archive paths', () => {
  it('cleans entry names into relative paths inside the archive', () => {
    expect(entryPath('./blobs//sha256/abc')).toBe('blobs/sha256/abc');
    expect(entryPath('manifest.json')).toBe('manifest.json');
    expect(entryPath('blobs/sha256/')).toBe('blobs/sha256');
    expect(entryPath('a/./b')).toBe('a/b');
  });

  it('refuses traversal, absolute paths, NUL bytes and empty names, naming the entry', () => {
    for (const [name, message] of [
      ['../x', /archive entry "..\/x": the path leaves the archive/],
      ['blobs/../../x', /archive entry "blobs\/..\/..\/x": the path leaves the archive/],
      // A ".." that would stay inside is refused too: an archive has no reason to write one.
      ['a/../b', /the path leaves the archive/],
      ['/etc/passwd', /archive entry "\/etc\/passwd": absolute paths are not allowed/],
      ['a\0b', /NUL byte/],
      ['./', /empty path/],
    ] as const) {
      const err = errorOf(() => entryPath(name));
      expect(err.kind, name).toBe('invalid-argument');
      expect(err.message).toMatch(message);
    }
  });

  it("resolves a symlink against its own directory and a hardlink against the archive's root, never outside", () => {
    expect(linkTarget('d8c0/layer.tar', '../d382.tar', 'symlink')).toBe('d382.tar');
    expect(linkTarget('a/b/layer.tar', 'c.tar', 'symlink')).toBe('a/b/c.tar');
    expect(linkTarget('x/layer.tar', 'blobs/sha256/abc', 'link')).toBe('blobs/sha256/abc');
    for (const [path, target, kind] of [
      ['x/layer.tar', '../../etc/shadow', 'symlink'],
      ['layer.tar', '../x', 'symlink'],
      ['x/layer.tar', '/etc/shadow', 'symlink'],
      ['x/layer.tar', '../y', 'link'],
      ['x/layer.tar', '', 'link'],
    ] as const) {
      const err = errorOf(() => linkTarget(path, target, kind));
      expect(err.kind, `${path} -> ${target}`).toBe('invalid-argument');
      expect(err.message).toContain(`archive entry "${path}"`);
    }
  });

  it('reads the digest an OCI layout blob path names', () => {
    expect(blobPathDigest('blobs/sha256/abc')).toBe('sha256:abc');
    expect(blobPathDigest('blobs/sha512/abc')).toBe('sha512:abc');
    expect(blobPathDigest('abc.tar')).toBeUndefined();
    expect(blobPathDigest('blobs/sha256/abc/def')).toBeUndefined();
  });
});
