// What `network rm` must undo beyond CNI DEL. The bridge plugin's DEL removes a container's veth but leaves
// the bridge device, and the firewall plugin (ingressPolicy "same-bridge") leaves its per-bridge isolation
// rules in the filter table's CNI-ISOLATION-STAGE-1/2 chains (`-i BR ! -o BR -j CNI-ISOLATION-STAGE-2`,
// `-o BR -j DROP`), as running the plugins by hand shows. deleteBridge removes the device and every rule in
// the filter and nat tables that names it as an in or out interface; the shared CNI-* chains stay.
import { existsSync } from 'node:fs';
import { runChecked as run } from '../../lib/process.js';

export const teardownTables = ['filter', 'nat'] as const;

/** One rule of `iptables -S`: its chain and the arguments after `-A CHAIN`, unquoted. */
export interface IptablesRule {
  table: string;
  chain: string;
  args: string[];
  /** The line as iptables printed it. */
  text: string;
}

/** The appended rules (not the chain policies or declarations) of a table, per `iptables -t TABLE -S`. */
export async function listRules(table: string): Promise<IptablesRule[]> {
  const out = await run('iptables', ['-w', '-t', table, '-S']);
  const rules: IptablesRule[] = [];
  for (const line of out.split('\n')) {
    if (!line.startsWith('-A ')) continue;
    const words = splitIptablesLine(line);
    rules.push({ table, chain: words[1]!, args: words.slice(2), text: line });
  }
  return rules;
}

/** Splits a line of `iptables -S`, which double-quotes words with spaces and escapes quotes in them. */
export function splitIptablesLine(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] === ' ') {
      i++;
      continue;
    }
    let word = '';
    while (i < line.length && line[i] !== ' ') {
      if (line[i] === '"') {
        i++;
        while (i < line.length && line[i] !== '"') {
          if (line[i] === '\\' && i + 1 < line.length) i++;
          word += line[i++];
        }
        i++;
      } else {
        word += line[i++];
      }
    }
    words.push(word);
  }
  return words;
}

/** Whether a rule matches on device as its in or out interface (negated or not). */
export function namesDevice(rule: IptablesRule, device: string): boolean {
  return rule.args.some((a, i) => (a === '-i' || a === '-o') && rule.args[i + 1] === device);
}

/** The bridge device and its firewall rules gone; nothing to do for a bridge already gone. */
export async function deleteBridge(name: string): Promise<void> {
  if (existsSync(`/sys/class/net/${name}`)) {
    try {
      await run('ip', ['link', 'del', name]);
    } catch (err) {
      // Gone meanwhile (another remover): what was wanted.
      if (existsSync(`/sys/class/net/${name}`)) throw err;
    }
  }
  for (const table of teardownTables) {
    for (const rule of await listRules(table)) {
      if (!namesDevice(rule, name)) continue;
      try {
        await run('iptables', ['-w', '-t', table, '-D', rule.chain, ...rule.args]);
      } catch (err) {
        // Deleted meanwhile by another remover: what was wanted.
        if ((await listRules(table)).some((r) => r.text === rule.text)) throw err;
      }
    }
  }
}
