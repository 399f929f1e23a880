// `distminer sectorid serve|alloc` — run the sector-number server in the foreground (the
// process the supervisor's sector-id role, or a test, starts), or ask a server for numbers.
//
//   distminer sectorid serve --repo DIR --listen 127.0.0.1:1357 --token-file F [--miner f01000]
//        [--store file|postgres://…] [--chain-floor-file F.json] [--ready-file F]
//        [--max-connections N] [--idle-ms MS] [--max-frame-bytes N]
//   distminer sectorid alloc --connect HOST:PORT --token-file F [--count N]
import { writeFileSync, renameSync } from 'node:fs';
import { logger } from '../log.js';
import { flag, parseArgs } from './args.js';
import { FileChainFloor } from './chain-floor.js';
import { SectorIdClient } from './client.js';
import { startSectorIdServer } from './server.js';
import { tokenFrom } from './token.js';

const USAGE = `usage:
  distminer sectorid serve --repo DIR --listen HOST:PORT (--token T | --token-file F) [--miner ID]
                           [--store file|postgres://...] [--chain-floor-file F.json] [--ready-file F]
  distminer sectorid alloc --connect HOST:PORT (--token T | --token-file F) [--count N]
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
    const token = tokenFrom(p);
    if (!repo || !listen || !token) {
      process.stderr.write(`sectorid serve: --repo, --listen and a token are required\n${USAGE}`);
      return 2;
    }
    const chainFile = flag(p, 'chain-floor-file');
    const srv = await startSectorIdServer({
      repo,
      listen,
      token,
      minerId: flag(p, 'miner') ?? 'f01000',
      store: flag(p, 'store', 'sc-store') ?? 'file',
      chainFloor: chainFile ? new FileChainFloor(chainFile) : undefined,
      maxConnections: num(flag(p, 'max-connections'), 'max-connections'),
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
