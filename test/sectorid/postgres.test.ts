// The PostgreSQL store with a real throw-away cluster (scripts/postgres-test.sh): two
// allocator servers active/active on one database, the database restarted under load.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SectorIdClient, StaticChainFloor, startSectorIdServer } from '../../src/sectorid/index.js';
import type { SectorIdError } from '../../src/sectorid/protocol.js';
import { contains } from '../../src/sectorid/ranges.js';
import { AUTH, type Pg, TOKEN, assertDistinct, cleanup, cli, sleep, startPostgres, tmpDir } from './helpers.js';

let pg: Pg;

test.before(async () => {
  pg = await startPostgres();
});

test.after.always(async () => {
  await pg?.stop();
});

const base = { listen: '127.0.0.1:0', auth: AUTH };

test.serial('two servers on one database, 16 concurrent clients on both: no duplicates', async (t) => {
  const repoA = tmpDir();
  const repoB = tmpDir();
  const chain = new StaticChainFloor([
    [0, 49],
    [300, 310],
  ]);
  const a = await startSectorIdServer({ ...base, repo: repoA, store: pg.url, minerId: 'f0aa', chainFloor: chain });
  const b = await startSectorIdServer({ ...base, repo: repoB, store: pg.url, minerId: 'f0aa', chainFloor: chain });
  const clients = Array.from({ length: 16 }, (_, i) => new SectorIdClient({ address: i % 2 ? a.address : b.address, token: TOKEN }));
  const got: number[] = [];
  await Promise.all(
    clients.map(async (c, i) => {
      for (let k = 0; k < 30; k++) {
        const rs = await Promise.all([c.allocate(1 + ((i + k) % 3)), c.allocate(1)]);
        for (const r of rs) got.push(...r);
      }
    }),
  );
  const sorted = assertDistinct(got);
  t.is(sorted[0], 311, "a new counter starts above the chain's highest allocated number");
  // One transaction per group commit on each server: no gaps either.
  t.is(sorted[sorted.length - 1], 311 + sorted.length - 1);
  for (const x of sorted)
    if (
      contains(
        [
          [0, 49],
          [300, 310],
        ],
        x,
      )
    )
      t.fail(`chain number ${x}`);
  // A retry of one request id on the other server returns the same numbers.
  const first = await clients[0]!.allocate(3, { requestId: 'cross-server' });
  t.deepEqual(await clients[1]!.allocate(3, { requestId: 'cross-server' }), first);
  const e = await t.throwsAsync(clients[1]!.allocate(2, { requestId: 'cross-server' }));
  t.is((e as SectorIdError).code, 'REQUEST_ID_REUSED');
  // Reservations and set-floor go through the shared row lock; both servers see them.
  const next = (await clients[0]!.info()).next;
  await clients[0]!.reserve('hold', [[next, next + 1]]);
  t.deepEqual(await clients[1]!.allocate(1), [next + 2]);
  const down = await t.throwsAsync(clients[1]!.setFloor(next));
  t.is((down as SectorIdError).code, 'FLOOR_DOWN');
  const offline = await cli(['sectors', 'numbers', 'info', '--store', pg.url, '--miner', 'f0aa', '--json']);
  t.is(offline.code, 0, offline.stderr);
  t.deepEqual(JSON.parse(offline.stdout).reservations, { hold: [[next, next + 1]] });
  t.is((await cli(['sectors', 'numbers', 'free', 'hold', '--store', pg.url, '--miner', 'f0aa'])).code, 0);
  t.deepEqual((await clients[0]!.info()).reservations, {});
  t.log(`${sorted.length} numbers from two servers, ${a.allocator.commits + b.allocator.commits} transactions`);
  await Promise.all(clients.map((c) => c.close()));
  await a.close();
  await b.close();
  cleanup(repoA);
  cleanup(repoB);
});

test.serial('moving a file-store repo to PostgreSQL starts above the old counter', async (t) => {
  const repo = tmpDir();
  writeFileSync(join(repo, 'sectorid'), '5000\n');
  const s = await startSectorIdServer({ ...base, repo, store: pg.url, minerId: 'f0migrated' });
  const c = new SectorIdClient({ address: s.address, token: TOKEN });
  t.deepEqual(await c.allocate(2), [5000, 5001]);
  await c.close();
  await s.close();
  cleanup(repo);
});

test.serial('the database restarted mid-load: clients get errors, then resume; nothing duplicated', async (t) => {
  const repoA = tmpDir();
  const repoB = tmpDir();
  const a = await startSectorIdServer({ ...base, repo: repoA, store: pg.url, minerId: 'f0bb' });
  const b = await startSectorIdServer({ ...base, repo: repoB, store: pg.url, minerId: 'f0bb' });
  // Patient clients (they ride out the restart) and one impatient prober that reports errors.
  const clients = Array.from({ length: 8 }, (_, i) => new SectorIdClient({ address: i % 2 ? a.address : b.address, token: TOKEN, deadlineMs: 60_000, backoffMaxMs: 300 }));
  const got: number[] = [];
  let stop = false;
  const loops = clients.map(async (c, i) => {
    let k = i;
    while (!stop) got.push(...(await c.allocate(1 + (k++ % 2))));
  });
  const probe = new SectorIdClient({ address: a.address, token: TOKEN, deadlineMs: 300 });
  const probeErrors: string[] = [];
  let probing = true;
  const probeLoop = (async () => {
    while (probing) {
      try {
        got.push(...(await probe.allocate(1)));
      } catch (e) {
        probeErrors.push((e as SectorIdError).code);
      }
      await sleep(20);
    }
  })();
  for (let round = 0; round < 2; round++) {
    await sleep(500);
    const before = got.length;
    await pg.kill(); // immediate shutdown: like a crash of the database
    await sleep(700);
    await pg.start();
    await sleep(1000);
    t.true(got.length > before, `round ${round}: allocations resumed after the restart`);
  }
  stop = true;
  await Promise.all(loops);
  probing = false;
  await probeLoop;
  const sorted = assertDistinct(got);
  t.true(probeErrors.length > 0, 'an impatient client saw errors while the database was down');
  t.true(
    probeErrors.every((c) => c === 'DEADLINE_EXCEEDED' || c === 'STORE_UNAVAILABLE'),
    probeErrors.join(','),
  );
  t.log(`${sorted.length} numbers; prober errors: ${[...new Set(probeErrors)].join(', ')} x${probeErrors.length}; retries ${clients.reduce((s, c) => s + c.retries, 0)}`);
  await Promise.all([...clients, probe].map((c) => c.close()));
  await a.close();
  await b.close();
  cleanup(repoA);
  cleanup(repoB);
});

test.serial('an unreachable database at start is refused with a clear message', async (t) => {
  const repo = tmpDir();
  const e = await t.throwsAsync(startSectorIdServer({ ...base, repo, store: 'postgres://postgres@127.0.0.1:1/none', minerId: 'f0cc' }));
  t.regex(e!.message, /cannot open the PostgreSQL sector-number store postgres:\/\/postgres@127\.0\.0\.1:1\/none/);
  cleanup(repo);
});
