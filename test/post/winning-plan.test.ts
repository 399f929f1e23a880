// The Winning PoSt role's decisions (src/post/winning-plan.ts) without a chain, proofs or
// timers: the mining loop through new bases, null rounds, a chain behind the wall clock,
// failed rounds, forks and tipsets that grow; which work fits a round; when a tipset that
// arrived decides a round. Milliseconds; test/post/mining-loop.test.ts drives the shell.
import test, { type ExecutionContext } from 'ava';
import { WINNING_POST_LOOKBACK, roundWithinLookback } from '../../src/chain/mining.js';
import { type Base, type LoopStep, MiningLoopPlan, abandonOnHead, blockTimestamp, overtaken, overtakenReason, roundOf, roundStartMs, workFits } from '../../src/post/winning-plan.js';

const T = { blockDelayMs: 4000, propagationDelayMs: 1000 };
const GENESIS = 1_700_000_000_000;

/** A tipset's facts at `height` (time from a 4 s chain), `tag` telling tipsets of one height apart. */
function base(height: number, tag = 'a', parents = `p${height - 1}`): Base {
  return { key: `${height}${tag}`, height, timeMs: GENESIS + height * T.blockDelayMs, parents };
}

const wait = (untilMs: number, wakeOnHead: boolean, prepare?: { base: Base; nullRounds: number }): LoopStep => ({ kind: 'wait', untilMs, wakeOnHead, ...(prepare ? { prepare } : {}) });
const mine = (b: Base, nullRounds: number): LoopStep => ({ kind: 'mine', base: b, nullRounds });

/** A plan whose first round, on base 10 once its propagation delay is over, has just been told to be mined. */
function firstRound(t: ExecutionContext): { p: MiningLoopPlan; b: Base } {
  const p = new MiningLoopPlan(T);
  const b = base(10);
  t.deepEqual(p.next(b, b.timeMs + 1000), mine(b, 0));
  return { p, b };
}

test('a new base: its round waits for the propagation delay (the work begun meanwhile, the wait not cut short by heads), then is mined once', (t) => {
  const p = new MiningLoopPlan(T);
  const b = base(10);
  t.deepEqual(p.next(b, b.timeMs + 200), wait(b.timeMs + 1000, false, { base: b, nullRounds: 0 }));
  t.deepEqual(p.next(b, b.timeMs + 1000), mine(b, 0));
  p.roundDone('mined', b.timeMs + 3000);
  // Tried: not again on this base, whatever the clock says; a new head or an epoch wakes the loop.
  t.deepEqual(p.next(b, b.timeMs + 3000), wait(b.timeMs + 3000 + T.blockDelayMs, true));
  t.deepEqual(p.next(b, b.timeMs + 60_000), wait(b.timeMs + 60_000 + T.blockDelayMs, true));
});

test('no win and no new head: the next round on the same base at its time plus the delay (work begun at its time), null rounds counted', (t) => {
  const { p, b } = firstRound(t);
  t.is(roundOf(b, 0), 11);
  for (const outcome of ['lost', 'not-eligible', 'slash-filter', 'other-host'] as const) {
    const n = ['lost', 'not-eligible', 'slash-filter', 'other-host'].indexOf(outcome) + 1;
    p.roundDone(outcome, b.timeMs + (n - 1) * T.blockDelayMs + 1500);
    const time = b.timeMs + n * T.blockDelayMs;
    // Before the round's time its beacon is not out: only wait (a head ends the wait).
    t.deepEqual(p.next(b, time - 2000), wait(time, true));
    // At its time: begin its work, mine after the propagation delay.
    t.deepEqual(p.next(b, time + 10), wait(time + 1000, true, { base: b, nullRounds: n }));
    t.deepEqual(p.next(b, time + 1000), mine(b, n));
    t.is(roundOf(b, n), 11 + n);
  }
});

test('a chain behind the wall clock: every round is mined at once, lost rounds counted null one after another', (t) => {
  const p = new MiningLoopPlan(T);
  const b = base(10);
  const now = b.timeMs + 600_000; // ten minutes behind
  for (let n = 0; n < 5; n++) {
    t.deepEqual(p.next(b, now + n), mine(b, n));
    p.roundDone('lost', now + n);
  }
});

test('a chain far behind the wall clock: null rounds up to the Winning PoSt lookback, then only a new head (Lotus refuses the next base info)', (t) => {
  const p = new MiningLoopPlan(T);
  const b = base(10);
  const now = b.timeMs + 24 * 3600_000; // a day behind: 21,600 rounds have passed
  for (let n = 0; n < WINNING_POST_LOOKBACK - 1; n++) {
    t.deepEqual(p.next(b, now), mine(b, n));
    p.roundDone('not-eligible', now);
  }
  // Round 10 + 899 + 1 = 910: its lookback, epoch 10, is the base itself.
  t.is(roundOf(b, WINNING_POST_LOOKBACK - 1), 910);
  t.false(roundWithinLookback(b.height, 910));
  t.true(roundWithinLookback(b.height, 909));
  t.deepEqual(p.next(b, now), { kind: 'wait', untilMs: now + T.blockDelayMs, wakeOnHead: true, beyondLookback: true });
  t.deepEqual(p.next(b, now + 60_000), { kind: 'wait', untilMs: now + 60_000 + T.blockDelayMs, wakeOnHead: true, beyondLookback: true });
  // A new head: mined at once (it is behind the clock too).
  const c = base(11);
  t.deepEqual(p.next(c, now + 60_000), mine(c, 0));
  // A base at genesis has no lookback limit (Lotus resolves it to genesis).
  t.true(roundWithinLookback(0, 5000));
});

test('a new head during the null rounds: counting starts again on it, after its own delay; its round is height+1', (t) => {
  const { p, b } = firstRound(t);
  p.roundDone('lost', b.timeMs + 2000);
  t.deepEqual(p.next(b, b.timeMs + 2000), wait(b.timeMs + T.blockDelayMs, true));
  // Tipset 12 arrives (11 was null for everyone else too, or came late): base 12.
  const b12 = base(12, 'a', '11a');
  t.deepEqual(p.next(b12, b12.timeMs + 300), wait(b12.timeMs + 1000, false, { base: b12, nullRounds: 0 }));
  t.deepEqual(p.next(b12, b12.timeMs + 1000), mine(b12, 0));
  t.is(roundOf(b12, 0), 13);
});

test('a tipset that grows (a block of the same height joins after the round): a new base, its round tried on it once more', (t) => {
  // Like lotus-miner: the base is the heaviest tipset, and more blocks make it heavier. The slash
  // filter (the shell) stops a second block for an epoch already mined.
  const { p, b } = firstRound(t);
  p.roundDone('lost', b.timeMs + 1500);
  const grown: Base = { ...b, key: '10a+b' };
  t.deepEqual(p.next(grown, b.timeMs + 1600), mine(grown, 0));
});

test('a failed round (the node or the proof): tried again a second later, or at once on a new head', (t) => {
  const { p, b } = firstRound(t);
  p.roundDone('failed', b.timeMs + 1200);
  t.deepEqual(p.next(b, b.timeMs + 1300), wait(b.timeMs + 2200, true));
  t.deepEqual(p.next(b, b.timeMs + 2200), mine(b, 0));
  p.roundDone('failed', b.timeMs + 2300);
  const b11 = base(11);
  t.deepEqual(p.next(b11, b11.timeMs + 1000), mine(b11, 0));
});

test('a round given up to a tipset above its base ("late") is not tried again on that base', (t) => {
  const { p, b } = firstRound(t);
  p.roundDone('late', b.timeMs + 5000);
  t.is(p.next(b, b.timeMs + 5000).kind, 'wait');
});

test('work fits a round only for its round, base height and parents', (t) => {
  const b = base(10);
  const w = { round: 12, baseHeight: 10, parents: 'p9' };
  t.true(workFits(w, b, 1));
  t.false(workFits(w, b, 0));
  t.false(workFits(w, { ...b, parents: 'other' }, 1));
  t.false(workFits(w, base(11, 'a', 'p9'), 0));
  // Blocks joining the base keep its parents: the work still fits the grown tipset.
  t.true(workFits(w, { ...b, key: '10a+b' }, 1));
});

test('work is given up on a tipset above its base; before its round took it, also on another chain or height', (t) => {
  const w = { round: 11, baseHeight: 10, parents: 'p9', taken: false };
  t.is(abandonOnHead(w, base(10, 'b', 'p9')), undefined); // the base grew
  t.is(abandonOnHead(w, base(11, 'a', '10a')), 'a tipset at height 11 arrived');
  t.is(abandonOnHead(w, base(10, 'x', 'other')), 'the head moved to another chain (height 10) before round 11 started');
  t.is(abandonOnHead(w, base(9, 'x', 'p8')), 'the head moved to another chain (height 9) before round 11 started');
  // Taken by its round: only a tipset above the base decides it.
  t.is(abandonOnHead({ ...w, taken: true }, base(10, 'x', 'other')), undefined);
  t.is(abandonOnHead({ ...w, taken: true }, base(12, 'a', '11a')), 'a tipset at height 12 arrived');
});

test('a round is overtaken by a tipset above its base (not by the base itself); the reason names the round or the null rounds assumed', (t) => {
  const b = base(10);
  t.false(overtaken(undefined, b));
  t.false(overtaken(b, b));
  t.false(overtaken(base(10, 'b'), b));
  t.true(overtaken(base(11), b));
  t.is(overtakenReason(13, 13, b, 'while proving round 13'), 'a tipset at height 13 arrived while proving round 13');
  t.is(overtakenReason(11, 13, b, 'while proving round 13'), 'a tipset at height 11 arrived inside the null rounds 11..12 this block assumed');
});

test("a round's start and its block's timestamp: base time + a block delay per epoch above it", (t) => {
  const b = base(10);
  t.is(roundStartMs(b, 0, T), b.timeMs + 1000);
  t.is(roundStartMs(b, 3, T), b.timeMs + 3 * 4000 + 1000);
  t.is(blockTimestamp(b, 11, T), b.timeMs / 1000 + 4);
  t.is(blockTimestamp(b, 14, T), b.timeMs / 1000 + 16);
});
