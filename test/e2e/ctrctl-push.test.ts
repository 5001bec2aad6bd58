// ctrctl push, login and logout against real registries (Debian's docker-registry): one behind Bearer token
// auth (test/harness/token-server.ts), one behind htpasswd Basic auth, and an open one the images are pulled
// from (pushed there with skopeo). What ctrctl pushes is read back with skopeo, whose digests must be the ones
// ctrd reports. ctrctl runs with a temp DOCKER_CONFIG and HOME, so nothing is written to /root/.docker.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctrctlBin, run, TestDaemon, type RunResult } from '../harness/daemon.js';
import { pushBusybox, pushMultilayer, skopeoEnv, type PushedBusybox, type PushedImage } from '../harness/images.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { RegistryClient } from '../../lib/registry/client.js';
import { RegistryPusher } from '../../lib/registry/push.js';
import { parseReference } from '../../lib/registry/reference.js';
import { parseDigest } from '../../lib/digest.js';

/**
 * An HTTP proxy in front of a registry (the Host header kept, so the registry's Locations point back here) that
 * can spoil answers: `spoil` sees each request after the registry has answered it, and may replace the answer.
 */
async function startProxy(target: string, spoil: (req: IncomingMessage) => { status: number; forward: boolean; body?: string } | undefined) {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const spoiled = spoil(req);
    const answerSpoiled = () =>
      res
        .writeHead(spoiled!.status, { 'content-type': 'application/json' })
        .end(spoiled!.body ?? '{"errors":[{"code":"UNKNOWN","message":"spoiled by the test proxy"}]}');
    if (spoiled && !spoiled.forward) {
      req.resume();
      req.on('end', answerSpoiled);
      return;
    }
    const up = request(`http://${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      if (spoiled) {
        answer.resume();
        answerSpoiled();
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const short = (digest: string) => digest.slice(7, 19);

describe('ctrctl push, login and logout against real registries', () => {
  let src: TestRegistry;
  let tokenReg: TestRegistry;
  let basicReg: TestRegistry;
  let d: TestDaemon;
  let multi: PushedImage;
  let busybox: PushedBusybox;
  let home: string;
  let dockerConfig: string;
  const configPath = () => join(dockerConfig, 'config.json');
  const daemonConfig = () => join(home, 'daemon-docker-config');

  /** ctrctl with the test's DOCKER_CONFIG and HOME. */
  function ctrctl(args: readonly string[], opts: { input?: string; namespace?: string } = {}): Promise<RunResult> {
    const env = { ...process.env, CTRD_ADDRESS: d.address, CTRD_NAMESPACE: opts.namespace ?? 'default', DOCKER_CONFIG: dockerConfig, HOME: home };
    return run(process.execPath, [ctrctlBin, ...args], { env, timeoutMs: 60_000, ...(opts.input !== undefined ? { input: opts.input } : {}) });
  }

  async function ok(args: readonly string[], opts: { input?: string; namespace?: string } = {}): Promise<string> {
    const r = await ctrctl(args, opts);
    expect(r.code, `ctrctl ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r.stdout;
  }

  /** skopeo inspect --raw of what a registry serves for a reference, with the registry's credentials. */
  async function skopeoRaw(reg: TestRegistry, ref: string): Promise<{ code: number; raw: Buffer; stderr: string }> {
    const creds = reg.auth ? ['--creds', `${reg.auth.username}:${reg.auth.password}`] : [];
    const r = await run('skopeo', ['--insecure-policy', 'inspect', '--raw', '--tls-verify=false', ...creds, `docker://${ref}`], {
      env: skopeoEnv(join(home, '.skopeo')),
      timeoutMs: 60_000,
    });
    return { code: r.code ?? -1, raw: Buffer.from(r.stdout, 'utf8'), stderr: r.stderr };
  }

  const repositoryDir = (reg: TestRegistry, path: string) => join(reg.dir, 'storage', 'docker', 'registry', 'v2', 'repositories', path);

  /** Lines of a layer in push output, by short ID, in order. */
  const layerLines = (stdout: string, digest: string) =>
    stdout
      .split('\n')
      .filter((l) => l.startsWith(`${short(digest)}: `))
      .map((l) => l.slice(14));

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'ctrctl-push-'));
    dockerConfig = join(home, 'docker-config');
    [src, tokenReg, basicReg] = await Promise.all([startRegistry(), startRegistry({ auth: 'token' }), startRegistry({ auth: 'htpasswd' })]);
    [multi, busybox] = await Promise.all([pushMultilayer(src), pushBusybox(src)]);
    // The daemon's own docker config (for a client that sends no credentials) is one of the test's, empty for now.
    const saved = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = daemonConfig();
    try {
      d = await new TestDaemon().start();
    } finally {
      if (saved === undefined) delete process.env.DOCKER_CONFIG;
      else process.env.DOCKER_CONFIG = saved;
    }
    await ok(['pull', '-q', multi.ref]);
  }, 180_000);

  afterAll(async () => {
    await d?.cleanup();
    await Promise.all([src?.stop(), tokenReg?.stop(), basicReg?.stop()]);
    if (home) rmSync(home, { recursive: true, force: true });
    expect(existsSync(home)).toBe(false);
    // Nothing of the tests' logins ended up in root's own docker config.
    expect(existsSync('/root/.docker/config.json') && readFileSync('/root/.docker/config.json', 'utf8').includes(tokenReg.host)).toBe(false);
  });

  it('push without credentials to a token registry: exit 1, the 401 explained, nothing on the registry', async () => {
    const target = `${tokenReg.host}/team/app:v1`;
    expect(await ok(['tag', multi.ref, target])).toBe('');
    const r = await ctrctl(['push', target]);
    expect(r.code).toBe(1);
    // Which push, which blob, the registry's words, and what it wants.
    expect(r.stderr).toMatch(/^ctrctl: push [^ ]+\/team\/app:v1: blob sha256:[0-9a-f]{64}: unauthorized: authentication required \(/);
    expect(r.stderr).toContain(`${tokenReg.host} wants credentials with pull,push access to team/app`);
    expect(r.stderr).toContain(`ctrctl login ${tokenReg.host}`);
    expect(existsSync(repositoryDir(tokenReg, 'team/app'))).toBe(false);
    const read = await skopeoRaw(tokenReg, target);
    expect(read.code).not.toBe(0);
    expect(read.stderr).toMatch(/manifest unknown|not found|name unknown/i);
  });

  it('login with a wrong password fails with the registry\'s words and writes nothing', async () => {
    const r = await ctrctl(['login', '-u', 'ctrd', '--password-stdin', tokenReg.host], { input: 'not-the-password\n' });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^ctrctl: login to ${tokenReg.host.replace(/\./g, '\\.')}: unauthorized: invalid username or password`));
    expect(existsSync(configPath())).toBe(false);
  });

  it('bad login flags are refused before anything is asked', async () => {
    const both = await ctrctl(['login', '-u', 'ctrd', '-p', 'x', '--password-stdin', tokenReg.host], { input: 'x\n' });
    expect(both.code).toBe(1);
    expect(both.stderr).toContain('--password and --password-stdin are mutually exclusive');
    const noUser = await ctrctl(['login', '--password-stdin', tokenReg.host], { input: 'x\n' });
    expect(noUser.code).toBe(1);
    expect(noUser.stderr).toContain('Must provide --username with --password-stdin');
    const noTty = await ctrctl(['login', tokenReg.host], { input: '' });
    expect(noTty.code).toBe(1);
    expect(noTty.stderr).toContain('Cannot perform an interactive login from a non TTY device');
    expect(existsSync(configPath())).toBe(false);
  });

  it('login with the right password: "Login Succeeded", config.json in docker\'s format, mode 0600, other keys kept', async () => {
    mkdirSync(dockerConfig, { recursive: true });
    const other = Buffer.from('someone:else').toString('base64');
    writeFileSync(configPath(), JSON.stringify({ auths: { 'other.example.com': { auth: other } }, psFormat: 'table {{.ID}}' }), { mode: 0o644 });
    const r = await ctrctl(['login', '-u', tokenReg.auth!.username, '--password-stdin', tokenReg.host], { input: `${tokenReg.auth!.password}\n` });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('Login Succeeded\n');
    expect(r.stderr).toBe(`WARNING! Your password will be stored unencrypted in ${configPath()}.\n`);
    const config = JSON.parse(readFileSync(configPath(), 'utf8')) as { auths: Record<string, { auth: string }>; psFormat: string };
    expect(config.auths[tokenReg.host]).toEqual({ auth: Buffer.from(`${tokenReg.auth!.username}:${tokenReg.auth!.password}`).toString('base64') });
    expect(config.auths['other.example.com']).toEqual({ auth: other });
    expect(config.psFormat).toBe('table {{.ID}}');
    expect(statSync(configPath()).mode & 0o777).toBe(0o600);
    // The token server saw the credentials of the login (and no request went out as anyone else since).
    expect(tokenReg.auth!.tokenServer!.requests.at(-1)).toMatchObject({ user: 'ctrd', granted: false });
  });

  it("push: each layer Pushed, docker's digest line; skopeo reads the same manifest digest as images --digests", async () => {
    const target = `${tokenReg.host}/team/app:v1`;
    const r = await ctrctl(['push', target]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).not.toMatch(/\x1b/);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`The push refers to repository [${tokenReg.host}/team/app]`);
    expect(lines.at(-1)).toBe(`v1: digest: ${multi.manifest.digest} size: ${multi.manifest.size}`);
    for (const l of multi.layers) {
      const states = layerLines(r.stdout, l.descriptor.digest);
      expect(states[0], short(l.descriptor.digest)).toBe('Preparing');
      expect(states.at(-1), short(l.descriptor.digest)).toBe('Pushed');
      expect(states).toContain('Pushing');
    }
    // Layers are listed top first, as docker lists them.
    const first = multi.layers.map((l) => lines.findIndex((x) => x.startsWith(`${short(l.descriptor.digest)}: `)));
    expect(first).toEqual([...first].sort((a, b) => b - a));

    const read = await skopeoRaw(tokenReg, target);
    expect(read.code, read.stderr).toBe(0);
    expect(sha256(read.raw)).toBe(multi.manifest.digest);
    const listed = await ok(['images', '--digests', '--format', '{{.Repository}}:{{.Tag}} {{.Digest}}']);
    expect(listed).toContain(`${tokenReg.host}/team/app:v1 ${multi.manifest.digest}\n`);
    // The token asked for was for pushing to the repository.
    expect(tokenReg.auth!.tokenServer!.requests.some((q) => q.user === 'ctrd' && q.scopes.includes('repository:team/app:pull,push'))).toBe(true);
  });

  it('pushing again: every layer already exists (HEAD), the same digest', async () => {
    const r = await ctrctl(['push', `${tokenReg.host}/team/app:v1`]);
    expect(r.code, r.stderr).toBe(0);
    for (const l of multi.layers) {
      expect(layerLines(r.stdout, l.descriptor.digest)).toEqual(['Preparing', 'Layer already exists']);
    }
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe(`v1: digest: ${multi.manifest.digest} size: ${multi.manifest.size}`);
    // The lease that held the blobs during the push is gone with it.
    const leases = await d.ctr(['leases', 'ls']);
    expect(leases.code, leases.stderr).toBe(0);
    expect(leases.stdout).not.toContain('ctrd.io/push');
  });

  it('pushing the image to a second repository of the registry mounts its blobs from the first', async () => {
    const target = `${tokenReg.host}/team/copy:v2`;
    await ok(['tag', multi.ref, target]);
    const before = tokenReg.auth!.tokenServer!.requests.length;
    const r = await ctrctl(['push', target]);
    expect(r.code, r.stderr).toBe(0);
    for (const l of multi.layers) {
      expect(layerLines(r.stdout, l.descriptor.digest)).toEqual(['Preparing', 'Mounted from team/app']);
    }
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe(`v2: digest: ${multi.manifest.digest} size: ${multi.manifest.size}`);
    // The mount's token covered both repositories: push on the target, pull on the source.
    const asked = tokenReg.auth!.tokenServer!.requests.slice(before).flatMap((q) => q.scopes);
    expect(asked).toEqual(expect.arrayContaining(['repository:team/copy:pull,push', 'repository:team/app:pull']));
    const read = await skopeoRaw(tokenReg, target);
    expect(read.code, read.stderr).toBe(0);
    expect(sha256(read.raw)).toBe(multi.manifest.digest);
  });

  it('push -q prints the reference only; image push is the same verb', async () => {
    expect(await ok(['push', '-q', `${tokenReg.host}/team/app:v1`])).toBe(`${tokenReg.host}/team/app:v1\n`);
    expect(await ok(['image', 'push', '-q', `${tokenReg.host}/team/app:v1`])).toBe(`${tokenReg.host}/team/app:v1\n`);
  });

  it('logout removes the entry (others stay); a push then fails 401 again; logging out twice says so', async () => {
    expect(await ok(['logout', tokenReg.host])).toBe(`Removing login credentials for ${tokenReg.host}\n`);
    const config = JSON.parse(readFileSync(configPath(), 'utf8')) as { auths: Record<string, unknown>; psFormat: string };
    expect(Object.keys(config.auths)).toEqual(['other.example.com']);
    expect(config.psFormat).toBe('table {{.ID}}');
    expect(statSync(configPath()).mode & 0o777).toBe(0o600);
    const r = await ctrctl(['push', `${tokenReg.host}/team/app:v1`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('unauthorized');
    expect(await ok(['logout', tokenReg.host])).toBe(`Not logged in to ${tokenReg.host}\n`);
  });

  it('Basic auth (htpasswd): -p warns as docker does, then push works; skopeo reads the same digest', async () => {
    const bad = await ctrctl(['login', '-u', 'ctrd', '-p', 'wrong', basicReg.host]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    expect(bad.stderr).toMatch(/login to .*: unauthorized/);
    const good = await ctrctl(['login', '-u', basicReg.auth!.username, '-p', basicReg.auth!.password, basicReg.host]);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toBe('Login Succeeded\n');
    // Logging in again with the stored credentials, as docker does when none are given.
    const again = await ctrctl(['login', basicReg.host], { input: '' });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe('Login Succeeded\n');
    expect(again.stderr).toContain('Authenticating with existing credentials...');

    const target = `${basicReg.host}/basic/app:latest`;
    await ok(['tag', multi.ref, target]);
    const r = await ctrctl(['push', target]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe(`latest: digest: ${multi.manifest.digest} size: ${multi.manifest.size}`);
    const read = await skopeoRaw(basicReg, target);
    expect(read.code, read.stderr).toBe(0);
    expect(sha256(read.raw)).toBe(multi.manifest.digest);
  });

  it('push -a pushes every tag of the repository, one header, a digest line per tag', async () => {
    for (const tag of ['a1', 'a2']) await ok(['tag', multi.ref, `${basicReg.host}/basic/app:${tag}`]);
    const r = await ctrctl(['push', '-a', `${basicReg.host}/basic/app`]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.filter((l) => l.startsWith('The push refers to repository'))).toEqual([`The push refers to repository [${basicReg.host}/basic/app]`]);
    expect(lines.filter((l) => l.includes(': digest: '))).toEqual(
      ['a1', 'a2', 'latest'].map((t) => `${t}: digest: ${multi.manifest.digest} size: ${multi.manifest.size}`),
    );
    for (const t of ['a1', 'a2']) {
      const read = await skopeoRaw(basicReg, `${basicReg.host}/basic/app:${t}`);
      expect(sha256(read.raw), read.stderr).toBe(multi.manifest.digest);
    }
    const withTag = await ctrctl(['push', '-a', `${basicReg.host}/basic/app:a1`]);
    expect(withTag).toMatchObject({ code: 1, stdout: '' });
    expect(withTag.stderr).toBe("ctrctl: tag can't be used with --all-tags/-a\n");
  });

  it('login on a terminal asks for the username and the password, the password not echoed', async () => {
    expect(await ok(['logout', basicReg.host])).toBe(`Removing login credentials for ${basicReg.host}\n`);
    const env = { ...process.env, CTRD_ADDRESS: d.address, CTRD_NAMESPACE: 'default', DOCKER_CONFIG: dockerConfig, HOME: home };
    const child = spawn('script', ['-qefc', `${process.execPath} ${ctrctlBin} login ${basicReg.host}`, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    // 'close': its output read to the end, not only its exit.
    const exited = once(child, 'close');
    const answer = async (prompt: string, text: string) => {
      const deadline = Date.now() + 30_000;
      while (!out.includes(prompt)) {
        if (Date.now() > deadline) throw new Error(`no "${prompt}" prompt; output so far: ${JSON.stringify(out)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      child.stdin.write(`${text}\r`);
    };
    try {
      await answer('Username: ', basicReg.auth!.username);
      await answer('Password: ', basicReg.auth!.password);
      const [code] = (await exited) as [number];
      expect(code, out).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    expect(out).toContain('Login Succeeded');
    expect(out).not.toContain(basicReg.auth!.password);
    const config = JSON.parse(readFileSync(configPath(), 'utf8')) as { auths: Record<string, { auth: string }> };
    expect(config.auths[basicReg.host]).toEqual({ auth: Buffer.from(`${basicReg.auth!.username}:${basicReg.auth!.password}`).toString('base64') });
  });

  it('an index with only this platform here is pushed as this platform\'s manifest', async () => {
    await ok(['pull', '-q', busybox.multiarch.ref]);
    const target = `${basicReg.host}/basic/busybox:multi`;
    await ok(['tag', busybox.multiarch.ref, target]);
    const r = await ctrctl(['push', target]);
    expect(r.code, r.stderr).toBe(0);
    const amd64 = busybox.multiarch.images[0]!;
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe(`multi: digest: ${amd64.manifest.digest} size: ${amd64.manifest.size}`);
    const read = await skopeoRaw(basicReg, target);
    expect(read.code, read.stderr).toBe(0);
    expect(sha256(read.raw)).toBe(amd64.manifest.digest);
  });

  it('an index with every platform here is pushed whole: the index digest, each platform\'s manifest by digest', async () => {
    await ok(['pull', '-q', '--platform', 'linux/arm64', busybox.multiarch.ref]);
    const target = `${basicReg.host}/basic/busybox:all`;
    await ok(['tag', busybox.multiarch.ref, target]);
    const r = await ctrctl(['push', target]);
    expect(r.code, r.stderr).toBe(0);
    const index = busybox.multiarch.descriptor;
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe(`all: digest: ${index.digest} size: ${index.size}`);
    // Both platforms' layers were pushed (amd64's is there already from the test before).
    for (const image of busybox.multiarch.images) expect(layerLines(r.stdout, image.layers[0]!.descriptor.digest).length).toBeGreaterThan(0);
    const read = await skopeoRaw(basicReg, target);
    expect(read.code, read.stderr).toBe(0);
    expect(sha256(read.raw)).toBe(index.digest);
    for (const image of busybox.multiarch.images) {
      const child = await skopeoRaw(basicReg, `${basicReg.host}/basic/busybox@${image.manifest.digest}`);
      expect(child.code, child.stderr).toBe(0);
      expect(sha256(child.raw)).toBe(image.manifest.digest);
    }
  });

  it("a client that sends no credentials gets the daemon's own (its docker config)", async () => {
    const target = `${basicReg.host}/basic/daemon-creds:v1`;
    await ok(['tag', multi.ref, target]);
    const client = mkdtempSync(join(home, 'empty-client-'));
    const env = { ...process.env, CTRD_ADDRESS: d.address, CTRD_NAMESPACE: 'default', DOCKER_CONFIG: client, HOME: client };
    const denied = await run(process.execPath, [ctrctlBin, 'push', target], { env, timeoutMs: 60_000 });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('unauthorized');
    mkdirSync(daemonConfig(), { recursive: true });
    const auth = Buffer.from(`${basicReg.auth!.username}:${basicReg.auth!.password}`).toString('base64');
    writeFileSync(join(daemonConfig(), 'config.json'), JSON.stringify({ auths: { [basicReg.host]: { auth } } }), { mode: 0o600 });
    try {
      const r = await run(process.execPath, [ctrctlBin, 'push', target], { env, timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trimEnd().split('\n').at(-1)).toBe(`v1: digest: ${multi.manifest.digest} size: ${multi.manifest.size}`);
    } finally {
      rmSync(join(daemonConfig(), 'config.json'));
    }
    // ctrctl wrote nothing into the client's config dir.
    expect(existsSync(join(client, 'config.json'))).toBe(false);
  });

  it('on a terminal the layer lines are redrawn in place', async () => {
    // A namespace of its own: no labels say where the blobs are, so every layer is uploaded.
    await ok(['pull', '-q', multi.ref], { namespace: 'tty' });
    const target = `${basicReg.host}/basic/tty:latest`;
    await ok(['tag', multi.ref, target], { namespace: 'tty' });
    const env = { ...process.env, CTRD_ADDRESS: d.address, CTRD_NAMESPACE: 'tty', DOCKER_CONFIG: dockerConfig, HOME: home };
    const r = await run('script', ['-qefc', `${process.execPath} ${ctrctlBin} push ${target}`, '/dev/null'], { env, timeoutMs: 60_000 });
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/\x1b\[\d+A\r\x1b\[2K[0-9a-f]{12}: (Pushing|Pushed)/);
    expect(r.stdout).toContain(`latest: digest: ${multi.manifest.digest} size: ${multi.manifest.size}\r\n`);
  });

  it('bad input: an image that is not here, a digest reference, a bad reference; each exits 1, nothing pushed', async () => {
    const missing = await ctrctl(['push', `${basicReg.host}/basic/nothing:here`]);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toBe(`ctrctl: An image does not exist locally with the tag: ${basicReg.host}/basic/nothing:here\n`);
    expect(existsSync(repositoryDir(basicReg, 'basic/nothing'))).toBe(false);
    const digest = await ctrctl(['push', `${basicReg.host}/basic/app@${multi.manifest.digest}`]);
    expect(digest.code).toBe(1);
    expect(digest.stderr).toContain('cannot push a digest reference');
    const bad = await ctrctl(['push', 'Not A Reference']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^ctrctl: invalid reference "Not A Reference"/);
  });

  it('the registry pusher uploads a blob in chunks (PATCH with Content-Range, PUT ?digest=) and reads it back', async () => {
    const client = new RegistryClient();
    try {
      const pusher = new RegistryPusher(client, { chunkSize: 4096 });
      const ref = parseReference(`${src.host}/chunks/blob:latest`);
      const blob = randomBytes(4096 * 4 + 123);
      const desc = { mediaType: 'application/octet-stream', digest: parseDigest(sha256(blob)), size: blob.length };
      const offsets: number[] = [];
      const result = await pusher.pushBlob(ref, desc, (offset) => Readable.from([blob.subarray(offset, offset + 1000), blob.subarray(offset + 1000)]), {
        onUpload: (o) => offsets.push(o),
      });
      expect(result).toEqual({ outcome: 'pushed' });
      expect(offsets).toEqual([0, 4096, 8192, 12288, 16384, blob.length]);
      expect(await pusher.blobExists(ref, desc)).toBe(true);
      const chunks: Buffer[] = [];
      for await (const c of await client.fetchBlob(ref, desc)) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(blob)).toBe(true);
      expect(await pusher.pushBlob(ref, desc, () => Readable.from([]))).toEqual({ outcome: 'exists' });

      // A local blob shorter than its descriptor fails the upload, and the registry gets no blob of that digest.
      const short = randomBytes(5000);
      const lying = { mediaType: 'application/octet-stream', digest: parseDigest(sha256(short)), size: 6000 };
      await expect(pusher.pushBlob(ref, lying, (offset) => Readable.from([short.subarray(offset)]))).rejects.toThrow(/ended after 5000 of 6000 bytes/);
      expect(await pusher.blobExists(ref, lying)).toBe(false);
    } finally {
      client.close();
    }
  });

  /** Pushes a 3500-byte blob in 1000-byte chunks through a proxy that spoils the second PATCH; returns where the source was opened. */
  async function pushThroughSpoiler(repo: string, forward: boolean): Promise<{ opened: number[]; patches: number }> {
    let patches = 0;
    const proxy = await startProxy(src.host, (req) => (req.method === 'PATCH' && ++patches === 2 ? { status: 500, forward } : undefined));
    const client = new RegistryClient({ retry: { baseDelayMs: 10 } });
    try {
      const pusher = new RegistryPusher(client, { chunkSize: 1000 });
      const blob = randomBytes(3500);
      const desc = { mediaType: 'application/octet-stream', digest: parseDigest(sha256(blob)), size: blob.length };
      const opened: number[] = [];
      const result = await pusher.pushBlob(parseReference(`${proxy.host}/${repo}:latest`), desc, (offset) => {
        opened.push(offset);
        return Readable.from([blob.subarray(offset)]);
      });
      expect(result).toEqual({ outcome: 'pushed' });
      const chunks: Buffer[] = [];
      for await (const c of await client.fetchBlob(parseReference(`${src.host}/${repo}:latest`), desc)) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(blob)).toBe(true);
      return { opened, patches };
    } finally {
      client.close();
      await proxy.stop();
    }
  }

  it('a 403 names the repository and the access it lacks, and is PermissionDenied', async () => {
    const denied = '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}';
    const proxy = await startProxy(src.host, (req) => (req.method === 'POST' ? { status: 403, forward: false, body: denied } : undefined));
    const client = new RegistryClient();
    try {
      const pusher = new RegistryPusher(client);
      const blob = randomBytes(100);
      const desc = { mediaType: 'application/octet-stream', digest: parseDigest(sha256(blob)), size: blob.length };
      const err = await pusher.pushBlob(parseReference(`${proxy.host}/team/denied:latest`), desc, () => Readable.from([blob])).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ kind: 'permission-denied' });
      expect((err as Error).message).toBe(
        `blob ${desc.digest}: starting the upload: denied: requested access to the resource is denied (no pull,push access to repository ${proxy.host}/team/denied)`,
      );
    } finally {
      client.close();
      await proxy.stop();
    }
  });

  it('a chunk the registry never got is sent again from the Range the registry reports', async () => {
    const { opened, patches } = await pushThroughSpoiler('chunks/resume', false);
    // The upload's status said 1000 bytes: the source is opened again there, and nothing is sent twice.
    expect(opened).toEqual([0, 1000]);
    expect(patches).toBe(5);
  });

  it('a chunk whose answer was lost (distribution then forgets the upload) is pushed again in a new upload', async () => {
    const { opened, patches } = await pushThroughSpoiler('chunks/restart', true);
    expect(opened).toEqual([0, 0]);
    expect(patches).toBe(2 + 4);
  });
});
