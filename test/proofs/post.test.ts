// Winning PoSt and Window PoSt with real proofs over sectors sealed once per run.
import test from 'ava';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as proofs from '../../src/proofs/index.js';
import { TEST_MINER_ID, copySector, sealedSectors } from '../helpers/sealed.js';

const WINNING = proofs.RegisteredPoStProof.StackedDrgWinning2KiBV1;
const WINDOW = proofs.RegisteredPoStProof.StackedDrgWindow2KiBV1_1;
const prover = proofs.proverIdFromMinerId(TEST_MINER_ID);
const rand = (n: number) => Buffer.alloc(32, n);

test('winning PoSt: generate, verify, reject tampering', async (t) => {
  const sectors = await sealedSectors(2);
  const r = rand(0x42);
  const idx = await proofs.generateWinningPoStSectorChallenge(WINNING, r, sectors.length, prover);
  t.is(idx.length, 1, 'one challenged sector at 2KiB');
  t.true(idx[0] >= 0 && idx[0] < sectors.length);
  const s = sectors[idx[0]];
  const priv = [{ sectorNumber: s.sectorNumber, commR: s.commR, cacheDir: s.cacheDir, sealedPath: s.sealedPath, postProof: WINNING }];
  const pub = [{ sectorNumber: s.sectorNumber, commR: s.commR, postProof: WINNING }];
  const proof = await proofs.generateWinningPoSt(r, priv, prover);
  t.is(proof.length, 1);
  t.is(proof[0].postProof, WINNING);
  t.true((await proofs.verifyWinningPoSt(r, pub, proof, prover)).valid);
  t.false((await proofs.verifyWinningPoSt(rand(0x43), pub, proof, prover)).valid, 'other randomness');
  // The prover id only chooses which sector is challenged (generateWinningPoStSectorChallenge);
  // the verifier (the devnet, like Lotus) must check that choice itself. The proof is bound to
  // the sector's CommR and number:
  const other = sectors[1 - idx[0]];
  t.false((await proofs.verifyWinningPoSt(r, [{ ...pub[0], commR: other.commR }], proof, prover)).valid, 'other sector commitment');
  t.false((await proofs.verifyWinningPoSt(r, [{ ...pub[0], sectorNumber: other.sectorNumber }], proof, prover)).valid, 'other sector number');
  const bad = Buffer.from(proof[0].proofBytes);
  bad[10] ^= 0xff;
  const v = await proofs.verifyWinningPoSt(r, pub, [{ postProof: WINNING, proofBytes: bad }], prover);
  t.false(v.valid);
  t.regex(v.reason, /winning PoSt does not (verify|decode)/);
});

test('window PoSt: two sectors in one partition, generate and verify', async (t) => {
  const sectors = await sealedSectors(2);
  const r = rand(0x17);
  t.is(await proofs.numPartitionsForWindowPoSt(WINDOW, 2), 1);
  t.is(await proofs.numPartitionsForWindowPoSt(WINDOW, 3), 2);
  const challenges = await proofs.generateFallbackSectorChallenges(
    WINDOW,
    r,
    sectors.map((s) => s.sectorNumber),
    prover,
  );
  t.deepEqual([...challenges.keys()].sort(), sectors.map((s) => s.sectorNumber).sort());
  for (const c of challenges.values()) t.is(c.length, 10, '10 challenges per sector at 2KiB');
  const priv = sectors.map((s) => ({ sectorNumber: s.sectorNumber, commR: s.commR, cacheDir: s.cacheDir, sealedPath: s.sealedPath, postProof: WINDOW }));
  const pub = sectors.map((s) => ({ sectorNumber: s.sectorNumber, commR: s.commR, postProof: WINDOW }));
  const proof = await proofs.generateWindowPoSt(r, priv, prover);
  t.is(proof.length, 1);
  t.true((await proofs.verifyWindowPoSt(r, pub, proof, prover)).valid);
  t.false((await proofs.verifyWindowPoSt(rand(0x18), pub, proof, prover)).valid, 'other randomness');
  const swapped = [
    { ...pub[0], commR: pub[1].commR },
    { ...pub[1], commR: pub[0].commR },
  ];
  t.false((await proofs.verifyWindowPoSt(r, swapped, proof, prover)).valid, 'commitments swapped');
});

test('a corrupted or missing sealed file rejects with the faulty sector, never aborts', async (t) => {
  const sectors = await sealedSectors(2);
  const dir = mkdtempSync(join(tmpdir(), 'dm-faulty-'));
  try {
    const a = copySector(sectors[0], join(dir, 'a'));
    const b = copySector(sectors[1], join(dir, 'b'));
    const priv = (x: typeof a) => ({ sectorNumber: x.sectorNumber, commR: x.commR, cacheDir: x.cacheDir, sealedPath: x.sealedPath, postProof: WINDOW });
    // Missing replica: the error names the sector, so the Window PoSt role can declare it.
    rmSync(b.sealedPath);
    const e1 = await t.throwsAsync(proofs.generateWindowPoSt(rand(1), [priv(a), priv(b)], prover), { instanceOf: proofs.FaultySectorsError });
    t.deepEqual((e1 as proofs.FaultySectorsError).sectors, [b.sectorNumber]);
    // Corrupted replica content.
    writeFileSync(b.sealedPath, Buffer.alloc(2048, 0x55));
    const e2 = await t.throwsAsync(proofs.generateWindowPoSt(rand(2), [priv(a), priv(b)], prover), { instanceOf: proofs.FaultySectorsError });
    t.deepEqual((e2 as proofs.FaultySectorsError).sectors, [b.sectorNumber]);
    // Truncated replica and a missing tree file in the cache.
    truncateSync(b.sealedPath, 1024);
    rmSync(join(b.cacheDir, 'sc-02-data-tree-r-last.dat'));
    const e3 = await t.throwsAsync(proofs.generateWindowPoSt(rand(3), [priv(a), priv(b)], prover), { instanceOf: proofs.FaultySectorsError });
    t.deepEqual((e3 as proofs.FaultySectorsError).sectors, [b.sectorNumber]);
    // The healthy sector alone still proves.
    t.is((await proofs.generateWindowPoSt(rand(4), [priv(a)], prover)).length, 1);
    // Winning PoSt over a missing replica: an error, not a crash.
    rmSync(a.sealedPath);
    const e4 = await t.throwsAsync(proofs.generateWinningPoSt(rand(3), [{ ...priv(a), postProof: proofs.RegisteredPoStProof.StackedDrgWinning2KiBV1 }], prover));
    t.true(e4 instanceof proofs.ProofsError);
    t.regex(e4!.message, /replica|exist|open/i);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
