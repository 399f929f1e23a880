// Bitfields (sets of sector numbers, partitions, …) as the chain carries them: RLE+ bytes inside
// CBOR (version 00, LSB-first, in the one minimal form that go-bitfield and the actors'
// fvm_ipld_bitfield write and accept) and go-bitfield's JSON (run lengths, `[0]` when empty).
import { varint } from 'multiformats';

/** Sorted, de-duplicated set bits. */
export type BitSet = number[];

/** Runs (alternating, first run of zeros) of a sorted set. */
export function runsOf(bits: Iterable<number>): number[] {
  const sorted = [...new Set(bits)].sort((a, b) => a - b);
  const runs: number[] = [];
  let pos = 0;
  let i = 0;
  while (i < sorted.length) {
    const start = sorted[i];
    if (!Number.isSafeInteger(start) || start < 0) throw new RangeError(`bitfield index ${start} is not a non-negative integer`);
    let end = start + 1;
    while (i + 1 < sorted.length && sorted[i + 1] === end) {
      end++;
      i++;
    }
    i++;
    runs.push(start - pos, end - start);
    pos = end;
  }
  return runs;
}

function setOfRuns(runs: number[], firstIsOne: boolean): BitSet {
  const out: number[] = [];
  let pos = 0;
  let one = firstIsOne;
  for (const r of runs) {
    if (one) for (let k = 0; k < r; k++) out.push(pos + k);
    pos += r;
    one = !one;
  }
  return out;
}

class BitWriter {
  private bytes: number[] = [];
  private n = 0;
  put(bit: number): void {
    if (this.n % 8 === 0) this.bytes.push(0);
    if (bit) this.bytes[this.bytes.length - 1] |= 1 << (this.n % 8);
    this.n++;
  }
  putN(v: number, count: number): void {
    for (let i = 0; i < count; i++) this.put((v >> i) & 1);
  }
  /** The bytes, trailing zero bytes cut: the reader reads zeros past the end (minimal form). */
  done(): Buffer {
    let end = this.bytes.length;
    while (end > 0 && this.bytes[end - 1] === 0) end--;
    return Buffer.from(this.bytes.slice(0, end));
  }
}

/** LSB-first bit reader that reads zeros past the end of its bytes, as the reference readers do. */
class BitReader {
  private i = 0;
  constructor(private readonly b: Uint8Array) {}
  get(): number {
    const j = this.i++;
    return j >= this.b.length * 8 ? 0 : (this.b[j >> 3] >> (j & 7)) & 1;
  }
  getN(count: number): number {
    let v = 0;
    for (let k = 0; k < count; k++) v |= this.get() << k;
    return v;
  }
  /** Whether any set bit remains (the rest is the implicit zero padding). */
  hasMore(): boolean {
    for (let j = this.i; j < this.b.length * 8; j++) if ((this.b[j >> 3] >> (j & 7)) & 1) return true;
    return false;
  }
}

/**
 * RLE+ bytes of a set of bit indices (version 00, LSB-first, runs as single/short/long blocks),
 * in the one minimal form that go-bitfield and the actors' fvm_ipld_bitfield produce: no
 * trailing zero byte (`{0,1}` is `54`).
 */
export function rleEncode(bits: Iterable<number>): Buffer {
  const runs = runsOf(bits);
  if (runs.length === 0) return Buffer.alloc(0);
  const w = new BitWriter();
  w.putN(0, 2); // version 00
  const startsWithOne = runs[0] === 0;
  w.put(startsWithOne ? 1 : 0);
  for (const r of startsWithOne ? runs.slice(1) : runs) {
    if (r === 1) w.put(1);
    else if (r < 16) {
      w.put(0);
      w.put(1);
      w.putN(r, 4);
    } else {
      w.put(0);
      w.put(0);
      for (const byte of varint.encodeTo(r, new Uint8Array(varint.encodingLength(r)))) w.putN(byte, 8);
    }
  }
  return w.done();
}

export class RleError extends TypeError {
  constructor(message: string) {
    super(`RLE+: ${message}`);
    this.name = 'RleError';
  }
}

/**
 * Decodes RLE+ bytes with the rules of the actors' decoder (fvm_ipld_bitfield), which the chain
 * applies to every bitfield a message carries: a wrong version, a trailing zero byte, a short
 * block for a run under 2, a long block for a run under 16, a varint that is not minimal or
 * longer than 10 bytes, and a trailing run of zeros are all refused. Bits past the last byte
 * read as zeros, so a block may end in the implicit padding (`54` is `{0,1}`).
 */
export function rleDecode(b: Uint8Array): BitSet {
  if (b.length > 0 && b[b.length - 1] === 0) throw new RleError('not minimally encoded (trailing zero byte)');
  const r = new BitReader(b);
  if (r.getN(2) !== 0) throw new RleError('unsupported version');
  let one = r.get() === 1;
  const out: number[] = [];
  let pos = 0;
  while (r.hasMore()) {
    let len: number;
    if (r.get() === 1) len = 1;
    // eslint-disable-next-line no-dupe-else-if -- each get() reads the next bit
    else if (r.get() === 1) {
      len = r.getN(4);
      if (len < 2) throw new RleError('non-minimal short block');
    } else {
      let v = 0n;
      let i = 0;
      for (; ; i++) {
        if (i === 10) throw new RleError('invalid varint (more than 10 bytes)');
        const byte = r.getN(8);
        v |= BigInt(byte & 0x7f) << BigInt(7 * i);
        if ((byte & 0x80) === 0) {
          if ((i === 9 && byte > 1) || (byte === 0 && i !== 0)) throw new RleError('invalid varint');
          break;
        }
      }
      if (v < 16n) throw new RleError('non-minimal long block');
      if (v + BigInt(pos) > BigInt(Number.MAX_SAFE_INTEGER)) throw new RleError(`a run reaches past bit 2^53 (${v} bits from ${pos}); not supported here`);
      len = Number(v);
    }
    if (one) {
      if (out.length + len > 1 << 24) throw new RleError(`more than ${1 << 24} set bits; not supported here`);
      for (let k = 0; k < len; k++) out.push(pos + k);
    }
    pos += len;
    one = !one;
  }
  // `one` set means the last run read was zeros (or a leading 1 had no run): not minimal.
  if (one) throw new RleError('not minimally encoded (trailing run of zeros)');
  return out;
}

/** go-bitfield's JSON: run lengths starting with a run of zeros (`[0]` when empty). */
export type BitfieldJson = number[];

export function bitfieldToJson(bits: Iterable<number>): BitfieldJson {
  const runs = runsOf(bits);
  return runs.length === 0 ? [0] : runs;
}

export function bitfieldFromJson(j: unknown, what = 'bitfield'): BitSet {
  if (!Array.isArray(j) || !j.every((x) => Number.isSafeInteger(x) && x >= 0)) throw new TypeError(`${what} must be an array of run lengths, got ${JSON.stringify(j)?.slice(0, 80)}`);
  return setOfRuns(j as number[], false);
}
