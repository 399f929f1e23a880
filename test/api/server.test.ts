// The miner's local API (src/api/server.ts) under hostile requests: none takes the miner
// down, and each method needs its permission level (read for status, admin for drills).
import test from 'ava';
import { Auth } from '../../src/auth/index.js';
import { ApiCallError, callApi } from '../../src/api/client.js';
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
