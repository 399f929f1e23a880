// Crash safety with real processes: the server runs as `distminer sectorid serve` in a child
// process and is killed with SIGKILL mid-load, over and over. Every number any client ever
// received is compared: none may repeat, none may fall in the chain's allocated set.
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SectorIdClient } from '../../src/sectorid/index.js';
import { encodeFrame } from '../../src/sectorid/protocol.js';
import { contains, normalize } from '../../src/sectorid/ranges.js';
import { TOKEN, type ChildServer, assertDistinct, cleanup, rawExchange, sleep, spawnServer, tmpDir, writeJson } from './helpers.js';

test('20 rounds of kill -9 under load from 16 clients: no number is ever reissued', async (t) => {
  const repo = tmpDir();
  const chainFile = join(repo, 'chain.json');
  const chain = normalize([
    [0, 99],
    [150, 160],
  ]);
  writeJson(chainFile, chain);
  const args = ['--chain-floor-file', chainFile];
  let srv: ChildServer = await spawnServer([...args, '--listen', '127.0.0.1:0'], repo);
  const address = srv.address;
  const clients = Array.from({ length: 16 }, () => new SectorIdClient({ address, token: TOKEN, deadlineMs: 30_000, backoffMinMs: 10, backoffMaxMs: 200 }));
  const received: number[] = [];
  let stop = false;
  let calls = 0;
  const loops = clients.map(async (c, i) => {
    let k = i;
    while (!stop) {
      const nums = await c.allocate(1 + (k++ % 3));
      received.push(...nums);
      calls++;
    }
  });
  const rounds = 20;
  for (let round = 0; round < rounds; round++) {
    await sleep(150 + ((round * 37) % 200));
    await srv.kill9();
    // Some rounds leave the server down for a while: clients see errors and keep retrying.
    if (round % 4 === 3) await sleep(300);
    srv = await spawnServer([...args, '--listen', address], repo);
  }
  await sleep(200);
  stop = true;
  await Promise.all(loops);
  const retries = clients.reduce((s, c) => s + c.retries, 0);
  await Promise.all(clients.map((c) => c.close()));
  await srv.stop();
  const sorted = assertDistinct(received);
  for (const x of sorted) if (contains(chain, x)) t.fail(`chain-allocated number ${x} was handed out`);
  const counter = Number(readFileSync(join(repo, 'sectorid'), 'utf8'));
  t.is(sorted[0], 161, 'first start above the highest chain-allocated number');
  t.true(sorted[sorted.length - 1]! < counter, 'every number handed out is below the stored counter');
  // Every client retried its lost replies with the same request id until answered, so even
  // the numbers committed just before a kill reached a client: no gaps at all.
  const gaps = counter - 161 - sorted.length;
  t.log(`${rounds} kills, ${calls} calls, ${sorted.length} numbers, ${retries} client retries, ${gaps} gaps`);
  t.is(gaps, 0);
  t.true(calls > rounds * 16, 'clients made progress between kills');
  t.true(retries > 0, 'clients saw the crashes');
  cleanup(repo);
});

test('after kill -9 a retry with the same request id gets the same numbers', async (t) => {
  const repo = tmpDir();
  let srv = await spawnServer(['--listen', '127.0.0.1:0'], repo);
  const req = encodeFrame({ v: 1, id: 'pledge-42', token: TOKEN, op: 'alloc', n: 4 });
  const first = await rawExchange(srv.address, req);
  t.is(first.replies[0]!.ok, true);
  const nums = first.replies[0]!.numbers as number[];
  t.is(nums.length, 4);
  await srv.kill9();
  srv = await spawnServer(['--listen', srv.address], repo);
  const again = await rawExchange(srv.address, req);
  t.deepEqual(again.replies[0]!.numbers, nums);
  const other = await rawExchange(srv.address, encodeFrame({ v: 1, id: 'pledge-43', token: TOKEN, op: 'alloc', n: 1 }));
  t.deepEqual(other.replies[0]!.numbers, [nums[3]! + 1]);
  await srv.stop();
  cleanup(repo);
});

test('the server process refuses to start on an empty or corrupt counter', async (t) => {
  const repo = tmpDir();
  for (const content of ['', 'garbage\n']) {
    writeFileSync(join(repo, 'sectorid'), content);
    const e = await t.throwsAsync(spawnServer(['--listen', '127.0.0.1:0'], repo));
    t.regex(e!.message, /server exited \(1\)/);
    t.regex(e!.message, /sectorid is unusable.*Refusing to start/s);
    t.is(readFileSync(join(repo, 'sectorid'), 'utf8'), content);
  }
  cleanup(repo);
});
