// SealChain over the Lotus full-node API (a Lotus daemon, or the embedded devnet), sending
// what lotus-miner sends on network version 23 and later (Lotus storage/pipeline):
//   - PreCommitSectorBatch2 (method 28) with no deal ids (the market is told at activation),
//     CommD as UnsealedCid for a sector with data, and the deposit Lotus names in
//     StateMinerPreCommitDepositForPower as the message value;
//   - ProveCommitSectors3 (method 34; ProveCommitSector, method 7, is gone since FIP-0084) with
//     one piece manifest per deal piece, each notifying the market actor (f05) with the deal id,
//     activation and notification required to succeed (so a failure is a non-zero exit code,
//     not a silent partial success), and as value the initial pledge from
//     StateMinerInitialPledgeForSector less the pre-commit deposit already locked.
// Tickets and seeds come from chain randomness; messages go through MpoolPushMessage from the
// worker address; receipts via StateWaitMsg. A message Lotus refuses to accept (gas estimation
// runs it first) becomes a MessageRefusedError with the method and the exit code Lotus names.
import { type ChainClient, RpcError } from '../chain/client.js';
import { MARKET_ACTOR_ID } from '../chain/market.js';
import { dealIdPayload, encodePreCommitBatch2, encodeProveCommitSectors3, minerMethodName } from '../chain/params.js';
import { addressCbor, idAddress } from '../chain/address.js';
import type { Message, SectorPreCommitInfo, SignedMessage } from '../chain/api-types.js';
import { DomainSeparationTag, MinerMethod } from '../chain/builtin-actors.js';
import type { Cid } from '../chain/cid.js';
import { b64 } from '../chain/encoding.js';
import { logger } from '../log.js';
import * as proofs from '../proofs/index.js';
import { DEFAULT_FEE_CAPS, type FeeCaps, sendSpec } from '../chain/fees.js';
import { MessageRefusedError, type SealChain, type SentMessage } from './pipeline.js';

/** Seal randomness may be at most this old when pre-committing (builtin-actors: 900 epochs + 2880). */
const SEAL_RANDOMNESS_LOOKBACK = 10;

const log = logger('seal-chain');
const PUSH_TIMEOUT_MS = 180_000;

export interface LotusSealChainOptions {
  /** Sector lifetime requested at pre-commit, in epochs (default 540 days). */
  lifetimeEpochs?: number;
  network?: 'mainnet' | 'testnet';
  /**
   * [Fees] caps (lotus-miner's): a pre-commit of one sector costs at most MaxPreCommitGasFee, a
   * prove-commit at most MaxCommitGasFee, as lotus-miner sends single sectors. Default theirs.
   */
  fees?: Partial<Pick<FeeCaps, 'preCommit' | 'commit'>>;
}

function cidOf(b: Buffer, kind: 'sealed' | 'unsealed'): Cid {
  const s = kind === 'sealed' ? proofs.commRToCid(b) : proofs.commDToCid(b);
  return { '/': s };
}

function parseCidString(c: Cid | string): Cid {
  return typeof c === 'string' ? { '/': c } : c;
}

/**
 * The exit code named in a Lotus refusal, if any. Gas estimation writes
 * "message execution failed (exit=[ErrInsufficientFunds(19)], vm error=[…])" (a name and the
 * number, or the number alone for codes without a name).
 */
export function exitCodeOf(message: string): number | undefined {
  const m = /exit=\[(?:[A-Za-z]+\()?(\d+)\)?\]/.exec(message) ?? /exit(?:[ _]?code)?\s*[=:]?\s*(\d+)/i.exec(message);
  return m ? Number(m[1]) : undefined;
}

export function lotusSealChain(client: ChainClient, minerId: number, o: LotusSealChainOptions = {}): SealChain {
  const network = o.network ?? 'testnet';
  const miner = idAddress(minerId, network);
  const market = idAddress(MARKET_ACTOR_ID, network);
  const entropy = addressCbor(miner);
  let worker: string | undefined;
  let delay: number | undefined;
  const workerAddr = async () => (worker ??= (await client.stateMinerInfo(miner)).Worker);
  const lifetime = o.lifetimeEpochs ?? 540 * 2880;
  const fees = { ...DEFAULT_FEE_CAPS, ...o.fees };

  const push = async (method: MinerMethod, params: Buffer, value: bigint, sector: number, kind: 'preCommit' | 'commit'): Promise<string> => {
    const m: Message = { Version: 0, Nonce: 0, GasLimit: 0, GasFeeCap: '0', GasPremium: '0', To: miner, From: await workerAddr(), Method: method, Params: b64(params), Value: value.toString() };
    try {
      // Lotus estimates gas by running the message, seal proof verification included: on a busy
      // host that outlasts the client's default 10 s, and a push retried after a timeout would
      // be a second message. So one generous deadline here.
      const sm = await client.call<SignedMessage>('MpoolPushMessage', [m, sendSpec(fees, kind)], { timeoutMs: PUSH_TIMEOUT_MS });
      return (sm.CID ?? sm.Message.CID!)['/'];
    } catch (e) {
      if (!(e instanceof RpcError)) throw e; // no node answered: an ordinary retry
      const exitCode = exitCodeOf(e.message);
      log.error({ err: e, sector, method: minerMethodName(method), exitCode, value: value.toString() }, 'Lotus refused the message');
      throw new MessageRefusedError(minerMethodName(method), exitCode, e.message);
    }
  };

  return {
    head: async () => (await client.chainHead()).Height,
    // Lotus draws randomness only against a named tipset (an empty key is refused: "NewTipSet
    // called with zero length array of blocks"): the head's.
    ticket: async (epoch) => client.stateGetRandomnessFromTickets(DomainSeparationTag.SealRandomness, epoch, entropy, (await client.chainHead()).Cids),
    seed: async (epoch) => client.stateGetRandomnessFromBeacon(DomainSeparationTag.InteractiveSealChallengeSeed, epoch, entropy, (await client.chainHead()).Cids),
    preCommitChallengeDelay: async () => (delay ??= (await client.call<{ PreCommitChallengeDelay: number }>('StateGetNetworkParams', [])).PreCommitChallengeDelay),
    ticketLookback: () => SEAL_RANDOMNESS_LOOKBACK,
    expiration: (head) => head + lifetime,
    sendPreCommit: async (p): Promise<SentMessage> => {
      const info = {
        sealProof: p.proof,
        sectorNumber: p.number,
        sealedCid: cidOf(p.commR, 'sealed'),
        sealRandEpoch: p.ticketEpoch,
        dealIds: [],
        expiration: p.expiration,
        unsealedCid: p.hasData ? cidOf(p.commD, 'unsealed') : null,
      };
      const head = await client.chainHead();
      const json: SectorPreCommitInfo = {
        SealProof: info.sealProof,
        SectorNumber: info.sectorNumber,
        SealedCID: info.sealedCid,
        SealRandEpoch: info.sealRandEpoch,
        DealIDs: [],
        Expiration: info.expiration,
        UnsealedCid: info.unsealedCid,
      };
      const deposit = await client.stateMinerPreCommitDepositForPower(miner, json, head.Cids);
      const cid = await push(MinerMethod.PreCommitSectorBatch2, encodePreCommitBatch2([info]), deposit, p.number, 'preCommit');
      return { cid, value: deposit.toString(), askedAt: head.Height };
    },
    sendProveCommit: async (p): Promise<SentMessage> => {
      const head = await client.chainHead();
      const pc = await client.stateSectorPreCommitInfo(miner, p.number, head.Cids);
      if (!pc) throw new Error(`sector ${p.number} has no pre-commit on chain at epoch ${head.Height}`);
      const size = proofs.sealProofSectorSize(pc.Info.SealProof);
      const pledge = await client.stateMinerInitialPledgeForSector(pc.Info.Expiration - head.Height, size, 0, head.Cids);
      // The deposit is released into the pledge when the sector activates (Lotus: getSectorCollateral).
      let value = pledge - BigInt(pc.PreCommitDeposit);
      if (value < 0n) value = 0n;
      const params = encodeProveCommitSectors3({
        sectorActivations: [
          {
            sectorNumber: p.number,
            pieces: p.deals.map((d) => ({ cid: { '/': proofs.commPToCid(d.commP) }, size: d.size, verifiedAllocationKey: null, notify: [{ address: market, payload: dealIdPayload(d.dealId) }] })),
          },
        ],
        sectorProofs: [p.proof],
        aggregateProof: Buffer.alloc(0),
        aggregateProofType: null,
        requireActivationSuccess: true,
        requireNotificationSuccess: true,
      });
      const cid = await push(MinerMethod.ProveCommitSectors3, params, value, p.number, 'commit');
      return { cid, value: value.toString(), askedAt: head.Height };
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
