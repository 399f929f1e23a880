// The devnet API over real HTTP and WebSocket: typed client calls, ChainNotify, and bad
// requests answered with JSON-RPC errors while the server keeps serving.
import test from 'ava';
import WebSocket from 'ws';
import { RpcError, parseApiInfo } from '../../src/chain/client.js';
import { encodePreCommitBatch2, encodeProveCommitOne } from '../../src/chain/params.js';
import { addressCbor } from '../../src/chain/address.js';
import type { HeadChange } from '../../src/chain/api-types.js';
import { DomainSeparationTag, ExitCode, MinerMethod } from '../../src/chain/builtin-actors.js';
import { b64 } from '../../src/chain/encoding.js';
import { commRToCid } from '../../src/proofs/cid.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChainClient } from '../../src/chain/client.js';
import { Devnet } from '../../src/devnet/node.js';
import { DevnetRpcServer } from '../../src/devnet/rpc.js';
import { abortedBody, flood, postRequest, raw, slowloris, until, upgradeRequest } from '../net/_hostile.js';
import { TEST_POLICY, startDevnet } from './_harness.js';

async function post(url: string, body: string, headers: Record<string, string> = {}) {
  const r = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: r.status, body: (await r.json()) as { error?: { code: number; message: string }; result?: unknown } };
}

test('parseApiInfo reads Lotus API info, several for failover', (t) => {
  const eps = parseApiInfo('tok1:/ip4/127.0.0.1/tcp/1234/http,tok2:/ip4/127.0.0.1/tcp/2345/ws');
  t.deepEqual(eps[0], { token: 'tok1', http: 'http://127.0.0.1:1234/rpc/v1', ws: 'ws://127.0.0.1:1234/rpc/v1' });
  t.is(eps[1].http, 'http://127.0.0.1:2345/rpc/v1');
  t.is(parseApiInfo('/ip4/127.0.0.1/tcp/1/http')[0].token, '');
  t.is(parseApiInfo('t:http://127.0.0.1:99/rpc/v1')[0].ws, 'ws://127.0.0.1:99/rpc/v1');
  t.throws(() => parseApiInfo('tok:nonsense'));
});

test('client reads the chain and miner state over HTTP', async (t) => {
  const h = await startDevnet({ miners: 2 });
  t.teardown(() => h.close());
  await h.devnet.advanceTo(3);
  const c = h.client;
  t.is((await c.version()).BlockDelay, 1);
  const head = await c.chainHead();
  t.is(head.Height, 3);
  t.deepEqual((await c.chainGetTipSetByHeight(2, head.Cids)).Cids, h.devnet.tipsetAt(2).Cids);
  const info = await c.stateMinerInfo('t01001');
  t.is(info.SectorSize, 2048);
  t.is(info.WindowPoStPartitionSectors, 2);
  t.is(info.Worker, 't0103');
  t.regex(await c.stateAccountKey(info.Worker), /^t3/);
  const dl = await c.stateMinerProvingDeadline('t01000');
  t.is(dl.WPoStChallengeWindow, 4);
  t.true(dl.CurrentEpoch === 3 && dl.Close > 3);
  t.is((await c.stateMinerDeadlines('t01000')).length, 48);
  t.deepEqual(await c.stateMinerFaults('t01000'), []);
  t.is((await c.stateMinerPower('t01000')).MinerPower.RawBytePower, '0');
  const r1 = await c.stateGetRandomnessFromBeacon(DomainSeparationTag.WindowedPoStChallengeSeed, 2, addressCbor('t01000'));
  t.is(r1.length, 32);
  t.deepEqual(r1, await c.stateGetRandomnessFromBeacon(DomainSeparationTag.WindowedPoStChallengeSeed, 2, addressCbor('t01000')));
  await t.throwsAsync(c.stateGetRandomnessFromTickets(DomainSeparationTag.SealRandomness, 99, Buffer.alloc(0)), { instanceOf: RpcError, message: /future/ });
  await t.throwsAsync(c.stateMinerInfo('t09999'), { message: /actor not found/ });
  t.is(await c.minerGetBaseInfo('t01000', 4, head.Cids), null); // no sectors yet, as Lotus
});

test('messages: pre-commit, allocated numbers, second pre-commit rejected, receipts', async (t) => {
  const h = await startDevnet();
  t.teardown(() => h.close());
  await h.devnet.advanceTo(2);
  const c = h.client;
  const worker = (await c.stateMinerInfo('t01000')).Worker;
  const pre = (n: number) => ({ sealProof: 5, sectorNumber: n, sealedCid: { '/': commRToCid(Buffer.alloc(32, n)) }, sealRandEpoch: 1, dealIds: [], expiration: 100000, unsealedCid: null });
  const sm = await c.mpoolPushMessage({ To: 't01000', From: worker, Method: MinerMethod.PreCommitSectorBatch2, Params: b64(encodePreCommitBatch2([pre(7), pre(9)])) });
  t.is(sm.Message.Nonce, 0);
  const waiting = c.stateWaitMsg(sm.CID!);
  await h.devnet.advance();
  const lookup = await waiting;
  t.is(lookup.Receipt.ExitCode, ExitCode.Ok);
  t.is(lookup.Height, 3);
  t.true(await c.stateMinerSectorAllocated('t01000', 7));
  t.false(await c.stateMinerSectorAllocated('t01000', 8));
  t.deepEqual(await c.stateMinerAllocated('t01000'), [7, 9]);
  t.is((await c.stateSectorPreCommitInfo('t01000', 9))!.PreCommitEpoch, 3);
  t.is(await c.stateSectorPreCommitInfo('t01000', 8), null);
  const again = await c.mpoolPushMessage({ To: 't01000', From: worker, Method: MinerMethod.PreCommitSectorBatch2, Params: b64(encodePreCommitBatch2([pre(9)])) });
  t.is(again.Message.Nonce, 1);
  const garbage = await c.mpoolPushMessage({ To: 't01000', From: worker, Method: MinerMethod.PreCommitSectorBatch2, Params: b64(Buffer.from([0xff, 0x00])) });
  const unknown = await c.mpoolPushMessage({ To: 't01000', From: worker, Method: 99 });
  const tooEarly = await c.mpoolPushMessage({ To: 't01000', From: worker, Method: MinerMethod.ProveCommitSectors3, Params: b64(encodeProveCommitOne(7, Buffer.alloc(192))) });
  // ProveCommitSector (7) is gone from the actors (FIP-0084): "invalid method", exit code 22.
  const removed = await c.mpoolPushMessage({ To: 't01000', From: worker, Method: MinerMethod.ProveCommitSector, Params: b64(Buffer.from([0x82, 0x07, 0x40])) });
  await h.devnet.advance();
  const r = await c.stateWaitMsg(again.CID!);
  t.is(r.Receipt.ExitCode, ExitCode.ErrIllegalArgument);
  t.regex(JSON.stringify(r.ReturnDec), /already allocated/);
  t.is((await c.stateWaitMsg(garbage.CID!)).Receipt.ExitCode, ExitCode.ErrSerialization);
  t.is((await c.stateWaitMsg(unknown.CID!)).Receipt.ExitCode, ExitCode.ErrUnhandledMessage);
  t.is((await c.stateWaitMsg(tooEarly.CID!)).Receipt.ExitCode, ExitCode.ErrForbidden);
  const gone = await c.stateWaitMsg(removed.CID!);
  t.is(gone.Receipt.ExitCode, ExitCode.ErrUnhandledMessage);
  t.regex(JSON.stringify(gone.ReturnDec), /invalid method: 7/);
  // the wallet only signs for keys it has
  await t.throwsAsync(c.mpoolPushMessage({ To: 't01000', From: 't0999', Method: 6 }), { message: /key not found/ });
  const sig = await c.walletSign(worker, Buffer.from('abc'));
  t.is(sig.Type, 2);
});

test('ChainNotify over WebSocket: current, then every applied head', async (t) => {
  const h = await startDevnet();
  t.teardown(() => h.close());
  const seen: HeadChange[] = [];
  const sub = h.client.chainNotify((cs) => {
    seen.push(...cs);
  });
  t.teardown(() => sub.close());
  await new Promise<void>((r) => sub.once('endpoint', () => r()));
  await new Promise((r) => setTimeout(r, 100));
  for (let i = 0; i < 5; i++) await h.devnet.advance();
  await new Promise((r) => setTimeout(r, 200));
  t.is(seen[0].Type, 'current');
  t.deepEqual(
    seen.map((c) => c.Val.Height),
    [0, 1, 2, 3, 4, 5],
  );
  t.true(seen.slice(1).every((c) => c.Type === 'apply'));
});

test('malformed requests get JSON-RPC errors and the server keeps serving', async (t) => {
  const h = await startDevnet();
  t.teardown(() => h.close());
  const ep = h.client.endpoints[0];
  const auth = { authorization: `Bearer ${ep.token}` };
  const rq = (method: string, params: unknown) => JSON.stringify({ jsonrpc: '2.0', id: 5, method, params });
  let r = await post(ep.http, '{not json', auth);
  t.is(r.body.error!.code, -32700);
  r = await post(ep.http, '[1,2]', auth);
  t.is(r.body.error!.code, -32600);
  r = await post(ep.http, rq('Filecoin.NoSuchMethod', []), auth);
  t.is(r.body.error!.code, -32601);
  r = await post(ep.http, rq('Filecoin.ChainGetTipSetByHeight', ['ten', null]), auth);
  t.is(r.body.error!.code, -32602);
  r = await post(ep.http, rq('Filecoin.StateMinerInfo', ['not-an-address', null]), auth);
  t.is(r.body.error!.code, -32602);
  r = await post(ep.http, rq('Filecoin.StateMinerInfo', { a: 1 }), auth);
  t.is(r.body.error!.code, -32602);
  r = await post(ep.http, rq('Filecoin.MpoolPushMessage', [{ To: 5 }]), auth);
  t.is(r.body.error!.code, -32602);
  r = await post(ep.http, rq('Filecoin.SyncSubmitBlock', [{ Header: { Height: 'x' } }]), auth);
  t.truthy(r.body.error);
  r = await post(ep.http, rq('Filecoin.ChainHead', []));
  t.is(r.status, 200);
  t.regex(r.body.error!.message, /missing permission/);
  r = await post(ep.http, rq('Filecoin.ChainHead', []), { authorization: 'Bearer nope.nope.nope' });
  t.is(r.status, 401);
  t.truthy(r.body.error);
  r = await post(ep.http, rq('Filecoin.ChainNotify', []), auth);
  t.regex(r.body.error!.message, /websocket/);
  // WebSocket: bad JSON and bad calls answered, connection stays usable
  const ws = new WebSocket(ep.ws, { headers: auth });
  await new Promise((res, rej) => ws.once('open', res).once('error', rej));
  const replies: { id?: number; error?: { code: number }; result?: { Height: number } }[] = [];
  ws.on('message', (d) => replies.push(JSON.parse(d.toString())));
  ws.send('{{{');
  ws.send(rq('Filecoin.Nope', []));
  ws.send(JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'Filecoin.ChainHead', params: [] }));
  await new Promise((res) => setTimeout(res, 300));
  ws.close();
  t.is(replies.find((x) => x.error?.code === -32700)?.error?.code, -32700);
  t.is(replies.find((x) => x.id === 5)?.error?.code, -32601);
  t.is(replies.find((x) => x.id === 9)?.result?.Height, 0);
  // still alive
  t.is((await h.client.chainHead()).Height, 0);
});

test('hostile requests: an upgrade to //[, POST //[, a null body, an aborted body — the devnet keeps serving', async (t) => {
  const h = await startDevnet();
  t.teardown(() => h.close());
  const port = new URL(h.client.endpoints[0].http).port;
  const token = h.client.endpoints[0].token;
  const up = await raw(Number(port), upgradeRequest('//['));
  t.true(up.closed);
  t.is(up.status, 400);
  t.is((await raw(Number(port), upgradeRequest('//[', { authorization: `Bearer ${token}` }))).status, 400);
  t.is((await raw(Number(port), postRequest('//[', '{}'))).status, 400);
  for (const body of ['null', '7', '"x"', '{"method":"Filecoin.ChainHead","params":null,"id":{}}']) {
    const r = await raw(Number(port), postRequest('/rpc/v1', body, { authorization: `Bearer ${token}` }));
    t.is(r.status, 200, body);
    t.regex(r.text, /"error":\{"code":-326/, body);
  }
  await abortedBody(Number(port), '/rpc/v1', { authorization: `Bearer ${token}` });
  t.is((await h.client.chainHead()).Height, 0);
});

test('1,000 upgrades to an unknown path leave no socket open; a trickle is cut while others are served', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-devnet-'));
  const devnet = await Devnet.open({ dir, blockDelayMs: 1000, autoAdvance: false, policy: TEST_POLICY });
  const server = new DevnetRpcServer(devnet, { headersTimeoutMs: 800, checkIntervalMs: 100 });
  const { port } = await server.listen('127.0.0.1', 0);
  t.teardown(async () => {
    await server.close();
    await devnet.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const client = new ChainClient(server.apiInfo(devnet.adminToken()), { timeoutMs: 5000 });
  const seen = await flood(port, upgradeRequest('/nope'), 1000, 20);
  t.is(seen.get(404), 1000);
  await until(() => server.connections().total === 0, 5000, 'sockets to close');
  const slow = slowloris(port, 50, 10_000);
  for (let i = 0; i < 5; i++) t.is((await client.chainHead()).Height, 0);
  const r = await slow;
  t.true(r.closedAfterMs !== null && r.closedAfterMs < 2500, `cut after ${r.closedAfterMs} ms`);
});

test('bodies are bounded before auth: 30 MiB without a token is refused unread; an anonymous WebSocket may not send large frames', async (t) => {
  const h = await startDevnet();
  t.teardown(() => h.close());
  const ep = h.client.endpoints[0];
  const port = Number(new URL(ep.http).port);
  t.is((await raw(port, `POST /rpc/v1 HTTP/1.1\r\nhost: a\r\ncontent-length: ${30 * 2 ** 20}\r\n\r\n`)).status, 413);
  t.is((await raw(port, postRequest('/rpc/v1', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'Filecoin.ChainHead', params: ['x'.repeat(64 * 1024)] })))).status, 413);
  // With a token the same 64 KiB call is read (and answered: bad params).
  const r = await raw(port, postRequest('/rpc/v1', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'Filecoin.ChainHead', params: ['x'.repeat(64 * 1024)] }), { authorization: `Bearer ${ep.token}` }));
  t.is(r.status, 200);
  const anon = new WebSocket(ep.ws);
  await new Promise((res, rej) => anon.once('open', res).once('error', rej));
  const closed = new Promise<number>((res) => anon.once('close', (code) => res(code)));
  anon.send('x'.repeat(1024 * 1024));
  t.is(await closed, 1009, 'message too big for a connection without a token');
  const authed = new WebSocket(ep.ws, { headers: { authorization: `Bearer ${ep.token}` } });
  await new Promise((res, rej) => authed.once('open', res).once('error', rej));
  const reply = new Promise<string>((res) => authed.once('message', (d) => res(d.toString())));
  authed.send(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'Filecoin.ChainHead', params: [], pad: 'x'.repeat(1024 * 1024) }));
  t.regex(await reply, /"Height":0/);
  authed.close();
});

// The devnet forms a tipset shortly after its time. A node busy past that moment (a loaded
// host) runs its timers before it reads its sockets: a block that had reached it in time was
// refused as late ("height H is not the round being mined"), and a PoSt miner lost a won block
// in the cluster test. The block is sent from another process while this one (the devnet's) is blocked.
test.serial('a block that reached the devnet before its tipset was due is weighed for it, even when the devnet was busy past that moment', async (t) => {
  const delay = 2000;
  const genesisTimeMs = Math.ceil(Date.now() / 1000) * 1000;
  const h = await startDevnet({ blockDelayMs: delay, genesisTimeMs });
  t.teardown(() => h.close());
  const d = h.devnet;
  d.startClock();
  const round = d.head().Height + 2;
  await until(async () => d.head().Height >= round - 1, 10_000, `head ${round - 1}`);
  t.is(d.head().Height, round - 1);
  const dueMs = genesisTimeMs + round * delay + Math.min(500, delay / 8);
  const header = { Miner: 't01000', Height: round, Parents: d.head().Cids, Timestamp: d.timestampOf(round), BeaconEntries: [] };
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'Filecoin.SyncSubmitBlock', params: [{ Header: header, BlsMessages: [], SecpkMessages: [] }] });
  const { token, port } = (() => {
    const [tok, ma] = h.apiInfo.split(':');
    return { token: tok, port: ma.split('/')[4] };
  })();
  const script =
    "const [url, token, body, at] = process.argv.slice(1); setTimeout(async () => { const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token }, body }); console.log(await r.text()); }, Number(at) - Date.now());";
  const child = spawn(process.execPath, ['-e', script, `http://127.0.0.1:${port}/rpc/v1`, token, body, String(dueMs - 100)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  // 'close', not 'exit': the child's output may still be unread when 'exit' comes.
  const exited = new Promise((r) => child.once('close', r));
  // This thread (the devnet's) is blocked from before the block is sent until after the tipset was due.
  await new Promise((r) => setTimeout(r, Math.max(0, dueMs - 150 - Date.now())));
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.max(0, dueMs + 250 - Date.now()));
  await exited;
  t.notRegex(out, /is not the round being mined/, 'the block was read before the tipset was formed');
  t.regex(out, /block rejected: wrong beacon entries/, 'it was weighed for its round (and refused on its merits)');
});
