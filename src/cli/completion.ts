// `distminer completion`: a bash completion script generated from the commander tree (the
// commands, subcommands and long options that program.ts declares; hidden ones left out), so
// that it cannot drift from the parser. Load it with `eval "$(distminer completion)"`.
import type { Command } from 'commander';

interface Node {
  path: string;
  subs: string[];
  flags: string[];
}

function walk(cmd: Command, path: string[], inherited: string[], out: Node[]): void {
  // Hidden options and commands are internal (aliases, test switches): not offered.
  const own = cmd.options.filter((o) => !o.hidden && o.long).map((o) => o.long!);
  const flags = [...new Set([...inherited, ...own, '--help'])];
  const subs = cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);
  out.push({ path: path.join(' '), subs: subs.map((c) => c.name()), flags });
  // A group's options are accepted after its subcommands too (program.ts): offer them there.
  for (const c of subs)
    walk(
      c,
      [...path, c.name()],
      flags.filter((f) => f !== '--version'),
      out,
    );
}

export function bashCompletion(program: Command): string {
  const nodes: Node[] = [];
  walk(program, [], [], nodes);
  const q = (s: string) => `'${s}'`;
  const subsCase = nodes.filter((n) => n.subs.length).map((n) => `    ${q(n.path)}) echo ${q(n.subs.join(' '))} ;;`);
  const flagsCase = nodes.map((n) => `    ${q(n.path)}) echo ${q(n.flags.join(' '))} ;;`);
  return `# bash completion for distminer, generated from its command tree by \`distminer completion\`
_distminer_subs() {
  case "$1" in
${subsCase.join('\n')}
  esac
}
_distminer_flags() {
  case "$1" in
${flagsCase.join('\n')}
  esac
}
_distminer() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" i w
  # The command path so far: the words that name a subcommand of the path before them.
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case " $(_distminer_subs "$path") " in
      *" $w "*) path="\${path:+$path }$w" ;;
    esac
  done
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(_distminer_flags "$path")" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(_distminer_subs "$path")" -- "$cur"))
    [[ \${#COMPREPLY[@]} -eq 0 ]] && COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _distminer distminer
`;
}

export async function main(program: Command): Promise<number> {
  process.stdout.write(bashCompletion(program));
  return 0;
}
