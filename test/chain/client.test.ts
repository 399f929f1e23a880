// The chain client against a node that answers as Lotus does where the embedded devnet did
// not: empty lists written as `null` (Go nil slices).
import test from 'ava';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChainClient } from '../../src/chain/client.js';

test('Lotus\'s null for an empty list reads as an empty list', async (t) => {
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
