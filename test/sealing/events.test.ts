// Sector events that do not apply are refused, as Lotus's sector FSM refuses them, and nothing
// is written: `sectors remove` while a step is running is not undone when that step finishes
// (before, its DONE moved the sector on from the state it had left, over Removing), and
// removing a sector already removed is an error, not a silent no-op. Each refusal is counted.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type SealChain, SealPipeline } from '../../src/sealing/pipeline.js';
import { stubScheduler } from '../helpers/seal-stubs.js';
import { KvStore } from '../../src/store/kv.js';
import { exposition } from '../../src/metrics/index.js';
import { parseExposition } from '../helpers/prom.js';

/** A pipeline store holding one sector record in `state`, as a restart finds it. */
async function storeWith(t: { teardown(f: () => void): void }, n: number, state: string, extra: Record<string, unknown>) {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-events-'));
  const store = KvStore.open(join(dir, 'store'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const now = Date.now();
  await store.put(`sector/${String(n).padStart(12, '0')}`, { minerId: 1000, number: n, proof: 5, state, createdAt: now, updatedAt: now, retries: 0, log: [{ at: now, state }], ...extra });
  return { dir, store };
}

test('a step overtaken by sectors remove does not undo the removal; removing twice is refused; refusals are counted', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-events-'));
  const store = KvStore.open(join(dir, 'store'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let release!: () => void;
  let started!: () => void;
  const pc1Started = new Promise<void>((r) => (started = r));
  const scheduler = stubScheduler({
    PreCommit1: async () => {
      started();
      await new Promise<void>((r) => (release = r));
      return { type: 'PreCommit1', pc1: Buffer.from('pc1') };
    },
  });
  const chain = {
    head: async () => 100,
    ticket: async () => Buffer.alloc(32, 3),
    ticketLookback: () => 10,
    sectorAllocated: async () => false,
  } as unknown as SealChain;
  const p = new SealPipeline({ minerId: 1000, proof: 5, store, scheduler, chain, numbers: { allocate: async () => [3] }, storagePath: dir, retryDelayMs: 10, pollMs: 10 });
  t.teardown(() => p.stop());
  const [n] = await p.pledge(1);
  await pc1Started;
  t.is(p.get(n)!.state, 'PreCommit1');
  await p.remove(n);
  t.is(p.get(n)!.state, 'Removing');
  release();
  for (const end = Date.now() + 10_000; p.get(n)!.state !== 'Removed'; await new Promise((r) => setTimeout(r, 10))) if (Date.now() > end) throw new Error(`stuck in ${p.get(n)!.state}`);
  t.deepEqual(
    p.get(n)!.log.map((l) => l.state),
    ['Packing', 'GetTicket', 'PreCommit1', 'Removing', 'Removed'],
    "PreCommit1's late DONE changed nothing",
  );
  await t.throwsAsync(p.remove(n), { message: `sector ${n} is Removed: REMOVE does not apply` });
  t.is(p.get(n)!.log.length, 5, 'nothing written');
  const m = parseExposition(await exposition());
  t.is(m.value('distminer_sector_events_refused_total', { state: 'Removing', event: 'DONE' }), 1);
  t.is(m.value('distminer_sector_events_refused_total', { state: 'Removed', event: 'REMOVE' }), 1);
});

test('a sector left in a failed state by a restart is retried, not stranded', async (t) => {
  // As a crash during the retry wait leaves it: failed once, not rejected by the chain.
  const { dir, store } = await storeWith(t, 4, 'PackingFailed', { failure: 'AddPiece failed: disk full' });
  let release!: () => void;
  const ticketAsked = new Promise<void>((r) => (release = r));
  const scheduler = stubScheduler();
  const chain = {
    head: async () => {
      release();
      return 100;
    },
    ticket: async () => {
      throw new Error('the test stops here');
    },
    ticketLookback: () => 10,
    sectorAllocated: async () => false,
  } as unknown as SealChain;
  const p = new SealPipeline({ minerId: 1000, proof: 5, store, scheduler, chain, numbers: { allocate: async () => [] }, storagePath: dir, retryDelayMs: 10, pollMs: 10 });
  t.teardown(() => p.stop());
  p.resume();
  await ticketAsked;
  t.deepEqual(
    p
      .get(4)!
      .log.slice(0, 3)
      .map((l) => l.state),
    ['PackingFailed', 'Packing', 'GetTicket'],
    'retried from its failed state',
  );
  t.true(p.get(4)!.retries >= 1);
});

test('sectors remove during the seed wait (75 minutes on mainnet) takes effect at once, without the seed', async (t) => {
  const { dir, store } = await storeWith(t, 9, 'WaitSeed', { preCommitEpoch: 90 });
  let waiting!: () => void;
  const headAsked = new Promise<void>((r) => (waiting = r));
  const chain = {
    head: async () => {
      waiting();
      return 100; // the seed epoch (90 + 150) is far ahead
    },
    preCommitChallengeDelay: async () => 150,
    seed: async () => {
      throw new Error('the seed must not be asked for a removed sector');
    },
  } as unknown as SealChain;
  // A poll far longer than the test: only the removal's wake-up can end the wait.
  const p = new SealPipeline({ minerId: 1000, proof: 5, store, scheduler: stubScheduler(), chain, numbers: { allocate: async () => [] }, storagePath: dir, retryDelayMs: 10, pollMs: 600_000 });
  t.teardown(() => p.stop());
  p.resume();
  await headAsked;
  const t0 = Date.now();
  await p.remove(9);
  for (const end = Date.now() + 5000; p.get(9)!.state !== 'Removed'; await new Promise((r) => setTimeout(r, 10))) if (Date.now() > end) throw new Error(`stuck in ${p.get(9)!.state}`);
  t.true(Date.now() - t0 < 5000);
  t.deepEqual(
    p.get(9)!.log.map((l) => l.state),
    ['WaitSeed', 'Removing', 'Removed'],
  );
});
