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
  { words: ['deals'], summary: 'deal miner: serve (intake + retrieval) | list | status UUID', load: () => import('../deals/cli.js') },
  { words: ['client'], summary: 'storage client: key new | key show | deal FILE --miner f0… --api URL --key F', load: () => import('../deals/client-cli.js') },
  { words: ['devnet'], summary: 'run the embedded devnet chain (Lotus API on a local port)', load: () => import('../devnet/cli.js') },
  { words: ['auth'], summary: 'API tokens of this repository: create-token | api-info --perm read|write|sign|admin', load: () => import('../auth/cli.js') },
  { words: ['init'], summary: 'create a miner repository (--miner f0… --repo DIR), or adopt a copied Lotus one', load: () => import('./init.js') },
  { words: ['run'], summary: 'run this host\'s miner: --roles=… or --window-post --winning-post --p2p --sctype --sclisten', load: () => import('./run.js') },
  { words: ['log'], summary: 'the running miner\'s loggers: list | set-level [--system COMPONENT] LEVEL (no restart)', load: () => import('./log.js') },
  { words: ['status'], summary: 'the running miner\'s actors and GPU mailbox (--repo DIR)', load: () => import('./status.js') },
  { words: ['proof-worker'], summary: 'proof process of the GPU mailbox (started by `run`, not by hand)', load: () => import('../../actors/proof-worker.js') },
  { words: ['info'], summary: 'miner id, power, sectors by state, deadlines (from the chain: --miner f0… [--chain-api …])', load: () => import('../post/info-cli.js') },
  { words: ['proving'], summary: 'Window PoSt: info | deadlines | deadline N | faults | check N --storage DIR', load: () => import('../post/proving-cli.js') },
  { words: ['post'], summary: 'run the PoSt loops alone: window | winning | all --miner f0… --storage DIR', load: () => import('../post/post-cli.js') },
  { words: ['params'], summary: 'generate (or check) the 2KiB Groth16 parameters', load: () => import('../proofs/params-cli.js') },
  { words: ['sectors', 'numbers'], summary: 'sector-number allocator: info | reserve NAME RANGES | free NAME | set-floor N', load: () => import('../sectorid/numbers-cli.js') },
  { words: ['sectorid'], summary: 'sector-number server: serve (run it) | alloc (ask it for numbers)', load: () => import('../sectorid/serve-cli.js') },
  { words: ['worker'], summary: 'run a seal worker for one miner (--miner-api TOKEN:/ip4/…/tcp/…/http --dir DIR)', load: () => import('../sealing/worker-cli.js') },
  { words: ['sectors'], summary: 'sectors of this seal miner: pledge [N] | list | status N | retry N | remove N', load: () => import('../sealing/sectors-cli.js') },
  { words: ['sealing'], summary: 'seal work of this miner: jobs | workers', load: () => import('../sealing/sealing-cli.js') },
  { words: ['store'], summary: 'the journal store of a component (DIR e.g. <repo>/sealing): check DIR | repair DIR', load: () => import('../store/cli.js') },
  { words: ['demo'], summary: 'the seed topology on this machine: devnet, PoSt miner, seal miner, 2 workers, live view (npm start)', load: () => import('./demo.js') },
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
