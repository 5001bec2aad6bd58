import { chmodSync, constants as fsConstants, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync, lutimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { native } from '../../lib/native.js';
import { overlayChanges, walkChanges } from './changes.js';

let base: string;
let lower: string;
let upper: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'ctrd-changes-'));
  lower = join(base, 'lower');
  upper = join(base, 'upper');
  mkdirSync(lower);
  mkdirSync(upper);
});

afterEach(() => {
  rmSync(base, { recursive: true, force: true });
});

/** The same file in both trees, same content, times and mode. */
function both(path: string, content: string, mtime = 1_500_000_000): void {
  for (const root of [lower, upper]) {
    writeFileSync(join(root, path), content);
    utimesSync(join(root, path), mtime, mtime);
  }
}

describe('walkChanges', () => {
  it('reports added, modified and deleted paths, depth first, names sorted', async () => {
    for (const root of [lower, upper]) mkdirSync(join(root, 'd'));
    both('same', 'x');
    both('d/same', 'x');
    both('content', 'aaaa');
    writeFileSync(join(upper, 'content'), 'bbbb');
    utimesSync(join(upper, 'content'), 1_500_000_000, 1_500_000_000); // same size and second: content decides
    both('mode', 'x');
    native().lsetxattr(join(upper, 'same'), 'user.new', Buffer.from('1'));
    writeFileSync(join(lower, 'gone'), 'x');
    mkdirSync(join(lower, 'gone-dir/sub'), { recursive: true });
    writeFileSync(join(upper, 'd/new'), 'x');
    mkdirSync(join(upper, 'new-dir/sub'), { recursive: true });
    writeFileSync(join(upper, 'new-dir/sub/f'), 'x');
    for (const root of [lower, upper]) utimesSync(join(root, 'd'), 1, 1);
    utimesSync(join(upper, 'd'), 2, 2);
    symlinkSync('a', join(lower, 'link'));
    symlinkSync('b', join(upper, 'link'));
    for (const root of [lower, upper]) lutimesSync(join(root, 'link'), 1, 1);
    native().mknod(join(upper, 'fifo'), fsConstants.S_IFIFO | 0o644, 0, 0);
    chmodSync(join(upper, 'mode'), 0o600);

    expect(await walkChanges(lower, upper)).toEqual([
      { kind: 'modify', path: 'content' },
      { kind: 'modify', path: 'd' },
      { kind: 'add', path: 'd/new' },
      { kind: 'add', path: 'fifo' },
      { kind: 'delete', path: 'gone' },
      { kind: 'delete', path: 'gone-dir' },
      { kind: 'modify', path: 'link' },
      { kind: 'modify', path: 'mode' },
      { kind: 'add', path: 'new-dir' },
      { kind: 'add', path: 'new-dir/sub' },
      { kind: 'add', path: 'new-dir/sub/f' },
      { kind: 'modify', path: 'same' },
    ]);
  });

  it('trusts sub-second times: same size and time means the same file', async () => {
    both('f', 'aaaa', 1_500_000_000.5);
    writeFileSync(join(upper, 'f'), 'bbbb');
    utimesSync(join(upper, 'f'), 1_500_000_000.5, 1_500_000_000.5);
    expect(await walkChanges(lower, upper)).toEqual([]);
  });
});

describe('overlayChanges', () => {
  it('reads whiteouts and opaque directories from an upperdir', async () => {
    mkdirSync(join(upper, 'opaque'));
    native().lsetxattr(join(upper, 'opaque'), 'trusted.overlay.opaque', Buffer.from('y'));
    writeFileSync(join(upper, 'opaque/f'), 'x');
    native().mknod(join(upper, 'gone'), fsConstants.S_IFCHR, 0, 0);
    native().mknod(join(upper, 'null'), fsConstants.S_IFCHR | 0o666, 1, 3);
    expect(await overlayChanges(upper)).toEqual([
      { kind: 'delete', path: 'gone' },
      { kind: 'modify', path: 'null' },
      { kind: 'modify', path: 'opaque' },
      { kind: 'opaque', path: 'opaque' },
      { kind: 'modify', path: 'opaque/f' },
    ]);
  });

  it('gives up on what only the merged view resolves: redirected directories, metacopy', async () => {
    mkdirSync(join(upper, 'moved'));
    native().lsetxattr(join(upper, 'moved'), 'trusted.overlay.redirect', Buffer.from('/orig'));
    expect(await overlayChanges(upper)).toBeUndefined();
    rmSync(join(upper, 'moved'), { recursive: true });
    writeFileSync(join(upper, 'meta'), '');
    native().lsetxattr(join(upper, 'meta'), 'trusted.overlay.metacopy', Buffer.alloc(0));
    expect(await overlayChanges(upper)).toBeUndefined();
  });
});
