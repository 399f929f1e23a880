import test from 'ava';
import { blake2b } from '@noble/hashes/blake2.js';
import { addressBytes, addressCbor, addressFromBytes, blsAddress, idAddress, parseAddress, actorId, withNetwork } from '../../src/chain/address.js';
import { bitfieldFromJson, bitfieldToJson, rleDecode, rleEncode, runsOf } from '../../src/chain/bitfield.js';
import { cborDecode, cborEncode } from '../../src/chain/cbor.js';
import { cborCid, CborCid, cidBytes } from '../../src/chain/cid.js';
import { bigFromCborBytes, bigToCborBytes } from '../../src/chain/encoding.js';
import { blsKeyFromKeyInfo, blsKeyInfo, blsSign, blsVerify, computeWinCount, drawRandomness, newBlsKey } from '../../src/chain/crypto.js';

/** Bits listed in stream order (LSB-first) → bytes. */
function bitsToBytes(bits: number[]): Buffer {
  const out = Buffer.alloc(Math.ceil(bits.length / 8));
  bits.forEach((b, i) => {
    if (b) out[i >> 3] |= 1 << (i & 7);
  });
  return out;
}

test('RLE+ matches the spec examples bit for bit', (t) => {
  // 8 ones: version 00, starts with 1, short block 8
  const eightOnes = bitsToBytes([0, 0, 1, 0, 1, 0, 0, 0, 1]);
  t.deepEqual(rleEncode([0, 1, 2, 3, 4, 5, 6, 7]), eightOnes);
  t.deepEqual(eightOnes, Buffer.from([0x14, 0x01]));
  // 1111 0111: short 4 ones, single zero, short 3 ones
  const v2 = bitsToBytes([0, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 1, 1, 0, 0]);
  t.deepEqual(rleEncode([0, 1, 2, 3, 5, 6, 7]), v2);
  t.deepEqual(v2, Buffer.from([0x94, 0x3a]));
  // 25 ones: long block, varint 25
  const v3 = bitsToBytes([0, 0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0]);
  t.deepEqual(rleEncode(Array.from({ length: 25 }, (_, i) => i)), v3);
  // starts with zeros: bit 4 only = 4 zeros (short), 1 one (single)
  t.deepEqual(rleDecode(bitsToBytes([0, 0, 0, 0, 1, 0, 0, 1, 0, 1])), [4]);
  t.deepEqual(rleDecode(Buffer.alloc(0)), []);
  t.deepEqual(rleEncode([]), Buffer.alloc(0));
});

test('RLE+ round trips and rejects bad encodings', (t) => {
  let x = 12345;
  for (let round = 0; round < 200; round++) {
    const set = new Set<number>();
    const n = round % 50;
    for (let i = 0; i < n; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      set.add(x % (round < 100 ? 64 : 100000));
    }
    const sorted = [...set].sort((a, b) => a - b);
    t.deepEqual(rleDecode(rleEncode(sorted)), sorted);
  }
  t.throws(() => rleDecode(Buffer.from([0x01])), { message: /version/ });
  // short block of length 1 must have been a single block
  t.throws(() => rleDecode(bitsToBytes([0, 0, 1, 0, 1, 1, 0, 0, 0, 1])), { message: /non-minimal/ });
  t.throws(() => rleDecode(bitsToBytes([0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1])), { message: /non-minimal/ });
  // 0b110100 + implicit zeros: short block of length 1 (the 4 length bits run past the end)
  t.throws(() => rleDecode(bitsToBytes([0, 0, 1, 0, 1, 1])), { message: /non-minimal short/ });
});

test('actor ids: no silent precision loss above 2^53, none at or above 2^63', (t) => {
  t.is(actorId('f09007199254740991'), Number.MAX_SAFE_INTEGER);
  t.throws(() => actorId('f09007199254740993'), { message: /above 2\^53/ });
  t.throws(() => actorId('f09223372036854775808'), { message: /out of range/ });
});

test('RLE+ agrees with go-bitfield and the actors on the minimal form', (t) => {
  // {0,1}: 00 1 01 0100 — nine bits; the ninth is a zero in the implicit padding, so one byte.
  t.deepEqual(rleEncode([0, 1]), Buffer.from([0x54]));
  t.deepEqual(rleDecode(Buffer.from([0x54])), [0, 1], 'a block that ends in the padding decodes');
  t.throws(() => rleDecode(Buffer.from([0x54, 0x00])), { message: /trailing zero byte/ });
  // Every encoding we make is minimal: no trailing zero byte, and it decodes back.
  for (let n = 1; n < 300; n++) {
    const set = Array.from({ length: n % 40 }, (_, i) => i * ((n % 7) + 1) + (n % 3));
    const enc = rleEncode(set);
    t.not(enc[enc.length - 1], 0, `set of ${set.length}`);
    t.deepEqual(
      rleDecode(enc),
      [...new Set(set)].sort((a, b) => a - b),
    );
  }
  // A long block for a run that fits a short or single block is refused (the actors' NotMinimal).
  t.throws(() => rleDecode(bitsToBytes([0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1])), { message: /non-minimal long/ });
  t.throws(() => rleDecode(bitsToBytes([0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1])), { message: /non-minimal long/ });
  // A varint with a zero last byte is not minimal.
  t.throws(() => rleDecode(bitsToBytes([0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1])), { message: /invalid varint/ });
  // Trailing runs of zeros are refused.
  t.throws(() => rleDecode(bitsToBytes([0, 0, 0, 1])), { message: /trailing run of zeros/ });
  t.throws(() => rleDecode(bitsToBytes([0, 0, 1, 0, 1, 0, 1, 0, 0, 1])), { message: /trailing run of zeros/ });
  t.throws(() => rleDecode(bitsToBytes([0, 0, 1])), { message: /trailing run of zeros/ });
  // A 17-run long block (varint 0x11) is fine: 17 ones.
  t.deepEqual(
    rleDecode(bitsToBytes([0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0])),
    Array.from({ length: 17 }, (_, i) => i),
  );
});

test('bitfield JSON is go-bitfield run lengths', (t) => {
  t.deepEqual(bitfieldToJson([]), [0]);
  t.deepEqual(bitfieldToJson([3, 4]), [3, 2]);
  t.deepEqual(bitfieldToJson([0, 1, 5]), [0, 2, 3, 1]);
  t.deepEqual(bitfieldFromJson([0, 2, 3, 1]), [0, 1, 5]);
  t.deepEqual(bitfieldFromJson([0]), []);
  t.deepEqual(runsOf([2, 1, 1]), [1, 2]);
  t.throws(() => bitfieldFromJson('x'));
});

test('addresses: ID and BLS, both networks, checksum checked', (t) => {
  t.is(idAddress(1000), 't01000');
  t.is(idAddress(1000, 'mainnet'), 'f01000');
  t.deepEqual(addressBytes('t01000'), Buffer.from([0x00, 0xe8, 0x07]));
  t.deepEqual(addressCbor('f01000'), Buffer.from([0x43, 0x00, 0xe8, 0x07]));
  t.is(addressFromBytes(Buffer.from([0, 0xe8, 0x07]), 'mainnet'), 'f01000');
  t.is(withNetwork('t01000', 'mainnet'), 'f01000');
  const k = newBlsKey();
  const a = blsAddress(k.publicKey);
  t.regex(a, /^t3[a-z2-7]{84}$/);
  t.deepEqual(parseAddress(a).payload, k.publicKey);
  t.is(addressFromBytes(addressBytes(a)), a);
  // Change a character in the middle: the last one carries a padding bit, which may not change the bytes.
  const bad = a.slice(0, 10) + (a[10] === 'q' ? 'r' : 'q') + a.slice(11);
  t.throws(() => parseAddress(bad), { message: /checksum/ });
  t.throws(() => parseAddress('t001'));
  t.throws(() => parseAddress('x01'));
});

test('big integers in CBOR and CBOR with CIDs', (t) => {
  t.deepEqual(bigToCborBytes(0n), Buffer.alloc(0));
  t.deepEqual(bigToCborBytes(1n), Buffer.from([0, 1]));
  t.deepEqual(bigToCborBytes(-1n), Buffer.from([1, 1]));
  t.deepEqual(bigToCborBytes(256n), Buffer.from([0, 1, 0]));
  t.is(bigFromCborBytes(bigToCborBytes(-123456789012345678901234567890n)), -123456789012345678901234567890n);
  const cid = cborCid(Buffer.from([0x80]));
  t.regex(cid['/'], /^bafy2bza/); // dag-cbor + blake2b-256, as Lotus block/message CIDs
  t.is(cidBytes(cid).length, 36 + 2);
  const enc = cborEncode([new CborCid(cid), 7, Buffer.from([1, 2])]);
  t.deepEqual(cborDecode(enc), [cid, 7, new Uint8Array([1, 2])]);
});

test('DrawRandomness depends on tag, round and entropy', (t) => {
  const base = Buffer.alloc(32, 1);
  const r = drawRandomness(base, 5, 100, Buffer.from('x'));
  t.is(r.length, 32);
  t.deepEqual(r, drawRandomness(base, 5, 100, Buffer.from('x')));
  t.notDeepEqual(r, drawRandomness(base, 6, 100, Buffer.from('x')));
  t.notDeepEqual(r, drawRandomness(base, 5, 101, Buffer.from('x')));
  t.notDeepEqual(r, drawRandomness(base, 5, 100, Buffer.from('y')));
});

test('BLS signatures, key export format', (t) => {
  const k = newBlsKey();
  const sig = blsSign(k, Buffer.from('hello'));
  t.is(sig.length, 96);
  t.true(blsVerify(k.publicKey, Buffer.from('hello'), sig));
  t.false(blsVerify(k.publicKey, Buffer.from('hellp'), sig));
  const tampered = Buffer.from(sig);
  tampered[10] ^= 1;
  t.false(blsVerify(k.publicKey, Buffer.from('hello'), tampered));
  t.deepEqual(blsKeyFromKeyInfo(blsKeyInfo(k)).publicKey, k.publicKey);
});

test('win count: Poisson with mean = expected leaders × power share', (t) => {
  const draws = (share: [bigint, bigint], n: number) => {
    let sum = 0;
    let zeros = 0;
    for (let i = 0; i < n; i++) {
      const w = computeWinCount(blake2b(Buffer.from(`vrf-${i}`)), share[0], share[1]);
      sum += w;
      if (w === 0) zeros++;
    }
    return { mean: sum / n, zeros: zeros / n };
  };
  const all = draws([10n, 10n], 2000);
  t.true(all.mean > 4.7 && all.mean < 5.3, `mean ${all.mean}`);
  t.true(all.zeros < 0.02); // e^-5 ≈ 0.0067
  const tenth = draws([1n, 10n], 2000);
  t.true(tenth.zeros > 0.55 && tenth.zeros < 0.66, `P0 ${tenth.zeros}`); // e^-0.5 ≈ 0.607
  t.is(computeWinCount(Buffer.from('x'), 0n, 10n), 0);
});
