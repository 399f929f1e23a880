// Deadline arithmetic against values worked out by hand from the miner actor's formulas
// (mainnet: 60-epoch windows, 48 deadlines, 2880-epoch period, lookback 20, cutoff 70).
import test from 'ava';
import {
  MAINNET_POLICY as P,
  assignDeadlines,
  checkPolicy,
  currentDeadlineIndex,
  currentProvingPeriodStart,
  deadlineInfoFromOffsetAndEpoch,
  deadlineIsMutable,
  faultCutoffPassed,
  hasElapsed,
  isOpen,
  lastEpoch,
  newDeadlineInfo,
  nextDeadline,
  nextNotElapsed,
  periodEnd,
  provingPeriod,
  quantizeDown,
  quantizeUp,
} from '../../src/chain/deadlines.js';

test('proving period is window × deadlines', (t) => {
  t.is(provingPeriod(P), 2880);
  t.is(provingPeriod({ ...P, wpostChallengeWindow: 10 }), 480);
});

test('deadline 0, 47 and the after-last pseudo deadline', (t) => {
  const d0 = newDeadlineInfo(P, 1000, 0, 1000);
  t.like(d0, { Open: 1000, Close: 1060, Challenge: 980, FaultCutoff: 930, Index: 0, PeriodStart: 1000, WPoStProvingPeriod: 2880 });
  t.true(isOpen(d0));
  t.is(lastEpoch(d0), 1059);
  t.is(periodEnd(d0), 3879);
  const d47 = newDeadlineInfo(P, 1000, 47, 1000);
  t.like(d47, { Open: 3820, Close: 3880, Challenge: 3800, FaultCutoff: 3750 });
  t.false(isOpen(d47));
  const d48 = newDeadlineInfo(P, 1000, 48, 1000);
  t.like(d48, { Open: 3880, Close: 3880, Challenge: 3880, FaultCutoff: 3880 });
});

test('open / elapsed / fault cutoff boundaries', (t) => {
  const at = (e: number) => newDeadlineInfo(P, 1000, 2, e); // opens 1120, closes 1180
  t.false(isOpen(at(1119)));
  t.true(isOpen(at(1120)));
  t.true(isOpen(at(1179)));
  t.false(isOpen(at(1180)));
  t.false(hasElapsed(at(1179)));
  t.true(hasElapsed(at(1180)));
  t.false(faultCutoffPassed(at(1049))); // cutoff = 1120 - 70
  t.true(faultCutoffPassed(at(1050)));
});

test('quantize up/down, positive and negative', (t) => {
  t.is(quantizeUp(2880, 100, 99), 100);
  t.is(quantizeDown(2880, 100, 99), -2780);
  t.is(quantizeUp(2880, 100, 100), 100);
  t.is(quantizeDown(2880, 100, 100), 100);
  t.is(quantizeUp(2880, 100, 101), 2980);
  t.is(quantizeDown(2880, 100, 2979), 100);
  t.is(quantizeUp(2880, 0, -5), 0);
  t.is(quantizeDown(2880, 0, -5), -2880);
  t.is(quantizeUp(2880, -20, 0), 2860); // negative offset
  t.is(quantizeDown(2880, -20, 0), -20);
  t.is(quantizeDown(2880, 2980, 3000), 2980); // offset larger than the unit: reduced mod unit
});

test('current deadline from offset and epoch, across the period rollover', (t) => {
  let d = deadlineInfoFromOffsetAndEpoch(P, 100, 99);
  t.like(d, { PeriodStart: -2780, Index: 47, Open: 40, Close: 100 });
  d = deadlineInfoFromOffsetAndEpoch(P, 100, 100);
  t.like(d, { PeriodStart: 100, Index: 0, Open: 100, Close: 160, Challenge: 80, FaultCutoff: 30 });
  t.like(deadlineInfoFromOffsetAndEpoch(P, 100, 159), { Index: 0 });
  t.like(deadlineInfoFromOffsetAndEpoch(P, 100, 160), { Index: 1, Open: 160 });
  t.like(deadlineInfoFromOffsetAndEpoch(P, 100, 2979), { PeriodStart: 100, Index: 47, Close: 2980 });
  t.like(deadlineInfoFromOffsetAndEpoch(P, 100, 2980), { PeriodStart: 2980, Index: 0 });
  t.like(deadlineInfoFromOffsetAndEpoch(P, 0, -5), { PeriodStart: -2880, Index: 47 });
});

test('proving period start at miner creation', (t) => {
  t.is(currentProvingPeriodStart(P, 0, 100), -2780);
  t.is(currentProvingPeriodStart(P, 5000, 100), 2980);
  t.is(currentProvingPeriodStart(P, 100, 100), 100);
  t.is(currentProvingPeriodStart(P, 2879, 0), 0);
  t.is(currentDeadlineIndex(P, 5000, 2980), 33);
  t.is(currentDeadlineIndex(P, 2980, 2980), 0);
});

test('next not elapsed and next deadline', (t) => {
  const d = newDeadlineInfo(P, 100, 2, 5000); // opened 220, closed 280
  t.like(nextNotElapsed(d), { PeriodStart: 5860, Open: 5980, Close: 6040, Index: 2 });
  t.like(nextNotElapsed(newDeadlineInfo(P, 100, 2, 280)), { PeriodStart: 2980, Open: 3100 });
  t.like(nextNotElapsed(newDeadlineInfo(P, 100, 2, 279)), { PeriodStart: 100, Open: 220 });
  t.like(nextDeadline(newDeadlineInfo(P, 100, 5, 400)), { Index: 6, Open: 460 });
  t.like(nextDeadline(newDeadlineInfo(P, 100, 47, 2960)), { Index: 0, PeriodStart: 2980, Open: 2980 });
});

test('shrunk policy uses the same formulas', (t) => {
  const small = checkPolicy({ wpostChallengeWindow: 10, wpostPeriodDeadlines: 48, wpostChallengeLookback: 2, faultDeclarationCutoff: 5, preCommitChallengeDelay: 3 });
  t.like(deadlineInfoFromOffsetAndEpoch(small, 7, 500), { PeriodStart: 487, Index: 1, Open: 497, Close: 507, Challenge: 495, FaultCutoff: 492 });
  t.throws(() => checkPolicy({ ...small, faultDeclarationCutoff: 1 }));
});

test('only deadlines at least one window away are mutable', (t) => {
  t.false(deadlineIsMutable(P, 100, 0, 100)); // current
  t.false(deadlineIsMutable(P, 100, 1, 100)); // next
  t.true(deadlineIsMutable(P, 100, 2, 100));
  t.true(deadlineIsMutable(P, 100, 2, 159));
  t.false(deadlineIsMutable(P, 100, 2, 160));
  t.true(deadlineIsMutable(P, 100, 0, 160)); // reopens next period
  t.false(deadlineIsMutable(P, 100, 0, 2920)); // next period's deadline 0 is next
});

test('deadline assignment fills open partitions, then balances', (t) => {
  const empty = () => ({ liveSectors: 0, totalSectors: 0 });
  const dls = Array.from({ length: 48 }, empty);
  const r = assignDeadlines(3000, 2, dls, 5);
  t.deepEqual(r.slice(0, 4), [[0, 1], [2, 3], [4], []]);
  const withImmutable = [null, null, ...Array.from({ length: 46 }, empty)];
  t.deepEqual(assignDeadlines(3000, 2, withImmutable, 3).slice(0, 4), [[], [], [0, 1], [2]]);
  // an open partition (total 3 of size 2) is filled before a new partition is started
  const loads = Array.from({ length: 48 }, () => ({ liveSectors: 4, totalSectors: 4 }));
  loads[9] = { liveSectors: 3, totalSectors: 3 };
  t.deepEqual(assignDeadlines(3000, 2, loads, 1)[9], [0]);
  t.throws(() => assignDeadlines(1, 2, [{ liveSectors: 2, totalSectors: 2 }], 1), { message: /max partitions/ });
});
