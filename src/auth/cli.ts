// `distminer auth create-token --perm read|write|sign|admin [--repo DIR]` and
// `distminer auth api-info --perm …`: tokens of this repository's secret, as lotus-miner's
// `auth create-token` / `auth api-info`. Give each host the lowest level it needs: a seal
// worker or a `--sctype=get` miner `write`, a dashboard `read`, the operator `admin`.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type FlagSpec, flagsHelp, parseFlags } from '../config/flags.js';
import { ConfigError } from '../config/multiaddr.js';
import { API_FILE, openRepo, resolveRepoPath } from '../config/repo.js';
import { writeFileAtomic } from '../util/durable.js';
import { PERMISSIONS, isPermission } from './index.js';

const FLAGS: Record<string, FlagSpec> = {
  perm: { type: 'string', help: `permission level: ${PERMISSIONS.join(' | ')} (each includes the ones before it)` },
  repo: { type: 'string', help: 'repository directory (default $DISTMINER_PATH, then $LOTUS_MINER_PATH)' },
  output: { type: 'string', help: 'create-token: write the token to this file (mode 0600, atomically) instead of stdout, e.g. another host\'s <repo>/sectorid-token' },
};

const USAGE = `usage: distminer auth create-token --perm LEVEL [--repo DIR] [--output FILE]
       distminer auth api-info --perm LEVEL [--repo DIR]   (MINER_API_INFO=TOKEN:MULTIADDR of the running miner)

${flagsHelp(FLAGS)}
`;

export async function main(args: string[]): Promise<number> {
  if (args.length === 0 || args.includes('--help') || args.includes('-h')) {
    process.stdout.write(USAGE);
    return args.length === 0 ? 2 : 0;
  }
  const [sub, ...rest] = args;
  if (sub !== 'create-token' && sub !== 'api-info') throw new ConfigError(`auth: unknown subcommand "${sub}"`, 'use create-token or api-info');
  const { flags, positional } = parseFlags(rest, FLAGS, `auth ${sub}`);
  if (positional.length > 0) throw new ConfigError(`auth ${sub}: unexpected argument "${positional[0]}"`);
  const perm = flags.perm;
  if (!isPermission(perm)) throw new ConfigError(`auth ${sub}: --perm must be one of ${PERMISSIONS.join(', ')}${perm === undefined ? '' : `, got "${String(perm)}"`}`);
  const repo = openRepo(resolveRepoPath(flags.repo as string | undefined));
  const token = repo.auth.issue(perm);
  if (sub === 'create-token') {
    if (flags.output !== undefined) writeFileAtomic(String(flags.output), `${token}\n`, 0o600);
    else process.stdout.write(`${token}\n`);
    return 0;
  }
  if (flags.output !== undefined) throw new ConfigError('auth api-info: --output is for create-token');
  const apiFile = join(repo.path, API_FILE);
  if (!existsSync(apiFile)) throw new ConfigError(`${apiFile} is missing: the miner of this repository is not running`, 'start it with `distminer run`');
  process.stdout.write(`MINER_API_INFO=${token}:${readFileSync(apiFile, 'utf8').trim()}\n`);
  return 0;
}
