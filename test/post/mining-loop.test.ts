// The Winning PoSt mining loop against a chain double (no proofs, no devnet): like lotus-miner's
// miner.go it mines on the heaviest head, counts null rounds (no win and no new head: the next
// round on the same base), waits the propagation delay after the base's time, mines at once
// when the chain runs behind the wall clock, gives a proof up only when a tipset at or above
// its round has arrived, and drops a block over null rounds when a tipset of one of them
// arrives before the block's time.
import test from 'ava';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChainClient } from '../../src/chain/client.js';
import { blockCid } from '../../src/chain/crypto.js';
import type { BlockHeader, BlockMsg, BlockTemplate, HeadChange, MiningBaseInfo, TipSet } from '../../src/chain/api-types.js';
import { cborEncode } from '../../src/chain/cbor.js';
import { cborCid } from '../../src/chain/cid.js';
import { b64 } from '../../src/chain/encoding.js';
import { type ProofJob, type ProofRunner, ProofCancelledError } from '../../src/post/runner.js';
import type { ClaimRefused, SharedSlashFilter } from '../../src/post/slash-filter.js';
import { type RoundResult, WinningPoStMiner } from '../../src/post/winning.js';

const MINER = 't01000';
const some = cborCid(cborEncode([]));

function header(height: number, timestamp: number, parents: TipSet['Cids'], tag: string): BlockHeader {
  return {
    Miner: MINER,
    Ticket: { VRFProof: b64(Buffer.from(tag)) },
    ElectionProof: { WinCount: 1, VRFProof: b64(Buffer.from(tag)) },
    BeaconEntries: [],
    WinPoStProof: [],
    Parents: parents,
    ParentWeight: String(height),
    Height: height,
    ParentStateRoot: some,
    ParentMessageReceipts: some,
    Messages: some,
    BLSAggregate: { Type: 2, Data: '' },
    Timestamp: timestamp,
    BlockSig: { Type: 2, Data: '' },
    ForkSignaling: 0,
    ParentBaseFee: '100',
  };
}

function tipset(height: number, timestamp: number, tag = `ts${height}`, parents: TipSet['Cids'] = [some]): TipSet {
  const h = header(height, timestamp, parents, tag);
  return { Cids: [blockCid(h)], Blocks: [h], Height: height };
}

/** `ts` with one more block of its height and parents (a block that joined the tipset late). */
function grown(ts: TipSet, tag: string): TipSet {
  const h = header(ts.Height, ts.Blocks[0].Timestamp, ts.Blocks[0].Parents, tag);
  return { Cids: [...ts.Cids, blockCid(h)], Blocks: [...ts.Blocks, h], Height: ts.Height };
}

/** Just what the miner calls; `wins(round)` decides the elections. */
class ChainDouble {
  head: TipSet;
  submitted: BlockMsg[] = [];
  baseInfoAt: { round: number; at: number }[] = [];
  createdAt: { epoch: number; parents: string; at: number }[] = [];
  /** What the head subscription says of the chain (null: fine). */
  gone: string | null = null;
  private notify: ((c: HeadChange[]) => void) | undefined;
  constructor(
    head: TipSet,
    private readonly wins: (round: number) => boolean,
  ) {
    this.head = head;
  }
  setHead(ts: TipSet): void {
    this.head = ts;
    this.notify?.([{ Type: 'apply', Val: ts }]);
  }
  async version() {
    return { Version: 'double', APIVersion: 0, BlockDelay: 4, Agent: 'double' };
  }
  async chainHead() {
    return this.head;
  }
  chainNotify(cb: (c: HeadChange[]) => void) {
    this.notify = cb;
    setImmediate(() => cb([{ Type: 'current', Val: this.head }]));
    return Object.assign(new EventEmitter(), { close: () => (this.notify = undefined), trouble: () => this.gone });
  }
  async minerGetBaseInfo(_miner: string, round: number): Promise<MiningBaseInfo> {
    this.baseInfoAt.push({ round, at: Date.now() });
    return {
      MinerPower: this.wins(round) ? '100' : '0',
      NetworkPower: '100',
      Sectors: [],
      WorkerKey: 't3worker',
      SectorSize: 2048,
      PrevBeaconEntry: { Round: 1, Data: b64(Buffer.alloc(32, 7)) },
      BeaconEntries: [],
      EligibleForMining: true,
    };
  }
  async walletSign(_a: string, data: Uint8Array) {
    return { Type: 2, Data: b64(Buffer.concat([Buffer.from(data), Buffer.alloc(64)])) };
  }
  async call<T>(method: string): Promise<T> {
    if (method === 'MpoolSelect') return [] as T;
    throw new Error(`unexpected ${method}`);
  }
  async minerCreateBlock(t: BlockTemplate): Promise<BlockMsg> {
    this.createdAt.push({ epoch: t.Epoch, parents: t.Parents.map((c) => c['/']).join(','), at: Date.now() });
    return { Header: header(t.Epoch, t.Timestamp, t.Parents, `mined${t.Epoch}`), BlsMessages: [], SecpkMessages: [] };
  }
  async syncSubmitBlock(b: BlockMsg) {
    this.submitted.push(b);
  }
}

const runner = (during?: () => void): ProofRunner => ({
  run: async <T>() => {
    during?.();
    return [{ postProof: 3, proofBytes: Buffer.alloc(192) }] as T;
  },
});

/**
 * A runner whose first job calls `first()` and then runs 30 s unless cancelled through its
 * signal (the reason is added to `cancelled`); later jobs answer at once. `calls()`: jobs seen.
 */
function cancellableRunner(first: () => void): { r: ProofRunner; cancelled: string[]; calls: () => number } {
  const cancelled: string[] = [];
  let n = 0;
  const r: ProofRunner = {
    run: async <T>(job: ProofJob) => {
      if (n++ === 0) {
        first();
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, 30_000);
          job.signal?.addEventListener('abort', () => {
            clearTimeout(timer);
            cancelled.push(String((job.signal?.reason as Error)?.message));
            reject(new ProofCancelledError('cancelled'));
          });
        });
      }
      return [{ postProof: 3, proofBytes: Buffer.alloc(192) }] as T;
    },
  };
  return { r, cancelled, calls: () => n };
}

function start(chain: ChainDouble, r: ProofRunner, propagationDelayMs = 200, sharedFilter?: SharedSlashFilter) {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-mining-loop-'));
  const m = new WinningPoStMiner({
    client: chain as unknown as ChainClient,
    miner: MINER,
    storage: [dir],
    stateFile: join(dir, 'last.json'),
    runner: r,
    expectedLeaders: 50,
    propagationDelayMs,
    sharedFilter,
  });
  return {
    m,
    async stop() {
      await m.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function until(what: string, pred: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !pred(); await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
  }
}

test('a chain far behind the wall clock: mined at once, a lost round is counted null and the next one mined on the same base', async (t) => {
  const late = Math.floor(Date.now() / 1000) - 600; // the head's time is 10 minutes ago
  const chain = new ChainDouble(tipset(10, late), (round) => round !== 11);
  const { m, stop } = start(chain, runner());
  t.teardown(stop);
  const t0 = Date.now();
  await m.start();
  await until('a block', () => chain.submitted.length > 0);
  t.true(Date.now() - t0 < 3000, 'no waiting for the wall clock');
  const rounds = m.results.map((r: RoundResult) => [r.round, r.base, r.nullRounds, r.outcome]);
  t.deepEqual(rounds.slice(0, 2), [
    [11, 10, 0, 'lost'],
    [12, 10, 1, 'mined'],
  ]);
  const b = chain.submitted[0].Header;
  t.is(b.Height, 12);
  t.deepEqual(b.Parents, chain.head.Cids, 'on the base, over the null round');
  t.is(b.Timestamp, late + 2 * 4, "the base's time + two block delays");
  t.false(m.results.some((r) => r.outcome === 'late' || r.outcome === 'failed'));
});

test('a new base is mined once the propagation delay after its time has passed; a new head restarts the count', async (t) => {
  const chain = new ChainDouble(tipset(20, Math.floor(Date.now() / 1000) + 1), () => true);
  const { m, stop } = start(chain, runner(), 400);
  t.teardown(stop);
  await m.start();
  await until('a block', () => chain.submitted.length > 0);
  const first = chain.createdAt[0];
  t.is(first.epoch, 21);
  t.true(first.at >= chain.head.Blocks[0].Timestamp * 1000 + 400, `block made ${first.at - chain.head.Blocks[0].Timestamp * 1000} ms after the base's time`);
  // The next head (ours): round 22 on it, no null round.
  const next = tipset(21, Math.floor(Date.now() / 1000) - 1, 'next');
  chain.setHead(next);
  await until('a block on the new head', () => chain.submitted.length > 1);
  t.is(chain.submitted[1].Header.Height, 22);
  t.deepEqual(chain.submitted[1].Header.Parents, next.Cids);
});

// The base info, the election and the Winning PoSt depend on the round and the base's parents,
// not on which blocks join the tipset: they are begun when the base arrives, during the
// propagation delay, and a block that joins the tipset meanwhile leaves them good. The block
// itself (ticket, parents) waits for the delay and is made on the grown tipset.
test("a round's work begins when its base arrives and is done once: a block joining the tipset during the delay keeps it; the block waits for the delay", async (t) => {
  const baseTime = Math.floor(Date.now() / 1000) + 1;
  const chain = new ChainDouble(tipset(100, baseTime), () => true);
  const proofsAt: number[] = [];
  const { m, stop } = start(
    chain,
    runner(() => proofsAt.push(Date.now())),
    1500,
  );
  t.teardown(stop);
  const t0 = Date.now();
  await m.start();
  await until('the proof', () => proofsAt.length > 0);
  t.true(proofsAt[0] - t0 < 1000, `proof began ${proofsAt[0] - t0} ms after the start, before the base's time`);
  t.is(chain.createdAt.length, 0, 'no block before the delay');
  const full = grown(chain.head, 'late-joiner');
  chain.setHead(full);
  await until('a block', () => chain.submitted.length > 0, 10_000);
  t.deepEqual(
    chain.baseInfoAt.map((b) => b.round),
    [101],
    'one base info for the round',
  );
  t.is(proofsAt.length, 1, 'one proof');
  t.true(chain.createdAt[0].at >= baseTime * 1000 + 1500, 'the block after the delay');
  t.deepEqual(chain.submitted[0].Header.Parents, full.Cids, 'on the grown tipset');
  const r = m.results.find((x) => x.round === 101)!;
  t.is(r.outcome, 'mined');
  t.true((r.aheadMs ?? 0) >= 1000, `the work began ${r.aheadMs} ms before the round`);
  t.is(r.proofMs, 0, 'the proof was done when the round started');
});

test('work begun for a base that another chain replaces before the round starts is given up (its job cancelled), and the round is worked on the new base', async (t) => {
  const baseTime = Math.floor(Date.now() / 1000) + 1;
  const chain = new ChainDouble(tipset(110, baseTime), () => true);
  const other = tipset(110, baseTime, 'fork', [cborCid(cborEncode(['other parents']))]);
  const { r, cancelled, calls } = cancellableRunner(() => setTimeout(() => chain.setHead(other), 100));
  const { m, stop } = start(chain, r, 1000);
  t.teardown(stop);
  await m.start();
  await until('a block', () => chain.submitted.length > 0, 10_000);
  t.deepEqual(cancelled, ['the head moved to another chain (height 110) before round 111 started']);
  t.deepEqual(chain.submitted[0].Header.Parents, other.Cids, 'mined on the new base');
  t.is(calls(), 2, 'one proof given up, one used');
  t.deepEqual(
    m.results.map((x) => [x.round, x.outcome]),
    [[111, 'mined']],
    'the given-up work was no round',
  );
});

test('a proof is given up only when a tipset at or above its round arrived while proving', async (t) => {
  const late = Math.floor(Date.now() / 1000) - 600;
  const chain = new ChainDouble(tipset(30, late), () => true);
  let n = 0;
  const { m, stop } = start(
    chain,
    runner(() => {
      // While the first proof runs, someone else's block for round 31 arrives.
      if (n++ === 0) chain.setHead(tipset(31, late + 4, 'theirs'));
    }),
  );
  t.teardown(stop);
  await m.start();
  await until('a block', () => chain.submitted.length > 0);
  t.is(m.results[0].round, 31);
  t.is(m.results[0].outcome, 'late');
  t.is(chain.submitted[0].Header.Height, 32, 'mined on the new head instead');
});

// A proof that would run long (a loaded host, a first round started late in its epoch) is
// abandoned as soon as a tipset above its base arrives, its job cancelled through the runner's
// signal: the next round is mined on the new head at once, not after the useless proof.
test('a proof in flight is abandoned (its job cancelled) as soon as a tipset above its base arrives; the next round does not wait for it', async (t) => {
  const late = Math.floor(Date.now() / 1000) - 600;
  const chain = new ChainDouble(tipset(50, late), () => true);
  const { r: slow, cancelled } = cancellableRunner(() => setTimeout(() => chain.setHead(tipset(51, late + 4, 'theirs')), 200));
  const { m, stop } = start(chain, slow);
  t.teardown(stop);
  const t0 = Date.now();
  await m.start();
  await until('a block', () => chain.submitted.length > 0);
  t.true(Date.now() - t0 < 10_000, `mined after ${Date.now() - t0} ms`);
  t.deepEqual(cancelled, ['a tipset at height 51 arrived']);
  t.like(m.results[0], { round: 51, outcome: 'late' });
  t.regex(m.results[0].error ?? '', /a tipset at height 51 arrived while proving round 51: proof abandoned after \d+ ms/);
  t.is(chain.submitted[0].Header.Height, 52, 'mined on the new head');
});

test('a block over a null round is dropped when a tipset of that round arrives before its time; the round is then mined on the new head', async (t) => {
  // Round 41 is lost; round 42 is won on base 40 (41 counted null). Its block waits for its
  // timestamp (4 s ahead) and meanwhile round 41's tipset arrives: that block would extend a
  // lighter chain, so it is dropped unsent, and the slash filter leaves round 42 free.
  const base = Math.floor(Date.now() / 1000) - 4;
  const chain = new ChainDouble(tipset(40, base), (round) => round !== 41);
  const theirs = tipset(41, base + 4, 'theirs');
  const { m, stop } = start(
    chain,
    runner(() => {
      if (chain.head.Height === 40) setTimeout(() => chain.setHead(theirs), 500);
    }),
  );
  t.teardown(stop);
  await m.start();
  await until('a block', () => chain.submitted.length > 0, 15_000);
  t.deepEqual(
    m.results.map((r: RoundResult) => [r.round, r.base, r.nullRounds, r.outcome]),
    [
      [41, 40, 0, 'lost'],
      [42, 40, 1, 'late'],
      [42, 41, 0, 'mined'],
    ],
  );
  t.regex(m.results[1].error ?? '', /inside the null rounds 41\.\.41/);
  t.is(chain.submitted.length, 1, 'the block over the null round never left');
  t.deepEqual(chain.submitted[0].Header.Parents, theirs.Cids);
  t.is(m.lastMinedEpoch, 42);
});

/** A shared slash filter double: `answer(epoch, n)` decides the n-th claim of an epoch; calls are recorded. */
class FilterDouble implements SharedSlashFilter {
  readonly description = 'filter double';
  calls: string[] = [];
  down: string | null = null;
  constructor(private readonly answer: (epoch: number, n: number) => ClaimRefused | undefined | Promise<ClaimRefused | undefined>) {}
  async open() {}
  async claim(epoch: number) {
    const n = this.calls.filter((c) => c === `claim ${epoch}`).length;
    this.calls.push(`claim ${epoch}`);
    return this.answer(epoch, n);
  }
  async sent(epoch: number) {
    this.calls.push(`sent ${epoch}`);
  }
  async release(epoch: number) {
    this.calls.push(`release ${epoch}`);
  }
  trouble() {
    return this.down;
  }
  async close() {}
}

test('shared slash filter: a claim not answered is tried again within the round, then the block is sent and marked sent', async (t) => {
  const late = Math.floor(Date.now() / 1000) - 600;
  const chain = new ChainDouble(tipset(60, late), (round) => round === 61);
  const f = new FilterDouble((_e, n) => (n < 2 ? { reason: 'the database did not answer', transient: true } : undefined));
  const { m, stop } = start(chain, runner(), 200, f);
  t.teardown(stop);
  await m.start();
  await until('a block', () => chain.submitted.length > 0);
  await until('the mark', () => f.calls.includes('sent 61'));
  t.deepEqual(f.calls, ['claim 61', 'claim 61', 'claim 61', 'sent 61']);
  t.like(m.results[0], { round: 61, outcome: 'mined' });
});

test('shared slash filter: another host sent the block (other-host); a claim refused for good is a lost round; neither is sent', async (t) => {
  const late = Math.floor(Date.now() / 1000) - 600;
  const chain = new ChainDouble(tipset(70, late), (round) => round <= 72);
  const f = new FilterDouble((e) => (e === 71 ? { reason: 'mined by host-b', otherHost: 'host-b' } : e === 72 ? { reason: 'claimed by host-b, never marked sent' } : undefined));
  const { m, stop } = start(chain, runner(), 200, f);
  t.teardown(stop);
  await m.start();
  await until('two rounds', () => m.results.length >= 2);
  t.like(m.results[0], { round: 71, outcome: 'other-host' });
  t.like(m.results[1], { round: 72, outcome: 'slash-filter', error: 'claimed by host-b, never marked sent' });
  t.is(chain.submitted.length, 0);
  t.deepEqual(f.calls, ['claim 71', 'claim 72'], 'a refusal that is not transient is not tried again');
});

test('shared slash filter: a tipset above the base arriving during the claim drops the block and gives the claim back', async (t) => {
  const late = Math.floor(Date.now() / 1000) - 600;
  const chain = new ChainDouble(tipset(80, late), () => true);
  const theirs = tipset(81, late + 4, 'theirs');
  const f = new FilterDouble((e) => {
    if (e === 81) chain.setHead(theirs); // arrives while the database answers
    return undefined;
  });
  const { m, stop } = start(chain, runner(), 200, f);
  t.teardown(stop);
  await m.start();
  await until('a block', () => chain.submitted.length > 0);
  t.like(m.results[0], { round: 81, base: 80, outcome: 'late' });
  t.regex(m.results[0].error ?? '', /arrived while the shared slash filter was claiming round 81/);
  t.deepEqual(f.calls.slice(0, 2), ['claim 81', 'release 81']);
  t.is(chain.submitted[0].Header.Height, 82, 'mined on the new head instead');
  t.deepEqual(chain.submitted[0].Header.Parents, theirs.Cids);
});

test("shared slash filter: the role's trouble() names a filter that does not answer, and the chain first", async (t) => {
  const chain = new ChainDouble(tipset(90, Math.floor(Date.now() / 1000)), () => false);
  const f = new FilterDouble(() => undefined);
  const { m, stop } = start(chain, runner(), 200, f);
  t.teardown(stop);
  await m.start();
  t.is(m.trouble(), null);
  f.down = 'the filter has not answered for 6 s';
  t.is(m.trouble(), 'the filter has not answered for 6 s');
  chain.gone = 'no new head for 3 epochs';
  t.is(m.trouble(), 'no new head for 3 epochs', 'the chain first');
  chain.gone = null;
  f.down = null;
  t.is(m.trouble(), null);
});
