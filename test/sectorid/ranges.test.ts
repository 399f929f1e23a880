// Unit tests of the pure logic: range sets, the skipping allocator step, frame splitting.
import test from 'ava';
import { FrameReader, encodeFrame, decodeBody, parseEnvelope, parseRequest, SectorIdError } from '../../src/sectorid/protocol.js';
import { contains, formatRanges, fromRleRuns, normalize, overlaps, parseRanges, takeNumbers, toNumbers } from '../../src/sectorid/ranges.js';

test('parseRanges accepts lotus-style lists and rejects junk', (t) => {
  t.deepEqual(parseRanges('1-10,15'), [
    [1, 10],
    [15, 15],
  ]);
  t.deepEqual(parseRanges('15, 3-4,5'), [
    [3, 5],
    [15, 15],
  ]);
  t.is(formatRanges(parseRanges('1-10,15')), '1-10,15');
  for (const bad of ['', '5-1', 'a', '1-', '-3', '1..3', '99999999999999999']) t.throws(() => parseRanges(bad), undefined, bad);
});

test('normalize merges overlapping and adjacent ranges and validates bounds', (t) => {
  t.deepEqual(
    normalize([
      [5, 6],
      [1, 2],
      [3, 3],
      [10, 12],
      [11, 20],
    ]),
    [
      [1, 3],
      [5, 6],
      [10, 20],
    ],
  );
  t.throws(() => normalize([[3, 2]]));
  t.throws(() => normalize([[-1, 2]]));
  t.throws(() => normalize([[0.5, 2]]));
});

test('RLE+ runs decode to the set bits', (t) => {
  // unset 3, set 2, unset 1, set 4 -> {3,4} and {6..9}
  t.deepEqual(fromRleRuns([3, 2, 1, 4]), [
    [3, 4],
    [6, 9],
  ]);
  t.deepEqual(fromRleRuns([0, 5]), [[0, 4]]);
  t.deepEqual(fromRleRuns([]), []);
});

test('takeNumbers skips exclusions and never returns an excluded number', (t) => {
  const ex = normalize([
    [2, 3],
    [5, 5],
    [8, 100],
  ]);
  const r = takeNumbers(0, 5, ex);
  t.deepEqual(toNumbers(r.taken), [0, 1, 4, 6, 7]);
  t.is(r.next, 8);
  const r2 = takeNumbers(r.next, 2, ex);
  t.deepEqual(toNumbers(r2.taken), [101, 102]);
  // Random check against a brute-force model.
  for (let k = 0; k < 200; k++) {
    const rs: Array<[number, number]> = [];
    for (let j = 0; j < 5; j++) {
      const lo = Math.floor(Math.random() * 60);
      rs.push([lo, lo + Math.floor(Math.random() * 6)]);
    }
    const exk = normalize(rs);
    const start = Math.floor(Math.random() * 30);
    const n = 1 + Math.floor(Math.random() * 20);
    const got = toNumbers(takeNumbers(start, n, exk).taken);
    const want: number[] = [];
    for (let x = start; want.length < n; x++) if (!contains(exk, x)) want.push(x);
    t.deepEqual(got, want);
  }
  t.true(overlaps([[1, 2]], [[2, 9]]));
  t.false(overlaps([[1, 2]], [[3, 9]]));
});

test('FrameReader splits a byte stream at any chunking and enforces the size limit', (t) => {
  const frames = [encodeFrame({ a: 1 }), encodeFrame({ b: 'x'.repeat(300) }), encodeFrame([1, 2, 3])];
  const all = Buffer.concat(frames);
  for (let step = 1; step <= all.length; step += 7) {
    const r = new FrameReader(1024);
    const out: unknown[] = [];
    for (let i = 0; i < all.length; i += step) for (const b of r.push(all.subarray(i, i + step))) out.push(decodeBody(b));
    t.deepEqual(out, [{ a: 1 }, { b: 'x'.repeat(300) }, [1, 2, 3]]);
    t.is(r.pending, 0);
  }
  const big = Buffer.alloc(4);
  big.writeUInt32BE(2000);
  const e = t.throws(() => new FrameReader(1024).push(big));
  t.is((e as SectorIdError).code, 'FRAME_TOO_LARGE');
});

test('request validation: version, id, per-op fields', (t) => {
  const code = (x: unknown) => {
    try {
      parseRequest(parseEnvelope(x));
      return 'ok';
    } catch (e) {
      return (e as SectorIdError).code;
    }
  };
  t.is(code({ v: 1, id: 'a', token: 't', op: 'alloc', n: 3 }), 'ok');
  t.is(code({ v: 2, id: 'a', token: 't', op: 'alloc', n: 3 }), 'UNSUPPORTED_VERSION');
  t.is(code({ v: 1, token: 't', op: 'alloc', n: 3 }), 'BAD_FRAME');
  t.is(code([1, 2]), 'BAD_FRAME');
  t.is(code('str'), 'BAD_FRAME');
  t.is(code({ v: 1, id: 'a', token: 't', op: 'alloc', n: 0 }), 'BAD_REQUEST');
  t.is(code({ v: 1, id: 'a', token: 't', op: 'alloc', n: 1e9 }), 'BAD_REQUEST');
  t.is(code({ v: 1, id: 'a', token: 't', op: 'alloc', n: 1.5 }), 'BAD_REQUEST');
  t.is(code({ v: 1, id: 'a', token: 't', op: 'nope' }), 'BAD_REQUEST');
  t.is(code({ v: 1, id: 'a', token: 't', op: 'reserve', name: 'x', ranges: [[3, 1]] }), 'BAD_REQUEST');
  t.is(code({ v: 1, id: 'a', token: 't', op: 'setFloor', floor: -1 }), 'BAD_REQUEST');
});
