// ctrctl exec [-i] [-t] [-d] [-e K=V]... [-w DIR] [-u USER[:GROUP]] CONTAINER CMD...: a new process in a running
// container (Tasks.Exec with an OCI Process as JSON), its exit status passed through as docker exec does.
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { failedPrecondition, invalidArgument } from '../../lib/errdefs.js';
import { unary } from '../../lib/grpc/client.js';
import type { OciProcess } from '../../lib/oci/spec.js';
import { connect, globalFlags } from './connect.js';
import { readFileInRoot } from './container-create.js';
import { findContainer, processTypeUrl, specOf, stateOf } from './container-state.js';
import { proxySignals } from './attach.js';
import { followTerminalSize, statusOfStartError, waitProcess } from './lifecycle.js';
import { ExitStatus, errorMessage } from './output.js';
import { runtimeClients, type RuntimeClients } from './runtime-clients.js';
import { mergeEnv, parseEnvFlag, resolveUser, userNeedsFiles } from './spec.js';
import { Fifos, rawTerminal } from './stdio.js';

interface ExecOptions {
  interactive?: boolean;
  tty?: boolean;
  detach?: boolean;
  env: string[];
  workdir?: string;
  user?: string;
}

async function execIn(rc: RuntimeClients, input: string, args: string[], o: ExecOptions): Promise<number> {
  const info = await findContainer(rc, input);
  const id = info.container.id;
  const state = stateOf(info);
  if (!state.running) throw failedPrecondition(`container ${id} is not running`);
  if (state.paused) throw failedPrecondition(`container ${id} is paused, unpause the container before exec`);
  const base = specOf(info.container).process;
  if (o.workdir !== undefined && !o.workdir.startsWith('/')) throw invalidArgument(`the working directory '${o.workdir}' is invalid, it needs to be an absolute path`);
  let user = base?.user ?? { uid: 0, gid: 0 };
  if (o.user !== undefined) {
    // The running container's own files, through its root in /proc.
    const root = `/proc/${state.pid}/root`;
    const needs = userNeedsFiles(o.user);
    user = resolveUser(o.user, needs ? await readFileInRoot(root, 'etc/passwd') : '', needs ? await readFileInRoot(root, 'etc/group') : '');
  }
  const env = o.env.map((e) => parseEnvFlag(e)).filter((e): e is string => e !== undefined);
  const proc: OciProcess = {
    ...base,
    terminal: Boolean(o.tty),
    user,
    args,
    env: mergeEnv(base?.env ?? [], o.tty ? ['TERM=xterm'] : [], env),
    cwd: o.workdir ?? base?.cwd ?? '/',
  };
  const execId = randomBytes(16).toString('hex');
  const spec = { typeUrl: processTypeUrl, value: Buffer.from(JSON.stringify(proc)) };

  if (o.detach) {
    await unary(rc.tasks, rc.tasks.exec, { containerId: id, execId, stdin: '', stdout: '', stderr: '', terminal: false, spec });
    await unary(rc.tasks, rc.tasks.start, { containerId: id, execId });
    return 0;
  }

  const fifos = Fifos.create(execId, { stdin: Boolean(o.interactive), tty: Boolean(o.tty) });
  const cleanups: Array<() => void> = [];
  try {
    fifos.attach({
      in: o.interactive ? process.stdin : undefined,
      out: process.stdout,
      err: process.stderr,
      onInputEnd: () => void unary(rc.tasks, rc.tasks.closeIo, { containerId: id, execId, stdin: true }).catch(() => undefined),
    });
    await unary(rc.tasks, rc.tasks.exec, {
      containerId: id,
      execId,
      stdin: fifos.stdin,
      stdout: fifos.stdout,
      stderr: fifos.stderr,
      terminal: Boolean(o.tty),
      spec,
    });
    const exited = waitProcess(rc, id, execId);
    exited.catch(() => undefined);
    try {
      await unary(rc.tasks, rc.tasks.start, { containerId: id, execId });
    } catch (err) {
      await unary(rc.tasks, rc.tasks.deleteProcess, { containerId: id, execId }).catch(() => undefined);
      process.stderr.write(`ctrctl: ${errorMessage(err)}\n`);
      return statusOfStartError(err);
    }
    fifos.processStarted();
    if (o.tty) {
      cleanups.push(rawTerminal(Boolean(o.interactive)));
      cleanups.push(followTerminalSize(rc, id, execId));
    } else cleanups.push(proxySignals(rc, id, execId));
    const res = (await exited)!;
    // The shim closes its ends of the FIFOs when the process is deleted: then ours reach EOF.
    await unary(rc.tasks, rc.tasks.deleteProcess, { containerId: id, execId }).catch(() => undefined);
    await fifos.done();
    return res.exitStatus;
  } finally {
    for (const undo of cleanups.reverse()) undo();
    fifos.dispose();
    if (o.interactive) process.stdin.destroy();
  }
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function addExecCommand(program: Command): void {
  program
    .command('exec')
    .description('run a command in a running container')
    .argument('<container>', 'name or ID')
    .argument('<command...>', 'the command and its arguments')
    .option('-i, --interactive', 'keep STDIN open')
    .option('-t, --tty', 'allocate a pseudo-TTY')
    .option('-d, --detach', 'run the command in the background')
    .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', collect, [])
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user>', 'username or UID (format: <name|uid>[:<group|gid>])')
    .passThroughOptions()
    .action(async (input: string, args: string[], o: ExecOptions, command: Command) => {
      const c = await connect(globalFlags(command));
      let code: number;
      try {
        code = await execIn(runtimeClients(c), input, args, o);
      } finally {
        c.close();
      }
      if (code !== 0) throw new ExitStatus(code);
    });
}
