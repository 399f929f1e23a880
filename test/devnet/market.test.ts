// The devnet's storage market actor over the real API: PublishStorageDeals (signatures, the
// provider's controller, epochs, duplicates; invalid deals dropped, the rest get IDs), the
// pre-commit checks of a deal sector (CommD of the deals' pieces, provider, one sector per
// deal) and the market queries. Activation at prove-commit is shown with real proofs in
// test/deals/devnet.test.ts.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { type ClientDealProposal, DEAL_MIN_DURATION, MarketMethod, decodePublishReturn, encodePublishStorageDeals, decodePublishStorageDeals, type MarketDeal } from '../../src/chain/market.js';
import { encodePreCommitBatch2 } from '../../src/chain/params.js';
import { ExitCode, MinerMethod } from '../../src/chain/builtin-actors.js';
import { b64, fromB64 } from '../../src/chain/encoding.js';
import { buildProposal } from '../../src/deals/client.js';
import { lotusDealChain } from '../../src/deals/deal-chain.js';
import { zeroCommP } from '../../src/deals/commp.js';
import { newClientKey } from '../../src/deals/keys.js';
import * as proofs from '../../src/proofs/index.js';
import { addBalance, send, startDevnet } from './_harness.js';

/** A provider collateral above the market's floor for the pieces here (≤ 2 KiB; see escrow.test.ts). */
const COLL = 10n ** 12n;

const commP = (seed: number) => {
  // Any 32-byte value with the top two bits clear is a valid piece commitment for the market.
  const b = Buffer.alloc(32, seed);
  b[31] &= 0x3f;
  return b;
};

/** The end of the tests' deals: from epoch 500 for the market's minimum duration. */
const END = 500 + DEAL_MIN_DURATION;

test('PublishStorageDeals params and return round-trip through CBOR', (t) => {
  const key = newClientKey('bls');
  const deals = [buildProposal({ key, commP: commP(1), pieceSize: 1024, provider: 't01000', startEpoch: 100, endEpoch: 200, label: 'x' })];
  const back = decodePublishStorageDeals(encodePublishStorageDeals(deals));
  t.deepEqual(back, deals);
  t.throws(() => decodePublishStorageDeals(Buffer.from([0x80])), { message: /tuple of 1 field/ });
});

test('the market publishes valid deals, drops invalid ones with reasons, and checks deal sectors at pre-commit', async (t) => {
  const h = await startDevnet({ miners: 2 });
  t.teardown(() => h.close());
  await h.devnet.advanceTo(3);
  const c = h.client;
  const worker = (await c.stateMinerInfo('t01000')).Worker;
  const otherWorker = (await c.stateMinerInfo('t01001')).Worker;
  const secp = newClientKey('secp256k1');
  const bls = newClientKey('bls');
  // The market resolves each client to its account and checks both parties' escrow: the clients
  // get accounts (their deals cost nothing), the provider escrow for every deal's collateral.
  // (From the owner: the listings below are of the worker's messages.)
  const owner = (await c.stateMinerInfo('t01000')).Owner;
  await send(h, owner, secp.address, 10n ** 18n);
  await send(h, owner, bls.address, 10n ** 18n);
  await addBalance(h, owner, 't01000', 10n ** 18n);
  const good1 = buildProposal({ key: secp, commP: commP(1), pieceSize: 1024, provider: 't01000', startEpoch: 500, endEpoch: END, providerCollateral: COLL });
  const good2 = buildProposal({ key: bls, commP: commP(2), pieceSize: 1024, provider: 't01000', startEpoch: 500, endEpoch: END, providerCollateral: COLL });
  const forged: ClientDealProposal = { ...good1, Proposal: { ...good1.Proposal, Label: 'changed after signing' } };
  const late = buildProposal({ key: secp, commP: commP(3), pieceSize: 1024, provider: 't01000', startEpoch: 2, endEpoch: END, providerCollateral: COLL });
  const tooBig = buildProposal({ key: secp, commP: commP(4), pieceSize: 4096, provider: 't01000', startEpoch: 500, endEpoch: END, providerCollateral: COLL });
  const short = buildProposal({ key: secp, commP: commP(10), pieceSize: 1024, provider: 't01000', startEpoch: 500, endEpoch: END - 1, providerCollateral: COLL });
  const push = async (from: string, deals: ClientDealProposal[]) => {
    const sm = await c.mpoolPushMessage({ To: 't05', From: from, Method: MarketMethod.PublishStorageDeals, Params: b64(encodePublishStorageDeals(deals)) });
    await h.devnet.advance();
    return c.stateWaitMsg(sm.CID!, 0);
  };

  const r = await push(worker, [good1, forged, late, good2, tooBig, good1, short]);
  t.is(r.Receipt.ExitCode, ExitCode.Ok);
  const ret = decodePublishReturn(fromB64(r.Receipt.Return));
  t.deepEqual(ret.ValidDeals, [0, 3], 'the forged, late, oversized, duplicate and too short deals are dropped');
  t.deepEqual(ret.IDs, [0, 1]);
  const d0 = await c.call<MarketDeal>('StateMarketStorageDeal', [0, null]);
  t.is(d0.Proposal.PieceCID['/'], good1.Proposal.PieceCID['/']);
  t.regex(d0.Proposal.Client, /^t0\d+$/, 'the market keeps the client as its ID address, as the actor does');
  t.is(d0.Proposal.Provider, 't01000');
  t.is(d0.State.SectorStartEpoch, -1);
  t.deepEqual(Object.keys(await c.call<Record<string, MarketDeal>>('StateMarketDeals', [null])), ['0', '1']);
  await t.throwsAsync(c.call('StateMarketStorageDeal', [7, null]), { message: /deal 7 not found/ });
  // The deal role's adapter over the same API: finds a published deal after a crash, not others.
  // It searches this miner's PublishStorageDeals messages from the first attempt's height on
  // (StateListMessages + ChainGetMessage + the receipt); the whole market only for a record
  // without that height.
  const dealChain = lotusDealChain(c, 1000);
  const publishedAt = r.Height;
  const find = (ps: ClientDealProposal[], since: number | undefined) =>
    dealChain.findDeals(
      ps.map((x) => x.Proposal),
      since,
    );
  t.deepEqual(await find([good2, late, good1], publishedAt - 1), [1, undefined, 0], 'published ones found; one in the message but dropped by the market is not');
  t.deepEqual(await find([good2], publishedAt), [1], 'the height the message was executed at is searched');
  t.deepEqual(await find([good2], publishedAt + 1), [undefined], 'the search does not look below its height');
  t.deepEqual(await find([good2, late], undefined), [1, undefined], 'no height: the whole market is searched');
  // The two API methods it stands on, as Lotus answers them.
  t.deepEqual(
    (await c.stateListMessages({ To: 't05', From: worker }, 0))?.map((x) => x['/']),
    [r.Message['/']],
  );
  t.deepEqual(await c.stateListMessages({ To: 't05', From: otherWorker }, 0), []);
  await t.throwsAsync(c.stateListMessages({}, 0), { message: /at least To or From/ });
  const got = await c.chainGetMessage(r.Message);
  t.deepEqual(decodePublishStorageDeals(fromB64(got.Params!)), [good1, forged, late, good2, tooBig, good1, short]);
  await t.throwsAsync(c.chainGetMessage({ '/': 'bafy2bzaceaxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' }), { message: /not found|CID/ });
  // The too short deal alone: the message fails with the actor's reason.
  const shortAlone = await push(worker, [short]);
  t.regex((shortAlone.ReturnDec as { Error: string }).Error, /deal duration out of bounds: 518399 is not within 518400\.\.3680640 epochs/);
  const viaAdapter = buildProposal({ key: secp, commP: commP(9), pieceSize: 1024, provider: 't01000', startEpoch: 500, endEpoch: END, providerCollateral: COLL });
  const cid = await dealChain.publish([forged, viaAdapter]);
  await h.devnet.advance();
  const pub = await dealChain.waitPublish(cid);
  t.is(pub.exitCode, 0);
  t.deepEqual([...pub.ids], [[1, 2]], 'the forged deal (index 0) got no ID, the other got deal 2');

  // Another miner's worker cannot publish for t01000; a batch of only invalid deals fails whole.
  const other = buildProposal({ key: secp, commP: commP(5), pieceSize: 1024, provider: 't01000', startEpoch: 500, endEpoch: END, providerCollateral: COLL });
  const r2 = await push(otherWorker, [other]);
  t.is(r2.Receipt.ExitCode, ExitCode.ErrIllegalArgument);
  t.regex((r2.ReturnDec as { Error: string }).Error, /not the worker or owner of provider t01000/);
  t.is((await push(worker, [good1])).Receipt.ExitCode, ExitCode.ErrIllegalArgument, 'publishing the same proposal again fails');

  // Pre-commit of a deal sector: the UnsealedCid must be the CommD of the deals' pieces.
  const pieces = [
    { size: 1024, commP: commP(1) },
    { size: 1024, commP: commP(2) },
  ];
  const commD = await proofs.generateDataCommitment(proofs.RegisteredSealProof.StackedDrg2KiBV1_1, pieces);
  const head = (await c.chainHead()).Height;
  const pre = (n: number, dealIds: number[], unsealed: Buffer, expiration = END + 100) => ({
    sealProof: 5,
    sectorNumber: n,
    sealedCid: { '/': proofs.commRToCid(randomBytes(32).fill(0, 31)) },
    sealRandEpoch: head - 1,
    dealIds,
    expiration,
    unsealedCid: { '/': proofs.commDToCid(unsealed) },
  });
  const precommit = async (p: ReturnType<typeof pre>) => {
    const sm = await c.mpoolPushMessage({ To: 't01000', From: worker, Method: MinerMethod.PreCommitSectorBatch2, Params: b64(encodePreCommitBatch2([p])) });
    await h.devnet.advance();
    return c.stateWaitMsg(sm.CID!, 0);
  };
  const err = (l: { ReturnDec: unknown }) => (l.ReturnDec as { Error: string }).Error;
  t.regex(err(await precommit(pre(1, [0, 1], zeroCommP(2048)))), /is not the CommD of its deals' pieces/);
  t.regex(err(await precommit(pre(2, [0, 9], commD))), /deal 9 not found/);
  t.regex(err(await precommit(pre(3, [0, 1], commD, END - 100))), new RegExp(`ends at ${END}, after the sector's expiration ${END - 100}`));
  t.regex(err(await precommit(pre(4, [0, 0], commD))), /named twice/);
  const ok = await precommit(pre(5, [0, 1], commD));
  t.is(ok.Receipt.ExitCode, ExitCode.Ok, JSON.stringify(ok.ReturnDec));
  t.deepEqual((await c.stateSectorPreCommitInfo('t01000', 5))!.Info.DealIDs, [0, 1]);
  t.regex(err(await precommit(pre(6, [1, 0], commD))), /already in another pre-committed sector/);
  // One deal alone: the market pads the rest of the sector with zero pieces.
  const single = buildProposal({ key: bls, commP: commP(6), pieceSize: 512, provider: 't01000', startEpoch: 500, endEpoch: END, providerCollateral: COLL });
  const r3 = await push(worker, [single]);
  const [id3] = decodePublishReturn(fromB64(r3.Receipt.Return)).IDs;
  const padded = await proofs.generateDataCommitment(5, [
    { size: 512, commP: commP(6) },
    { size: 512, commP: zeroCommP(512) },
    { size: 1024, commP: zeroCommP(1024) },
  ]);
  t.is((await precommit(pre(7, [id3], padded))).Receipt.ExitCode, ExitCode.Ok);

  // Lotus writes the key address into a message pushed from an ID address: a publication whose
  // sender is the worker's key address is found too.
  const byKey = buildProposal({ key: bls, commP: commP(8), pieceSize: 1024, provider: 't01000', startEpoch: 500, endEpoch: END, providerCollateral: COLL });
  const rk = await push(await c.stateAccountKey(worker), [byKey]);
  t.is(rk.Receipt.ExitCode, ExitCode.Ok);
  t.deepEqual(await find([byKey, good2], rk.Height), [decodePublishReturn(fromB64(rk.Receipt.Return)).IDs[0], undefined]);

  // The market's state survives a devnet restart.
  await h.devnet.close();
  const { Devnet } = await import('../../src/devnet/node.js');
  const again = await Devnet.open({ dir: h.dir, autoAdvance: false });
  t.deepEqual(Object.keys(again.market.all()), ['0', '1', '2', '3', '4']);
  t.is(again.getMessage(r.Message).Method, MarketMethod.PublishStorageDeals, 'executed messages survive it too');
  t.true(again.listMessages({ To: 't05', From: worker }, again.head(), publishedAt).some((x) => x['/'] === r.Message['/']));
  await again.close();
});
