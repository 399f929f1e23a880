// The Window PoSt role's decisions without a chain: deadlines on mainnet's policy (60-epoch
// windows, lookback 20, fault cutoff 70 epochs before a deadline opens) from a proving period
// that starts at epoch 10000, so deadline i opens at 10000 + 60·i. Storage facts are given, as
// the checks would answer.
import test from 'ava';
import { MAINNET_POLICY as P, newDeadlineInfo } from '../../src/chain/deadlines.js';
import { bitfieldToJson } from '../../src/chain/bitfield.js';
import type { PartitionJson } from '../../src/chain/api-types.js';
import {
  afterRevert,
  batchAgainstPosted,
  beforeFaultCutoff,
  blindRank,
  blindSubmitEpoch,
  pendingSubmission,
  declarationChecksUntil,
  declarationTargets,
  deadlinesToProve,
  mayBeReverted,
  messagesFor,
  occurrenceKey,
  partitionsToProve,
  planDeclarations,
  proofChecksUntil,
  provableSectors,
  recheckEpochs,
  recoveryTargets,
  skippedByPartition,
  slowFaultStep,
  submitEpoch,
  submitStep,
  type StorageFact,
} from '../../src/post/window-plan.js';

const START = 10_000;
const dl = (index: number, height: number) => newDeadlineInfo(P, START, index, height);

function partition(live: number[], o: { faulty?: number[]; recovering?: number[]; active?: number[] } = {}): PartitionJson {
  return {
    AllSectors: bitfieldToJson(live),
    LiveSectors: bitfieldToJson(live),
    FaultySectors: bitfieldToJson(o.faulty ?? []),
    RecoveringSectors: bitfieldToJson(o.recovering ?? []),
    ActiveSectors: bitfieldToJson(o.active ?? live),
  };
}

const facts = (m: Record<number, 'ok' | 'gone' | 'slow'>): Map<number, StorageFact> =>
  new Map(Object.entries(m).map(([s, outcome]) => [Number(s), { ok: outcome === 'ok', outcome, reason: outcome === 'ok' ? undefined : `${outcome} file` }]));

const none = () => false;
const noSent = { faults: new Set<number>(), recoveries: new Set<number>() };

test('deadline 5 as the actor has it: opens 10300, closes 10360, challenge 10280, fault cutoff 10230', (t) => {
  const d = dl(5, 10_300);
  t.like(d, { Open: 10_300, Close: 10_360, Challenge: 10_280, FaultCutoff: 10_230 });
  t.is(occurrenceKey(d), '5@10300');
});

test('deadlines to prove: the current one once its challenge is final, the next one as soon as its challenge is', (t) => {
  const at = (h: number, confidence = 1, skip: (k: string) => boolean = none) => deadlinesToProve(dl(5, h), h, confidence, skip).map((d) => [d.Index, d.CurrentEpoch]);
  t.deepEqual(at(10_300), [[5, 10_300]]);
  t.deepEqual(at(10_340), [[5, 10_340]], 'deadline 6: challenge 10340 is not one epoch deep yet');
  t.deepEqual(at(10_341), [
    [5, 10_341],
    [6, 10_341],
  ]);
  t.deepEqual(at(10_341, 2), [[5, 10_341]], 'a larger confidence waits longer');
  t.deepEqual(
    at(10_341, 1, (k) => k === '5@10300'),
    [[6, 10_341]],
    'done, running or given up: skipped',
  );
});

test('deadlines to prove after null rounds: a window that closed meanwhile is not started; one with an epoch left is', (t) => {
  // The last head was 10290; the next one comes at 10359, after 68 null rounds.
  t.deepEqual(
    deadlinesToProve(dl(5, 10_359), 10_359, 1, none).map((d) => d.Index),
    [6],
    'deadline 5 closes at 10360: a message pushed at 10359 lands at 10360 at the earliest',
  );
  t.deepEqual(
    deadlinesToProve(dl(5, 10_358), 10_358, 1, none).map((d) => d.Index),
    [5, 6],
  );
});

test('declaration targets: the coming deadlines whose fault cutoff a message can still beat, rechecked every few epochs', (t) => {
  const cur = dl(5, 10_300);
  const targets = (h: number, ahead: number, last: Record<string, number> = {}) =>
    declarationTargets(
      { ...cur, CurrentEpoch: h },
      h,
      ahead,
      (d) => recheckEpochs(d),
      (k) => last[k],
    ).map((d) => d.Index);
  // Deadline 6's cutoff is 10290 (passed), deadline 7's 10350, deadline 8's 10410.
  t.deepEqual(targets(10_300, 2), [7]);
  t.deepEqual(targets(10_300, 3), [7, 8]);
  t.is(recheckEpochs(cur), 15, 'a quarter of a 60-epoch window');
  t.is(recheckEpochs(cur, 3), 3);
  t.deepEqual(targets(10_300, 2, { '7@10420': 10_290 }), [], 'checked 10 epochs ago: not yet');
  t.deepEqual(targets(10_305, 2, { '7@10420': 10_290 }), [7], '15 epochs later: again');
  t.deepEqual(targets(10_349, 2), [], 'a message pushed at 10349 executes at the cutoff, too late');
});

test('recovery targets: every later deadline of the period whose cutoff has not passed, not the open one again', (t) => {
  const cur = dl(5, 10_300);
  const targets = (h: number, last: Record<string, number> = {}) =>
    recoveryTargets(
      { ...cur, CurrentEpoch: h },
      h,
      2,
      (d) => recheckEpochs(d),
      (k) => last[k],
    ).map((d) => d.Index);
  // Deadlines 6 and 7 are declareAhead's (2); from 8 to 47, then 0 to 4 of the next period.
  const all = [...Array.from({ length: 40 }, (_, i) => 8 + i), 0, 1, 2, 3, 4];
  t.deepEqual(targets(10_300), all);
  const at6 = recoveryTargets(
    dl(6, 10_360),
    10_360,
    2,
    (d) => recheckEpochs(d),
    () => undefined,
  );
  t.deepEqual([at6[at6.length - 1].Index, at6[at6.length - 1].Open], [5, 10_300 + 2880], 'once deadline 5 has closed, its next occurrence is the last target');
  t.is(
    recoveryTargets(
      { ...cur, CurrentEpoch: 10_351 },
      10_351,
      1,
      (d) => recheckEpochs(d),
      () => undefined,
    )[0].Index,
    8,
    "past declareAhead 1: deadline 7's cutoff (10350) has passed",
  );
  t.deepEqual(
    targets(10_300, { '9@10540': 10_295 }),
    all.filter((i) => i !== 9),
    'checked 5 epochs ago: not yet',
  );
  const next = recoveryTargets(
    dl(47, 12_830),
    12_830,
    2,
    (d) => recheckEpochs(d),
    () => undefined,
  );
  t.is(next[0].Index, 2, 'after the last deadline of a period: from the third of the next');
  t.is(next[0].Open, 12_880 + 120);
});

test('planned recoveries only: faulty sectors not recovering, no faults (1 and 4 gone), without storage facts for the others', (t) => {
  const parts = [partition([1, 2, 3, 4, 5], { faulty: [2, 3, 4], recovering: [4] })];
  const plan = planDeclarations(7, parts, facts({ 1: 'gone', 2: 'ok', 3: 'gone', 4: 'gone' }), noSent, none, true);
  t.deepEqual(plan, { faults: [], recoveries: [{ deadline: 7, partition: 0, sectors: [2] }], reasons: {}, slow: [] });
  t.deepEqual(planDeclarations(7, parts, facts({ 2: 'ok', 3: 'ok' }), { faults: new Set(), recoveries: new Set([2]) }, none, true).recoveries, [{ deadline: 7, partition: 0, sectors: [3] }]);
});

test('planned declarations: gone sectors faulty, readable faulty ones recovered, slow ones set aside', (t) => {
  // 1 gone, 2 slow, 3 fine; 4 faulty and readable again; 5 recovering but gone again;
  // 6 faulty, readable, but its file failed a proof and has not changed; 7 never proven yet.
  const parts = [partition([1, 2, 3, 4, 5, 6, 7], { faulty: [4, 5, 6], recovering: [5], active: [1, 2, 3, 4, 5, 6] }), partition([8, 9], { faulty: [9] })];
  const storage = facts({ 1: 'gone', 2: 'slow', 3: 'ok', 4: 'ok', 5: 'gone', 6: 'ok', 7: 'gone', 8: 'gone', 9: 'gone' });
  const plan = planDeclarations(7, parts, storage, noSent, (s) => s === 6);
  t.deepEqual(plan.faults, [
    { deadline: 7, partition: 0, sectors: [1, 5] },
    { deadline: 7, partition: 1, sectors: [8] },
  ]);
  t.deepEqual(plan.recoveries, [{ deadline: 7, partition: 0, sectors: [4] }]);
  t.deepEqual(plan.slow, [{ s: 2, partition: 0 }]);
  t.deepEqual(plan.reasons, { 1: 'gone: gone file', 5: 'gone: gone file', 8: 'gone: gone file' });
});

test('planned declarations: nothing declared twice for one occurrence; a missing storage fact is an error', (t) => {
  const parts = [partition([1, 2, 4], { faulty: [4] })];
  const storage = facts({ 1: 'gone', 2: 'slow', 4: 'ok' });
  const plan = planDeclarations(7, parts, storage, { faults: new Set([1, 2]), recoveries: new Set([4]) });
  t.deepEqual(plan, { faults: [], recoveries: [], reasons: {}, slow: [] });
  t.throws(() => planDeclarations(7, parts, facts({ 1: 'ok' }), noSent), { message: /no storage fact for live sector 2 of deadline 7/ });
});

test('slow sectors: deferred while a later check comes before the cutoff, else re-checked until a declaration can still land', (t) => {
  const d7 = dl(7, 10_300); // fault cutoff 10350
  t.is(slowFaultStep(d7, 10_300, 15), 'defer');
  t.is(slowFaultStep(d7, 10_334, 15), 'retry-now', '10334 + 15 + 1 = 10350: no later check in time');
  // Re-checks end a quarter block before the epoch before the cutoff.
  t.is(declarationChecksUntil(1_000, d7, 10_340, 30_000), 1_000 + 9 * 30_000 - 7_500);
  t.true(beforeFaultCutoff(d7, 10_348));
  t.false(beforeFaultCutoff(d7, 10_349));
});

test('storage checks before a proof leave the proof its time: configured, twice the slowest recent proof, or half the window left', (t) => {
  const d5 = dl(5, 10_300); // closes 10360
  const left = (10_360 - 1 - 10_330) * 1_000;
  t.is(proofChecksUntil(0, d5, 10_330, 1_000, [], 5_000), left - 5_000);
  t.is(proofChecksUntil(0, d5, 10_330, 1_000, [2_000, 3_000]), left - 6_000);
  t.is(proofChecksUntil(0, d5, 10_330, 1_000, []), left / 2);
  t.is(proofChecksUntil(0, d5, 10_400, 1_000, [], 0), 0, 'past the window: nothing left');
});

test('a ready proof is sent at the submit epoch and reported missed once it cannot land', (t) => {
  const d5 = dl(5, 10_300);
  t.is(submitEpoch(d5, 4), 10_304);
  t.is(submitStep(d5, 10_302, 4), 'wait');
  t.is(submitStep(d5, 10_304, 4), 'send');
  t.is(submitStep(d5, 10_358, 4), 'send');
  t.is(submitStep(d5, 10_359, 4), 'closed');
  // Leases unknown (shared database down): sent at half the window, never before the submit epoch.
  t.is(blindSubmitEpoch(d5, 4), 10_330);
  const tiny = newDeadlineInfo({ ...P, wpostChallengeWindow: 4 }, 0, 1, 4);
  t.is(blindSubmitEpoch(tiny, 4), tiny.Open + 1, 'a 4-epoch window: from the submit epoch');
  // Blind hosts are spread by rank, 2 epochs apart (one to land, one to be seen), never past
  // the last epoch whose message can land before the window closes (10_360).
  t.is(blindSubmitEpoch(d5, 4, 1), 10_332);
  t.is(blindSubmitEpoch(d5, 4, 2), 10_334);
  t.is(blindSubmitEpoch(d5, 4, 40), 10_358);
  // Ranks: none seen = 0; two hosts get different ranks whichever has seen the other.
  t.is(blindRank('host-b', []), 0);
  t.is(blindRank('host-b', ['host-b']), 0, 'itself is not a peer');
  t.is(blindRank('host-b', ['host-a']), 2);
  t.is(blindRank('host-a', ['host-b']), 1);
  t.not(blindRank('host-a', []), blindRank('host-b', ['host-a']));
  t.not(blindRank('host-a', ['host-b']), blindRank('host-b', []));
  t.not(blindRank('host-a', ['host-b']), blindRank('host-b', ['host-a']));
  // A shrunk window (8 epochs): the confidence is capped at a quarter of it.
  const small = newDeadlineInfo({ ...P, wpostChallengeWindow: 8 }, 0, 1, 8);
  t.is(submitEpoch(small, 4), small.Open + 2);
  // Too short for ranks 0..2 after its half: all start earlier, so they still differ (the
  // two-hosts test's window; half the window and later, ranks 1 and 2 both fell on close-2).
  t.deepEqual(
    [0, 1, 2, 3].map((r) => blindSubmitEpoch(small, 2, r) - small.Open),
    [2, 4, 6, 6],
  );
});

test('a blind host waits for a submission of its partitions already on its way', (t) => {
  const seen = [
    { cid: 'a', to: 't01000', method: 5, deadline: 3, partitions: [0, 1] },
    { cid: 'b', to: 't01001', method: 5, deadline: 4, partitions: [2] },
    { cid: 'c', to: 't01001', method: 6, deadline: 4, partitions: [2] },
    { cid: 'd', to: 't01001', method: 5, deadline: undefined, partitions: undefined },
  ];
  t.is(pendingSubmission(seen, 't01000', 5, 3, [1])?.cid, 'a', 'one partition in common is enough');
  t.is(pendingSubmission(seen, 't01000', 5, 3, [2]), undefined, 'other partitions');
  t.is(pendingSubmission(seen, 't01000', 5, 4, [0]), undefined, 'another deadline');
  t.is(pendingSubmission(seen, 't01001', 5, 4, [2])?.cid, 'b', 'another method (c) or params that do not decode (d) are not a proof');
  t.is(pendingSubmission(seen, 't01001', 5, 4, [2], new Set(['b'])), undefined, "this host's own message is not another's");
  t.is(pendingSubmission(seen, 't01001', 6, 4, [2])?.cid, 'c');
});

test('a proven batch against what is posted on chain: send, nothing to send, or prove the rest again', (t) => {
  t.is(batchAgainstPosted([0, 1, 2], new Set()), 'send');
  t.is(batchAgainstPosted([0, 1, 2], new Set([3])), 'send');
  t.is(batchAgainstPosted([0, 1, 2], new Set([0, 1, 2, 3])), 'posted');
  t.is(batchAgainstPosted([0, 1, 2], new Set([1])), 'reprove');
});

test('after a revert: a submission that landed below the fork stays; others are found, pending or sent again', (t) => {
  t.false(mayBeReverted({ epoch: 10_310 }, 10_312), 'landed below the fork');
  t.true(mayBeReverted({ epoch: 10_312 }, 10_312), 'landed in a reverted tipset');
  t.true(mayBeReverted({}, 10_312), 'receipt not seen yet');
  t.is(afterRevert(true, false), 'landed');
  t.is(afterRevert(true, true), 'landed');
  t.is(afterRevert(false, true), 'pending');
  t.is(afterRevert(false, false), 'resend');
});

test('what a proof covers: provable sectors, partitions still to prove, skipped sectors per partition, messages needed', (t) => {
  const parts = [partition([1, 2, 3], { faulty: [2, 3], recovering: [3] }), partition([4], { faulty: [4] }), partition([5]), partition([])];
  t.deepEqual(provableSectors(parts[0]), [1, 3]);
  t.deepEqual(provableSectors(parts[1]), [], 'faulty and not recovering: nothing to prove');
  t.deepEqual(
    partitionsToProve(parts, new Set()).map((x) => x.index),
    [0, 2],
  );
  t.deepEqual(
    partitionsToProve(parts, new Set([2])).map((x) => x.index),
    [0],
    'posted partitions are done',
  );
  const byPart = skippedByPartition(
    [9, 3, 1],
    new Map([
      [1, 0],
      [3, 0],
      [9, 2],
    ]),
  );
  t.deepEqual(Object.fromEntries(byPart), { 0: [1, 3], 2: [9] });
  t.throws(() => skippedByPartition([7], new Map()), { message: /sector 7 is in none/ });
  t.is(messagesFor(parts, 3), 1, 'three partitions with live sectors, three a message');
  t.is(messagesFor(parts, 1), 3);
});
