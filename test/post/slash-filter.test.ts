// The Winning PoSt hosts' shared slash filter (src/post/slash-filter.ts) on a real throw-away
// PostgreSQL cluster: two hosts (two pools, as two processes would have) claiming the same
// epochs at the same instant get exactly one winner each; the same parents at another epoch
// are refused (time-offset mining); a database that stops answering refuses every claim
// within the timeout, and claims work again once it is back.
import test from 'ava';
import { PostgresSlashFilter, sharedSlashFilter } from '../../src/post/slash-filter.js';
import { type Pg, startPostgres } from '../sectorid/helpers.js';

let pg: Pg;

test.before(async () => {
  pg = await startPostgres();
});

test.after.always(async () => {
  await pg?.stop();
});

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
    const [ra, rb] = await Promise.all([a.claim(epoch, parents), b.claim(epoch, parents)]);
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
  t.true(ms < 5000, `refused after ${ms} ms`);
  await pg.start();
  let back: { reason: string } | undefined = { reason: 'not yet' };
  for (let i = 0; i < 50 && back !== undefined; i++) {
    back = await a.claim(2, 'q1');
    if (back !== undefined) await new Promise((res) => setTimeout(res, 200));
  }
  t.is(back, undefined, `epoch 2 claimed once the database answers again (${back?.reason})`);
});

test('the setting: absent or "file" is no shared filter; a postgres URL is one (password not shown); anything else is refused', (t) => {
  t.is(sharedSlashFilter(undefined, 'f01000'), undefined);
  t.is(sharedSlashFilter('file', 'f01000'), undefined);
  const f = sharedSlashFilter('postgres://u:secret@127.0.0.1:1/db', 'f01000')!;
  t.teardown(() => f.close());
  t.regex(f.description, /postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/db/);
  t.throws(() => sharedSlashFilter('redis://x', 'f01000'), { message: /use "file", the default, or a postgres:\/\/ URL/ });
});
