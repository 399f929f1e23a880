// The deal server over real loopback HTTP with the real native CommP: the happy path to the
// packing queue and retrieval (ranges too), packing two small deals into one sector, and every
// kind of bad request rejected with its reason and nothing staged left behind.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { newClientKey, sign } from '../../src/deals/keys.js';
import { proposalCbor } from '../../src/deals/proposal.js';
import { DealServer, type DealServerOptions } from '../../src/deals/server.js';
import { RpcError } from '../../src/chain/client.js';
import type { ProposalMarket } from '../../src/deals/escrow.js';
import { AUTH, MINER, adminGet, commPOf, files, postJson, raw, signedDeal, tmp, until } from './helpers.js';

async function withServer(t: { teardown(f: () => unknown): void }, opts: Partial<DealServerOptions> = {}): Promise<{ srv: DealServer; dir: string }> {
  const dir = tmp();
  const srv = await DealServer.start({ dir, minerId: MINER, auth: AUTH, ...opts });
  t.teardown(async () => {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { srv, dir };
}

async function propose(srv: DealServer, data: Buffer, extra: Parameters<typeof signedDeal>[1] = {}, transferSize = data.length) {
  const deal = await signedDeal(data, extra);
  return postJson(`${srv.url}/deals/proposal`, { deal, transferSize });
}

const put = (url: string, chunks: Buffer[], headers: Record<string, string> = {}, more: { gapMs?: number; abort?: boolean } = {}) =>
  raw(url, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', ...headers }, chunks, ...more });

function nothingStaged(t: { deepEqual(a: unknown, b: unknown, m?: string): void }, dir: string): void {
  t.deepEqual(files(join(dir, 'staging')), [], 'staging is empty');
  t.deepEqual(files(join(dir, 'pieces')), [], 'no piece kept');
}

test('a 2032-byte deal: accepted, uploaded, verified, offered for packing, retrievable (whole, ranges, HEAD)', async (t) => {
  const { srv, dir } = await withServer(t);
  const data = randomBytes(2032);
  const p = await propose(srv, data);
  t.is(p.status, 201, JSON.stringify(p.json));
  const uuid = p.json.uuid as string;
  t.is(p.json.state, 'Accepted');
  const u = await put(p.json.uploadUrl as string, [data.subarray(0, 1000), data.subarray(1000)], { 'Content-Length': '2032' });
  t.is(u.status, 200, JSON.stringify(u.json));
  t.is(u.json.state, 'Publishing');
  const pieceCid = u.json.pieceCid as string;

  // Admin API: token needed; the record shows the path it took and no upload secret.
  t.is((await raw(`${srv.url}/deals/${uuid}`)).status, 401);
  t.is((await adminGet(`${srv.url}/deals/${uuid}`, 'wrong-token-wrong-token')).status, 401);
  const st = await adminGet(`${srv.url}/deals/${uuid}`);
  t.is(st.status, 200);
  t.deepEqual(
    (st.json.history as { state: string }[]).map((h) => h.state),
    ['Accepted', 'Transferring', 'Verifying', 'Publishing'],
  );
  t.is(st.json.uploadToken, undefined);
  const list = await adminGet(`${srv.url}/deals`);
  t.is((list.json.deals as unknown[]).length, 1);

  // The upload URL is single-use.
  t.is((await put(p.json.uploadUrl as string, [data], { 'Content-Length': '2032' })).status, 409);
  // The same proposal again is a conflict, not a second deal.
  const again = await postJson(`${srv.url}/deals/proposal`, {
    deal: (st.json as { proposal: unknown; signature: unknown }) && { Proposal: st.json.proposal, ClientSignature: st.json.signature },
    transferSize: 2032,
  });
  t.is(again.status, 409);

  // Hand-off: the piece is what the seal pipeline gets for a 2KiB sector.
  const plan = srv.pipeline.nextPieces(2048)!;
  t.deepEqual(plan.dealUuids, [uuid]);
  t.deepEqual(plan.fillers, []);
  t.is(plan.pieces[0].pieceCid, pieceCid);
  t.deepEqual(readFileSync(plan.pieces[0].path), data);

  // Retrieval.
  const whole = await raw(`${srv.url}/piece/${pieceCid}`);
  t.is(whole.status, 200);
  t.is(whole.headers['content-length'], '2032');
  t.is(whole.headers['accept-ranges'], 'bytes');
  t.deepEqual(whole.body, data);
  const part = await raw(`${srv.url}/piece/${pieceCid}`, { headers: { Range: 'bytes=100-199' } });
  t.is(part.status, 206);
  t.is(part.headers['content-range'], 'bytes 100-199/2032');
  t.is(part.headers['content-length'], '100');
  t.deepEqual(part.body, data.subarray(100, 200));
  const tail = await raw(`${srv.url}/piece/${pieceCid}`, { headers: { Range: 'bytes=-32' } });
  t.deepEqual(tail.body, data.subarray(2000));
  const bad = await raw(`${srv.url}/piece/${pieceCid}`, { headers: { Range: 'bytes=5000-' } });
  t.is(bad.status, 416);
  t.is(bad.headers['content-range'], 'bytes */2032');
  const head = await raw(`${srv.url}/piece/${pieceCid}`, { method: 'HEAD' });
  t.is(head.status, 200);
  t.is(head.headers['content-length'], '2032');
  t.is(head.body.length, 0);
  t.is((await raw(`${srv.url}/piece/baga6ea4seaqao7s73y24kcutaosvacpdjgfe5pw76ooefnyqw4ynr3d2y6x2mpq`)).status, 404);
  t.is((await raw(`${srv.url}/piece/not-a-cid`)).status, 400);

  // Sealing states; retrieval keeps working from the unsealed copy.
  await srv.pipeline.markSealing([uuid], { sectorNumber: 7 });
  t.is(srv.pipeline.nextPieces(2048), null);
  await t.throwsAsync(srv.pipeline.markSealing([uuid], { sectorNumber: 8 }), { message: /is Sealing; it cannot become Sealing/ });
  await srv.pipeline.markActive([uuid], { sectorNumber: 7 });
  t.is((await adminGet(`${srv.url}/deals/${uuid}`)).json.state, 'Active');
  t.deepEqual((await raw(`${srv.url}/piece/${pieceCid}`)).body, data);
  t.deepEqual(files(join(dir, 'staging')), []);
});

test('two 1016-byte deals share one 2KiB sector; a failed sector can requeue them', async (t) => {
  const { srv } = await withServer(t);
  const uuids: string[] = [];
  for (let i = 0; i < 2; i++) {
    const data = randomBytes(1016);
    const p = await propose(srv, data);
    t.is(p.status, 201);
    const u = await put(p.json.uploadUrl as string, [data], { 'Content-Length': '1016' });
    t.is(u.status, 200, JSON.stringify(u.json));
    uuids.push(p.json.uuid as string);
  }
  const plan = srv.pipeline.nextPieces(2048)!;
  t.deepEqual(plan.dealUuids, uuids);
  t.deepEqual(
    plan.pieces.map((p) => p.size),
    [1024, 1024],
  );
  t.deepEqual(plan.fillers, []);
  await srv.pipeline.markSealing(plan.dealUuids, { sectorNumber: 3 });
  await srv.pipeline.markFailed(plan.dealUuids, 'PreCommit1 failed', { requeue: true });
  t.deepEqual(srv.pipeline.nextPieces(2048)!.dealUuids, uuids);
  // One smaller deal of less data: zero fill to its piece, a filler completes the sector.
  await srv.pipeline.markSealing(uuids, { sectorNumber: 4 });
  const small = randomBytes(300);
  const p = await propose(srv, small);
  t.is((await put(p.json.uploadUrl as string, [small], { 'Content-Length': '300' })).status, 200);
  const plan2 = srv.pipeline.nextPieces(2048)!;
  t.deepEqual(
    plan2.pieces.map((x) => x.size),
    [512],
  );
  t.deepEqual(
    plan2.fillers.map((f) => f.size),
    [512, 1024],
  );
  const got = await raw(`${srv.url}/piece/${plan2.pieces[0].pieceCid}`);
  t.is(got.body.length, 508); // the unpadded piece: the data, then zero fill
  t.deepEqual(got.body.subarray(0, 300), small);
  t.true(got.body.subarray(300).every((b) => b === 0));
});

test('bad proposals are refused with their reason and nothing is stored', async (t) => {
  const { srv, dir } = await withServer(t);
  const data = randomBytes(2032);
  const big = await propose(srv, randomBytes(4064));
  t.is(big.status, 413);
  t.regex(big.json.error as string, /larger than this miner's sector size 2048/);
  const other = await propose(srv, data, { provider: 't01001' });
  t.is(other.status, 404);
  t.regex(other.json.error as string, /takes deals for miner t01000, not t01001/);
  const deal = await signedDeal(data);
  deal.ClientSignature = sign(newClientKey(), proposalCbor(deal.Proposal));
  const forged = await postJson(`${srv.url}/deals/proposal`, { deal, transferSize: 2032 });
  t.is(forged.status, 401);
  t.regex(forged.json.error as string, /bad client signature: the signature was not made by t1/);
  const bls = await signedDeal(data, { key: newClientKey('bls') });
  bls.Proposal.Label = 'tampered';
  const blsBad = await postJson(`${srv.url}/deals/proposal`, { deal: bls, transferSize: 2032 });
  t.is(blsBad.status, 401);
  const notJson = await raw(`${srv.url}/deals/proposal`, { method: 'POST', chunks: [Buffer.from('{nope')] });
  t.is(notJson.status, 400);
  t.deepEqual((await adminGet(`${srv.url}/deals`)).json.deals, []);
  nothingStaged(t, dir);
  // A BLS client is fine when honest.
  const okBls = await postJson(`${srv.url}/deals/proposal`, { deal: await signedDeal(data, { key: newClientKey('bls') }), transferSize: 2032 });
  t.is(okBls.status, 201);
});

test('bad uploads fail the deal with the reason and leave nothing staged', async (t) => {
  const { srv, dir } = await withServer(t, { stallMs: 400 });
  const status = async (uuid: string) => (await adminGet(`${srv.url}/deals/${uuid}`)).json;
  const data = randomBytes(2032);

  // Wrong CommP: the data is not what the proposal names.
  const other = await commPOf(randomBytes(2032));
  const p2 = await propose(srv, data, { commP: other.commP });
  const u2 = await put(p2.json.uploadUrl as string, [data], { 'Content-Length': '2032' });
  t.is(u2.status, 400);
  t.regex(u2.json.error as string, /piece CID mismatch: the proposal says baga.*, the uploaded data gives baga/);
  t.is((await status(p2.json.uuid as string)).state, 'Failed');
  nothingStaged(t, dir);

  // Body larger than declared: by Content-Length (refused before reading) and mid-stream (chunked).
  const p3 = await propose(srv, data);
  const u3 = await put(p3.json.uploadUrl as string, [data, Buffer.alloc(10)], { 'Content-Length': '2042' });
  t.true(u3.status === 413 || u3.status === 0);
  const s3 = await status(p3.json.uuid as string);
  t.is(s3.state, 'Failed');
  t.regex(s3.reason as string, /larger than the declared transferSize 2032/);
  const p4 = await propose(srv, data);
  const u4 = await put(p4.json.uploadUrl as string, [data.subarray(0, 1500), randomBytes(1500)], { 'Transfer-Encoding': 'chunked' }, { gapMs: 50 });
  t.true(u4.status === 413 || u4.status === 0, String(u4.status));
  const s4 = await status(p4.json.uuid as string);
  t.is(s4.state, 'Failed');
  t.regex(s4.reason as string, /larger than the declared transferSize/);
  nothingStaged(t, dir);

  // Truncated: the client sends half and hangs up; and a chunked body that ends short.
  const p5 = await propose(srv, data);
  await put(p5.json.uploadUrl as string, [data.subarray(0, 1000)], { 'Content-Length': '2032' }, { gapMs: 100, abort: true });
  await until(async () => (await status(p5.json.uuid as string)).state === 'Failed', 5000, 'truncated deal to fail');
  t.regex((await status(p5.json.uuid as string)).reason as string, /cut off after 1000 of 2032 bytes/);
  const p6 = await propose(srv, data);
  const u6 = await put(p6.json.uploadUrl as string, [data.subarray(0, 1000)], { 'Transfer-Encoding': 'chunked' });
  t.is(u6.status, 400);
  t.regex(u6.json.error as string, /truncated: 1000 of 2032 bytes/);
  // Stalled: no data for longer than stallMs.
  const p7 = await propose(srv, data);
  const u7 = await put(p7.json.uploadUrl as string, [data.subarray(0, 10), data.subarray(10)], { 'Content-Length': '2032' }, { gapMs: 1200 });
  t.true(u7.status === 408 || u7.status === 0);
  t.regex((await status(p7.json.uuid as string)).reason as string, /stalled: no data for 400 ms after 10 of 2032 bytes/);
  nothingStaged(t, dir);

  // Wrong upload token, unknown deal.
  const p8 = await propose(srv, data);
  const badTok = (p8.json.uploadUrl as string).replace(/token=.*/, 'token=00');
  t.is((await put(badTok, [data], { 'Content-Length': '2032' })).status, 403);
  t.is((await put(`${srv.url}/deals/nope/data?token=x`, [data], { 'Content-Length': '2032' })).status, 404);
  t.is((await status(p8.json.uuid as string)).state, 'Accepted');
  // A failed proposal may be proposed again (a new deal).
  const again = await postJson(`${srv.url}/deals/proposal`, {
    deal: { Proposal: (await status(p6.json.uuid as string)).proposal, ClientSignature: (await status(p6.json.uuid as string)).signature },
    transferSize: 2032,
  });
  t.is(again.status, 201);
  t.not(again.json.uuid, p6.json.uuid);
});

test('uploads beyond the transfer limit get 503 with Retry-After and the deal stays Accepted', async (t) => {
  const { srv } = await withServer(t, { maxTransfers: 1 });
  const a = randomBytes(2032);
  const b = randomBytes(2032);
  const pa = await propose(srv, a);
  const pb = await propose(srv, b);
  // The first upload trickles in while the second arrives.
  const slow = put(pa.json.uploadUrl as string, [a.subarray(0, 1000), a.subarray(1000)], { 'Content-Length': '2032' }, { gapMs: 600 });
  await until(async () => (await adminGet(`${srv.url}/deals/${pa.json.uuid}`)).json.state === 'Transferring', 5000, 'the first upload to start');
  const busy = await put(pb.json.uploadUrl as string, [b], { 'Content-Length': '2032' });
  t.is(busy.status, 503);
  t.is(busy.headers['retry-after'], '5');
  t.is((await adminGet(`${srv.url}/deals/${pb.json.uuid}`)).json.state, 'Accepted');
  t.is((await slow).status, 200);
  t.is((await put(pb.json.uploadUrl as string, [b], { 'Content-Length': '2032' })).status, 200);
});

test("with a chain, a proposal is asked of the market: start, provider collateral bounds, the client's escrow less its deals not yet published", async (t) => {
  const rich = newClientKey();
  const poor = newClientKey();
  const unknown = newClientKey();
  let down = false;
  const market: ProposalMarket = {
    head: async () => {
      if (down) throw new Error('connect ECONNREFUSED');
      return 50;
    },
    collateralBounds: async () => ({ min: 1000n, max: 10n ** 20n }),
    balance: async (a) => {
      if (a === unknown.address) throw new RpcError(1, `resolution lookup failed (${a}): actor not found`, 'Filecoin.StateMarketBalance');
      return a === rich.address ? { escrow: 9_000_000n, locked: 1_000_000n } : { escrow: 100n, locked: 0n };
    },
  };
  const { srv, dir } = await withServer(t, { market });
  const data = randomBytes(1000);
  const ok = { start: 200, price: 10n, collateral: 1000n }; // client cost 10 × 518400 = 5184000
  t.is((await propose(srv, data, { ...ok, key: rich })).status, 201);
  const refusals: [Parameters<typeof signedDeal>[1], number, RegExp][] = [
    [{ ...ok, key: rich, start: 50 }, 400, /start epoch 50 is not after the chain head 50/],
    [{ ...ok, key: rich, collateral: 999n }, 400, /ProviderCollateral 999 is outside the market's bounds for a 1024-byte piece: 1000\.\./],
    [{ ...ok, key: rich, collateral: 2001n }, 400, /ProviderCollateral 2001 is more than this provider puts up for a 1024-byte piece: at most 2 × the market's minimum, 2000 attoFIL/],
    // 8000000 free, 5184000 held for the first deal: this one's 5184000 does not fit.
    [
      { ...ok, key: rich },
      402,
      /available escrow is 0\.000000000008 FIL, of which 0\.000000000005184 FIL is held for its deals here not yet published; this deal needs 0\.000000000005184 FIL: add 0\.000000000002368 FIL/,
    ],
    [{ ...ok, key: poor }, 402, /available escrow is 0\.0000000000000001 FIL; this deal needs/],
    [{ ...ok, key: unknown }, 402, /the market has no escrow for client t1\w+: resolution lookup failed/],
  ];
  for (const [extra, status, why] of refusals) {
    const r = await propose(srv, data, extra);
    t.is(r.status, status, JSON.stringify(r.json));
    t.regex(r.json.error as string, why);
  }
  down = true;
  const r = await propose(srv, data, { ...ok, key: poor });
  t.is(r.status, 503);
  t.regex(r.json.error as string, /could not check the proposal with its chain node/);
  t.is(srv.store.list().length, 1, 'only the first proposal was recorded');
  t.deepEqual(files(join(dir, 'staging')), []);
});

test('proposals checked by the market at the same time are taken one at a time: the escrow and the duplicate check see each other', async (t) => {
  const client = newClientKey();
  const market: ProposalMarket = {
    head: async () => {
      await new Promise((r) => setTimeout(r, 30)); // a node that takes a while
      return 50;
    },
    collateralBounds: async () => ({ min: 1000n, max: 10n ** 20n }),
    balance: async () => ({ escrow: 8_000_000n, locked: 0n }), // one deal's 5184000, not two
  };
  const { srv } = await withServer(t, { market });
  const ok = { start: 200, price: 10n, collateral: 1000n, key: client };
  const [a, b] = await Promise.all([propose(srv, randomBytes(1000), ok), propose(srv, randomBytes(1000), ok)]);
  t.deepEqual([a.status, b.status].sort(), [201, 402], "the second sees the first one's cost held");
  const same = await signedDeal(randomBytes(1000), { ...ok, key: newClientKey() });
  market.balance = async () => ({ escrow: 10n ** 18n, locked: 0n });
  const twice = await Promise.all([postJson(`${srv.url}/deals/proposal`, { deal: same, transferSize: 1000 }), postJson(`${srv.url}/deals/proposal`, { deal: same, transferSize: 1000 })]);
  t.deepEqual(twice.map((r) => r.status).sort(), [201, 409], 'one proposal, one deal');
  t.is(srv.store.list().length, 2);
});

test('a failed deal whose data is kept (dataKept) keeps its piece on disk, also across a restart, but does not serve it', async (t) => {
  const dir = tmp();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let srv = await DealServer.start({ dir, minerId: MINER, auth: AUTH });
  const data = randomBytes(2032);
  const p = await propose(srv, data);
  const u = await put(p.json.uploadUrl as string, [data], { 'Content-Length': '2032' });
  t.is(u.json.state, 'Publishing');
  const url = (s: DealServer) => `${s.url}/piece/${u.json.pieceCid as string}`;
  t.is((await raw(url(srv))).status, 200);
  await srv.store.transition([p.json.uuid as string], 'Failed', { dataKept: true }, 'start epoch passed before publication');
  t.is((await raw(url(srv))).status, 404, 'not served publicly');
  await srv.close();
  srv = await DealServer.start({ dir, minerId: MINER, auth: AUTH });
  t.teardown(() => srv.close());
  t.is(files(join(dir, 'pieces')).length, 1, 'the restart sweep keeps it');
  t.is((await raw(url(srv))).status, 404);
});

test("a failed deal's kept piece counts in the intake caps until its retention runs out; then it is deleted and the record says so", async (t) => {
  let now = Date.now(); // the deals' clock: it moves when the test says
  const { srv, dir } = await withServer(t, { maxPendingPerPeer: 1, keptPieceRetentionMs: 1500, clock: () => now });
  const data = randomBytes(2032);
  const p = await propose(srv, data);
  const uuid = p.json.uuid as string;
  t.is((await put(p.json.uploadUrl as string, [data], { 'Content-Length': '2032' })).status, 200);
  // Published too late: failed, its data kept (as the deal flow does).
  await srv.store.transition([uuid], 'Failed', { dataKept: true }, 'start epoch passed before publication');
  const refused = await propose(srv, randomBytes(1000));
  t.is(refused.status, 429, 'the kept piece holds this address’s one place');
  t.regex(refused.json.error as string, /1 deals proposed from 127\.0\.0\.1 are waiting for their data or failed with their data kept \(the limit is 1\)/);
  t.is(files(join(dir, 'pieces')).length, 1);
  now += 1499;
  await new Promise((r) => setTimeout(r, 1600)); // two sweeps (every 750 ms)
  t.is(srv.store.get(uuid)!.dataRemoved, undefined, 'kept until its retention runs out');
  now += 1;
  await until(async () => srv.store.get(uuid)!.dataRemoved !== undefined, 10_000, 'the kept piece to be deleted');
  const d = srv.store.get(uuid)!;
  t.false(d.dataKept);
  t.regex(d.dataRemoved!.reason, /the kept piece was deleted 2 s after the deal failed \(its retention/);
  t.deepEqual(files(join(dir, 'pieces')), [], 'the file is gone');
  t.is((await propose(srv, randomBytes(1000))).status, 201, 'its place is free again');
});
