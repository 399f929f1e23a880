// Window PoSt scheduler against the embedded devnet with REAL proofs: sectors sealed elsewhere
// (the run's shared fixture) are proven in every occurrence of their deadline from the chain's
// sector list and the storage path alone; a deleted sealed file is declared faulty before the
// cutoff (power drops) and, once restored, recovered and proven again (power back); a
// damaged replica is skipped in the proof and not declared recovered while unchanged; a
// sector whose storage does not answer at first is re-checked, and proven.
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WindowPoStScheduler, type DeadlineFunds, type DeadlineMargin, type Declaration, type SubmittedPoSt, type WindowPoStOptions, batchPartitions } from '../../src/post/window.js';
import { maxPoStPartitions } from '../../src/chain/deadlines.js';
import { checkSectors } from '../../src/post/storage.js';
import { type ProofRunner, faultySectorsOf } from '../../src/post/runner.js';
import { mailboxRunner } from '../../actors/roles/common.js';
import type { JobReport } from '../../actors/mailbox.js';
import * as proofs from '../../src/proofs/index.js';
import { logger } from '../../src/log.js';
import { DEFAULT_FEE_CAPS } from '../../src/chain/fees.js';
import { bitfieldFromJson } from '../../src/chain/bitfield.js';
import { MinerMethod } from '../../src/chain/builtin-actors.js';
import { MINER, POST_POLICY, type PoStSetup, placeSector, setupPoSt } from './_setup.js';

const PERIOD = POST_POLICY.wpostChallengeWindow * POST_POLICY.wpostPeriodDeadlines;

/** A started scheduler on the setup's devnet and storage, collecting its proofs and declarations; stopped (and the devnet closed) at teardown. */
async function startScheduler(t: ExecutionContext, s: PoStSetup, opts: Partial<WindowPoStOptions> = {}) {
  const sched = new WindowPoStScheduler({ client: s.h.client, miner: MINER, storage: [s.storage], confidence: 1, checkTimeoutMs: 5000, ...opts });
  const proven: SubmittedPoSt[] = [];
  const decls: Declaration[] = [];
  sched.on('proven', (x: SubmittedPoSt) => proven.push(x));
  sched.on('declared', (x: Declaration) => decls.push(x));
  await sched.start();
  t.teardown(async () => {
    await sched.stop();
    await s.h.close();
    rmSync(s.storage, { recursive: true, force: true });
  });
  return { sched, proven, decls };
}

/**
 * A scheduler on the setup's (manual-epoch) devnet whose heads are fed by hand, as ChainNotify
 * would deliver them: `step` forms the next tipset and waits until the scheduler has handled it.
 * Its 'error' events are collected; stopped (and the devnet closed) at teardown.
 */
async function manualScheduler(t: ExecutionContext, s: PoStSetup, opts: Partial<WindowPoStOptions> = {}) {
  const d = s.h.devnet;
  const sched = new WindowPoStScheduler({ client: s.h.client, miner: MINER, storage: [s.storage], confidence: 1, checkTimeoutMs: 5000, ...opts });
  const errors: string[] = [];
  sched.on('error', (e: Error) => errors.push(e.message));
  await sched.init();
  t.teardown(async () => {
    await sched.stop();
    await s.h.close();
    rmSync(s.storage, { recursive: true, force: true });
  });
  const step = async () => {
    const ts = await d.advance();
    sched.onHeadChanges([{ Type: 'apply', Val: ts }]);
    await sched.settled(ts.Height);
    return ts;
  };
  sched.onHeadChanges([{ Type: 'current', Val: d.head() }]);
  await sched.settled(d.head().Height);
  return { sched, errors, step };
}

test('batching and faulty-sector parsing', (t) => {
  t.deepEqual(batchPartitions([0, 1, 2, 3, 4], 2), [[0, 1], [2, 3], [4]]);
  t.is(maxPoStPartitions(2349), 3, 'PoStedPartitionsMax');
  t.is(maxPoStPartitions(2), 3);
  t.is(maxPoStPartitions(10_000), 2, '25,000 addressed sectors');
  t.deepEqual(faultySectorsOf({ name: 'FaultySectorsError', sectors: [3, 5] }), [3, 5]);
  t.deepEqual(faultySectorsOf({ name: 'FaultySectorsError', message: 'generate_window_post: sealed or cache files missing for sectors 4, 9' }), [4, 9]);
  t.deepEqual(faultySectorsOf(new Error('tree failed to load for SectorId(7)')), [7]);
  t.deepEqual(faultySectorsOf(new Error('something else')), []);
});

test.serial('proves every deadline from chain + storage; faults and recoveries declared in time', async (t) => {
  const s = await setupPoSt(2);
  const { h } = s;
  const d = h.devnet;
  const c = h.client;
  const { sched, proven, decls } = await startScheduler(t, s);
  const advance = async () => {
    const ts = await d.advance();
    await sched.settled(ts.Height);
    return ts;
  };
  const power = async () => (await c.stateMinerPower(MINER)).MinerPower.RawBytePower;
  const waitFor = async (what: string, max: number, pred: () => boolean | Promise<boolean>) => {
    for (let i = 0; i <= max; i++) {
      // receipts are noticed by polling: give them a moment after each epoch
      for (let k = 0; k < 10 && !(await pred()); k++) await new Promise((r) => setTimeout(r, 50));
      if (await pred()) return;
      await advance();
    }
    t.fail(`${what}: not within ${max} epochs (head ${d.head().Height})`);
  };

  // ---- every occurrence of the deadline is proven; the first proof brings the power
  t.is(await power(), '0');
  await waitFor('two proven occurrences', 2 * PERIOD + 4, () => proven.length >= 2);
  t.true(proven.every((p) => p.deadline === s.deadline && p.exitCode === 0));
  t.is(proven[1].open - proven[0].open, PERIOD); // consecutive occurrences, none missed
  t.deepEqual(proven[0].provenSectors, [1, 2]);
  t.is(await power(), '4096');
  t.deepEqual(await c.stateMinerFaults(MINER), []);

  // ---- a deleted sealed file: declared faulty before the cutoff, power drops, the rest is still proven
  rmSync(join(s.storage, 'sealed', 's-t01000-2'));
  const check = await checkSectors([s.storage], 1000, [1, 2], { sectorSize: 2048 });
  t.true(check.get(1)!.ok);
  t.false(check.get(2)!.ok);
  t.regex(check.get(2)!.reason!, /no sealed file/);
  await waitFor('fault declared', PERIOD + 4, async () => (await c.stateMinerFaults(MINER)).includes(2));
  await waitFor('declaration receipt', 2, () => decls.some((x) => x.kind === 'faults' && x.exitCode !== undefined));
  const fault = decls.find((x) => x.kind === 'faults')!;
  t.deepEqual(
    fault.decls.flatMap((x) => x.sectors),
    [2],
  );
  t.is(fault.exitCode, 0);
  t.true(fault.epoch! < fault.cutoff, `declared at ${fault.epoch}, cutoff ${fault.cutoff}`);
  t.is(await power(), '2048');
  const before = proven.length;
  await waitFor('proof without the faulty sector', PERIOD + 4, () => proven.length > before);
  t.deepEqual(proven[proven.length - 1].provenSectors, [1]);
  t.is(await power(), '2048');

  // ---- restored: declared recovered before the cutoff, proven again, power back
  placeSector(s.fixture[1], s.storage);
  await waitFor('recovered and proven', 2 * PERIOD + 4, async () => (await c.stateMinerFaults(MINER)).length === 0 && proven.length > before + 1);
  const rec = decls.find((x) => x.kind === 'recoveries')!;
  t.truthy(rec);
  t.is(rec.exitCode, 0);
  t.true(rec.epoch! < rec.cutoff);
  t.deepEqual(proven[proven.length - 1].provenSectors, [1, 2]);
  t.is(await power(), '4096');

  // ---- damaged replica content (readable, right size): the library fails without naming it;
  // the scheduler finds it, skips it (faulty) and proves the other; no recovery while unchanged.
  const sealed1 = join(s.storage, 'sealed', 's-t01000-1');
  const b = readFileSync(sealed1);
  for (let i = 0; i < b.length; i += 7) b[i] ^= 0x55;
  writeFileSync(sealed1, b);
  const n = proven.length;
  await waitFor('proof skipping the damaged sector', PERIOD + 4, () => proven.length > n);
  const last = proven[proven.length - 1];
  t.deepEqual(last.provenSectors, [2]);
  t.deepEqual(last.partitions[0].skipped, [1]);
  t.deepEqual(await c.stateMinerFaults(MINER), [1]);
  t.is(await power(), '2048');
  const recs = decls.filter((x) => x.kind === 'recoveries').length;
  for (let i = 0; i < PERIOD; i++) await advance();
  t.is(decls.filter((x) => x.kind === 'recoveries').length, recs, 'an unchanged damaged file is not declared recovered');
  t.deepEqual(await c.stateMinerFaults(MINER), [1]);
});

// A sector activated before its files reach the storage path (a seal miner still moving them)
// must not be declared faulty ahead of its first window: it is proven once the files are there.
// And an occurrence is re-checked until its fault cutoff: a file lost after the first check of
// the coming occurrence is still declared faulty before the cutoff.
test.serial('a never-proven sector whose files arrive late is not declared faulty ahead; coming deadlines are re-checked until the cutoff', async (t) => {
  const s = await setupPoSt(2);
  const { h } = s;
  const d = h.devnet;
  const c = h.client;
  const name2 = 's-t01000-2';
  rmSync(join(s.storage, 'sealed', name2));
  rmSync(join(s.storage, 'cache', name2), { recursive: true });
  // Re-check every 2 epochs: with 4-epoch deadlines and a cutoff 3 epochs before the window,
  // an occurrence is checked when it comes 2 deadlines ahead and again 2 epochs later.
  const { sched, proven, decls } = await startScheduler(t, s, { declareRecheckEpochs: 2 });
  const advanceTo = async (height: number) => {
    while (d.head().Height < height) await sched.settled((await d.advance()).Height);
    await new Promise((r) => setTimeout(r, 200)); // receipts are noticed by polling
  };
  // The next occurrence of the sectors' deadline.
  const cur = await c.stateMinerProvingDeadline(MINER);
  let open1 = cur.PeriodStart + s.deadline * POST_POLICY.wpostChallengeWindow;
  while (open1 <= cur.CurrentEpoch) open1 += PERIOD;
  t.true(cur.CurrentEpoch < open1 - POST_POLICY.faultDeclarationCutoff, "the scheduler starts before the cutoff of the sectors' first window");

  // Until just before the challenge: checked (at least twice), sector 2 missing, nothing declared.
  await advanceTo(open1 - POST_POLICY.wpostChallengeLookback - 1);
  t.deepEqual(decls, [], 'a never-proven sector is not declared faulty ahead of its first window');
  t.deepEqual(await c.stateMinerFaults(MINER), []);
  placeSector(s.fixture[1], s.storage); // the files arrive
  await advanceTo(open1 + POST_POLICY.wpostChallengeWindow);
  t.is(proven.length, 1);
  t.is(proven[0].open, open1);
  t.deepEqual(proven[0].provenSectors, [1, 2]);
  t.deepEqual(await c.stateMinerFaults(MINER), []);
  t.is((await c.stateMinerPower(MINER)).MinerPower.RawBytePower, '4096');

  // The next occurrence: first checked when it comes 2 deadlines ahead (both files there); then
  // sector 1's sealed file is lost; the re-check declares it before the cutoff.
  const open2 = open1 + PERIOD;
  const cutoff2 = open2 - POST_POLICY.faultDeclarationCutoff;
  await advanceTo(open2 - 2 * POST_POLICY.wpostChallengeWindow);
  t.deepEqual(decls, []);
  rmSync(join(s.storage, 'sealed', 's-t01000-1'));
  await advanceTo(cutoff2);
  const fault = decls.find((x) => x.kind === 'faults');
  t.truthy(fault, 'the re-check declared the lost file');
  t.deepEqual(
    fault!.decls.flatMap((x) => x.sectors),
    [1],
  );
  t.is(fault!.exitCode, 0);
  t.true(fault!.epoch! < fault!.cutoff, `declared at ${fault!.epoch}, cutoff ${fault!.cutoff}`);
  t.is(fault!.cutoff, cutoff2);
  t.deepEqual(await c.stateMinerFaults(MINER), [1]);
  t.is(decls.filter((x) => x.kind === 'faults').length, 1, 'declared once although checked again');
  await advanceTo(open2 + POST_POLICY.wpostChallengeWindow);
  t.deepEqual(proven[proven.length - 1].provenSectors, [2]);
});

// The cold-CI failure: under load a storage check hit its timeout and the sector was taken for
// lost. Here sector 2's storage gives no answer to the first check before its first window (its
// p_aux is a FIFO with no writer: the checker's open blocks, like a read on a slow disk, and it
// is killed at the timeout); by the retry the file is back. It is proven.
test.serial('a sector whose storage check times out at first is re-checked and proven, not skipped', async (t) => {
  // A 30 s block delay advanced by hand: the window leaves time to retry.
  const s = await setupPoSt(2, { blockDelayMs: 30_000 });
  const d = s.h.devnet;
  const { sched } = await startScheduler(t, s, { checkTimeoutMs: 2000 });
  const advanceTo = async (height: number) => {
    while (d.head().Height < height) await sched.settled((await d.advance()).Height);
  };
  const cur = await s.h.client.stateMinerProvingDeadline(MINER);
  let open = cur.PeriodStart + s.deadline * POST_POLICY.wpostChallengeWindow;
  while (open - POST_POLICY.wpostChallengeLookback <= cur.CurrentEpoch) open += PERIOD;
  await advanceTo(open - 2); // proving starts at open - 1
  t.deepEqual(sched.submissions, []);
  t.is(sched.status().storage.slow, 0);
  const paux = join(s.storage, 'cache', 's-t01000-2', 'p_aux');
  const real = readFileSync(paux);
  rmSync(paux);
  execFileSync('mkfifo', [paux]);
  // Once the first check has timed out (counted slow), the file is back before the retry (its
  // backoff is 500 ms; this timer, in the same event loop, expires first).
  const watch = setInterval(() => {
    if (sched.status().storage.slow === 0) return;
    clearInterval(watch);
    renameSync(paux, `${paux}.fifo`);
    writeFileSync(paux, real);
  }, 50);
  t.teardown(() => clearInterval(watch));
  // Proven from open - 1; sent once the deadline has been open a quarter window (1 epoch here).
  await advanceTo(open + 1);
  t.is(sched.submissions.length, 1);
  t.deepEqual(sched.submissions[0].provenSectors, [1, 2]);
  t.deepEqual(
    sched.submissions[0].partitions.flatMap((p) => p.skipped),
    [],
  );
  const st = sched.status().storage;
  t.is(st.slow, 1, JSON.stringify(st));
  t.is(st.okAfterRetry, 1, JSON.stringify(st));
  t.is(st.skippedSlow, 0);
  await advanceTo(open + 2); // sent at open + 1, executed at open + 2
  for (let i = 0; i < 40 && sched.submissions[0].exitCode === undefined; i++) await new Promise((r) => setTimeout(r, 100));
  t.is(sched.submissions[0].exitCode, 0);
  t.is((await s.h.client.stateMinerPower(MINER)).MinerPower.RawBytePower, '4096');
});

// The GPU mailbox abandons a proof at its deadline (on a CPU host, Winning PoSts back to back
// could hold a Window PoSt that long). The role's runner gets the mailbox's answer as the worker
// thread relays it (an Error with code 'deadline'): the time ran out, not the sectors. Before
// this was told apart, the scheduler "isolated" the sectors, blamed them all and skipped them
// (the demo's deal sector was declared faulty that way).
test.serial('a proof the mailbox abandons at its deadline blames no sector: the retry proves them all', async (t) => {
  const s = await setupPoSt(2, { blockDelayMs: 30_000 });
  const d = s.h.devnet;
  let asked = 0;
  const runner: ProofRunner = mailboxRunner({
    id: 'window-post',
    options: {},
    log: logger('test'),
    submitProof: async <T>(kind: string, args: unknown[]) => {
      if (asked++ === 0) throw Object.assign(new Error(`job 4 (${kind}): deadline passed after 13372 ms of running; abandoned`), { code: 'deadline' });
      const [rand, replicas, prover] = args as [Buffer, proofs.PrivateReplicaInfo[], Buffer];
      return { value: (await proofs.generateWindowPoSt(rand, replicas, prover)) as T, report: {} as JobReport };
    },
  });
  const { sched, decls } = await startScheduler(t, s, { runner });
  const errors: string[] = [];
  sched.on('error', (e: Error) => errors.push(e.message));
  const advanceTo = async (height: number) => {
    while (d.head().Height < height) await sched.settled((await d.advance()).Height);
  };
  const cur = await s.h.client.stateMinerProvingDeadline(MINER);
  let open = cur.PeriodStart + s.deadline * POST_POLICY.wpostChallengeWindow;
  while (open - POST_POLICY.wpostChallengeLookback <= cur.CurrentEpoch) open += PERIOD;
  // Proving starts at open - 1 and is abandoned; the next head (the window still open on this
  // hand-advanced chain) tries again.
  await advanceTo(open + 1);
  t.is(errors.length, 1);
  t.regex(errors[0], /job 4 \(window-post\): deadline passed/);
  t.is(asked, 2, 'the abandoned proof and its retry: no sector-by-sector isolation');
  t.is(sched.submissions.length, 1);
  t.deepEqual(sched.submissions[0].provenSectors, [1, 2]);
  t.deepEqual(
    sched.submissions[0].partitions.flatMap((p) => p.skipped),
    [],
    'nothing skipped as failed in a proof',
  );
  t.deepEqual(decls, [], 'nothing declared faulty');
  await advanceTo(open + 2);
  for (let i = 0; i < 40 && sched.submissions[0].exitCode === undefined; i++) await new Promise((r) => setTimeout(r, 100));
  t.is(sched.submissions[0].exitCode, 0);
  t.is((await s.h.client.stateMinerPower(MINER)).MinerPower.RawBytePower, '4096');
});

// A deadline no proof could be made for (here every proof is abandoned at its deadline) is
// reported 'missed' once its window closes, with the reason; on the way the scheduler reports
// the open deadline's unproven partitions and time left ('margin', the at-risk alert's metric)
// and, once per deadline, the next one's gas cap and its payer's balance ('funds').
test.serial('a deadline never proven is reported missed when its window closes; margin and funds on the way', async (t) => {
  const s = await setupPoSt(2, { blockDelayMs: 30_000 });
  const d = s.h.devnet;
  const runner: ProofRunner = mailboxRunner({
    id: 'window-post',
    options: {},
    log: logger('test'),
    submitProof: async (kind: string) => {
      throw Object.assign(new Error(`job 9 (${kind}): deadline passed after 20000 ms of running; abandoned`), { code: 'deadline' });
    },
  });
  const { sched } = await startScheduler(t, s, { runner, fees: { ...DEFAULT_FEE_CAPS, windowPoSt: 7n * 10n ** 17n } });
  const missed: { deadline: number; open: number; why: string }[] = [];
  const margins: (DeadlineMargin & { head: number })[] = [];
  const funds: DeadlineFunds[] = [];
  sched.on('missed', (e: { deadline: number; open: number; why: string }) => missed.push(e));
  sched.on('margin', (e: DeadlineMargin) => margins.push({ ...e, head: d.head().Height }));
  sched.on('funds', (e: DeadlineFunds) => funds.push(e));
  const advanceTo = async (height: number) => {
    while (d.head().Height < height) await sched.settled((await d.advance()).Height);
  };
  const cur = await s.h.client.stateMinerProvingDeadline(MINER);
  let open = cur.PeriodStart + s.deadline * POST_POLICY.wpostChallengeWindow;
  while (open - POST_POLICY.wpostChallengeLookback <= cur.CurrentEpoch) open += PERIOD;
  const close = open + POST_POLICY.wpostChallengeWindow;
  await advanceTo(close - 2);
  t.deepEqual(missed, [], 'not missed while the window is open');
  await advanceTo(close);
  t.is(missed.length, 1);
  t.like(missed[0], { deadline: s.deadline, open });
  t.regex(missed[0].why, new RegExp(`no proof made before the window closed at ${close} \\(3 failed attempt\\(s\\); last: job 9 \\(window-post\\): deadline passed`));
  await advanceTo(close + 2);
  t.is(missed.length, 1, 'reported once');
  // margin: while the deadline was open, its one partition unproven and the time to its close.
  // (Up to close - 2: the devnet's state at a head includes that epoch's cron, so at close - 1
  // the partition is already faulted — Lotus shows an epoch's execution one tipset later.)
  const during = margins.filter((m) => m.deadline === s.deadline && m.head >= open && m.head < close - 1);
  t.true(during.length >= 3);
  for (const m of during) t.deepEqual([m.unprovenPartitions, m.secondsLeft], [1, (close - m.head) * 30], JSON.stringify(m));
  t.true(
    margins.filter((m) => m.deadline !== s.deadline).every((m) => m.unprovenPartitions === 0),
    'other deadlines hold no sectors',
  );
  // funds: for the deadline holding the sectors, the cap for its one message; the worker pays.
  const worker = (await s.h.client.stateMinerInfo(MINER)).Worker;
  const forSectors = funds.filter((f) => f.deadline === s.deadline);
  t.true(forSectors.length >= 1);
  for (const f of forSectors) t.like(f, { gas: 7n * 10n ** 17n, payer: worker, balance: await s.h.client.walletBalance(worker) });
  t.true(funds.filter((f) => f.deadline !== s.deadline).every((f) => f.gas === 0n));
  for (let i = 1; i < funds.length; i++) t.not(funds[i].deadline, funds[i - 1].deadline, 'once per deadline');
});

// Timing like lotus-miner, and a reorg: the proof is sent once the deadline has been open for
// the submit confidence, committed to the deadline's challenge epoch (the devnet's gas
// estimation refuses, as Lotus's does, a deadline not yet open or a commitment epoch that is not
// behind the head); a submission the new chain lacks after a revert (here: the reverted tipsets
// carried it and the node lost it) is sent again from the cached proof; one the new chain holds
// is not.
test.serial('submits once the deadline is open, commits to its challenge epoch, and re-submits what a revert lost', async (t) => {
  // 8-epoch deadlines: room for a revert inside the window.
  const policy = { ...POST_POLICY, wpostChallengeWindow: 8 };
  const period = policy.wpostChallengeWindow * policy.wpostPeriodDeadlines;
  const s = await setupPoSt(2, { policy });
  const d = s.h.devnet;
  const c = s.h.client;
  const { sched, errors, step } = await manualScheduler(t, s);
  const reverted: SubmittedPoSt[] = [];
  sched.on('reverted', (x: SubmittedPoSt) => reverted.push(x));
  const cur = await c.stateMinerProvingDeadline(MINER);
  let open = cur.PeriodStart + s.deadline * policy.wpostChallengeWindow;
  while (open - policy.wpostChallengeLookback <= cur.CurrentEpoch) open += period;
  const submitAt = open + Math.floor(policy.wpostChallengeWindow / 4);
  while (d.head().Height < submitAt - 1) await step();
  t.deepEqual(sched.submissions, [], 'nothing sent before the deadline has been open for the submit confidence');
  const pushedAt = (await step()).Height;
  t.is(sched.submissions.length, 1);
  const first = sched.submissions[0];
  t.is(first.pushedAt, pushedAt);
  t.deepEqual(errors, [], 'the node took it at once');
  t.is(first.from, s.worker, 'no control address set: the worker sends it');
  t.is(d.getMessage(first.cid).Method, 5);

  // The tipsets that carried it are reverted and the node forgets it.
  t.true(d.dropPending(first.cid['/']));
  const fork = await d.advance(); // the new chain: without the message
  sched.onHeadChanges([
    { Type: 'revert', Val: { ...fork, Cids: [{ '/': 'bafy2bzacereverted' }] } },
    { Type: 'apply', Val: fork },
  ]);
  await sched.settled(fork.Height);
  t.is(reverted.length, 1, 'the lost submission is noticed');
  t.is(sched.submissions.length, 2, 'and sent again');
  const again = sched.submissions[1];
  t.true(again.reverted);
  t.deepEqual(again.partitions, first.partitions);
  t.notDeepEqual(again.cid, first.cid);
  const landedTs = await step();
  const l = await c.stateSearchMsg(again.cid);
  t.is(l?.Receipt.ExitCode, 0, JSON.stringify(l?.ReturnDec));
  t.is(l?.Height, landedTs.Height);
  const proven = bitfieldFromJson((await c.stateMinerDeadlines(MINER))[s.deadline].PostSubmissions, 'PostSubmissions');
  t.deepEqual(proven, [0], 'the partition is proven on the new chain');

  // A revert of the tipset it landed in, replaced by one that carries it too: nothing is sent.
  sched.onHeadChanges([
    { Type: 'revert', Val: { ...landedTs, Cids: [{ '/': 'bafy2bzacereverted2' }] } },
    { Type: 'apply', Val: landedTs },
  ]);
  await sched.settled(landedTs.Height);
  t.true(landedTs.Height + 1 < open + policy.wpostChallengeWindow, 'the window is still open');
  t.is(sched.submissions.length, 2);
  t.is(reverted.length, 1);
  t.deepEqual(errors, []);
});

test.serial('a SubmitWindowedPoSt the node refuses in gas estimation (its mpool a tipset behind) is tried again on the same head, not only on the next', async (t) => {
  const s = await setupPoSt(2);
  const d = s.h.devnet;
  const c = s.h.client;
  // Lotus estimates on its mpool's tipset, which can lag the head it announced: the first push of
  // the window then fails as if sent before the deadline opened.
  let refused = 0;
  const push = c.mpoolPushMessage.bind(c);
  c.mpoolPushMessage = async (msg, spec) => {
    if (msg.Method === 5 && refused === 0) {
      refused++;
      const dl = await c.stateMinerProvingDeadline(MINER);
      throw new Error(`GasEstimateMessageGas error: message execution failed (exit=[ErrIllegalArgument(16)]): invalid deadline ${dl.Index} at epoch ${dl.Open - 1}, expected ${dl.Index - 1}`);
    }
    return push(msg, spec);
  };
  const { sched, errors, step } = await manualScheduler(t, s);
  for (let i = 0; i < 2 * PERIOD && refused === 0; i++) await step();
  t.is(refused, 1, 'the first SubmitWindowedPoSt was refused');
  t.deepEqual(sched.submissions, []);
  t.deepEqual(errors, [], 'a refusal that a quick retry follows is a warning, not an error');
  const head = d.head().Height;
  const t0 = Date.now();
  while (sched.submissions.length === 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
  t.is(sched.submissions.length, 1, 'sent again without a new head');
  t.is(sched.submissions[0].pushedAt, head);
  t.is(d.head().Height, head);
  await step();
  const l = await c.stateSearchMsg(sched.submissions[0].cid);
  t.is(l?.Receipt.ExitCode, 0);
});

test.serial(
  'a SubmitWindowedPoSt refused as "partition already proven" (one on its way in the mpool) is no error and not retried early; the next head sends it if the chain still lacks it',
  async (t) => {
    const s = await setupPoSt(2);
    const d = s.h.devnet;
    const c = s.h.client;
    let refused = 0;
    const push = c.mpoolPushMessage.bind(c);
    c.mpoolPushMessage = async (msg, spec) => {
      if (msg.Method === 5 && refused === 0) {
        refused++;
        throw new Error('GasEstimateMessageGas error: message execution failed (exit=[ErrIllegalArgument(16)]): failed to process post submission for deadline 0: partition already proven (16)');
      }
      return push(msg, spec);
    };
    const { sched, errors, step } = await manualScheduler(t, s);
    for (let i = 0; i < 2 * PERIOD && refused === 0; i++) await step();
    t.is(refused, 1);
    await new Promise((r) => setTimeout(r, 1000)); // longer than a quick retry would wait
    t.deepEqual(sched.submissions, [], 'not sent again on the same head');
    t.deepEqual(errors, [], 'no error');
    const next = await step();
    t.is(sched.submissions.length, 1, 'the next head sends it: the chain does not have it');
    t.is(sched.submissions[0].pushedAt, next.Height);
    t.is(d.head().Height, next.Height);
  },
);

// A file that comes back is declared recovered at once, for the deadline's next occurrence
// however far ahead (here 5 deadlines, declareAhead 1): on a sparse chain the few epochs between
// the deadline coming within declareAhead and its cutoff can pass between two heads (the long
// tier lost a recovery that way on real Lotus). A declaration the node refuses in its gas
// estimation is tried again on the same head.
test.serial('a restored file is declared recovered at once, however far ahead its deadline; a refused declaration is retried on the same head', async (t) => {
  const policy = { ...POST_POLICY, wpostPeriodDeadlines: 6 };
  const s = await setupPoSt(2, { policy });
  const c = s.h.client;
  let refused = 0;
  const push = c.mpoolPushMessage.bind(c);
  c.mpoolPushMessage = async (msg, spec) => {
    if (msg.Method === MinerMethod.DeclareFaultsRecovered && refused === 0) {
      refused++;
      throw new Error('GasEstimateMessageGas error: message execution failed (exit=[ErrIllegalArgument(16)]): mpool a tipset behind');
    }
    return push(msg, spec);
  };
  const { sched, errors, step } = await manualScheduler(t, s, { declareAhead: 1 });
  const period = policy.wpostChallengeWindow * policy.wpostPeriodDeadlines;
  rmSync(join(s.storage, 'sealed', 's-t01000-2'));
  // Sector 2 turns faulty; then its deadline closes (a recovery for it is late until then).
  const closed = async () => (await c.stateMinerFaults(MINER)).includes(2) && (await c.stateMinerProvingDeadline(MINER)).Index === (s.deadline + 1) % policy.wpostPeriodDeadlines;
  for (let i = 0; i < 3 * period && !(await closed()); i++) await step();
  t.true(await closed(), 'sector 2 faulty, its deadline closed');
  // Still gone: each head looks at the deadline for a recovery, quietly (a sector already faulty
  // on chain that is still unreadable is no news: no warning, not in the storage figures).
  const looked: number[] = [];
  const partitions = c.stateMinerPartitions.bind(c);
  c.stateMinerPartitions = async (m, i, tsk) => (looked.push(i), partitions(m, i, tsk));
  let storageEvents = 0;
  sched.on('storage', () => storageEvents++);
  await step();
  t.true(looked.includes(s.deadline), 'the far deadline was looked at');
  t.is(storageEvents, 0, 'a still-missing faulty sector is not counted again');
  t.deepEqual(sched.declarations, []);
  placeSector(s.fixture[1], s.storage);
  const head = (await step()).Height;
  t.is(refused, 1, 'the recovery was sent on the first head after the file came back');
  t.deepEqual(errors, [], 'a refusal that a quick retry follows is a warning, not an error');
  const t0 = Date.now();
  const recoveries = () => sched.declarations.filter((x) => x.kind === 'recoveries');
  while (recoveries().length === 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
  t.is(recoveries().length, 1, 'sent again without a new head');
  const rec = recoveries()[0];
  t.is(rec.pushedAt, head);
  t.deepEqual(rec.decls, [{ deadline: s.deadline, partition: 0, sectors: [2] }]);
  await step();
  t.deepEqual(await c.stateMinerRecoveries(MINER), [2], 'declared recovering on chain');
  // Proven at the deadline's next occurrence: no fault left, both sectors' power.
  for (let i = 0; i < period && (await c.stateMinerFaults(MINER)).length > 0; i++) await step();
  t.deepEqual(await c.stateMinerFaults(MINER), []);
  t.is(recoveries().length, 1, 'declared once');
  t.is((await c.stateMinerPower(MINER)).MinerPower.RawBytePower, '4096');
});
