// The deal flow's decisions with test doubles for the chain and the seal service (the real
// thing runs in devnet.test.ts): batching and deal IDs, the crash windows around publishing
// and pledging, and what happens to deals when their sector proves, fails for good or is
// rejected by the chain.
import test, { type ExecutionContext } from 'ava';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChainUnavailableError } from '../../src/chain/client.js';
import type { ClientDealProposal, DealProposal } from '../../src/chain/market.js';
import { RpcError } from '../../src/net/json-rpc.js';
import { buildProposal } from '../../src/deals/client.js';
import { type DealChain, DealCoordinator, type DealSealer, type SealSectorView } from '../../src/deals/coordinator.js';
import { type ClientKey, newClientKey } from '../../src/deals/keys.js';
import { StoreDealPipeline } from '../../src/deals/pipeline.js';
import { type DealRecord, DealStore } from '../../src/deals/store.js';

const key = newClientKey();
const commP = (n: number) => {
  const b = Buffer.alloc(32, n);
  b[31] &= 0x3f;
  return b;
};

class FakeChain implements DealChain {
  readonly provider = 't01000';
  /** Market escrow by address (default: plenty). */
  escrow = new Map<string, { escrow: bigint; locked: bigint }>();
  funded: bigint[] = [];
  /** AddBalance messages pushed, by CID: landed (with its exit code) once messageOutcome sees it, unless fundingHeld. */
  fundings = new Map<string, { amount: bigint; exitCode?: number }>();
  fundingHeld = false;
  /** The exit code the next AddBalance lands with (default 0). */
  fundingExit = 0;
  async balance(a: string) {
    return this.escrow.get(a) ?? { escrow: 10n ** 24n, locked: 0n };
  }
  async collateralBounds() {
    return { min: 0n, max: 10n ** 27n };
  }
  /** MsgUuid → CID of the AddBalance sent for it: as Lotus, a second push with one uuid sends nothing. */
  uuids = new Map<string, string>();
  /** The answer to the next push is lost after it was sent (a timeout, a crash before the record). */
  loseNextAnswer = false;
  async fundProvider(amount: bigint, uuid: string) {
    const sent = this.uuids.get(uuid);
    if (sent) return sent;
    this.funded.push(amount);
    const cid = `add-${this.funded.length}`;
    this.fundings.set(cid, { amount });
    this.uuids.set(uuid, cid);
    if (this.loseNextAnswer) {
      this.loseNextAnswer = false;
      throw new ChainUnavailableError('no chain daemon answered: http://lotus/rpc/v1: no answer within 60000 ms');
    }
    return cid;
  }
  async messageOutcome(cid: string) {
    const f = this.fundings.get(cid);
    if (!f) throw new Error(`unknown message ${cid}`);
    if (f.exitCode === undefined) {
      if (this.fundingHeld) return null;
      f.exitCode = this.fundingExit;
      if (f.exitCode === 0) {
        const b = await this.balance(this.provider);
        this.escrow.set(this.provider, { ...b, escrow: b.escrow + f.amount });
      }
    }
    return { exitCode: f.exitCode };
  }
  published: { cid: string; deals: ClientDealProposal[] }[] = [];
  /** Index → valid; default all valid. */
  invalid = new Set<string>();
  /** Published deals and the height their message was executed at. */
  onChain: { id: number; p: DealProposal; at: number }[] = [];
  /** The `since` of each findDeals call. */
  finds: (number | undefined)[] = [];
  nextId = 100;
  failWith?: string;
  headEpoch = 10;
  /** While set, publish messages are not executed yet. */
  hold?: Promise<void>;
  /** Runs before a publish message executes (e.g. an earlier message landing first). */
  beforeExecute?: () => void;
  async head() {
    return this.headEpoch;
  }
  async publish(deals: ClientDealProposal[]) {
    const cid = `msg-${this.published.length}`;
    this.published.push({ cid, deals });
    return cid;
  }
  async waitPublish(cid: string) {
    await this.hold;
    this.beforeExecute?.();
    const m = this.published.find((x) => x.cid === cid)!;
    if (this.failWith) return { exitCode: 16, error: this.failWith, ids: new Map<number, number>() };
    const ids = new Map<number, number>();
    m.deals.forEach((d, i) => {
      // The market actor refuses a deal already published (and invalid ones).
      if (this.invalid.has(d.Proposal.Label) || this.onChain.some((x) => x.p.Label === d.Proposal.Label)) return;
      const id = this.nextId++;
      ids.set(i, id);
      this.onChain.push({ id, p: d.Proposal, at: this.headEpoch });
    });
    return { exitCode: 0, ids };
  }
  /** As the Lotus adapter: this miner's publications from `since` on; the whole market without it. */
  async findDeals(ps: DealProposal[], since: number | undefined) {
    this.finds.push(since);
    return ps.map((p) => this.onChain.find((x) => x.p.Label === p.Label && (since === undefined || x.at >= since))?.id);
  }
}

class FakeSealer implements DealSealer {
  sectors_: SealSectorView[] = [];
  down = false;
  pledges: { pieces: unknown[]; dealIds: number[]; publishCids?: (string | null)[] }[] = [];
  async pledgeDeals(pieces: { url?: string; unpaddedSize: number; pieceCid?: string }[], dealIds: number[], publishCids?: (string | null)[]) {
    if (this.down) throw new Error('connection refused');
    this.pledges.push({ pieces, dealIds, publishCids });
    const number = this.sectors_.length;
    this.sectors_.push({ number, state: 'Packing', deals: dealIds, failure: null, chainRejected: false, sealedCid: null, unsealedCid: null });
    return number;
  }
  async sectors() {
    if (this.down) throw new Error('connection refused');
    return this.sectors_.map((s) => ({ ...s }));
  }
}

async function setup(
  labels: { label: string; size: number; start?: number; price?: bigint; collateral?: bigint; client?: ClientKey }[],
  patch: (d: DealRecord) => Partial<DealRecord> = () => ({}),
  waitDealsMs?: number,
) {
  const dir = mkdtempSync(join(tmpdir(), 'dm-flow-'));
  const store = DealStore.open(join(dir, 'db'));
  const piecePath = (u: string) => join(dir, `${u}.piece`);
  let i = 0;
  for (const { label, size, start, price, collateral, client } of labels) {
    const deal = buildProposal({
      key: client ?? key,
      commP: commP(++i),
      pieceSize: size,
      provider: 't01000',
      startEpoch: start ?? 1000,
      endEpoch: 5000,
      label,
      pricePerEpoch: price,
      providerCollateral: collateral,
    });
    const uuid = `deal-${label}`;
    writeFileSync(piecePath(uuid), Buffer.alloc(1));
    const now = Date.now() + i;
    const d: DealRecord = {
      uuid,
      proposalCid: `prop-${label}`,
      proposal: deal.Proposal,
      signature: deal.ClientSignature,
      pieceCid: deal.Proposal.PieceCID['/'],
      pieceSize: size,
      transferSize: 1,
      uploadToken: 'x',
      state: 'Publishing',
      createdAt: now,
      updatedAt: now,
      verifiedAt: now,
      history: [],
    };
    await store.insert({ ...d, ...patch(d) });
  }
  const chain = new FakeChain();
  const sealer = new FakeSealer();
  const pipeline = new StoreDealPipeline(store, piecePath, true);
  const flow = new DealCoordinator({ store, pipeline, chain, sealer, sectorSize: 2048, pieceBase: 'http://deals', waitDealsMs });
  const byLabel = (l: string) => store.get(`deal-${l}`)!;
  const settle = async () => {
    // A top-up is pushed in one pass and seen landed in the next; the background publish waits
    // finish between passes, and the pass after acts on their results.
    for (let pass = 0; pass < 3; pass++) {
      await flow.tick();
      for (let k = 0; k < 5; k++) await new Promise((r) => setImmediate(r));
    }
  };
  return { store, chain, sealer, flow, byLabel, settle, piecePath };
}

test('deals are published in one batch, get their IDs, and are packed only once published', async (t) => {
  const s = await setup([
    { label: 'a', size: 1024 },
    { label: 'b', size: 1024 },
    { label: 'c', size: 2048 },
    { label: 'bad', size: 1024 },
  ]);
  s.chain.invalid.add('bad');
  let release!: () => void;
  s.chain.hold = new Promise((r) => (release = r));
  await s.flow.tick();
  t.is(s.chain.published.length, 1, 'one PublishStorageDeals for the batch');
  t.is(s.sealer.pledges.length, 0, 'nothing is packed before the deal IDs are known');
  await s.flow.tick();
  t.is(s.chain.published.length, 1, 'a message being waited on is not sent again');
  release();
  await s.settle();
  t.is(s.byLabel('bad').state, 'Failed');
  t.regex(s.byLabel('bad').reason!, /market actor found the deal invalid/);
  t.is(s.byLabel('a').state, 'Sealing');
  t.deepEqual(s.sealer.pledges.map((p) => p.dealIds).sort(), [[100, 101], [102]].sort());
  t.is(s.byLabel('a').publish!.since, 10, 'the height before the push is kept with the publication');
  t.deepEqual(s.chain.finds, [10], 'the dropped deal was looked up from that height');
  const two = s.sealer.pledges.find((p) => p.dealIds.length === 2)!;
  t.deepEqual(two.pieces, [
    { url: `http://deals/piece/${s.byLabel('a').pieceCid}`, unpaddedSize: 1016, pieceCid: s.byLabel('a').pieceCid },
    { url: `http://deals/piece/${s.byLabel('b').pieceCid}`, unpaddedSize: 1016, pieceCid: s.byLabel('b').pieceCid },
  ]);
  t.is(s.byLabel('a').sector!.sectorNumber, s.byLabel('b').sector!.sectorNumber);
  // Each deal's PublishStorageDeals message goes with it (lotus-miner's DealInfo.PublishCid).
  t.deepEqual(two.publishCids, [s.byLabel('a').publish!.cid, s.byLabel('b').publish!.cid]);
  t.true(two.publishCids!.every((c) => typeof c === 'string' && c.startsWith('msg-')));
});

test("a failed PublishStorageDeals fails its deals with the chain's reason", async (t) => {
  const s = await setup([{ label: 'a', size: 2048 }]);
  s.chain.failWith = 'all deals are invalid: deal 0: deal start epoch 5 has already elapsed';
  await s.settle();
  t.is(s.byLabel('a').state, 'Failed');
  t.regex(s.byLabel('a').reason!, /exit code 16.*already elapsed/);
});

test('crash between recording the intent and the message: the deal is found on chain, not published twice', async (t) => {
  const s = await setup(
    [
      { label: 'a', size: 2048 },
      { label: 'b', size: 2048 },
    ],
    () => ({ publish: { pushing: true, since: 5 } }),
  );
  s.chain.onChain.push({ id: 7, p: s.byLabel('a').proposal, at: 6 }); // a reached the chain, b did not
  await s.settle();
  t.is(s.byLabel('a').publish!.dealId, 7);
  t.deepEqual(s.chain.finds, [5], "both searched at once, from the intent's height");
  t.is(s.chain.published.length, 1);
  t.deepEqual(
    s.chain.published[0].deals.map((d) => d.Proposal.Label),
    ['b'],
    'only the deal not on chain is published again',
  );
  t.is(s.byLabel('b').publish!.since, 5, "the re-published deal keeps its first attempt's height");
});

test('a record from before the publication height was kept: the whole market is searched', async (t) => {
  const s = await setup([{ label: 'a', size: 2048 }], () => ({ publish: { pushing: true } }));
  s.chain.onChain.push({ id: 7, p: s.byLabel('a').proposal, at: 2 });
  await s.settle();
  t.deepEqual(s.chain.finds, [undefined]);
  t.is(s.byLabel('a').publish!.dealId, 7);
  t.is(s.chain.published.length, 0);
});

test('crash between intent and message, the first message still pending: published again, refused as a duplicate, and recorded from the chain, not failed', async (t) => {
  const s = await setup([{ label: 'a', size: 2048 }], () => ({ publish: { pushing: true, since: 5 } }));
  // Not on chain when the restart looks; the first message lands (at 6, before this restart's
  // push at 10) before the second executes: the lookup must start at the first attempt's height.
  s.chain.beforeExecute = () => {
    if (!s.chain.onChain.length) s.chain.onChain.push({ id: 7, p: s.byLabel('a').proposal, at: 6 });
  };
  await s.settle();
  t.is(s.chain.published.length, 1, 'published again (it was not on chain yet)');
  t.is(s.byLabel('a').publish!.dealId, 7, 'the deal ID of the publication that landed');
  t.not(s.byLabel('a').state, 'Failed');
  t.is(s.byLabel('a').state, 'Sealing');
});

test('crash after the message was pushed: the restart waits for that message', async (t) => {
  const s = await setup([{ label: 'a', size: 2048 }]);
  const cid = await s.chain.publish([{ Proposal: s.byLabel('a').proposal, ClientSignature: s.byLabel('a').signature }]);
  await s.store.update(['deal-a'], () => ({ publish: { cid } }));
  await s.settle();
  t.is(s.chain.published.length, 1, 'not published again');
  t.is(s.byLabel('a').publish!.dealId, 100);
  t.is(s.byLabel('a').state, 'Sealing');
});

test('crash after pledging, before recording the sector on the deals: the sector is found, no second one', async (t) => {
  const s = await setup([{ label: 'a', size: 2048 }], () => ({ publish: { cid: 'old', dealId: 42 } }));
  s.sealer.sectors_.push({ number: 9, state: 'PreCommit1', deals: [42], failure: null, chainRejected: false, sealedCid: null, unsealedCid: null });
  await s.flow.tick();
  t.is(s.byLabel('a').state, 'Sealing');
  t.is(s.byLabel('a').sector!.sectorNumber, 9);
  t.is(s.sealer.pledges.length, 0);
});

test('sector outcomes: Proving → Active; chain rejection → Failed; lost for good → requeued and packed again; too late → Failed', async (t) => {
  const s = await setup(
    [
      { label: 'ok', size: 2048 },
      { label: 'rejected', size: 2048 },
      { label: 'lost', size: 2048 },
      { label: 'late', size: 2048, start: 12 },
    ],
    (d) => ({ publish: { cid: 'm', dealId: { ok: 1, rejected: 2, lost: 3, late: 4 }[d.proposal.Label] } }),
  );
  await s.flow.tick();
  t.is(s.sealer.pledges.length, 4);
  const sec = (l: string) => s.sealer.sectors_[s.byLabel(l).sector!.sectorNumber];
  Object.assign(sec('ok'), { state: 'Proving', sealedCid: 'bagboea…', unsealedCid: 'baga…' });
  Object.assign(sec('rejected'), { state: 'PreCommitFailed', chainRejected: true, failure: 'deal 2 start epoch has already elapsed' });
  Object.assign(sec('lost'), { state: 'FailedUnrecoverable', failure: 'giving up after 3 retries' });
  Object.assign(sec('late'), { state: 'FailedUnrecoverable', failure: 'giving up after 3 retries' });
  await s.flow.tick();
  t.is(s.byLabel('ok').state, 'Active');
  t.is(s.byLabel('ok').sector!.sealedCid, 'bagboea…');
  t.is(s.byLabel('rejected').state, 'Failed');
  t.regex(s.byLabel('rejected').reason!, /start epoch has already elapsed/);
  t.is(s.byLabel('late').state, 'Failed', 'its start epoch is too near to seal again');
  t.true(s.byLabel('late').dataKept, 'the data of a deal that ran out of time is kept');
  t.regex(s.byLabel('late').reason!, /too near the deal's start epoch to seal again \(the data is kept\)/);
  t.true(existsSync(s.piecePath('deal-late')));
  t.false(existsSync(s.piecePath('deal-rejected')), 'a deal the chain rejected keeps nothing');
  t.falsy(s.byLabel('rejected').dataKept);
  t.is(s.byLabel('lost').state, 'Sealing', 'requeued and packed into a new sector in the same pass');
  t.is(s.sealer.pledges.length, 5);
  t.deepEqual(s.sealer.pledges[4].dealIds, [3]);
});

test('a seal service that does not answer leaves every deal as it is', async (t) => {
  const s = await setup([{ label: 'a', size: 2048 }], () => ({ publish: { cid: 'm', dealId: 1 } }));
  s.sealer.down = true;
  await s.flow.tick();
  t.is(s.byLabel('a').state, 'Publishing');
  s.sealer.down = false;
  await s.flow.tick();
  t.is(s.byLabel('a').state, 'Sealing');
});

test('a sector the deals do not fill waits for more deals (WaitDealsDelay); a full one goes at once', async (t) => {
  const s = await setup([{ label: 'half', size: 1024 }], () => ({ publish: { cid: 'm', dealId: 1 } }), 60_000);
  await s.flow.tick();
  t.is(s.byLabel('half').state, 'Publishing', 'half a sector waits');
  const late = await setup([{ label: 'half', size: 1024 }], (d) => ({ publish: { cid: 'm', dealId: 1 }, verifiedAt: d.verifiedAt! - 61_000 }), 60_000);
  await late.flow.tick();
  t.is(late.byLabel('half').state, 'Sealing', 'after the delay it is sealed with a zero filler');
  t.deepEqual(late.sealer.pledges[0].pieces[1], { unpaddedSize: 1016 });
});

test('the store counts deals waiting for data (what the intake caps use) and lists unpublished ones (the escrow check) without a scan, also after a reopen', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dm-waiting-'));
  const s = DealStore.open(join(dir, 'db'));
  const mk = (label: string, peer: string): DealRecord => {
    const deal = buildProposal({ key, commP: commP(label.length + 7), pieceSize: 2048, provider: 't01000', startEpoch: 1000, endEpoch: 5000, label });
    return {
      uuid: label,
      proposalCid: `p-${label}`,
      proposal: deal.Proposal,
      signature: deal.ClientSignature,
      pieceCid: deal.Proposal.PieceCID['/'],
      pieceSize: 2048,
      transferSize: 1,
      uploadToken: 'x',
      peer,
      state: 'Accepted',
      createdAt: 1,
      updatedAt: 1,
      history: [],
    };
  };
  await s.insert(mk('a', '10.0.0.1'));
  await s.insert(mk('bb', '10.0.0.1'));
  await s.insert(mk('ccc', '10.0.0.2'));
  const client = s.get('a')!.proposal.Client;
  t.deepEqual(s.waitingCounts('10.0.0.1', client), { total: 3, peer: 2, client: 3 });
  await s.transition(['a'], 'Transferring');
  t.is(s.waitingCounts(undefined).total, 3, 'a transfer still waits for its data');
  const unpublished = (st: DealStore, c?: string) => st.unpublished(c).map((d) => d.uuid);
  t.deepEqual(unpublished(s, client), ['a', 'bb', 'ccc']);
  await s.transition(['bb'], 'Expired', {}, 'no data');
  t.deepEqual(s.waitingCounts('10.0.0.1', client), { total: 2, peer: 1, client: 2 });
  t.deepEqual(unpublished(s, client), ['a', 'ccc'], 'an expired deal is no longer counted against its escrow');
  await s.update(['a'], () => ({ publish: { cid: 'm', dealId: 5 } }));
  t.deepEqual(unpublished(s, client), ['ccc'], 'a deal with its market deal ID is published');
  t.deepEqual(unpublished(s, 't0999'), [], "another client's");
  t.deepEqual(unpublished(s), ['ccc']);
  await s.close();
  const again = DealStore.open(join(dir, 'db'));
  t.deepEqual(again.waitingCounts('10.0.0.2', client), { total: 2, peer: 1, client: 2 }, 'rebuilt from the journal on open');
  t.deepEqual(unpublished(again, client), ['ccc'], 'rebuilt from the journal on open');
  await again.close();
  rmSync(dir, { recursive: true, force: true });
});

test('escrow before publication: the provider collateral is topped up from the worker, deals the actor would drop fail with their data kept', async (t) => {
  const poor = newClientKey();
  const s = await setup([
    { label: 'a', size: 1024, price: 10n, collateral: 300n }, // client cost 10 × 4000 = 40000
    { label: 'b', size: 1024, price: 10n, collateral: 200n },
    { label: 'short', size: 1024, price: 10n, collateral: 100n, client: poor },
    { label: 'late', size: 1024, start: 8, collateral: 50n },
  ]);
  s.chain.escrow.set(key.address, { escrow: 100_000n, locked: 20_000n }); // 80000 free: a and b
  s.chain.escrow.set(poor.address, { escrow: 50_000n, locked: 20_000n }); // 30000 free < 40000
  s.chain.escrow.set('t01000', { escrow: 1000n, locked: 900n }); // 100 free
  await s.settle();
  t.deepEqual(s.chain.funded, [400n], 'a + b need 500 of provider collateral, 100 was free');
  t.deepEqual(
    s.chain.published.flatMap((m) => m.deals.map((d) => d.Proposal.Label)),
    ['a', 'b'],
  );
  t.is(s.byLabel('a').state, 'Sealing');
  for (const [l, why] of [
    ['short', /client's available escrow \(0\.0+3 FIL\) no longer covers the deal \(0\.0+4 FIL\)/],
    ['late', /start epoch 8 passed \(head 10\)/],
  ] as const) {
    t.is(s.byLabel(l).state, 'Failed');
    t.regex(s.byLabel(l).reason!, why);
    t.true(s.byLabel(l).dataKept, `${l}: its data is kept`);
  }
});

test('escrow before publication: a top-up in flight holds up only the deals it funds, is never pushed twice across a restart, and is pushed again when it failed on chain', async (t) => {
  const s = await setup(
    [
      { label: 'a', size: 1024, collateral: 300n },
      { label: 'published', size: 2048, collateral: 300n },
    ],
    (d) => (d.proposal.Label === 'published' ? { publish: { cid: 'old', dealId: 50 } } : {}),
    0,
  );
  s.chain.escrow.set('t01000', { escrow: 0n, locked: 0n });
  s.chain.fundingHeld = true; // the AddBalance takes its time to land
  await s.flow.tick();
  await s.flow.tick();
  t.deepEqual(s.chain.funded, [300n], 'one AddBalance, not one per pass');
  t.is(s.store.pendingFunding()?.cid, 'add-1');
  t.is(s.byLabel('a').state, 'Publishing', 'the deal waits for its collateral');
  t.is(s.byLabel('published').state, 'Sealing', 'the pass is not held up: a published deal is packed meanwhile');
  t.is(s.chain.published.length, 0);
  // A restart (a new coordinator on the same store) waits for the same message.
  await s.flow.stop();
  const again = restarted(s);
  await again.tick();
  t.deepEqual(s.chain.funded, [300n], 'not pushed again after the restart');
  // It fails on chain: cleared, and pushed again; the second lands and the deal is published.
  s.chain.fundingExit = 16;
  s.chain.fundingHeld = false;
  await again.tick();
  t.deepEqual(s.chain.funded, [300n, 300n], 'a top-up that failed on chain is pushed again');
  t.is(s.store.pendingFunding()?.cid, 'add-2');
  s.chain.fundingExit = 0;
  await again.tick();
  await fundedAndPublished(t, s, again);
});

/** The top-up has landed and is cleared; deal 'a' alone was published. Stops `flow`. */
async function fundedAndPublished(t: ExecutionContext, s: Awaited<ReturnType<typeof setup>>, flow: DealCoordinator): Promise<void> {
  t.is(s.store.pendingFunding(), undefined);
  t.deepEqual(
    s.chain.published.flatMap((m) => m.deals.map((d) => d.Proposal.Label)),
    ['a'],
  );
  await flow.stop();
}

/** A new coordinator on the same store and chain (a restart of the deal role). */
function restarted(s: Awaited<ReturnType<typeof setup>>): DealCoordinator {
  return new DealCoordinator({
    store: s.store,
    pipeline: new StoreDealPipeline(s.store, s.piecePath, true),
    chain: s.chain,
    sealer: s.sealer,
    sectorSize: 2048,
    pieceBase: 'http://deals',
    waitDealsMs: 0,
  });
}

test('escrow before publication: a top-up whose answer was lost (a timeout, or a crash between the push and its record) is pushed again under its uuid and sent once', async (t) => {
  const s = await setup([{ label: 'a', size: 1024, collateral: 300n }], () => ({}), 0);
  s.chain.escrow.set('t01000', { escrow: 0n, locked: 0n });
  s.chain.fundingHeld = true;
  s.chain.loseNextAnswer = true;
  await s.flow.tick();
  t.deepEqual(s.chain.funded, [300n], 'sent once');
  const recorded = s.store.pendingFunding();
  t.truthy(recorded?.uuid, 'recorded before the push, with its uuid');
  t.is(recorded?.cid, undefined, 'no answer: no CID yet');
  // The next pass pushes the same top-up again; the node answers with the message it sent.
  await s.flow.tick();
  t.deepEqual(s.chain.funded, [300n], 'not sent twice');
  t.is(s.store.pendingFunding()?.cid, 'add-1');
  t.is(s.store.pendingFunding()?.uuid, recorded?.uuid);
  // A crash after the record and before the push (or its answer): a new coordinator on the same
  // store pushes the recorded top-up, not a fresh one of its own.
  await s.store.setPendingFunding({ uuid: recorded!.uuid, amount: '300' });
  await s.flow.stop();
  const again = restarted(s);
  await again.tick();
  t.deepEqual(s.chain.funded, [300n], 'still one AddBalance after the restart');
  t.is(s.store.pendingFunding()?.cid, 'add-1');
  s.chain.fundingHeld = false;
  await again.tick();
  await again.tick();
  await fundedAndPublished(t, s, again);
});

test('escrow before publication: a client with a publication in flight, or whose balance cannot be read, waits; a top-up that fails holds up no published deal', async (t) => {
  const other = newClientKey();
  const unreadable = newClientKey();
  const s = await setup(
    [
      { label: 'pushed', size: 1024, price: 10n, collateral: 300n },
      { label: 'next', size: 1024, price: 10n, collateral: 300n },
      { label: 'unread', size: 1024, price: 10n, collateral: 300n, client: unreadable },
      { label: 'fresh', size: 1024, price: 10n, collateral: 300n, client: other },
      { label: 'published', size: 2048, collateral: 300n, client: other },
    ],
    (d) => (d.proposal.Label === 'pushed' ? { publish: { cid: 'msg-x', since: 9 } } : d.proposal.Label === 'published' ? { publish: { cid: 'old', dealId: 50 } } : {}),
    0,
  );
  s.chain.published.push({ cid: 'msg-x', deals: [{ Proposal: s.byLabel('pushed').proposal, ClientSignature: s.byLabel('pushed').signature }] });
  s.chain.hold = new Promise(() => {}); // the pushed message never lands in this test
  s.chain.escrow.set('t01000', { escrow: 0n, locked: 0n });
  const balance = s.chain.balance.bind(s.chain);
  s.chain.balance = async (a: string) => {
    if (a === unreadable.address) throw new Error('connection refused');
    return balance(a);
  };
  let asked = 0n;
  s.chain.fundProvider = async (amount: bigint) => {
    asked = amount;
    throw new RpcError(1, 'mpool push: not enough funds: 0 < 600', 'Filecoin.MpoolPushMessage');
  };
  await s.flow.tick(); // the failed top-up is logged; the pass goes on
  t.is(asked, 600n, 'the collateral of the pushed deal and of the one ready');
  for (const l of ['next', 'unread', 'fresh']) t.is(s.byLabel(l).state, 'Publishing', `${l} waits`);
  t.is(s.chain.published.length, 1, 'nothing more is published without the provider collateral');
  t.is(s.byLabel('published').state, 'Sealing', 'a deal already published is packed all the same');
  // The node refused it (an error answer: nothing was sent): no record left to push again; the
  // next pass works the need out anew, under a new uuid.
  t.is(s.store.pendingFunding(), undefined);
  const uuids: string[] = [];
  s.chain.fundProvider = async (_amount: bigint, uuid: string) => {
    uuids.push(uuid);
    throw new RpcError(1, 'mpool push: not enough funds: 0 < 600', 'Filecoin.MpoolPushMessage');
  };
  await s.flow.tick();
  await s.flow.tick();
  t.is(uuids.length, 2);
  t.not(uuids[0], uuids[1]);
});
