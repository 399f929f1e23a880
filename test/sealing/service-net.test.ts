// The seal service's listener (/rpc/v0 JSON-RPC and the worker WebSocket) under hostile
// requests — none takes the seal miner down — and its permissions: listing needs read,
// pledging write, removing a sector admin; a seal worker's token needs write, checked at the
// upgrade before any frame is read.
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { Auth } from '../../src/auth/index.js';
import { WORKER_PROTOCOL_VERSION, decodeMinerMsg, encode } from '../../src/sealing/protocol.js';
import { MAIN, Proc, killAll, rpc } from '../helpers/procs.js';
import { startSealService } from '../helpers/seal-service.js';
import { abortedBody, flood, postRequest, raw, slowloris, until, upgradeRequest } from '../net/_hostile.js';

const auth = Auth.random();
const ADMIN = auth.issue('admin');
const WRITE = auth.issue('write');
const READ = auth.issue('read');

const start = (t: { teardown(f: () => unknown): void }, netLimits = {}) => startSealService(t, auth, netLimits);

test.after.always(killAll);

const workerUrl = (port: number) => `ws://127.0.0.1:${port}/rpc/v0/worker`;

test('hostile requests: null body, POST //[, upgrade to //[, an aborted body — the seal service keeps serving', async (t) => {
  const s = await start(t);
  for (const body of ['null', '5', '[]', '"x"', '{"method":{}}', '{"method":"SectorsStatus","params":null}', '{"method":"SectorsStatus","params":[null]}']) {
    const r = await raw(s.port, postRequest('/rpc/v0', body, { authorization: `Bearer ${ADMIN}` }));
    t.is(r.status, 200, body);
    t.regex(r.text, /"error":\{"code":/, body);
  }
  t.is((await raw(s.port, postRequest('//[', '{}'))).status, 400);
  t.is((await raw(s.port, postRequest('//[', '{}', { authorization: `Bearer ${ADMIN}` }))).status, 400);
  const up = await raw(s.port, upgradeRequest('//[', { authorization: `Bearer ${ADMIN}` }));
  t.is(up.status, 400);
  t.true(up.closed);
  await abortedBody(s.port, '/rpc/v0', { authorization: `Bearer ${ADMIN}` });
  t.deepEqual(await rpc(s.url, READ, 'SectorsList'), []);
});

test('1,000 upgrades to an unknown path leave no socket open; a trickle is cut while others are served', async (t) => {
  const s = await start(t, { headersTimeoutMs: 800, checkIntervalMs: 100 });
  const seen = await flood(s.port, upgradeRequest('/nope'), 1000, 20);
  t.is(seen.get(404), 1000);
  await until(async () => (await new Promise<number>((r) => s.svc.server!.getConnections((_e, n) => r(n)))) === 0, 5000, 'sockets to close');
  const slow = slowloris(s.port, 50, 10_000);
  for (let i = 0; i < 5; i++) t.deepEqual(await rpc(s.url, READ, 'SectorsList'), []);
  const r = await slow;
  t.true(r.closedAfterMs !== null && r.closedAfterMs < 2500, `cut after ${r.closedAfterMs} ms`);
});

test('an oversized body without a token is refused, never read', async (t) => {
  const s = await start(t);
  t.is((await raw(s.port, `POST /rpc/v0 HTTP/1.1\r\nhost: a\r\ncontent-length: ${30 * 2 ** 20}\r\n\r\n`)).status, 413);
  t.is((await raw(s.port, postRequest('/rpc/v0', JSON.stringify({ method: 'SectorsList', params: ['x'.repeat(64 * 1024)] })))).status, 413);
});

test('permissions: a read token lists but cannot pledge or remove; write pledges; only admin removes', async (t) => {
  const s = await start(t);
  await t.throwsAsync(rpc(s.url, READ, 'SectorsPledge', [1]), { message: "missing permission to invoke 'SectorsPledge' (need 'write')" });
  const [n] = await rpc<number[]>(s.url, WRITE, 'SectorsPledge', [1]);
  t.is(n, 1);
  t.is((await rpc<{ number: number }[]>(s.url, READ, 'SectorsList')).length, 1);
  t.is((await rpc<{ number: number }>(s.url, READ, 'SectorsStatus', [n])).number, n);
  await t.throwsAsync(rpc(s.url, READ, 'SectorsRemove', [n]), { message: /need 'admin'/ });
  await t.throwsAsync(rpc(s.url, WRITE, 'SectorsRemove', [n]), { message: /need 'admin'/ });
  t.not((await rpc<{ state: string }>(s.url, READ, 'SectorsStatus', [n])).state, 'Removed', 'the sector is still there');
  await t.throwsAsync(rpc(s.url, Auth.random().issue('admin'), 'SectorsList'), { message: /JWT Verification failed/ });
  t.true(await rpc<boolean>(s.url, ADMIN, 'SectorsRemove', [n]));
});

test('a seal worker needs a write token, checked at the upgrade before any frame is read', async (t) => {
  const s = await start(t);
  for (const [headers, status] of [
    [{}, 401],
    [{ authorization: `Bearer ${READ}` }, 403],
    [{ authorization: `Bearer ${Auth.random().issue('admin')}` }, 401],
  ] as const) {
    const r = await raw(s.port, upgradeRequest('/rpc/v0/worker', headers));
    t.is(r.status, status);
    t.true(r.closed);
  }
  // A read token in the hello (the old in-band check) gets no further: the upgrade is refused.
  const refused = new WebSocket(workerUrl(s.port), { headers: { authorization: `Bearer ${READ}` } });
  const err = await new Promise<Error>((r) => refused.once('error', r));
  t.regex(err.message, /403/);
  // With a write token the worker gets in.
  const ws = new WebSocket(workerUrl(s.port), { headers: { authorization: `Bearer ${WRITE}` } });
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  ws.send(
    encode({
      t: 'hello',
      v: WORKER_PROTOCOL_VERSION,
      token: WRITE,
      workerId: 'w1',
      hostname: 'h',
      taskTypes: ['AddPiece'],
      resources: { cores: 1, memoryBytes: 2 ** 30, gpus: 0 },
      sectors: [],
      running: [],
    }),
  );
  const m = decodeMinerMsg(await new Promise<Buffer>((r) => ws.once('message', r)));
  t.is(m.t, 'welcome');
  t.is((await rpc<{ id: string }[]>(s.url, READ, 'SealingWorkers'))[0].id, 'w1');
  ws.close();
});

test('`distminer worker` with a read token is refused at the socket and exits instead of retrying', async (t) => {
  const s = await start(t);
  const dir = mkdtempSync(join(tmpdir(), 'dm-sealnet-worker-'));
  const w = new Proc('worker', [MAIN, 'worker', '--miner-api', `${READ}:/ip4/127.0.0.1/tcp/${s.port}/http`, '--dir', dir, '--cores', '1', '--memory', '1GiB'], { DISTMINER_LOG_LEVEL: 'info' });
  const line = await w.waitFor(/lacks the write permission/, 20_000);
  t.regex(line, /create-token --perm write/);
  t.is((await w.exited).code, 1);
  t.deepEqual(await rpc(s.url, READ, 'SealingWorkers'), []);
});
