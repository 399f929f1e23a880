// Number and byte encodings under the chain's JSON and CBOR: big integers and token amounts
// (decimal strings in Lotus JSON, Filecoin's sign-byte + big-endian magnitude in CBOR), bytes as
// base64 in JSON, lowercase RFC 4648 base32 (addresses and CIDs) and unsigned LEB128 varints.

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

// ------------------------------------------------------------------ base32 and varints

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';

export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = ((value << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

export function base32Decode(s: string): Buffer {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of s) {
    const i = B32.indexOf(ch);
    if (i < 0) throw new TypeError(`invalid base32 character "${ch}"`);
    value = ((value << 5) | i) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

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
