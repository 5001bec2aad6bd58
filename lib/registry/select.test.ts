import { describe, expect, it } from 'vitest';
import { sha256 } from '../digest.js';
import { errorOf } from '../../test/harness/errors.js';
import type { Descriptor, ImageIndex } from './manifest.js';
import { mediaTypes } from './media-types.js';
import { onlyPlatform, type Platform } from './platform.js';
import { platformCandidates, selectPlatform } from './select.js';

const entry = (name: string, platform?: Platform, mediaType: string = mediaTypes.ociManifest): Descriptor => ({
  mediaType,
  digest: sha256(name),
  size: 100,
  ...(platform ? { platform } : {}),
  annotations: { name },
});

const index: ImageIndex = {
  schemaVersion: 2,
  manifests: [
    entry('attestation', { os: 'unknown', architecture: 'unknown' }),
    entry('no-platform'),
    entry('arm64', { os: 'linux', architecture: 'arm64', variant: 'v8' }),
    entry('386', { os: 'linux', architecture: '386' }),
    entry('amd64', { os: 'linux', architecture: 'amd64' }),
    entry('a-config', { os: 'linux', architecture: 'amd64' }, mediaTypes.ociConfig),
    entry('windows', { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763' }),
  ],
};

const names = (ds: Descriptor[]) => ds.map((d) => d.annotations!.name);

describe('selectPlatform', () => {
  it('prefers the exact platform, then compatible ones, entries without a platform last', () => {
    expect(names(platformCandidates(index, onlyPlatform('linux/amd64')))).toEqual(['amd64', '386', 'no-platform']);
    expect(selectPlatform(index, onlyPlatform('linux/amd64'), 'x').annotations!.name).toBe('amd64');
    expect(selectPlatform(index, onlyPlatform('linux/arm64'), 'x').annotations!.name).toBe('arm64');
    expect(selectPlatform(index, onlyPlatform('windows/amd64'), 'x').annotations!.name).toBe('windows');
  });

  it('fails NotFound naming the index, the platform wanted and those it has', () => {
    const only: ImageIndex = { schemaVersion: 2, manifests: [entry('arm64', { os: 'linux', architecture: 'arm64' })] };
    const err = errorOf(() => selectPlatform(only, onlyPlatform('linux/s390x'), 'reg/x@sha256:1'));
    expect(err.kind).toBe('not-found');
    expect(err.message).toBe('no match for platform in manifest reg/x@sha256:1: want linux/s390x, have linux/arm64');
  });
});
