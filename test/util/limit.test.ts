// The one in-flight limiter (src/util/limit.ts) and the seal-service client that uses it: at
// most N calls at once, in order, a failed call frees its slot; and against a real HTTP
// JSON-RPC stand-in, 300 SectorsStatus at once (lotus-miner's `sectors list` fan-out) reach
// the seal service at most 8 at a time, every one answered.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SEAL_API_FILE, sealServiceClient } from '../../src/sealing/client.js';
import { limiter } from '../../src/util/limit.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('limiter: at most N at once, first come first served, a failure frees its slot', async (t) => {
  const limit = limiter(3);
  let now = 0;
  let most = 0;
  const started: number[] = [];
  const job = (i: number) =>
    limit(async () => {
      started.push(i);
      most = Math.max(most, ++now);
      await tick(5);
      now--;
      if (i % 4 === 0) throw new Error(`job ${i} failed`);
      return i;
    });
  const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => job(i)));
  t.is(most, 3);
  t.deepEqual(
    started,
    Array.from({ length: 20 }, (_, i) => i),
    'in the order asked',
  );
  t.is(results.filter((r) => r.status === 'rejected').length, 5, 'failures reach their callers');
  t.deepEqual(
    results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<number>).value),
    Array.from({ length: 20 }, (_, i) => i).filter((i) => i % 4 !== 0),
  );
});

test('the seal-service client: 300 SectorsStatus at once reach the service at most 8 at a time, all answered', async (t) => {
  let now = 0;
  let most = 0;
  let served = 0;
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      most = Math.max(most, ++now);
      const { id, params } = JSON.parse(body) as { id: number; params: [number] };
      setTimeout(() => {
        now--;
        served++;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id, result: { number: params[0], state: 'Proving' } }));
      }, 2);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const repo = mkdtempSync(join(tmpdir(), 'dm-limit-'));
  t.teardown(() => {
    srv.close();
    rmSync(repo, { recursive: true, force: true });
  });
  writeFileSync(join(repo, SEAL_API_FILE), `/ip4/127.0.0.1/tcp/${(srv.address() as AddressInfo).port}/http\n`);
  const client = sealServiceClient(repo, 'token');
  const views = await Promise.all(Array.from({ length: 300 }, (_, n) => client.sector(n)));
  t.deepEqual(
    views.map((v) => v!.number),
    Array.from({ length: 300 }, (_, n) => n),
  );
  t.is(served, 300);
  t.true(most <= 8 && most >= 2, `at most 8 at once (saw ${most})`);
});
