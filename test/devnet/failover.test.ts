// Failover between two API endpoints (a TCP proxy in front of the devnet, then the devnet
// itself): killing the proxy moves calls and the head subscription to the second endpoint
// without losing or repeating heads. Restart: a reopened devnet continues the same chain.
import test from 'ava';
import * as net from 'node:net';
import { type Server, type Socket, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { ChainClient } from '../../src/chain/client.js';
import { encodePreCommitBatch2 } from '../../src/chain/params.js';
import { MinerMethod } from '../../src/chain/builtin-actors.js';
import { b64 } from '../../src/chain/encoding.js';
import { commRToCid } from '../../src/proofs/cid.js';
import { startDevnet } from './_harness.js';

async function proxy(targetPort: number): Promise<{ port: number; kill(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((c) => {
    const u = net.connect(targetPort, '127.0.0.1');
    sockets.add(c).add(u);
    c.pipe(u).pipe(c);
    c.on('error', () => u.destroy());
    u.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    kill: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

test('killing one endpoint: calls and heads continue on the other, no head lost or repeated', async (t) => {
  const h = await startDevnet();
  t.teardown(() => h.close());
  const direct = h.client.endpoints[0];
  const port = Number(/:(\d+)\/rpc/.exec(direct.http)![1]);
  const p = await proxy(port);
  const token = direct.token;
  const client = new ChainClient(`${token}:/ip4/127.0.0.1/tcp/${p.port}/http,${token}:/ip4/127.0.0.1/tcp/${port}/http`, { timeoutMs: 2000, retryAfterMs: 60_000 });
  const heights: number[] = [];
  const endpoints: number[] = [];
  const sub = client.chainNotify(
    (cs) => {
      for (const c of cs) heights.push(c.Val.Height);
    },
    { pingMs: 300 },
  );
  sub.on('endpoint', (i: number) => endpoints.push(i));
  t.teardown(() => sub.close());
  await new Promise<void>((r) => sub.once('endpoint', () => r()));
  const tick = () => new Promise((r) => setTimeout(r, 60));
  for (let i = 0; i < 5; i++) {
    await h.devnet.advance();
    await tick();
  }
  t.is((await client.chainHead()).Height, 5);
  await p.kill();
  // The chain moves on while the client notices and reconnects.
  for (let i = 0; i < 10; i++) {
    await h.devnet.advance();
    await tick();
  }
  t.is((await client.chainHead()).Height, 15);
  await new Promise((r) => setTimeout(r, 1500));
  t.deepEqual(endpoints.slice(0, 2), [0, 1]);
  t.is(sub.endpoint, 1);
  t.deepEqual(
    heights,
    Array.from({ length: 16 }, (_, i) => i),
  );
});

test('a daemon that accepts connections but never answers is skipped within one deadline', async (t) => {
  const h = await startDevnet();
  t.teardown(() => h.close());
  const silent = createServer(() => undefined); // accepts, never replies
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.teardown(() => silent.close());
  const sp = (silent.address() as AddressInfo).port;
  const good = h.client.endpoints[0];
  const port = Number(/:(\d+)\/rpc/.exec(good.http)![1]);
  const client = new ChainClient(`${good.token}:/ip4/127.0.0.1/tcp/${sp}/http,${good.token}:/ip4/127.0.0.1/tcp/${port}/http`, { timeoutMs: 500, retryAfterMs: 60_000 });
  const t0 = Date.now();
  t.is((await client.chainHead()).Height, 0);
  t.true(Date.now() - t0 < 2000);
  // second call goes straight to the good one
  const t1 = Date.now();
  await client.chainHead();
  t.true(Date.now() - t1 < 400);
  const dead = new ChainClient(`${good.token}:/ip4/127.0.0.1/tcp/${sp}/http`, { timeoutMs: 300 });
  await t.throwsAsync(dead.chainHead(), { message: /no chain daemon answered/ });
});

test('restart keeps the chain, the state and pending messages', async (t) => {
  const h = await startDevnet();
  await h.devnet.advanceTo(4);
  const worker = (await h.client.stateMinerInfo('t01000')).Worker;
  const pre = { sealProof: 5, sectorNumber: 42, sealedCid: { '/': commRToCid(Buffer.alloc(32, 42)) }, sealRandEpoch: 3, dealIds: [], expiration: 100000, unsealedCid: null };
  const first = await h.client.mpoolPushMessage({ To: 't01000', From: worker, Method: MinerMethod.PreCommitSectorBatch2, Params: b64(encodePreCommitBatch2([pre])) });
  await h.devnet.advance();
  const pending = await h.client.mpoolPushMessage({ To: 't01000', From: worker, Method: MinerMethod.PreCommitSectorBatch2, Params: b64(encodePreCommitBatch2([{ ...pre, sectorNumber: 43 }])) });
  const headBefore = h.devnet.head();
  const dir = h.dir;
  await h.close(true);
  const h2 = await startDevnet({ dir });
  t.teardown(() => h2.close());
  t.deepEqual(await h2.client.chainHead(), headBefore);
  t.is((await h2.client.stateWaitMsg(first.CID!)).Receipt.ExitCode, 0);
  t.true(await h2.client.stateMinerSectorAllocated('t01000', 42));
  const next = await h2.devnet.advance();
  t.deepEqual(next.Blocks[0].Parents, headBefore.Cids);
  t.is((await h2.client.stateWaitMsg(pending.CID!)).Receipt.ExitCode, 0); // the message pushed before the restart
  t.deepEqual(await h2.client.stateMinerAllocated('t01000'), [42, 43]);
  const again = await h2.client.mpoolPushMessage({ To: 't01000', From: worker, Method: 99 });
  t.is(again.Message.Nonce, 2);
});
