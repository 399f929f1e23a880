// What the PoSt hosts of one miner id share in PostgreSQL, on a real throw-away cluster (two
// pools per test, as two processes would have).
//
// The Winning PoSt slash filter (src/post/slash-filter.ts): two hosts claiming the same epochs
// at the same instant get exactly one winner each; the same parents at another epoch are
// refused (time-offset mining); a database that stops answering refuses every claim within the
// timeout, and claims work again once it is back; one that hangs (SIGSTOP) too. A claim never
// marked sent is not "mined by another host" (its host may have died between claim and send);
// a claim given back frees the epoch.
//
// The Window PoSt deadline leases (src/post/window-lease.ts): one holder per lease however the
// claims race; the other host takes a lease over only once it has expired and was not marked
// done; a holder whose lease was taken over is told so on renewal; a lease given back is free
// at once; a database that does not answer gives "unknown", never a lease. Two schedulers on
// one devnet show the leases in their status: the holder as held, the other as another host's.
import test, { type ExecutionContext } from 'ava';
import { rmSync } from 'node:fs';
import { formatStatus } from '../../src/cli/status.js';
import { type WindowLeaseStatus, WindowPoStScheduler } from '../../src/post/window.js';
import { PostgresSlashFilter, sharedSlashFilter } from '../../src/post/slash-filter.js';
import { PostgresWindowLeases, windowPoStLeases } from '../../src/post/window-lease.js';
import { type Pg, startPostgres } from '../sectorid/helpers.js';
import { MINER, setupPoSt } from './_setup.js';

let pg: Pg;

test.before(async () => {
  pg = await startPostgres();
});

test.after.always(async () => {
  await pg?.stop();
});

/** Claims `epoch` every 200 ms for up to 10 s, until the database answers again: the last answer. */
async function claimWhenBack(f: PostgresSlashFilter, epoch: number, parents: string): Promise<{ reason: string } | undefined> {
  let back: { reason: string } | undefined = { reason: 'not yet' };
  for (let i = 0; i < 50 && back !== undefined; i++) {
    back = await f.claim(epoch, parents);
    if (back !== undefined) await new Promise((res) => setTimeout(res, 200));
  }
  return back;
}

test.serial('two hosts racing for 200 epochs: each epoch is claimed by exactly one; the loser is told which host mined it', async (t) => {
  const a = new PostgresSlashFilter(pg.url, 'f01000', { host: 'host-a' });
  const b = new PostgresSlashFilter(pg.url, 'f01000', { host: 'host-b' });
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  // Both create the table at the same instant.
  await Promise.all([a.open(), b.open()]);
  let aWon = 0;
  let bWon = 0;
  for (let epoch = 1; epoch <= 200; epoch++) {
    const parents = `bafy-parent-${epoch - 1}`;
    // As the miner does: the winner sends its block, then marks it sent.
    const claimAndSend = async (f: PostgresSlashFilter) => {
      const r = await f.claim(epoch, parents);
      if (r === undefined) await f.sent(epoch);
      return r;
    };
    const [ra, rb] = await Promise.all([claimAndSend(a), claimAndSend(b)]);
    t.true((ra === undefined) !== (rb === undefined), `epoch ${epoch}: exactly one host may send (a: ${ra?.reason}, b: ${rb?.reason})`);
    if (ra === undefined) {
      aWon++;
      t.regex(rb!.reason, new RegExp(`epoch ${epoch} was already mined by host-a`));
      t.is(rb!.otherHost, 'host-a');
    } else {
      bWon++;
      t.regex(ra.reason, new RegExp(`epoch ${epoch} was already mined by host-b`));
      t.is(ra.otherHost, 'host-b');
    }
  }
  t.is(aWon + bWon, 200);
  t.log(`host a won ${aWon} epochs, host b ${bWon}`);
  // Another miner id is another record.
  const other = new PostgresSlashFilter(pg.url, 'f01001', { host: 'host-c' });
  t.teardown(() => other.close());
  t.is(await other.claim(5, 'bafy-parent-4'), undefined);
});

test.serial('time-offset mining is refused: the same parents at another epoch; a host asking again for its own epoch is refused too', async (t) => {
  const a = new PostgresSlashFilter(pg.url, 'f02000', { host: 'host-a' });
  t.teardown(() => a.close());
  await a.open();
  t.is(await a.claim(10, 'p9'), undefined);
  const offset = (await a.claim(11, 'p9'))!;
  t.regex(offset.reason, /these parents were already mined on at epoch 10 by this host \(time-offset mining/);
  t.is(offset.otherHost, undefined, 'a fault this host would commit, not a block another host sent');
  const again = (await a.claim(10, 'p9-other'))!;
  t.regex(again.reason, /epoch 10 was already mined by this host/);
  t.is(again.otherHost, undefined);
  t.is(await a.claim(11, 'p10'), undefined);
});

test.serial('a database that stops answering: every claim is refused within its timeout, none is let through; back, claims work again', async (t) => {
  const a = new PostgresSlashFilter(pg.url, 'f03000', { host: 'host-a', statementTimeoutMs: 1000 });
  t.teardown(() => a.close());
  await a.open();
  t.is(await a.claim(1, 'q0'), undefined);
  await pg.kill();
  const t0 = Date.now();
  const r = await a.claim(2, 'q1');
  const ms = Date.now() - t0;
  t.regex(r!.reason, /did not answer .*not mined: a block two hosts both send is a consensus fault/);
  t.is(r!.otherHost, undefined);
  t.true(r!.transient, 'may be tried again within the round');
  t.true(ms < 5000, `refused after ${ms} ms`);
  await pg.start();
  const back = await claimWhenBack(a, 2, 'q1');
  t.is(back, undefined, `epoch 2 claimed once the database answers again (${back?.reason})`);
});

test.serial("a claim marked sent is another host's block; one never marked sent is a lost round; a claim given back frees the epoch", async (t) => {
  const a = new PostgresSlashFilter(pg.url, 'f04000', { host: 'host-a' });
  const b = new PostgresSlashFilter(pg.url, 'f04000', { host: 'host-b', sentWaitMs: 600 });
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  await Promise.all([a.open(), b.open()]);
  // Host a claims and dies before sending: b waits its 600 ms for the mark, then drops its own
  // block as a lost round (no otherHost: the abandoned-block count sees it).
  t.is(await a.claim(300, 'r299'), undefined);
  const t0 = Date.now();
  const unsent = (await b.claim(300, 'r299'))!;
  const waited = Date.now() - t0;
  t.regex(unsent.reason, /epoch 300 was claimed by host-a, which has not marked its block sent within 600 ms/);
  t.is(unsent.otherHost, undefined);
  t.true(waited >= 500 && waited < 3000, `waited ${waited} ms for the mark`);
  // Marked sent: another host's block, nothing lost.
  await a.sent(300);
  const sent = (await b.claim(300, 'r299'))!;
  t.is(sent.otherHost, 'host-a');
  t.regex(sent.reason, /epoch 300 was already mined by host-a/);
  // The mark arriving while b waits: seen at once.
  t.is(await a.claim(301, 'r300'), undefined);
  setTimeout(() => void a.sent(301), 200);
  const late = (await b.claim(301, 'r300'))!;
  t.is(late.otherHost, 'host-a');
  // Given back (a tipset above the base came during the claim): b may mine the epoch.
  t.is(await a.claim(302, 'r301'), undefined);
  await a.release(302);
  t.is(await b.claim(302, 'r301-b'), undefined);
  // A sent claim is never given back.
  await b.sent(302);
  await b.release(302);
  t.is((await a.claim(302, 'r301'))!.otherHost, 'host-b');
  // Given back while the other host waits for the mark: that host stops waiting; the epoch is free.
  t.is(await a.claim(303, 'r302'), undefined);
  setTimeout(() => void a.release(303), 100);
  t.is(await b.claim(303, 'r302'), undefined, 'the epoch, given back during the wait, is claimed');
});

test.serial("a claim whose answer came after its deadline is still this host's: the same block claims it again", async (t) => {
  const a = new PostgresSlashFilter(pg.url, 'f05000', { host: 'host-a' });
  t.teardown(() => a.close());
  await a.open();
  t.is(await a.claim(7, 's6'), undefined);
  // The first answer was lost (a timed-out claim that committed): the same epoch and parents.
  t.is(await a.claim(7, 's6'), undefined);
  // Not once it was sent, and never on other parents.
  t.regex((await a.claim(7, 's6-other'))!.reason, /epoch 7 was already mined by this host/);
  await a.sent(7);
  t.regex((await a.claim(7, 's6'))!.reason, /epoch 7 was already mined by this host/);
});

test.serial('a database that hangs (SIGSTOP): claims are refused within the deadline and marked transient; the filter reports trouble; thawed, all is well', async (t) => {
  const a = new PostgresSlashFilter(pg.url, 'f06000', { host: 'host-a', statementTimeoutMs: 800, probeMs: 300 });
  t.teardown(() => a.close());
  await a.open();
  t.is(a.trouble(), null);
  t.is(await a.claim(1, 'h0'), undefined);
  await pg.freeze();
  try {
    const t0 = Date.now();
    const r = (await a.claim(2, 'h1'))!;
    const ms = Date.now() - t0;
    t.regex(r.reason, /did not answer \(no answer within 800 ms\)/);
    t.true(r.transient);
    t.true(ms < 1500, `refused after ${ms} ms`);
    t.regex(a.trouble() ?? '', /has not answered for \d+ s .*no block is sent until it does/);
    // A second claim while still hung: refused as fast (no pile-up on the pool).
    const t1 = Date.now();
    t.true((await a.claim(3, 'h2'))!.transient);
    t.true(Date.now() - t1 < 1500);
  } finally {
    await pg.thaw();
  }
  const back = await claimWhenBack(a, 2, 'h1');
  t.is(back, undefined, `epoch 2 claimed once the database answers again (${back?.reason})`);
  for (let i = 0; i < 50 && a.trouble() !== null; i++) await new Promise((res) => setTimeout(res, 100));
  t.is(a.trouble(), null, 'the probe sees it answer again');
});

test('the setting: absent or "file" is no shared filter; a postgres URL is one (password not shown); anything else is refused', (t) => {
  t.is(sharedSlashFilter(undefined, 'f01000'), undefined);
  t.is(sharedSlashFilter('file', 'f01000'), undefined);
  const f = sharedSlashFilter('postgres://u:secret@127.0.0.1:1/db', 'f01000')!;
  t.teardown(() => f.close());
  t.regex(f.description, /postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/db/);
  t.throws(() => sharedSlashFilter('redis://x', 'f01000'), { message: /use "file", the default, or a postgres:\/\/ URL/ });
});

// ------------------------------------------------------------------ Window PoSt leases

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

/** Hosts a and b of one miner id, opened at the same instant (both create the table), closed after the test. */
async function leaseHosts(t: ExecutionContext, miner: string): Promise<[PostgresWindowLeases, PostgresWindowLeases]> {
  const hosts = [new PostgresWindowLeases(pg.url, miner, { host: 'host-a' }), new PostgresWindowLeases(pg.url, miner, { host: 'host-b' })] as const;
  t.teardown(() => Promise.all(hosts.map((h) => h.close())));
  await Promise.all(hosts.map((h) => h.open()));
  return [...hosts];
}

test.serial('leases: two hosts racing for 100 deadline occurrences: exactly one holds each; the other is told who', async (t) => {
  const [a, b] = await leaseHosts(t, 'f01000');
  const held = { a: 0, b: 0 };
  for (let i = 0; i < 100; i++) {
    const name = `prove/${i % 48}@${1000 + i * 60}`;
    const [ra, rb] = await Promise.all([a.claim(name, 60_000), b.claim(name, 60_000)]);
    t.true(ra.held !== rb.held, `${name}: exactly one holder (a: ${JSON.stringify(ra)}, b: ${JSON.stringify(rb)})`);
    const loser = ra.held ? rb : ra;
    t.is(loser.holder, ra.held ? 'host-a' : 'host-b');
    t.false(loser.done);
    t.regex(loser.reason!, /is held by host-[ab] for \d+ ms more/);
    held[ra.held ? 'a' : 'b']++;
    // The holder renews it; the other is still refused.
    t.true((await (ra.held ? a : b).claim(name, 60_000)).held);
    t.false((await (ra.held ? b : a).claim(name, 60_000)).held);
  }
  t.log(`held: a ${held.a}, b ${held.b}`);
  t.is(held.a + held.b, 100);
  // Another miner id's leases are its own.
  const c = new PostgresWindowLeases(pg.url, 'f01001', { host: 'host-b' });
  t.teardown(() => c.close());
  t.true((await c.claim('prove/0@1000', 60_000)).held);
});

test.serial('leases: an expired lease is taken over, and its old holder learns it on renewal; a lease marked done never is', async (t) => {
  const [a, b] = await leaseHosts(t, 'f02000');
  t.true((await a.claim('prove/3@100', 400)).held);
  t.false((await b.claim('prove/3@100', 400)).held, 'live: refused');
  await sleep(600); // host a "died": no renewal
  t.true((await b.claim('prove/3@100', 400)).held, 'expired: taken over');
  const lost = await a.claim('prove/3@100', 400);
  t.false(lost.held, 'the old holder is refused');
  t.is(lost.holder, 'host-b');
  // Done: nobody takes it over, even long after it expired; its holder may still renew it.
  t.true((await a.claim('prove/4@160', 200)).held);
  await a.done('prove/4@160');
  await sleep(400);
  const r = await b.claim('prove/4@160', 200);
  t.false(r.held);
  t.true(r.done);
  t.regex(r.reason!, /prove\/4@160 was done by host-a/);
  t.true((await a.claim('prove/4@160', 200)).held, 'its own done lease renews (a resend after a revert)');
  // done() of a lease this host does not hold changes nothing.
  t.true((await b.claim('declare/5@220', 60_000)).held);
  await a.done('declare/5@220');
  const other = await a.claim('declare/5@220', 60_000);
  t.false(other.held);
  t.false(other.done, "still b's, not done");
});

test.serial('leases: one given back is free at once; one done is not given back', async (t) => {
  const [a, b] = await leaseHosts(t, 'f04000');
  t.true((await a.claim('prove/1@40', 60_000)).held);
  await b.release('prove/1@40'); // not b's: nothing happens
  t.false((await b.claim('prove/1@40', 60_000)).held);
  await a.release('prove/1@40');
  t.true((await b.claim('prove/1@40', 60_000)).held, 'given back: the other host claims it at once');
  await b.done('prove/1@40');
  await b.release('prove/1@40');
  t.true((await a.claim('prove/1@40', 60_000)).done, 'done stays done');
});

test.serial('leases: a database that does not answer gives "unknown" within the deadline, never a lease; back, leases work again', async (t) => {
  const a = new PostgresWindowLeases(pg.url, 'f05000', { host: 'host-a', statementTimeoutMs: 800, probeMs: 300 });
  t.teardown(() => a.close());
  await a.open();
  t.true((await a.claim('prove/0@0', 60_000)).held);
  await pg.freeze();
  try {
    const t0 = Date.now();
    const r = await a.claim('prove/0@0', 60_000);
    t.false(r.held);
    t.true(r.unknown);
    t.regex(r.reason!, /did not answer \(no answer within 800 ms\)/);
    t.true(Date.now() - t0 < 1500, `answered after ${Date.now() - t0} ms`);
    t.regex(a.trouble() ?? '', /has not answered for \d+ s .*each host proves on its own/);
  } finally {
    await pg.thaw();
  }
  let back = await a.claim('prove/0@0', 60_000);
  for (let i = 0; i < 50 && !back.held; i++) {
    await sleep(200);
    back = await a.claim('prove/0@0', 60_000);
  }
  t.true(back.held, 'its lease once the database answers again');
  t.is(windowPoStLeases(undefined, 'f01000'), undefined);
  t.is(windowPoStLeases('file', 'f01000'), undefined);
  t.throws(() => windowPoStLeases('redis://x', 'f01000'), { message: /use "file", the default, or a postgres:\/\/ URL/ });
});

test.serial('leases in status: the host proving a deadline lists its lease as held, the other lists it as held by that host; done once the proof landed', async (t) => {
  const s = await setupPoSt(1);
  const d = s.h.devnet;
  const hosts = ['host-a', 'host-b'].map((host) => {
    const leases = new PostgresWindowLeases(pg.url, MINER, { host });
    const sched = new WindowPoStScheduler({ client: s.h.client, miner: MINER, storage: [s.storage], confidence: 1, checkTimeoutMs: 5000, leases, leaseMs: 60_000 });
    const events: (WindowLeaseStatus | undefined)[] = [];
    sched.on('leases', (l: WindowLeaseStatus | undefined) => events.push(l));
    return { host, sched, events, proven: 0 };
  });
  for (const h of hosts) h.sched.on('proven', () => h.proven++);
  t.teardown(async () => {
    await Promise.all(hosts.map((h) => h.sched.stop()));
    await s.h.close();
    rmSync(s.storage, { recursive: true, force: true });
  });
  await Promise.all(hosts.map((h) => h.sched.start()));
  let seen: { holder: (typeof hosts)[number]; other: (typeof hosts)[number]; name: string } | undefined;
  for (let i = 0; i < 40 && !hosts.some((h) => h.proven > 0); i++) {
    const ts = await d.advance();
    await Promise.all(hosts.map((h) => h.sched.settled(ts.Height)));
    const views = hosts.map((h) => h.sched.leaseStatus()!);
    const held = views.flatMap((v, k) => v.held.filter((x) => x.name.startsWith('prove/')).map((x) => ({ k, name: x.name })));
    for (const x of held) {
      const o = views[1 - x.k].others.find((y) => y.name === x.name);
      if (o) {
        t.is(o.holder, hosts[x.k].host, `${x.name} is listed as held by ${hosts[x.k].host}`);
        seen ??= { holder: hosts[x.k], other: hosts[1 - x.k], name: x.name };
      }
    }
    t.true(new Set(held.map((x) => x.name)).size === held.length, `no lease held by both hosts: ${JSON.stringify(views)}`);
  }
  if (!seen) return void t.fail(`no prove lease seen held by one host and listed by the other: ${JSON.stringify(hosts.map((h) => h.events))}`);
  // Both views went out as 'leases' events (the role's status), and `distminer status` prints them.
  t.true(seen.holder.events.some((e) => e?.held.some((x) => x.name === seen!.name)));
  t.true(seen.other.events.some((e) => e?.others.some((x) => x.name === seen!.name && x.holder === seen!.holder.host)));
  const status = (leases: WindowLeaseStatus) =>
    formatStatus({
      miner: MINER,
      roles: ['window-post'],
      sectorId: { mode: 'off' },
      throttle: 'none',
      uptimeMs: 1000,
      escalated: false,
      actors: [{ id: 'window-post', status: 'running', state: 'running', detail: '', uptimeMs: 1000, restarts: 0, context: { leases } }],
    } as never);
  const heldView = [...seen.holder.events].reverse().find((e) => e?.held.some((x) => x.name === seen!.name))!;
  t.regex(status(heldView), new RegExp(`window-post deadline leases \\(this host: ${seen.holder.host}\\): \\d+ held[^]*\\n  ${seen.name}: held by this host until head \\d+, last renewed 20`));
  const otherView = [...seen.other.events].reverse().find((e) => e?.others.some((x) => x.name === seen!.name))!;
  t.regex(status(otherView), new RegExp(`\\n  ${seen.name}: ${seen.holder.host}\\n`));
  // The proof landed: the holder marks the lease done and no longer holds it.
  t.is(seen.holder.proven, 1);
  t.false(
    seen.holder.sched.leaseStatus()!.held.some((x) => x.name === seen!.name),
    'done, not held',
  );
  t.is(seen.other.proven, 0, 'the other host did not prove it too');
});
