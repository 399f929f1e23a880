// The file store behind a real TCP server: concurrency, group commit, idempotent retries,
// refusal of unusable files, reservations, set-floor, the chain floor, the operator CLI.
import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SectorIdClient, StaticChainFloor, startSectorIdServer } from '../../src/sectorid/index.js';
import { SectorIdError } from '../../src/sectorid/protocol.js';
import { lockFile } from '../../src/util/durable.js';
import { AUTH, TOKEN, assertDistinct, cleanup, cli, tmpDir } from './helpers.js';

const base = { listen: '127.0.0.1:0', auth: AUTH, minerId: 'f01000' };

test('16 clients x concurrent batches: all numbers distinct, no gaps, group commit shares fsyncs', async (t) => {
  const repo = tmpDir();
  const srv = await startSectorIdServer({ ...base, repo });
  const clients = Array.from({ length: 16 }, () => new SectorIdClient({ address: srv.address, token: TOKEN }));
  const got: number[] = [];
  let requests = 0;
  await Promise.all(
    clients.map(async (c, ci) => {
      for (let round = 0; round < 25; round++) {
        // 4 requests in flight per client, batches of 1..3 numbers.
        const rs = await Promise.all([1, 2, 3, 4].map((k) => c.allocate(1 + ((ci + round + k) % 3))));
        requests += rs.length;
        for (const r of rs) got.push(...r);
      }
    }),
  );
  const sorted = assertDistinct(got);
  // Without reservations, chain floor or failures there are no gaps: exactly 0..N-1.
  t.is(sorted[0], 0);
  t.is(sorted[sorted.length - 1], sorted.length - 1);
  t.is(readFileSync(join(repo, 'sectorid'), 'utf8').trim(), String(sorted.length));
  t.true(srv.allocator.commits < requests, `commits ${srv.allocator.commits} < requests ${requests}`);
  t.log(`${requests} requests, ${sorted.length} numbers, ${srv.allocator.commits} durable commits`);
  await Promise.all(clients.map((c) => c.close()));
  await srv.close();
  cleanup(repo);
});

test('a retry with the same request id returns the same numbers, also after a restart', async (t) => {
  const repo = tmpDir();
  let srv = await startSectorIdServer({ ...base, repo });
  let c = new SectorIdClient({ address: srv.address, token: TOKEN });
  const a = await c.allocate(3, { requestId: 'req-1' });
  const b = await c.allocate(3, { requestId: 'req-1' });
  t.deepEqual(b, a);
  const [x, y] = await Promise.all([c.allocate(2, { requestId: 'req-2' }), c.allocate(2, { requestId: 'req-2' })]);
  t.deepEqual(x, y);
  const e = await t.throwsAsync(c.allocate(4, { requestId: 'req-1' }));
  t.is((e as SectorIdError).code, 'REQUEST_ID_REUSED');
  await c.close();
  await srv.close();
  srv = await startSectorIdServer({ ...base, repo });
  c = new SectorIdClient({ address: srv.address, token: TOKEN });
  t.deepEqual(await c.allocate(3, { requestId: 'req-1' }), a);
  const fresh = await c.allocate(1);
  t.is(fresh[0], 5);
  await c.close();
  await srv.close();
  cleanup(repo);
});

test('an empty, corrupt or missing counter is refused with a message; never restarts from 0', async (t) => {
  const repo = tmpDir();
  for (const content of ['', 'abc', '12x', '-5', '1e5', '99999999999999999999']) {
    writeFileSync(join(repo, 'sectorid'), content);
    const e = await t.throwsAsync(startSectorIdServer({ ...base, repo }));
    t.regex(e!.message, /sectorid is unusable/, content);
    t.regex(e!.message, /Refusing to start/);
    t.is(readFileSync(join(repo, 'sectorid'), 'utf8'), content, 'the bad file is left for the operator');
    lockFile(join(repo, 'sectorid.lock'), 'test').release(); // the lock is released on refusal
  }
  // Counter gone but the journal exists: the counter was lost.
  writeFileSync(join(repo, 'sectorid'), '7\n');
  let srv = await startSectorIdServer({ ...base, repo });
  const c = new SectorIdClient({ address: srv.address, token: TOKEN });
  t.deepEqual(await c.allocate(2), [7, 8]);
  await c.close();
  await srv.close();
  cleanup(join(repo, 'sectorid'));
  const e = await t.throwsAsync(startSectorIdServer({ ...base, repo }));
  t.regex(e!.message, /missing while sectorid.requests exists/);
  // Journal ahead of the counter (crash between journal sync and counter rename): recovered.
  writeFileSync(join(repo, 'sectorid'), '3\n');
  srv = await startSectorIdServer({ ...base, repo });
  t.is((await srv.allocator.info()).next, 9);
  await srv.close();
  // An unreadable counter (a directory in its place).
  cleanup(join(repo, 'sectorid'));
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(repo, 'sectorid'));
  const e2 = await t.throwsAsync(startSectorIdServer({ ...base, repo }));
  t.regex(e2!.message, /cannot read .*sectorid/);
  cleanup(repo);
});

test('deleted number files are not a fresh start: refused (also with a chain floor) until the operator sets the floor', async (t) => {
  const repo = tmpDir();
  let srv = await startSectorIdServer({ ...base, repo });
  let c = new SectorIdClient({ address: srv.address, token: TOKEN });
  t.deepEqual(await c.allocate(5), [0, 1, 2, 3, 4]);
  await c.close();
  await srv.close();
  t.true(existsSync(join(repo, '.sectorid-created')));
  for (const f of ['sectorid', 'sectorid.requests', 'sectorid.reservations.json']) cleanup(join(repo, f));
  const e = await t.throwsAsync(startSectorIdServer({ ...base, repo }));
  t.regex(e!.message, /sectorid is missing while \.sectorid-created records that this repo created one/);
  t.regex(e!.message, /sectors numbers set-floor N --repo/);
  // The chain knows only the numbers already on it (0..2): not enough to resume safely.
  const e2 = await t.throwsAsync(startSectorIdServer({ ...base, repo, chainFloor: new StaticChainFloor([[0, 2]]) }));
  t.regex(e2!.message, /the counter was lost/);
  t.false(existsSync(join(repo, 'sectorid')), 'nothing was written');
  // Offline commands other than set-floor do not recreate it either.
  const info = await cli(['sectors', 'numbers', 'info', '--repo', repo]);
  t.not(info.code, 0);
  t.regex(info.stderr, /counter was lost/);
  const r = await cli(['sectors', 'numbers', 'set-floor', '100', '--repo', repo]);
  t.is(r.code, 0, r.stderr);
  srv = await startSectorIdServer({ ...base, repo });
  c = new SectorIdClient({ address: srv.address, token: TOKEN });
  t.deepEqual(await c.allocate(1), [100]);
  await c.close();
  await srv.close();
  cleanup(repo);
});

test('a repo from before the marker gets one on its first start', async (t) => {
  const repo = tmpDir();
  writeFileSync(join(repo, 'sectorid'), '12\n');
  const srv = await startSectorIdServer({ ...base, repo });
  await srv.close();
  t.regex(readFileSync(join(repo, '.sectorid-created'), 'utf8'), /counter created .* at 12/);
  cleanup(join(repo, 'sectorid'));
  await t.throwsAsync(startSectorIdServer({ ...base, repo }), { message: /the counter was lost/ });
  cleanup(repo);
});

test("the repo lock keeps a second server and offline commands off a running server's files", async (t) => {
  const repo = tmpDir();
  const srv = await startSectorIdServer({ ...base, repo });
  const e = await t.throwsAsync(startSectorIdServer({ ...base, repo }));
  t.regex(e!.message, /is held by process/);
  const r = await cli(['sectors', 'numbers', 'info', '--repo', repo]);
  t.not(r.code, 0);
  t.regex(r.stderr, /held by process/);
  await srv.close();
  cleanup(repo);
});

test('reservations are skipped, persisted and conflict-checked; set-floor never goes down', async (t) => {
  const repo = tmpDir();
  let srv = await startSectorIdServer({ ...base, repo });
  const c = new SectorIdClient({ address: srv.address, token: TOKEN });
  t.deepEqual(await c.allocate(2), [0, 1]);
  await c.reserve('cc-upgrade', [
    [3, 5],
    [8, 8],
  ]);
  let e = await t.throwsAsync(c.reserve('other', [[5, 6]]));
  t.is((e as SectorIdError).code, 'RESERVATION_CONFLICT');
  e = await t.throwsAsync(c.reserve('cc-upgrade', [[50, 60]]));
  t.is((e as SectorIdError).code, 'RESERVATION_CONFLICT');
  e = await t.throwsAsync(c.reserve('past', [[1, 1]]));
  t.is((e as SectorIdError).code, 'RESERVATION_CONFLICT');
  t.deepEqual(await c.allocate(5), [2, 6, 7, 9, 10]);
  e = await t.throwsAsync(c.setFloor(4));
  t.is((e as SectorIdError).code, 'FLOOR_DOWN');
  const info = await c.setFloor(100);
  t.is(info.next, 100);
  await c.close();
  await srv.close();
  // Persisted across a restart; the offline CLI reads the same state.
  const r = await cli(['sectors', 'numbers', 'info', '--repo', repo, '--json']);
  t.is(r.code, 0, r.stderr);
  const off = JSON.parse(r.stdout) as { next: number; reservations: Record<string, unknown> };
  t.is(off.next, 100);
  t.deepEqual(off.reservations, {
    'cc-upgrade': [
      [3, 5],
      [8, 8],
    ],
  });
  t.is((await cli(['sectors', 'numbers', 'reserve', 'later', '100-101,105', '--repo', repo])).code, 0);
  t.is((await cli(['sectors', 'numbers', 'free', 'cc-upgrade', '--repo', repo])).code, 0);
  const down = await cli(['sectors', 'numbers', 'set-floor', '50', '--repo', repo]);
  t.not(down.code, 0);
  t.regex(down.stderr, /refusing to lower the counter from 100 to 50/);
  srv = await startSectorIdServer({ ...base, repo });
  const c2 = new SectorIdClient({ address: srv.address, token: TOKEN });
  t.deepEqual(await c2.allocate(4), [102, 103, 104, 106]);
  const viaWire = await cli(['sectors', 'numbers', 'info', '--connect', srv.address, '--token', TOKEN]);
  t.regex(viaWire.stdout, /next number: +107/);
  t.regex(viaWire.stdout, /later: 100-101,105/);
  await c2.close();
  await srv.close();
  // Offline commands refuse to invent a counter, except set-floor.
  const empty = tmpDir();
  const none = await cli(['sectors', 'numbers', 'info', '--repo', empty]);
  t.not(none.code, 0);
  t.regex(none.stderr, /no sector-number counter/);
  t.false(existsSync(join(empty, 'sectorid')));
  t.is((await cli(['sectors', 'numbers', 'set-floor', '42', '--repo', empty])).code, 0);
  t.is(readFileSync(join(empty, 'sectorid'), 'utf8').trim(), '42');
  cleanup(empty);
  cleanup(repo);
});

test('chain floor: first start above the highest allocated, chain-allocated numbers never handed out', async (t) => {
  const repo = tmpDir();
  const chain = new StaticChainFloor([
    [0, 9],
    [20, 25],
  ]);
  let srv = await startSectorIdServer({ ...base, repo, chainFloor: chain, chainRefreshMs: 0 });
  const c = new SectorIdClient({ address: srv.address, token: TOKEN });
  t.deepEqual(await c.allocate(3), [26, 27, 28]);
  // Someone else (an old miner still running) allocates ahead of us: skipped, and the floor rises.
  chain.set([
    [0, 9],
    [20, 25],
    [29, 30],
    [40, 40],
  ]);
  await c.allocate(1); // triggers the background refresh
  await new Promise((r) => setTimeout(r, 50));
  const after = await c.allocate(3);
  for (const x of after) t.false([29, 30, 40].includes(x));
  t.true(
    after.every((x) => x > 40),
    JSON.stringify(after),
  );
  const info = await c.info();
  t.is(info.chainFloor, 41);
  await c.close();
  await srv.close();
  // Chain unreachable on a first start: refuse (the first value must come from the chain).
  const fresh = tmpDir();
  chain.failing = new Error('lotus node down');
  const e = await t.throwsAsync(startSectorIdServer({ ...base, repo: fresh, chainFloor: chain }));
  t.regex(e!.message, /lotus node down/);
  t.false(existsSync(join(fresh, 'sectorid')));
  // ... but an existing counter keeps working (with a warning) while the chain is down.
  srv = await startSectorIdServer({ ...base, repo, chainFloor: chain });
  const c2 = new SectorIdClient({ address: srv.address, token: TOKEN });
  t.true((await c2.allocate(1))[0]! > 40);
  await c2.close();
  await srv.close();
  cleanup(fresh);
  cleanup(repo);
});

test('client: unreachable server gives a clear error within the deadline, never a number', async (t) => {
  const repo = tmpDir();
  const srv = await startSectorIdServer({ ...base, repo });
  const address = srv.address;
  await srv.close();
  const c = new SectorIdClient({ address, token: TOKEN, deadlineMs: 600, backoffMinMs: 20 });
  const started = Date.now();
  const e = await t.throwsAsync(c.allocate(1));
  t.is((e as SectorIdError).code, 'UNREACHABLE');
  t.regex(e!.message, /unreachable .*no sector number was received/);
  t.true(Date.now() - started < 3000);
  t.true(c.retries > 1, 'it retried with backoff');
  // The server comes back on the same address: the same client recovers.
  const srv2 = await startSectorIdServer({ ...base, repo, listen: address });
  t.deepEqual(await c.allocate(1, { deadlineMs: 5000 }), [0]);
  await c.close();
  await srv2.close();
  cleanup(repo);
});
