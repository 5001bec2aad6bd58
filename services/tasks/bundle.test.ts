import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.js';
import { errorOf } from '../../test/harness/errors.js';
import { Bundle, runtimeDir } from './bundle.js';

const log = createLogger({ level: 'silent' });

describe('Bundle', () => {
  let dir: string;
  let state: string;
  let root: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrd-bundle-'));
    state = path.join(dir, 'state');
    root = path.join(dir, 'root');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('lays out config.json, rootfs/ and a work link, and refuses to make one twice', () => {
    const b = Bundle.at(state, root, 'ns1', 'c1');
    b.create(Buffer.from('{"process":{}}'));
    expect(fs.readFileSync(b.file('config.json'), 'utf8')).toBe('{"process":{}}');
    expect(fs.statSync(b.file('rootfs')).isDirectory()).toBe(true);
    expect(fs.readlinkSync(b.file('work'))).toBe(path.join(root, runtimeDir, 'ns1', 'c1'));
    expect(fs.statSync(b.file('work')).isDirectory()).toBe(true);
    expect(errorOf(() => b.create(Buffer.from('{}'))).kind).toBe('already-exists');
  });

  it('retires by rename, so a listing after a crash never brings the task back, and finishes the removal', () => {
    const b = Bundle.at(state, root, 'ns1', 'c1');
    b.create(Buffer.from('{}'));
    const retired = b.retire();
    expect(fs.existsSync(b.path)).toBe(false);
    expect(path.basename(retired.path)).toMatch(/^\.deleted-c1-[0-9a-f]{8}$/);
    // The daemon dies here; the next one lists the bundles.
    const other = Bundle.at(state, root, 'ns1', 'c2');
    other.create(Buffer.from('{}'));
    expect(Bundle.list(state, root, log).map((x) => x.path)).toEqual([other.path]);
    expect(fs.existsSync(retired.path)).toBe(false);
    expect(fs.existsSync(path.join(root, runtimeDir, 'ns1', 'c1'))).toBe(false);
    expect(fs.existsSync(other.workDir)).toBe(true);
  });

  it('keeps the work dir of a newer task with the id of a retired one', () => {
    const b = Bundle.at(state, root, 'ns1', 'c1');
    b.create(Buffer.from('{}'));
    b.retire();
    const again = Bundle.at(state, root, 'ns1', 'c1');
    again.create(Buffer.from('{}'));
    expect(Bundle.list(state, root, log).map((x) => x.path)).toEqual([again.path]);
    expect(fs.existsSync(again.workDir)).toBe(true);
    again.remove(log);
    expect(fs.existsSync(again.path)).toBe(false);
    expect(fs.existsSync(again.workDir)).toBe(false);
  });
});
