// Sealing with real proofs: a 2KiB sector sealed end to end from a piece of known commitment,
// then verify_seal against the right and against every kind of wrong input.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as proofs from '../../src/proofs/index.js';
import { SEAL_PROOF, TEST_MINER_ID, sealedSectors } from '../helpers/sealed.js';

const P = SEAL_PROOF;

test('a piece of zeros has the commitment Lotus knows for an empty 2KiB sector', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dm-commp-'));
  try {
    writeFileSync(join(dir, 'zeros'), Buffer.alloc(2032));
    const piece = await proofs.generatePieceCommitment(P, join(dir, 'zeros'), 2032);
    t.is(piece.size, 2048);
    // Lotus's zero-commitment for a 2KiB sector (its unsealed CID of a CC sector).
    t.is(proofs.commPToCid(piece.commP), 'baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy');
    const commD = await proofs.generateDataCommitment(P, [piece]);
    t.true(commD.equals(piece.commP), 'one full-size piece: CommD = CommP');
    // Two half-size pieces combine into a different CommD than either piece.
    writeFileSync(join(dir, 'half'), Buffer.alloc(1016, 0xab));
    const half = await proofs.generatePieceCommitment(P, join(dir, 'half'), 1016);
    t.is(half.size, 1024);
    const commD2 = await proofs.generateDataCommitment(P, [half, half]);
    t.false(commD2.equals(half.commP));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a sealed sector verifies; each wrong input is rejected', async (t) => {
  const [s] = await sealedSectors(1);
  t.is(s.proofBytes.length, 192, 'one partition: one 192-byte Groth16 proof');
  t.true(proofs.commRToCid(s.commR).startsWith('bagboea4b5abc'));
  t.true(proofs.commDToCid(s.commD).startsWith('baga6ea4seaq'));
  // The piece we sealed has the commitment the sector's CommD was built from.
  const piece = await proofs.generatePieceCommitment(P, s.piecePath, 2032);
  t.true(piece.commP.equals(s.piece.commP));
  t.true((await proofs.generateDataCommitment(P, [piece])).equals(s.commD));

  const proverId = proofs.proverIdFromMinerId(TEST_MINER_ID);
  const good = { proof: P, commR: s.commR, commD: s.commD, proverId, ticket: s.ticket, seed: s.seed, sectorNumber: s.sectorNumber, proofBytes: s.proofBytes };
  t.deepEqual(await proofs.verifySeal(good), { valid: true, reason: '' });

  const flip = (b: Buffer, i: number) => {
    const c = Buffer.from(b);
    c[i] ^= 0x01;
    return c;
  };
  // A flipped byte either decodes to a proof that does not verify or does not decode at all:
  // both are an invalid proof, and the reason says which.
  for (const i of [0, 50, 100, 191]) {
    const v = await proofs.verifySeal({ ...good, proofBytes: flip(s.proofBytes, i) });
    t.false(v.valid, `flipped proof byte ${i}`);
    t.regex(v.reason, /does not (verify|decode)/);
  }
  t.false((await proofs.verifySeal({ ...good, ticket: flip(s.ticket, 3) })).valid, 'wrong ticket');
  t.false((await proofs.verifySeal({ ...good, seed: flip(s.seed, 3) })).valid, 'wrong seed');
  t.false((await proofs.verifySeal({ ...good, proverId: proofs.proverIdFromMinerId(TEST_MINER_ID + 1) })).valid, 'wrong prover id');
  t.false((await proofs.verifySeal({ ...good, sectorNumber: s.sectorNumber + 1 })).valid, 'wrong sector number');
  t.false((await proofs.verifySeal({ ...good, commD: flip(s.commD, 0) })).valid, 'wrong CommD');
  const short = await proofs.verifySeal({ ...good, proofBytes: s.proofBytes.subarray(0, 100) });
  t.false(short.valid, 'truncated proof');
});
