// The chain client against node doubles on real TCP: one that answers as Lotus does where the
// embedded devnet did not (empty lists written as `null`, Go nil slices), and one for waiting on
// a message: a StateWaitMsg long poll is never answered (Lotus holds it until the message lands;
// an HTTP client cuts it after 300 s), and the node restarts while the client waits.
import test from 'ava';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ChainClient, MessageWaitTimeoutError } from '../../src/chain/client.js';
import { until } from '../helpers/procs.js';

test("Lotus's null for an empty list reads as an empty list", async (t) => {
  const answers: Record<string, unknown> = {
    StateMinerDeadlines: null,
    StateMinerPartitions: null,
    StateMinerSectors: null,
    StateMinerActiveSectors: null,
    StateMinerInfo: { Owner: 't01', Worker: 't02', ControlAddresses: null, SectorSize: 2048 },
    MinerGetBaseInfo: { MinerPower: '0', NetworkPower: '1', Sectors: null, BeaconEntries: null, EligibleForMining: false },
  };
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const call = JSON.parse(body) as { id: number; method: string };
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ jsonrpc: '2.0', id: call.id, result: answers[call.method.replace('Filecoin.', '')] ?? null }));
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => srv.close());
  const c = new ChainClient(`x.y.z:/ip4/127.0.0.1/tcp/${(srv.address() as AddressInfo).port}/http`, { timeoutMs: 5000, retryAfterMs: 100 });
  t.deepEqual(await c.stateMinerDeadlines('t01000'), []);
  t.deepEqual(await c.stateMinerPartitions('t01000', 0), []);
  t.deepEqual(await c.stateMinerSectors('t01000'), []);
  t.deepEqual(await c.stateMinerActiveSectors('t01000'), []);
  t.deepEqual((await c.stateMinerInfo('t01000')).ControlAddresses, []);
  const bi = await c.minerGetBaseInfo('t01000', 5, []);
  t.deepEqual(bi?.Sectors, []);
  t.deepEqual(bi?.BeaconEntries, []);
});

test('waiting for a message polls StateSearchMsg until it has its confirmations, across a node restart', async (t) => {
  const cid = { '/': 'bafy2bzacemessage' };
  const lookup = { Message: cid, Receipt: { ExitCode: 0, Return: null, GasUsed: 1 }, ReturnDec: null, TipSet: [], Height: 10 };
  let searches = 0;
  let height = 8;
  let longPolls = 0;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const call = JSON.parse(body) as { id: number; method: string };
      const answer = (result: unknown) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ jsonrpc: '2.0', id: call.id, result }));
      };
      if (call.method === 'Filecoin.StateWaitMsg')
        longPolls++; // held open, as Lotus holds it until the message lands
      else if (call.method === 'Filecoin.StateSearchMsg') answer(++searches > 3 ? lookup : null);
      else if (call.method === 'Filecoin.ChainHead') answer({ Cids: [], Blocks: [], Height: height++ });
      else answer(null);
    });
  };
  const sockets = new Set<Socket>();
  const listen = async (port: number) => {
    const srv = createServer(handler);
    srv.on('connection', (s) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
    return srv;
  };
  let srv = await listen(0);
  const port = (srv.address() as AddressInfo).port;
  t.teardown(() => (srv.close(), sockets.forEach((s) => s.destroy())));
  const c = new ChainClient(`x.y.z:/ip4/127.0.0.1/tcp/${port}/http`, { timeoutMs: 2000, retryAfterMs: 50 });

  // Found on the 4th poll at height 10; 2 confirmations need a head of 12.
  const waiting = c.stateWaitMsg(cid, 2, { timeoutMs: 20_000, pollMs: 100 });
  // The node goes away for a second while the client waits, and comes back on its port.
  await new Promise((r) => setTimeout(r, 150));
  srv.close();
  sockets.forEach((s) => s.destroy());
  await new Promise((r) => setTimeout(r, 1000));
  srv = await listen(port);
  const l = await waiting;
  t.is(l.Height, 10);
  t.is(l.Receipt.ExitCode, 0);
  t.true(height > 12, 'returned once the head was at least 2 above the receipt');
  t.true(searches >= 4);
  t.is(longPolls, 0, 'no StateWaitMsg long poll');

  // Confidence 0: the lookup as soon as it is found.
  t.is((await c.stateWaitMsg(cid, 0, { pollMs: 100 })).Height, 10);
  // Never found: a clear error naming the message once the bound is spent, never a hang.
  searches = -1e9;
  const t0 = Date.now();
  await t.throwsAsync(c.stateWaitMsg(cid, 0, { timeoutMs: 700, pollMs: 100 }), { instanceOf: MessageWaitTimeoutError, message: /bafy2bzacemessage: no receipt .* within 1 s \(not yet on chain\)/ });
  t.true(Date.now() - t0 < 2000);
});

// A burst of calls (`proving deadlines` reads 48 deadlines at once): Node's fetch opens a
// connection per concurrent request, and a node or proxy may refuse a client that opens dozens
// (the devnet's hardened server refuses more than 32 from one unauthenticated peer). The client
// keeps at most 16 in flight; the rest wait their turn and are all answered.
test('a burst of 64 calls at once: at most 16 in flight, every one answered', async (t) => {
  // The server holds every answer until the test lets go, so what it sees in flight does not
  // depend on how fast a loaded host schedules the client (20 ms answers once made a full
  // suite run see fewer than 16 at once).
  let now = 0;
  let most = 0;
  let hold = true;
  const held: (() => void)[] = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      now++;
      most = Math.max(most, now);
      const answer = () => {
        now--;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ jsonrpc: '2.0', id: (JSON.parse(body) as { id: number }).id, result: [] }));
      };
      if (hold) held.push(answer);
      else answer();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => srv.close());
  const api = `x.y.z:/ip4/127.0.0.1/tcp/${(srv.address() as AddressInfo).port}/http`;
  const burst = async (c: ChainClient, seen: number) => {
    most = 0;
    hold = true;
    const all = Promise.allSettled(Array.from({ length: 64 }, (_, i) => c.stateMinerPartitions('t01000', i % 48)));
    await until(async () => now >= seen, 10_000, `${seen} calls held at the server`);
    await new Promise((r) => setTimeout(r, 300)); // room for any call over the cap to arrive
    const atOnce = most;
    hold = false;
    held.splice(0).forEach((f) => f());
    const r = await all;
    return { atOnce, failed: r.filter((x) => x.status === 'rejected').length };
  };
  t.deepEqual(await burst(new ChainClient(api, { timeoutMs: 10_000 }), 16), { atOnce: 16, failed: 0 });
  const uncapped = await burst(new ChainClient(api, { timeoutMs: 10_000, maxInFlight: 64 }), 17);
  t.true(uncapped.atOnce > 16, `uncapped, the burst opens more (${uncapped.atOnce}; the check can fail)`);
  t.is(uncapped.failed, 0);
});
