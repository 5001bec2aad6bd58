import { describe, expect, it } from 'vitest';
import { errorOf } from '../../test/harness/errors.js';
import { sha256 } from '../../lib/digest.js';
import { mediaTypes } from '../../lib/registry/media-types.js';
import {
  checkOciLayout,
  dockerManifestJson,
  ociEntryName,
  ociIndexJson,
  parseDockerManifest,
  repositoriesJson,
  type SavedImage,
} from './formats.js';

const d = (name: string, mediaType: string = mediaTypes.ociManifest) => ({ mediaType, digest: sha256(name), size: name.length });
const json = (b: Buffer) => JSON.parse(b.toString('utf8')) as unknown;

describe('Docker archive manifest.json', () => {
  it('reads entries, RepoTags normalised, a null RepoTags as none', () => {
    const bytes = Buffer.from(
      JSON.stringify([
        { Config: 'abc.json', RepoTags: ['busybox:latest', '127.0.0.1:5000/test/app:v1'], Layers: ['1/layer.tar', '2.tar'] },
        { Config: 'def.json', RepoTags: null, Layers: [] },
      ]),
    );
    expect(parseDockerManifest(bytes)).toEqual([
      { config: 'abc.json', repoTags: ['docker.io/library/busybox:latest', '127.0.0.1:5000/test/app:v1'], layers: ['1/layer.tar', '2.tar'] },
      { config: 'def.json', repoTags: [], layers: [] },
    ]);
  });

  it('refuses what is not a list of images, naming the entry', () => {
    for (const [value, message] of [
      ['{}', /not a list of images/],
      ['[1]', /manifest.json\[0\]: not an object/],
      ['[{"Layers":[]}]', /manifest.json\[0\]: no Config file/],
      ['[{"Config":"c","RepoTags":"x"}]', /RepoTags must be a list/],
      ['[{"Config":"c","Layers":[""]}]', /Layers must be a list of files/],
      ['[{"Config":"c","RepoTags":["Bad:Name"]}]', /manifest.json\[0\]: RepoTags: invalid reference "Bad:Name"/],
      ['[{"Config":"c","RepoTags":["busybox@sha256:' + 'a'.repeat(64) + '"]}]', /is not a tag/],
      ['not json', /not valid JSON/],
    ] as const) {
      const err = errorOf(() => parseDockerManifest(Buffer.from(value)));
      expect(err.kind, value).toBe('invalid-argument');
      expect(err.message).toMatch(message);
    }
  });
});

describe('OCI layout', () => {
  it("names an index.json entry by io.containerd.image.name, else by a ref.name that is a reference; a bare tag names nothing", () => {
    expect(ociEntryName({ ...d('m'), annotations: { 'io.containerd.image.name': 'docker.io/library/busybox:1', 'org.opencontainers.image.ref.name': '1' } }, 'x')).toBe(
      'docker.io/library/busybox:1',
    );
    expect(ociEntryName({ ...d('m'), annotations: { 'org.opencontainers.image.ref.name': 'test/app:v1' } }, 'x')).toBe('docker.io/test/app:v1');
    expect(ociEntryName({ ...d('m'), annotations: { 'org.opencontainers.image.ref.name': 'latest' } }, 'x')).toBeUndefined();
    expect(ociEntryName(d('m'), 'x')).toBeUndefined();
    expect(errorOf(() => ociEntryName({ ...d('m'), annotations: { 'io.containerd.image.name': 'not a name' } }, 'index.json manifests[3]')).message).toMatch(
      /^index.json manifests\[3\]: io.containerd.image.name: invalid reference/,
    );
  });

  it('checks oci-layout', () => {
    checkOciLayout(Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
    expect(errorOf(() => checkOciLayout(Buffer.from('{}'))).message).toMatch(/no imageLayoutVersion/);
    expect(errorOf(() => checkOciLayout(Buffer.from('{"imageLayoutVersion":"2.0.0"}'))).message).toMatch(/"2.0.0" is not supported/);
  });
});

describe('writing an archive', () => {
  const box: SavedImage = {
    root: d('box-index', mediaTypes.ociIndex),
    names: ['docker.io/library/busybox:latest', 'example.com/box:v1', 'docker.io/library/busybox@' + sha256('box-index')],
    config: d('box-config', mediaTypes.ociConfig),
    layers: [d('l1', mediaTypes.ociLayerGzip), d('l2', mediaTypes.ociLayerGzip)],
  };
  const nameless: SavedImage = { root: d('anon'), names: [], config: d('anon-config'), layers: [] };
  const hex = (s: string) => sha256(s).slice(7);

  it('index.json: an entry per name with both annotations (the tag as ref.name), one bare entry for a nameless image', () => {
    expect(json(ociIndexJson([box, nameless]))).toEqual({
      schemaVersion: 2,
      mediaType: mediaTypes.ociIndex,
      manifests: [
        { ...box.root, annotations: { 'io.containerd.image.name': 'docker.io/library/busybox:latest', 'org.opencontainers.image.ref.name': 'latest' } },
        { ...box.root, annotations: { 'io.containerd.image.name': 'example.com/box:v1', 'org.opencontainers.image.ref.name': 'v1' } },
        { ...box.root, annotations: { 'io.containerd.image.name': `docker.io/library/busybox@${sha256('box-index')}` } },
        nameless.root,
      ],
    });
  });

  it('manifest.json and repositories as docker writes them: blob files, familiar tags, the top layer per tag', () => {
    expect(json(dockerManifestJson([box, nameless]))).toEqual([
      { Config: `blobs/sha256/${hex('box-config')}`, RepoTags: ['busybox:latest', 'example.com/box:v1'], Layers: [`blobs/sha256/${hex('l1')}`, `blobs/sha256/${hex('l2')}`] },
      { Config: `blobs/sha256/${hex('anon-config')}`, RepoTags: [], Layers: [] },
    ]);
    expect(json(repositoriesJson([box, nameless]))).toEqual({ busybox: { latest: hex('l2') }, 'example.com/box': { v1: hex('l2') } });
  });
});
