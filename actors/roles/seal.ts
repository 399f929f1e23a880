// Seal actor: runs this miner's seal service (src/sealing/service.ts) — the sector store,
// the scheduler its seal workers connect to, and the sector pipeline — in its worker thread.
// Commit2 goes to a seal worker that takes it, else through this host's GPU mailbox (a
// proof process the mailbox pauses while a PoSt runs). Its status detail counts sectors by
// state; the pipeline's own state is in <repo>/sealing (the actor snapshot only holds the
// life cycle), so a restart resumes every sector from its last persisted state.
import { chainOrIdle, countsBy, minerAddress, reportEvery, serviceRole } from './common.js';
import type { CreateRole } from './types.js';
import { watchStorageSpace } from '../../src/post/storage.js';

export interface SealRoleOptions {
  minerId: string;
  repo: string;
  token: string;
  chainApi?: string;
  storagePaths: string[];
  /** HOST:PORT the seal service listens on (workers and `sectors …` commands). */
  sealListen: string;
  /** `token`: what the sector-number server gets (write is enough; see run.ts sectorIdTokenFor). */
  sectorId: { mode: 'alloce' | 'get' | 'local'; address?: string; token: string };
  maxInFlight?: number;
  /** [Fees] MaxPreCommitGasFee and MaxCommitGasFee in attoFIL (decimal strings); absent: lotus-miner's defaults. */
  preCommitMaxFee?: string;
  commitMaxFee?: string;
}

export const createRole: CreateRole = (ctx) => {
  const o = ctx.options as unknown as SealRoleOptions;
  return serviceRole(ctx, { version: 2, runningDetail: 'starting the seal service' }, async (sendBack) => {
    const chainApi = chainOrIdle(ctx, o.chainApi, sendBack);
    if (!chainApi) return undefined;
    const [{ SealService }, { ChainClient }, { lotusSealChain }, { SectorIdNumbers }, proofs, { parseHostPort }, { repoAuth }] = await Promise.all([
      import('../../src/sealing/service.js'),
      import('../../src/chain/client.js'),
      import('../../src/sealing/lotus-chain.js'),
      import('../../src/sealing/numbers.js'),
      import('../../src/proofs/index.js'),
      import('../../src/config/multiaddr.js'),
      import('../../src/auth/index.js'),
    ]);
    const { id: minerNum, network } = minerAddress(o.minerId);
    const numbers = new SectorIdNumbers({ token: o.sectorId.token, repo: o.repo, mode: o.sectorId.mode, address: o.sectorId.address });
    const svc = new SealService({
      repo: o.repo,
      minerId: minerNum,
      // Tokens are checked with the repository's secret: the operator's and the workers' own
      // (a worker's needs write), not only the admin token this host holds.
      auth: repoAuth(o.repo),
      listen: parseHostPort(o.sealListen, 'seal listen address'),
      chain: lotusSealChain(new ChainClient(chainApi), minerNum, {
        network,
        fees: {
          ...(o.preCommitMaxFee ? { preCommit: BigInt(o.preCommitMaxFee) } : {}),
          ...(o.commitMaxFee ? { commit: BigInt(o.commitMaxFee) } : {}),
        },
      }),
      numbers,
      storagePath: o.storagePaths[0],
      maxInFlight: o.maxInFlight,
      localCommit2: async (sector, c1) => {
        const r = await ctx.submitProof<Buffer>('commit2', [c1, sector.number, proofs.proverIdFromMinerId(sector.minerId)]);
        return Buffer.from(r.value);
      },
    });
    let addr: { host: string; port: number };
    try {
      addr = await svc.start();
    } catch (e) {
      await svc.stop(); // release the store's lock so the restarted actor can open it
      await numbers.close();
      throw e;
    }
    sendBack({ type: 'SET', key: 'listen', value: `${addr.host}:${addr.port}` });
    const unwatch = watchStorageSpace(o.storagePaths);
    const stopReport = reportEvery(sendBack, () => {
      const workers = svc.scheduler.connectedWorkers();
      return `seal service on ${addr.host}:${addr.port}; ${workers} worker(s); sectors: ${countsBy(svc.pipeline.list(), (s) => s.state)}`;
    });
    return async () => {
      stopReport();
      unwatch();
      await svc.stop();
      await numbers.close();
    };
  });
};
