// The seal service of this miner, as other parts of the same miner reach it: through
// <repo>/sealing-api (the address the seal role writes when it listens) and its JSON-RPC,
// with the repository's token. The deal role pledges deal sectors through it; the Lotus
// miner API (src/api/lotus-miner.ts) reads sectors and workers through it.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { callApi } from '../api/client.js';
import { RpcError } from '../net/json-rpc.js';
import { parseApiMultiaddr } from '../config/multiaddr.js';
import type { WorkerRow } from './scheduler.js';
import type { SectorView } from './service.js';
import { limiter } from '../util/limit.js';

/** File in the repo naming the seal service's listener (a multiaddr, like Lotus's `api`). */
export const SEAL_API_FILE = 'sealing-api';

/** The JSON-RPC error code of SectorsStatus for a number the pipeline does not hold. */
export const SECTOR_NOT_FOUND = 2;

export interface SealServiceClient {
  /** SectorsPledgeDeals: one deal sector of these pieces (with each deal's PublishStorageDeals message, when known); its number. */
  pledgeDeals(pieces: unknown[], dealIds: number[], publishCids?: (string | null)[]): Promise<number>;
  /** Every sector of the pipeline, without their logs. */
  sectors(): Promise<SectorView[]>;
  /** One sector with its log; undefined when the pipeline has no such sector. */
  sector(n: number): Promise<SectorView | undefined>;
  /** The seal workers it knows, connected or not. */
  workers(): Promise<WorkerRow[]>;
}

/**
 * Requests at once to the seal service: lotus-miner's `sectors list` asks SectorsStatus for
 * every sector, 300 at a time; this keeps the seal service's connections from one peer far
 * below its limits (src/net/http-server.ts).
 */
const MAX_IN_FLIGHT = 8;

export function sealServiceClient(repo: string, token: string): SealServiceClient {
  const limit = limiter(MAX_IN_FLIGHT);
  const call = <T>(method: string, params: unknown[], timeoutMs: number): Promise<T> => limit(() => callApi<T>(addr(), token, method, params, timeoutMs));
  const addr = () => {
    const f = join(repo, SEAL_API_FILE);
    if (!existsSync(f)) throw new Error(`no seal service runs on this miner (${f} is missing): run the seal role on this host`);
    return parseApiMultiaddr(readFileSync(f, 'utf8').trim(), SEAL_API_FILE);
  };
  return {
    pledgeDeals: (pieces, dealIds, publishCids) => call<number>('SectorsPledgeDeals', [pieces, dealIds, publishCids ?? null], 60_000),
    sectors: () => call<SectorView[]>('SectorsList', [], 30_000),
    sector: async (n) => {
      try {
        return await call<SectorView>('SectorsStatus', [n], 30_000);
      } catch (e) {
        if (e instanceof RpcError && e.code === SECTOR_NOT_FOUND) return undefined;
        throw e;
      }
    },
    workers: () => call<WorkerRow[]>('SealingWorkers', [], 30_000),
  };
}
