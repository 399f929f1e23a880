// CIDs as the chain uses them: `{"/": "b…"}` in Lotus JSON (CIDv1, base32), their bytes, the
// dag-cbor / blake2b-256 CIDs Lotus gives messages and blocks, and {@link CborCid}, the marker
// that makes the CBOR encoder write a CID as tag 42.
import { blake2b } from '@noble/hashes/blake2.js';
import { base32Decode, base32Encode, readUvarint, uvarint } from './encoding.js';

/** A CID in Lotus JSON. */
export interface Cid {
  '/': string;
}

export const DAG_CBOR = 0x71;
export const BLAKE2B_256 = 0xb220;

export function cidFromBytes(bytes: Uint8Array): Cid {
  return { '/': 'b' + base32Encode(bytes) };
}

export function cidBytes(c: Cid | string): Buffer {
  const s = typeof c === 'string' ? c : c?.['/'];
  if (typeof s !== 'string' || !s.startsWith('b')) throw new TypeError(`invalid CID ${JSON.stringify(c)} (expected base32 CIDv1 {"/": "b…"})`);
  const b = base32Decode(s.slice(1));
  const [version] = readUvarint(b);
  if (version !== 1n) throw new TypeError(`CID is not v1: ${s}`);
  return b;
}

/** A dag-cbor / blake2b-256 CID of some CBOR bytes (how Lotus names messages and blocks). */
export function cborCid(cbor: Uint8Array): Cid {
  const digest = blake2b(cbor, { dkLen: 32 });
  return cidFromBytes(Buffer.concat([uvarint(1), uvarint(DAG_CBOR), uvarint(BLAKE2B_256), uvarint(32), digest]));
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
