// Real proofs through the GPU mailbox: a real Commit2 in a proof-worker process, a second
// sealing job queued behind it, then a real Winning PoSt. The PoSt must start at once (its
// own lane), the Commit2 process must be paused (SIGSTOP) while the PoSt runs and resumed
// after, and every proof must verify. Then a job that fails in native code fails alone. And on
// a CPU host a Window PoSt runs in a proof process too, paused while a Winning PoSt runs —
// until its deadline nears: then the Winning PoSt's process is the one stopped.
// Run under scripts/proof-lock.sh (a Commit2 takes both cores for ~45 s).
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { InProcessExecutor, ProofProcessPool } from '../../actors/executors.js';
import { Mailbox, MailboxError } from '../../actors/mailbox.js';
import * as proofs from '../../src/proofs/index.js';
import { faultySectorsOf } from '../../src/post/runner.js';
import { copySector, sealedSectors } from '../helpers/sealed.js';
import { alive } from '../helpers/cluster.js';
import { Proc, killAll, until } from '../helpers/procs.js';

/** State letter and CPU ticks (utime+stime) of a process, from /proc/PID/stat. */
function procStat(pid: number): { state: string; ticks: number; session: number } {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0], ticks: Number(rest[11]) + Number(rest[12]), session: Number(rest[3]) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.after.always(killAll);

/** Samples a process's state letter every 20 ms while `during` runs; returns them and its CPU ticks meanwhile. */
async function sampleWhile<T>(pid: number, during: Promise<T>): Promise<{ value: T; states: string[]; ticks: number }> {
  const states: string[] = [];
  const ticks0 = procStat(pid).ticks;
  let ticks = ticks0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      try {
        const st = procStat(pid);
        states.push(st.state);
        ticks = st.ticks;
      } catch {
        break;
      }
      await sleep(20);
    }
  })();
  try {
    return { value: await during, states, ticks: ticks - ticks0 };
  } finally {
    sampling = false;
    await sampler;
  }
}

test.serial('a Winning PoSt starts at once beside a running real Commit2, which is paused meanwhile', async (t) => {
  const [fixture] = await sealedSectors(1);
  const dir = mkdtempSync(join(tmpdir(), 'distminer-mbreal-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const s = copySector(fixture, join(dir, 's1'));
  const proverId = proofs.proverIdFromMinerId(s.minerId);
  const ref = { proof: s.proof, sectorNumber: s.sectorNumber, proverId };
  const c1 = await proofs.sealCommitPhase1(ref, { commR: s.commR, commD: s.commD, cacheDir: s.cacheDir, sealedPath: s.sealedPath, ticket: s.ticket, seed: s.seed }, [s.piece]);

  const pool = new ProofProcessPool({ throttle: 'stop' });
  const post = new InProcessExecutor();
  const mb = new Mailbox({ devices: 1, winningLanes: 1, postLanes: 1, sealLanes: 1, agingMs: 600_000, throttle: true, executorFor: (k) => (k.endsWith('-post') ? post : pool) });
  t.teardown(() => mb.close([pool]));

  const c2 = mb.submit<Buffer>({ kind: 'commit2', args: [c1, s.sectorNumber, proverId], submitter: 'seal' });
  // Queued behind it: a sealing job that fails inside the native code (garbage C1 output).
  const broken = mb.submit({ kind: 'commit2', args: [Buffer.from('{"not":"a commit1 output"}'), s.sectorNumber, proverId], submitter: 'seal' });
  broken.result.catch(() => undefined);

  const pid = mb.status().running[0].pid!;
  t.truthy(pid, 'the Commit2 runs in its own process');
  // Let the Commit2 get going: wait until its process has burnt 3 s of CPU.
  const t0 = procStat(pid).ticks;
  for (let i = 0; i < 600 && procStat(pid).ticks - t0 < 300; i++) await sleep(100);
  t.true(procStat(pid).ticks - t0 >= 300, 'the Commit2 process is computing');

  const randomness = Buffer.alloc(32, 0x5a);
  const replica = { sectorNumber: s.sectorNumber, commR: s.commR, cacheDir: s.cacheDir, sealedPath: s.sealedPath, postProof: proofs.RegisteredPoStProof.StackedDrgWinning2KiBV1 };
  const winning = mb.submit<proofs.PoStProof[]>({ kind: 'winning-post', args: [randomness, [replica], proverId], submitter: 'winning-post' });
  t.deepEqual(mb.status().queued, { 'winning-post': 0, 'window-post': 0, commit2: 1, seal: 0 }, 'the PoSt did not queue');

  // Sample the Commit2 process while the PoSt runs.
  const { value: w, states, ticks: c2Ticks } = await sampleWhile(pid, winning.result);

  t.true(w.report.waitMs < 50, `the Winning PoSt waited ${w.report.waitMs} ms`);
  t.is(w.report.lane, 'dev0/winning0');
  const stopped = states.filter((x) => x === 'T').length;
  t.log(`Winning PoSt ran ${w.report.runMs} ms beside the Commit2; C2 process sampled ${states.length}×, stopped in ${stopped}; C2 CPU during the PoSt: ${c2Ticks} ticks`);
  // SIGSTOP lands within a few samples (20 ms apart; later on a loaded host), and once stopped
  // the process stays stopped until the PoSt is done.
  const firstStop = states.indexOf('T');
  t.true(firstStop >= 0 && firstStop <= 10, `the Commit2 process was stopped at once (${states.join('')})`);
  t.true(
    states.slice(firstStop).every((x) => x === 'T'),
    `and stayed stopped while the PoSt ran (${states.join('')})`,
  );
  t.true(c2Ticks <= 5, 'the paused Commit2 used (almost) no CPU during the PoSt');
  await sleep(100);
  t.not(procStat(pid).state, 'T', 'the Commit2 process was resumed after the PoSt');

  const v = await proofs.verifyWinningPoSt(randomness, [{ sectorNumber: s.sectorNumber, commR: s.commR, postProof: replica.postProof }], w.value, proverId);
  t.true(v.valid, v.reason);

  const c2out = await c2.result;
  t.true(c2out.report.startedAt! < w.report.startedAt!, 'the Commit2 was running when the PoSt started');
  t.true(c2out.report.finishedAt! > w.report.finishedAt!, 'the PoSt did not wait for the Commit2');
  t.true(c2out.report.throttledMs >= w.report.runMs - 50, `the Commit2 was throttled ${c2out.report.throttledMs} ms`);
  t.log(`Commit2: ran ${c2out.report.runMs} ms, of which paused ${c2out.report.throttledMs} ms`);
  const sealOk = await proofs.verifySeal({
    proof: s.proof,
    commR: s.commR,
    commD: s.commD,
    proverId,
    ticket: s.ticket,
    seed: s.seed,
    sectorNumber: s.sectorNumber,
    proofBytes: Buffer.from(c2out.value),
  });
  t.true(sealOk.valid, sealOk.reason);

  const e = await t.throwsAsync(broken.result, { instanceOf: MailboxError });
  t.is(e?.code, 'failed');
  t.log(`the broken job failed alone: ${e?.message}`);
  t.is(mb.status().totals.done, 2);
  t.is(mb.status().totals.failed, 1);
  // The process survived the native error and serves the next job.
  t.deepEqual(pool.pids(), [pid]);
});

test.serial('a proof-worker process killed mid-job fails only that job', async (t) => {
  const pool = new ProofProcessPool({ throttle: 'stop' });
  const mb = new Mailbox({ devices: 1, winningLanes: 1, postLanes: 1, sealLanes: 2, agingMs: 600_000, throttle: true, executorFor: () => pool });
  t.teardown(() => mb.close([pool]));
  // An op the worker rejects quickly, to get a process up; then kill that process mid-job.
  const first = mb.submit({ kind: 'commit2', args: [Buffer.from('x'), 1, Buffer.alloc(32)] });
  await t.throwsAsync(first.result);
  const [s] = await sealedSectors(1);
  const proverId = proofs.proverIdFromMinerId(s.minerId);
  const dir = mkdtempSync(join(tmpdir(), 'distminer-mbkill-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const c = copySector(s, join(dir, 's'));
  const c1 = await proofs.sealCommitPhase1(
    { proof: s.proof, sectorNumber: s.sectorNumber, proverId },
    { commR: c.commR, commD: c.commD, cacheDir: c.cacheDir, sealedPath: c.sealedPath, ticket: c.ticket, seed: c.seed },
    [c.piece],
  );
  const doomed = mb.submit({ kind: 'commit2', args: [c1, s.sectorNumber, proverId] });
  await sleep(500);
  const pid = mb.status().running[0].pid!;
  process.kill(pid, 'SIGKILL');
  const e = await t.throwsAsync(doomed.result, { instanceOf: MailboxError });
  t.regex(e!.message, /exited \(signal SIGKILL\)/);
  // The mailbox goes on: the next job gets a fresh process.
  const next = mb.submit({ kind: 'commit2', args: [Buffer.from('y'), 1, Buffer.alloc(32)] });
  const e2 = await t.throwsAsync(next.result, { instanceOf: MailboxError });
  t.notRegex(e2!.message, /exited/);
  t.not(mb.status().recent.at(-1)?.pid, pid);
});

test.serial('CPU host: a Window PoSt running in its proof process is paused while a Winning PoSt runs; both verify; missing sectors are named through the process', async (t) => {
  const fixture = await sealedSectors(2);
  const dir = mkdtempSync(join(tmpdir(), 'distminer-mbwin-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ss = fixture.map((f, i) => copySector(f, join(dir, `s${i}`)));
  const proverId = proofs.proverIdFromMinerId(ss[0].minerId);
  const windowPool = new ProofProcessPool({ throttle: 'stop' });
  const post = new InProcessExecutor();
  const mb = new Mailbox({ devices: 1, winningLanes: 1, postLanes: 1, sealLanes: 1, agingMs: 600_000, throttle: true, executorFor: (k) => (k === 'winning-post' ? post : windowPool) });
  t.teardown(() => mb.close([windowPool]));
  const replicas = (postProof: proofs.RegisteredPoStProof) => ss.map((s) => ({ sectorNumber: s.sectorNumber, commR: s.commR, cacheDir: s.cacheDir, sealedPath: s.sealedPath, postProof }));
  const windowType = proofs.RegisteredPoStProof.StackedDrgWindow2KiBV1_1;
  const pub = ss.map((s) => ({ sectorNumber: s.sectorNumber, commR: s.commR, postProof: windowType }));

  // A first Window PoSt brings the process up with its parameters loaded (as in a miner, where
  // the process stays warm between deadlines).
  const warm = await mb.submit<proofs.PoStProof[]>({ kind: 'window-post', args: [Buffer.alloc(32, 1), replicas(windowType), proverId] }).result;
  t.true(Buffer.isBuffer(warm.value[0].proofBytes), 'proof bytes come back from the process as a Buffer');
  t.true((await proofs.verifyWindowPoSt(Buffer.alloc(32, 1), pub, warm.value, proverId)).valid);
  const [pid] = windowPool.pids();
  t.truthy(pid, 'the Window PoSt ran in a proof process');

  // Window PoSt running; a Winning PoSt arrives: it starts at once and the Window PoSt's
  // process is stopped until it is done.
  const wRand = Buffer.alloc(32, 2);
  const window = mb.submit<proofs.PoStProof[]>({ kind: 'window-post', args: [wRand, replicas(windowType), proverId] });
  const winRand = Buffer.alloc(32, 3);
  const winning = mb.submit<proofs.PoStProof[]>({ kind: 'winning-post', args: [winRand, replicas(proofs.RegisteredPoStProof.StackedDrgWinning2KiBV1).slice(0, 1), proverId] });
  const { value: w, states } = await sampleWhile(pid, winning.result);
  const wp = await window.result;
  t.true(w.report.waitMs < 50, `the Winning PoSt waited ${w.report.waitMs} ms`);
  t.true(wp.report.startedAt! <= w.report.startedAt!, 'the Window PoSt was running when the Winning PoSt started');
  const stopped = states.filter((x) => x === 'T').length;
  t.log(`Winning PoSt ${w.report.runMs} ms; Window PoSt ran ${wp.report.runMs} ms, paused ${wp.report.throttledMs} ms; its process sampled ${states.length}×, stopped in ${stopped}`);
  t.true(stopped > 0 && stopped >= states.length - 2, `the Window PoSt process was stopped while the Winning PoSt ran (${states.join('')})`);
  t.true(wp.report.throttledMs >= w.report.runMs - 50, `the Window PoSt was paused ${wp.report.throttledMs} ms`);
  t.true((await proofs.verifyWinningPoSt(winRand, [{ sectorNumber: ss[0].sectorNumber, commR: ss[0].commR, postProof: proofs.RegisteredPoStProof.StackedDrgWinning2KiBV1 }], w.value, proverId)).valid);
  t.true((await proofs.verifyWindowPoSt(wRand, pub, wp.value, proverId)).valid, 'the paused and resumed Window PoSt verifies');

  // A missing sealed file: the process's error still names the sector (the Window PoSt
  // scheduler skips exactly those).
  rmSync(ss[1].sealedPath);
  const e = await t.throwsAsync(mb.submit({ kind: 'window-post', args: [wRand, replicas(windowType), proverId] }).result, { instanceOf: MailboxError });
  t.deepEqual(faultySectorsOf(e), [ss[1].sectorNumber], e?.message);
  t.deepEqual(faultySectorsOf((e as MailboxError).causeError), [ss[1].sectorNumber]);
});

// kill -9 of the miner while its proof process is stopped (SIGSTOP during a PoSt): the stopped
// process must not stay behind stopped for ever. Real processes: a parent holding a pool whose
// process is stopped, then SIGKILLed.
test.serial('a proof process stopped when its miner is SIGKILLed does not stay behind', async (t) => {
  const executors = new URL('../../actors/executors.js', import.meta.url).href;
  const script = `
    const { ProofProcessPool } = await import(${JSON.stringify(executors)});
    const pool = new ProofProcessPool({ throttle: 'stop' });
    const ex = pool.start({ id: 1, kind: 'commit2', args: [Buffer.from('x'), 1, Buffer.alloc(32)] });
    await ex.done.catch(() => undefined); // the process is up (the job failed fast) and stays warm
    const again = pool.start({ id: 2, kind: 'commit2', args: [Buffer.from('y'), 1, Buffer.alloc(32)] });
    again.throttle(); // stopped, as during a PoSt
    // On a busy host the process may answer this fast-failing job before the stop lands; it is
    // then stopped while idle, which is the same case. Its failure must not crash this parent
    // (an unhandled rejection would, and the exiting pool would take the process with it).
    again.done.catch(() => console.log('JOB2 answered before the stop'));
    console.log('CHILD ' + again.pid);
    setInterval(() => {}, 1000);`;
  const parent = new Proc('pool-parent', ['--input-type=module', '-e', script]);
  const pid = Number((await parent.waitFor(/^CHILD \d+/, 30_000)).split(' ')[1]);
  const state = () => {
    try {
      return procStat(pid).state;
    } catch {
      return `gone; the parent printed:\n${parent.lines.join('\n')}`;
    }
  };
  for (let i = 0; i < 150 && state() !== 'T'; i++) await sleep(20);
  t.is(state(), 'T', 'the proof process is stopped');
  // In a session (so a scheduler autogroup) of its own, not the miner's (actors/priority.ts).
  t.is(procStat(pid).session, pid, 'the proof process leads a session of its own');
  t.not(procStat(parent.child.pid!).session, pid);
  await parent.kill9();
  await until(async () => !alive(pid), 10_000, `proof process ${pid} to go after its miner was killed`);
  t.pass();
});

test.serial("a PoSt proof process stays in the miner's session (its raised priority); a sealing one leaves it; a Winning PoSt one leads its own at nice -20 where allowed", async (t) => {
  const { ProofProcessPool } = await import('../../actors/executors.js');
  const { WINNING_NICE, mayLowerNiceTo } = await import('../../actors/priority.js');
  const mine = procStat(process.pid).session;
  const winning = new ProofProcessPool({ throttle: 'none', post: true, winning: true });
  const done = winning.start({ id: 1, kind: 'commit2', args: [Buffer.from('x'), 1, Buffer.alloc(32)] }).done;
  await done.catch(() => undefined);
  const [wpid] = winning.pids();
  if (mayLowerNiceTo(WINNING_NICE).ok) {
    t.is(procStat(wpid).session, wpid, 'Winning PoSt process: a session of its own');
    t.is(getPriority(wpid), WINNING_NICE);
  } else t.is(procStat(wpid).session, mine, "Winning PoSt process where -20 is not allowed: the miner's session");
  await winning.close();
  for (const post of [true, false]) {
    const pool = new ProofProcessPool({ throttle: 'stop', post });
    const ex = pool.start({ id: 1, kind: 'commit2', args: [Buffer.from('x'), 1, Buffer.alloc(32)] });
    await ex.done.catch(() => undefined); // fails fast; the process stays warm
    const [pid] = pool.pids();
    t.truthy(pid);
    // The worker sets its session right after start; the failed job's answer came after that.
    if (post) t.is(procStat(pid).session, mine, "PoSt process: the miner's session");
    else t.is(procStat(pid).session, pid, 'sealing process: a session of its own');
    await pool.close();
  }
});

// A Winning PoSt whose round was decided without it is cancelled: its process is killed (an
// in-process proof could not be stopped and would keep half the cores from the next one), and
// the next round's proof starts at once on the spare process the pool keeps started.
test.serial("a cancelled Winning PoSt's process is killed; the next one starts at once on the started spare and verifies", async (t) => {
  const [s] = await sealedSectors(1);
  const proverId = proofs.proverIdFromMinerId(s.minerId);
  const replica = { sectorNumber: s.sectorNumber, commR: s.commR, cacheDir: s.cacheDir, sealedPath: s.sealedPath, postProof: proofs.RegisteredPoStProof.StackedDrgWinning2KiBV1 };
  const pool = new ProofProcessPool({ throttle: 'none', post: true, spares: 1, idleMs: Infinity });
  const mb = new Mailbox({ devices: 1, winningLanes: 1, postLanes: 1, sealLanes: 1, agingMs: 600_000, throttle: true, executorFor: () => pool });
  t.teardown(() => mb.close([pool]));
  await until(async () => pool.pids().length === 1 || undefined, 10_000, 'the spare started with the pool');
  const [spare0] = pool.pids();

  const first = mb.submit<proofs.PoStProof[]>({ kind: 'winning-post', args: [Buffer.alloc(32, 1), [replica], proverId], submitter: 'winning-post' });
  first.result.catch(() => undefined);
  const pid = mb.status().running[0].pid!;
  t.is(pid, spare0, 'the first job ran on the process started ahead');
  // Burning CPU: the proof is under way.
  const t0 = procStat(pid).ticks;
  await until(async () => procStat(pid).ticks - t0 >= 50 || undefined, 30_000, 'the proof computing');
  await until(async () => pool.pids().length === 2 || undefined, 10_000, 'a new spare beside the busy process');
  const spare = pool.pids().find((p) => p !== pid)!;

  t.true(mb.cancel(first.id, 'a tipset at height 51 arrived'));
  const e = await t.throwsAsync(first.result, { instanceOf: MailboxError });
  t.is(e?.code, 'cancelled');
  await until(async () => !alive(pid) || undefined, 5000, `the cancelled proof's process ${pid} to go`);

  const randomness = Buffer.alloc(32, 2);
  const next = mb.submit<proofs.PoStProof[]>({ kind: 'winning-post', args: [randomness, [replica], proverId], submitter: 'winning-post' });
  const out = await next.result;
  t.is(out.report.pid, spare, 'the next proof ran on the spare');
  t.true(out.report.waitMs < 500, `the next proof waited ${out.report.waitMs} ms for its lane`);
  const v = await proofs.verifyWinningPoSt(randomness, [{ sectorNumber: s.sectorNumber, commR: s.commR, postProof: replica.postProof }], out.value, proverId);
  t.true(v.valid, v.reason);
  t.log(`cancelled after the proof had run; the next one waited ${out.report.waitMs} ms and ran ${out.report.runMs} ms on the spare`);
  await until(async () => pool.pids().length === 2 || undefined, 10_000, 'two processes again: the one used and a spare');
});

// The other way round: a Window PoSt past its yield point (its deadline near) must not starve
// behind a Winning PoSt whose process outranks it (nice -20 in a session of its own): the
// mailbox stops the Winning PoSt's process (SIGSTOP) until the Window PoSt is done, then
// resumes it. Real processes, as `distminer run` makes them; both proofs verify.
test.serial("a Window PoSt near its deadline stops the running Winning PoSt's process until it is done; both verify", async (t) => {
  const fixture = await sealedSectors(2);
  const dir = mkdtempSync(join(tmpdir(), 'distminer-mbdue-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ss = fixture.map((f, i) => copySector(f, join(dir, `s${i}`)));
  const proverId = proofs.proverIdFromMinerId(ss[0].minerId);
  const winningPool = new ProofProcessPool({ throttle: 'stop', post: true, winning: true, spares: 1, idleMs: Infinity });
  const windowPool = new ProofProcessPool({ throttle: 'stop', post: true, idleMs: Infinity });
  const mb = new Mailbox({ devices: 1, winningLanes: 1, postLanes: 1, sealLanes: 1, agingMs: 600_000, throttle: true, executorFor: (k) => (k === 'winning-post' ? winningPool : windowPool) });
  t.teardown(() => mb.close([winningPool, windowPool]));
  const windowType = proofs.RegisteredPoStProof.StackedDrgWindow2KiBV1_1;
  const winningType = proofs.RegisteredPoStProof.StackedDrgWinning2KiBV1;
  const replicas = (postProof: proofs.RegisteredPoStProof) => ss.map((s) => ({ sectorNumber: s.sectorNumber, commR: s.commR, cacheDir: s.cacheDir, sealedPath: s.sealedPath, postProof }));
  const winningJob = (rand: Buffer) => mb.submit<proofs.PoStProof[]>({ kind: 'winning-post', args: [rand, replicas(winningType).slice(0, 1), proverId], submitter: 'winning-post' });

  // Both processes warm (parameters loaded), as in a running miner.
  const warmWindow = await mb.submit<proofs.PoStProof[]>({ kind: 'window-post', args: [Buffer.alloc(32, 1), replicas(windowType), proverId] }).result;
  await winningJob(Buffer.alloc(32, 2)).result;

  const winRand = Buffer.alloc(32, 3);
  const winning = winningJob(winRand);
  await until(async () => mb.status().running.find((r) => r.class === 'winning-post')?.pid ?? undefined, 10_000, 'the Winning PoSt running');
  const winPid = mb.status().running.find((r) => r.class === 'winning-post')!.pid!;
  const t0 = procStat(winPid).ticks;
  await until(async () => procStat(winPid).ticks - t0 >= 20 || undefined, 30_000, 'the Winning PoSt computing');
  // A deadline so near that the Window PoSt is past its yield point almost at once: twice its
  // last run time away, plus 200 ms.
  const wRand = Buffer.alloc(32, 4);
  const deadline = Date.now() + 2 * warmWindow.report.runMs + 200;
  const window = mb.submit<proofs.PoStProof[]>({ kind: 'window-post', args: [wRand, replicas(windowType), proverId], deadline });
  const { value: wp, states } = await sampleWhile(winPid, window.result);
  const w = await winning.result;
  const stopped = states.filter((x) => x === 'T').length;
  t.log(
    `Window PoSt ran ${wp.report.runMs} ms (waited ${wp.report.waitMs} ms), done ${deadline - wp.report.finishedAt!} ms before its deadline; the Winning PoSt's process sampled ${states.length}×, stopped in ${stopped}; the Winning PoSt ran ${w.report.runMs} ms, held ${w.report.throttledMs} ms`,
  );
  t.true(stopped > 0, `the Winning PoSt's process was stopped while the due Window PoSt ran (${states.join('')})`);
  t.true(w.report.throttledMs > 0, 'the mailbox counts the Winning PoSt as held');
  t.true(wp.report.finishedAt! <= deadline, 'the Window PoSt made its deadline');
  t.not(procStat(winPid).state, 'T', 'the Winning PoSt process was resumed');
  t.true(
    (
      await proofs.verifyWindowPoSt(
        wRand,
        replicas(windowType).map((r) => ({ sectorNumber: r.sectorNumber, commR: r.commR, postProof: windowType })),
        wp.value,
        proverId,
      )
    ).valid,
  );
  t.true(
    (await proofs.verifyWinningPoSt(winRand, [{ sectorNumber: ss[0].sectorNumber, commR: ss[0].commR, postProof: winningType }], w.value, proverId)).valid,
    'the stopped and resumed Winning PoSt verifies',
  );
});
