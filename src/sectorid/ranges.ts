// Sector-number sets as sorted, disjoint, inclusive ranges [lo, hi]. The chain's allocated
// set (an RLE+ bitfield), operator reservations and batch answers all use this shape, so a
// million allocated sectors stay a handful of ranges.

export type Range = [number, number];
export type Ranges = Range[];

/** Largest sector number we accept: JS numbers are exact up to 2^53 - 1. */
export const MAX_SECTOR_NUMBER = Number.MAX_SAFE_INTEGER - 1;

export function isSectorNumber(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= MAX_SECTOR_NUMBER;
}

/** Sort and merge (overlapping or adjacent ranges become one). Validates every bound. */
export function normalize(input: Iterable<Range>): Ranges {
  const rs: Ranges = [];
  for (const r of input) {
    if (!Array.isArray(r) || r.length !== 2 || !isSectorNumber(r[0]) || !isSectorNumber(r[1]) || r[0] > r[1]) {
      throw new Error(`invalid range ${JSON.stringify(r)}: expected [lo, hi] with 0 <= lo <= hi <= ${MAX_SECTOR_NUMBER}`);
    }
    rs.push([r[0], r[1]]);
  }
  rs.sort((a, b) => a[0] - b[0]);
  const out: Ranges = [];
  for (const r of rs) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push(r);
  }
  return out;
}

/** Ranges from a sorted or unsorted list of numbers. */
export function fromNumbers(nums: Iterable<number>): Ranges {
  const rs: Ranges = [];
  for (const n of nums) rs.push([n, n]);
  return normalize(rs);
}

export function toNumbers(rs: Ranges): number[] {
  const out: number[] = [];
  for (const [lo, hi] of rs) for (let i = lo; i <= hi; i++) out.push(i);
  return out;
}

export function count(rs: Ranges): number {
  let c = 0;
  for (const [lo, hi] of rs) c += hi - lo + 1;
  return c;
}

/**
 * Ranges from decoded RLE+ runs (a go-bitfield / Lotus `StateMinerAllocated` answer): run
 * lengths alternating unset, set, unset, … starting with an unset run (possibly 0 long).
 */
export function fromRleRuns(runs: number[]): Ranges {
  const out: Ranges = [];
  let pos = 0;
  for (let i = 0; i < runs.length; i++) {
    const len = runs[i]!;
    if (!Number.isInteger(len) || len < 0) throw new Error(`invalid RLE+ run length ${len}`);
    if (i % 2 === 1 && len > 0) out.push([pos, pos + len - 1]);
    pos += len;
  }
  return normalize(out);
}

/** Parse an operator's list such as `1-10,15,20-21`. */
export function parseRanges(text: string): Ranges {
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  if (parts.length === 0) throw new Error(`no sector numbers in "${text}" (expected e.g. 1-10,15)`);
  const rs: Ranges = [];
  for (const p of parts) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(p);
    if (!m) throw new Error(`cannot parse "${p}" in "${text}" (expected N or LO-HI, e.g. 1-10,15)`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (!isSectorNumber(lo) || !isSectorNumber(hi)) throw new Error(`"${p}" is out of range (0..${MAX_SECTOR_NUMBER})`);
    if (lo > hi) throw new Error(`"${p}": the range's start is above its end`);
    rs.push([lo, hi]);
  }
  return normalize(rs);
}

export function formatRanges(rs: Ranges): string {
  if (rs.length === 0) return '(none)';
  return rs.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(',');
}

/** Index of the first range whose hi >= x (binary search); rs.length if none. */
function firstEndingAtOrAfter(rs: Ranges, x: number): number {
  let lo = 0;
  let hi = rs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rs[mid]![1] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function contains(rs: Ranges, x: number): boolean {
  const i = firstEndingAtOrAfter(rs, x);
  return i < rs.length && rs[i]![0] <= x;
}

export function overlaps(a: Ranges, b: Ranges): boolean {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const [alo, ahi] = a[i]!;
    const [blo, bhi] = b[j]!;
    if (alo <= bhi && blo <= ahi) return true;
    if (ahi < bhi) i++;
    else j++;
  }
  return false;
}

export function maxOf(rs: Ranges): number | undefined {
  return rs.length === 0 ? undefined : rs[rs.length - 1]![1];
}

/**
 * Take `n` numbers from `next` upwards, skipping every number in `excluded` (normalized).
 * Returns the numbers (as ranges) and the new next (one above the last number taken).
 * Skipped numbers are never handed out later: the counter only moves up.
 */
export function takeNumbers(next: number, n: number, excluded: Ranges): { taken: Ranges; next: number } {
  const taken: Ranges = [];
  let x = next;
  let need = n;
  let i = firstEndingAtOrAfter(excluded, x);
  while (need > 0) {
    // Jump over an exclusion that covers x.
    while (i < excluded.length && excluded[i]![0] <= x) {
      if (excluded[i]![1] >= x) x = excluded[i]![1] + 1;
      i++;
    }
    const limit = i < excluded.length ? excluded[i]![0] - 1 : MAX_SECTOR_NUMBER;
    if (x > limit || x > MAX_SECTOR_NUMBER) throw new Error('sector numbers exhausted');
    const hi = Math.min(limit, x + need - 1);
    taken.push([x, hi]);
    need -= hi - x + 1;
    x = hi + 1;
  }
  return { taken, next: x };
}
