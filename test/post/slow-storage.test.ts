// Window PoSt under slow storage: a storage check that times out is not a missing file. Against
// the embedded devnet (real miner actor: deadlines, faults, power) with its proof verifier
// replaced, a runner that returns a placeholder proof, and a storage double on a virtual
// clock (a slow answer costs its timeout there, a retry's backoff too): deterministic and
// fast, no proofs. What is checked is the scheduler's decisions: a sector slow at first and
// readable on a retry is proven; one slow past the budget is skipped as 'slow'; one whose file
// is gone is declared faulty at once; one slow only once is never declared; one slow through
// the last check before the cutoff is declared, as 'slow'. (storage.test.ts checks the real
// file checks; window.test.ts the real proofs.)
import test, { type ExecutionContext } from 'ava';
import * as proofs from '../../src/proofs/index.js';
import { encodePreCommitBatch2, encodeProveCommitOne } from '../../src/chain/params.js';
import { ExitCode, MinerMethod } from '../../src/chain/builtin-actors.js';
import type { Cid } from '../../src/chain/cid.js';
import { b64 } from '../../src/chain/encoding.js';
import { type CheckResult, type SectorCheck } from '../../src/post/storage.js';
import type { ProofRunner } from '../../src/post/runner.js';
import { WindowPoStScheduler } from '../../src/post/window.js';
import { startDevnet } from '../devnet/_harness.js';
import { MINER, POST_POLICY } from './_setup.js';

const PERIOD = POST_POLICY.wpostChallengeWindow * POST_POLICY.wpostPeriodDeadlines;
const BLOCK_MS = 30_000;
const SECTORS = [1, 2, 3];

const accept = async () => ({ valid: true, reason: '' });

/** Sector behaviour in the double: 'ok', 'gone', 'slow' (forever), or slow for the next k checks, then ok. */
type Mode = 'ok' | 'gone' | 'slow' | { slowFor: number };

/** A storage double over a virtual clock: a slow answer costs its timeout; it records every call. */
function storageDouble() {
  let clock = 1_000_000;
  const mode = new Map<number, Mode>(SECTORS.map((s) => [s, 'ok']));
  const calls: { sectors: number[]; timeoutMs: number }[] = [];
  const check: SectorCheck = async (sectors, timeoutMs) => {
    calls.push({ sectors, timeoutMs });
    const out = new Map<number, CheckResult>();
    let slow = false;
    for (const s of sectors) {
      const m = mode.get(s) ?? 'gone';
      let outcome: CheckResult['outcome'];
      if (typeof m === 'object') {
        outcome = m.slowFor > 0 ? 'slow' : 'ok';
        mode.set(s, m.slowFor > 1 ? { slowFor: m.slowFor - 1 } : 'ok');
      } else outcome = m;
      slow ||= outcome === 'slow';
      const path = `/mnt/store/sealed/s-t01000-${s}`;
      const reason = outcome === 'slow' ? `no answer from /mnt/store within ${timeoutMs} ms` : outcome === 'gone' ? `no sealed file s-t01000-${s} in /mnt/store` : undefined;
      out.set(s, {
        sectorNumber: s,
        ok: outcome === 'ok',
        outcome,
        path,
        reason,
        files: outcome === 'ok' ? { sectorNumber: s, storage: '/mnt/store', sealedPath: path, cacheDir: `/mnt/store/cache/s-t01000-${s}` } : undefined,
        attempts: 1,
        elapsedMs: 0,
      });
    }
    clock += slow ? timeoutMs : 10;
    return out;
  };
  return { check, mode, calls, clock: { now: () => clock, sleep: async (ms: number) => void (clock += ms) } };
}

/** A devnet (manual epochs, any proof accepted) with SECTORS active, and a scheduler on the storage double. */
async function setup(t: ExecutionContext) {
  const h = await startDevnet({ policy: POST_POLICY, blockDelayMs: BLOCK_MS, verifier: { verifySeal: accept, verifyWindowPoSt: accept } });
  const d = h.devnet;
  const c = h.client;
  const info = await c.stateMinerInfo(MINER);
  const push = async (method: number, params: Buffer) => (await c.mpoolPushMessage({ To: MINER, From: info.Worker, Method: method, Params: b64(params) })).CID!;
  const landed = (cid: Cid) => t.is(d.lookup(cid)?.Receipt.ExitCode, ExitCode.Ok, JSON.stringify(d.lookup(cid)?.ReturnDec));
  await d.advanceTo(2);
  const comm = (s: number, k: number) => Buffer.alloc(32, s * 16 + k).fill(0, 31); // a valid field element
  const pc = await push(
    MinerMethod.PreCommitSectorBatch2,
    encodePreCommitBatch2(
      SECTORS.map((s) => ({
        sealProof: proofs.RegisteredSealProof.StackedDrg2KiBV1_1,
        sectorNumber: s,
        sealedCid: { '/': proofs.commRToCid(comm(s, 1)) },
        sealRandEpoch: 1,
        dealIds: [],
        expiration: 1_000_000,
        unsealedCid: null,
      })),
    ),
  );
  await d.advance();
  landed(pc);
  await d.advanceTo(d.head().Height + POST_POLICY.preCommitChallengeDelay);
  const prs = await Promise.all(SECTORS.map((s) => push(MinerMethod.ProveCommitSectors3, encodeProveCommitOne(s, Buffer.alloc(192, s)))));
  await d.advance();
  prs.forEach(landed);
  const deadline = (await c.stateSectorPartition(MINER, 1)).Deadline;

  const storage = storageDouble();
  const proved: number[][] = [];
  const runner: ProofRunner = {
    run: async <T>(job: Parameters<ProofRunner['run']>[0]): Promise<T> => {
      proved.push(job.args[1].map((r) => Number(r.sectorNumber)));
      return [{ postProof: info.WindowPoStProofType, proofBytes: Buffer.alloc(192, 9) }] as T;
    },
  };
  const skipped: { sectors: number[]; reasons: Record<number, string>; outcomes: Record<number, string> }[] = [];
  const sched = new WindowPoStScheduler({ client: c, miner: MINER, storage: ['/mnt/store'], confidence: 1, runner, checkStorage: storage.check, clock: storage.clock, checkTimeoutMs: 10_000 });
  sched.on('skipped', (x: (typeof skipped)[number]) => skipped.push(x));
  await sched.start();
  t.teardown(async () => {
    await sched.stop();
    await h.close();
  });
  const advanceTo = async (height: number) => {
    while (d.head().Height < height) await sched.settled((await d.advance()).Height);
  };
  // The next occurrence of the sectors' deadline (its challenge not yet reached).
  const cur = await c.stateMinerProvingDeadline(MINER);
  let open = cur.PeriodStart + deadline * POST_POLICY.wpostChallengeWindow;
  while (open - POST_POLICY.wpostChallengeLookback <= cur.CurrentEpoch) open += PERIOD;
  return { h, d, c, sched, storage, proved, skipped, advanceTo, open };
}

test.serial('proof: a sector slow at first and readable on a retry is proven; one slow past the budget is skipped as slow', async (t) => {
  const { c, sched, storage, proved, skipped, advanceTo, open } = await setup(t);
  // Up to just before proving starts (challenge + confidence = open - 1).
  await advanceTo(open - 2);
  t.deepEqual(sched.submissions, []);
  storage.mode.set(2, { slowFor: 2 });
  storage.mode.set(3, 'slow');
  const before = storage.calls.length;
  // Proven from open - 1; sent once the deadline has been open a quarter window (1 epoch here).
  await advanceTo(open + 1);
  t.is(sched.submissions.length, 1);
  const sub = sched.submissions[0];
  t.is(sub.open, open);
  t.deepEqual(sub.provenSectors, [1, 2], 'the sector slow twice was proven');
  t.deepEqual(
    sub.partitions.flatMap((p) => p.skipped),
    [3],
  );
  t.deepEqual(proved, [[1, 2]]);
  t.is(skipped.length, 1);
  t.deepEqual(skipped[0].sectors, [3]);
  t.deepEqual(skipped[0].outcomes, { 3: 'slow' });
  t.regex(skipped[0].reasons[3], /^slow: no answer from \/mnt\/store within \d+ ms \(\d+ checks in \d+ ms\)$/);
  // Retries: only the slow sectors, longer timeouts, none that could not end before the
  // window's end less the time the proof needs (no proof measured yet: half of it).
  const calls = storage.calls.slice(before);
  t.deepEqual(calls[0].sectors, [1, 2, 3]);
  t.deepEqual(calls[1], { sectors: [2, 3], timeoutMs: 20_000 });
  t.deepEqual(calls[2].sectors, [2, 3]);
  t.true(calls.slice(3).every((x) => x.sectors.length === 1 && x.sectors[0] === 3));
  const budget = (POST_POLICY.wpostChallengeWindow * BLOCK_MS) / 2; // (close - 1 - head) epochs, half kept for the proof
  t.true(calls.reduce((a, x) => a + x.timeoutMs, 0) <= budget, 'the retries fit in the budget');
  const st = sched.status().storage;
  t.is(st.okAfterRetry, 1);
  t.is(st.skippedSlow, 1);
  t.is(st.skippedGone, 0);
  t.is(st.slowPastBudget, 1);
  t.true(st.retries >= 3);
  // The chain: the skipped sector is faulty, the others proven (power for two sectors).
  await advanceTo(open + 2); // sent at open + 1, executed at open + 2
  for (let i = 0; i < 20 && sched.submissions[0].exitCode === undefined; i++) await new Promise((r) => setTimeout(r, 100));
  t.is(sched.submissions[0].exitCode, 0);
  t.deepEqual(await c.stateMinerFaults(MINER), [3]);
  t.is((await c.stateMinerPower(MINER)).MinerPower.RawBytePower, '4096');
});

test.serial('declarations: a gone file is declared at once; a sector slow once is not; one slow through the last check before the cutoff is, as slow', async (t) => {
  const { c, sched, storage, advanceTo, open } = await setup(t);
  // First occurrence: all readable, all proven (active).
  await advanceTo(open + 1);
  t.deepEqual(sched.submissions.at(-1)?.provenSectors, SECTORS);
  // The next occurrence is first checked when the deadline before it opens (open + 4), then
  // every epoch (a quarter window) while head + 1 < its cutoff; the last check is at cutoff - 2.
  const open2 = open + PERIOD;
  const cutoff2 = open2 - POST_POLICY.faultDeclarationCutoff;
  const first = open + POST_POLICY.wpostChallengeWindow;
  await advanceTo(first - 1);
  t.deepEqual(sched.declarations, []);
  storage.mode.set(1, 'gone');
  storage.mode.set(2, { slowFor: 1 });
  storage.mode.set(3, 'slow');
  await advanceTo(first);
  t.is(sched.declarations.length, 1, 'the gone file is declared at the first check');
  const gone = sched.declarations[0];
  t.is(gone.kind, 'faults');
  t.deepEqual(
    gone.decls.flatMap((x) => x.sectors),
    [1],
  );
  t.is(gone.pushedAt, first);
  t.regex(gone.reasons![1], /^gone: no sealed file/);
  await advanceTo(cutoff2 - 3);
  t.is(sched.declarations.length, 1, 'slow sectors are not declared before the last check');
  t.is(sched.status().storage.slowDeferred >= 2, true);
  await advanceTo(cutoff2 - 2);
  t.is(sched.declarations.length, 2);
  const slow = sched.declarations[1];
  t.deepEqual(
    slow.decls.flatMap((x) => x.sectors),
    [3],
    'declared: the sector slow through the last check, not the one slow once',
  );
  t.is(slow.pushedAt, cutoff2 - 2);
  t.regex(slow.reasons![3], /^slow: no answer from \/mnt\/store within \d+ ms \(\d+ checks in \d+ ms\)$/);
  const st = sched.status().storage;
  t.is(st.declaredGone, 1);
  t.is(st.declaredSlow, 1);
  t.is(st.slowPastBudget, 1);
  // Both land before the cutoff; the occurrence is proven with the one readable sector.
  await advanceTo(open2 + 1);
  t.deepEqual(await c.stateMinerFaults(MINER), [1, 3]);
  t.deepEqual(sched.submissions.at(-1)?.provenSectors, [2]);
  t.deepEqual(
    sched.submissions.at(-1)?.partitions.flatMap((p) => p.skipped),
    [],
  );
  t.is((await c.stateMinerPower(MINER)).MinerPower.RawBytePower, '2048');
});
