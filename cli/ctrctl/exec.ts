// ctrctl exec [-i] [-t] [-d] [-e K=V]... [-w DIR] [-u USER[:GROUP]] CONTAINER CMD...: a new process in a running
// container (Tasks.Exec with an OCI Process as JSON), its exit status passed through as docker exec does.
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { failedPrecondition, invalidArgument } from '../../lib/errdefs.js';
import { unary } from '../../lib/grpc/client.js';
import type { OciProcess } from '../../lib/oci/spec.js';
import { connect, globalFlags } from './connect.js';
import { readFileInRoot } from '../../services/diff/resolve-in-root.js';
import { findContainer, processTypeUrl, specOf, stateOf } from './container-state.js';
import { attachUri } from '../../lib/attach-frames.js';
import { AttachSession } from './attach.js';
import { statusOfStartError, waitProcess } from './lifecycle.js';
import { ExitStatus, errorMessage } from './output.js';
import { runtimeClients, type RuntimeClients } from './runtime-clients.js';
import { mergeEnv, parseEnvFlag } from './spec.js';
import { resolveUser, userNeedsFiles } from '../../lib/oci/user.js';
import { collect } from './flags.js';

interface ExecOptions {
  interactive?: boolean;
  tty?: boolean;
  detach?: boolean;
  env: string[];
  workdir?: string;
  user?: string;
  detachKeys?: string;
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
  // The pty has our size from the start (as docker's ConsoleSize): the process may look before a resize comes.
  if (o.tty) proc.consoleSize = { height: process.stdout.rows || 24, width: process.stdout.columns || 80 };
  else delete proc.consoleSize;
  const execId = randomBytes(16).toString('hex');
  const spec = { typeUrl: processTypeUrl, value: Buffer.from(JSON.stringify(proc)) };

  if (o.detach) {
    await unary(rc.tasks, rc.tasks.exec, { containerId: id, execId, stdin: '', stdout: '', stderr: '', terminal: false, spec });
    await unary(rc.tasks, rc.tasks.start, { containerId: id, execId });
    return 0;
  }

  // stdio through ctrd's Streams.Attach (attach:// keeps the output until we are attached): no FIFOs.
  const uri = attachUri(Boolean(o.interactive));
  await unary(rc.tasks, rc.tasks.exec, { containerId: id, execId, stdin: '', stdout: uri, stderr: o.tty ? '' : uri, terminal: Boolean(o.tty), spec });
  try {
    await unary(rc.tasks, rc.tasks.start, { containerId: id, execId });
  } catch (err) {
    await unary(rc.tasks, rc.tasks.deleteProcess, { containerId: id, execId }).catch(() => undefined);
    process.stderr.write(`ctrctl: ${errorMessage(err)}\n`);
    return statusOfStartError(err);
  }
  let session: AttachSession;
  try {
    session = await AttachSession.open(
      rc,
      id,
      { stdin: Boolean(o.interactive), tty: Boolean(o.tty), detachKeys: o.detachKeys ?? '', closeStdinOnEnd: true, sigProxy: true },
      execId,
    );
  } catch (err) {
    // Nobody would see it: the process goes.
    await unary(rc.tasks, rc.tasks.kill, { containerId: id, execId, signal: 9, all: false }).catch(() => undefined);
    await waitProcess(rc, id, execId, 5_000).catch(() => undefined);
    await unary(rc.tasks, rc.tasks.deleteProcess, { containerId: id, execId }).catch(() => undefined);
    throw err;
  }
  try {
    session.begin();
    const end = await session.done;
    // Detached with the detach keys: the process runs on.
    if ('detached' in end) return 0;
    await unary(rc.tasks, rc.tasks.deleteProcess, { containerId: id, execId }).catch(() => undefined);
    return end.exitStatus;
  } finally {
    session.close();
  }
}


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
    .option('--detach-keys <keys>', 'override the key sequence for detaching a container (default ctrl-p,ctrl-q)')
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
