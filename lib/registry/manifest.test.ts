import { describe, expect, it } from 'vitest';
import { sha256 } from '../digest.js';
import { errorOf } from '../../test/harness/errors.js';
import { parseManifest, type Descriptor } from './manifest.js';
import { mediaTypes } from './media-types.js';

const config = { mediaType: mediaTypes.ociConfig, digest: sha256('config'), size: 6 };
const layer = { mediaType: mediaTypes.ociLayerGzip, digest: sha256('layer'), size: 5 };

function served(body: unknown, mediaType: string): [Descriptor, Buffer] {
  const bytes = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return [{ mediaType, digest: sha256(bytes), size: bytes.length }, bytes];
}

describe('parseManifest', () => {
  it('reads an OCI manifest, keeping its exact bytes', () => {
    const [desc, bytes] = served({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, config, layers: [layer], annotations: { a: 'b' } }, mediaTypes.ociManifest);
    const m = parseManifest(desc, bytes, 'r@x');
    expect(m.kind).toBe('manifest');
    if (m.kind !== 'manifest') return;
    expect(m.bytes).toBe(bytes);
    expect(m.manifest.config).toEqual(config);
    expect(m.manifest.layers).toEqual([layer]);
    expect(m.manifest.annotations).toEqual({ a: 'b' });
  });

  it('reads an index with platforms, and a Docker manifest list', () => {
    const entry = { mediaType: mediaTypes.ociManifest, digest: sha256('m'), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } };
    const [desc, bytes] = served({ schemaVersion: 2, manifests: [entry] }, mediaTypes.ociIndex);
    const idx = parseManifest(desc, bytes, 'r@x');
    expect(idx.kind === 'index' && idx.index.manifests).toEqual([entry]);
    const [ldesc, lbytes] = served({ schemaVersion: 2, mediaType: mediaTypes.dockerManifestList, manifests: [] }, mediaTypes.dockerManifestList);
    expect(parseManifest(ldesc, lbytes, 'r@x').kind).toBe('index');
  });

  it('tells the kind from the body when the registry sends a generic Content-Type', () => {
    const [desc, bytes] = served({ schemaVersion: 2, manifests: [] }, 'application/json');
    const idx = parseManifest(desc, bytes, 'r@x');
    expect(idx.descriptor.mediaType).toBe(mediaTypes.ociIndex);
    const [d2, b2] = served({ schemaVersion: 2, mediaType: mediaTypes.dockerManifest, config, layers: [] }, 'text/plain');
    expect(parseManifest(d2, b2, 'r@x').descriptor.mediaType).toBe(mediaTypes.dockerManifest);
  });

  it.each([
    ['not JSON', 'nope', mediaTypes.ociManifest, /manifest r@x \(media type ".*"\) is not valid JSON/],
    ['an array', '[]', mediaTypes.ociManifest, /is not a JSON object/],
    ['an unknown media type', { schemaVersion: 2 }, 'application/vnd.example+json', /unknown media type "application\/vnd.example\+json"/],
    ['an unknown generic body', { schemaVersion: 2 }, 'application/json', /unknown media type "application\/json"/],
    ['schema 1', { schemaVersion: 1, name: 'x' }, mediaTypes.dockerSchema1Signed, /schema 1 manifests .* are not supported/],
    ['a body of another type', { schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: [] }, mediaTypes.ociManifest, /declares media type ".*index.*" but was served as ".*manifest.*"/],
    ['schemaVersion 3', { schemaVersion: 3, config, layers: [] }, mediaTypes.ociManifest, /schemaVersion must be 2/],
    ['no config', { schemaVersion: 2, layers: [] }, mediaTypes.ociManifest, /has no "config" descriptor/],
    ['no layers', { schemaVersion: 2, config }, mediaTypes.ociManifest, /has no "layers" array/],
    ['a bad layer digest', { schemaVersion: 2, config, layers: [{ ...layer, digest: 'sha256:xyz' }] }, mediaTypes.ociManifest, /layers\[0\]: invalid digest "sha256:xyz"/],
    ['a negative size', { schemaVersion: 2, config: { ...config, size: -1 }, layers: [] }, mediaTypes.ociManifest, /config: descriptor size must be a non-negative integer, got -1/],
    ['a fractional size', { schemaVersion: 2, config, layers: [{ ...layer, size: 1.5 }] }, mediaTypes.ociManifest, /layers\[0\]: descriptor size/],
    ['no mediaType in a layer', { schemaVersion: 2, config, layers: [{ digest: layer.digest, size: 5 }] }, mediaTypes.ociManifest, /layers\[0\]: descriptor has no mediaType/],
    ['a platform without os', { schemaVersion: 2, manifests: [{ ...layer, platform: { architecture: 'amd64' } }] }, mediaTypes.ociIndex, /manifests\[0\]: platform: platform needs/],
    ['annotations that are not strings', { schemaVersion: 2, config, layers: [], annotations: { a: 1 } }, mediaTypes.ociManifest, /annotations: must be an object of strings/],
  ])('refuses %s as InvalidArgument naming the manifest', (_what, body, mediaType, why) => {
    const [desc, bytes] = served(body, mediaType);
    const err = errorOf(() => parseManifest(desc, bytes, 'r@x'));
    expect(err.kind).toBe('invalid-argument');
    expect(err.message).toContain('manifest r@x');
    expect(err.message).toMatch(why);
  });
});
