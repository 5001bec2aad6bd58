// What removing a network undoes beyond CNI DEL, which leaves a bridge and its firewall rules for the next
// container: the bridge device, and every iptables rule (filter and nat tables) that names it as an input or
// output interface (the firewall plugin's CNI-ISOLATION-STAGE-1/2 rules).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { internal } from '../../lib/errdefs.js';

const exec = promisify(execFile);

async function command(file: string, args: string[]): Promise<string> {
  try {
    return (await exec(file, args, { maxBuffer: 64 * 1024 * 1024 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw internal(`${file} ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`, err);
  }
}

/** Splits an `iptables -S` rule into its arguments: words, and "quoted strings" with \" escapes. */
export function ruleArgs(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}

/** The rules (`-A CHAIN ...` as iptables -S prints them) of a table that name the device with -i or -o. */
export async function rulesNaming(table: 'filter' | 'nat', device: string): Promise<string[]> {
  const text = await command('iptables', ['-w', '-t', table, '-S']);
  return text.split('\n').filter((l) => {
    if (!l.startsWith('-A ')) return false;
    const args = ruleArgs(l);
    return args.some((a, i) => (a === '-i' || a === '-o') && args[i + 1] === device);
  });
}

/** Removes the bridge device and the rules that name it; what is not there is no error. */
export async function deleteBridge(name: string): Promise<void> {
  if (fs.existsSync(`/sys/class/net/${name}`)) await command('ip', ['link', 'del', name]);
  for (const table of ['filter', 'nat'] as const) {
    for (const rule of await rulesNaming(table, name)) {
      await command('iptables', ['-w', '-t', table, '-D', ...ruleArgs(rule).slice(1)]);
    }
  }
}
