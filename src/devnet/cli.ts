// `distminer devnet`: runs the embedded devnet and serves the Lotus API on a local port.
//   distminer devnet --miners 1 --block-delay 4s --dir ~/.distminer-devnet --listen 127.0.0.1:0
// Prints `FULLNODE_API_INFO=TOKEN:/ip4/127.0.0.1/tcp/PORT/http` on stdout (also written to
// DIR/api-info) and runs until SIGINT/SIGTERM. The directory keeps the chain across restarts.
import { writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Devnet } from './node.js';
import { DevnetRpcServer } from './rpc.js';
import { logger } from '../log.js';

const HELP = `usage: distminer devnet [options]
  --dir DIR                 chain directory (default ~/.distminer/devnet); reused on restart
  --miners N                genesis miners t01000… (new directory only; default 1)
  --block-delay D           epoch length: 4s, 500ms, or seconds (default 4s)
  --listen HOST:PORT        API address (default 127.0.0.1:1234; port 0 = any free port)
  --network testnet|mainnet address prefix t… or f… (default testnet)
  --challenge-window N      epochs per deadline (default 60, as mainnet)
  --period-deadlines N      deadlines per proving period (default 48)
  --challenge-lookback N    (default 20)   --fault-cutoff N   (default 70)
  --precommit-delay N       PreCommitChallengeDelay (default 150)
  --expected-leaders N      blocks expected per epoch in the election (default 5)
  --pinned-randomness FILE  JSON [{miner, sector, ticket, seed}] for pre-sealed sectors (new directory only)
`;

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

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      dir: { type: 'string' },
      miners: { type: 'string' },
      'block-delay': { type: 'string' },
      listen: { type: 'string' },
      network: { type: 'string' },
      'challenge-window': { type: 'string' },
      'period-deadlines': { type: 'string' },
      'challenge-lookback': { type: 'string' },
      'fault-cutoff': { type: 'string' },
      'precommit-delay': { type: 'string' },
      'expected-leaders': { type: 'string' },
      'pinned-randomness': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const network = values.network ?? 'testnet';
  if (network !== 'testnet' && network !== 'mainnet') throw new Error(`--network must be testnet or mainnet, got "${network}"`);
  const listen = values.listen ?? '127.0.0.1:1234';
  const lm = /^([^:]+):(\d+)$/.exec(listen);
  if (!lm) throw new Error(`--listen must be HOST:PORT, got "${listen}"`);
  const policy = Object.fromEntries(
    Object.entries({
      wpostChallengeWindow: intOpt(values['challenge-window'], 'challenge-window'),
      wpostPeriodDeadlines: intOpt(values['period-deadlines'], 'period-deadlines'),
      wpostChallengeLookback: intOpt(values['challenge-lookback'], 'challenge-lookback'),
      faultDeclarationCutoff: intOpt(values['fault-cutoff'], 'fault-cutoff'),
      preCommitChallengeDelay: intOpt(values['precommit-delay'], 'precommit-delay'),
    }).filter(([, v]) => v !== undefined),
  );
  const { readFileSync } = await import('node:fs');
  const dir = resolve(values.dir ?? join(homedir(), '.distminer', 'devnet'));
  const devnet = await Devnet.open({
    dir,
    miners: intOpt(values.miners, 'miners'),
    blockDelayMs: values['block-delay'] ? parseDuration(values['block-delay']) : undefined,
    network,
    policy,
    expectedLeaders: intOpt(values['expected-leaders'], 'expected-leaders'),
    pinnedSealRandomness: values['pinned-randomness'] ? JSON.parse(readFileSync(values['pinned-randomness'], 'utf8')) : undefined,
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
