// ctrctl's listing and pruning verbs over containers in every state: ps --filter (status, name, label, exited,
// ancestor, id, before/since), -s, -n/-l; container prune and system prune (asking first, -f, --filter);
// info's container counts. Bad filters are refused with the filter named.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ctrctlSuite } from '../harness/ctrctl.js';
import { ctrctlBin, run, waitFor } from '../harness/daemon.js';
import { mountsUnder } from '../harness/mounts.js';
import { shimsOf } from '../harness/tasks.js';


describe.skipIf(process.getuid?.() !== 0)('ctrctl ps filters and prune', () => {
  const suite = ctrctlSuite('listing', { pull: true });

  const ctl = (...args: string[]) => suite.ctl(...args);
  const names = async (...args: string[]) => (await ctl('ps', '--format', '{{.Names}}', ...args)).split('\n').filter(Boolean).sort();

  it('ps --filter, -s, -n and -l; info counts containers by state', async () => {
    await ctl('run', '-d', '--name', 'up1', '--label', 'tier=web', '-l', 'solo', suite.image, 'sleep', '1000');
    await ctl('create', '--name', 'made', suite.image, 'true');
    await ctl('run', '--name', 'ok0', suite.image, 'true');
    const failed = await suite.d.ctrctl(['run', '--name', 'bad3', suite.image, 'sh', '-c', 'exit 3'], { timeoutMs: 20_000 });
    expect(failed.code).toBe(3);
    await ctl('run', '-d', '--name', 'up2', suite.image, 'sh', '-c', 'echo x > /x; sleep 1000');

    expect(await names()).toEqual(['up1', 'up2']);
    expect(await names('-a')).toEqual(['bad3', 'made', 'ok0', 'up1', 'up2']);
    // A status other than running lists stopped containers without -a.
    expect(await names('--filter', 'status=exited')).toEqual(['bad3', 'ok0']);
    expect(await names('--filter', 'status=created')).toEqual(['made']);
    expect(await names('--filter', 'exited=3')).toEqual(['bad3']);
    expect(await names('-a', '--filter', 'name=^/up')).toEqual(['up1', 'up2']);
    expect(await names('-a', '--filter', 'name=ok', '--filter', 'name=bad')).toEqual(['bad3', 'ok0']);
    expect(await names('-a', '--filter', `ancestor=${suite.image}`)).toHaveLength(5);
    expect(await names('-a', '--filter', 'ancestor=nothere:1')).toEqual([]);
    const up1 = await ctl('inspect', '-f', '{{.Id}}', 'up1');
    expect(await names('-a', '--filter', `id=${up1.slice(0, 10)}`)).toEqual(['up1']);
    expect(await names('-a', '--filter', 'since=ok0')).toEqual(['bad3', 'up2']);
    expect(await names('-a', '--filter', 'before=made')).toEqual(['up1']);
    expect(await names('-a', '--filter', 'label=tier=web')).toEqual(['up1']);
    expect(await names('-a', '--filter', 'label=solo')).toEqual(['up1']);
    expect(await names('-a', '--filter', 'label=tier=db')).toEqual([]);
    expect(await names('-n', '2')).toEqual(['bad3', 'up2']);
    expect(await names('-l')).toEqual(['up2']);
    // -s: the writable layer (the 2-byte /x and what the shell touched) and the suite.image under it.
    const size = await ctl('ps', '-s', '--filter', 'name=up2', '--format', '{{.Size}}');
    expect(size).toMatch(/^\d+(\.\d+)?[kM]?B \(virtual \d+(\.\d+)?[kM]B\)$/);
    const table = (await ctl('ps', '-s')).split('\n')[0]!;
    expect(table).toMatch(/NAMES\s+SIZE$/);

    // Shell completion: verbs and flags from the verb tree, container names from the daemon.
    const bin = path.join(suite.work, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, 'ctrctl'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(ctrctlBin)} "$@"\n`, { mode: 0o755 });
    const complete = async (...words: string[]) => {
      const script = `source <(ctrctl completion bash); COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _ctrctl; echo "\${COMPREPLY[*]}"`;
      const r = await run('bash', ['-c', script], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, CTRD_ADDRESS: suite.d.address } });
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.trim().split(' ').filter(Boolean).sort();
    };
    expect(await complete('ctrctl', 'ima')).toEqual(['image', 'images']);
    expect(await complete('ctrctl', 'im')).toEqual(['image', 'images', 'import']);
    expect(await complete('ctrctl', 'container', 'pr')).toEqual(['prune']);
    expect(await complete('ctrctl', 'ps', '--fi')).toEqual(['--filter']);
    expect(await complete('ctrctl', 'stop', 'up')).toEqual(['up1', 'up2']);
    expect(await complete('ctrctl', 'container', 'inspect', 'ma')).toEqual(['made']);
    const unsupported = await suite.d.ctrctl(['completion', 'fish']);
    expect(unsupported.code).toBe(1);
    expect(unsupported.stderr).toMatch(/unsupported shell "fish"/);

    const info = await ctl('info', '--format', '{{.Containers}} {{.ContainersRunning}} {{.ContainersPaused}} {{.ContainersStopped}} {{.Images}}');
    expect(info).toBe('5 2 0 3 1');
    const df = (await ctl('system', 'df', '--format', '{{.Type}} {{.TotalCount}} {{.Active}} {{.Size}}')).split('\n');
    expect(df[1]).toMatch(/^Containers 5 2 \d+(\.\d+)?k?B$/);

    for (const [filter, message] of [
      ['status=sleeping', /invalid filter 'status=sleeping'/],
      ['colour=red', /invalid filter 'colour'/],
      ['exited=x', /invalid filter 'exited=x'/],
      ['justaword', /bad format of filter/],
    ] as const) {
      const r = await suite.d.ctrctl(['ps', '--filter', filter]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(message);
    }
  }, 120_000);

  it('container prune asks first, removes only stopped containers and says what it freed; system prune too', async () => {
    const refused = await suite.d.ctrctl(['container', 'prune']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refusing to prune without confirmation/);
    const answeredNo = await suite.d.ctrctl(['container', 'prune'], { input: 'n\n' });
    // Without a terminal there is no asking: stdin is not a TTY here, so the refusal stands.
    expect(answeredNo.code).toBe(1);
    expect(await names('-a')).toHaveLength(5);

    const bad = await suite.d.ctrctl(['container', 'prune', '-f', '--filter', 'until=someday']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/invalid filter 'until=someday'/);
    // until=: only what was made before then; nothing of these is older than an hour.
    expect(await ctl('container', 'prune', '-f', '--filter', 'until=1h')).toBe('Total reclaimed space: 0B');

    const out = await ctl('container', 'prune', '-f', '--filter', 'label=io.ctrd/name=ok0');
    expect(out.split('\n')[0]).toBe('Deleted Containers:');
    expect(await names('-a')).toEqual(['bad3', 'made', 'up1', 'up2']);

    const sys = await ctl('system', 'prune', '-f');
    expect(sys).toMatch(/^Deleted Containers:\n[0-9a-f]{64}\n[0-9a-f]{64}\n\nTotal reclaimed space: /);
    expect(await names('-a')).toEqual(['up1', 'up2']);
    expect(await ctl('images', '-q')).not.toBe('');

    await ctl('rm', '-f', 'up1', 'up2');
    await waitFor('the shims to go', () => shimsOf(suite.d.address).length === 0);
    // -a: images no container uses go too.
    const all = await ctl('system', 'prune', '-a', '-f');
    expect(all).toMatch(/Deleted Images:\nuntagged: /);
    expect(await ctl('images', '-q')).toBe('');
    expect(mountsUnder(suite.d.root)).toEqual([]);
  });
});
