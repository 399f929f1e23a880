// CIDs as the chain uses them: `{"/": "b…"}` in Lotus JSON (CIDv1, base32), their bytes, the
// dag-cbor / blake2b-256 CIDs Lotus gives messages and blocks, and {@link CborCid}, the marker
// that makes the CBOR encoder write a CID as tag 42.
import { blake2b } from '@noble/hashes/blake2.js';
import { varint } from 'multiformats';
import { base32 } from 'multiformats/bases/base32';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { base32Decode } from './encoding.js';

/** A CID in Lotus JSON. */
export interface Cid {
  '/': string;
}

/**
 * A tipset key (its blocks' CIDs, in order) as one comparable string. Untrusted input (a block
 * sent to the devnet) may hold anything; a non-CID entry just makes a key that matches nothing.
 */
export function tipsetKeyString(tsk: readonly (Cid | null | undefined)[]): string {
  return tsk.map((c) => String(c?.['/'])).join(',');
}

export const DAG_CBOR = 0x71;
export const BLAKE2B_256 = 0xb220;

/** The JSON form (`b…`, multibase base32) of CID bytes; the bytes are not checked (cborDecode passes tag 42's bytes as they come). */
export function cidFromBytes(bytes: Uint8Array): Cid {
  return { '/': base32.encode(bytes) };
}

/**
 * The bytes of a base32 CIDv1 (`b…`). Only the version is checked, not the rest of the CID
 * (the node, or the code that needs a whole CID, such as proofs' cidToCommR, checks that).
 */
export function cidBytes(c: Cid | string): Buffer {
  const s = typeof c === 'string' ? c : c?.['/'];
  if (typeof s !== 'string' || !s.startsWith('b')) throw new TypeError(`invalid CID ${JSON.stringify(c)} (expected base32 CIDv1 {"/": "b…"})`);
  const bytes = base32Decode(s.slice(1));
  let version: number;
  try {
    [version] = varint.decode(bytes);
  } catch (e) {
    throw new TypeError(`invalid CID ${s}: ${(e as Error).message}`, { cause: e });
  }
  if (version !== 1) throw new TypeError(`CID is not v1: ${s}`);
  return Buffer.from(bytes);
}

/** A dag-cbor / blake2b-256 CID of some CBOR bytes (how Lotus names messages and blocks). */
export function cborCid(cbor: Uint8Array): Cid {
  const digest = blake2b(cbor, { dkLen: 32 });
  return { '/': CID.createV1(DAG_CBOR, Digest.create(BLAKE2B_256, digest)).toString() };
}

export function isCid(x: unknown): x is Cid {
  return typeof x === 'object' && x !== null && typeof (x as Cid)['/'] === 'string';
}

export function cidEquals(a: Cid, b: Cid): boolean {
  return a['/'] === b['/'];
}

/** A CID in CBOR: tag 42 over 0x00 + the CID bytes. */
export class CborCid {
  constructor(readonly cid: Cid) {}
}
