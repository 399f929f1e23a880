// The devnet market's escrow over the real API, as builtin-actors v18 keeps it and Lotus serves
// it: a client funds its own escrow with AddBalance signed by its own key (MpoolGetNonce,
// GasEstimateMessageGas, MpoolPush — the path of `distminer client market add`), the provider
// from its worker through the node's wallet; StateMarketBalance shows Escrow and Locked;
// PublishStorageDeals drops, deal by deal, one whose client or provider is short or whose
// provider collateral is below the floor (StateDealProviderCollateralBounds) and locks what the
// others need; the escrow survives a restart. Refusals of MpoolPush: a bad signature, a low
// nonce, too little balance — nothing queued.
import test from 'ava';
import { type ClientDealProposal, DEAL_MIN_DURATION, MarketMethod, decodePublishReturn, encodePublishStorageDeals } from '../../src/chain/market.js';
import { messageCid } from '../../src/chain/crypto.js';
import type { Message, MsgLookup, SignedMessage } from '../../src/chain/api-types.js';
import { ExitCode } from '../../src/chain/builtin-actors.js';
import { type Cid, cidBytes } from '../../src/chain/cid.js';
import { b64, fromB64 } from '../../src/chain/encoding.js';
import { buildProposal } from '../../src/deals/client.js';
import { addBalanceParams, clientAddBalance } from '../../src/deals/escrow.js';
import { newClientKey, sign } from '../../src/deals/keys.js';
import { DEVNET_BASELINE_POWER, DEVNET_CIRCULATING_SUPPLY, TOTAL_FILECOIN, providerCollateralBounds } from '../../src/devnet/market.js';
import { Devnet } from '../../src/devnet/node.js';
import { signedMessageCid } from '../../src/devnet/mpool.js';
import { addBalance, send, startDevnet } from './_harness.js';

const FIL = 10n ** 18n;
const commP = (seed: number) => {
  const b = Buffer.alloc(32, seed);
  b[31] &= 0x3f;
  return b;
};

test('a client key the devnet does not hold funds its escrow through MpoolPush; StateMarketBalance shows it, also after a restart; bad pushes are refused', async (t) => {
  const h = await startDevnet();
  t.teardown(() => h.close());
  const c = h.client;
  const owner = (await c.stateMinerInfo('t01000')).Owner;
  const secp = newClientKey('secp256k1');
  const bls = newClientKey('bls');
  const stranger = newClientKey('secp256k1');

  // An address with no actor: no nonce, no market balance (Lotus's lookup errors).
  await t.throwsAsync(c.call('Filecoin.MpoolGetNonce', [secp.address]), { message: /actor not found/ });
  await t.throwsAsync(c.call('Filecoin.StateMarketBalance', [secp.address, null]), { message: /resolution lookup failed.*actor not found/ });
  await t.throwsAsync(clientAddBalance(c, stranger, FIL, 'testnet'), { message: /actor not found/ }, 'an unfunded key cannot send');

  await send(h, owner, secp.address, 10n * FIL);
  await send(h, owner, bls.address, 10n * FIL);
  t.is(await c.call<number>('Filecoin.MpoolGetNonce', [secp.address]), 0);
  t.deepEqual(await c.call('Filecoin.StateMarketBalance', [secp.address, null]), { Escrow: '0', Locked: '0' }, 'a resolvable address without an entry has zeros');

  // The gas estimate: the devnet's flat figures, capped by MaxFee like Lotus's CapGasFee.
  const draft: Message = {
    Version: 0,
    To: 't05',
    From: secp.address,
    Nonce: 0,
    Value: FIL.toString(),
    GasLimit: 0,
    GasFeeCap: '0',
    GasPremium: '0',
    Method: MarketMethod.AddBalance,
    Params: b64(addBalanceParams(secp.address)),
  };
  const est = await c.call<Message>('Filecoin.GasEstimateMessageGas', [draft, null, null]);
  t.like(est, { GasLimit: 50_000_000, GasFeeCap: '100000', GasPremium: '100000', Nonce: 0, Value: FIL.toString() });
  const capped = await c.call<Message>('Filecoin.GasEstimateMessageGas', [draft, { MaxFee: '1000000000000' }, null]);
  t.true(BigInt(capped.GasFeeCap) * BigInt(capped.GasLimit) <= 10n ** 12n, 'GasFeeCap × GasLimit ≤ MaxFee');
  t.true(BigInt(capped.GasPremium) <= BigInt(capped.GasFeeCap));
  await t.throwsAsync(
    c.call('Filecoin.GasEstimateMessageGas', [{ ...draft, Value: '0' }, null, null]),
    { message: /exit=\[16\].*balance to add must be greater than zero/s },
    "estimation runs the actor's checks",
  );

  // The client's own AddBalance (src/deals/escrow.ts): secp256k1 is known by its signed message's CID, BLS by the message's.
  const cidSecp = await clientAddBalance(c, secp, 2n * FIL, 'testnet');
  const cidBls = await clientAddBalance(c, bls, 3n * FIL, 'testnet');
  const msgSecp = await c.chainGetMessage(cidSecp);
  t.is(msgSecp.Method, MarketMethod.AddBalance);
  t.not(cidSecp['/'], messageCid(msgSecp)['/'], 'a secp256k1 message is known by its signed CID');
  t.is(cidBls['/'], messageCid(await c.chainGetMessage(cidBls))['/'], 'a BLS message by its own CID');
  t.is(await c.call<number>('Filecoin.MpoolGetNonce', [secp.address]), 1, 'the pending message counts');
  const pending = await c.call<SignedMessage[]>('Filecoin.MpoolPending', [null]);
  t.deepEqual(pending.map((m) => m.CID!['/']).sort(), [cidSecp['/'], cidBls['/']].sort());

  // Refused: nothing queued.
  const nonce = 1;
  const m1: Message = { ...est, Nonce: nonce, Value: FIL.toString() };
  delete m1.CID;
  const signedBy = (k: typeof secp, m: Message) => ({ Message: m, Signature: sign(k, cidBytes(messageCid(m))) });
  await t.throwsAsync(c.call('Filecoin.MpoolPush', [signedBy(stranger, m1)]), { message: /failed to validate signature: the signature was not made by/ });
  await t.throwsAsync(c.call('Filecoin.MpoolPush', [{ Message: m1, Signature: sign(bls, cidBytes(messageCid(m1))) }]), { message: /failed to validate signature: .*secp256k1 \(Type 1\)/ });
  await t.throwsAsync(c.call('Filecoin.MpoolPush', [signedBy(secp, { ...m1, Nonce: 0 })]), { message: /already in mpool/ });
  await t.throwsAsync(c.call('Filecoin.MpoolPush', [signedBy(secp, { ...m1, Value: (9n * FIL).toString() })]), { message: /not enough funds including pending messages/ });
  await t.throwsAsync(
    c.call('Filecoin.MpoolPush', [signedBy(secp, { ...m1, GasFeeCap: (10n ** 12n).toString() })]),
    { message: /not enough funds \(required: 50 FIL, balance: 10 FIL\)/ },
    'the gas must be covered',
  );
  await t.throwsAsync(c.call('Filecoin.MpoolPush', [signedBy(secp, { ...m1, Nonce: 5 })]), { message: /nonce gap/ });
  t.is((await c.call<SignedMessage[]>('Filecoin.MpoolPending', [null])).length, 2);

  // Executed: the value moves from the client to the market, into the client's escrow.
  await h.devnet.advance();
  const l = await c.stateWaitMsg(cidSecp, 0);
  t.is(l.Receipt.ExitCode, ExitCode.Ok);
  t.is(l.Message['/'], cidSecp['/']);
  t.is((await c.call<MsgLookup | null>('Filecoin.StateSearchMsg', [null, cidSecp, -1, true]))?.Height, l.Height);
  t.is((await c.stateWaitMsg(cidBls, 0)).Receipt.ExitCode, ExitCode.Ok);
  t.deepEqual(await c.call('Filecoin.StateMarketBalance', [secp.address, null]), { Escrow: (2n * FIL).toString(), Locked: '0' });
  const blsId = await c.call<string>('Filecoin.StateLookupID', [bls.address, null]);
  t.deepEqual(await c.call('Filecoin.StateMarketBalance', [blsId, null]), { Escrow: (3n * FIL).toString(), Locked: '0' }, 'by ID address too');
  t.is(await c.walletBalance(secp.address), 8n * FIL);
  t.is(await c.walletBalance('t05'), 5n * FIL, 'the market actor holds the escrow');
  t.deepEqual(
    (await c.stateListMessages({ To: 't05', From: secp.address }, 0))?.map((x) => x['/']),
    [cidSecp['/']],
    'StateListMessages names it by the CID StateWaitMsg takes',
  );

  // A second message from the same key, after the first: the nonce goes on.
  const cid2 = await clientAddBalance(c, secp, FIL, 'testnet');
  t.is((await c.chainGetMessage(cid2)).Nonce, 1);
  // What execution refuses (no estimation on MpoolPush): a zero value, an address with no actor.
  const raw = async (value: bigint, target: string) => {
    const n = await c.call<number>('Filecoin.MpoolGetNonce', [secp.address]);
    const m: Message = { ...est, Nonce: n, Value: value.toString(), Params: b64(addBalanceParams(target)) };
    delete m.CID;
    const cid = await c.call<Cid>('Filecoin.MpoolPush', [signedBy(secp, m)]);
    t.is(cid['/'], signedMessageCid(m, signedBy(secp, m).Signature)['/']);
    return cid;
  };
  const zero = await raw(0n, secp.address);
  const unknown = await raw(FIL, stranger.address);
  await h.devnet.advance();
  t.is((await c.stateWaitMsg(cid2, 0)).Receipt.ExitCode, ExitCode.Ok);
  const lz = await c.stateWaitMsg(zero, 0);
  t.is(lz.Receipt.ExitCode, ExitCode.ErrIllegalArgument);
  t.regex((lz.ReturnDec as { Error: string }).Error, /balance to add must be greater than zero/);
  const lu = await c.stateWaitMsg(unknown, 0);
  t.is(lu.Receipt.ExitCode, ExitCode.ErrIllegalArgument);
  t.regex((lu.ReturnDec as { Error: string }).Error, /failed to resolve address/);
  t.is(await c.walletBalance(secp.address), 7n * FIL, 'a failed AddBalance keeps its value');
  // The provider's collateral from its owner through the node's wallet, params the miner's address.
  await addBalance(h, owner, 't01000', 4n * FIL);
  t.deepEqual(await c.call('Filecoin.StateMarketBalance', ['t01000', null]), { Escrow: (4n * FIL).toString(), Locked: '0' });

  // The escrow is part of the state snapshot.
  await h.devnet.close();
  const again = await Devnet.open({ dir: h.dir, autoAdvance: false });
  const secpId = Number(again.lookupId(secp.address).slice(2));
  t.deepEqual(again.market.balance(secpId), { escrow: 3n * FIL, locked: 0n });
  t.deepEqual(again.market.balance(1000), { escrow: 4n * FIL, locked: 0n });
  t.is(again.getMessage(cidSecp).Method, MarketMethod.AddBalance, 'the signed message is found by its CID after the restart');
  await again.close();
});

test('PublishStorageDeals checks escrow and the collateral floor deal by deal and locks what the valid deals need', async (t) => {
  const h = await startDevnet();
  t.teardown(() => h.close());
  const c = h.client;
  const info = await c.stateMinerInfo('t01000');
  const [owner, worker] = [info.Owner, info.Worker];

  // The bounds: builtin-actors' floor over the devnet's figures (no power yet: the baseline), raised 10% as Lotus answers it.
  const floor = providerCollateralBounds(1024, 0n);
  t.is(floor.min, (1024n * DEVNET_CIRCULATING_SUPPLY) / (DEVNET_BASELINE_POWER * 100n));
  const bounds = await c.call<{ Min: string; Max: string }>('Filecoin.StateDealProviderCollateralBounds', [1024, false, null]);
  t.deepEqual(bounds, { Min: ((floor.min * 110n) / 100n).toString(), Max: TOTAL_FILECOIN.toString() });
  t.deepEqual(await c.call('Filecoin.StateDealProviderCollateralBounds', [1024, true, null]), bounds, 'verified deals: the same bounds');
  t.true(BigInt((await c.call<{ Min: string }>('Filecoin.StateDealProviderCollateralBounds', [2048, false, null])).Min) > BigInt(bounds.Min), 'a bigger piece needs more');

  const a = newClientKey('secp256k1');
  const b = newClientKey('bls');
  const z = newClientKey('secp256k1');
  for (const k of [a, b, z]) await send(h, owner, k.address, FIL);
  await addBalance(h, owner, a.address, 1_200_000n);
  const C = BigInt(bounds.Min);
  await addBalance(h, owner, 't01000', 2n * C + floor.min);
  const head = (await c.chainHead()).Height;
  t.true(head < 400);
  // price 1 attoFIL/epoch over the minimum duration: 518400 from the client's escrow.
  const deal = (key: typeof a, seed: number, price: bigint, coll: bigint) =>
    buildProposal({ key, commP: commP(seed), pieceSize: 1024, provider: 't01000', startEpoch: 500, endEpoch: 500 + DEAL_MIN_DURATION, pricePerEpoch: price, providerCollateral: coll });
  const deals: ClientDealProposal[] = [
    deal(a, 1, 1n, C), // ok: client 518400 of 1200000, provider C
    deal(b, 2, 1n, C), // client b has no escrow
    deal(z, 3, 0n, floor.min - 1n), // below the floor
    deal(a, 4, 1n, C), // ok: client 1036800, provider 2C
    deal(z, 5, 0n, C), // provider short: 3C > 2C + floor
    deal(a, 6, 1n, floor.min), // client short: 1555200 > 1200000
    deal(z, 7, 0n, floor.min), // ok: exactly the floor, provider 2C + floor = its escrow
  ];
  const sm = await c.mpoolPushMessage({ To: 't05', From: worker, Method: MarketMethod.PublishStorageDeals, Params: b64(encodePublishStorageDeals(deals)) });
  await h.devnet.advance();
  const r = await c.stateWaitMsg(sm.CID!, 0);
  t.is(r.Receipt.ExitCode, ExitCode.Ok, JSON.stringify(r.ReturnDec));
  t.deepEqual(decodePublishReturn(fromB64(r.Receipt.Return)).ValidDeals, [0, 3, 6]);
  t.deepEqual(await c.call('Filecoin.StateMarketBalance', [a.address, null]), { Escrow: '1200000', Locked: '1036800' });
  t.deepEqual(await c.call('Filecoin.StateMarketBalance', [b.address, null]), { Escrow: '0', Locked: '0' });
  t.deepEqual(await c.call('Filecoin.StateMarketBalance', ['t01000', null]), { Escrow: (2n * C + floor.min).toString(), Locked: (2n * C + floor.min).toString() });

  // Only short deals: the whole message fails, nothing more locked.
  const sm2 = await c.mpoolPushMessage({ To: 't05', From: worker, Method: MarketMethod.PublishStorageDeals, Params: b64(encodePublishStorageDeals([deal(a, 8, 1n, 0n), deal(z, 9, 0n, C)])) });
  await h.devnet.advance();
  const r2 = await c.stateWaitMsg(sm2.CID!, 0);
  t.is(r2.Receipt.ExitCode, ExitCode.ErrIllegalArgument);
  t.regex((r2.ReturnDec as { Error: string }).Error, /deal 0: Provider collateral out of bounds.*deal 1: insufficient provider funds/);
  t.deepEqual(await c.call('Filecoin.StateMarketBalance', [a.address, null]), { Escrow: '1200000', Locked: '1036800' });
  // The locks survive a restart.
  await h.devnet.close();
  const again = await Devnet.open({ dir: h.dir, autoAdvance: false });
  t.deepEqual(again.market.balance(1000), { escrow: 2n * C + floor.min, locked: 2n * C + floor.min });
  await again.close();
});
