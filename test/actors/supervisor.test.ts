// The supervisor with real worker threads running the real role modules: every way a role's
// worker can die is restarted while a sibling keeps answering; restart types; snapshots.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ChildSpec, Supervisor, type SupervisorOptions } from '../../actors/supervisor.js';
import type { CrashHow } from '../../actors/protocol.js';

const ROLE = (r: string) => new URL(`../../actors/roles/${r}.js`, import.meta.url).href;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RESTART_BOUND_MS = 15_000;

function spec(id: string, role: string, over: Partial<ChildSpec> = {}): ChildSpec {
  return { id, module: ROLE(role), restart: 'permanent', backoff: { initialMs: 20, maxMs: 200 }, shutdownMs: 3000, ...over };
}

/** A supervisor over `children` in a scratch state directory (removed when the test ends). */
function make(t: { teardown(f: () => void): void }, children: ChildSpec[], over: Partial<SupervisorOptions> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-sup-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sup = new Supervisor({ children, intensity: { maxRestarts: 20, withinMs: 60_000 }, stateDir: dir, allowCrash: true, heartbeatMs: 100, heartbeatTimeoutMs: 10_000, ...over });
  return { sup, dir };
}

async function until<T>(what: string, f: () => T | undefined | false, ms = RESTART_BOUND_MS): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const actor = (sup: Supervisor, id: string) => sup.status().actors.find((a) => a.id === id)!;

// Serial: these watch a sibling's responsiveness, which other tests' load on 2 cores would blur.
for (const how of ['throw', 'reject', 'exit', 'heap', 'hang'] as CrashHow[]) {
  test.serial(`a role worker that dies by "${how}" is restarted from its snapshot while its sibling keeps answering`, async (t) => {
    const { sup } = make(
      t,
      [spec('victim', 'seal', { resourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 8 } }), spec('sibling', 'deal')],
      how === 'hang' ? { heartbeatTimeoutMs: 2000 } : {},
    );
    sup.start();
    await until('both running', () => sup.status().actors.every((a) => a.status === 'running'));
    // Durable role state, then wait for it to be persisted (the state message follows the write).
    sup.sendEvent('victim', { type: 'SET', key: 'sectorsInFlight', value: [7, 8] });
    await until('SET applied', () => (actor(sup, 'victim').context?.data as Record<string, unknown>)?.sectorsInFlight);
    const siblingThread = actor(sup, 'sibling').threadId;

    let siblingAnswers = 0;
    let siblingFailures = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        try {
          t.is(await sup.ping('sibling', 3000), 'running');
          siblingAnswers++;
        } catch {
          siblingFailures++;
        }
        await sleep(25);
      }
    })();

    const crashedAt = Date.now();
    sup.crash('victim', how);
    // Restarted and resumed: the restored snapshot's first state message (status running) comes
    // before the one of its RESUMED event, and on a loaded host a poll can fall between them.
    await until('victim restarted', () => actor(sup, 'victim').restarts === 1 && actor(sup, 'victim').status === 'running' && Number(actor(sup, 'victim').context?.resumes ?? 0) >= 1);
    const restartMs = Date.now() - crashedAt;
    polling = false;
    await poller;

    const v = actor(sup, 'victim');
    t.true(v.lastExit?.abnormal);
    t.log(`${how}: restarted in ${restartMs} ms; last exit: ${v.lastExit?.reason}; sibling answered ${siblingAnswers} pings meanwhile`);
    if (how === 'heap') t.regex(v.lastExit!.reason, /out of memory/);
    if (how === 'hang') t.regex(v.lastExit!.reason, /unresponsive/);
    if (how === 'exit') t.regex(v.lastExit!.reason, /code 7/);
    t.true(v.restoredSnapshot, 'the restarted actor restored its persisted snapshot');
    t.deepEqual((v.context?.data as Record<string, unknown>).sectorsInFlight, [7, 8]);
    t.is(v.context?.starts, 1, 'restored, not started afresh');
    t.is(v.context?.resumes, 1);
    const s = actor(sup, 'sibling');
    t.is(s.restarts, 0);
    t.is(s.threadId, siblingThread, 'the sibling is the same thread as before');
    t.true(siblingAnswers > 0);
    t.is(siblingFailures, 0);
    await sup.stop();
  });
}

test.serial('a stuck role is reported unresponsive by the heartbeat, with no scrape, until it is terminated; its sibling never is', async (t) => {
  const { sup } = make(t, [spec('victim', 'seal'), spec('sibling', 'deal')], { heartbeatTimeoutMs: 3000, unresponsiveAfterMs: 500 });
  sup.start();
  await until('both running', () => sup.status().actors.every((a) => a.status === 'running'));
  await sleep(700);
  t.is(actor(sup, 'victim').unansweredMs, undefined, 'a healthy role answers every beat');
  const gauge = (role: string) => sup.heartbeatAges().find(([r]) => r === role)?.[1];
  t.true(gauge('victim')! < 500);
  const stuckAt = Date.now();
  sup.crash('victim', 'hang');
  const ms = await until('victim reported unresponsive', () => actor(sup, 'victim').unansweredMs);
  const seenAfter = Date.now() - stuckAt;
  t.log(`reported after ${seenAfter} ms (unanswered ${ms} ms)`);
  t.true(ms > 500 && seenAfter < 3000, 'seen well before the heartbeat timeout terminates it');
  t.true(gauge('victim')! > 500);
  t.is(actor(sup, 'sibling').unansweredMs, undefined);
  await until('victim restarted', () => actor(sup, 'victim').restarts === 1 && actor(sup, 'victim').status === 'running');
  t.is(actor(sup, 'victim').unansweredMs, undefined, 'the new thread answers');
  t.regex(actor(sup, 'victim').lastExit!.reason, /unresponsive/);
  await sup.stop();
});

test.serial("the supervisor's own thread stalled: no role is reported unresponsive or terminated for it", async (t) => {
  const { sup } = make(t, [spec('a', 'seal'), spec('b', 'deal')], { heartbeatTimeoutMs: 2000, unresponsiveAfterMs: 500 });
  sup.start();
  await until('both running', () => sup.status().actors.every((a) => a.status === 'running'));
  await sleep(500);
  // 4 s of this thread blocked (a long synchronous task on the main thread): twice the
  // heartbeat timeout. The roles answered all along; their pongs wait unread in the ports.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 4000);
  const right = sup.status().actors.map((a) => [a.id, a.unansweredMs]);
  const ages = sup.heartbeatAges();
  t.deepEqual(right, [
    ['a', undefined],
    ['b', undefined],
  ]);
  t.true(
    ages.every(([, ms]) => ms < 500),
    `ages right after the stall: ${JSON.stringify(ages)}`,
  );
  // The overdue beat runs before the pongs are read: it must not terminate anyone.
  await sleep(1000);
  t.deepEqual(
    sup.status().actors.map((a) => [a.id, a.status, a.restarts, a.unansweredMs]),
    [
      ['a', 'running', 0, undefined],
      ['b', 'running', 0, undefined],
    ],
  );
  await sup.stop();
});

test('transient: a normal finish is final, a crash is restarted', async (t) => {
  const { sup } = make(t, [spec('tr', 'seal', { restart: 'transient' }), spec('tr2', 'deal', { restart: 'transient' })]);
  sup.start();
  await until('running', () => sup.status().actors.every((a) => a.status === 'running'));
  sup.sendEvent('tr', { type: 'FINISH' });
  await until('tr done', () => actor(sup, 'tr').status === 'done');
  sup.crash('tr2', 'throw');
  await until('tr2 restarted', () => actor(sup, 'tr2').restarts === 1 && actor(sup, 'tr2').status === 'running');
  // A role that reports failure (FAIL) is abnormal: restarted too.
  sup.sendEvent('tr2', { type: 'FAIL', error: 'lost its database' });
  await until('tr2 restarted again', () => actor(sup, 'tr2').restarts === 2 && actor(sup, 'tr2').status === 'running');
  t.regex(actor(sup, 'tr2').lastExit!.reason, /lost its database/);
  await sleep(300);
  t.is(actor(sup, 'tr').status, 'done');
  t.is(actor(sup, 'tr').restarts, 0);
  await sup.stop();
});

test('temporary: never restarted; permanent: restarted even after a normal finish, afresh', async (t) => {
  const { sup } = make(t, [spec('tmp', 'seal', { restart: 'temporary' }), spec('perm', 'deal', { restart: 'permanent' })]);
  sup.start();
  await until('running', () => sup.status().actors.every((a) => a.status === 'running'));
  sup.crash('tmp', 'exit');
  sup.sendEvent('perm', { type: 'SET', key: 'x', value: 1 });
  sup.sendEvent('perm', { type: 'FINISH' });
  await until('perm restarted', () => actor(sup, 'perm').restarts === 1 && actor(sup, 'perm').status === 'running');
  await until('tmp failed', () => actor(sup, 'tmp').status === 'failed');
  await sleep(300);
  t.is(actor(sup, 'tmp').restarts, 0);
  const p = actor(sup, 'perm');
  t.false(p.restoredSnapshot, 'a finished actor starts afresh');
  t.deepEqual(p.context?.data, {});
  t.false(p.lastExit!.abnormal);
  await sup.stop();
});

test('restart intensity exceeded → escalation event; backoff grows between restarts', async (t) => {
  const { sup } = make(t, [spec('crashy', 'seal', { backoff: { initialMs: 50, maxMs: 1000, jitter: 0 } })], { intensity: { maxRestarts: 3, withinMs: 60_000 } });
  const escalated = new Promise<string>((r) => sup.once('escalate', r));
  const restartedAt: number[] = [];
  const exitedAt: number[] = [];
  sup.on('exit', () => exitedAt.push(Date.now()));
  sup.on('restarted', () => restartedAt.push(Date.now()));
  sup.start();
  for (let i = 0; i < 4; i++) {
    await until(`up ${i}`, () => actor(sup, 'crashy').status === 'running' && actor(sup, 'crashy').restarts === i);
    sup.crash('crashy', 'throw');
    if (i < 3) await until(`restart ${i + 1}`, () => actor(sup, 'crashy').restarts === i + 1);
  }
  const why = await escalated;
  t.regex(why, /4 restarts within 60000 ms \(limit 3\)/);
  t.true(sup.status().escalated);
  const delays = restartedAt.map((r, i) => r - exitedAt[i]);
  t.log('restart delays (ms):', delays);
  t.true(delays[2] >= 180, 'third restart waited about 4× the initial backoff');
  await sup.stop();
});

test('shutdown persists the running snapshot; a new supervisor resumes it', async (t) => {
  const { sup, dir } = make(t, [spec('seal', 'seal')]);
  sup.start();
  await until('running', () => actor(sup, 'seal').status === 'running');
  sup.sendEvent('seal', { type: 'SET', key: 'pipeline', value: { 5: 'PreCommit2' } });
  await until('set', () => (actor(sup, 'seal').context?.data as Record<string, unknown>)?.pipeline);
  await sup.stop();
  t.is(actor(sup, 'seal').status, 'stopped');
  const sup2 = new Supervisor({ children: [spec('seal', 'seal')], intensity: { maxRestarts: 1, withinMs: 1000 }, stateDir: dir });
  sup2.start();
  await until('running again', () => sup2.status().actors[0].status === 'running');
  const a = sup2.status().actors[0];
  t.true(a.restoredSnapshot);
  t.deepEqual((a.context?.data as Record<string, unknown>).pipeline, { 5: 'PreCommit2' });
  t.is(a.state, 'running');
  await sup2.stop();
});

test('an actor cancels a running proof job through its signal: the mailbox stops it and the actor is answered at once', async (t) => {
  const { Mailbox } = await import('../../actors/mailbox.js');
  const cancels: string[] = [];
  const mailbox = new Mailbox({
    devices: 1,
    winningLanes: 1,
    postLanes: 1,
    sealLanes: 1,
    agingMs: 60_000,
    throttle: true,
    // A proof that never ends unless cancelled (its process killed).
    executorFor: () => ({
      start: () => {
        let fail!: (e: Error) => void;
        const done = new Promise((_, rej) => (fail = rej));
        return { done, cancel: (why: string) => (cancels.push(why), fail(new Error('killed'))) };
      },
    }),
  });
  const fixture = new URL('./fixtures/prover-role.js', import.meta.url).href;
  const { sup } = make(t, [{ ...spec('prover', 'seal'), module: fixture }], { mailbox });
  sup.start();
  await until('running', () => actor(sup, 'prover').status === 'running');
  sup.sendEvent('prover', { type: 'PROVE', kind: 'winning-post', args: ['sector 1'], cancelAfterMs: 300 });
  const data = await until('answered', () => {
    const d = actor(sup, 'prover').context?.data as Record<string, { message?: string; code?: string }>;
    return d?.['error:winning-post'];
  });
  t.is(data.code, 'cancelled');
  t.regex(data.message!, /not wanted any more/);
  await until('the mailbox cancelled it', () => cancels.length === 1);
  t.regex(cancels[0], /^cancelled by prover: not wanted any more$/);
  t.deepEqual(mailbox.status().totals, { submitted: 1, done: 0, failed: 0, cancelled: 1 });
  t.deepEqual(
    mailbox.laneJobs().map((l) => l.class),
    [undefined, undefined, undefined],
    'its lane is free',
  );
  await sup.stop();
  await mailbox.close();
});

test("an actor submits proof jobs to the supervisor's mailbox and gets results and errors back", async (t) => {
  const { Mailbox } = await import('../../actors/mailbox.js');
  const mailbox = new Mailbox({
    devices: 1,
    winningLanes: 1,
    postLanes: 1,
    sealLanes: 1,
    agingMs: 60_000,
    throttle: true,
    executorFor: () => ({
      // The failure names sectors, as a FaultySectorsError does: they must reach the actor.
      start: (job) => ({
        done: job.kind === 'commit2' ? Promise.reject(Object.assign(new Error('native: bad input'), { sectors: [4, 9] })) : Promise.resolve(Buffer.from(`proof of ${String(job.args[0])}`)),
      }),
    }),
  });
  const fixture = new URL('./fixtures/prover-role.js', import.meta.url).href;
  const { sup } = make(t, [{ ...spec('prover', 'seal'), module: fixture }], { mailbox });
  sup.start();
  await until('running', () => actor(sup, 'prover').status === 'running');
  sup.sendEvent('prover', { type: 'PROVE', kind: 'winning-post', args: ['sector 1'] });
  sup.sendEvent('prover', { type: 'PROVE', kind: 'commit2', args: ['sector 2'] });
  sup.sendEvent('prover', { type: 'PROVE', kind: 'window-post', args: ['late'], deadline: Date.now() - 1 });
  const data = await until('all answered', () => {
    const d = actor(sup, 'prover').context?.data as Record<string, { value?: unknown; message?: string; code?: string; lane?: string; sectors?: number[] }>;
    return d && Object.keys(d).length === 3 ? d : undefined;
  });
  t.deepEqual(Buffer.from(data['result:winning-post'].value as Uint8Array).toString(), 'proof of sector 1', 'a Buffer survives msgpackr both ways');
  t.is(data['result:winning-post'].lane, 'dev0/winning0');
  t.is(data['error:commit2'].code, 'failed');
  t.regex(data['error:commit2'].message!, /native: bad input/);
  t.deepEqual(data['error:commit2'].sectors, [4, 9], 'the sectors a proof error names cross the worker-thread hop');
  t.is(data['error:window-post'].code, 'deadline');
  t.deepEqual(mailbox.status().totals, { submitted: 3, done: 1, failed: 1, cancelled: 1 });
  await sup.stop();
  await mailbox.close();
});
