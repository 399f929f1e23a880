// `distminer sectorid serve|alloc` — run the sector-number server in the foreground (the
// process the supervisor's sector-id role, or a test, starts), or ask a server for numbers.
//
//   distminer sectorid serve --repo DIR --listen 127.0.0.1:1357 [--miner f01000]
//        [--store file|postgres://…] [--chain-floor-file F.json] [--ready-file F]
//        [--max-connections N] [--idle-ms MS] [--max-frame-bytes N]
//   distminer sectorid alloc --connect HOST:PORT --token-file F [--count N]
// The server verifies tokens with the repository's API secret (<repo>/keystore, src/auth);
// `alloc` needs a token with the write permission (`distminer auth create-token --perm write`).
import { writeFileSync, renameSync } from 'node:fs';
import { repoAuth } from '../auth/index.js';
import { logger } from '../log.js';
import { flag, parseArgs } from './args.js';
import { FileChainFloor } from './chain-floor.js';
import { SectorIdClient } from './client.js';
import { startSectorIdServer } from './server.js';
import { tokenFrom } from './token.js';

const USAGE = `usage:
  distminer sectorid serve --repo DIR --listen HOST:PORT [--miner ID]
                           [--store file|postgres://...] [--chain-floor-file F.json] [--ready-file F]
                           [--max-connections N] [--max-connections-per-peer N] [--idle-ms MS]
     (tokens are verified with the repository's API secret, <repo>/keystore)
  distminer sectorid alloc --connect HOST:PORT (--token T | --token-file F) [--count N]
     (a token with the write permission: distminer auth create-token --perm write)
`;

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer`);
  return n;
}

export async function main(args: string[]): Promise<number> {
  const p = parseArgs(args);
  const sub = p.words[0];
  if (sub === 'serve') {
    const repo = flag(p, 'repo') ?? process.env.DISTMINER_REPO;
    const listen = flag(p, 'listen', 'sclisten');
    if (!repo || !listen) {
      process.stderr.write(`sectorid serve: --repo and --listen are required\n${USAGE}`);
      return 2;
    }
    if (flag(p, 'token', 'token-file') !== undefined) {
      process.stderr.write('sectorid serve: --token is gone: the server verifies every token with the repository\'s API secret\n');
      return 2;
    }
    const chainFile = flag(p, 'chain-floor-file');
    const srv = await startSectorIdServer({
      repo,
      listen,
      auth: repoAuth(repo),
      minerId: flag(p, 'miner') ?? 'f01000',
      store: flag(p, 'store', 'sc-store') ?? 'file',
      chainFloor: chainFile ? new FileChainFloor(chainFile) : undefined,
      maxConnections: num(flag(p, 'max-connections'), 'max-connections'),
      maxConnectionsPerPeer: num(flag(p, 'max-connections-per-peer'), 'max-connections-per-peer'),
      idleMs: num(flag(p, 'idle-ms'), 'idle-ms'),
      maxFrameBytes: num(flag(p, 'max-frame-bytes'), 'max-frame-bytes'),
      chainRefreshMs: num(flag(p, 'chain-refresh-ms'), 'chain-refresh-ms'),
    });
    const ready = flag(p, 'ready-file');
    if (ready) {
      writeFileSync(`${ready}.tmp`, `${srv.address}\n`);
      renameSync(`${ready}.tmp`, ready);
    }
    await new Promise<void>((resolve) => {
      const stop = (sig: string) => {
        logger('sectorid').info({ sig }, 'stopping the sector-number server');
        void srv.close().then(resolve);
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
    return 0;
  }
  if (sub === 'alloc') {
    const address = flag(p, 'connect', 'sclisten');
    const token = tokenFrom(p);
    if (!address || !token) {
      process.stderr.write(`sectorid alloc: --connect and a token are required\n${USAGE}`);
      return 2;
    }
    const c = new SectorIdClient({ address, token, deadlineMs: num(flag(p, 'deadline-ms'), 'deadline-ms') ?? 10_000 });
    try {
      const nums = await c.allocate(num(flag(p, 'count'), 'count') ?? 1);
      process.stdout.write(`${nums.join('\n')}\n`);
    } finally {
      await c.close();
    }
    return 0;
  }
  process.stderr.write(USAGE);
  return 2;
}
