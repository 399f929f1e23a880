// Devnet state transitions with REAL proofs (2KiB sectors sealed once per test run):
// prove-commit (valid accepted, tampered rejected), Window PoSt (in window, wrong partition,
// tampered, outside the window), missed deadline → faults and power loss, declared recovery
// → power back after the next proof, Winning PoSt blocks (bad one rejected, good one mined).
import test from 'ava';
import * as proofs from '../../src/proofs/index.js';
import { newDeadlineInfo, nextNotElapsed } from '../../src/chain/deadlines.js';
import { computeWinCount } from '../../src/chain/crypto.js';
import { electionVrfInput, randomnessBeacon, ticketVrfInput, winningPoStRandomness } from '../../src/chain/mining.js';
import { encodeDeclarations, encodeProveCommitOne, encodeWindowPoSt, type WindowPoStParams } from '../../src/chain/params.js';
import { addressCbor } from '../../src/chain/address.js';
import { DomainSeparationTag, ExitCode, MinerMethod } from '../../src/chain/builtin-actors.js';
import type { Cid } from '../../src/chain/cid.js';
import { b64, fromB64 } from '../../src/chain/encoding.js';
import { RpcError } from '../../src/chain/client.js';
import { pieceManifest, preCommitFixture, sealedSectors, SEAL_PROOF, TEST_MINER_ID } from '../helpers/sealed.js';
import { TEST_POLICY, startDevnet } from './_harness.js';

const MINER = `t0${TEST_MINER_ID}`;

test('sector lifecycle and block production with real proofs', async (t) => {
  const fixture = await sealedSectors(2);
  const h = await startDevnet({
    pinnedSealRandomness: fixture.map((s) => ({ miner: s.minerId, sector: s.sectorNumber, ticket: s.ticket.toString('hex'), seed: s.seed.toString('hex') })),
  });
  t.teardown(() => h.close());
  const c = h.client;
  const d = h.devnet;
  const worker = (await c.stateMinerInfo(MINER)).Worker;
  const proverId = proofs.proverIdFromMinerId(TEST_MINER_ID);
  const windowProof = proofs.windowPoStProofFor(SEAL_PROOF);
  const push = async (method: number, params: Buffer) => (await c.mpoolPushMessage({ To: MINER, From: worker, Method: method, Params: b64(params) })).CID!;
  const receipt = async (cid: Cid) => (await c.stateWaitMsg(cid, 0, { timeoutMs: 5000 })).Receipt.ExitCode;
  const why = async (cid: Cid) => JSON.stringify((await c.stateWaitMsg(cid)).ReturnDec);

  // ---- pre-commit and prove-commit
  await d.advanceTo(2);
  const pc = await push(MinerMethod.PreCommitSectorBatch2, preCommitFixture(fixture, 1, 10_000));
  await d.advance();
  t.is(await receipt(pc), ExitCode.Ok);
  await d.advanceTo(5); // precommit at 3 + delay 2: proofs execute from epoch 6
  const tampered = Buffer.from(fixture[0].proofBytes);
  tampered[40] ^= 0x01;
  const bad = await push(MinerMethod.ProveCommitSectors3, encodeProveCommitOne(1, tampered, pieceManifest(fixture[0])));
  const good = await Promise.all(fixture.map((s) => push(MinerMethod.ProveCommitSectors3, encodeProveCommitOne(s.sectorNumber, s.proofBytes, pieceManifest(s)))));
  await d.advance();
  t.is(await receipt(bad), ExitCode.ErrIllegalArgument);
  t.regex(await why(bad), /invalid seal proof/);
  t.deepEqual(await Promise.all(good.map(receipt)), [ExitCode.Ok, ExitCode.Ok]);
  t.is(await c.stateSectorPreCommitInfo(MINER, 1), null);
  t.is((await c.stateSectorGetInfo(MINER, 1))!.Activation, 6);
  const loc = await c.stateSectorPartition(MINER, 1);
  t.deepEqual(await c.stateSectorPartition(MINER, 2), loc); // 2 sectors per partition: same one
  t.is(loc.Partition, 0);
  t.is((await c.stateMinerPower(MINER)).MinerPower.RawBytePower, '0'); // unproven: no power yet

  // ---- Window PoSt for the sectors' deadline
  const D = loc.Deadline;
  const dlAt = (epoch: number) => nextNotElapsed(newDeadlineInfo({ ...TEST_POLICY }, d.miner(MINER).deadlineInfo(epoch).PeriodStart, D, epoch));
  const replicas = fixture.map((s) => ({ sectorNumber: s.sectorNumber, commR: s.commR, cacheDir: s.cacheDir, sealedPath: s.sealedPath, postProof: windowProof }));
  const prove = async (): Promise<WindowPoStParams> => {
    const dl = await c.stateMinerProvingDeadline(MINER);
    t.is(dl.Index, D);
    const rand = await c.stateGetRandomnessFromBeacon(DomainSeparationTag.WindowedPoStChallengeSeed, dl.Challenge, addressCbor(MINER));
    const ps = await proofs.generateWindowPoSt(rand, replicas, proverId);
    // Committed to the challenge epoch, as lotus-miner does: behind the head, inside the deadline's range.
    const commit = await c.stateGetRandomnessFromTickets(DomainSeparationTag.PoStChainCommit, dl.Challenge, Buffer.alloc(0));
    return { deadline: D, partitions: [{ index: 0, skipped: [] }], proofs: ps, chainCommitEpoch: dl.Challenge, chainCommitRand: commit };
  };
  let open = dlAt(d.head().Height).Open;
  t.true(open > d.head().Height);
  await d.advanceTo(open);
  const post = await prove();
  const wrongPart = await push(MinerMethod.SubmitWindowedPoSt, encodeWindowPoSt({ ...post, partitions: [{ index: 1, skipped: [] }] }));
  const badProof = Buffer.from(post.proofs[0].proofBytes);
  badProof[10] ^= 0x01;
  const tamperedPost = await push(MinerMethod.SubmitWindowedPoSt, encodeWindowPoSt({ ...post, proofs: [{ ...post.proofs[0], proofBytes: badProof }] }));
  // More partitions than PoStedPartitionsMax (3) in one message: the actors refuse it.
  const tooMany = await push(MinerMethod.SubmitWindowedPoSt, encodeWindowPoSt({ ...post, partitions: [0, 1, 2, 3].map((index) => ({ index, skipped: [] })) }));
  const okPost = await push(MinerMethod.SubmitWindowedPoSt, encodeWindowPoSt(post));
  const dupPost = await push(MinerMethod.SubmitWindowedPoSt, encodeWindowPoSt(post));
  await d.advance();
  t.is(await receipt(wrongPart), ExitCode.ErrNotFound);
  t.is(await receipt(tooMany), ExitCode.ErrIllegalArgument);
  t.regex(await why(tooMany), /too many partitions 4, limit 3/);
  t.is(await receipt(tamperedPost), ExitCode.ErrIllegalArgument);
  t.regex(await why(tamperedPost), /invalid PoSt/);
  t.is(await receipt(okPost), ExitCode.Ok);
  t.is(await receipt(dupPost), ExitCode.ErrIllegalArgument);
  t.is((await c.stateMinerPower(MINER)).MinerPower.RawBytePower, '4096');
  t.deepEqual((await c.stateMinerPartitions(MINER, D))[0].ActiveSectors, [1, 2]);
  // the same proof after the window has closed
  await d.advanceTo(open + TEST_POLICY.wpostChallengeWindow);
  // Lotus's gas estimation (at the head's epoch) refuses it at push; so does the devnet's.
  await t.throwsAsync(push(MinerMethod.SubmitWindowedPoSt, encodeWindowPoSt(post)), { message: /estimating gas used:[\s\S]*invalid deadline/ });
  // And a commitment epoch that is not behind the head, while the deadline is open.
  await d.advanceTo(open + TEST_POLICY.wpostChallengeWindow * TEST_POLICY.wpostPeriodDeadlines + 1);
  const dlNow = await c.stateMinerProvingDeadline(MINER);
  const hNow = d.head().Height;
  const commitNow = await c.stateGetRandomnessFromTickets(DomainSeparationTag.PoStChainCommit, hNow, Buffer.alloc(0));
  t.is(dlNow.Index, D);
  await t.throwsAsync(push(MinerMethod.SubmitWindowedPoSt, encodeWindowPoSt({ ...post, chainCommitEpoch: hNow, chainCommitRand: commitNow })), {
    message: new RegExp(`chain commit epoch ${hNow} must be less than the current epoch ${hNow}`),
  });

  // ---- missed deadline: faults, power drops
  const period = TEST_POLICY.wpostChallengeWindow * TEST_POLICY.wpostPeriodDeadlines;
  open += period;
  await d.advanceTo(open + TEST_POLICY.wpostChallengeWindow - 1); // cron at the deadline's last epoch
  t.deepEqual(await c.stateMinerFaults(MINER), [1, 2]);
  t.is((await c.stateMinerPower(MINER)).MinerPower.RawBytePower, '0');

  // ---- declare recovery before the cutoff, prove in the next occurrence: power back
  const rec = await push(MinerMethod.DeclareFaultsRecovered, encodeDeclarations([{ deadline: D, partition: 0, sectors: [1, 2] }]));
  await d.advance();
  t.is(await receipt(rec), ExitCode.Ok);
  t.deepEqual(await c.stateMinerRecoveries(MINER), [1, 2]);
  open += period;
  await d.advanceTo(open);
  const post2 = await prove();
  const ok2 = await push(MinerMethod.SubmitWindowedPoSt, encodeWindowPoSt(post2));
  await d.advance();
  t.is(await receipt(ok2), ExitCode.Ok);
  t.deepEqual(await c.stateMinerFaults(MINER), []);
  t.deepEqual(await c.stateMinerRecoveries(MINER), []);
  t.is((await c.stateMinerPower(MINER)).MinerPower.RawBytePower, '4096');
  // a late declaration (past the next occurrence's cutoff) is refused
  await d.advanceTo(open + period - TEST_POLICY.faultDeclarationCutoff);
  const lateFault = await push(MinerMethod.DeclareFaults, encodeDeclarations([{ deadline: D, partition: 0, sectors: [1] }]));
  await d.advance();
  t.is(await receipt(lateFault), ExitCode.ErrIllegalArgument);

  // ---- Winning PoSt: election, ticket, proof; a bad proof is rejected, a good block is mined
  const version = await c.version();
  let base = null;
  let round = 0;
  let vrf: Buffer = Buffer.alloc(0);
  let wins = 0;
  for (let tries = 0; tries < 20 && wins === 0; tries++) {
    const head = await c.chainHead();
    round = head.Height + 1;
    base = await c.minerGetBaseInfo(MINER, round, head.Cids);
    t.truthy(base);
    vrf = fromB64((await c.walletSign(base!.WorkerKey, electionVrfInput(randomnessBeacon(base!.PrevBeaconEntry, base!.BeaconEntries), round, MINER))).Data);
    wins = computeWinCount(vrf, BigInt(base!.MinerPower), BigInt(base!.NetworkPower));
    if (wins === 0) await d.advance();
  }
  t.true(wins > 0);
  t.true(base!.EligibleForMining);
  t.is(base!.Sectors.length, 1);
  const head = await c.chainHead();
  const rbase = randomnessBeacon(base!.PrevBeaconEntry, base!.BeaconEntries);
  const ticket = (await c.walletSign(base!.WorkerKey, ticketVrfInput(rbase, round, MINER, head))).Data;
  const wrand = winningPoStRandomness(rbase, round, MINER);
  const sector = fixture.find((s) => s.sectorNumber === base!.Sectors[0].SectorNumber)!;
  const winProof = await proofs.generateWinningPoSt(
    wrand,
    [{ sectorNumber: sector.sectorNumber, commR: sector.commR, cacheDir: sector.cacheDir, sealedPath: sector.sealedPath, postProof: proofs.winningPoStProofFor(SEAL_PROOF) }],
    proverId,
  );
  const template = (proof: Buffer, winCount = wins) => ({
    Miner: MINER,
    Parents: head.Cids,
    Ticket: { VRFProof: ticket },
    Eproof: { WinCount: winCount, VRFProof: b64(vrf) },
    BeaconValues: base!.BeaconEntries,
    Messages: [],
    Epoch: round,
    Timestamp: head.Blocks[0].Timestamp + version.BlockDelay * (round - head.Height),
    WinningPoStProof: [{ PoStProof: winProof[0].postProof, ProofBytes: b64(proof) }],
  });
  const badWin = Buffer.from(winProof[0].proofBytes);
  badWin[5] ^= 0x01;
  await t.throwsAsync(c.syncSubmitBlock(await c.minerCreateBlock(template(badWin))), { instanceOf: RpcError, message: /invalid Winning PoSt/ });
  await t.throwsAsync(c.syncSubmitBlock(await c.minerCreateBlock(template(winProof[0].proofBytes, wins + 1))), { message: /win count/ });
  const blk = await c.minerCreateBlock(template(winProof[0].proofBytes));
  await c.syncSubmitBlock(blk);
  await t.throwsAsync(c.syncSubmitBlock(blk), { message: /already has a block/ });
  const mined = await d.advance();
  t.is(mined.Height, round);
  t.is(mined.Blocks.length, 1);
  t.is(mined.Blocks[0].Miner, MINER);
  t.is(mined.Blocks[0].ElectionProof!.WinCount, wins);
});
