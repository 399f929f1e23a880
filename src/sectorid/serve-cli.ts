// `distminer sectorid serve|alloc` — run the sector-number server in the foreground (the
// process the supervisor's sector-id role, or a test, starts), or ask a server for numbers.
//
//   distminer sectorid serve --repo DIR --listen 127.0.0.1:1357 [--miner f01000]
//        [--store file|postgres://…] [--chain-floor-file F.json] [--ready-file F]
//        [--max-connections N] [--idle-ms MS] [--max-frame-bytes N]
//   distminer sectorid alloc --connect HOST:PORT --token-file F [--count N]
// The server verifies tokens with the repository's API secret (<repo>/keystore, src/auth);
// `alloc` needs a token with the write permission (`distminer auth create-token --perm write`).
import { repoAuth } from '../auth/index.js';
import { logger } from '../log.js';
import { writeFileAtomic } from '../util/durable.js';
import { FileChainFloor } from './chain-floor.js';
import { SectorIdClient } from './client.js';
import { startSectorIdServer } from './server.js';
import { tokenFrom } from './token.js';

/** The options of `sectorid serve` and `sectorid alloc`, parsed by commander (src/cli/program.ts). */
export interface SectorIdOptions {
  repo?: string;
  listen?: string;
  sclisten?: string;
  connect?: string;
  token?: string;
  tokenFile?: string;
  miner?: string;
  store?: string;
  scStore?: string;
  chainFloorFile?: string;
  readyFile?: string;
  maxConnections?: string;
  maxConnectionsPerPeer?: string;
  idleMs?: string;
  maxFrameBytes?: string;
  chainRefreshMs?: string;
  count?: string;
  deadlineMs?: string;
}

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer`);
  return n;
}

/** `distminer sectorid serve`: the server in the foreground until SIGINT/SIGTERM. */
export async function serve(p: SectorIdOptions): Promise<number> {
  const repo = p.repo ?? process.env.DISTMINER_REPO;
  const listen = p.listen ?? p.sclisten;
  if (!repo || !listen) {
    process.stderr.write('sectorid serve: --repo and --listen are required (see --help)\n');
    return 2;
  }
  if ((p.token ?? p.tokenFile) !== undefined) {
    process.stderr.write("sectorid serve: --token is gone: the server verifies every token with the repository's API secret\n");
    return 2;
  }
  const chainFile = p.chainFloorFile;
  const srv = await startSectorIdServer({
    repo,
    listen,
    auth: repoAuth(repo),
    minerId: p.miner ?? 'f01000',
    store: p.store ?? p.scStore ?? 'file',
    chainFloor: chainFile ? new FileChainFloor(chainFile) : undefined,
    maxConnections: num(p.maxConnections, 'max-connections'),
    maxConnectionsPerPeer: num(p.maxConnectionsPerPeer, 'max-connections-per-peer'),
    idleMs: num(p.idleMs, 'idle-ms'),
    maxFrameBytes: num(p.maxFrameBytes, 'max-frame-bytes'),
    chainRefreshMs: num(p.chainRefreshMs, 'chain-refresh-ms'),
  });
  const ready = p.readyFile;
  if (ready) writeFileAtomic(ready, `${srv.address}\n`);
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

/** `distminer sectorid alloc`: asks a server for numbers and prints them. */
export async function alloc(p: SectorIdOptions): Promise<number> {
  const address = p.connect ?? p.sclisten;
  const token = tokenFrom(p);
  if (!address || !token) {
    process.stderr.write('sectorid alloc: --connect and a token are required (see --help)\n');
    return 2;
  }
  const c = new SectorIdClient({ address, token, deadlineMs: num(p.deadlineMs, 'deadline-ms') ?? 10_000 });
  try {
    const nums = await c.allocate(num(p.count, 'count') ?? 1);
    process.stdout.write(`${nums.join('\n')}\n`);
  } finally {
    await c.close();
  }
  return 0;
}
