// `distminer init --miner f01000 --repo DIR [--api /ip4/127.0.0.1/tcp/2345/http]`: create a
// miner repository (config.toml with the miner id and API address, a random API token), or
// adopt a copied Lotus miner repository (adds the [Distminer] section and a token).
import { type FlagSpec, flagsHelp, parseFlags } from '../config/flags.js';
import { initRepo, resolveRepoPath } from '../config/repo.js';
import { DEFAULT_API_LISTEN } from '../config/settings.js';

const FLAGS: Record<string, FlagSpec> = {
  miner: { type: 'string', help: 'the miner actor id, e.g. f01000 (required)' },
  repo: { type: 'string', help: 'repository directory (default $DISTMINER_PATH, then $LOTUS_MINER_PATH)' },
  api: { type: 'string', help: `API listen multiaddr (default ${DEFAULT_API_LISTEN})` },
};

export async function main(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`usage: distminer init --miner f0… [--repo DIR] [--api MULTIADDR]\n\n${flagsHelp(FLAGS)}\n`);
    return 0;
  }
  const { flags, positional } = parseFlags(args, FLAGS, 'init');
  if (positional.length > 0) throw new Error(`init: unexpected argument "${positional[0]}"`);
  if (typeof flags.miner !== 'string') throw Object.assign(new Error('init: --miner is required'), { hint: 'e.g. distminer init --miner f01000 --repo ~/.distminer' });
  const path = resolveRepoPath(flags.repo as string | undefined);
  const r = initRepo(path, flags.miner, (flags.api as string | undefined) ?? DEFAULT_API_LISTEN);
  process.stdout.write(r.created ? `initialised repository ${r.path} for miner ${flags.miner}\n` : `adopted repository ${r.path} for miner ${flags.miner} (added [Distminer] and/or a token)\n`);
  return 0;
}
