// Bad input to the proofs API: clear errors, rejected promises, never an abort; concurrent
// proofs do not interfere; long proofs do not block libuv's thread pool.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import * as proofs from '../../src/proofs/index.js';
import { SEAL_PROOF, TEST_MINER_ID, sealedSectors } from '../helpers/sealed.js';

const WINNING = proofs.RegisteredPoStProof.StackedDrgWinning2KiBV1;
const WINDOW = proofs.RegisteredPoStProof.StackedDrgWindow2KiBV1_1;
const prover = proofs.proverIdFromMinerId(TEST_MINER_ID);

test('a Rust panic becomes a rejected promise', async (t) => {
  const e = await t.throwsAsync(proofs.debugPanic('deliberate'), { instanceOf: proofs.ProofsError });
  t.is(e!.kind, 'receiver');
  t.regex(e!.message, /panic in proofs library: deliberate/);
  // The process and the pool survive it.
  t.is((await proofs.generateWinningPoStSectorChallenge(WINNING, Buffer.alloc(32, 1), 5, prover)).length, 1);
});

test('wrong proof types are refused with a clear message', async (t) => {
  const [s] = await sealedSectors(1);
  const priv = { sectorNumber: s.sectorNumber, commR: s.commR, cacheDir: s.cacheDir, sealedPath: s.sealedPath };
  await t.throwsAsync(proofs.generateWinningPoSt(Buffer.alloc(32), [{ ...priv, postProof: WINDOW }], prover), { message: /not a Winning PoSt type/ });
  await t.throwsAsync(proofs.generateWindowPoSt(Buffer.alloc(32), [{ ...priv, postProof: WINNING }], prover), { message: /not a Window PoSt type/ });
  await t.throwsAsync(proofs.generateWinningPoSt(Buffer.alloc(32), [{ ...priv, postProof: 99 as proofs.RegisteredPoStProof }], prover), { message: /unknown RegisteredPoStProof 99/ });
  await t.throwsAsync(proofs.generateDataCommitment(42 as proofs.RegisteredSealProof, []), { message: /unknown RegisteredSealProof 42/ });
  await t.throwsAsync(proofs.generateWinningPoStSectorChallenge(WINDOW, Buffer.alloc(32), 1, prover), { message: /not a Winning PoSt type/ });
  t.throws(() => proofs.parseSealProof('StackedDrg3KiBV1'), { message: /unknown seal proof type/ });
  t.is(proofs.parsePoStProof('StackedDrgWindow2KiBV1_2'), WINDOW, 'the proofs library name is accepted too');
});

test('randomness, commitments and ids of the wrong length are refused', async (t) => {
  const [s] = await sealedSectors(1);
  const priv = [{ sectorNumber: s.sectorNumber, commR: s.commR, cacheDir: s.cacheDir, sealedPath: s.sealedPath, postProof: WINNING }];
  await t.throwsAsync(proofs.generateWinningPoSt(Buffer.alloc(31), priv, prover), { message: /randomness must be 32 bytes, got 31/ });
  await t.throwsAsync(proofs.generateWinningPoSt(Buffer.alloc(32), [{ ...priv[0], commR: Buffer.alloc(5) }], prover), { message: /commR must be 32 bytes/ });
  await t.throwsAsync(proofs.generateWinningPoSt(Buffer.alloc(32), priv, Buffer.alloc(8)), { message: /proverId must be 32 bytes/ });
  await t.throwsAsync(proofs.generateWinningPoSt(Buffer.alloc(32), [{ ...priv[0], sectorNumber: -1 }], prover), { message: /not a non-negative safe integer/ });
  await t.throwsAsync(proofs.generateWindowPoSt(Buffer.alloc(32), [], prover), { message: /no sectors to prove/ });
  await t.throwsAsync(proofs.sealPreCommitPhase2(Buffer.from('{"not":"pc1"}'), { cacheDir: '/tmp', sealedPath: '/tmp/x' }), { message: /does not parse/ });
  await t.throwsAsync(proofs.sealCommitPhase2(Buffer.from('garbage'), 1, prover), { message: /does not parse/ });
  t.throws(() => proofs.proverIdFromMinerId('f1abc'), { message: /not an ID address/ });
});

test('non-existent paths give errors that name the path', async (t) => {
  const P = SEAL_PROOF;
  await t.throwsAsync(proofs.generatePieceCommitment(P, '/nonexistent/piece', 2032), { message: /cannot open piece \/nonexistent\/piece/ });
  await t.throwsAsync(proofs.addPiece(P, '/nonexistent/piece', 2032, '/tmp/staged-x'), { message: /cannot open piece/ });
  await t.throwsAsync(
    proofs.sealPreCommitPhase1({ proof: P, sectorNumber: 1, proverId: prover }, { cacheDir: '/nonexistent/c', stagedPath: '/nonexistent/s', sealedPath: '/nonexistent/x' }, Buffer.alloc(32), []),
    { message: /staged sector \/nonexistent\/s does not exist/ },
  );
  await t.throwsAsync(proofs.addPiece(P, '/dev/null', 2032, '/tmp/staged-y'), { message: /fewer than the declared 2032/ });
  await t.throwsAsync(proofs.generatePieceCommitment(P, '/dev/null', 2000), { message: /not 127·2\^k/ });
});

test('concurrent proofs do not corrupt each other, and leave libuv free', async (t) => {
  const sectors = await sealedSectors(2);
  const priv = sectors.map((s) => ({ sectorNumber: s.sectorNumber, commR: s.commR, cacheDir: s.cacheDir, sealedPath: s.sealedPath, postProof: WINDOW }));
  const pub = sectors.map((s) => ({ sectorNumber: s.sectorNumber, commR: s.commR, postProof: WINDOW }));
  // Six Window PoSts at once with different randomness: more than libuv's 4 threads.
  const rands = [1, 2, 3, 4, 5, 6].map((n) => Buffer.alloc(32, n));
  let firstProofDone = false;
  const all = Promise.all(rands.map((r) => proofs.generateWindowPoSt(r, priv, prover).then((p) => ((firstProofDone = true), p))));
  // A file read needs libuv's pool: it must not wait for the proofs.
  await readFile(new URL(import.meta.url));
  t.false(firstProofDone, 'fs read finished while every proof was still running');
  const results = await all;
  for (let i = 0; i < rands.length; i++) {
    t.true((await proofs.verifyWindowPoSt(rands[i], pub, results[i], prover)).valid, `proof ${i} verifies for its own randomness`);
  }
  t.false((await proofs.verifyWindowPoSt(rands[1], pub, results[0], prover)).valid);
});
