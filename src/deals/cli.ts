// `distminer deals serve|list|status`:
//
//   distminer deals serve --repo DIR [--miner f01000] [--listen 127.0.0.1:0] [--sector-size 2KiB]
//        [--shared DIR] [--max-transfers N] [--max-transfers-per-peer N] [--stall-ms MS]
//        [--proposal-ttl-ms MS] [--max-pending N] [--lease-ms MS] [--ready-file F]
//   distminer deals list   [--repo DIR | --api URL --token-file F] [--json]
//   distminer deals status UUID [--repo DIR | --api URL --token-file F]
//
// The server keeps its state in DIR/deals and writes its URL to DIR/deals/api; `list` and
// `status` find it there and authenticate with the repository's API token (they need the admin
// permission). The server checks tokens with the repository's API secret (src/auth).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { repoAuth } from '../auth/index.js';
import { CONFIG_FILE, readToken } from '../config/repo.js';
import { parseConfigToml } from '../config/settings.js';
import { logger } from '../log.js';
import { writeFileAtomic } from '../util/durable.js';
import { parseSectorSize, sealProofForSectorSize } from '../proofs/types.js';
import { adminGet } from './client.js';
import { DealServer } from './server.js';
import type { DealRecord } from './store.js';

/** The options of `deals serve|list|status`, parsed by commander (src/cli/program.ts). */
export interface DealsOptions {
  repo?: string;
  miner?: string;
  listen?: string;
  sectorSize?: string;
  shared?: string;
  maxTransfers?: string;
  maxTransfersPerPeer?: string;
  stallMs?: string;
  proposalTtlMs?: string;
  keptPieceRetentionMs?: string;
  maxPending?: string;
  leaseMs?: string;
  readyFile?: string;
  api?: string;
  token?: string;
  tokenFile?: string;
  json?: boolean;
}

function int(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${flag} must be a non-negative integer, got "${v}"`);
  return n;
}

function tokenOf(f: DealsOptions, repo: string | undefined): string {
  const t = f.token ?? (f.tokenFile ? readFileSync(f.tokenFile, 'utf8').trim() : undefined);
  if (t) return t;
  if (repo) return readToken(repo);
  throw new Error('no token: pass --repo DIR, --token or --token-file');
}

function apiOf(f: DealsOptions, repo: string | undefined): string {
  const a = f.api;
  if (a) return a;
  if (repo) {
    const p = join(repo, 'deals', 'api');
    if (existsSync(p)) return readFileSync(p, 'utf8').trim();
    throw new Error(`${p} does not exist: is the deal server running (distminer deals serve --repo ${repo})?`);
  }
  throw new Error('no deal server: pass --repo DIR or --api URL');
}

/** `distminer deals serve`: the deal server until SIGINT/SIGTERM. */
export async function serve(f: DealsOptions): Promise<number> {
  const repoFlag = f.repo ?? process.env.DISTMINER_PATH;
  if (!repoFlag) throw new Error('deals serve: --repo is required (or DISTMINER_PATH)');
  const repo = resolve(repoFlag);
  let minerId = f.miner;
  if (!minerId && existsSync(join(repo, CONFIG_FILE))) minerId = parseConfigToml(readFileSync(join(repo, CONFIG_FILE), 'utf8')).minerId;
  if (!minerId) throw new Error('deals serve: no miner id: pass --miner f0… or set [Distminer] Miner in config.toml');
  const listen = f.listen ?? '127.0.0.1:0';
  const m = /^(.*):(\d+)$/.exec(listen);
  if (!m) throw new Error(`--listen "${listen}" must be HOST:PORT`);
  const dir = join(repo, 'deals');
  const srv = await DealServer.start({
    dir,
    minerId,
    auth: repoAuth(repo),
    host: m[1].replace(/^\[|\]$/g, ''),
    port: Number(m[2]),
    sealProof: sealProofForSectorSize(parseSectorSize(f.sectorSize ?? '2KiB')),
    sharedDir: f.shared,
    maxTransfers: int(f.maxTransfers, 'max-transfers'),
    maxTransfersPerPeer: int(f.maxTransfersPerPeer, 'max-transfers-per-peer'),
    stallMs: int(f.stallMs, 'stall-ms'),
    proposalTtlMs: int(f.proposalTtlMs, 'proposal-ttl-ms'),
    keptPieceRetentionMs: int(f.keptPieceRetentionMs, 'kept-piece-retention-ms'),
    maxPendingDeals: int(f.maxPending, 'max-pending'),
    leaseMs: int(f.leaseMs, 'lease-ms'),
  });
  const ready = f.readyFile;
  if (ready) {
    writeFileAtomic(ready, srv.url + '\n');
  }
  process.stdout.write(`deal server for ${minerId} listening on ${srv.url}\n`);
  await new Promise<void>((done) => {
    const stop = (sig: string) => {
      logger('deals').info({ sig }, 'stopping the deal server');
      srv.close().then(done, done);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}

function summary(d: Omit<DealRecord, 'uploadToken'>): string {
  const when = new Date(d.updatedAt).toISOString().replace('T', ' ').slice(0, 19);
  const sector = d.sector ? ` sector ${d.sector.sectorNumber}` : '';
  const id = d.publish?.dealId !== undefined ? ` deal ${d.publish.dealId}` : d.publish?.cid ? ` publishing in ${d.publish.cid}` : '';
  return `${d.uuid}  ${d.state.padEnd(12)} ${String(d.pieceSize).padStart(11)}  ${d.pieceCid}  ${when}${id}${sector}${d.reason ? `  ${d.reason}` : ''}`;
}

function repoOf(f: DealsOptions): string | undefined {
  const repoFlag = f.repo ?? process.env.DISTMINER_PATH;
  return repoFlag ? resolve(repoFlag) : undefined;
}

/** `distminer deals list` */
export async function list(flags: DealsOptions): Promise<number> {
  const repo = repoOf(flags);
  const r = await adminGet<{ deals?: Omit<DealRecord, 'uploadToken'>[]; error?: string }>(apiOf(flags, repo), tokenOf(flags, repo), '/deals');
  if (r.status !== 200) throw new Error(`deals list: ${r.status} ${r.body.error ?? ''}`);
  const deals = r.body.deals ?? [];
  if (flags.json) process.stdout.write(JSON.stringify(deals, null, 2) + '\n');
  else {
    process.stdout.write(`${'UUID'.padEnd(36)}  ${'STATE'.padEnd(12)} ${'PIECE SIZE'.padStart(11)}  PIECE CID / UPDATED / REASON\n`);
    for (const d of deals) process.stdout.write(summary(d) + '\n');
    process.stdout.write(`${deals.length} deal(s)\n`);
  }
  return 0;
}

/** `distminer deals status UUID` (JSON) */
export async function status(flags: DealsOptions, id: string): Promise<number> {
  const repo = repoOf(flags);
  const r = await adminGet(apiOf(flags, repo), tokenOf(flags, repo), `/deals/${encodeURIComponent(id)}`);
  if (r.status === 404) {
    process.stderr.write(`no deal ${id}\n`);
    return 1;
  }
  if (r.status !== 200) throw new Error(`deals status: ${r.status} ${String(r.body.error ?? '')}`);
  process.stdout.write(JSON.stringify(r.body, null, 2) + '\n');
  return 0;
}
