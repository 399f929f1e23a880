// Number and byte encodings under the chain's JSON and CBOR: big integers and token amounts
// (decimal strings in Lotus JSON, Filecoin's sign-byte + big-endian magnitude in CBOR), bytes as
// base64 in JSON, the base32 decoding of addresses and CIDs (multiformats' codec, as lenient as
// Go's), and unsigned varints of 64-bit integers (bigint: multiformats' varint is exact only up
// to 2^53).
import { base32 } from 'multiformats/bases/base32';

// ------------------------------------------------------------------ big integers

/** Token amounts and big integers: decimal strings in JSON, bigint in code. */
export type BigIntString = string;

export function bigToJson(v: bigint): BigIntString {
  return v.toString(10);
}

export function bigFromJson(s: unknown, what = 'big integer'): bigint {
  if (typeof s !== 'string' || !/^-?\d+$/.test(s)) throw new TypeError(`${what} must be a decimal string, got ${JSON.stringify(s)}`);
  return BigInt(s);
}

/** Filecoin's CBOR big integer: a sign byte (0 = +, 1 = −) then big-endian magnitude; zero is empty. */
export function bigToCborBytes(v: bigint): Buffer {
  if (v === 0n) return Buffer.alloc(0);
  const neg = v < 0n;
  let m = neg ? -v : v;
  const bytes: number[] = [];
  while (m > 0n) {
    bytes.unshift(Number(m & 0xffn));
    m >>= 8n;
  }
  return Buffer.from([neg ? 1 : 0, ...bytes]);
}

export function bigFromCborBytes(b: Uint8Array): bigint {
  if (b.length === 0) return 0n;
  if (b[0] > 1) throw new TypeError('invalid big integer sign byte');
  let m = 0n;
  for (const x of b.subarray(1)) m = (m << 8n) | BigInt(x);
  return b[0] === 1 ? -m : m;
}

// ------------------------------------------------------------------ bytes

export function b64(b: Uint8Array): string {
  return Buffer.from(b).toString('base64');
}

export function fromB64(s: unknown, what = 'bytes'): Buffer {
  if (s === null || s === undefined) return Buffer.alloc(0);
  if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new TypeError(`${what} must be base64, got ${JSON.stringify(s)?.slice(0, 60)}`);
  return Buffer.from(s, 'base64');
}

// ------------------------------------------------------------------ base32

/**
 * The bytes of lowercase RFC 4648 base32 without padding, as Lotus writes addresses and CIDs
 * (encode with multiformats' `base32.baseEncode`). The bits past the last whole byte are
 * dropped, whatever they are (Go's encoding/base32, which Lotus uses, does not check them
 * either); multiformats' decoder refuses them when set, so the string is filled with zero bits
 * (`a`) to whole 5-byte groups and the bytes cut back. Upper case and `=`, which multiformats
 * would take, are refused.
 */
export function base32Decode(s: string): Uint8Array {
  const bad = /[^a-z2-7]/.exec(s);
  if (bad) throw new TypeError(`invalid base32 character "${bad[0]}"`);
  return base32.baseDecode(s.padEnd(Math.ceil(s.length / 8) * 8, 'a')).subarray(0, Math.floor((s.length * 5) / 8));
}

// ------------------------------------------------------------------ varints of 64-bit integers

// multiformats' varint works on JS numbers: exact only up to 2^53, and it refuses the 10-byte
// varints a uint64 may need. Actor ids go up to 2^63 − 1 and Go's binary.PutUvarint writes any
// uint64 (lotus-miner's sector counter), so these two work on bigint. CIDs, multihashes and
// RLE+ run lengths (numbers) use multiformats' varint.

/** Unsigned LEB128 of a non-negative integer (Go's binary.PutUvarint). */
export function uvarint(n: bigint | number): Buffer {
  let v = BigInt(n);
  if (v < 0n) throw new RangeError('uvarint of a negative number');
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

/** The unsigned varint at `off` and the offset after it; refuses a truncated or non-minimal one. */
export function readUvarint(b: Uint8Array, off = 0): [bigint, number] {
  let v = 0n;
  let shift = 0n;
  for (let i = off; i < b.length && i < off + 10; i++) {
    v |= BigInt(b[i] & 0x7f) << shift;
    if ((b[i] & 0x80) === 0) {
      if (b[i] === 0 && i > off) throw new TypeError('non-minimal varint');
      return [v, i + 1];
    }
    shift += 7n;
  }
  throw new TypeError('truncated varint');
}
