// The network benchmark: what ctrd's networking adds to a task's life, against the CNI plugins run by hand.
// One container, its task made and deleted over gRPC (Tasks.Create, Tasks.Delete) N times without ctrd's
// networking and N times on the default bridge network (a netns, CNI ADD of loopback, bridge and firewall,
// the hosts files, then DEL), the two alternating in Thue–Morse order. The reference, in the same run: a
// bash loop doing what the plugins themselves take for one container, with nothing of ctrd around them
// (`unshare --net=FILE`, the same plugins' ADD and DEL with the same configuration, umount and rm).
// Reports the median per side and ctrd's added time ÷ the reference's: near 1, ctrd adds little of its own.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Option, type Command } from 'commander';
import { revision } from '../lib/version.js';
import { unary } from '../lib/grpc/client.js';
import { defaultNetworkName, emptyNetwork, networkLabel, networkLabelOf } from '../lib/container-network.js';
import { run, TestDaemon } from '../test/harness/daemon.js';
import { pushBusybox, removeTestImages } from '../test/harness/images.js';
import { startRegistry } from '../test/harness/registry.js';
import { networkLeftovers, removeBridgesForTest } from '../test/harness/network.js';
import { loadDefaults, parseCount, table } from './load.js';
import { median, thueMorse } from './stats.js';

export interface NetworkParams {
  cycles: number;
  timeoutSec: number;
}

export interface NetworkResult {
  benchmark: 'network';
  revision: string;
  node: string;
  cpus: number;
  params: NetworkParams;
  /** Seconds of each create + delete, per side. */
  plainSec: number[];
  networkedSec: number[];
  /** Seconds per cycle of the plugins run by hand (total ÷ cycles). */
  referenceSec: number;
  /** (networked median − plain median) ÷ reference. */
  ratio: number;
}

function addOptions(cmd: Command): void {
  cmd.addOption(new Option('--cycles <n>', 'network: task create + delete cycles per side').argParser(parseCount).default(40));
}

/** The reference: the same plugins with the same configuration, by hand, `cycles` times; seconds per cycle. */
async function pluginsByHand(dir: string, cycles: number): Promise<number> {
  const bridge = `ctrdbn${process.pid % 100000}`;
  const conf = (type: string, extra: string) => `{"cniVersion":"1.0.0","name":"benchref","type":"${type}"${extra}}`;
  const bridgeConf = conf(
    'bridge',
    `,"bridge":"${bridge}","isGateway":true,"ipMasq":true,"hairpinMode":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.219.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"${dir}/ipam"}`,
  );
  // The firewall gets the bridge's result as its prevResult, as a runtime passes it.
  writeFileSync(join(dir, 'firewall.prefix'), conf('firewall', ',"backend":"iptables","ingressPolicy":"same-bridge","prevResult":').slice(0, -1));
  writeFileSync(join(dir, 'bridge.json'), bridgeConf);
  writeFileSync(join(dir, 'loopback.json'), conf('loopback', ''));
  const script = `
set -euo pipefail
export CNI_PATH=/usr/lib/cni CNI_CONTAINERID=benchref CNI_IFNAME=eth0
ns=${dir}/netns
for i in $(seq ${cycles}); do
  : > "$ns"; unshare --net="$ns" true; export CNI_NETNS="$ns"
  CNI_COMMAND=ADD CNI_IFNAME=lo /usr/lib/cni/loopback < ${dir}/loopback.json > /dev/null
  res=$(CNI_COMMAND=ADD /usr/lib/cni/bridge < ${dir}/bridge.json)
  printf '%s%s}' "$(cat ${dir}/firewall.prefix)" "$res" | CNI_COMMAND=ADD /usr/lib/cni/firewall > /dev/null
  printf '%s%s}' "$(cat ${dir}/firewall.prefix)" "$res" | CNI_COMMAND=DEL /usr/lib/cni/firewall
  CNI_COMMAND=DEL /usr/lib/cni/bridge < ${dir}/bridge.json
  umount "$ns"; rm -f "$ns"
done
`;
  writeFileSync(join(dir, 'ref.sh'), script);
  const t0 = performance.now();
  const r = await run('bash', [join(dir, 'ref.sh')], { timeoutMs: 600_000 });
  const sec = (performance.now() - t0) / 1000;
  await removeBridgesForTest([bridge]);
  if (r.code !== 0) throw new Error(`the reference script failed: ${r.stderr.slice(-2000)}`);
  return sec / cycles;
}

export async function runNetwork(p: NetworkParams, progress: (line: string) => void): Promise<NetworkResult> {
  const dir = mkdtempSync(join(tmpdir(), 'ctrd-bench-network-'));
  const d = new TestDaemon(['--log-level', 'warn']);
  const reg = await startRegistry();
  const ids: string[] = [];
  try {
    await d.start();
    const image = (await pushBusybox(reg)).latest.ref;
    const ctl = async (...args: string[]) => {
      const r = await d.ctrctl(args, { timeoutMs: 120_000 });
      if (r.code !== 0) throw new Error(`ctrctl ${args.join(' ')}: ${r.stderr}`);
      return r.stdout.trim();
    };
    await ctl('pull', '-q', image);
    const plain = await ctl('create', image, 'true');
    const networked = await ctl('create', image, 'true');
    ids.push(plain, networked);
    // Labelled here, whatever ctrctl records: the plain one has none of ctrd's networking (its spec's own empty
    // namespace), the other the default network.
    await d.ctr(['containers', 'label', plain, `${networkLabel}=`]);
    await d.ctr(['containers', 'label', networked, `${networkLabel}=${networkLabelOf({ ...emptyNetwork('networks'), networks: [{ name: defaultNetworkName, aliases: [] }] })[networkLabel]}`]);
    const c = d.clients();
    const cycle = async (id: string) => {
      const container = (await unary(c.containers, c.containers.get, { id })).container!;
      const mounts = (await unary(c.snapshots, c.snapshots.mounts, { snapshotter: container.snapshotter, key: container.snapshotKey })).mounts;
      const t0 = performance.now();
      await unary(c.tasks, c.tasks.create, { containerId: id, rootfs: mounts, stdin: '', stdout: '', stderr: '', terminal: false, checkpoint: undefined, options: undefined, runtimePath: '' });
      await unary(c.tasks, c.tasks.delete, { containerId: id });
      return (performance.now() - t0) / 1000;
    };
    const plainSec: number[] = [];
    const networkedSec: number[] = [];
    try {
      await cycle(plain);
      await cycle(networked);
      for (let i = 0; i < p.cycles; i++) {
        const order = thueMorse(i) ? [networked, plain] : [plain, networked];
        for (const id of order) (id === plain ? plainSec : networkedSec).push(await cycle(id));
        if ((i + 1) % 10 === 0) progress(`  ${i + 1}/${p.cycles}: median plain ${median(plainSec).toFixed(3)} s, networked ${median(networkedSec).toFixed(3)} s`);
      }
    } finally {
      c.close();
    }
    progress('the reference: the same plugins by hand');
    const referenceSec = await pluginsByHand(dir, p.cycles);
    await ctl('rm', plain, networked);
    const left = networkLeftovers({ bridges: [], containerIds: ids, netnsDir: d.state });
    if (left.length > 0) throw new Error(`the benchmark left:\n${left.join('\n')}`);
    return {
      benchmark: 'network',
      revision,
      node: process.version,
      cpus: cpus().length,
      params: p,
      plainSec,
      networkedSec,
      referenceSec,
      ratio: (median(networkedSec) - median(plainSec)) / referenceSec,
    };
  } finally {
    await reg.stop();
    await d.cleanup();
    removeTestImages();
    rmSync(dir, { recursive: true, force: true });
  }
}

const f = (n: number) => n.toFixed(3);

export function formatNetwork(r: NetworkResult): string {
  const added = median(r.networkedSec) - median(r.plainSec);
  return [
    `ctrd network benchmark — revision ${r.revision}, node ${r.node}, ${r.cpus} CPUs`,
    '',
    `Tasks.Create + Tasks.Delete of one container, ${r.params.cycles} times without ctrd's networking and ${r.params.cycles} times on the`,
    'default bridge network, alternating; reference: the same CNI plugins (loopback, bridge with host-local, firewall) with the',
    'same configuration, ADD then DEL into a fresh netns, by hand in a bash loop. ratio = the time networking adds ÷ the reference.',
    table([
      ['', 'median s', 'min s', 'max s'],
      ['task, no network', f(median(r.plainSec)), f(Math.min(...r.plainSec)), f(Math.max(...r.plainSec))],
      ['task, bridge network', f(median(r.networkedSec)), f(Math.min(...r.networkedSec)), f(Math.max(...r.networkedSec))],
      ['added by networking', f(added), '', ''],
      ['plugins by hand (per cycle)', f(r.referenceSec), '', ''],
      ['ratio', r.ratio.toFixed(2), '', ''],
    ]),
  ].join('\n');
}

export const networkBenchmark = {
  name: 'network',
  description: "a task's networking against the CNI plugins run by hand",
  addOptions,
  run: (flags: Record<string, unknown>, progress: (line: string) => void) =>
    runNetwork({ cycles: flags['cycles'] as number, timeoutSec: (flags['timeout'] as number | undefined) ?? loadDefaults.timeoutSec }, progress),
  format: formatNetwork,
};
