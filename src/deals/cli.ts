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
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Parsed, parseFlags } from '../config/flags.js';
import { repoAuth } from '../auth/index.js';
import { CONFIG_FILE, readToken } from '../config/repo.js';
import { parseConfigToml } from '../config/settings.js';
import { logger } from '../log.js';
import { parseSectorSize, sealProofForSectorSize } from '../proofs/types.js';
import { adminGet } from './client.js';
import { DealServer } from './server.js';
import type { DealRecord } from './store.js';

const USAGE = `usage:
  distminer deals serve --repo DIR [--miner f01000] [--listen 127.0.0.1:0] [--sector-size 2KiB]
                        [--shared DIR] [--max-transfers N] [--max-transfers-per-peer N] [--stall-ms MS]
                        [--proposal-ttl-ms MS] [--max-pending N] [--lease-ms MS] [--ready-file F]
  distminer deals list [--repo DIR | --api URL (--token T | --token-file F)] [--json]
  distminer deals status UUID [--repo DIR | --api URL (--token T | --token-file F)]
`;

const SPEC = {
  repo: { type: 'string', help: 'miner repository (token, config.toml; deal state in DIR/deals)' },
  miner: { type: 'string', help: 'miner id (default: [Distminer] Miner of config.toml)' },
  listen: { type: 'string', help: 'HOST:PORT to listen on (default 127.0.0.1:0)' },
  'sector-size': { type: 'string', help: 'deal sector size (default 2KiB)' },
  shared: { type: 'string', help: 'shared storage path holding the deal-miner lease (default DIR/deals)' },
  'max-transfers': { type: 'string', help: 'concurrent uploads (default 4)' },
  'max-transfers-per-peer': { type: 'string', help: 'concurrent uploads from one address (default 2)' },
  'stall-ms': { type: 'string', help: 'cut an upload with no data for this long (default 60000)' },
  'proposal-ttl-ms': { type: 'string', help: 'expire an accepted deal whose data has not come within this (default 1800000)' },
  'max-pending': { type: 'string', help: 'deals waiting for their data, in all (default 128)' },
  'lease-ms': { type: 'string', help: 'deal-miner lease time (default 30000)' },
  'ready-file': { type: 'string', help: 'write the URL here once listening' },
  api: { type: 'string', help: 'deal server URL (default: DIR/deals/api)' },
  token: { type: 'string', help: 'miner API token' },
  'token-file': { type: 'string', help: 'file holding the miner API token' },
  json: { type: 'boolean', help: 'print JSON' },
} as const;

function str(f: Parsed, k: string): string | undefined {
  const v = f[k];
  return typeof v === 'string' ? v : undefined;
}

function int(f: Parsed, k: string): number | undefined {
  const v = str(f, k);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${k} must be a non-negative integer, got "${v}"`);
  return n;
}

function tokenOf(f: Parsed, repo: string | undefined): string {
  const t = str(f, 'token') ?? (str(f, 'token-file') ? readFileSync(str(f, 'token-file')!, 'utf8').trim() : undefined);
  if (t) return t;
  if (repo) return readToken(repo);
  throw new Error('no token: pass --repo DIR, --token or --token-file');
}

function apiOf(f: Parsed, repo: string | undefined): string {
  const a = str(f, 'api');
  if (a) return a;
  if (repo) {
    const p = join(repo, 'deals', 'api');
    if (existsSync(p)) return readFileSync(p, 'utf8').trim();
    throw new Error(`${p} does not exist: is the deal server running (distminer deals serve --repo ${repo})?`);
  }
  throw new Error('no deal server: pass --repo DIR or --api URL');
}

async function serve(f: Parsed): Promise<number> {
  const repoFlag = str(f, 'repo') ?? process.env.DISTMINER_PATH;
  if (!repoFlag) throw new Error(`deals serve: --repo is required\n${USAGE}`);
  const repo = resolve(repoFlag);
  let minerId = str(f, 'miner');
  if (!minerId && existsSync(join(repo, CONFIG_FILE))) minerId = parseConfigToml(readFileSync(join(repo, CONFIG_FILE), 'utf8')).minerId;
  if (!minerId) throw new Error('deals serve: no miner id: pass --miner f0… or set [Distminer] Miner in config.toml');
  const listen = str(f, 'listen') ?? '127.0.0.1:0';
  const m = /^(.*):(\d+)$/.exec(listen);
  if (!m) throw new Error(`--listen "${listen}" must be HOST:PORT`);
  const dir = join(repo, 'deals');
  const srv = await DealServer.start({
    dir,
    minerId,
    auth: repoAuth(repo),
    host: m[1].replace(/^\[|\]$/g, ''),
    port: Number(m[2]),
    sealProof: sealProofForSectorSize(parseSectorSize(str(f, 'sector-size') ?? '2KiB')),
    sharedDir: str(f, 'shared'),
    maxTransfers: int(f, 'max-transfers'),
    maxTransfersPerPeer: int(f, 'max-transfers-per-peer'),
    stallMs: int(f, 'stall-ms'),
    proposalTtlMs: int(f, 'proposal-ttl-ms'),
    maxPendingDeals: int(f, 'max-pending'),
    leaseMs: int(f, 'lease-ms'),
  });
  const ready = str(f, 'ready-file');
  if (ready) {
    writeFileSync(`${ready}.tmp`, srv.url + '\n');
    renameSync(`${ready}.tmp`, ready);
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

export async function main(args: string[]): Promise<number> {
  const { flags, positional } = parseFlags(args, SPEC, 'deals');
  const sub = positional[0];
  const repoFlag = str(flags, 'repo') ?? process.env.DISTMINER_PATH;
  const repo = repoFlag ? resolve(repoFlag) : undefined;
  if (sub === 'serve') return serve(flags);
  if (sub === 'list') {
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
  if (sub === 'status') {
    const id = positional[1];
    if (!id) throw new Error(`deals status: which deal? (a UUID from \`deals list\`)\n${USAGE}`);
    const r = await adminGet(apiOf(flags, repo), tokenOf(flags, repo), `/deals/${encodeURIComponent(id)}`);
    if (r.status === 404) {
      process.stderr.write(`no deal ${id}\n`);
      return 1;
    }
    if (r.status !== 200) throw new Error(`deals status: ${r.status} ${String(r.body.error ?? '')}`);
    process.stdout.write(JSON.stringify(r.body, null, 2) + '\n');
    return 0;
  }
  process.stderr.write(USAGE);
  return 2;
}
