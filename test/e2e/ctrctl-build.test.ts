// ctrctl build against a real daemon: the seed documents' Dockerfile (with the test busybox from the local
// registry in place of ubuntu, and RUNs that work offline) built, run, and read back; the layer cache (a
// second build all cached, a changed file rebuilding from its step on, a changed --build-arg rebuilding its
// RUN); a multi-stage build onto scratch and --target; the image pushed to the registry and read back with
// skopeo; bad input, each a clear message naming the Dockerfile line with nothing tagged or left behind; and an
// interrupted build that leaves no container, task, mount or snapshot.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ctrctlBin, run, waitFor } from '../harness/daemon.js';
import { ctrctlSuite, explain } from '../harness/ctrctl.js';
import { skopeoEnv } from '../harness/images.js';
import { mountsUnder } from '../harness/mounts.js';

const s = ctrctlSuite('build');

/** A context directory with these files (a Buffer or text each). */
function context(files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(join(s.work, 'ctx-'));
  for (const [name, body] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), body);
  }
  return dir;
}

async function build(...args: string[]) {
  return s.d.ctrctl(['build', ...args], { timeoutMs: 120_000 });
}

/** Each step's block of output by step number: whether it used the cache. */
function cachedSteps(stdout: string): Map<number, boolean> {
  const out = new Map<number, boolean>();
  let current = 0;
  for (const line of stdout.split('\n')) {
    const m = /^Step (\d+)\/\d+ : /.exec(line);
    if (m) {
      current = Number(m[1]);
      out.set(current, false);
    } else if (line === ' ---> Using cache') out.set(current, true);
  }
  return out;
}

const builtId = (stdout: string) => /^Successfully built ([0-9a-f]{12})$/m.exec(stdout)?.[1];

async function taggedIds(name: string): Promise<string> {
  return (await s.d.ctrctl(['images', '-q', name])).stdout.trim();
}

describe('ctrctl build', () => {
  let seed: string;
  const seedDockerfile = () => `FROM ${s.image}
MAINTAINER Kate Smith <ksmith@example.com>
RUN mkdir -p /opt/sinatra && echo "gem install sinatra" > /opt/sinatra/installed && echo first run output
RUN echo 'app:x:1000:1000:app:/opt/sinatra:/bin/sh' >> /etc/passwd && echo 'app:x:1000:' >> /etc/group
ADD app.rb /opt/sinatra/
ADD assets.tar.gz /srv/
EXPOSE 80
ENV APP_ENV=production GREETING="hello world"
WORKDIR /opt/sinatra
USER app
VOLUME /data
LABEL org.example.team=web
CMD ["sh", "-c", "id -u; id -un; pwd; echo $APP_ENV/$GREETING; cat installed app.rb /srv/assets/style.css; ls -d /data"]
`;

  it("builds the seed documents' example with docker's Step lines; the image runs and sees everything the Dockerfile did", async () => {
    seed = context({ Dockerfile: seedDockerfile(), 'app.rb': "get '/' do 'hi' end\n", 'assets/style.css': 'body { color: red }\n' });
    const tar = await run('tar', ['-czf', join(seed, 'assets.tar.gz'), '-C', seed, 'assets']);
    expect(tar.code, tar.stderr).toBe(0);
    rmSync(join(seed, 'assets'), { recursive: true });

    const out = await s.sh(`cd ${seed} && ctrctl build -t ouruser/sinatra:v2 .`);
    const lines = out.split('\n');
    expect(lines[0]).toMatch(/^Sending build context to ctrd {2}\d/);
    expect(lines).toContain(`Step 1/13 : FROM ${s.image}`);
    expect(lines).toContain('Step 3/13 : RUN mkdir -p /opt/sinatra && echo "gem install sinatra" > /opt/sinatra/installed && echo first run output');
    expect(lines).toContain('Step 13/13 : CMD ["sh", "-c", "id -u; id -un; pwd; echo $APP_ENV/$GREETING; cat installed app.rb /srv/assets/style.css; ls -d /data"]');
    expect(lines).toContain('first run output');
    expect(lines.filter((l) => /^ ---> Running in [0-9a-f]{12}$/.test(l))).toHaveLength(2);
    expect(lines.filter((l) => /^Removing intermediate container [0-9a-f]{12}$/.test(l))).toHaveLength(2);
    expect(lines.filter((l) => /^ ---> [0-9a-f]{12}$/.test(l))).toHaveLength(13);
    expect(lines.at(-1)).toBe('Successfully tagged ouruser/sinatra:v2');
    const id = builtId(out);
    expect(await taggedIds('ouruser/sinatra:v2')).toBe(id);

    const ran = await s.ctl('run', '--rm', 'ouruser/sinatra:v2');
    expect(ran.split('\n')).toEqual([
      '1000',
      'app',
      '/opt/sinatra',
      'production/hello world',
      'gem install sinatra',
      "get '/' do 'hi' end",
      'body { color: red }',
      '/data',
    ]);
    const cfg = JSON.parse(await s.ctl('image', 'inspect', '-f', '{{json .Config}}', 'ouruser/sinatra:v2')) as Record<string, unknown>;
    expect(cfg).toMatchObject({ User: 'app', WorkingDir: '/opt/sinatra', ExposedPorts: { '80/tcp': {} }, Volumes: { '/data': {} }, Labels: { 'org.example.team': 'web' } });
    expect(cfg.Env).toEqual(expect.arrayContaining(['APP_ENV=production', 'GREETING=hello world']));
    expect(await s.ctl('image', 'inspect', '-f', '{{.Author}}', 'ouruser/sinatra:v2')).toBe('Kate Smith <ksmith@example.com>');

    // One history entry per step past FROM, newest first, metadata steps without a layer.
    const history = (await s.ctl('image', 'history', '--no-trunc', '--format', '{{.CreatedBy}}\t{{.Size}}', 'ouruser/sinatra:v2')).split('\n');
    expect(history[0]).toMatch(/^\/bin\/sh -c #\(nop\) CMD \["sh", "-c", .*\t0B$/);
    expect(history).toContain('/bin/sh -c #(nop) EXPOSE 80\t0B');
    expect(history.some((h) => h.startsWith('/bin/sh -c mkdir -p /opt/sinatra'))).toBe(true);
    expect(history.some((h) => /^\/bin\/sh -c #\(nop\) ADD file:[0-9a-f]{64} in \/opt\/sinatra\/ /.test(h))).toBe(true);
    // Layers: the base, two RUNs, two ADDs; WORKDIR found its directory there already and made none.
    const diffIds = JSON.parse(await s.ctl('image', 'inspect', '-f', '{{json .RootFS.Layers}}', 'ouruser/sinatra:v2')) as string[];
    expect(diffIds).toHaveLength(1 + 2 + 2);
    expect(history).toContain('/bin/sh -c #(nop) WORKDIR /opt/sinatra\t0B');
    // The RUNs' layers hold what they wrote, not the runtime's mount targets (/etc/hosts, /etc/resolv.conf).
    await s.ctl('create', '--name', 'seed-files', 'ouruser/sinatra:v2');
    const files = (await s.sh(`ctrctl export seed-files | tar -t`)).split('\n');
    await s.ctl('rm', 'seed-files');
    expect(files).toEqual(expect.arrayContaining(['etc/passwd', 'etc/hostname', 'opt/sinatra/installed', 'srv/assets/style.css']));
    expect(files.filter((f) => /^etc\/(hosts|resolv\.conf)$/.test(f))).toEqual([]);
  });

  it('a second identical build uses the cache for every step; a changed file rebuilds from its step on, no earlier', async () => {
    const again = await build('-t', 'ouruser/sinatra:v2', seed);
    expect(again.code, explain(again, s.d)).toBe(0);
    const cached = cachedSteps(again.stdout);
    expect([...cached.entries()].filter(([n, c]) => n > 1 && !c)).toEqual([]);
    expect(again.stdout).not.toContain('Running in');
    expect(builtId(again.stdout)).toBe(await taggedIds('ouruser/sinatra:v2'));

    writeFileSync(join(seed, 'app.rb'), "get '/' do 'changed' end\n");
    const changed = await build('-t', 'ouruser/sinatra:v3', seed);
    expect(changed.code, explain(changed, s.d)).toBe(0);
    const steps = cachedSteps(changed.stdout);
    expect([2, 3, 4].map((n) => steps.get(n))).toEqual([true, true, true]);
    expect([...steps.entries()].filter(([n, c]) => n >= 5 && c)).toEqual([]);
    expect((await s.ctl('run', '--rm', 'ouruser/sinatra:v3', 'cat', 'app.rb')).trim()).toBe("get '/' do 'changed' end");
  });

  it('a changed --build-arg rebuilds the RUN that uses it; an ARG never given is a warning', async () => {
    const dir = context({
      Dockerfile: `FROM ${s.image}\nARG FLAVOUR=plain\nARG UNSET\nRUN echo "flavour: $FLAVOUR" > /flavour\nRUN echo "unset: [$UNSET]"\n`,
    });
    const first = await build('--network', 'none', '--build-arg', 'FLAVOUR=a', '-t', 'args:a', dir);
    expect(first.code, explain(first, s.d)).toBe(0);
    expect(first.stderr).toMatch(/\[Warning\] Dockerfile:5: ARG UNSET is used but never given a value/);
    expect(first.stdout).toContain('unset: []');
    const same = await build('--network', 'none', '--build-arg', 'FLAVOUR=a', '-t', 'args:a', dir);
    expect([...cachedSteps(same.stdout).values()].slice(1)).toEqual([true, true, true, true]);
    const other = await build('--network', 'none', '--build-arg', 'FLAVOUR=b', '-t', 'args:b', dir);
    expect(other.code, explain(other, s.d)).toBe(0);
    const steps = cachedSteps(other.stdout);
    expect([steps.get(2), steps.get(3), steps.get(4)]).toEqual([true, true, false]);
    expect(await s.ctl('run', '--rm', '--network', 'none', 'args:b', 'cat', '/flavour')).toBe('flavour: b');
    expect(await s.ctl('run', '--rm', '--network', 'none', 'args:a', 'cat', '/flavour')).toBe('flavour: a');
  });

  it('a multi-stage build copies from the first stage onto scratch; --target stops at the named stage', async () => {
    const dir = context({
      Dockerfile: `FROM ${s.image} AS build\nRUN echo compiled > /app.bin\n\nFROM scratch\nCOPY --from=build /app.bin /app.bin\nCOPY --from=build /bin/busybox /bin/busybox\nCMD ["/bin/busybox", "cat", "/app.bin"]\n`,
    });
    const r = await build('--network', 'none', '-t', 'multi:final', dir);
    expect(r.code, explain(r, s.d)).toBe(0);
    expect(r.stdout).toContain('Step 4/6 : COPY --from=build /app.bin /app.bin');
    expect(await s.ctl('run', '--rm', '--network', 'none', 'multi:final')).toBe('compiled');
    expect(JSON.parse(await s.ctl('image', 'inspect', '-f', '{{json .RootFS.Layers}}', 'multi:final'))).toHaveLength(2);

    const t = await build('--network', 'none', '--target', 'build', '-t', 'multi:build', dir);
    expect(t.code, explain(t, s.d)).toBe(0);
    expect(t.stdout).not.toContain('Step 3/');
    expect(t.stdout).toMatch(/^Step 2\/2 : RUN echo compiled > \/app.bin\n ---> Using cache$/m);
    expect(await s.ctl('run', '--rm', '--network', 'none', 'multi:build', 'cat', '/app.bin')).toBe('compiled');
  });

  it('the built image pushed to the registry reads back with skopeo: the same layers and the config', async () => {
    const target = `${s.reg.host}/ouruser/sinatra:v2`;
    await s.ctl('tag', 'ouruser/sinatra:v2', target);
    await s.ctl('push', target);
    const home = mkdtempSync(join(tmpdir(), 'skopeo-'));
    try {
      const skopeo = (...args: string[]) => run('skopeo', ['--insecure-policy', ...args], { env: skopeoEnv(home), timeoutMs: 60_000 });
      const inspected = await skopeo('inspect', '--config', '--tls-verify=false', `docker://${target}`);
      expect(inspected.code, inspected.stderr).toBe(0);
      const config = JSON.parse(inspected.stdout) as { config: Record<string, unknown>; rootfs: { diff_ids: string[] } };
      expect(config.config).toMatchObject({
        Cmd: ['sh', '-c', 'id -u; id -un; pwd; echo $APP_ENV/$GREETING; cat installed app.rb /srv/assets/style.css; ls -d /data'],
        ExposedPorts: { '80/tcp': {} },
        Volumes: { '/data': {} },
        User: 'app',
        WorkingDir: '/opt/sinatra',
        Labels: { 'org.example.team': 'web' },
      });
      expect(config.config.Env).toEqual(expect.arrayContaining(['APP_ENV=production', 'GREETING=hello world']));
      const ours = JSON.parse(await s.ctl('image', 'inspect', '-f', '{{json .RootFS.Layers}}', 'ouruser/sinatra:v2')) as string[];
      expect(config.rootfs.diff_ids).toEqual(ours);
      // Pulled back whole (skopeo checks every blob's digest as it copies).
      const copied = await skopeo('copy', '--src-tls-verify=false', `docker://${target}`, `oci:${join(home, 'oci')}:v2`);
      expect(copied.code, copied.stderr).toBe(0);
      const manifest = JSON.parse((await skopeo('inspect', '--raw', `oci:${join(home, 'oci')}:v2`)).stdout) as { layers: unknown[] };
      expect(manifest.layers).toHaveLength(ours.length);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('-q prints the ID alone; HEALTHCHECK, ONBUILD and --label are kept; a tar on stdin and a Dockerfile outside the context build', async () => {
    const base = context({ Dockerfile: `FROM ${s.image}\nHEALTHCHECK --interval=5s --retries=2 CMD true\nONBUILD RUN echo triggered > /triggered\nLABEL stage=base\n` });
    const q = await build('-q', '--label', 'extra=yes', '-t', 'onbuild:base', base);
    expect(q.code, explain(q, s.d)).toBe(0);
    expect(q.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const cfg = JSON.parse(await s.ctl('image', 'inspect', '-f', '{{json .Config}}', 'onbuild:base')) as Record<string, unknown>;
    expect(cfg).toMatchObject({
      Healthcheck: { Test: ['CMD-SHELL', 'true'], Interval: 5e9, Retries: 2 },
      OnBuild: ['RUN echo triggered > /triggered'],
      Labels: { stage: 'base', extra: 'yes' },
    });

    const child = context({ Dockerfile: 'FROM onbuild:base\nCMD ["cat", "/triggered"]\n' });
    const out = await s.sh(`tar -c -C ${child} . | ctrctl build --network none -t onbuild:child -`);
    expect(out).toMatch(/^Step 1\/2 : FROM onbuild:base\n ---> [0-9a-f]{12}\n# Executing 1 build trigger\n ---> Running in /m);
    expect(await s.ctl('run', '--rm', '--network', 'none', 'onbuild:child')).toBe('triggered');
    expect(await s.ctl('image', 'inspect', '-f', '{{json .Config.OnBuild}}', 'onbuild:child')).toBe('null');

    const elsewhere = context({ 'Dockerfile.other': 'FROM scratch\nCOPY data.txt /\n' });
    const data = context({ 'data.txt': 'from the context\n' });
    const f = await build('-f', join(elsewhere, 'Dockerfile.other'), '-t', 'outside:f', data);
    expect(f.code, explain(f, s.d)).toBe(0);
    expect(f.stdout).toContain('Step 2/2 : COPY data.txt /');
  });

  it('the cache survives a restart; a build cut by kill -9 is cleaned at start; GC and builder prune drop the cache', async () => {
    const dir = context({ Dockerfile: `FROM ${s.image}\nRUN echo one > /one\n` });
    expect((await build('--network', 'none', '-t', 'cache:one', dir)).code).toBe(0);
    const cut = context({ Dockerfile: `FROM ${s.image}\nRUN echo started; sleep 60\n` });
    const child = spawn(process.execPath, [ctrctlBin, 'build', '--network', 'none', cut], { env: { ...process.env, CTRD_ADDRESS: s.d.address }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor('the RUN to start', () => out.includes('started'), 60_000);
    await s.d.kill9();
    expect(await exited).not.toBe(0);
    await s.d.start();
    const ctr = async (...args: string[]) => (await run('ctr', ['-a', s.d.address, ...args])).stdout.trim();
    expect(await ctr('containers', 'ls', '-q')).toBe('');
    expect(await ctr('tasks', 'ls', '-q')).toBe('');

    const again = await build('--network', 'none', '-t', 'cache:one', dir);
    expect(cachedSteps(again.stdout).get(2), again.stdout).toBe(true);
    // Once the image is gone and collected, its step's layer is too, and the entry with it.
    await s.ctl('rmi', 'cache:one');
    expect(await s.ctl('builder', 'prune', '--filter', 'until=1h')).toMatch(/^Deleted build cache objects: 0\n/);
    expect(await ctr('snapshots', 'ls')).not.toMatch(/build-/);
    const rebuilt = await build('--network', 'none', '-t', 'cache:one', dir);
    expect(cachedSteps(rebuilt.stdout).get(2), rebuilt.stdout).toBe(false);
    const pruned = await s.ctl('builder', 'prune', '-f');
    expect(Number(/^Deleted build cache objects: (\d+)$/m.exec(pruned)?.[1])).toBeGreaterThan(0);
    const afterPrune = await build('--network', 'none', '-t', 'cache:one', dir);
    expect(cachedSteps(afterPrune.stdout).get(2)).toBe(false);
  });

  describe('bad input: a message naming the Dockerfile line, a non-zero exit, nothing tagged', () => {
    async function refused(files: Record<string, string | Buffer>, tag: string, message: RegExp, extra: string[] = []) {
      const dir = context(files);
      const r = await build('--network', 'none', '-t', tag, ...extra, dir);
      expect(r.code, explain(r, s.d)).not.toBe(0);
      expect(r.stderr).toMatch(message);
      expect(await taggedIds(tag)).toBe('');
      return r;
    }

    it('an unknown instruction', async () => {
      await refused({ Dockerfile: `FROM ${s.image}\nFROMM busybox\n` }, 'bad:unknown', /Dockerfile:2:1: unknown instruction: FROMM/i);
    });

    it('a RUN that exits non-zero: its output shown, the failing step named, no container left', async () => {
      const r = await refused({ Dockerfile: `FROM ${s.image}\nRUN echo about to fail; exit 3\n` }, 'bad:run', /Dockerfile:2: The command '\/bin\/sh -c echo about to fail; exit 3' returned a non-zero code: 3/);
      expect(r.stdout).toContain('Step 2/2 : RUN echo about to fail; exit 3');
      expect(r.stdout).toContain('about to fail');
      expect(await s.ctl('ps', '-aq')).toBe('');
    });

    it('COPY of a path outside the context, or excluded by .dockerignore', async () => {
      await refused({ Dockerfile: `FROM ${s.image}\nCOPY ../x /x\n` }, 'bad:outside', /Dockerfile:2: COPY failed: forbidden path outside the build context: \.\.\/x/);
      await refused(
        { Dockerfile: `FROM ${s.image}\nCOPY secret.txt /\n`, 'secret.txt': 'no\n', '.dockerignore': '*.txt\n' },
        'bad:ignored',
        /Dockerfile:2: COPY failed: file not found in build context or excluded by \.dockerignore: stat secret\.txt: file does not exist/,
      );
    });

    it('COPY --from of an unknown stage', async () => {
      await refused({ Dockerfile: `FROM ${s.image} AS one\nFROM ${s.image}\nCOPY --from=nosuch /a /a\n` }, 'bad:from', /Dockerfile:3: COPY failed: invalid from flag value nosuch/);
    });

    it('a context that is a symlink loop; a Dockerfile that leads out of the context', async () => {
      const loop = join(s.work, 'loop');
      symlinkSync('loop', loop);
      const r = await build('-t', 'bad:loop', loop);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/unable to prepare context: unable to evaluate symlinks in context path/);
      expect(await taggedIds('bad:loop')).toBe('');
      // A Dockerfile that is a symlink out of the context is read inside it: there is nothing there.
      const out = context({});
      symlinkSync('/etc/hostname', join(out, 'Dockerfile'));
      const escaped = await build('-t', 'bad:escape', out);
      expect(escaped.code).not.toBe(0);
      expect(escaped.stderr).toMatch(/Cannot locate specified Dockerfile: Dockerfile/);
    });
  });

  it('an interrupted build (Ctrl-C) leaves no running container, task, mount or half-made snapshot', async () => {
    const dir = context({ Dockerfile: `FROM ${s.image}\nRUN echo started; sleep 60\n` });
    const child = spawn(process.execPath, [ctrctlBin, 'build', '--network', 'none', '-t', 'bad:interrupted', dir], {
      env: { ...process.env, CTRD_ADDRESS: s.d.address },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor('the RUN to start', () => out.includes('started'), 60_000);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const ctr = async (...args: string[]) => {
      const r = await run('ctr', ['-a', s.d.address, ...args]);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.trim();
    };
    await waitFor('the step container and its task to go', async () => (await ctr('containers', 'ls', '-q')) === '' && (await ctr('tasks', 'ls', '-q')) === '', 30_000);
    await waitFor('the step snapshot to go', async () => !/build-/.test(await ctr('snapshots', 'ls')), 30_000);
    expect(mountsUnder(s.d.dir).filter((m) => /io\.ctrd\.build\.v1|\/rootfs$/.test(m))).toEqual([]);
    expect(await taggedIds('bad:interrupted')).toBe('');
  });
});
