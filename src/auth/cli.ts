// `distminer auth create-token --perm read|write|sign|admin [--repo DIR]` and
// `distminer auth api-info --perm …`: tokens of this repository's secret, as lotus-miner's
// `auth create-token` / `auth api-info`. Give each host the lowest level it needs: a seal
// worker or a `--sctype=get` miner `write`, a dashboard `read`, the operator `admin`.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config/multiaddr.js';
import { API_FILE, openRepo, resolveRepoPath } from '../config/repo.js';
import { writeFileAtomic } from '../util/durable.js';
import { PERMISSIONS, isPermission } from './index.js';

interface AuthOptions {
  perm?: string;
  repo?: string;
  output?: string;
}

function tokenOf(flags: AuthOptions, sub: string): { token: string; repo: ReturnType<typeof openRepo> } {
  const perm = flags.perm;
  if (!isPermission(perm)) throw new ConfigError(`auth ${sub}: --perm must be one of ${PERMISSIONS.join(', ')}${perm === undefined ? '' : `, got "${String(perm)}"`}`);
  const repo = openRepo(resolveRepoPath(flags.repo));
  return { token: repo.auth.issue(perm), repo };
}

/** `distminer auth create-token --perm LEVEL [--repo DIR] [--output FILE]` */
export async function createToken(flags: AuthOptions): Promise<number> {
  const { token } = tokenOf(flags, 'create-token');
  if (flags.output !== undefined) writeFileAtomic(flags.output, `${token}\n`, 0o600);
  else process.stdout.write(`${token}\n`);
  return 0;
}

/** `distminer auth api-info --perm LEVEL [--repo DIR]`: MINER_API_INFO=TOKEN:MULTIADDR of the running miner. */
export async function apiInfo(flags: AuthOptions): Promise<number> {
  const { token, repo } = tokenOf(flags, 'api-info');
  const apiFile = join(repo.path, API_FILE);
  if (!existsSync(apiFile)) throw new ConfigError(`${apiFile} is missing: the miner of this repository is not running`, 'start it with `distminer run`');
  process.stdout.write(`MINER_API_INFO=${token}:${readFileSync(apiFile, 'utf8').trim()}\n`);
  return 0;
}
