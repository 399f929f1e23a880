// Chain cryptography as Lotus does it: DrawRandomness, BLS (min-pk: 48-byte G1 keys, 96-byte G2
// signatures, Filecoin's hash-to-curve DST), the election win count (Poisson over the miner's
// power share), CIDs of messages and block headers, and HS256 API tokens (Lotus's JWTs).
import { bls12_381 as bls } from '@noble/curves/bls12-381.js';
import { blake2b } from '@noble/hashes/blake2.js';
import { randomBytes } from 'node:crypto';
import { addressBytes, blsAddress, type Network } from './address.js';
import type { BlockHeader, Message } from './api-types.js';
import type { DomainSeparationTag } from './builtin-actors.js';
import { cborEncode } from './cbor.js';
import { type Cid, CborCid, cborCid } from './cid.js';
import { bigFromJson, bigToCborBytes, fromB64 } from './encoding.js';

// ------------------------------------------------------------------ randomness

function i64be(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(n));
  return b;
}

/** DrawRandomness: blake2b256(BE i64 tag ‖ blake2b256(base) ‖ BE i64 round ‖ entropy). */
export function drawRandomness(base: Uint8Array, tag: DomainSeparationTag, round: number, entropy: Uint8Array): Buffer {
  const digest = blake2b(base, { dkLen: 32 });
  return Buffer.from(blake2b(Buffer.concat([i64be(tag), digest, i64be(round), entropy]), { dkLen: 32 }));
}

// ------------------------------------------------------------------ BLS

export interface BlsKey {
  /** Secret scalar, big-endian (noble's form). */
  secret: Buffer;
  publicKey: Buffer;
}

export function blsKeyFromSecret(secret: Uint8Array): BlsKey {
  const pk = bls.longSignatures.getPublicKey(secret).toBytes();
  return { secret: Buffer.from(secret), publicKey: Buffer.from(pk) };
}

export function newBlsKey(): BlsKey {
  return blsKeyFromSecret(bls.utils.randomSecretKey());
}

export function blsKeyAddress(k: BlsKey, network: Network = 'testnet'): string {
  return blsAddress(k.publicKey, network);
}

/** Lotus KeyInfo (`lotus wallet export`): the BLS private key little-endian, base64. */
export function blsKeyInfo(k: BlsKey): { Type: 'bls'; PrivateKey: string } {
  return { Type: 'bls', PrivateKey: Buffer.from(k.secret).reverse().toString('base64') };
}

export function blsKeyFromKeyInfo(ki: { Type: string; PrivateKey: string }): BlsKey {
  if (ki.Type !== 'bls') throw new TypeError(`unsupported key type ${ki.Type}`);
  return blsKeyFromSecret(Buffer.from(ki.PrivateKey, 'base64').reverse());
}

export function blsSign(k: BlsKey, msg: Uint8Array): Buffer {
  return Buffer.from(bls.longSignatures.sign(bls.longSignatures.hash(msg), k.secret).toBytes());
}

/** False for a signature that does not verify or does not even decode. */
export function blsVerify(publicKey: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  try {
    return bls.longSignatures.verify(sig, bls.longSignatures.hash(msg), publicKey);
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------ election

const Q = 256n;
const ONE = 1n << Q;

/** e^(-x) for x in Q.256 fixed point: 1 / Σ xᵏ/k! (the series of e^x has no cancellation). */
function expNeg(x: bigint): bigint {
  let term = ONE;
  let sum = ONE;
  for (let k = 1n; k < 400n; k++) {
    term = (term * x) / (k << Q);
    if (term === 0n) break;
    sum += term;
  }
  return (ONE << Q) / sum;
}

/**
 * Number of blocks a miner may produce this epoch: with h = blake2b256(VRF proof) as a
 * uniform number in [0, 1), the count j of k ≥ 0 with h < P[X > k] for X ~ Poisson(λ),
 * λ = expectedLeaders × power / totalPower, capped at 3 × expectedLeaders (Lotus's rule).
 */
export function computeWinCount(vrfProof: Uint8Array, power: bigint, totalPower: bigint, expectedLeaders = 5): number {
  if (power <= 0n || totalPower <= 0n) return 0;
  const h = BigInt('0x' + Buffer.from(blake2b(vrfProof, { dkLen: 32 })).toString('hex'));
  const lambda = ((power * BigInt(expectedLeaders)) << Q) / totalPower;
  let pmf = expNeg(lambda);
  let icdf = ONE - pmf;
  const max = 3 * expectedLeaders;
  let j = 0;
  while (h < icdf && j < max) {
    j++;
    pmf = (pmf * lambda) / (BigInt(j) << Q);
    icdf -= pmf;
  }
  return j;
}

// ------------------------------------------------------------------ CIDs of chain objects

/** CBOR of a message, field order as Lotus's `types.Message`. */
export function messageCbor(m: Message): Buffer {
  return cborEncode([
    m.Version,
    addressBytes(m.To),
    addressBytes(m.From),
    m.Nonce,
    bigToCborBytes(bigFromJson(m.Value, 'Value')),
    m.GasLimit,
    bigToCborBytes(bigFromJson(m.GasFeeCap, 'GasFeeCap')),
    bigToCborBytes(bigFromJson(m.GasPremium, 'GasPremium')),
    m.Method,
    fromB64(m.Params, 'Params'),
  ]);
}

/** The message CID (also the CID of a BLS-signed message). */
export function messageCid(m: Message): Cid {
  return cborCid(messageCbor(m));
}

const sigBytes = (s: { Type: number; Data: string } | null) => (s ? Buffer.concat([Buffer.from([s.Type]), fromB64(s.Data)]) : null);

/** CBOR of a block header, field order as Lotus's `types.BlockHeader`. */
export function blockHeaderCbor(h: BlockHeader): Buffer {
  return cborEncode([
    addressBytes(h.Miner),
    h.Ticket ? [fromB64(h.Ticket.VRFProof)] : null,
    h.ElectionProof ? [h.ElectionProof.WinCount, fromB64(h.ElectionProof.VRFProof)] : null,
    h.BeaconEntries.map((b) => [b.Round, fromB64(b.Data)]),
    h.WinPoStProof.map((p) => [p.PoStProof, fromB64(p.ProofBytes)]),
    h.Parents.map((c) => new CborCid(c)),
    bigToCborBytes(bigFromJson(h.ParentWeight, 'ParentWeight')),
    h.Height,
    new CborCid(h.ParentStateRoot),
    new CborCid(h.ParentMessageReceipts),
    new CborCid(h.Messages),
    sigBytes(h.BLSAggregate),
    h.Timestamp,
    sigBytes(h.BlockSig),
    h.ForkSignaling,
    bigToCborBytes(bigFromJson(h.ParentBaseFee, 'ParentBaseFee')),
  ]);
}

export function blockCid(h: BlockHeader): Cid {
  return cborCid(blockHeaderCbor(h));
}

/** The bytes a block signature covers: the header's CBOR with BlockSig left out (nil). */
export function blockSigningBytes(h: BlockHeader): Buffer {
  return blockHeaderCbor({ ...h, BlockSig: null });
}

// ------------------------------------------------------------------ API tokens

export function newSecret(): Buffer {
  return randomBytes(32);
}
