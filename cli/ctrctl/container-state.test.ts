// docker's STATE and STATUS from a container's task and labels.
import { describe, expect, it } from 'vitest';
import { Status, type Process } from '../../gen/containerd/v1/types/task.js';
import type { Container } from '../../gen/containerd/services/containers/v1/containers.js';
import { stateLabels, stateOf, statusText, type ContainerInfo } from './container-state.js';

const now = Date.parse('2024-01-01T00:10:00Z');
const container = (labels: Record<string, string> = {}) => ({ id: 'x', labels }) as unknown as Container;
const task = (status: Status, extra: Partial<Process> = {}) => ({ containerId: 'x', id: 'x', pid: 42, status, exitStatus: 0, exitedAt: undefined, ...extra }) as Process;
const info = (c: Container, t?: Process): ContainerInfo => ({ container: c, task: t, name: 'x' });

describe('container state', () => {
  const started = { [stateLabels.startedAt]: '2024-01-01T00:09:57Z' };
  it('running and paused tasks are Up', () => {
    expect(statusText(stateOf(info(container(started), task(Status.RUNNING))), now)).toBe('Up 3 seconds');
    const paused = stateOf(info(container({ [stateLabels.startedAt]: '2024-01-01T00:08:00Z' }), task(Status.PAUSED)));
    expect(paused).toMatchObject({ status: 'paused', running: true, paused: true, pid: 42 });
    expect(statusText(paused, now)).toBe('Up 2 minutes (Paused)');
  });
  it('a stopped task, or the labels of a deleted one, is Exited', () => {
    const stopped = stateOf(info(container(started), task(Status.STOPPED, { exitStatus: 137, exitedAt: new Date(now - 5000) })));
    expect(statusText(stopped, now)).toBe('Exited (137) 5 seconds ago');
    const kept = stateOf(info(container({ ...started, [stateLabels.exitCode]: '3', [stateLabels.finishedAt]: '2024-01-01T00:00:00Z' })));
    expect(kept).toMatchObject({ status: 'exited', running: false, exitCode: 3 });
    expect(statusText(kept, now)).toBe('Exited (3) 10 minutes ago');
  });
  it('no task and no exit is Created', () => {
    expect(statusText(stateOf(info(container())), now)).toBe('Created');
    expect(stateOf(info(container(), task(Status.CREATED))).status).toBe('created');
  });
});
