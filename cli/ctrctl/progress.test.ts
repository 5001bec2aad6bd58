// The pull renderer fed a recorded Pull stream: docker's lines without a terminal, in-place redraws with one.
import { describe, expect, it } from 'vitest';
import { BlobState, type BlobProgress, type ImageSummary, type PullResponse } from '../../gen/ctrd/services/images/v1/images.js';
import { parseReference } from '../../lib/registry/reference.js';
import { progressBar, PullRenderer } from './progress.js';

const hex = (c: string) => c.repeat(64);
const manifest = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${hex('e')}`, size: 480, annotations: {} };
const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${hex('c')}`, size: 900, annotations: {} };
const layerA = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:a1b2c3d4e5f6${'0'.repeat(52)}`, size: 3_400_000, annotations: {} };
const layerB = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:0f9e8d7c6b5a${'1'.repeat(52)}`, size: 1_200, annotations: {} };

type Desc = typeof manifest;
const blob = (descriptor: Desc, kind: string, state: BlobState, offset = 0): BlobProgress => ({ descriptor, kind, state, offset, total: descriptor.size });
const progress = (...blobs: BlobProgress[]): PullResponse => ({ progress: { blobs } });

const { WAITING, DOWNLOADING, DOWNLOADED, EXTRACTING, EXTRACTED, EXISTS } = {
  WAITING: BlobState.BLOB_STATE_WAITING,
  DOWNLOADING: BlobState.BLOB_STATE_DOWNLOADING,
  DOWNLOADED: BlobState.BLOB_STATE_DOWNLOADED,
  EXTRACTING: BlobState.BLOB_STATE_EXTRACTING,
  EXTRACTED: BlobState.BLOB_STATE_EXTRACTED,
  EXISTS: BlobState.BLOB_STATE_EXISTS,
};

/** A pull as ctrd streams it: every message lists every blob seen so far. */
const recorded: PullResponse[] = [
  progress(blob(manifest, 'manifest', DOWNLOADED, 480)),
  progress(blob(manifest, 'manifest', DOWNLOADED, 480), blob(config, 'config', DOWNLOADING)),
  progress(blob(manifest, 'manifest', DOWNLOADED, 480), blob(config, 'config', DOWNLOADED, 900), blob(layerA, 'layer', WAITING), blob(layerB, 'layer', EXISTS)),
  progress(blob(manifest, 'manifest', DOWNLOADED, 480), blob(config, 'config', DOWNLOADED, 900), blob(layerA, 'layer', DOWNLOADING, 1_000_000), blob(layerB, 'layer', EXISTS)),
  progress(blob(manifest, 'manifest', DOWNLOADED, 480), blob(config, 'config', DOWNLOADED, 900), blob(layerA, 'layer', DOWNLOADING, 2_500_000), blob(layerB, 'layer', EXISTS)),
  progress(blob(manifest, 'manifest', DOWNLOADED, 480), blob(config, 'config', DOWNLOADED, 900), blob(layerA, 'layer', DOWNLOADED, 3_400_000), blob(layerB, 'layer', EXTRACTED)),
  progress(blob(manifest, 'manifest', DOWNLOADED, 480), blob(config, 'config', DOWNLOADED, 900), blob(layerA, 'layer', EXTRACTING, 3_400_000), blob(layerB, 'layer', EXTRACTED)),
  progress(blob(manifest, 'manifest', DOWNLOADED, 480), blob(config, 'config', DOWNLOADED, 900), blob(layerA, 'layer', EXTRACTED, 3_400_000), blob(layerB, 'layer', EXTRACTED)),
];

const image: ImageSummary = {
  name: '127.0.0.1:5000/test/busybox:latest',
  target: manifest,
  id: config.digest,
  created: new Date('2024-01-01T00:00:00Z'),
  size: 3_402_580,
  unpackedSize: 0,
  platform: 'linux/amd64',
  labels: {},
  repoDigest: `127.0.0.1:5000/test/busybox@${manifest.digest}`,
};

function render(messages: readonly PullResponse[], ref: string, opts: { tty: boolean; columns?: number }): string {
  let out = '';
  const r = new PullRenderer({ write: (s: string) => (out += s) }, parseReference(ref), opts);
  for (const m of messages) r.update(m);
  r.finish(image);
  return out;
}

describe('pull progress', () => {
  it('without a terminal: one plain line per layer state change, then the summary', () => {
    const out = render(recorded, '127.0.0.1:5000/test/busybox', { tty: false });
    expect(out).not.toMatch(/\x1b/);
    expect(out.split('\n')).toEqual([
      'latest: Pulling from test/busybox',
      'a1b2c3d4e5f6: Waiting',
      '0f9e8d7c6b5a: Already exists',
      'a1b2c3d4e5f6: Downloading',
      'a1b2c3d4e5f6: Download complete',
      'a1b2c3d4e5f6: Extracting',
      'a1b2c3d4e5f6: Pull complete',
      `Digest: ${manifest.digest}`,
      'Status: Downloaded newer image for 127.0.0.1:5000/test/busybox:latest',
      '127.0.0.1:5000/test/busybox:latest',
      '',
    ]);
  });

  it('says the image is up to date when nothing of it was downloaded, and names docker.io images familiarly', () => {
    const again = [
      progress(blob(manifest, 'manifest', EXISTS, 480), blob(config, 'config', EXISTS, 900), blob(layerA, 'layer', EXISTS), blob(layerB, 'layer', EXISTS)),
      progress(blob(manifest, 'manifest', EXISTS, 480), blob(config, 'config', EXISTS, 900), blob(layerA, 'layer', EXTRACTED), blob(layerB, 'layer', EXISTS)),
    ];
    const out = render(again, 'busybox', { tty: false });
    expect(out.split('\n')).toEqual([
      'latest: Pulling from library/busybox',
      'a1b2c3d4e5f6: Already exists',
      '0f9e8d7c6b5a: Already exists',
      `Digest: ${manifest.digest}`,
      'Status: Image is up to date for busybox:latest',
      'docker.io/library/busybox:latest',
      '',
    ]);
  });

  it('a layer there already but unpacked now (another namespace had the blob) makes the image new here', () => {
    const out = render(
      [
        progress(blob(manifest, 'manifest', EXISTS, 480), blob(config, 'config', EXISTS, 900), blob(layerA, 'layer', EXISTS)),
        progress(blob(manifest, 'manifest', EXISTS, 480), blob(config, 'config', EXISTS, 900), blob(layerA, 'layer', EXTRACTING)),
        progress(blob(manifest, 'manifest', EXISTS, 480), blob(config, 'config', EXISTS, 900), blob(layerA, 'layer', EXTRACTED)),
      ],
      'busybox',
      { tty: false },
    );
    expect(out.split('\n').slice(1, 5)).toEqual([
      'a1b2c3d4e5f6: Already exists',
      'a1b2c3d4e5f6: Extracting',
      'a1b2c3d4e5f6: Pull complete',
      `Digest: ${manifest.digest}`,
    ]);
    expect(out).toContain('Status: Downloaded newer image for busybox:latest\n');
  });

  it('a digest reference heads the output with its digest', () => {
    const out = render([], `busybox@${manifest.digest}`, { tty: false });
    expect(out.split('\n')[0]).toBe(`${manifest.digest}: Pulling from library/busybox`);
    expect(out).toContain(`Status: Image is up to date for busybox@${manifest.digest}\ndocker.io/library/busybox@${manifest.digest}\n`);
  });

  it('on a terminal: each layer keeps its line, redrawn in place with the progress bar', () => {
    const out = render(recorded, '127.0.0.1:5000/test/busybox', { tty: true, columns: 120 });
    const bar = (n: number) => `[${'='.repeat(n)}>${' '.repeat(50 - n)}]`;
    expect(out).toBe(
      [
        'latest: Pulling from test/busybox\n',
        'a1b2c3d4e5f6: Waiting\n',
        '0f9e8d7c6b5a: Already exists\n',
        // layer A is two lines up from the cursor (which sits below the last layer line)
        `\x1b[2A\r\x1b[2Ka1b2c3d4e5f6: Downloading ${bar(14)}      1MB/3.4MB\x1b[2B\r`,
        `\x1b[2A\r\x1b[2Ka1b2c3d4e5f6: Downloading ${bar(36)}    2.5MB/3.4MB\x1b[2B\r`,
        '\x1b[2A\r\x1b[2Ka1b2c3d4e5f6: Download complete\x1b[2B\r',
        `\x1b[2A\r\x1b[2Ka1b2c3d4e5f6: Extracting ${bar(50)}    3.4MB/3.4MB\x1b[2B\r`,
        '\x1b[2A\r\x1b[2Ka1b2c3d4e5f6: Pull complete\x1b[2B\r',
        `Digest: ${manifest.digest}\n`,
        'Status: Downloaded newer image for 127.0.0.1:5000/test/busybox:latest\n',
        '127.0.0.1:5000/test/busybox:latest\n',
      ].join(''),
    );
  });

  it('on a narrow terminal the bar is left out (docker draws it above 110 columns) and lines are cut to fit', () => {
    const out = render(recorded.slice(0, 4), 'test/busybox', { tty: true, columns: 80 });
    expect(out).toContain('a1b2c3d4e5f6: Downloading      1MB/3.4MB\x1b[2B\r');
    const narrow = render(recorded.slice(0, 4), 'test/busybox', { tty: true, columns: 20 });
    expect(narrow).toContain('\x1b[2Ka1b2c3d4e5f6: Downl\x1b[2B\r');
  });

  it('draws docker progress bars', () => {
    expect(progressBar(0, 0, 200)).toBe('');
    expect(progressBar(1500, 0, 200)).toBe('   1.5kB');
    expect(progressBar(0, 1000, 200)).toBe(`[>${' '.repeat(50)}]       0B/1kB`);
    expect(progressBar(1000, 1000, 200)).toBe(`[${'='.repeat(50)}>]      1kB/1kB`);
    expect(progressBar(2000, 1000, 200)).toBe(`[${'='.repeat(50)}>]      2kB`);
    expect(progressBar(1_234_567, 3_456_789, 100)).toBe(' 1.235MB/3.457MB');
  });
});
