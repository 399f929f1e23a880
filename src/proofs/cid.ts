// Filecoin commitment CIDs (CIDv1, base32), as Lotus shows them:
//   CommR  → codec fil-commitment-sealed   (0xf102), multihash poseidon-bls12_381-a2-fc1 (0xb401) → "bagboea4b5abc…"
//   CommD/CommP → codec fil-commitment-unsealed (0xf101), multihash sha2-256-trunc254-padded (0x1012) → "baga6ea4seaq…"
// multiformats' CID writes and reads them (it takes any codec and multihash code).
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { base32Decode } from '../chain/encoding.js';
import { ProofsError } from './types.js';

const FIL_COMMITMENT_UNSEALED = 0xf101;
const FIL_COMMITMENT_SEALED = 0xf102;
const SHA2_256_TRUNC254_PADDED = 0x1012;
const POSEIDON_BLS12_381_A1_FC1 = 0xb401;

function commitmentCid(codec: number, hash: number, commitment: Buffer): string {
  if (commitment.length !== 32) throw new ProofsError(`a commitment is 32 bytes, got ${commitment.length}`, 'caller');
  return CID.createV1(codec, Digest.create(hash, commitment)).toString();
}

function cidCommitment(cid: string, codec: number, hash: number, what: string): Buffer {
  if (!cid.startsWith('b')) throw new ProofsError(`${what} CID must be base32 (starting with "b"): ${cid}`, 'caller');
  let bytes: Uint8Array;
  try {
    bytes = base32Decode(cid.slice(1));
  } catch (e) {
    throw new ProofsError(`${(e as Error).message} in CID`, 'caller', undefined, { cause: e });
  }
  let c: CID;
  try {
    c = CID.decode(bytes);
  } catch (e) {
    throw new ProofsError(`${what} CID is malformed: ${cid} (${(e as Error).message})`, 'caller', undefined, { cause: e });
  }
  if (c.version !== 1) throw new ProofsError(`${what} CID is not CIDv1: ${cid}`, 'caller');
  if (c.code !== codec) throw new ProofsError(`${what} CID has codec 0x${c.code.toString(16)}, expected 0x${codec.toString(16)}: ${cid}`, 'caller');
  if (c.multihash.code !== hash) throw new ProofsError(`${what} CID has multihash 0x${c.multihash.code.toString(16)}, expected 0x${hash.toString(16)}: ${cid}`, 'caller');
  if (c.multihash.size !== 32) throw new ProofsError(`${what} CID does not hold a 32-byte commitment: ${cid}`, 'caller');
  return Buffer.from(c.multihash.digest);
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
