// ctrctl completion bash|zsh: a completion script made from ctrctl's own verb tree, so it never falls behind
// the verbs. Verbs and flags complete from the tree; a container, image, volume or network argument completes
// from the daemon (ctrctl ps / images / volume ls / network ls, with the same -a/-n flags as the line being completed).
import type { Command } from 'commander';
import { invalidArgument } from '../../lib/errdefs.js';

interface Node {
  /** The verb path, "container ps". */
  path: string;
  words: string[];
  /** What the first argument is, for completing it from the daemon. */
  argument: 'container' | 'image' | 'volume' | 'network' | '';
}

function argumentKind(cmd: Command): Node['argument'] {
  const first = (cmd.registeredArguments[0]?.name() ?? '').toLowerCase();
  if (first.startsWith('container') || first === 'source' || first === 'target') return 'container';
  if (first.startsWith('image') || first === 'reference') return 'image';
  if (first.startsWith('volume')) return 'volume';
  if (first.startsWith('network')) return 'network';
  return '';
}

function walk(cmd: Command, prefix: string, out: Node[]): void {
  const subs = cmd.commands.filter((c) => c.name() !== 'help');
  const words = [
    ...subs.flatMap((c) => [c.name(), ...c.aliases()]),
    ...cmd.options.flatMap((o) => [o.short, o.long].filter((x): x is string => Boolean(x))),
    '--help',
  ];
  out.push({ path: prefix, words, argument: argumentKind(cmd) });
  for (const c of subs) for (const name of [c.name(), ...c.aliases()]) walk(c, prefix ? `${prefix} ${name}` : name, out);
}

const lister: Record<Exclude<Node['argument'], ''>, string> = {
  container: `ctrctl "\${globals[@]}" ps -a --format '{{.Names}}' 2>/dev/null`,
  image: `ctrctl "\${globals[@]}" images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep -v '<none>'`,
  volume: `ctrctl "\${globals[@]}" volume ls -q 2>/dev/null`,
  network: `ctrctl "\${globals[@]}" network ls --format '{{.Name}}' 2>/dev/null`,
};

function bashScript(nodes: readonly Node[]): string {
  const cases = nodes
    .map((n) => {
      const dynamic = n.argument ? `\n      [[ $cur != -* ]] && dynamic=$(${lister[n.argument]})` : '';
      return `    '${n.path}')\n      words_here='${n.words.join(' ')}'${dynamic}\n      ;;`;
    })
    .join('\n');
  return `# bash completion for ctrctl; load with: source <(ctrctl completion bash)
_ctrctl() {
  local cur=\${COMP_WORDS[COMP_CWORD]} path='' words_here='' dynamic='' w i globals=()
  # The verb path so far: words that are not flags, and the global flags' values kept for the listers.
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    case $w in
      -a|--address|-n|--namespace) if [[ -z $path ]]; then globals+=("$w" "\${COMP_WORDS[i+1]}"); ((i++)); fi ;;
      -*) ;;
      *) if [[ -n $(_ctrctl_node "\${path:+$path }$w") ]]; then path=\${path:+$path }$w; fi ;;
    esac
  done
  _ctrctl_words "$path"
  COMPREPLY=($(compgen -W "$words_here $dynamic" -- "$cur"))
}
_ctrctl_node() { _ctrctl_words "$1"; echo "$words_here"; }
_ctrctl_words() {
  case $1 in
${cases}
  esac
}
complete -F _ctrctl ctrctl
`;
}

function zshScript(): string {
  // zsh runs bash completion functions through bashcompinit: one script, both shells.
  return `#compdef ctrctl
# zsh completion for ctrctl; load with: source <(ctrctl completion zsh)
autoload -U +X bashcompinit && bashcompinit
`;
}

export function addCompletionCommand(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script (bash or zsh): source <(ctrctl completion bash)')
    .argument('<shell>', 'bash or zsh')
    .action((shell: string) => {
      const nodes: Node[] = [];
      walk(program, '', nodes);
      if (shell === 'bash') process.stdout.write(bashScript(nodes));
      else if (shell === 'zsh') process.stdout.write(zshScript() + bashScript(nodes));
      else throw invalidArgument(`unsupported shell "${shell}": ctrctl completes bash and zsh`);
    });
}
