// Hostile peers against the deal server on loopback (127.0.0.2… act as other addresses):
// tokens below admin, trickled uploads holding transfer slots, floods of proposals that
// never bring data, slow or oversized request heads. Each is refused or cut by itself, with
// its reason recorded, and the server keeps serving everyone else.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { Auth } from '../../src/auth/index.js';
import { newClientKey } from '../../src/deals/keys.js';
import { DealServer, type DealServerOptions } from '../../src/deals/server.js';
import { AUTH, MINER, TOKEN, adminGet, postJson, raw, signedDeal, tmp, until } from './helpers.js';

async function withServer(t: { teardown(f: () => unknown): void }, opts: Partial<DealServerOptions> = {}): Promise<DealServer> {
  const dir = tmp();
  const srv = await DealServer.start({ dir, minerId: MINER, auth: AUTH, ...opts });
  t.teardown(async () => {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return srv;
}

const propose = async (srv: DealServer, data: Buffer, from?: string, extra: Parameters<typeof signedDeal>[1] = {}) =>
  postJson(`${srv.url}/deals/proposal`, { deal: await signedDeal(data, extra), transferSize: data.length }, from);

const put = (url: string, chunks: Buffer[], more: { gapMs?: number; localAddress?: string } = {}) =>
  raw(url, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(chunks.reduce((n, c) => n + c.length, 0)) }, chunks, ...more });

const state = async (srv: DealServer, uuid: unknown) => (await adminGet(`${srv.url}/deals/${String(uuid)}`)).json;

test('admin calls need an admin token: 401 without a valid one, 403 naming the level with a lesser one', async (t) => {
  const srv = await withServer(t);
  t.is((await adminGet(`${srv.url}/deals`)).status, 200);
  for (const token of ['', 'not-a-jwt', Auth.random().issue('admin')]) {
    const r = await adminGet(`${srv.url}/deals`, token);
    t.is(r.status, 401);
    t.is(r.headers['www-authenticate'], 'Bearer');
  }
  for (const perm of ['read', 'write', 'sign'] as const) {
    const r = await adminGet(`${srv.url}/deals`, AUTH.issue(perm));
    t.is(r.status, 403, perm);
    t.regex(r.json.error as string, /need 'admin'/);
  }
  t.is(TOKEN, AUTH.issue('admin'));
});

test('a trickled upload loses its transfer slot; the next client gets it', async (t) => {
  const srv = await withServer(t, { maxTransfers: 1, minRateBytesPerSec: 1000, rateWindowMs: 300, stallMs: 10_000 });
  const slowData = randomBytes(2032);
  const slow = await propose(srv, slowData);
  // 10 bytes every 100 ms: never stalls, but 100 bytes/s is below the 1000 bytes/s minimum.
  const chunks = Array.from({ length: 204 }, (_, i) => slowData.subarray(i * 10, (i + 1) * 10));
  const trickle = put(slow.json.uploadUrl as string, chunks, { gapMs: 100 });
  await until(async () => (await state(srv, slow.json.uuid)).state === 'Transferring', 5000, 'the trickle to take the slot');
  const data = randomBytes(2032);
  const good = await propose(srv, data);
  const started = Date.now();
  let answer = await put(good.json.uploadUrl as string, [data]);
  while (answer.status === 503 && Date.now() - started < 5000) {
    await new Promise((r) => setTimeout(r, 100));
    answer = await put(good.json.uploadUrl as string, [data]);
  }
  t.is(answer.status, 200, JSON.stringify(answer.json));
  t.true(Date.now() - started < 2000, `the slot came free after ${Date.now() - started} ms`);
  const cut = await trickle;
  t.true(cut.status === 408 || cut.status === 0, String(cut.status));
  const s = await state(srv, slow.json.uuid);
  t.is(s.state, 'Failed');
  t.regex(s.reason as string, /the upload is too slow: \d+ bytes in the last 300 ms \(at least 1000 bytes\/s are needed\)/);
});

test('transfer slots per address: a second upload from one address waits, another address gets one', async (t) => {
  const srv = await withServer(t, { maxTransfers: 4, maxTransfersPerPeer: 1, minRateBytesPerSec: 0 });
  const a = randomBytes(2032);
  const pa = await propose(srv, a);
  const first = put(pa.json.uploadUrl as string, [a.subarray(0, 1000), a.subarray(1000)], { gapMs: 800 });
  await until(async () => (await state(srv, pa.json.uuid)).state === 'Transferring', 5000, 'the first upload');
  const b = randomBytes(2032);
  const pb = await propose(srv, b);
  const busy = await put(pb.json.uploadUrl as string, [b]);
  t.is(busy.status, 503);
  t.regex(busy.json.error as string, /1 transfers from 127\.0\.0\.1 are running \(the limit per address is 1\)/);
  t.is((await state(srv, pb.json.uuid)).state, 'Accepted');
  t.is((await put(pb.json.uploadUrl as string, [b], { localAddress: '127.0.0.2' })).status, 200);
  t.is((await first).status, 200);
});

test('deals waiting for data are capped per address, per client and in all; unfed ones expire with the reason', async (t) => {
  // The deals' clock moves only when the test says: the caps are checked before any deal can expire, however slow the host.
  let now = Date.now();
  const srv = await withServer(t, { maxPendingPerPeer: 2, maxPendingPerClient: 3, maxPendingDeals: 5, proposalTtlMs: 600, clock: () => now });
  const d = () => randomBytes(508);
  const first = await propose(srv, d());
  t.is(first.status, 201);
  t.is((await propose(srv, d())).status, 201);
  const third = await propose(srv, d());
  t.is(third.status, 429);
  t.regex(third.json.error as string, /2 deals proposed from 127\.0\.0\.1 are waiting for their data or failed with their data kept \(the limit is 2\)/);
  // One client wallet from several addresses: 3 more, 5 waiting in all.
  const key = newClientKey();
  for (const from of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) t.is((await propose(srv, d(), from, { key })).status, 201, from);
  const overAll = await propose(srv, d(), '127.0.0.5');
  t.is(overAll.status, 503, 'five are waiting: the global cap');
  t.regex(overAll.json.error as string, /5 deals are waiting for their data or failed with their data kept \(the limit is 5\)/);
  // All five expire: recorded as Expired with the reason, their slots freed.
  const all = (await adminGet(`${srv.url}/deals`)).json.deals as Array<{ uuid: string; state: string; reason?: string }>;
  t.is(all.length, 5);
  now += 599;
  await new Promise((r) => setTimeout(r, 700)); // two sweeps (every 300 ms)
  t.true(
    ((await adminGet(`${srv.url}/deals`)).json.deals as Array<{ state: string }>).every((x) => x.state === 'Accepted'),
    'none expires before its TTL',
  );
  now += 1;
  await until(async () => ((await adminGet(`${srv.url}/deals`)).json.deals as Array<{ state: string }>).every((x) => x.state === 'Expired'), 5000, 'the deals to expire');
  for (const x of (await adminGet(`${srv.url}/deals`)).json.deals as Array<{ state: string; reason: string; history: Array<{ state: string }> }>) {
    t.regex(x.reason, /no data was uploaded within 1 s of the proposal; the deal expired/);
    t.deepEqual(
      x.history.map((h) => h.state),
      ['Accepted', 'Expired'],
    );
  }
  const late = await put(first.json.uploadUrl as string, [d()]);
  t.is(late.status, 409);
  // Room again; a client wallet over its own cap is refused with 429.
  t.is((await propose(srv, d(), '127.0.0.2', { key })).status, 201);
  t.is((await propose(srv, d(), '127.0.0.3', { key })).status, 201);
  t.is((await propose(srv, d(), '127.0.0.4', { key })).status, 201);
  const perClient = await propose(srv, d(), '127.0.0.5', { key });
  t.is(perClient.status, 429);
  t.regex(perClient.json.error as string, /3 deals of client t1\w+ are waiting for their data or failed with their data kept \(the limit is 3\)/);
});

test('an expired deal refuses its upload: 409 with the reason', async (t) => {
  const srv = await withServer(t, { proposalTtlMs: 300 });
  const data = randomBytes(508);
  const p = await propose(srv, data);
  await until(async () => (await state(srv, p.json.uuid)).state === 'Expired', 5000, 'expiry');
  const r = await put(p.json.uploadUrl as string, [data]);
  t.is(r.status, 409);
  t.regex(r.json.error as string, /is Expired: no data was uploaded/);
  // The same proposal may be made again.
  t.is(
    (await postJson(`${srv.url}/deals/proposal`, { deal: { Proposal: (await state(srv, p.json.uuid)).proposal, ClientSignature: (await state(srv, p.json.uuid)).signature }, transferSize: 508 }))
      .status,
    201,
  );
});

test('slow and oversized request heads and bodies are cut; connections per address are capped; others are served', async (t) => {
  const srv = await withServer(t, { headersTimeoutMs: 500, requestTimeoutMs: 500, maxConnectionsPerPeer: 8 });
  const port = Number(new URL(srv.url).port);
  // 30 connections from one address trickling a request head a byte every 50 ms.
  const head = Buffer.from('GET /deals HTTP/1.1\r\nHost: x\r\nX-Pad: ' + 'a'.repeat(200));
  const closedAt: number[] = [];
  const t0 = Date.now();
  const socks: Socket[] = [];
  for (let i = 0; i < 30; i++) {
    const s = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.9' });
    s.on('error', () => {});
    s.on('close', () => closedAt.push(Date.now() - t0));
    let k = 0;
    const tick = setInterval(() => (!s.destroyed && k < head.length ? s.write(head.subarray(k, ++k)) : undefined), 50);
    s.on('close', () => clearInterval(tick));
    socks.push(s);
  }
  // Over the per-address cap of 8, each new connection closed the oldest idle one: 22 at once,
  // well before the head deadline.
  await until(() => closedAt.length >= 22, 2000, 'the connections over the per-address cap to be closed');
  t.true(closedAt.length < 30, 'the 8 within the cap are still open');
  // Meanwhile another address is served, and so is a real client on the tricklers' address.
  t.is((await raw(`${srv.url}/deals`, { headers: { Authorization: `Bearer ${TOKEN}` }, localAddress: '127.0.0.2' })).status, 200);
  t.is((await raw(`${srv.url}/deals`, { headers: { Authorization: `Bearer ${TOKEN}` }, localAddress: '127.0.0.9' })).status, 200);
  await until(() => closedAt.length === 30, 5000, 'the trickling heads to be cut');
  t.true(Math.max(...closedAt) < 2500, `all cut by ${Math.max(...closedAt)} ms (head deadline 500 ms, checked every second)`);
  for (const s of socks) s.destroy();
  // A proposal body trickled in: 408 at the request deadline.
  const body = Buffer.from(JSON.stringify({ deal: await signedDeal(randomBytes(508)), transferSize: 508 }));
  const b0 = Date.now();
  const slowBody = await raw(`${srv.url}/deals/proposal`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Content-Length': String(body.length) },
    chunks: Array.from({ length: 40 }, (_, i) => body.subarray(i, i + 1)),
    gapMs: 50,
  });
  t.true(slowBody.status === 408 || slowBody.status === 0, String(slowBody.status));
  t.true(Date.now() - b0 < 1500);
  // A refused upload whose body keeps trickling: answered, then the connection is closed (not read to its end).
  const refused = await new Promise<{ status: string; closedAfter: number }>((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    let got = '';
    const r0 = Date.now();
    s.on('error', () => {});
    s.on('data', (c: Buffer) => (got += c.toString()));
    const tick = setInterval(() => !s.destroyed && s.write('x'), 50);
    const cap = setTimeout(() => s.destroy(), 3000); // the test stops by itself: "not closed" reads as 3000+ ms
    s.on('close', () => {
      clearInterval(tick);
      clearTimeout(cap);
      resolve({ status: got.slice(0, 12), closedAfter: Date.now() - r0 });
    });
    s.write('PUT /deals/nope/data?token=x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n');
  });
  t.is(refused.status, 'HTTP/1.1 404');
  t.true(refused.closedAfter < 1500, `closed after ${refused.closedAfter} ms`);
  // A head over 8 KiB: 431.
  const big = await raw(`${srv.url}/deals`, { headers: { 'X-Big': 'b'.repeat(10_000) } });
  t.is(big.status, 431);
  t.is((await adminGet(`${srv.url}/deals`)).status, 200);
});
