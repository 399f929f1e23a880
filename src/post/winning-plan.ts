// The Winning PoSt role's decisions, as pure functions of chain facts (the heaviest head, its
// time, its parents) and the clock: which round to try on which base and when (the propagation
// delay after a new base, null rounds counted on an old one, a failed round retried, a chain
// behind the wall clock mined at once), which work begun ahead still fits a round, and when a
// tipset that arrived decides a round without our block. No chain, no proofs, no timers:
// winning.ts feeds these from the node and runs what they decide, and
// test/post/winning-plan.test.ts runs them through null rounds, late chains, forks and failures
// in milliseconds (test/post/mining-loop.test.ts drives the shell against a chain double).
import type { TipSet } from '../chain/api-types.js';
import { tipsetKeyString } from '../chain/cid.js';
import { roundWithinLookback } from '../chain/mining.js';

/** What a round's outcome can be (RoundResult.outcome). */
export type RoundOutcome = 'not-eligible' | 'lost' | 'mined' | 'other-host' | 'slash-filter' | 'late' | 'failed';

/** The facts of a tipset that the loop decides on. */
export interface Base {
  /** The tipset key: its block CIDs, joined. */
  key: string;
  height: number;
  /** Its time: the smallest timestamp of its blocks (Lotus's MinTimestamp), in ms. */
  timeMs: number;
  /** The parents all its blocks share (what a round's base info, election and proof depend on). */
  parents: string;
}

export interface Timing {
  blockDelayMs: number;
  /** Wait after a round's time before mining it, so blocks of the base's height can still join it (Lotus's PropagationDelaySecs). */
  propagationDelayMs: number;
}

export function baseOf(ts: TipSet): Base {
  return {
    key: tipsetKeyString(ts.Cids),
    height: ts.Height,
    timeMs: Math.min(...ts.Blocks.map((b) => b.Timestamp)) * 1000,
    parents: tipsetKeyString(ts.Blocks[0].Parents),
  };
}

export const sameBase = (a: Base, b: Base): boolean => a.height === b.height && a.key === b.key;

/** The round tried on `base` after `nullRounds` null rounds. */
export const roundOf = (base: Base, nullRounds: number): number => base.height + nullRounds + 1;

/**
 * When that round's turn comes: the time of the epoch before it (the base's, or its last null
 * round's), when that epoch's blocks are due and the round's beacon is out (Lotus's
 * MaxBeaconRoundForEpoch looks one block delay back).
 */
export const turnMs = (base: Base, nullRounds: number, t: Timing): number => base.timeMs + t.blockDelayMs * nullRounds;

/** When that round may be mined: its time plus the propagation delay (Lotus mines after it, so the base can fill). */
export const roundStartMs = (base: Base, nullRounds: number, t: Timing): number => turnMs(base, nullRounds, t) + t.propagationDelayMs;

/** A block's timestamp (seconds) for `round` on `base`: the base's time plus one block delay per epoch above it. */
export const blockTimestamp = (base: Base, round: number, t: Timing): number => Math.floor(base.timeMs / 1000) + (t.blockDelayMs / 1000) * (round - base.height);

/** What the mining loop does next. */
export type LoopStep =
  /** Sleep until `untilMs` (a new head wakes it when `wakeOnHead`), meanwhile beginning the work of round `prepare` on `base` if given. */
  | { kind: 'wait'; untilMs: number; wakeOnHead: boolean; prepare?: { base: Base; nullRounds: number }; beyondLookback?: true }
  /** Mine round roundOf(base, nullRounds) now. */
  | { kind: 'mine'; base: Base; nullRounds: number };

/**
 * The mining loop of lotus-miner (miner/miner.go) as a state machine fed by the heaviest head
 * and the clock: a new base is mined once the propagation delay after its time has passed
 * (its round's work begun meanwhile); a round that gave no block from us and no new head is
 * followed by the next round on the same base (a null round counted), at its time plus the
 * propagation delay, or at once on a chain behind the wall clock; each (base, round) is tried
 * once, except a round that failed (the node or the proof), tried again a second later; past
 * the Winning PoSt lookback of null rounds, only a new head.
 */
export class MiningLoopPlan {
  private base: Base | undefined;
  private nullRounds = 0;
  /** The (base, round) last tried: not tried again on the same base. */
  private lastTried = '';
  /** A failed round is tried again at this time (or on a new head). */
  private retryAt: number | undefined;

  constructor(private readonly t: Timing) {}

  /** The step for the heaviest head `head` at time `now`. */
  next(head: Base, now: number): LoopStep {
    if (!this.base || !sameBase(this.base, head)) {
      // A new base (a heavier tipset, or more blocks at the same height): its tipset fills
      // until its time plus the propagation delay, while the round's work begins.
      const ready = roundStartMs(head, 0, this.t);
      if (now < ready) return { kind: 'wait', untilMs: ready, wakeOnHead: false, prepare: { base: head, nullRounds: 0 } };
      this.base = head;
      this.nullRounds = 0;
      this.retryAt = undefined;
    }
    const base = this.base;
    // More null rounds on this base than the lookback allows: no later round on it can be mined
    // (Lotus refuses its base info); only a new head can carry a block. (A chain so far behind
    // the wall clock races through its null rounds at once.)
    if (!roundWithinLookback(base.height, roundOf(base, this.nullRounds))) return { kind: 'wait', untilMs: now + this.t.blockDelayMs, wakeOnHead: true, beyondLookback: true };
    const tried = `${base.key}+${this.nullRounds}`;
    if (tried === this.lastTried) {
      // Tried already (a block sent, or one given up to a tipset above): wait for a new head or an epoch.
      return { kind: 'wait', untilMs: now + this.t.blockDelayMs, wakeOnHead: true };
    }
    if (this.retryAt !== undefined && now < this.retryAt) return { kind: 'wait', untilMs: this.retryAt, wakeOnHead: true };
    this.retryAt = undefined;
    // A null round's turn: its time (its beacon is out then: begin its work), then the propagation
    // delay, unless a new head comes first. A chain behind the wall clock has no time to wait for.
    const time = turnMs(base, this.nullRounds, this.t);
    if (now < time) return { kind: 'wait', untilMs: time, wakeOnHead: true };
    const start = time + this.t.propagationDelayMs;
    if (now < start) return { kind: 'wait', untilMs: start, wakeOnHead: true, prepare: { base, nullRounds: this.nullRounds } };
    this.lastTried = tried;
    return { kind: 'mine', base, nullRounds: this.nullRounds };
  }

  /** What the round that `next` last said to mine came to, at time `now`. */
  roundDone(outcome: RoundOutcome, now: number): void {
    if (outcome === 'mined' || outcome === 'late') return;
    if (outcome === 'failed') {
      this.lastTried = '';
      this.retryAt = now + 1000;
      return;
    }
    // No block from us in this round: the next one on the same base.
    this.nullRounds++;
  }
}

/** A round's work begun ahead (RoundWork's facts). */
export interface WorkFacts {
  round: number;
  baseHeight: number;
  parents: string;
  /** Taken by its round: from then on only a tipset above its base gives it up. */
  taken: boolean;
}

/** Whether work `w` is the work of round roundOf(base, nullRounds) on `base`. */
export const workFits = (w: Omit<WorkFacts, 'taken'>, base: Base, nullRounds: number): boolean => w.round === roundOf(base, nullRounds) && w.baseHeight === base.height && w.parents === base.parents;

/**
 * Why work `w` must be given up now that `head` arrived, or undefined: a tipset above its base
 * decides its round without it; before its round took it, a head on other parents (another
 * chain) or at another height means it will not be taken.
 */
export function abandonOnHead(w: WorkFacts, head: Base): string | undefined {
  if (head.height > w.baseHeight) return `a tipset at height ${head.height} arrived`;
  if (!w.taken && (head.height !== w.baseHeight || head.parents !== w.parents)) return `the head moved to another chain (height ${head.height}) before round ${w.round} started`;
  return undefined;
}

/** Whether `head` decides a round on `base` without a block on it: a tipset above the base (not the base itself). */
export const overtaken = (head: Base | undefined, base: Base): boolean => head !== undefined && head.height > base.height && !sameBase(head, base);

/** Why a round on `base` was given up when a tipset at `headHeight` arrived `during` (e.g. "while proving round 12"). */
export function overtakenReason(headHeight: number, round: number, base: Base, during: string): string {
  return headHeight >= round
    ? `a tipset at height ${headHeight} arrived ${during}`
    : `a tipset at height ${headHeight} arrived inside the null rounds ${base.height + 1}..${round - 1} this block assumed`;
}
