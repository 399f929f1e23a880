// The command table. Each entry names the words that select it and a lazy loader of a module
// exporting `main(args)`. Longer word sequences win (`sectors numbers info` before `sectors`).

export interface CommandModule {
  main(args: string[]): Promise<number>;
}

export interface Command {
  words: string[];
  summary: string;
  load(): Promise<CommandModule>;
}

export const commands: Command[] = [
  { words: ['params'], summary: 'generate (or check) the 2KiB Groth16 parameters', load: () => import('../proofs/params-cli.js') },
];

export function findCommand(argv: string[]): { command: Command; words: number } | undefined {
  let best: { command: Command; words: number } | undefined;
  for (const c of commands) {
    if (c.words.length <= argv.length && c.words.every((w, i) => argv[i] === w)) {
      if (!best || c.words.length > best.words) best = { command: c, words: c.words.length };
    }
  }
  return best;
}

export function usage(): string {
  const width = Math.max(...commands.map((c) => c.words.join(' ').length));
  const lines = commands.map((c) => `  ${c.words.join(' ').padEnd(width)}  ${c.summary}`);
  return `usage: distminer <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}
