// A process's lifecycle as containerd's runc shim models it (pkg/process/*_state.go): created -> running ->
// (paused) -> stopped -> deleted. Every illegal move is an error of the kind containerd returns.
import { CtrdError, failedPrecondition, notFound } from '../lib/errdefs.js';

export type ProcessStatus = 'created' | 'running' | 'paused' | 'stopped' | 'deleted';
export type Operation = 'start' | 'pause' | 'resume' | 'kill' | 'exit' | 'delete' | 'exec' | 'update' | 'io';

/** The status a legal operation leads to; the same status when the operation does not move it. */
const moves: Record<ProcessStatus, Partial<Record<Operation, ProcessStatus>>> = {
  created: { start: 'running', kill: 'created', exit: 'stopped', delete: 'deleted', exec: 'created', update: 'created', io: 'created' },
  running: { pause: 'paused', kill: 'running', exit: 'stopped', exec: 'running', update: 'running', io: 'running' },
  paused: { resume: 'running', kill: 'paused', exit: 'stopped', update: 'paused', io: 'paused' },
  stopped: { delete: 'deleted', io: 'stopped' },
  deleted: {},
};

function refusal(op: Operation, status: ProcessStatus): CtrdError {
  if (op === 'kill') return notFound('process already finished');
  if (op === 'delete' && (status === 'running' || status === 'paused')) return failedPrecondition('cannot delete a running process');
  if (op === 'exit') return failedPrecondition(`process cannot exit in the ${status} state`);
  if (op === 'exec') return failedPrecondition(`cannot exec in a ${status} state`);
  const verb = op === 'io' ? 'use the io of' : op;
  return failedPrecondition(`cannot ${verb} a ${status} process`);
}

export class ProcessState {
  constructor(private current: ProcessStatus = 'created') {}

  get status(): ProcessStatus {
    return this.current;
  }

  /** Throws when op is not legal now; changes nothing. */
  check(op: Operation): void {
    if (moves[this.current][op] === undefined) throw refusal(op, this.current);
  }

  /** Makes the move op leads to, or throws when op is not legal now. */
  apply(op: Operation): ProcessStatus {
    const next = moves[this.current][op];
    if (next === undefined) throw refusal(op, this.current);
    this.current = next;
    return next;
  }
}
