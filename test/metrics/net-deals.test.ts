// Metrics of the hardened HTTP server (src/net) and of the deal server's uploads, in process.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { Auth } from '../../src/auth/index.js';
import { DealServer } from '../../src/deals/server.js';
import { exposition } from '../../src/metrics/index.js';
import { HttpService, sendJson } from '../../src/net/http-server.js';
import { AUTH, MINER, postJson, raw, signedDeal, tmp } from '../deals/helpers.js';
import { parseExposition } from '../helpers/prom.js';

const read = async () => parseExposition(await exposition());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.serial('HTTP server: requests by status code, refused connections by reason, open connections', async (t) => {
  const auth = Auth.random();
  const svc = new HttpService({ name: 'metrics-test', verify: auth, limits: { maxUnauthConnectionsPerPeer: 2, maxUnauthConnections: 100 } });
  svc.route({ path: '/ok', handler: (_req, res) => sendJson(res, 200, { ok: true }) });
  const a = await svc.listen('127.0.0.1', 0);
  t.teardown(() => svc.close());
  const S = { service: 'metrics-test' };
  const url = `http://127.0.0.1:${a.port}`;
  t.is((await raw(`${url}/ok`)).status, 200);
  t.is((await raw(`${url}/nope`)).status, 404);
  let m = await read();
  t.is(m.value('distminer_http_requests_total', { ...S, code: '200' }), 1);
  t.is(m.value('distminer_http_requests_total', { ...S, code: '404' }), 1);
  // Three idle strangers from one address with a share of 2: the oldest is closed.
  for (let i = 0; i < 100 && svc.connections().total > 0; i++) await sleep(20);
  t.is(svc.connections().total, 0);
  const socks = await Promise.all(
    [0, 1, 2].map(
      () =>
        new Promise<ReturnType<typeof connect>>((res) => {
          const s = connect(a.port, '127.0.0.1', () => res(s));
          s.on('error', () => {});
        }),
    ),
  );
  t.teardown(() => socks.forEach((s) => s.destroy()));
  await sleep(100);
  m = await read();
  t.is(m.value('distminer_http_refused_connections_total', { ...S, reason: 'unauth_evicted' }), 1);
  t.is(m.value('distminer_http_connections', { ...S, budget: 'unauthenticated' }), 2);
  // A malformed request.
  socks[2].write('NOT HTTP AT ALL\r\n\r\n');
  await sleep(200);
  m = await read();
  t.is(m.value('distminer_http_refused_connections_total', { ...S, reason: 'bad_request' }), 1);
  await svc.close();
  t.is((await read()).find('distminer_http_connections', S).length, 0, 'a closed service is not counted');
});

test.serial('deal server: uploads by outcome and bytes received', async (t) => {
  const dir = tmp();
  const srv = await DealServer.start({ dir, minerId: MINER, auth: AUTH });
  t.teardown(async () => {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const before = await read();
  const v = (m: typeof before, n: string, l: Record<string, string> = {}) => m.value(n, l) ?? 0;
  const data = randomBytes(2032);
  const p = await postJson(`${srv.url}/deals/proposal`, { deal: await signedDeal(data), transferSize: data.length });
  t.is(p.status, 201);
  const u = await raw(p.json.uploadUrl as string, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': '2032' }, chunks: [data] });
  t.is(u.status, 200, JSON.stringify(u.json));
  const other = randomBytes(2032);
  const q = await postJson(`${srv.url}/deals/proposal`, { deal: await signedDeal(other), transferSize: other.length });
  const bad = await raw(q.json.uploadUrl as string, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': '100' }, chunks: [other.subarray(0, 100)] });
  t.is(bad.status, 400);
  const m = await read();
  t.is(v(m, 'distminer_deal_uploads_total', { outcome: 'ok' }), v(before, 'distminer_deal_uploads_total', { outcome: 'ok' }) + 1);
  t.is(v(m, 'distminer_deal_uploads_total', { outcome: 'failed' }), v(before, 'distminer_deal_uploads_total', { outcome: 'failed' }) + 1);
  t.is(v(m, 'distminer_deal_upload_bytes_total'), v(before, 'distminer_deal_upload_bytes_total') + 2032);
  t.is(m.value('distminer_deals', { state: 'Publishing' }), 1);
  t.is(m.value('distminer_deals', { state: 'Failed' }), 1);
});
