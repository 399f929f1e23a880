// A message the chain node refuses (Lotus runs it in gas estimation first: short of funds, a
// removed method, …) must not lose the sector: it stays in the failed state of that step with
// the method and exit code as its reason, is not retried blindly (the same message would be
// refused again), and `retry` takes it back to the step once the cause is fixed.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitCodeOf } from '../../src/sealing/lotus-chain.js';
import { MessageRefusedError, type SealChain, SealPipeline } from '../../src/sealing/pipeline.js';
import { stubScheduler } from '../helpers/seal-stubs.js';
import { KvStore } from '../../src/store/kv.js';
import { exposition } from '../../src/metrics/index.js';
import { parseExposition } from '../helpers/prom.js';

test("the exit code is read from Lotus's refusals", (t) => {
  t.is(exitCodeOf('MpoolPushMessage: estimating gas used: message execution failed (exit=[ErrInsufficientFunds(19)], vm error=[insufficient funds])'), 19);
  t.is(exitCodeOf('message execution failed (exit=[22], vm error=[invalid method: 7])'), 22);
  t.is(exitCodeOf('mpool push: not enough funds including pending messages'), undefined);
});

test('a refused pre-commit leaves the sector in PreCommitFailed with the method and exit code; it waits for retry, then goes on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-refused-'));
  const store = KvStore.open(join(dir, 'store'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const scheduler = stubScheduler({
    PreCommit1: async () => ({ type: 'PreCommit1', pc1: Buffer.from('pc1') }),
    PreCommit2: async () => ({ type: 'PreCommit2', commR: Buffer.alloc(32, 1), commD: Buffer.alloc(32, 2) }),
  });
  let refuse = true;
  let attempts = 0;
  let landed = false;
  const chain: SealChain = {
    head: async () => 100,
    ticket: async () => Buffer.alloc(32, 3),
    seed: async () => Buffer.alloc(32, 4),
    preCommitChallengeDelay: async () => 1_000_000, // the sector then waits in WaitSeed
    ticketLookback: () => 10,
    expiration: (h) => h + 1000,
    sendPreCommit: async () => {
      attempts++;
      if (refuse) throw new MessageRefusedError('PreCommitSectorBatch2', 19, 'estimating gas used: message execution failed (exit=[ErrInsufficientFunds(19)])');
      landed = true;
      return { cid: 'bafy2bzacepre', value: '2048', askedAt: 100 };
    },
    sendProveCommit: async () => {
      throw new Error('not reached');
    },
    waitMessage: async () => ({ exitCode: 0, epoch: 101 }),
    preCommitOnChain: async () => (landed ? { preCommitEpoch: 101, commR: Buffer.alloc(32, 1) } : null),
    sectorOnChain: async () => false,
    sectorAllocated: async () => false,
  };
  const p = new SealPipeline({ minerId: 1000, proof: 5, store, scheduler, chain, numbers: { allocate: async () => [7] }, storagePath: dir, retryDelayMs: 10, pollMs: 10 });
  t.teardown(() => p.stop());
  const [n] = await p.pledge(1);
  const waitFor = async (pred: () => boolean) => {
    for (const end = Date.now() + 10_000; !pred(); await new Promise((r) => setTimeout(r, 10))) if (Date.now() > end) throw new Error(`timed out in ${p.get(n)?.state}`);
  };
  await waitFor(() => p.get(n)?.state === 'PreCommitFailed');
  const failed = p.get(n)!;
  t.true(failed.chainRejected);
  t.regex(failed.failure!, /refused PreCommitSectorBatch2 \(exit code 19\)/);
  await new Promise((r) => setTimeout(r, 200));
  t.is(p.get(n)!.state, 'PreCommitFailed', 'not retried on its own');
  t.is(attempts, 1);
  refuse = false;
  await p.retry(n);
  await waitFor(() => p.get(n)?.state === 'WaitSeed');
  const r = p.get(n)!;
  t.is(r.preCommitValue, '2048');
  t.is(r.preCommitMsg, 'bafy2bzacepre');
  t.false(r.chainRejected);
  t.is(attempts, 2);
  await t.throwsAsync(p.retry(n), { message: /only a failed sector can be retried/ });

  // Metrics: sectors by state (every state listed, 0 where none) and the time spent in each
  // state left (PreCommitFailed held the sector at least the 200 ms above).
  const m = parseExposition(await exposition());
  t.is(m.value('distminer_sectors', { state: 'WaitSeed' }), 1);
  t.is(m.value('distminer_sectors', { state: 'PreCommitFailed' }), 0);
  t.is(m.value('distminer_sectors', { state: 'Proving' }), 0);
  t.is(m.value('distminer_seal_state_seconds_count', { state: 'PreCommitFailed' }), 1);
  t.true(m.value('distminer_seal_state_seconds_sum', { state: 'PreCommitFailed' })! >= 0.2);
  t.is(m.value('distminer_seal_state_seconds_count', { state: 'Packing' }), 1);
  t.is(m.value('distminer_seal_state_seconds_count', { state: 'WaitSeed' }), undefined, 'not left yet');
  // The counts are kept as states change (no scan at scrape time); a pipeline opened on the
  // same store starts from its records.
  const scan = (q: SealPipeline) => Object.fromEntries([...new Set(q.list().map((x) => x.state))].map((st) => [st, q.list().filter((x) => x.state === st).length]));
  const kept = (q: SealPipeline) => Object.fromEntries([...q.stateCounts()].filter(([, c]) => c > 0));
  t.deepEqual(kept(p), scan(p));
  await p.stop();
  t.is(parseExposition(await exposition()).find('distminer_sectors').length, 0, 'a stopped pipeline is no longer counted');
  const reopened = new SealPipeline({ minerId: 1000, proof: 5, store, scheduler, chain, numbers: { allocate: async () => [8] }, storagePath: dir });
  t.deepEqual(kept(reopened), { WaitSeed: 1 });
  await reopened.stop();
});
