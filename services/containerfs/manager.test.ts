import { describe, expect, it } from 'vitest';
import type { Container } from '../containers/types.js';
import { containerRunConfig } from './manager.js';

const container = (process: object): Container => ({
  id: 'c',
  labels: {},
  image: 'img',
  runtime: { name: 'io.containerd.runc.v2', options: undefined },
  spec: { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec', value: Buffer.from(JSON.stringify({ process })) },
  snapshotter: 'overlayfs',
  snapshotKey: 'c',
  createdAt: new Date(),
  updatedAt: new Date(),
  extensions: {},
});

describe('containerRunConfig (what docker commit keeps of the container)', () => {
  const image = { Entrypoint: ['/entry'], Cmd: ['default'], Env: ['PATH=/bin'], Labels: { a: 'b' } };

  it('takes the args past the entrypoint as Cmd, and the env and working directory', () => {
    const c = containerRunConfig(image, container({ args: ['/entry', 'run', 'x'], env: ['PATH=/bin', 'FOO=1'], cwd: '/srv' }));
    expect(c).toEqual({ Entrypoint: ['/entry'], Cmd: ['run', 'x'], Env: ['PATH=/bin', 'FOO=1'], WorkingDir: '/srv', Labels: { a: 'b' } });
  });

  it('a replaced entrypoint becomes the first arg', () => {
    const c = containerRunConfig(image, container({ args: ['sh', '-c', 'echo'], env: [], cwd: '/' }));
    expect([c.Entrypoint, c.Cmd]).toEqual([['sh'], ['-c', 'echo']]);
  });

  it('a spec without a process leaves the image config as it is', () => {
    expect(containerRunConfig(image, container(undefined as unknown as object))).toEqual(image);
  });
});
