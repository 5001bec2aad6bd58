// The push renderer fed a recorded Push stream: docker's lines without a terminal, in-place redraws with one.
import { describe, expect, it } from 'vitest';
import { PushState, type PushBlobProgress, type PushResponse } from '../../gen/ctrd/services/images/v1/images.js';
import { parseReference } from '../../lib/registry/reference.js';
import { PushRenderer } from './push.js';

const layer = (c: string, size: number) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${c.repeat(64)}`, size, annotations: {} });
const base = layer('a', 3_400_000);
const top = layer('b', 1_200);
const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'c'.repeat(64)}`, size: 900, annotations: {} };

const blob = (descriptor: typeof base, kind: string, state: PushState, offset = 0, mountedFrom = ''): PushBlobProgress => ({
  descriptor,
  kind,
  state,
  offset,
  total: descriptor.size,
  mountedFrom,
});
const { PREPARING, PUSHING, PUSHED, MOUNTED } = {
  PREPARING: PushState.PUSH_STATE_PREPARING,
  PUSHING: PushState.PUSH_STATE_PUSHING,
  PUSHED: PushState.PUSH_STATE_PUSHED,
  MOUNTED: PushState.PUSH_STATE_MOUNTED,
};
const progress = (...blobs: PushBlobProgress[]): PushResponse => ({ progress: { blobs } });

/** As ctrd streams it: the blobs in manifest order (config, base layer, top layer), every one in every message. */
const recorded: PushResponse[] = [
  progress(blob(config, 'config', PREPARING), blob(base, 'layer', PREPARING), blob(top, 'layer', PREPARING)),
  progress(blob(config, 'config', PUSHING), blob(base, 'layer', PUSHING, 0), blob(top, 'layer', MOUNTED, 1_200, 'team/app')),
  progress(blob(config, 'config', PUSHED, 900), blob(base, 'layer', PUSHING, 1_000_000), blob(top, 'layer', MOUNTED, 1_200, 'team/app')),
  progress(blob(config, 'config', PUSHED, 900), blob(base, 'layer', PUSHED, 3_400_000), blob(top, 'layer', MOUNTED, 1_200, 'team/app')),
];
const result = { reference: '127.0.0.1:5000/team/copy:v2', tag: 'v2', digest: `sha256:${'e'.repeat(64)}`, size: 709 };

function render(tty: boolean): string {
  let out = '';
  const r = new PushRenderer({ write: (t: string) => (out += t) }, parseReference(result.reference), { tty, columns: 120 });
  for (const res of recorded) r.update(res);
  r.finish(result);
  return out;
}

describe('PushRenderer', () => {
  it("without a terminal: the header, layers only, top first, one line per state change, docker's digest line", () => {
    expect(render(false)).toBe(
      [
        'The push refers to repository [127.0.0.1:5000/team/copy]',
        'bbbbbbbbbbbb: Preparing',
        'aaaaaaaaaaaa: Preparing',
        'bbbbbbbbbbbb: Mounted from team/app',
        'aaaaaaaaaaaa: Pushing',
        'aaaaaaaaaaaa: Pushed',
        `v2: digest: ${result.digest} size: 709`,
        '',
      ].join('\n'),
    );
  });

  it('on a terminal: each layer line is redrawn in place, with a bar while pushing', () => {
    const out = render(true);
    // The base layer is the second line of two: one up to reach it.
    expect(out).toContain('\x1b[1A\r\x1b[2Kaaaaaaaaaaaa: Pushing [==============>                                    ]      1MB/3.4MB\x1b[1B\r');
    expect(out).toContain('\x1b[2A\r\x1b[2Kbbbbbbbbbbbb: Mounted from team/app\x1b[2B\r');
    expect(out.endsWith(`\x1b[1A\r\x1b[2Kaaaaaaaaaaaa: Pushed\x1b[1B\rv2: digest: ${result.digest} size: 709\n`)).toBe(true);
  });
});
