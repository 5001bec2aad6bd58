// ctrctl login and logout, as docker's: credentials are checked by the daemon against the registry (its
// Login call), then kept in Docker's config file ($DOCKER_CONFIG/config.json or ~/.docker/config.json,
// "auths": {"<server>": {"auth": base64("user:password")}}, mode 0600, every other key kept), where docker,
// skopeo, ctrctl push and the daemon itself find them.
//   login [-u USER] [-p PASS | --password-stdin] [SERVER]      logout [SERVER]
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { errnoCode, failedPrecondition, invalidArgument, kindOf } from '../../lib/errdefs.js';
import { unary } from '../../lib/grpc/client.js';
import { dockerConfigCredentials, dockerConfigDir, type Credentials } from '../../lib/registry/credentials.js';
import { loginRegistry } from '../../lib/registry/login.js';
import { defaultDomain } from '../../lib/registry/reference.js';
import { withClients } from './connect.js';
import { print } from './output.js';

/** docker.io's entry is keyed as docker has always keyed it. */
export const dockerHubConfigKey = 'https://index.docker.io/v1/';

/** The key of a registry's entry in "auths": docker.io's URL, else the host[:port] (docker's ConvertToHostname). */
export const configKey = (registry: string) => (registry === defaultDomain ? dockerHubConfigKey : registry);

const configFile = () => join(dockerConfigDir(), 'config.json');

interface DockerConfig {
  auths?: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
}

function readConfig(file: string): DockerConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return {};
    throw err;
  }
  if (text.trim() === '') return {};
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`${file}: not valid JSON: ${(err as Error).message}`, err);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw invalidArgument(`${file}: not a JSON object`);
  const c = config as DockerConfig;
  if (c.auths !== undefined && (typeof c.auths !== 'object' || c.auths === null || Array.isArray(c.auths))) {
    throw invalidArgument(`${file}: "auths" is not an object`);
  }
  return c;
}

/** Writes the whole file anew beside the old one and renames it over: a crash leaves the old or the new. */
function writeConfig(file: string, config: DockerConfig): void {
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, `${JSON.stringify(config, null, '\t')}\n`, { mode: 0o600 });
    chmodSync(tmp, 0o600); // whatever the umask made of it
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** The entries of "auths" that name the registry ("127.0.0.1:5000", "http://127.0.0.1:5000/v2/"...). */
function keysFor(config: DockerConfig, registry: string): string[] {
  return Object.keys(config.auths ?? {}).filter((k) => {
    try {
      return loginRegistry(k) === registry;
    } catch {
      return false;
    }
  });
}

// ---- prompts ----

/**
 * Asks for what is missing on the terminal, the password without echo. One readline for both questions, so
 * that a password typed ahead is not lost between them.
 */
async function promptCredentials(username: string, password: string, suggested: string | undefined): Promise<Credentials> {
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  const ask = (question: string, secret: boolean) =>
    new Promise<string>((resolve, reject) => {
      rl.once('SIGINT', () => reject(failedPrecondition('login canceled')));
      rl.question(question, (answer) => {
        if (secret) process.stderr.write('\n');
        muted = false;
        resolve(answer);
      });
      muted = secret; // after the question is written
    });
  try {
    if (username === '') username = (await ask(`Username${suggested ? ` (${suggested})` : ''}: `, false)).trim() || (suggested ?? '');
    if (password === '') password = await ask('Password: ', true);
    return { username, password };
  } finally {
    rl.close();
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  // docker trims the one line ending a here-string or echo leaves.
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

// ---- login ----

interface LoginFlags {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
}

function addLoginCommand(program: Command): void {
  program
    .command('login')
    .description('log in to a registry: check the credentials and store them in the docker config file')
    .argument('[server]', 'registry host[:port] (default: docker.io)')
    .option('-u, --username <username>', 'username')
    .option('-p, --password <password>', 'password (visible to other users of the machine: prefer --password-stdin)')
    .option('--password-stdin', 'take the password from stdin')
    .action(async (server: string | undefined, opts: LoginFlags, command: Command) => {
      if (opts.password !== undefined && opts.passwordStdin) throw invalidArgument('--password and --password-stdin are mutually exclusive');
      if (opts.passwordStdin && !opts.username) throw invalidArgument('Must provide --username with --password-stdin');
      if (opts.password !== undefined) process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
      const registry = loginRegistry(server ?? '');
      const file = configFile();
      readConfig(file); // a malformed file is reported before anything is asked or checked

      let username = opts.username ?? '';
      let password = opts.password ?? '';
      if (opts.passwordStdin) password = await readStdin();
      const stored = username === '' && password === '' ? await dockerConfigCredentials()(registry) : undefined;
      await withClients(command, async (c) => {
        const check = (creds: Credentials) => unary(c.ctrdImages, c.ctrdImages.login, { server: registry, auth: { ...creds, token: '' } });
        if (stored) {
          // docker's way: the credentials kept from last time are tried before asking.
          process.stderr.write('Authenticating with existing credentials...\n');
          try {
            await check(stored);
            print('Login Succeeded');
            return;
          } catch (err) {
            if (kindOf(err) !== 'unauthenticated') throw err;
            process.stderr.write(`Stored credentials invalid or expired: ${(err as Error).message}\n`);
          }
        }
        if (username === '' || password === '') {
          if (!process.stdin.isTTY) throw failedPrecondition('Cannot perform an interactive login from a non TTY device');
          ({ username, password } = await promptCredentials(username, password, stored?.username));
        }
        if (username === '') throw invalidArgument('Username is required');
        if (password === '') throw invalidArgument('Password is required');
        await check({ username, password });
        // Kept only once the registry took them; other keys of the file (and other registries) stay as they were.
        const fresh = readConfig(file);
        const auths = { ...(fresh.auths ?? {}) };
        for (const key of keysFor(fresh, registry)) delete auths[key];
        auths[configKey(registry)] = { auth: Buffer.from(`${username}:${password}`).toString('base64') };
        writeConfig(file, { ...fresh, auths });
        process.stderr.write(`WARNING! Your password will be stored unencrypted in ${file}.\n`);
        print('Login Succeeded');
      });
    });
}

// ---- logout ----

function addLogoutCommand(program: Command): void {
  program
    .command('logout')
    .description('log out from a registry: remove its credentials from the docker config file')
    .argument('[server]', 'registry host[:port] (default: docker.io)')
    .action((server: string | undefined) => {
      const registry = loginRegistry(server ?? '');
      const file = configFile();
      const config = readConfig(file);
      const keys = keysFor(config, registry);
      const shown = configKey(registry);
      if (keys.length === 0) {
        print(`Not logged in to ${shown}`);
        return;
      }
      print(`Removing login credentials for ${shown}`);
      const auths = { ...(config.auths ?? {}) };
      for (const key of keys) delete auths[key];
      writeConfig(file, { ...config, auths });
    });
}

export function addRegistryAuthCommands(program: Command): void {
  addLoginCommand(program);
  addLogoutCommand(program);
}
