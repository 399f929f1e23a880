// The inputs a Winning PoSt miner signs and proves, computed exactly as Lotus's miner does
// (lotus/miner/miner.go, chain/gen): election VRF input, ticket VRF input, Winning PoSt
// randomness, all from the last beacon entry of the block (or the parent's).
import { blake2b } from '@noble/hashes/blake2.js';
import { drawRandomness } from './crypto.js';
import { addressCbor } from './address.js';
import type { BeaconEntry, TipSet } from './api-types.js';
import { DomainSeparationTag } from './builtin-actors.js';
import { fromB64 } from './encoding.js';

/** The beacon entry randomness is drawn from: the newest of the block's entries, else the parent's. */
export function randomnessBeacon(prev: BeaconEntry, entries: BeaconEntry[]): BeaconEntry {
  return entries.length > 0 ? entries[entries.length - 1] : prev;
}

/** What the worker key signs (BLS) to make the election proof's VRF. */
export function electionVrfInput(beacon: BeaconEntry, round: number, miner: string): Buffer {
  return drawRandomness(fromB64(beacon.Data), DomainSeparationTag.ElectionProofProduction, round, addressCbor(miner));
}

/** What the worker key signs to make the block ticket: chained through the parent's min ticket. */
export function ticketVrfInput(beacon: BeaconEntry, round: number, miner: string, parent: TipSet): Buffer {
  const entropy = Buffer.concat([addressCbor(miner), fromB64(minTicketBlock(parent).Ticket?.VRFProof ?? '')]);
  return drawRandomness(fromB64(beacon.Data), DomainSeparationTag.TicketProduction, round - 1, entropy);
}

/** Randomness of the Winning PoSt (sector challenge and proof). */
export function winningPoStRandomness(beacon: BeaconEntry, round: number, miner: string): Buffer {
  return drawRandomness(fromB64(beacon.Data), DomainSeparationTag.WinningPoStChallengeSeed, round, addressCbor(miner));
}

/** The block whose ticket is smallest (compared by the blake2b of its VRF proof), as Lotus picks it. */
export function minTicketBlock(ts: TipSet): TipSet['Blocks'][number] {
  let best = ts.Blocks[0];
  let bestKey = Buffer.from(blake2b(fromB64(best.Ticket?.VRFProof ?? ''), { dkLen: 32 }));
  for (const b of ts.Blocks.slice(1)) {
    const k = Buffer.from(blake2b(fromB64(b.Ticket?.VRFProof ?? ''), { dkLen: 32 }));
    if (Buffer.compare(k, bestKey) < 0) {
      best = b;
      bestKey = k;
    }
  }
  return best;
}

/**
 * The Winning PoSt's sector-set lookback (Lotus's policy.GetWinningPoStSectorSetLookback from
 * network version 4: ChainFinality, 900 epochs): a round's eligibility and sectors come from the
 * state 900 epochs before it, which must lie below its base (chain/stmgr
 * GetLookbackTipSetForRound refuses "lookback height … is at or after base height …").
 */
export const WINNING_POST_LOOKBACK = 900;

/**
 * Whether round `round` can be mined on a base at `baseHeight`: more null rounds than the
 * lookback allows put the round's lookback at or above the base, and only a new head can carry a
 * block then (a base at genesis excepted, as in Lotus).
 */
export const roundWithinLookback = (baseHeight: number, round: number): boolean => baseHeight === 0 || round - WINNING_POST_LOOKBACK < baseHeight;
