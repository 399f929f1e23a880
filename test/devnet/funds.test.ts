// The embedded devnet asks for money where the network does (builtin-actors v18, nv28): a miner
// created through the power actor with the creation deposit (FIP-0077), pre-commit deposits and
// initial pledge carried as message value (exit code 19 when short, the value refunded), the
// removed prove-commit methods refused ("invalid method", exit code 22). The seal role's chain
// adapter (lotus-chain.ts) sends exactly what the node names, and a message the node refuses
// comes back as MessageRefusedError with the method and the reason. Proofs are stubbed here
// (the real seal proof is checked in test/devnet/proofs.test.ts and test/sealing/pipeline.test.ts).
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ChainClient } from '../../src/chain/client.js';
import { encodeCreateMiner, encodePreCommitBatch2, encodeProveCommitOne, type PreCommitParams } from '../../src/chain/params.js';
import { ExitCode, MinerMethod, PowerMethod } from '../../src/chain/builtin-actors.js';
import { b64 } from '../../src/chain/encoding.js';
import { createMiner } from '../../src/cli/init.js';
import type { ProofVerifier } from '../../src/devnet/miner.js';
import { devnetFunds } from '../../src/devnet/state.js';
import { lotusSealChain } from '../../src/sealing/lotus-chain.js';
import { MessageRefusedError } from '../../src/sealing/pipeline.js';
import * as proofs from '../../src/proofs/index.js';
import { type Harness, startDevnet } from './_harness.js';

const accept: ProofVerifier = { verifySeal: async () => ({ valid: true, reason: '' }), verifyWindowPoSt: async () => ({ valid: true, reason: '' }) };

async function devnet(): Promise<Harness> {
  return startDevnet({ autoAdvance: true, blockDelayMs: 150, verifier: accept });
}

const commR = (n: number) => {
  const b = Buffer.alloc(32, n);
  b[31] &= 0x3f;
  return b;
};

async function until<T>(f: () => Promise<T | false | undefined | null>, ms = 30_000): Promise<T> {
  for (const end = Date.now() + ms; ; await new Promise((r) => setTimeout(r, 50))) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out');
  }
}

async function push(c: ChainClient, m: { To: string; From: string; Method: number; Value?: bigint; Params?: Buffer }) {
  const sm = await c.mpoolPushMessage({ To: m.To, From: m.From, Method: m.Method, Value: (m.Value ?? 0n).toString(), Params: m.Params ? b64(m.Params) : null });
  return c.stateWaitMsg(sm.CID!, 0, { timeoutMs: 30_000 });
}

test('a miner created on chain pays its deposits: too little value is refused with exit code 19 and refunded, the asked amounts pass', async (t) => {
  const h = await devnet();
  const dir = mkdtempSync(join(tmpdir(), 'distminer-create-'));
  t.teardown(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const c = h.client;
  const created = await createMiner(c, { progressFile: join(dir, 'progress.json'), sectorSize: 2048, ownerFunds: 10n ** 18n, workerFunds: 10n ** 18n });
  t.regex(created.miner, /^t0\d+$/);
  t.not(created.miner, 't01000');
  const info = await c.stateMinerInfo(created.miner);
  t.is(await c.stateAccountKey(info.Worker), created.worker);
  t.is(await c.stateAccountKey(info.Owner), created.owner);
  t.is(info.WindowPoStProofType, proofs.RegisteredPoStProof.StackedDrgWindow2KiBV1_1);
  const creation = await c.stateMinerCreationDeposit();
  t.is(created.deposit, ((creation * 101n) / 100n).toString(), "CreateMiner carried the deposit Lotus names, with Lotus's 1.01 margin");
  t.is(await c.walletBalance(created.miner), BigInt(created.deposit));

  // Pre-commit: the miner's available balance is the 1% margin, far below the deposit.
  const head = (await c.chainHead()).Height;
  const pre = (n: number): PreCommitParams => ({
    sealProof: 5,
    sectorNumber: n,
    sealedCid: { '/': proofs.commRToCid(commR(n)) },
    sealRandEpoch: head - 1,
    dealIds: [],
    expiration: head + 100_000,
    unsealedCid: null,
  });
  const deposit = await c.stateMinerPreCommitDepositForPower(created.miner, {
    SealProof: 5,
    SectorNumber: 1,
    SealedCID: pre(1).sealedCid,
    SealRandEpoch: head - 1,
    DealIDs: [],
    Expiration: head + 100_000,
    UnsealedCid: null,
  });
  t.is(deposit, devnetFunds.preCommitDeposit(2048));
  const before = await c.walletBalance(created.worker);
  const short = await push(c, { To: created.miner, From: created.worker, Method: MinerMethod.PreCommitSectorBatch2, Value: 0n, Params: encodePreCommitBatch2([pre(1)]) });
  t.is(short.Receipt.ExitCode, ExitCode.ErrInsufficientFunds);
  t.regex(JSON.stringify(short.ReturnDec), /insufficient funds .* for pre-commit deposit/);
  t.false(await c.stateMinerSectorAllocated(created.miner, 1), 'nothing was pre-committed');
  const ok = await push(c, { To: created.miner, From: created.worker, Method: MinerMethod.PreCommitSectorBatch2, Value: deposit, Params: encodePreCommitBatch2([pre(1)]) });
  t.is(ok.Receipt.ExitCode, ExitCode.Ok, JSON.stringify(ok.ReturnDec));
  t.is(await c.walletBalance(created.worker), before - deposit, "the refused message's value came back; the accepted one's went to the miner");
  const pc = (await c.stateSectorPreCommitInfo(created.miner, 1))!;
  t.is(pc.PreCommitDeposit, deposit.toString());

  // Prove-commit: the pledge less the released deposit, from the message.
  await until(async () => (await c.chainHead()).Height > pc.PreCommitEpoch + h.devnet.policy.preCommitChallengeDelay);
  const pledge = await c.stateMinerInitialPledgeForSector(pre(1).expiration - (await c.chainHead()).Height, 2048, 0);
  const prove = (value: bigint) => push(c, { To: created.miner, From: created.worker, Method: MinerMethod.ProveCommitSectors3, Value: value, Params: encodeProveCommitOne(1, Buffer.alloc(192, 1)) });
  const shortProve = await prove(0n); // the miner's available 1% margin is less than the pledge
  t.is(shortProve.Receipt.ExitCode, ExitCode.ErrInsufficientFunds);
  t.regex(JSON.stringify(shortProve.ReturnDec), /insufficient funds for aggregate initial pledge requirement/);
  t.is(await c.stateSectorGetInfo(created.miner, 1), null);
  const proved = await prove(pledge - deposit);
  t.is(proved.Receipt.ExitCode, ExitCode.Ok, JSON.stringify(proved.ReturnDec));
  const s = (await c.stateSectorGetInfo(created.miner, 1))!;
  t.is(s.InitialPledge, pledge.toString());
  t.deepEqual(s.DealIDs, []);
});

test('the removed miner methods (6, 7, 26) answer "invalid method" with exit code 22; CreateMiner needs the deposit and a BLS worker', async (t) => {
  const h = await devnet();
  t.teardown(() => h.close());
  const c = h.client;
  const worker = (await c.stateMinerInfo('t01000')).Worker;
  for (const method of [MinerMethod.PreCommitSector, MinerMethod.ProveCommitSector, MinerMethod.ProveCommitAggregate]) {
    const r = await push(c, { To: 't01000', From: worker, Method: method, Params: Buffer.from([0x82, 0x01, 0x40]) });
    t.is(r.Receipt.ExitCode, ExitCode.ErrUnhandledMessage, `method ${method}`);
    t.regex(JSON.stringify(r.ReturnDec), new RegExp(`invalid method: ${method}`));
  }
  const owner = await c.walletDefaultAddress();
  const fresh = await c.walletNew('bls');
  await push(c, { To: fresh, From: owner, Method: 0, Value: 10n ** 18n });
  t.is(await c.walletBalance(fresh), 10n ** 18n);
  t.regex(await c.stateLookupID(fresh), /^t0\d+$/);
  const params = (w: string) => encodeCreateMiner({ owner: fresh, worker: w, windowPoStProofType: proofs.RegisteredPoStProof.StackedDrgWindow2KiBV1_1, peer: Buffer.alloc(0), multiaddrs: [] });
  const deposit = await c.stateMinerCreationDeposit();
  const short = await push(c, { To: 't04', From: fresh, Method: PowerMethod.CreateMiner, Value: deposit - 1n, Params: params(fresh) });
  t.is(short.Receipt.ExitCode, ExitCode.ErrInsufficientFunds);
  t.regex(JSON.stringify(short.ReturnDec), /not enough balance to lock for create miner deposit/);
  t.is(await c.walletBalance(fresh), 10n ** 18n, 'refunded');
  const noWorker = await push(c, {
    To: 't04',
    From: fresh,
    Method: PowerMethod.CreateMiner,
    Value: deposit,
    Params: params('t3vvmn62lofvhjd2ugzca6sof2j2ubwok6cj4xxbfzz4yuxfkgobpihhd2thlanmsh3w2ptld2gqkn2jvlss4a'),
  });
  t.is(noWorker.Receipt.ExitCode, ExitCode.ErrIllegalArgument);
  const ok = await push(c, { To: 't04', From: fresh, Method: PowerMethod.CreateMiner, Value: deposit, Params: params(fresh) });
  t.is(ok.Receipt.ExitCode, ExitCode.Ok);
  t.regex((ok.ReturnDec as { IDAddress: string }).IDAddress, /^t0\d+$/);
});

test('the seal chain adapter sends the deposit and pledge the node names; a refused message is a MessageRefusedError, not lost', async (t) => {
  const h = await devnet();
  const dir = mkdtempSync(join(tmpdir(), 'distminer-create-'));
  t.teardown(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const c = h.client;
  // A worker with no funds at all: the node refuses the pre-commit at the door.
  const created = await createMiner(c, { progressFile: join(dir, 'progress.json'), sectorSize: 2048, ownerFunds: 10n ** 17n, workerFunds: 0n });
  const id = Number(created.miner.slice(2));
  const chain = lotusSealChain(c, id);
  const head = await chain.head();
  const sector = { number: 3, proof: 5, commR: commR(3), commD: Buffer.alloc(32), ticketEpoch: head - 1, hasData: false, expiration: chain.expiration(head) };
  const err = await t.throwsAsync(chain.sendPreCommit(sector), { instanceOf: MessageRefusedError });
  t.is(err!.method, 'PreCommitSectorBatch2');
  t.regex(err!.message, /not enough funds/);
  await push(c, { To: created.worker, From: await c.walletDefaultAddress(), Method: 0, Value: 10n ** 18n });
  const sent = await chain.sendPreCommit(sector);
  const at = await c.chainGetTipSetByHeight(sent.askedAt!);
  t.is(
    sent.value,
    (
      await c.stateMinerPreCommitDepositForPower(
        created.miner,
        { SealProof: 5, SectorNumber: 3, SealedCID: { '/': proofs.commRToCid(commR(3)) }, SealRandEpoch: head - 1, DealIDs: [], Expiration: sector.expiration, UnsealedCid: null },
        at.Cids,
      )
    ).toString(),
  );
  const msg = await c.chainGetMessage({ '/': sent.cid });
  t.is(msg.Method, MinerMethod.PreCommitSectorBatch2);
  t.is(msg.Value, sent.value);
  t.is((await chain.waitMessage(sent.cid)).exitCode, 0);
  const on = (await chain.preCommitOnChain(3))!;
  await until(async () => (await chain.head()) > on.preCommitEpoch + (await chain.preCommitChallengeDelay()));
  const proved = await chain.sendProveCommit({ number: 3, proof: Buffer.alloc(192, 3), deals: [] });
  const pmsg = await c.chainGetMessage({ '/': proved.cid });
  t.is(pmsg.Method, MinerMethod.ProveCommitSectors3);
  t.is(pmsg.Value, proved.value);
  t.is(BigInt(proved.value), devnetFunds.initialPledge(2048) - devnetFunds.preCommitDeposit(2048), 'the pledge less the deposit already locked');
  t.is((await chain.waitMessage(proved.cid)).exitCode, 0);
  t.true(await chain.sectorOnChain(3));
});

test("MpoolPushMessage's MsgUuid, as Lotus: a second push with one uuid answers with the first message and sends nothing, also after a restart; a malformed uuid is refused", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-devnet-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let h = await startDevnet({ dir });
  const worker = (await h.client.stateMinerInfo('t01000')).Worker;
  const uuid = '4b0c1a52-8f0e-4d5c-9a53-2f6a1c9e7b10';
  const msg = { To: 't0100', From: worker, Method: 0, Value: '5' };
  const first = await h.client.mpoolPushMessage(msg, { MsgUuid: uuid });
  const second = await h.client.mpoolPushMessage({ ...msg, Value: '6' }, { MsgUuid: uuid });
  t.deepEqual(second.CID, first.CID, 'the message already sent for that uuid');
  t.is(second.Message.Value, '5');
  // Without a uuid, or with the nil uuid, every push is a new message.
  const plain = await h.client.mpoolPushMessage(msg, { MsgUuid: '00000000-0000-0000-0000-000000000000' });
  t.is(plain.Message.Nonce, first.Message.Nonce + 1);
  await t.throwsAsync(h.client.mpoolPushMessage(msg, { MsgUuid: 'not-a-uuid' }), { message: /MsgUuid must be a UUID/ });
  // Restarted before the message ran (it is in the mpool journal only), then after (in the snapshot).
  await h.close(true);
  h = await startDevnet({ dir });
  t.deepEqual((await h.client.mpoolPushMessage(msg, { MsgUuid: uuid })).CID, first.CID);
  await h.devnet.advance();
  t.is((await h.client.stateWaitMsg(first.CID!, 0)).Receipt.ExitCode, ExitCode.Ok);
  await h.close(true);
  h = await startDevnet({ dir });
  t.teardown(() => h.close(true));
  t.deepEqual((await h.client.mpoolPushMessage(msg, { MsgUuid: uuid })).CID, first.CID);
  const next = await h.client.mpoolPushMessage(msg);
  t.is(next.Message.Nonce, plain.Message.Nonce + 1, 'nothing was sent for the repeated pushes');
});
