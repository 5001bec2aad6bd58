// For tests to assert that networking left nothing behind: bridge devices (and the veths on them), iptables
// rules naming a container, a bridge or an address, and namespace mounts under a directory.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { deleteBridge, ruleArgs } from '../../services/networks/bridge-teardown.js';

function iptablesRules(table: 'filter' | 'nat'): string[] {
  return execFileSync('iptables', ['-w', '-t', table, '-S'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    .split('\n')
    .filter((l) => l.startsWith('-A '));
}

export function networkLeftovers(o: { bridges: readonly string[]; containerIds: readonly string[]; addresses?: readonly string[]; netnsDir?: string }): string[] {
  const left: string[] = [];
  for (const b of o.bridges) {
    if (fs.existsSync(`/sys/class/net/${b}`)) {
      const ports = fs.existsSync(`/sys/class/net/${b}/brif`) ? fs.readdirSync(`/sys/class/net/${b}/brif`) : [];
      left.push(`link ${b}${ports.length ? ` (with ${ports.join(', ')})` : ''}`);
    }
  }
  for (const table of ['filter', 'nat'] as const) {
    for (const rule of iptablesRules(table)) {
      const args = ruleArgs(rule);
      const names = (x: string) => args.some((a, i) => (a === '-i' || a === '-o') && args[i + 1] === x);
      if (o.bridges.some(names) || o.containerIds.some((id) => rule.includes(id)) || (o.addresses ?? []).some((ip) => args.includes(`${ip}/32`))) {
        left.push(`iptables -t ${table} ${rule}`);
      }
    }
  }
  if (o.netnsDir) {
    const dir = o.netnsDir.endsWith('/') ? o.netnsDir : `${o.netnsDir}/`;
    for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const point = line.split(' ')[4];
      if (point?.startsWith(dir) && line.includes(' nsfs ')) left.push(`netns mount ${point}`);
    }
  }
  return left;
}

/** Removes bridges a test's daemon made (as `network rm` would), with their firewall rules. */
export async function removeBridgesForTest(names: readonly string[]): Promise<void> {
  for (const n of names) await deleteBridge(n);
}
