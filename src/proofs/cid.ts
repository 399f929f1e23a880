// Filecoin commitment CIDs (CIDv1, base32), as Lotus shows them:
//   CommR  → codec fil-commitment-sealed   (0xf102), multihash poseidon-bls12_381-a2-fc1 (0xb401) → "bagboea4b5abc…"
//   CommD/CommP → codec fil-commitment-unsealed (0xf101), multihash sha2-256-trunc254-padded (0x1012) → "baga6ea4seaq…"
import { ProofsError } from './types.js';

const FIL_COMMITMENT_UNSEALED = 0xf101;
const FIL_COMMITMENT_SEALED = 0xf102;
const SHA2_256_TRUNC254_PADDED = 0x1012;
const POSEIDON_BLS12_381_A1_FC1 = 0xb401;

function uvarint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function readUvarint(b: Uint8Array, off: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (let i = off; i < b.length && i < off + 9; i++) {
    v += (b[i] & 0x7f) * mul;
    if ((b[i] & 0x80) === 0) return [v, i + 1];
    mul *= 128;
  }
  throw new ProofsError('malformed varint in CID', 'caller');
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

function unbase32(s: string): Uint8Array {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of s) {
    const i = ALPHABET.indexOf(ch);
    if (i < 0) throw new ProofsError(`invalid base32 character "${ch}" in CID`, 'caller');
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

function commitmentCid(codec: number, hash: number, commitment: Buffer): string {
  if (commitment.length !== 32) throw new ProofsError(`a commitment is 32 bytes, got ${commitment.length}`, 'caller');
  const bytes = Uint8Array.from([...uvarint(1), ...uvarint(codec), ...uvarint(hash), ...uvarint(32), ...commitment]);
  return 'b' + base32(bytes);
}

function cidCommitment(cid: string, codec: number, hash: number, what: string): Buffer {
  if (!cid.startsWith('b')) throw new ProofsError(`${what} CID must be base32 (starting with "b"): ${cid}`, 'caller');
  const b = unbase32(cid.slice(1));
  let off = 0;
  let v: number;
  [v, off] = readUvarint(b, off);
  if (v !== 1) throw new ProofsError(`${what} CID is not CIDv1: ${cid}`, 'caller');
  [v, off] = readUvarint(b, off);
  if (v !== codec) throw new ProofsError(`${what} CID has codec 0x${v.toString(16)}, expected 0x${codec.toString(16)}: ${cid}`, 'caller');
  [v, off] = readUvarint(b, off);
  if (v !== hash) throw new ProofsError(`${what} CID has multihash 0x${v.toString(16)}, expected 0x${hash.toString(16)}: ${cid}`, 'caller');
  [v, off] = readUvarint(b, off);
  if (v !== 32 || b.length - off !== 32) throw new ProofsError(`${what} CID does not hold a 32-byte commitment: ${cid}`, 'caller');
  return Buffer.from(b.subarray(off));
}

/** CommR → sealed CID (bagboea4b5abc…). */
export function commRToCid(commR: Buffer): string {
  return commitmentCid(FIL_COMMITMENT_SEALED, POSEIDON_BLS12_381_A1_FC1, commR);
}

/** CommD or CommP → unsealed/piece CID (baga6ea4seaq…). */
export function commDToCid(commD: Buffer): string {
  return commitmentCid(FIL_COMMITMENT_UNSEALED, SHA2_256_TRUNC254_PADDED, commD);
}

export const commPToCid = commDToCid;

export function cidToCommR(cid: string): Buffer {
  return cidCommitment(cid, FIL_COMMITMENT_SEALED, POSEIDON_BLS12_381_A1_FC1, 'sealed');
}

export function cidToCommD(cid: string): Buffer {
  return cidCommitment(cid, FIL_COMMITMENT_UNSEALED, SHA2_256_TRUNC254_PADDED, 'unsealed');
}

export const cidToCommP = cidToCommD;
