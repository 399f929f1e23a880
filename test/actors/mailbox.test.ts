// Scheduling logic of the GPU mailbox, with a test double for the executor (jobs that end when
// the test says so). Real proofs through the mailbox: mailbox-real.test.ts.
import test from 'ava';
import { type Execution, type Executor, Mailbox, MailboxError, type MailboxOptions } from '../../actors/mailbox.js';

interface FakeJob {
  id: number;
  kind: string;
  args: unknown[];
  finish(v?: unknown): void;
  fail(e: Error): void;
  throttled: boolean;
  throttles: number;
  cancelled?: string;
}

class FakeExecutor implements Executor {
  readonly started: FakeJob[] = [];
  start(job: { id: number; kind: string; args: unknown[] }): Execution {
    let finish!: (v?: unknown) => void;
    let fail!: (e: Error) => void;
    const done = new Promise<unknown>((res, rej) => {
      finish = res;
      fail = rej;
    });
    const f: FakeJob = { ...job, finish: (v) => finish(v ?? `result ${job.id}`), fail, throttled: false, throttles: 0 };
    this.started.push(f);
    return {
      done,
      throttle: () => {
        f.throttled = true;
        f.throttles++;
      },
      unthrottle: () => {
        f.throttled = false;
      },
      cancel: (reason) => {
        f.cancelled = reason;
      },
    };
  }
  byKind(kind: string): FakeJob[] {
    return this.started.filter((j) => j.kind === kind);
  }
}

function setup(over: Partial<MailboxOptions> = {}) {
  const ex = new FakeExecutor();
  let now = 1_000_000;
  const mb = new Mailbox({ devices: 1, winningLanes: 1, postLanes: 1, sealLanes: 1, agingMs: 60_000, throttle: true, executorFor: () => ex, now: () => now, ...over });
  // Every result gets a handler, so jobs a test leaves to close() are not unhandled rejections.
  const submit = mb.submit.bind(mb);
  mb.submit = ((spec) => {
    const r = submit(spec);
    r.result.catch(() => undefined);
    return r;
  }) as typeof mb.submit;
  return { ex, mb, advance: (ms: number) => (now += ms), nowMs: () => now };
}

const tick = () => new Promise((r) => setImmediate(r));

test('a Winning PoSt submitted behind a running and a queued sealing load starts at once', async (t) => {
  const { ex, mb, advance } = setup();
  const c2 = mb.submit({ kind: 'commit2', args: [] });
  const queued = [mb.submit({ kind: 'commit2', args: [] }), mb.submit({ kind: 'precommit2', args: [] }), mb.submit({ kind: 'commit2', args: [] })];
  t.is(ex.started.length, 1, 'one seal lane: one sealing job runs');
  advance(5000);
  const w = mb.submit({ kind: 'winning-post', args: ['r'] });
  t.is(ex.started.length, 2);
  t.is(ex.started[1].kind, 'winning-post', 'the Winning PoSt started at submission');
  t.true(ex.started[0].throttled, 'the running sealing job is throttled while the PoSt runs');
  t.deepEqual(mb.status().queued, { 'winning-post': 0, 'window-post': 0, commit2: 2, seal: 1 });
  advance(4000);
  ex.started[1].finish('proof');
  const out = await w.result;
  t.is(out.value, 'proof');
  t.is(out.report.waitMs, 0);
  t.is(out.report.runMs, 4000);
  t.is(out.report.lane, 'dev0/winning0');
  t.false(ex.started[0].throttled, 'released when the PoSt ended');
  ex.started[0].finish();
  const c2out = await c2.result;
  t.is(c2out.report.throttledMs, 4000);
  t.is(c2out.report.runMs, 9000);
  await tick();
  t.is(ex.started.length, 3, 'the next sealing job starts when the lane frees');
  await mb.close();
  await Promise.allSettled(queued.map((q) => q.result));
});

test('Window PoSt jumps the sealing queue and runs beside one sealing proof', async (t) => {
  const { ex, mb } = setup();
  mb.submit({ kind: 'commit2', args: [] }).result.catch(() => undefined);
  for (let i = 0; i < 5; i++) mb.submit({ kind: 'commit2', args: [] }).result.catch(() => undefined);
  const w = mb.submit({ kind: 'window-post', args: [] });
  t.is(ex.started.length, 2);
  t.is(ex.started[1].kind, 'window-post');
  t.is(mb.status().running.find((r) => r.kind === 'window-post')?.lane, 'dev0/post0');
  // A second Window PoSt while the first runs: next in line for the seal lane, ahead of all C2s.
  const w2 = mb.submit({ kind: 'window-post', args: [] });
  t.is(ex.started.length, 2);
  t.is(mb.status().queue[0].kind, 'window-post');
  ex.started[0].finish();
  await tick();
  t.is(ex.started[2].kind, 'window-post', 'the queued Window PoSt took the freed seal lane before the five C2s');
  ex.started[1].finish();
  ex.started[2].finish();
  await Promise.all([w.result, w2.result]);
  await mb.close();
});

test('a Winning PoSt never waits for a Window PoSt when PoSt lanes are free', async (t) => {
  const { ex, mb } = setup({ postLanes: 1 });
  mb.submit({ kind: 'window-post', args: [] });
  mb.submit({ kind: 'window-post', args: [] });
  t.is(ex.started.length, 2, 'two Window PoSts: post lane and seal lane');
  mb.submit({ kind: 'winning-post', args: [] });
  t.is(ex.started.length, 3);
  t.is(mb.status().running.find((r) => r.kind === 'winning-post')?.lane, 'dev0/winning0');
  await mb.close();
});

test('a queued job whose deadline passes is cancelled, never started', async (t) => {
  const { ex, mb } = setup({ now: Date.now });
  mb.submit({ kind: 'commit2', args: [] });
  const late = mb.submit({ kind: 'precommit2', args: [], deadline: Date.now() + 30 });
  const realStart = Date.now();
  const e = await t.throwsAsync(late.result, { instanceOf: MailboxError });
  t.is(e?.code, 'deadline');
  t.is(e?.report.state, 'cancelled');
  t.true(Date.now() - realStart < 5000);
  ex.started[0].finish();
  await tick();
  t.is(ex.started.length, 1, 'the cancelled job was never started');
  t.is(mb.status().totals.cancelled, 1);
  await mb.close();
});

test('a running job whose deadline passes is abandoned and its executor told to cancel', async (t) => {
  const ex = new FakeExecutor();
  const mb = new Mailbox({ devices: 1, winningLanes: 1, postLanes: 1, sealLanes: 1, agingMs: 60_000, throttle: true, executorFor: () => ex });
  const j = mb.submit({ kind: 'commit2', args: [], deadline: Date.now() + 40 });
  const e = await t.throwsAsync(j.result, { instanceOf: MailboxError });
  t.is(e?.code, 'deadline');
  t.is(ex.started[0].cancelled, 'deadline passed');
  // The lane is held until the executor really lets go.
  mb.submit({ kind: 'commit2', args: [] }).result.catch(() => undefined);
  t.is(ex.started.length, 1);
  ex.started[0].fail(new Error('killed'));
  await tick();
  t.is(ex.started.length, 2);
  await mb.close();
});

test('a deadline already passed at submission is refused', async (t) => {
  const { mb, nowMs } = setup();
  const e = await t.throwsAsync(mb.submit({ kind: 'winning-post', args: [], deadline: nowMs() - 1 }).result, { instanceOf: MailboxError });
  t.is(e?.code, 'deadline');
  await mb.close();
});

test('a failing job fails only itself', async (t) => {
  const { ex, mb } = setup({ sealLanes: 2 });
  const a = mb.submit({ kind: 'commit2', args: [] });
  const b = mb.submit({ kind: 'commit2', args: [] });
  const p = mb.submit({ kind: 'winning-post', args: [] });
  ex.started[0].fail(new Error('native: bad commit1 output'));
  const e = await t.throwsAsync(a.result, { instanceOf: MailboxError });
  t.is(e?.code, 'failed');
  t.regex(e!.message, /bad commit1 output/);
  ex.started[1].finish('ok-b');
  ex.started[2].finish('ok-p');
  t.is((await b.result).value, 'ok-b');
  t.is((await p.result).value, 'ok-p');
  t.deepEqual(mb.status().totals, { submitted: 3, done: 2, failed: 1, cancelled: 0 });
  await mb.close();
});

test('an executor that throws synchronously fails only that job', async (t) => {
  const mb = new Mailbox({
    devices: 1,
    winningLanes: 1,
    postLanes: 1,
    sealLanes: 1,
    agingMs: 1000,
    throttle: false,
    executorFor: () => ({
      start: () => {
        throw new Error('cannot start');
      },
    }),
  });
  const e = await t.throwsAsync(mb.submit({ kind: 'commit2', args: [] }).result, { instanceOf: MailboxError });
  t.regex(e!.message, /cannot start/);
  await mb.close();
});

test('aging: sealing work waiting long enough goes before newer Window PoSts on the seal lane', async (t) => {
  const { ex, mb, advance } = setup({ agingMs: 1000, postLanes: 1 });
  mb.submit({ kind: 'window-post', args: [] }); // post lane
  mb.submit({ kind: 'window-post', args: [] }); // seal lane
  const sealing = mb.submit({ kind: 'precommit2', args: [] });
  advance(500);
  mb.submit({ kind: 'window-post', args: [] });
  t.is(mb.status().queue[0].kind, 'window-post', 'young sealing work waits behind Window PoSt');
  advance(1600); // precommit2 waited 2.1 s: class 3 → 1, older than the queued Window PoSt
  t.is(mb.status().queue[0].kind, 'precommit2');
  ex.started[1].finish();
  await tick();
  t.is(ex.started[2].kind, 'precommit2');
  ex.started[0].finish();
  await tick();
  t.is(ex.started[3].kind, 'window-post', 'the Window PoSt took the post lane');
  ex.started[2].finish();
  await sealing.result;
  await mb.close();
});

test('aging never lifts sealing work above Winning PoSt', async (t) => {
  const { mb, advance, ex } = setup({ agingMs: 10 });
  mb.submit({ kind: 'winning-post', args: [] });
  mb.submit({ kind: 'winning-post', args: [] }); // post lane
  mb.submit({ kind: 'winning-post', args: [] }); // seal lane
  mb.submit({ kind: 'precommit1', args: [] });
  advance(100_000);
  mb.submit({ kind: 'winning-post', args: [] });
  t.deepEqual(
    mb.status().queue.map((r) => r.kind),
    ['winning-post', 'precommit1'],
  );
  t.is(ex.started.length, 3);
  await mb.close();
});

test('priority breaks ties inside a class; several devices give several lanes of each kind', async (t) => {
  const { mb, ex } = setup({ devices: 2 });
  for (let i = 0; i < 2; i++) mb.submit({ kind: 'commit2', args: [i] });
  t.is(ex.started.length, 2, 'one seal lane per device');
  mb.submit({ kind: 'commit2', args: ['low'], priority: 0 });
  mb.submit({ kind: 'commit2', args: ['high'], priority: 5 });
  t.deepEqual(
    mb.status().queue.map((r) => r.id),
    [4, 3],
  );
  t.deepEqual(
    mb.status().lanes.map((l) => l.name),
    ['dev0/winning0', 'dev0/post0', 'dev0/seal0', 'dev1/winning0', 'dev1/post0', 'dev1/seal0'],
  );
  await mb.close();
});

test('throttling off (GPU host): sealing keeps running beside PoSt', async (t) => {
  const { ex, mb } = setup({ throttle: false });
  mb.submit({ kind: 'commit2', args: [] });
  mb.submit({ kind: 'winning-post', args: [] });
  t.is(ex.started[0].throttles, 0);
  await mb.close();
});

test('cancelQueued drops the queued jobs of a dead actor, close cancels the rest', async (t) => {
  const { mb } = setup();
  mb.submit({ kind: 'commit2', args: [], submitter: 'seal' }).result.catch(() => undefined);
  const q1 = mb.submit({ kind: 'commit2', args: [], submitter: 'seal' });
  const q2 = mb.submit({ kind: 'commit2', args: [], submitter: 'deal' });
  t.is(
    mb.cancelQueued((r) => r.submitter === 'seal', 'actor seal died'),
    1,
  );
  t.is((await t.throwsAsync(q1.result, { instanceOf: MailboxError }))?.code, 'cancelled');
  await mb.close();
  t.is((await t.throwsAsync(q2.result, { instanceOf: MailboxError }))?.code, 'closed');
  t.is((await t.throwsAsync(mb.submit({ kind: 'winning-post', args: [] }).result, { instanceOf: MailboxError }))?.code, 'closed');
});

test('cancel: a queued job is dropped; a running one is told to cancel, its caller answered at once, and it no longer holds a Window PoSt back', async (t) => {
  const { ex, mb } = setup();
  const win = mb.submit({ kind: 'winning-post', args: [] });
  const wpost = mb.submit({ kind: 'window-post', args: [] });
  mb.submit({ kind: 'commit2', args: [] });
  const queued = mb.submit({ kind: 'commit2', args: [] });
  await tick();
  t.is(ex.byKind('winning-post').length, 1);
  t.is(ex.byKind('window-post').length, 0, 'held back while the Winning PoSt runs');
  t.is(ex.byKind('commit2').length, 1, 'one commit2 runs, one is queued');
  t.true(mb.cancel(queued.id, 'not wanted'));
  t.is((await t.throwsAsync(queued.result, { instanceOf: MailboxError }))?.code, 'cancelled');
  t.true(mb.cancel(win.id, 'a tipset at height 51 arrived'));
  const e = await t.throwsAsync(win.result, { instanceOf: MailboxError });
  t.is(e?.code, 'cancelled');
  t.regex(e?.message ?? '', /cancelled after \d+ ms of running: a tipset at height 51 arrived/);
  t.is(ex.byKind('winning-post')[0].cancelled, 'a tipset at height 51 arrived');
  await tick();
  t.is(ex.byKind('window-post').length, 1, 'the Window PoSt starts: the cancelled Winning PoSt no longer counts');
  t.false(mb.cancel(win.id, 'again'), 'an ended job cannot be cancelled');
  t.is(ex.byKind('commit2').length, 1, 'the cancelled queued one never started');
  ex.byKind('window-post')[0].finish();
  t.truthy(await wpost.result);
  await mb.close();
});

test('bad lane counts are refused', (t) => {
  const ex = new FakeExecutor();
  t.throws(() => new Mailbox({ devices: 1, winningLanes: 0, postLanes: 1, sealLanes: 1, agingMs: 1, throttle: true, executorFor: () => ex }), { message: /winningLanes/ });
  t.throws(() => new Mailbox({ devices: 0, winningLanes: 1, postLanes: 1, sealLanes: 1, agingMs: 1, throttle: true, executorFor: () => ex }), { message: /devices/ });
});

test('CPU host: a Window PoSt waits while a Winning PoSt runs (GPU host: they run together)', async (t) => {
  const { ex, mb } = setup();
  const win = mb.submit({ kind: 'winning-post', args: [] });
  const w = mb.submit({ kind: 'window-post', args: [] });
  t.deepEqual(
    ex.started.map((s) => s.kind),
    ['winning-post'],
    'the Window PoSt does not share the cores with the Winning PoSt',
  );
  ex.started[0].finish();
  await tick();
  t.deepEqual(
    ex.started.map((s) => s.kind),
    ['winning-post', 'window-post'],
    'it starts once the Winning PoSt is done',
  );
  ex.started[1].finish();
  await Promise.all([win.result, w.result]);
  await mb.close();
  const gpu = setup({ throttle: false });
  gpu.mb.submit({ kind: 'winning-post', args: [] }).result.catch(() => undefined);
  gpu.mb.submit({ kind: 'window-post', args: [] }).result.catch(() => undefined);
  t.is(gpu.ex.started.length, 2);
  for (const s of gpu.ex.started) s.finish();
  await gpu.mb.close();
});

test('CPU host: a Window PoSt already running is paused while a Winning PoSt runs, then resumed', async (t) => {
  const { ex, mb, advance } = setup();
  const seal = mb.submit({ kind: 'commit2', args: [] });
  const w = mb.submit({ kind: 'window-post', args: [] });
  const [c2, wp] = ex.started;
  t.true(c2.throttled, 'sealing is held while the Window PoSt runs');
  t.false(wp.throttled);
  const win = mb.submit({ kind: 'winning-post', args: [] });
  t.is(ex.started.length, 3, 'the Winning PoSt starts at once');
  t.true(wp.throttled, 'the running Window PoSt is paused for it');
  t.true(c2.throttled);
  advance(3000);
  ex.started[2].finish();
  await win.result;
  await tick();
  t.false(wp.throttled, 'resumed when the Winning PoSt is done');
  t.true(c2.throttled, 'sealing stays held: the Window PoSt still runs');
  wp.finish();
  const r = await w.result;
  t.is(r.report.throttledMs, 3000, "paused for the Winning PoSt's 3 s");
  await tick();
  t.false(c2.throttled, 'sealing resumes when no PoSt runs');
  c2.finish();
  await seal.result;
  await mb.close();
  // GPU host: nothing is paused.
  const gpu = setup({ throttle: false });
  gpu.mb.submit({ kind: 'window-post', args: [] }).result.catch(() => undefined);
  gpu.mb.submit({ kind: 'winning-post', args: [] }).result.catch(() => undefined);
  t.false(gpu.ex.started[0].throttled);
  for (const s of gpu.ex.started) s.finish();
  await gpu.mb.close();
});

// A miner elected most rounds whose Winning PoSt takes longer than an epoch (2 cores, short
// epochs) runs them back to back. A Window PoSt gives way to them only for the first half of
// its time to its deadline (or until twice the last Window PoSt's run time is left); then it
// starts, or resumes, beside them instead of being held to its deadline.
test('CPU host: back-to-back Winning PoSts hold a Window PoSt only for the first half of its time to its deadline', async (t) => {
  // Seal lanes to spare: the submissions that reschedule below take lanes of their own.
  const { ex, mb, advance, nowMs } = setup({ sealLanes: 3 });
  const runWinning = () => mb.submit({ kind: 'winning-post', args: [] });
  let win = runWinning();
  const w = mb.submit({ kind: 'window-post', args: [], deadline: nowMs() + 20_000 });
  t.deepEqual(
    ex.started.map((s) => s.kind),
    ['winning-post'],
    'queued behind the running Winning PoSt',
  );
  for (let i = 0; i < 2; i++) {
    advance(4000);
    ex.byKind('winning-post').at(-1)!.finish();
    await win.result;
    win = runWinning(); // the next round's, at once
    await tick();
  }
  t.is(ex.byKind('window-post').length, 1, 'started between two Winning PoSts');
  const wp = ex.byKind('window-post')[0];
  t.true(wp.throttled, 'and paused by the next one: 8 s of its 20 s gone');
  advance(2500); // 10.5 s: past half-way
  const extra = runWinning(); // any submission reschedules (this one takes a free seal lane)
  t.false(wp.throttled, 'resumed beside the running Winning PoSts');
  // ... and it is the Winning PoSt that is held now (where its executor can): a Winning PoSt
  // process at nice -20 would otherwise leave it a few percent of the CPU.
  t.deepEqual(
    ex.byKind('winning-post').map((j) => j.throttled),
    [false, false, true, true],
    'the two running Winning PoSts are held while the due Window PoSt runs (two finished before)',
  );
  advance(3000);
  wp.finish();
  const r = await w.result;
  await tick();
  t.true(
    ex.byKind('winning-post').every((j) => !j.throttled),
    'released once the Window PoSt is done',
  );
  t.is(r.report.throttledMs, 6500, 'held 4 s from its start, and 2.5 s more until half-way');
  for (const j of ex.byKind('winning-post')) j.finish();
  await Promise.all([win.result, extra.result]);
  await tick();

  // That Window PoSt ran 3 s unheld: a new one with 10 s to its deadline gives way only until
  // 2 × 3 s are left (4 s), sooner than half-way (5 s).
  win = runWinning();
  const w2 = mb.submit({ kind: 'window-post', args: [], deadline: nowMs() + 10_000 });
  t.is(ex.byKind('window-post').length, 1, 'waits for the Winning PoSt');
  advance(3800);
  runWinning().result.catch(() => undefined); // anything that reschedules
  t.is(ex.byKind('window-post').length, 1, 'still waits at 3.8 s');
  advance(300);
  runWinning().result.catch(() => undefined);
  t.is(ex.byKind('window-post').length, 2, 'started beside the Winning PoSt once only twice its run time was left');
  t.false(ex.byKind('window-post')[1].throttled);
  for (const j of ex.started) j.finish();
  await Promise.all([win.result, w2.result]);
  await mb.close();
});
