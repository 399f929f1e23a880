// The miner's local API (src/api/server.ts) under hostile requests: none takes the miner
// down, and each method needs its permission level (read for status, admin for drills); the
// same over a WebSocket; lotus-miner's methods (src/api/lotus-miner.ts; the real lotus-miner
// CLI against them is in test/lotus/migrate.test.ts).
import test from 'ava';
import { WebSocket } from 'ws';
import { Auth } from '../../src/auth/index.js';
import { ApiCallError, callApi } from '../../src/api/client.js';
import { registerLotusMinerApi } from '../../src/api/lotus-miner.js';
import { RpcError, startApiServer } from '../../src/api/server.js';
import { abortedBody, flood, postRequest, raw, slowloris, until, upgradeRequest } from '../net/_hostile.js';

const auth = Auth.random();
const ADMIN = auth.issue('admin');
const READ = auth.issue('read');
const WRITE = auth.issue('write');

async function start(limits = {}) {
  const api = await startApiServer({ host: '127.0.0.1', port: 0 }, auth, { limits });
  const drilled: string[] = [];
  api.register('Distminer.Status', () => ({ ok: true }), 'read');
  api.register('Distminer.ActorCrashDrill', (p) => {
    drilled.push(String(p[0]));
    if (p[0] === 'nope') throw new RpcError(2, 'no such actor');
    return null;
  });
  const port = api.address.port;
  const status = (token = READ) => callApi<{ ok: boolean }>(api.address, token, 'Distminer.Status');
  return { api, port, status, drilled };
}

test('hostile requests: null body, POST //[, upgrade to //[, an aborted body — the API keeps serving', async (t) => {
  const s = await start();
  t.teardown(() => s.api.close());
  for (const body of ['null', '1', '[]', '"x"', '{"method":null}', '{"method":"Distminer.Status","params":{}}']) {
    const r = await raw(s.port, postRequest('/rpc/v0', body, { authorization: `Bearer ${ADMIN}` }));
    t.is(r.status, 200, body);
    t.regex(r.text, /"error":\{"code":-32/, body);
  }
  t.is((await raw(s.port, postRequest('//[', '{}'))).status, 400);
  t.is((await raw(s.port, postRequest('//[', '{}', { authorization: `Bearer ${ADMIN}` }))).status, 400);
  const up = await raw(s.port, upgradeRequest('//['));
  t.true(up.closed);
  await abortedBody(s.port, '/rpc/v0', { authorization: `Bearer ${ADMIN}` });
  t.deepEqual(await s.status(), { ok: true });
});

test('1,000 upgrades to an unknown path leave no socket open', async (t) => {
  const s = await start();
  t.teardown(() => s.api.close());
  const seen = await flood(s.port, upgradeRequest('/nope'), 1000, 20);
  t.is(seen.get(404), 1000);
  await until(async () => (await new Promise<number>((r) => s.api.server.getConnections((_e, n) => r(n)))) === 0, 5000, 'sockets to close');
  t.deepEqual(await s.status(), { ok: true });
});

test('a slowloris trickle is cut at its deadline while the operator is served', async (t) => {
  const s = await start({ headersTimeoutMs: 800, checkIntervalMs: 100 });
  t.teardown(() => s.api.close());
  const slow = slowloris(s.port, 50, 10_000);
  for (let i = 0; i < 5; i++) t.deepEqual(await s.status(), { ok: true });
  const r = await slow;
  t.true(r.closedAfterMs !== null && r.closedAfterMs < 2500, `cut after ${r.closedAfterMs} ms`);
});

test('an oversized body without a token is refused from its length, never read', async (t) => {
  const s = await start();
  t.teardown(() => s.api.close());
  const r = await raw(s.port, `POST /rpc/v0 HTTP/1.1\r\nhost: a\r\ncontent-length: ${30 * 2 ** 20}\r\n\r\n`);
  t.is(r.status, 413);
  t.is((await raw(s.port, postRequest('/rpc/v0', JSON.stringify({ method: 'Distminer.Status', params: ['x'.repeat(64 * 1024)] })))).status, 413);
});

test('permissions: status needs read, a drill needs admin; no token and a wrong token are refused', async (t) => {
  const s = await start();
  t.teardown(() => s.api.close());
  t.deepEqual(await s.status(READ), { ok: true });
  await t.throwsAsync(callApi(s.api.address, READ, 'Distminer.ActorCrashDrill', ['seal', 'throw']), { instanceOf: ApiCallError, message: /missing permission to invoke 'Distminer.ActorCrashDrill' \(need 'admin'\)/ });
  await t.throwsAsync(callApi(s.api.address, WRITE, 'Distminer.ActorCrashDrill', ['seal', 'throw']), { message: /need 'admin'/ });
  t.deepEqual(s.drilled, []);
  t.is(await callApi(s.api.address, ADMIN, 'Distminer.ActorCrashDrill', ['seal', 'throw']), null);
  await t.throwsAsync(callApi(s.api.address, ADMIN, 'Distminer.ActorCrashDrill', ['nope', 'throw']), { message: 'no such actor' });
  t.deepEqual(s.drilled, ['seal', 'nope']);
  await t.throwsAsync(s.status(''), { message: /need 'read'|JWT|token/ });
  await t.throwsAsync(s.status(Auth.random().issue('admin')), { message: /JWT Verification failed/ });
});

/** A WebSocket JSON-RPC connection to the API (as Lotus's Go clients dial it), its frames collected. */
async function wsConnect(port: number, token?: string): Promise<{ ws: WebSocket; next(): Promise<Record<string, unknown>>; send(v: unknown): void }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/rpc/v0`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  const frames: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (d) => {
    frames.push(JSON.parse(d.toString()));
    waiters.splice(0).forEach((w) => w());
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
  return {
    ws,
    send: (v) => ws.send(typeof v === 'string' ? v : JSON.stringify(v)),
    async next() {
      while (frames.length === 0) await new Promise<void>((r) => waiters.push(r));
      return frames.shift()!;
    },
  };
}

test('WebSocket JSON-RPC at /rpc/v0 (how lotus-miner\'s CLI connects): the token at the upgrade, each method\'s permission per call, bad frames answered, notifications not', async (t) => {
  const s = await start();
  t.teardown(() => s.api.close());
  await t.throwsAsync(wsConnect(s.port), { message: 'HTTP 401' }, 'no token: refused at the upgrade');
  await t.throwsAsync(wsConnect(s.port, Auth.random().issue('admin')), { message: 'HTTP 401' }, 'a token of another secret');
  const c = await wsConnect(s.port, READ);
  c.send({ jsonrpc: '2.0', id: 1, method: 'Distminer.Status', params: [] });
  t.deepEqual(await c.next(), { jsonrpc: '2.0', id: 1, result: { ok: true } });
  c.send({ jsonrpc: '2.0', id: 2, method: 'Distminer.ActorCrashDrill', params: ['x'] });
  t.like(await c.next(), { id: 2, error: { code: 1, message: "missing permission to invoke 'Distminer.ActorCrashDrill' (need 'admin')" } });
  c.send('{not json');
  t.like(await c.next(), { id: null, error: { code: -32700 } });
  c.send({ jsonrpc: '2.0', method: 'xrpc.cancel', params: [1] }); // a notification: no answer
  c.send({ jsonrpc: '2.0', id: 'three', method: 'Nope', params: [] });
  t.like(await c.next(), { id: 'three', error: { code: -32601 } }, 'the next frame answers the request after the notification');
  t.deepEqual(s.drilled, []);
  const a = await wsConnect(s.port, ADMIN);
  a.send({ jsonrpc: '2.0', id: 7, method: 'Distminer.ActorCrashDrill', params: ['winning-post'] });
  t.deepEqual(await a.next(), { jsonrpc: '2.0', id: 7, result: null });
  t.deepEqual(s.drilled, ['winning-post']);
  // A result JSON cannot carry is an error reply, not a dead miner.
  s.api.register('Test.Big', () => 2n ** 70n, 'read');
  c.send({ jsonrpc: '2.0', id: 8, method: 'Test.Big', params: [] });
  const big = (await c.next()) as { id: number; error: { code: number; message: string } };
  t.like(big, { id: 8, error: { code: -32603 } });
  t.regex(big.error.message, /cannot be sent as JSON/);
  // A frame over the limit (1 MiB) closes that socket only.
  const closed = new Promise<number>((r) => a.ws.once('close', (code) => r(code)));
  a.send(JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'Distminer.Status', params: ['x'.repeat(2 * 1024 * 1024)] }));
  t.is(await closed, 1009, 'message too big');
  c.send({ jsonrpc: '2.0', id: 10, method: 'Distminer.Status', params: [] });
  t.deepEqual(await c.next(), { jsonrpc: '2.0', id: 10, result: { ok: true } });
  c.ws.close();
  t.deepEqual(await s.status(), { ok: true });
});

test('WebSocket JSON-RPC: at most 64 requests unanswered per connection; the 65th gets an error, the others their answers', async (t) => {
  const s = await start();
  t.teardown(() => s.api.close());
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  s.api.register('Test.Slow', async () => {
    await gate;
    return 'done';
  }, 'read');
  const c = await wsConnect(s.port, READ);
  for (let id = 1; id <= 65; id++) c.send({ jsonrpc: '2.0', id, method: 'Test.Slow', params: [] });
  t.like(await c.next(), { id: 65, error: { code: -32603, message: 'more than 64 requests in flight on this connection' } });
  release();
  const ids = new Set<unknown>();
  for (let i = 0; i < 64; i++) {
    const r = await c.next();
    t.is(r.result, 'done');
    ids.add(r.id);
  }
  t.is(ids.size, 64);
  c.send({ jsonrpc: '2.0', id: 66, method: 'Test.Slow', params: [] });
  t.deepEqual(await c.next(), { jsonrpc: '2.0', id: 66, result: 'done' }, 'the slots are free again');
  c.ws.close();
});

test('lotus-miner\'s methods: version, address, subsystems by role, start time, alerts in Lotus\'s shape, sectors by state from the chain and the seal pipeline', async (t) => {
  const s = await start();
  t.teardown(() => s.api.close());
  const calls: string[] = [];
  const chain = {
    call: async (method: string) => {
      calls.push(method);
      if (method === 'Filecoin.Version') return { Version: '1.36.2+2k', APIVersion: 0x20300, BlockDelay: 4 };
      if (method === 'Filecoin.StateMinerSectorCount') return { Live: 12, Active: 10, Faulty: 2 };
      throw new Error(`unexpected ${method}`);
    },
    stateMinerInfo: async () => ({ SectorSize: 2048 }),
  };
  const startedAt = new Date('2026-12-01T10:00:00Z');
  registerLotusMinerApi(s.api.register, {
    minerId: 't01000',
    roles: ['winning-post', 'window-post', 'seal'],
    version: '0.1.0',
    startedAt,
    chain: chain as never,
    alerts: async () => [{ name: 'DistminerFaultDeclared', severity: 'warning', summary: 'sector 3 declared faulty' }],
    sealSectors: async () => [{ state: 'PreCommit1' }, { state: 'PreCommit1' }, { state: 'WaitSeed' }, { state: 'Proving' }],
  });
  const call = <T>(method: string, params: unknown[] = [], token = ADMIN) => callApi<T>(s.api.address, token, method, params);
  t.deepEqual(await call('Filecoin.Version'), { Version: 'distminer 0.1.0', APIVersion: 0x10500, BlockDelay: 4 });
  t.is(await call('Filecoin.ActorAddress', [], READ), 't01000');
  t.is(await call('Filecoin.ActorSectorSize', ['t01000'], READ), 2048);
  t.deepEqual(await call('Filecoin.RuntimeSubsystems', [], READ), ['Mining', 'Sealing', 'SectorStorage']);
  t.is(await call('Filecoin.StartTime', [], READ), startedAt.toISOString());
  const alerts = await call<Record<string, unknown>[]>('Filecoin.LogAlerts');
  t.like(alerts[0], { Type: { System: 'distminer', Subsystem: 'DistminerFaultDeclared' }, Active: true, LastActive: { Type: 'raised', Message: { severity: 'warning', summary: 'sector 3 declared faulty' } }, LastResolved: null });
  await t.throwsAsync(call('Filecoin.LogAlerts', [], READ), { message: /need 'admin'/ }, 'admin, as in Lotus');
  t.deepEqual(await call('Filecoin.SectorsSummary', [], READ), { Proving: 10, Faulty: 2, PreCommit1: 2, WaitSeed: 1 });
  await t.throwsAsync(call('Filecoin.WorkerStats'), { message: /not found/ }, 'what distminer cannot answer truthfully stays unknown');

  const post = await start();
  t.teardown(() => post.api.close());
  registerLotusMinerApi(post.api.register, { minerId: 't01000', roles: ['window-post'], version: '0.1.0', startedAt, alerts: async () => [] });
  t.deepEqual(await callApi(post.api.address, READ, 'Filecoin.RuntimeSubsystems'), ['SectorStorage']);
  await t.throwsAsync(callApi(post.api.address, READ, 'Filecoin.SectorsSummary'), { message: /has no chain node/ });
});
