// `distminer devnet`: runs the embedded devnet and serves the Lotus API on a local port.
//   distminer devnet --miners 1 --block-delay 4s --dir ~/.distminer-devnet --listen 127.0.0.1:0
// Prints `FULLNODE_API_INFO=TOKEN:/ip4/127.0.0.1/tcp/PORT/http` on stdout (also written to
// DIR/api-info) and runs until SIGINT/SIGTERM. The directory keeps the chain across restarts.
import { writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { Devnet } from './node.js';
import { DevnetRpcServer } from './rpc.js';
import { logger } from '../log.js';

/** `distminer devnet`'s options, parsed by commander (src/cli/program.ts). */
export interface DevnetOptions {
  dir?: string;
  miners?: string;
  blockDelay?: string;
  listen?: string;
  network?: string;
  challengeWindow?: string;
  periodDeadlines?: string;
  challengeLookback?: string;
  faultCutoff?: string;
  precommitDelay?: string;
  expectedLeaders?: string;
  nullRounds?: string;
  pinnedRandomness?: string;
}

export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(s.trim());
  if (!m) throw new Error(`cannot parse duration "${s}" (e.g. 4s, 500ms)`);
  const v = Number(m[1]);
  return m[2] === 'ms' ? v : m[2] === 'm' ? v * 60_000 : v * 1000;
}

function intOpt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got "${v}"`);
  return n;
}

function chanceOpt(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !(n >= 0 && n <= 1)) throw new Error(`--null-rounds must be a number from 0 to 1, got "${v}"`);
  return n;
}

export async function main(values: DevnetOptions): Promise<number> {
  const network = values.network ?? 'testnet';
  if (network !== 'testnet' && network !== 'mainnet') throw new Error(`--network must be testnet or mainnet, got "${network}"`);
  const listen = values.listen ?? '127.0.0.1:1234';
  const lm = /^([^:]+):(\d+)$/.exec(listen);
  if (!lm) throw new Error(`--listen must be HOST:PORT, got "${listen}"`);
  const policy = Object.fromEntries(
    Object.entries({
      wpostChallengeWindow: intOpt(values.challengeWindow, 'challenge-window'),
      wpostPeriodDeadlines: intOpt(values.periodDeadlines, 'period-deadlines'),
      wpostChallengeLookback: intOpt(values.challengeLookback, 'challenge-lookback'),
      faultDeclarationCutoff: intOpt(values.faultCutoff, 'fault-cutoff'),
      preCommitChallengeDelay: intOpt(values.precommitDelay, 'precommit-delay'),
    }).filter(([, v]) => v !== undefined),
  );
  const { readFileSync } = await import('node:fs');
  const dir = resolve(values.dir ?? join(homedir(), '.distminer', 'devnet'));
  const devnet = await Devnet.open({
    dir,
    miners: intOpt(values.miners, 'miners'),
    blockDelayMs: values.blockDelay ? parseDuration(values.blockDelay) : undefined,
    network,
    policy,
    expectedLeaders: intOpt(values.expectedLeaders, 'expected-leaders'),
    nullRoundChance: chanceOpt(values.nullRounds),
    pinnedSealRandomness: values.pinnedRandomness ? JSON.parse(readFileSync(values.pinnedRandomness, 'utf8')) : undefined,
  });
  const server = new DevnetRpcServer(devnet);
  await server.listen(lm[1], Number(lm[2]));
  const info = server.apiInfo(devnet.adminToken());
  writeFileSync(join(dir, 'api-info'), info + '\n');
  process.stdout.write(`FULLNODE_API_INFO=${info}\n`);
  logger('devnet').info({ dir, miners: [...devnet.miners.keys()], head: devnet.head().Height, blockDelayMs: devnet.blockDelayMs }, 'devnet running');
  await new Promise<void>((resolveStop) => {
    const stop = () => resolveStop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  await devnet.close();
  return 0;
}
