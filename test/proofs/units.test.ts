// Pure functions of the proofs module: CIDs, prover ids, sizes and proof-type names.
import test from 'ava';
import * as proofs from '../../src/proofs/index.js';

test('prover id is the uvarint of the actor id, zero-padded to 32 bytes', (t) => {
  t.is(proofs.proverIdFromMinerId(1000).toString('hex'), 'e807' + '00'.repeat(30));
  t.is(proofs.proverIdFromMinerId('f01000').toString('hex'), 'e807' + '00'.repeat(30));
  t.is(proofs.proverIdFromMinerId('t0127').toString('hex'), '7f' + '00'.repeat(31));
  t.is(proofs.proverIdFromMinerId(128n).toString('hex'), '8001' + '00'.repeat(30));
  t.throws(() => proofs.proverIdFromMinerId(-1), { message: /out of range/ });
});

test('commitment CIDs round-trip and carry Lotus prefixes', (t) => {
  const c = Buffer.alloc(32, 0xab);
  const sealed = proofs.commRToCid(c);
  const unsealed = proofs.commDToCid(c);
  t.true(sealed.startsWith('bagboea4b5abc'));
  t.true(unsealed.startsWith('baga6ea4seaq'));
  t.true(proofs.cidToCommR(sealed).equals(c));
  t.true(proofs.cidToCommD(unsealed).equals(c));
  t.throws(() => proofs.cidToCommR(unsealed), { message: /codec/ });
  t.throws(() => proofs.cidToCommD('Qmfoo'), { message: /base32/ });
  t.throws(() => proofs.commRToCid(Buffer.alloc(31)), { message: /32 bytes/ });
});

test('sizes and proof types', (t) => {
  t.is(proofs.paddedSize(2032), 2048);
  t.is(proofs.paddedSize(127), 128);
  t.is(proofs.unpaddedSize(1024), 1016);
  t.throws(() => proofs.paddedSize(2000));
  t.throws(() => proofs.paddedSize(127 * 3));
  t.is(proofs.sealProofSectorSize(proofs.RegisteredSealProof.StackedDrg32GiBV1_1), 32 * 1024 ** 3);
  t.is(proofs.sealProofForSectorSize(2048), proofs.RegisteredSealProof.StackedDrg2KiBV1_1);
  t.is(proofs.winningPoStProofFor(proofs.RegisteredSealProof.StackedDrg32GiBV1_1), proofs.RegisteredPoStProof.StackedDrgWinning32GiBV1);
  t.is(proofs.windowPoStProofFor(proofs.RegisteredSealProof.StackedDrg2KiBV1_1), proofs.RegisteredPoStProof.StackedDrgWindow2KiBV1_1);
  t.is(proofs.parseSectorSize('32GiB'), 32 * 1024 ** 3);
  t.is(proofs.windowPoStPartitionSectors(proofs.RegisteredPoStProof.StackedDrgWindow32GiBV1_1), 2349);
  t.is(proofs.windowPoStPartitionSectors(proofs.RegisteredPoStProof.StackedDrgWindow64GiBV1_1), 2300, "the network's 64GiB partition");
  t.is(proofs.windowPoStPartitionSectors(proofs.RegisteredPoStProof.StackedDrgWindow2KiBV1_1), 2);
  const r = proofs.postRandomness(Buffer.alloc(32, 0xff));
  t.is(r[31], 0x3f, 'top two bits cleared');
});
