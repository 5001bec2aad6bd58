// A real registry for tests: Debian's docker-registry (distribution v2) on 127.0.0.1, a free port, storage in
// a temp dir; optionally behind token auth (test/harness/token-server.ts) or htpasswd Basic auth. Stopped by
// PID; stop() checks that the process is gone and its temp dir removed.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { isAlive, run, waitFor } from './daemon.js';
import { startTokenServer, type TokenServer } from './token-server.js';

export const registryBin = '/usr/bin/docker-registry';

export interface RegistryAuth {
  kind: 'token' | 'htpasswd';
  username: string;
  password: string;
  /** With token auth. */
  tokenServer?: TokenServer;
}

export interface TestRegistry {
  /** "127.0.0.1:PORT", as references name it. */
  host: string;
  /** "http://127.0.0.1:PORT" */
  url: string;
  dir: string;
  pid: number;
  /** Set when the registry wants credentials. */
  auth?: RegistryAuth;
  log(): string;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  /** Token auth, or htpasswd Basic auth, with one user (default credentials: ctrd / ctrd-secret). */
  auth?: 'token' | 'htpasswd';
  username?: string;
  password?: string;
  /** With token auth: anonymous pulls allowed. */
  anonymousPull?: boolean;
}

/** A port free on 127.0.0.1 right now (the registry binds it a moment later; a clash is retried). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Any HTTP answer at all from url (the registry serves /v2/ with 200, or 401 behind auth). */
export function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: 1000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.once('error', () => resolve(false));
    req.once('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/** A bcrypt htpasswd line (the registry takes nothing else), made by Python's crypt, at the lowest cost. */
async function htpasswdLine(user: string, password: string): Promise<string> {
  const r = await run('python3', ['-W', 'ignore', '-c', 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))', password]);
  if (r.code !== 0 || !r.stdout.startsWith('$2')) throw new Error(`python3 could not make a bcrypt hash for htpasswd: ${r.stderr}`);
  return `${user}:${r.stdout.trim()}\n`;
}

function config(dir: string, port: number, token: TokenServer | undefined, htpasswd: string | undefined): string {
  let auth = '';
  if (token) {
    auth = `auth:
  token:
    realm: ${token.realm}
    service: ${token.service}
    issuer: ${token.issuer}
    rootcertbundle: ${token.certPath}
`;
  } else if (htpasswd) {
    auth = `auth:
  htpasswd:
    realm: ctrd-test-registry
    path: ${htpasswd}
`;
  }
  return `version: 0.1
log:
  level: warn
  formatter: text
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${join(dir, 'storage')}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:${port}
  secret: ${randomBytes(16).toString('hex')}
health:
  storagedriver:
    enabled: false
${auth}`;
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'ctrd-registry-'));
  const logPath = join(dir, 'registry.log');
  const username = opts.username ?? 'ctrd';
  const password = opts.password ?? 'ctrd-secret';
  let token: TokenServer | undefined;
  let htpasswd: string | undefined;
  let child: ChildProcess | undefined;
  try {
    if (opts.auth === 'token') {
      token = await startTokenServer({
        dir,
        users: { [username]: password },
        ...(opts.anonymousPull !== undefined ? { anonymousPull: opts.anonymousPull } : {}),
      });
    } else if (opts.auth === 'htpasswd') {
      htpasswd = join(dir, 'htpasswd');
      writeFileSync(htpasswd, await htpasswdLine(username, password));
    }
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const configPath = join(dir, 'config.yml');
      writeFileSync(configPath, config(dir, port, token, htpasswd));
      const log = openSync(logPath, 'a');
      child = spawn(registryBin, ['serve', configPath], { stdio: ['ignore', log, log] });
      closeSync(log);
      const exited = once(child, 'exit');
      let gone = false;
      void exited.then(() => (gone = true));
      const url = `http://127.0.0.1:${port}`;
      try {
        await waitFor('the registry to serve /v2/', async () => {
          if (gone) throw new Error(`docker-registry exited during start-up:\n${readFileSync(logPath, 'utf8')}`);
          return answers(`${url}/v2/`);
        });
      } catch (err) {
        if (gone && attempt < 3 && /address already in use/.test(readFileSync(logPath, 'utf8'))) continue;
        throw err;
      }
      const running = child;
      const pid = running.pid!;
      const reg: TestRegistry = {
        host: `127.0.0.1:${port}`,
        url,
        dir,
        pid,
        ...(opts.auth ? { auth: { kind: opts.auth, username, password, ...(token ? { tokenServer: token } : {}) } } : {}),
        log: () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : ''),
        stop: async () => {
          if (running.exitCode === null && running.signalCode === null) {
            running.kill('SIGTERM');
            const timer = setTimeout(() => running.kill('SIGKILL'), 5_000);
            await exited;
            clearTimeout(timer);
          }
          await token?.stop();
          rmSync(dir, { recursive: true, force: true });
          if (isAlive(pid)) throw new Error(`registry pid ${pid} is still running after stop`);
          if (existsSync(dir)) throw new Error(`${dir} is still there after stop`);
        },
      };
      return reg;
    }
  } catch (err) {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await token?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
