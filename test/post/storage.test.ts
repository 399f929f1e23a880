// The storage checks the PoSt roles make before proving: three outcomes per sector (ok; gone:
// missing, wrong size, a definite read error; slow: no answer in time), with real files (a
// FIFO stands in for a disk that does not answer: opening it blocks), and the retries of slow
// sectors within a budget (a storage double and a virtual clock: deterministic, no waiting).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CheckResult, type SectorCheck, checkSectors, checkWithRetries, locateSector, sectorName } from '../../src/post/storage.js';

const MINER = 1000;
const SIZE = 2048;

/** A storage path with sector `n`'s files in Lotus's layout (sealed of `size` bytes, p_aux, t_aux, tree-r-last). */
function placeFake(dir: string, n: number, size = SIZE): void {
  const name = sectorName(MINER, n);
  mkdirSync(join(dir, 'sealed'), { recursive: true });
  mkdirSync(join(dir, 'cache', name), { recursive: true });
  writeFileSync(join(dir, 'sealed', name), Buffer.alloc(size, 1));
  for (const f of ['p_aux', 't_aux', 'sc-02-data-tree-r-last.dat']) writeFileSync(join(dir, 'cache', name, f), Buffer.alloc(64, 2));
}

/** Replaces a cache file by a FIFO: the checker's open() blocks on it, like a read on a hung disk. */
function hang(dir: string, n: number): string {
  const p = join(dir, 'cache', sectorName(MINER, n), 'p_aux');
  rmSync(p);
  execFileSync('mkfifo', [p]);
  return p;
}

function tempStorage(t: { teardown(f: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'distminer-storage-check-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

test('real files: ok, gone (missing, wrong size), slow (no answer within the timeout)', async (t) => {
  const dir = tempStorage(t);
  placeFake(dir, 1);
  placeFake(dir, 2, SIZE - 1);
  placeFake(dir, 4);
  const fifo = hang(dir, 4);
  const t0 = Date.now();
  const r = await checkSectors([dir], MINER, [1, 2, 3, 4], { sectorSize: SIZE, timeoutMs: 3000 });
  t.true(Date.now() - t0 < 10_000, 'the hung check costs its timeout, not more');
  t.is(r.get(1)!.outcome, 'ok');
  t.true(r.get(1)!.ok);
  t.is(r.get(2)!.outcome, 'gone');
  t.regex(r.get(2)!.reason!, /has 2047 bytes, expected 2048/);
  t.is(r.get(3)!.outcome, 'gone');
  t.regex(r.get(3)!.reason!, /no sealed file s-t01000-3/);
  t.is(r.get(4)!.outcome, 'slow');
  t.false(r.get(4)!.ok);
  t.regex(r.get(4)!.reason!, /within 3000 ms/);
  t.is(r.get(4)!.path, join(dir, 'sealed', sectorName(MINER, 4)));
  // The disk answers again: the next check says ok (the killed checker left nothing behind).
  rmSync(fifo);
  writeFileSync(fifo, Buffer.alloc(64, 2));
  const again = await checkSectors([dir], MINER, [4], { sectorSize: SIZE, timeoutMs: 10_000 });
  t.is(again.get(4)!.outcome, 'ok');
});

test('real files: a good copy in one path wins over a slow or gone one; slow beats gone', async (t) => {
  const a = tempStorage(t);
  const b = tempStorage(t);
  placeFake(a, 1);
  hang(a, 1);
  placeFake(b, 1); // good copy
  placeFake(b, 2, 100); // wrong size here ...
  placeFake(a, 2);
  hang(a, 2); // ... and no answer there: maybe fine, so slow
  const r = await checkSectors([a, b], MINER, [1, 2], { sectorSize: SIZE, timeoutMs: 3000 });
  t.is(r.get(1)!.outcome, 'ok');
  t.is(r.get(1)!.files!.storage, b);
  t.is(r.get(2)!.outcome, 'slow');
  t.regex(r.get(2)!.reason!, /has 100 bytes/);
  t.regex(r.get(2)!.reason!, /no answer from/);
});

test('real files: an answer that came while this process was too busy to read it before the timeout counts', async (t) => {
  const dir = tempStorage(t);
  placeFake(dir, 1);
  const check = checkSectors([dir], MINER, [1], { sectorSize: SIZE, timeoutMs: 500 });
  // The event loop blocked past the timeout (a loaded process): the checker answers meanwhile.
  const until = Date.now() + 4000;
  while (Date.now() < until);
  const r = (await check).get(1)!;
  t.is(r.outcome, 'ok', r.reason);
});

test('locateSector (Winning PoSt): a stat answered while this process was too busy to read it is not taken for a missing file', async (t) => {
  const dir = tempStorage(t);
  placeFake(dir, 1);
  const found = locateSector([dir], MINER, 1, 200);
  const until = Date.now() + 1000;
  while (Date.now() < until);
  t.is((await found)?.storage, dir);
  t.is(await locateSector([dir], MINER, 2, 200), undefined);
});

// ---- retries: a storage double over a virtual clock

interface Call {
  sectors: number[];
  timeoutMs: number;
  at: number;
}

/** A double answering per sector from a script (answer i for the sector's i-th check, the last one repeated); a slow answer costs its timeout. */
function double(script: Record<number, CheckResult['outcome'][]>) {
  let clock = 0;
  const calls: Call[] = [];
  const seen = new Map<number, number>();
  const check: SectorCheck = async (sectors, timeoutMs) => {
    calls.push({ sectors, timeoutMs, at: clock });
    const out = new Map<number, CheckResult>();
    let slow = false;
    for (const s of sectors) {
      const i = seen.get(s) ?? 0;
      seen.set(s, i + 1);
      const answers = script[s];
      const outcome = answers[Math.min(i, answers.length - 1)];
      slow ||= outcome === 'slow';
      out.set(s, { sectorNumber: s, ok: outcome === 'ok', outcome, path: `/mnt/sealed/s-t01000-${s}`, reason: outcome === 'ok' ? undefined : outcome, attempts: 1, elapsedMs: 0 });
    }
    clock += slow ? timeoutMs : 5;
    return out;
  };
  return { check, calls, now: () => clock, sleep: async (ms: number) => void (clock += ms) };
}

test('retries: a sector slow twice, then readable within the budget, is ok after 3 checks; ok and gone ones are checked once', async (t) => {
  const d = double({ 1: ['ok'], 2: ['gone'], 3: ['slow', 'slow', 'ok'] });
  const r = await checkWithRetries(d.check, [1, 2, 3], { timeoutMs: 10_000, untilMs: 120_000, now: d.now, sleep: d.sleep });
  t.is(r.get(1)!.outcome, 'ok');
  t.is(r.get(1)!.attempts, 1);
  t.is(r.get(2)!.outcome, 'gone');
  t.is(r.get(2)!.attempts, 1);
  t.is(r.get(3)!.outcome, 'ok');
  t.is(r.get(3)!.attempts, 3);
  // Only the slow sector is retried, with backoff (500 ms, 1 s) and longer timeouts (10, 20, 40 s).
  t.deepEqual(
    d.calls.map((c) => [c.sectors, c.timeoutMs, c.at]),
    [
      [[1, 2, 3], 10_000, 0],
      [[3], 20_000, 10_500],
      [[3], 40_000, 31_500],
    ],
  );
  t.is(r.get(3)!.elapsedMs, 31_505);
});

test('retries: a sector slow past the budget stays slow; no retry starts that cannot end in time', async (t) => {
  const d = double({ 1: ['slow'] });
  const r = await checkWithRetries(d.check, [1], { timeoutMs: 10_000, untilMs: 45_000, now: d.now, sleep: d.sleep });
  t.is(r.get(1)!.outcome, 'slow');
  t.is(r.get(1)!.attempts, 3);
  // 0: 10 s; 10.5: 20 s; 31.5: the 13.5 s left (not 40 s); then nothing fits.
  t.deepEqual(
    d.calls.map((c) => [c.timeoutMs, c.at]),
    [
      [10_000, 0],
      [20_000, 10_500],
      [13_500, 31_500],
    ],
  );
  t.true(d.now() <= 45_000);
  // No budget at all: one check, as before.
  const once = double({ 1: ['slow'] });
  const r1 = await checkWithRetries(once.check, [1], { timeoutMs: 10_000, untilMs: 0, now: once.now, sleep: once.sleep });
  t.is(r1.get(1)!.outcome, 'slow');
  t.is(once.calls.length, 1);
});

test('retries: continuing after an earlier check, and cancelled', async (t) => {
  const d = double({ 1: ['ok'] });
  // One check made by the caller (slow, 10 s ago): the next one is a retry with a longer timeout.
  const r = await checkWithRetries(d.check, [1], { timeoutMs: 10_000, untilMs: 60_000, attemptsBefore: 1, startedMs: -10_000, now: d.now, sleep: d.sleep });
  t.deepEqual(
    d.calls.map((c) => [c.timeoutMs, c.at]),
    [[20_000, 500]],
  );
  t.is(r.get(1)!.attempts, 2);
  t.is(r.get(1)!.elapsedMs, 10_505);
  const c = double({ 1: ['slow'] });
  let stop = false;
  const r2 = await checkWithRetries(c.check, [1], { timeoutMs: 10_000, untilMs: 600_000, now: c.now, sleep: async (ms) => ((stop = true), c.sleep(ms)), cancelled: () => stop });
  t.is(r2.get(1)!.attempts, 1);
  t.is(c.calls.length, 1);
});
