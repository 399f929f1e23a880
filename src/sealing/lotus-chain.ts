// SealChain over the Lotus full-node API (a Lotus daemon, or the embedded devnet):
// tickets and seeds from chain randomness, PreCommitSectorBatch2 / ProveCommitSector
// messages through MpoolPushMessage from the worker address, receipts via StateWaitMsg.
import type { ChainClient } from '../chain/client.js';
import { encodePreCommitBatch2, encodeProveCommit } from '../chain/params.js';
import { type Cid, DomainSeparationTag, MinerMethod, addressCbor, b64, idAddress } from '../chain/types.js';
import * as proofs from '../proofs/index.js';
import type { SealChain } from './pipeline.js';

/** Seal randomness may be at most this old when pre-committing (builtin-actors: 900 epochs + 2880). */
const SEAL_RANDOMNESS_LOOKBACK = 10;

export interface LotusSealChainOptions {
  /** Sector lifetime requested at pre-commit, in epochs (default 540 days). */
  lifetimeEpochs?: number;
  network?: 'mainnet' | 'testnet';
}

function cidOf(b: Buffer, kind: 'sealed' | 'unsealed'): Cid {
  const s = kind === 'sealed' ? proofs.commRToCid(b) : proofs.commDToCid(b);
  return { '/': s };
}

function parseCidString(c: Cid | string): Cid {
  return typeof c === 'string' ? { '/': c } : c;
}

export function lotusSealChain(client: ChainClient, minerId: number, o: LotusSealChainOptions = {}): SealChain {
  const miner = idAddress(minerId, o.network ?? 'testnet');
  const entropy = addressCbor(miner);
  let worker: string | undefined;
  let delay: number | undefined;
  const workerAddr = async () => (worker ??= (await client.stateMinerInfo(miner)).Worker);
  const lifetime = o.lifetimeEpochs ?? 540 * 2880;
  return {
    head: async () => (await client.chainHead()).Height,
    ticket: (epoch) => client.stateGetRandomnessFromTickets(DomainSeparationTag.SealRandomness, epoch, entropy),
    seed: (epoch) => client.stateGetRandomnessFromBeacon(DomainSeparationTag.InteractiveSealChallengeSeed, epoch, entropy),
    preCommitChallengeDelay: async () => (delay ??= (await client.call<{ PreCommitChallengeDelay: number }>('StateGetNetworkParams', [])).PreCommitChallengeDelay),
    ticketLookback: () => SEAL_RANDOMNESS_LOOKBACK,
    expiration: (head) => head + lifetime,
    sendPreCommit: async (p) => {
      const params = encodePreCommitBatch2([
        {
          sealProof: p.proof,
          sectorNumber: p.number,
          sealedCid: cidOf(p.commR, 'sealed'),
          sealRandEpoch: p.ticketEpoch,
          dealIds: p.dealIds,
          expiration: p.expiration,
          unsealedCid: p.dealIds.length ? cidOf(p.commD, 'unsealed') : null,
        },
      ]);
      const sm = await client.mpoolPushMessage({ To: miner, From: await workerAddr(), Method: MinerMethod.PreCommitSectorBatch2, Params: b64(params) });
      return (sm.CID ?? sm.Message.CID!)['/'];
    },
    sendProveCommit: async (p) => {
      const params = encodeProveCommit({ sectorNumber: p.number, proof: p.proof });
      const sm = await client.mpoolPushMessage({ To: miner, From: await workerAddr(), Method: MinerMethod.ProveCommitSector, Params: b64(params) });
      return (sm.CID ?? sm.Message.CID!)['/'];
    },
    waitMessage: async (cid) => {
      const r = await client.stateWaitMsg(parseCidString(cid), 0, { timeoutMs: 30 * 60_000 });
      const dec = r.ReturnDec as { Error?: string } | null;
      return { exitCode: r.Receipt.ExitCode, error: dec?.Error, epoch: r.Height };
    },
    preCommitOnChain: async (n) => {
      const pc = await client.stateSectorPreCommitInfo(miner, n);
      if (!pc) return null;
      return { preCommitEpoch: pc.PreCommitEpoch, commR: proofs.cidToCommR(pc.Info.SealedCID['/']) };
    },
    sectorOnChain: async (n) => (await client.stateSectorGetInfo(miner, n)) !== null,
    sectorAllocated: (n) => client.stateMinerSectorAllocated(miner, n),
  };
}
