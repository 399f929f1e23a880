// The miner's local API (src/api/server.ts) under hostile requests: none takes the miner
// down, and each method needs its permission level (read for status, admin for drills); the
// same over a WebSocket; lotus-miner's methods (src/api/lotus-miner.ts; the real lotus-miner
// CLI against them is in test/lotus/migrate.test.ts).
import test from 'ava';
import { WebSocket } from 'ws';
import { Auth } from '../../src/auth/index.js';
import { callApi } from '../../src/api/client.js';
import { bareSectorInfo, registerLotusMinerApi, withDealInfo } from '../../src/api/lotus-miner.js';
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
  await t.throwsAsync(callApi(s.api.address, READ, 'Distminer.ActorCrashDrill', ['seal', 'throw']), {
    instanceOf: RpcError,
    message: /missing permission to invoke 'Distminer.ActorCrashDrill' \(need 'admin'\)/,
  });
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

test("WebSocket JSON-RPC at /rpc/v0 (how lotus-miner's CLI connects): the token at the upgrade, each method's permission per call, bad frames answered, notifications not", async (t) => {
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
  s.api.register(
    'Test.Slow',
    async () => {
      await gate;
      return 'done';
    },
    'read',
  );
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

test("lotus-miner's methods: version, address, subsystems by role, start time, alerts in Lotus's shape", async (t) => {
  const s = await start();
  t.teardown(() => s.api.close());
  const chain = {
    call: async (method: string) => {
      if (method === 'Filecoin.Version') return { Version: '1.36.2+2k', APIVersion: 0x20300, BlockDelay: 4 };
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
  });
  const call = <T>(method: string, params: unknown[] = [], token = ADMIN) => callApi<T>(s.api.address, token, method, params);
  t.deepEqual(await call('Filecoin.Version'), { Version: 'distminer 0.1.0', APIVersion: 0x10500, BlockDelay: 4 });
  t.is(await call('Filecoin.ActorAddress', [], READ), 't01000');
  t.is(await call('Filecoin.ActorSectorSize', ['t01000'], READ), 2048);
  t.deepEqual(await call('Filecoin.RuntimeSubsystems', [], READ), ['Mining', 'Sealing', 'SectorStorage']);
  t.is(await call('Filecoin.StartTime', [], READ), startedAt.toISOString());
  const alerts = await call<Record<string, unknown>[]>('Filecoin.LogAlerts');
  t.like(alerts[0], {
    Type: { System: 'distminer', Subsystem: 'DistminerFaultDeclared' },
    Active: true,
    LastActive: { Type: 'raised', Message: { severity: 'warning', summary: 'sector 3 declared faulty' } },
    LastResolved: null,
  });
  await t.throwsAsync(call('Filecoin.LogAlerts', [], READ), { message: /need 'admin'/ }, 'admin, as in Lotus');
  await t.throwsAsync(call('Filecoin.SectorsPledge'), { message: /not found/ }, 'what distminer does not do stays unknown');

  const post = await start();
  t.teardown(() => post.api.close());
  registerLotusMinerApi(post.api.register, { minerId: 't01000', roles: ['window-post'], version: '0.1.0', startedAt, alerts: async () => [] });
  t.deepEqual(await callApi(post.api.address, READ, 'Filecoin.RuntimeSubsystems'), ['SectorStorage']);
  await t.throwsAsync(callApi(post.api.address, READ, 'Filecoin.SectorsSummary'), { message: /has no chain node/ });
});

test("lotus-miner's sector and worker methods: the chain's live and faulty sectors, the seal pipeline's states, lotus-miner's adopted records, PoSt roles and seal workers", async (t) => {
  const s = await start();
  t.teardown(() => s.api.close());
  // Chain: deadline 0 holds {0, 1, 5} (1 faulty), deadline 1 holds {7}. Bitfields are Lotus's run lengths.
  const partitions: Record<number, unknown[]> = { 0: [{ LiveSectors: [0, 2, 3, 1], FaultySectors: [1, 1] }], 1: [{ LiveSectors: [7, 1], FaultySectors: [] }] };
  const onChain = (n: number) => ({
    SectorNumber: n,
    SealProof: 5,
    SealedCID: { '/': `bagboea4b5abc-sealed-${n}` },
    DeprecatedDealIDs: n === 5 ? [12] : null,
    Activation: 100,
    Expiration: 2000,
    DealWeight: '0',
    VerifiedDealWeight: '0',
    InitialPledge: '9000',
  });
  const chainCalls: string[] = [];
  const proposal3 = {
    PieceCID: { '/': 'baga6ea4seaq-piece' },
    PieceSize: 2048,
    VerifiedDeal: false,
    Client: 't1client',
    Provider: 't01000',
    Label: 'x',
    StartEpoch: 400,
    EndEpoch: 600000,
    StoragePricePerEpoch: '0',
    ProviderCollateral: '0',
    ClientCollateral: '0',
  };
  const chain = {
    call: async (method: string, params: unknown[]) => {
      chainCalls.push(method);
      if (method === 'Filecoin.StateSectorExpiration') return { OnTime: 2000, Early: params[1] === 1 ? 1500 : 0 };
      if (method === 'Filecoin.StateMarketStorageDeal' && params[0] === 3) return { Proposal: proposal3, State: {} };
      throw new Error(`unexpected ${method}`);
    },
    chainHead: async () => {
      chainCalls.push('ChainHead');
      return { Cids: [{ '/': 'head' }], Height: 300 };
    },
    stateMinerDeadlines: async () => [{}, {}, {}],
    stateMinerPartitions: async (_m: string, i: number) => partitions[i] ?? [],
    stateSectorGetInfo: async (_m: string, n: number) => ([0, 1, 5, 7].includes(n) ? onChain(n) : null),
  };
  const view = (number: number, state: string, extra = {}) => ({
    number,
    state,
    sealProof: 5,
    ticket: null,
    ticketEpoch: null,
    seed: null,
    seedEpoch: null,
    sealedCid: null,
    unsealedCid: null,
    deals: [],
    dealPublishCids: [],
    pieces: [],
    retries: 0,
    failure: null,
    preCommitMsg: null,
    commitMsg: null,
    ...extra,
  });
  const sealSectors = [
    view(7, 'FinalizeSector', { sealedCid: 'bagboea4b5abc-sealed-7' }),
    view(8, 'PreCommit1', {
      ticket: '0102',
      ticketEpoch: 250,
      retries: 1,
      failure: 'PC1 failed once',
      pieces: [{ size: 2048, pieceCid: 'baga6ea4seaq-piece' }],
      deals: [3],
      dealPublishCids: ['bafy2-publish-3'],
    }),
    view(9, 'WaitSeed'),
  ];
  const adopted = (n: number, state: string) => ({ ...bareSectorInfo(n, state, 5), CommD: { '/': `baga-d-${n}` }, CommR: { '/': `bagboea4b5abc-sealed-${n}` }, Deals: [0] });
  let windowRunning = false;
  registerLotusMinerApi(s.api.register, {
    minerId: 't01000',
    roles: ['winning-post', 'window-post', 'seal'],
    version: '0.1.0',
    startedAt: new Date(),
    chain: chain as never,
    alerts: async () => [],
    seal: {
      sectors: async () => sealSectors.map((v) => ({ ...v, log: undefined })) as never,
      sector: async (n) => ({ ...sealSectors.find((v) => v.number === n)!, log: [{ at: '2026-12-01T10:00:00.000Z', state: 'PreCommit1', note: 'ticket drawn' }] }) as never,
      workers: async () => [
        {
          id: 'w-1',
          hostname: 'gpu-box',
          connected: true,
          taskTypes: ['PreCommit1', 'Commit2'],
          resources: { cores: 32, memoryBytes: 256e9, gpus: 2 },
          used: { cores: 4, memoryBytes: 64e9, gpus: 1 },
          tasks: 1,
          lastHeartbeatMsAgo: 100,
        },
      ],
    },
    adopted: {
      sectors: [
        { number: 0, state: 'Proving' },
        { number: 1, state: 'Proving' },
        { number: 3, state: 'Removed' },
      ],
      read: (n) => ([0, 1, 3].includes(n) ? adopted(n, n === 3 ? 'Removed' : 'Proving') : undefined),
    },
    roleRunning: (role) => role !== 'window-post' || windowRunning,
  });
  const call = <T>(method: string, params: unknown[] = [], token = READ) => callApi<T>(s.api.address, token, method, params);
  t.deepEqual(await call('Filecoin.SectorsList'), [0, 1, 3, 5, 7, 8, 9]);
  t.deepEqual(
    await call('Filecoin.SectorsSummary'),
    { Proving: 2, Faulty: 1, Removed: 1, FinalizeSector: 1, PreCommit1: 1, WaitSeed: 1 },
    "chain Faulty over the record, the pipeline's state over the chain's Proving",
  );
  t.deepEqual(await call('Filecoin.SectorsListInStates', [['Proving', 'WaitSeed', 'NoSuchState']]), [0, 5, 9]);
  t.is(chainCalls.filter((c) => c === 'ChainHead').length, 1, 'one look at the chain serves a burst of calls');
  await t.throwsAsync(call('Filecoin.SectorsListInStates', ['Proving']), { message: /list of state names/ });

  // An adopted record, with the chain's state; with on-chain info, the chain's fields.
  const one = await call<Record<string, unknown>>('Filecoin.SectorsStatus', [1, false]);
  t.deepEqual(one, { ...adopted(1, 'Faulty') });
  const oneOnChain = await call<Record<string, unknown>>('Filecoin.SectorsStatus', [1, true]);
  t.like(oneOnChain, { State: 'Faulty', CommD: { '/': 'baga-d-1' }, Activation: 100, Expiration: 2000, InitialPledge: '9000', OnTime: 2000, Early: 1500 });
  // A sector known only from the chain.
  t.like(
    await call('Filecoin.SectorsStatus', [5, false]),
    { SectorID: 5, State: 'Proving', CommD: null, CommR: { '/': 'bagboea4b5abc-sealed-5' }, Deals: [12], SealProof: 5, Activation: 0, InitialPledge: '0' },
    'deal ids as Lotus v1.36 names them (DeprecatedDealIDs)',
  );
  // A pipeline sector: ticket in base64, pieces, its log, its failure as LastErr.
  t.deepEqual(await call('Filecoin.SectorsStatus', [8, false]), {
    ...adopted(8, 'PreCommit1'),
    CommD: null,
    CommR: null,
    Deals: [3],
    Pieces: [
      {
        Piece: { Size: 2048, PieceCID: { '/': 'baga6ea4seaq-piece' } },
        DealInfo: {
          PublishCid: { '/': 'bafy2-publish-3' },
          DealID: 3,
          DealProposal: proposal3,
          DealSchedule: { StartEpoch: 400, EndEpoch: 600000 },
          PieceActivationManifest: null,
          KeepUnsealed: true,
        },
      },
    ],
    Ticket: { Value: Buffer.from([1, 2]).toString('base64'), Epoch: 250 },
    Retries: 1,
    LastErr: 'PC1 failed once',
    Log: [{ Kind: 'state;PreCommit1', Timestamp: Date.parse('2026-12-01T10:00:00.000Z') / 1000, Trace: '', Message: 'ticket drawn' }],
  });
  await t.throwsAsync(call('Filecoin.SectorsStatus', [42, false]), { message: /sector 42 not found/ });
  t.deepEqual(await call('Filecoin.SectorsStatus', [3, false]), adopted(3, 'Removed'), 'a record no longer live keeps its recorded state');
  await t.throwsAsync(call('Filecoin.SectorsStatus', ['x']), { message: /needs a sector number/ });

  // Workers: the PoSt roles of this host, as Lotus's PoSt worker types, and the seal workers.
  await t.throwsAsync(call('Filecoin.WorkerStats'), { message: /need 'admin'/ }, 'admin, as in Lotus');
  const ws = await call<Record<string, { Tasks: string[]; Enabled: boolean; Info: { Hostname: string; Resources: { CPUs: number; GPUs: string[] } }; CpuUse: number }>>(
    'Filecoin.WorkerStats',
    [],
    ADMIN,
  );
  const ids = Object.keys(ws);
  t.is(ids.length, 3);
  t.true(
    ids.every((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id)),
    'keys are UUIDs (Lotus decodes them as uuid.UUID)',
  );
  const byTask = (task: string) => Object.values(ws).find((w) => w.Tasks.includes(task))!;
  t.like(byTask('post/v0/winningproof'), { Enabled: true, Tasks: ['post/v0/winningproof'] });
  t.like(byTask('post/v0/windowproof'), { Enabled: false }, 'a role that is not running is a disabled worker');
  t.like(byTask('seal/v0/commit/2'), {
    Enabled: true,
    Tasks: ['seal/v0/precommit/1', 'seal/v0/commit/2'],
    CpuUse: 4,
    Info: { Hostname: 'gpu-box', Resources: { CPUs: 32, GPUs: ['GPU 0', 'GPU 1'] } },
  });
  windowRunning = true;
  const again = await call<typeof ws>('Filecoin.WorkerStats', [], ADMIN);
  t.deepEqual(Object.keys(again), ids, 'the same worker keeps its UUID');
  t.true(again[ids.find((id) => ws[id]!.Tasks[0] === 'post/v0/windowproof')!]!.Enabled);

  // The seal service not answering (the seal role starting or restarting): the chain's sectors
  // and lotus-miner's records, this host's PoSt workers — `lotus-miner info` still works.
  const down = await start();
  t.teardown(() => down.api.close());
  const refused = async () => {
    throw new Error('connect ECONNREFUSED');
  };
  registerLotusMinerApi(down.api.register, {
    minerId: 't01000',
    roles: ['winning-post', 'seal'],
    version: '0.1.0',
    startedAt: new Date(),
    chain: chain as never,
    alerts: async () => [],
    seal: { sectors: refused, sector: refused, workers: refused },
  });
  t.deepEqual(await callApi(down.api.address, READ, 'Filecoin.SectorsList'), [0, 1, 5, 7]);
  t.is(Object.keys(await callApi<Record<string, unknown>>(down.api.address, ADMIN, 'Filecoin.WorkerStats')).length, 1);
});

test("withDealInfo: each deal's piece gets lotus-miner's DealInfo by piece CID, two deals of one piece CID in order; fillers and deals the market no longer has stay without", async (t) => {
  const prop = (cid: string, start: number) => ({
    PieceCID: { '/': cid },
    PieceSize: 1024,
    VerifiedDeal: false,
    Client: 't1c',
    Provider: 't01000',
    Label: '',
    StartEpoch: start,
    EndEpoch: start + 1000,
    StoragePricePerEpoch: '0',
    ProviderCollateral: '0',
    ClientCollateral: '0',
  });
  const props = new Map([
    [10, prop('baga-a', 100)],
    [11, prop('baga-a', 200)],
    [12, prop('baga-b', 300)],
  ]);
  const piece = (cid: string) => ({ Piece: { Size: 1024, PieceCID: { '/': cid } }, DealInfo: null });
  const info = { ...bareSectorInfo(4, 'PreCommit1', 5), Deals: [10, 0, 11, 12, 13], Pieces: [piece('baga-a'), piece('baga-zero'), piece('baga-a'), piece('baga-b'), piece('baga-c')] };
  const out = await withDealInfo(info, async (id) => props.get(id) ?? null);
  t.deepEqual(
    out.Pieces.map((p) => p.DealInfo && [p.DealInfo.DealID, p.DealInfo.DealSchedule.StartEpoch]),
    [[10, 100], null, [11, 200], [12, 300], null],
  );
  t.is(info.Pieces[0].DealInfo, null, 'the input is not changed');
});
