// The fault tier: every network port of a running cluster — the devnet, and one `distminer run`
// with every role (miner API, seal service and its worker socket, deal server, sector-number
// server) — gets seeded malformed input, abandoned and slow connections. After each round every
// process is still running, a well-behaved client is served on every port, no sector number was
// handed out twice, and the miner's open sockets go back down (nothing leaks).
//
// Reproducible: the seed is printed; DISTMINER_FUZZ_SEED=N reruns one. DISTMINER_FUZZ_ROUNDS
// sets the requests per port (default 150).
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callApi } from '../../src/api/client.js';
import { type HostPort, parseApiMultiaddr, parseHostPort } from '../../src/config/multiaddr.js';
import { SectorIdClient } from '../../src/sectorid/client.js';
import { encodeFrame } from '../../src/sectorid/protocol.js';
import { minerRepo, runMiner, startDevnetProc } from '../helpers/cluster.js';
import { killAll } from '../helpers/procs.js';

const SEED = Number(process.env.DISTMINER_FUZZ_SEED ?? Date.now() % 1_000_000);
const ROUNDS = Number(process.env.DISTMINER_FUZZ_ROUNDS ?? 150);

/** mulberry32: a small seeded generator, so a failing run can be replayed exactly. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  return { next, int, pick, bytes };
}
type Rng = ReturnType<typeof rng>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Opens a socket, writes `chunks` (with an optional pause between them), then waits a little and drops it. */
function exchange(hp: HostPort, chunks: Buffer[], o: { pauseMs?: number; holdMs?: number; abort?: boolean } = {}): Promise<void> {
  return new Promise((resolve) => {
    const s: Socket = connect(hp.port, hp.host);
    const done = () => {
      s.destroy();
      resolve();
    };
    s.on('error', done);
    s.on('close', done);
    s.on('data', () => {});
    s.setTimeout(3000, done);
    s.on('connect', async () => {
      for (const c of chunks) {
        if (s.destroyed) return;
        s.write(c);
        if (o.pauseMs) await sleep(o.pauseMs);
      }
      if (o.abort) return done();
      setTimeout(done, o.holdMs ?? 100);
    });
  });
}

const PATHS = [
  '/',
  '/rpc/v0',
  '/rpc/v1',
  '/rpc/v0/worker',
  '//[',
  '/%',
  '/%zz',
  '/deals',
  '/deals/00000000-0000-0000-0000-000000000000/data?token=x',
  '/piece/baga6ea4seaq',
  '/rpc/v0?token=',
  '/..%2f..%2fetc/passwd',
  `/${'a'.repeat(9000)}`,
];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'BREW', ''];
const RPC_METHODS = ['Distminer.Status', 'SectorsList', 'SectorsStatus', 'SectorsRemove', 'SectorsPledge', 'ChainHead', 'Filecoin.ChainHead', 'Filecoin.StateMinerInfo', 'Filecoin.MpoolPush', 'Nope'];

function junkJson(r: Rng): string {
  const params = r.pick<unknown>([null, [], [null], [1e308], ['x'.repeat(r.int(3000))], [{ a: [[[[]]]] }], {}, 'str', [-1], [Number.MAX_SAFE_INTEGER]]);
  return r.pick([
    'null',
    '[]',
    '{}',
    '"x"',
    '1',
    '{"jsonrpc":"2.0"}',
    JSON.stringify({ jsonrpc: '2.0', id: r.int(10), method: r.pick(RPC_METHODS), params }),
    JSON.stringify([{ jsonrpc: '2.0', id: 1, method: r.pick(RPC_METHODS) }]),
    '{"jsonrpc":"2.0","id":1,"method":"SectorsList"',
    r.bytes(r.int(200)).toString('latin1'),
  ]);
}

/** One malformed or hostile HTTP request, as raw bytes (possibly split, aborted or slowed). */
function httpCase(r: Rng, tokens: string[]): { chunks: Buffer[]; pauseMs?: number; abort?: boolean } {
  const method = r.pick(METHODS);
  const path =
    r.next() < 0.1
      ? r
          .bytes(20)
          .toString('latin1')
          .replace(/[\r\n ]/g, '')
      : r.pick(PATHS);
  const headers: string[] = ['Host: x'];
  const auth = r.int(5);
  if (auth === 1) headers.push(`Authorization: Bearer ${r.pick(tokens)}`);
  if (auth === 2) headers.push(`Authorization: Bearer ${r.bytes(30).toString('base64')}`);
  if (auth === 3) headers.push(`Authorization: ${r.pick(['Basic x', 'Bearer', 'Bearer a.b.c', `Bearer ${'x'.repeat(20000)}`])}`);
  const body = Buffer.from(junkJson(r), 'latin1');
  const kind = r.int(8);
  if (kind === 0) headers.push('Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${r.bytes(16).toString('base64')}`);
  if (kind === 1) headers.push(`X-Big: ${'h'.repeat(r.pick([100, 20_000, 200_000]))}`);
  if (kind === 2) headers.push(`Content-Length: ${r.pick(['-1', 'abc', '99999999999', String(body.length + 1000)])}`);
  else if (kind === 3) headers.push('Transfer-Encoding: chunked');
  else headers.push(`Content-Length: ${body.length}`);
  if (kind === 4) headers.push('Content-Type: application/json', 'Expect: 100-continue');
  const head = Buffer.from(`${method} ${path} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`, 'latin1');
  let payload = kind === 3 ? Buffer.from(`${r.pick(['zz', 'ffffffff', '5', '-3'])}\r\n${body.toString('latin1')}\r\n`, 'latin1') : body;
  if (kind === 5) payload = payload.subarray(0, r.int(payload.length + 1)); // cut short: an aborted body
  const chunks =
    r.next() < 0.2
      ? [...head, ...payload].reduce<Buffer[]>((acc, b, i) => (i % 97 === 0 ? [...acc, Buffer.from([b])] : ((acc[acc.length - 1] = Buffer.concat([acc[acc.length - 1], Buffer.from([b])])), acc)), [])
      : [head, payload];
  return { chunks, pauseMs: chunks.length > 2 ? 1 : 0, abort: kind === 5 || r.next() < 0.2 };
}

/** One malformed sector-number frame (u32 length + msgpack), or raw junk. */
function sectorIdCase(r: Rng, tokens: string[]): Buffer[] {
  const k = r.int(7);
  if (k === 0) return [r.bytes(r.int(64))];
  if (k === 1) return [Buffer.from([0xff, 0xff, 0xff, 0xff]), r.bytes(32)];
  if (k === 2) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(r.int(60_000));
    return [len, r.bytes(r.int(100))];
  }
  const msg: Record<string, unknown> = {
    v: r.pick([1, 1, 1, 2, 0, '1', null]),
    id: r.pick(['a', '', 'x'.repeat(500), 7, null]),
    token: r.pick([...tokens, '', 'nope', 42, 'x'.repeat(5000)]),
    op: r.pick(['alloc', 'info', 'reserve', 'free', 'setFloor', 'drop', '__proto__', 1]),
  };
  if (r.next() < 0.7) msg.n = r.pick([1, 0, -1, 1e9, 2 ** 53, 1.5, 'x', null]);
  if (r.next() < 0.3) msg.floor = r.pick([0, -5, 2 ** 60, 'x']);
  if (r.next() < 0.3) msg.name = r.pick(['', 'r', 'x'.repeat(1000), 3]);
  if (r.next() < 0.3) msg.ranges = r.pick([[], [[5, 1]], [[0, 2 ** 53]], 'x', [[1]]]);
  const f = encodeFrame(msg);
  return k === 6 ? [f.subarray(0, r.int(f.length))] : [f];
}

function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

async function pool<T>(items: T[], width: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (i < items.length) await fn(items[i++]);
    }),
  );
}

test('every port survives seeded malformed input, aborted and slow clients; everyone else is still served', async (t) => {
  t.timeout(8 * 60_000);
  t.log(`seed ${SEED} (DISTMINER_FUZZ_SEED=${SEED} replays this run), ${ROUNDS} requests per port`);
  const r = rng(SEED);
  const root = mkdtempSync(join(tmpdir(), 'distminer-fault-'));
  t.teardown(async () => {
    await killAll();
    rmSync(root, { recursive: true, force: true });
  });
  const dn = await startDevnetProc(join(root, 'devnet'), ['--block-delay', '2s']);
  const storage = join(root, 'storage');
  mkdirSync(storage);
  const repo = minerRepo(join(root, 'miner'), 't01000', { chainApi: dn.apiInfo, storage, sealListen: '/ip4/127.0.0.1/tcp/0/http' });
  const miner = runMiner('miner', repo.path, ['--roles=winning-post,window-post,seal,deal', '--sctype=alloce', '--sclisten=127.0.0.1:0']);
  const until = async (what: string, f: () => boolean) => {
    for (const end = Date.now() + 60_000; !f(); await sleep(200)) if (Date.now() > end) throw new Error(`${what} did not appear; miner said:\n${miner.lines.slice(-20).join('\n')}`);
  };
  await until('the miner API, seal service, deal server and sector-number server', () => ['api', 'sealing-api', 'sectorid-api', join('deals', 'api')].every((f) => existsSync(join(repo.path, f))));
  const file = (f: string) => readFileSync(join(repo.path, f), 'utf8').trim();
  const apiHp = parseApiMultiaddr(file('api'));
  const sealHp = parseApiMultiaddr(file('sealing-api'));
  const sidAddr = file('sectorid-api');
  const sidHp = parseHostPort(sidAddr, 'sectorid-api');
  const dealUrl = new URL(file(join('deals', 'api')));
  const dealHp = { host: dealUrl.hostname, port: Number(dealUrl.port) };
  const devnetHp = parseApiMultiaddr(dn.apiInfo.slice(dn.apiInfo.indexOf(':') + 1));
  const devnetToken = dn.apiInfo.slice(0, dn.apiInfo.indexOf(':'));
  const token = repo.token;
  const tokens = [token, devnetToken, 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.x'];

  const numbers = new Set<number>();
  const sid = new SectorIdClient({ address: sidAddr, token, deadlineMs: 10_000 });
  t.teardown(() => sid.close());
  /** Every port answers a good client; every process is up; numbers stay unique. */
  const healthy = async (when: string) => {
    t.is(miner.child.exitCode, null, `miner still running ${when}`);
    t.is(dn.proc.child.exitCode, null, `devnet still running ${when}`);
    const started = Date.now();
    await callApi(apiHp, token, 'Distminer.Status', [], 10_000);
    const seal = await fetch(`http://${sealHp.host}:${sealHp.port}/rpc/v0`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'SectorsList', params: [] }),
      signal: AbortSignal.timeout(10_000),
    });
    t.is(seal.status, 200, `seal RPC ${when}`);
    const deals = await fetch(`${dealUrl.origin}/deals`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
    t.is(deals.status, 200, `deal server ${when}`);
    for (const n of await sid.allocate(2)) {
      t.false(numbers.has(n), `sector number ${n} handed out twice (${when})`);
      numbers.add(n);
    }
    await dn.client.chainHead();
    return Date.now() - started;
  };

  await healthy('at start');
  await sleep(500);
  const fdsBefore = openFds(miner.child.pid!);
  t.true(fdsBefore > 0, `cannot count the miner's descriptors in /proc/${miner.child.pid}/fd`);

  const http = [apiHp, sealHp, dealHp, devnetHp];
  // The cases found by hand first (each once stopped a process), on every HTTP port.
  const upgrade = (path: string) =>
    Buffer.from(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
  const post = (path: string, body: string, o: { auth?: string; length?: number } = {}) =>
    Buffer.from(
      `POST ${path} HTTP/1.1\r\nHost: x\r\n${o.auth ? `Authorization: Bearer ${o.auth}\r\n` : ''}Content-Type: application/json\r\nContent-Length: ${o.length ?? Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  for (const hp of http) {
    const auth = hp === devnetHp ? devnetToken : token;
    for (const path of ['/rpc/v0', '/rpc/v1']) {
      await exchange(hp, [post(path, 'null', { auth })]);
      await exchange(hp, [post(path, '[]', { auth })]);
      await exchange(hp, [post(path, '{"jsonrpc":"2.0","id":1,"method":"SectorsList","params":null}', { auth })]);
      await exchange(hp, [post(path, '{"jsonrpc":"2.0","id":1,"meth', { auth, length: 5000 })], { abort: true });
    }
    await exchange(hp, [post('//[', '{}')]);
    await exchange(hp, [upgrade('//[')]);
    await exchange(hp, [upgrade('/%')]);
    await healthy(`after the known hostile requests on port ${hp.port}`);
  }

  for (const hp of http) {
    const cases = Array.from({ length: ROUNDS }, () => httpCase(r, tokens));
    await pool(cases, 16, (c) => exchange(hp, c.chunks, { pauseMs: c.pauseMs, abort: c.abort }));
    await healthy(`after ${ROUNDS} malformed requests to port ${hp.port}`);
  }
  await pool(
    Array.from({ length: ROUNDS }, () => sectorIdCase(r, tokens)),
    16,
    (c) => exchange(sidHp, c),
  );
  await healthy(`after ${ROUNDS} malformed frames to the sector-number port`);

  // Slow clients: 60 per port trickle a byte every 250 ms for 4 s while the good client works.
  const slow = [...http, sidHp].flatMap((hp) =>
    Array.from({ length: 60 }, () =>
      exchange(
        hp,
        Array.from({ length: 16 }, (_, i) => Buffer.from('POST /rpc/v0 HTTP/1.1\r\n'.charAt(i) || 'x')),
        { pauseMs: 250 },
      ),
    ),
  );
  await sleep(1000);
  const ms = await healthy('while 300 slow clients trickle bytes');
  t.true(ms < 15_000, `good clients served in ${ms} ms beside the slow ones`);
  await Promise.all(slow);

  // 1,000 upgrades to an unknown path must not leave sockets behind.
  await pool(
    Array.from({ length: 1000 }, () => 0),
    32,
    () =>
      exchange(
        sealHp,
        [Buffer.from('GET /nope HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')],
        { holdMs: 20 },
      ),
  );
  await healthy('after 1,000 upgrades to an unknown path');
  let fdsAfter = openFds(miner.child.pid!);
  for (const end = Date.now() + 10_000; fdsAfter > fdsBefore + 20 && Date.now() < end; await sleep(250)) fdsAfter = openFds(miner.child.pid!);
  t.true(fdsAfter <= fdsBefore + 20, `miner holds ${fdsAfter} descriptors after the storm, ${fdsBefore} before`);
  t.log(`${numbers.size} sector numbers, all distinct; miner descriptors ${fdsBefore} → ${fdsAfter}`);
});
