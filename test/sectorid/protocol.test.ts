// The wire protocol against a real server: tokens and their permissions, malformed /
// truncated / oversized frames, a fuzz loop of 10^4 hostile inputs, connection limits and
// deadlines. After each bad input that
// connection gets an error and is closed, and the server keeps serving everyone else.
import test from 'ava';
import { type Socket, connect } from 'node:net';
import { Auth } from '../../src/auth/index.js';
import { FileStore, SectorIdClient, type SectorIdStore, startSectorIdServer } from '../../src/sectorid/index.js';
import { FrameReader, type SectorIdError, decodeBody, encodeFrame } from '../../src/sectorid/protocol.js';
import { AUTH, READ_TOKEN, TOKEN, WRITE_TOKEN, assertDistinct, cleanup, cli, rawExchange, sleep, tmpDir } from './helpers.js';

const base = { listen: '127.0.0.1:0', auth: AUTH, minerId: 'f01000' };

function frame(body: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(body.length);
  return Buffer.concat([h, body]);
}

test('wrong or missing token is rejected and the connection closed', async (t) => {
  const repo = tmpDir();
  const srv = await startSectorIdServer({ ...base, repo });
  for (const token of [undefined, '', 'wrong', TOKEN.slice(0, -1), `${TOKEN}x`, 42]) {
    const r = await rawExchange(srv.address, encodeFrame({ v: 1, id: 'r1', token, op: 'alloc', n: 1 }), { end: false });
    t.true(r.closed, String(token));
    t.is(r.replies.length, 1);
    t.is(r.replies[0]!.ok, false);
    t.is(r.replies[0]!.code, 'UNAUTHORIZED');
  }
  const c = new SectorIdClient({ address: srv.address, token: 'nope' });
  const e = await t.throwsAsync(c.allocate(1));
  t.is((e as SectorIdError).code, 'UNAUTHORIZED');
  await c.close();
  // Nothing was allocated by the rejected requests.
  const good = new SectorIdClient({ address: srv.address, token: TOKEN });
  t.deepEqual(await good.allocate(1), [0]);
  await good.close();
  await srv.close();
  cleanup(repo);
});

test('malformed, truncated, oversized and wrong-version frames: error, close, server unaffected', async (t) => {
  const repo = tmpDir();
  const srv = await startSectorIdServer({ ...base, repo, maxFrameBytes: 4096 });
  const good = new SectorIdClient({ address: srv.address, token: TOKEN });
  const cases: Array<[string, Buffer, string]> = [
    ['not msgpack', frame(Buffer.from([0xc1, 0xc1, 0xc1])), 'BAD_FRAME'],
    ['msgpack but not a map', encodeFrame([1, 2, 3]), 'BAD_FRAME'],
    ['map without version', encodeFrame({ id: 'x', token: TOKEN, op: 'alloc', n: 1 }), 'BAD_FRAME'],
    ['future version', encodeFrame({ v: 99, id: 'x', token: TOKEN, op: 'alloc', n: 1 }), 'UNSUPPORTED_VERSION'],
    ['oversized header', Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]), 'FRAME_TOO_LARGE'],
    ['oversized real frame', encodeFrame({ v: 1, id: 'x', token: TOKEN, op: 'alloc', n: 1, pad: 'p'.repeat(5000) }), 'FRAME_TOO_LARGE'],
    ['truncated body', encodeFrame({ v: 1, id: 'x', token: TOKEN, op: 'alloc', n: 1 }).subarray(0, 12), 'BAD_FRAME'],
    ['truncated header', Buffer.from([0, 0]), 'BAD_FRAME'],
    ['trailing garbage inside frame', frame(Buffer.concat([encodeFrame({ v: 1 }).subarray(4), Buffer.from([0xc1])])), 'BAD_FRAME'],
  ];
  for (const [name, bytes, code] of cases) {
    const r = await rawExchange(srv.address, bytes);
    t.true(r.closed, name);
    t.is(r.replies.length, 1, name);
    t.is(r.replies[0]!.code, code, name);
    t.is(typeof r.replies[0]!.message, 'string');
  }
  // Request-level errors keep the connection: a bad n, then a good request on the same socket.
  const two = Buffer.concat([encodeFrame({ v: 1, id: 'a', token: TOKEN, op: 'alloc', n: 0 }), encodeFrame({ v: 1, id: 'b', token: TOKEN, op: 'alloc', n: 2 })]);
  const r = await rawExchange(srv.address, two);
  t.is(r.replies.length, 2);
  t.is(r.replies.find((x) => x.id === 'a')!.code, 'BAD_REQUEST');
  t.deepEqual(r.replies.find((x) => x.id === 'b')!.numbers, [0, 1]);
  t.deepEqual(await good.allocate(1), [2]);
  await good.close();
  await srv.close();
  cleanup(repo);
});

test('fuzz: 10^4 hostile inputs, each connection errors and closes, the server keeps serving', async (t) => {
  const repo = tmpDir();
  const srv = await startSectorIdServer({ ...base, repo, maxFrameBytes: 1024 });
  const good = new SectorIdClient({ address: srv.address, token: TOKEN });
  const valid = encodeFrame({ v: 1, id: 'fuzz', token: TOKEN, op: 'alloc', n: 1 });
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const randBytes = (n: number) => Buffer.from(Array.from({ length: n }, () => rnd(256)));
  const inputs: Buffer[] = [];
  const N = 10_000;
  for (let i = 0; i < N; i++) {
    switch (i % 4) {
      case 0: // raw random bytes
        inputs.push(randBytes(1 + rnd(64)));
        break;
      case 1: // a well-formed length around random msgpack-ish bytes
        inputs.push(frame(randBytes(rnd(200))));
        break;
      case 2: {
        // a valid request with bytes flipped (never its length header, never unchanged)
        const b = Buffer.from(valid);
        const flips = 1 + rnd(4);
        for (let k = 0; k < flips; k++) b[4 + rnd(b.length - 4)] ^= 1 + rnd(255);
        inputs.push(b);
        break;
      }
      default: // a valid request cut short
        inputs.push(valid.subarray(0, 1 + rnd(valid.length - 1)));
    }
  }
  let errors = 0;
  let oks = 0;
  const okById = new Map<string, number[]>();
  let next = 0;
  const started = Date.now();
  const worker = async () => {
    while (next < inputs.length) {
      const input = inputs[next++]!;
      const r = await rawExchange(srv.address, input, { timeoutMs: 5000 });
      if (!r.closed) throw new Error(`the server left a connection open after ${input.toString('hex')}`);
      for (const rep of r.replies) {
        if (rep.ok === false) errors++;
        else {
          // A flipped byte can still be a valid request (e.g. another n or id): a real allocation.
          // Same id again (only the n or token bytes were flipped back) is a replay: same numbers.
          oks++;
          const nums = (rep.numbers as number[] | undefined) ?? [];
          const prev = okById.get(String(rep.id));
          if (prev && JSON.stringify(prev) !== JSON.stringify(nums)) throw new Error(`request id ${String(rep.id)} answered twice differently`);
          if (!prev && nums.length > 0) okById.set(String(rep.id), nums);
        }
      }
      if (r.replies.length === 0) throw new Error(`no error reply for ${input.toString('hex')}`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  t.log(`${N} inputs in ${Date.now() - started} ms: ${errors} error replies, ${oks} accidental valid requests`);
  t.true(errors >= N - oks);
  // The server still serves, and nothing was handed out twice.
  const more = await good.allocate(5);
  assertDistinct([...[...okById.values()].flat(), ...more]);
  await good.close();
  await srv.close();
  cleanup(repo);
});

/** A connection from `from` that records what the server says and whether it closed. */
function hold(port: number, from = '127.0.0.1'): Promise<{ sock: Socket; got: Array<Record<string, unknown>>; closed: boolean; closedAt: number }> {
  return new Promise((resolve) => {
    const reader = new FrameReader(1 << 16);
    const h = { sock: connect({ host: '127.0.0.1', port, localAddress: from }, () => resolve(h)), got: [] as Array<Record<string, unknown>>, closed: false, closedAt: 0 };
    h.sock.on('data', (d: Buffer) => {
      for (const b of reader.push(d)) h.got.push(decodeBody(b) as Record<string, unknown>);
    });
    h.sock.on('close', () => {
      h.closed = true;
      h.closedAt = Date.now();
    });
    h.sock.on('error', () => {});
  });
}

async function until(f: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!f() && Date.now() < end) await sleep(20);
}

const portOf = (address: string) => Number(address.slice(address.lastIndexOf(':') + 1));

test('permissions: read may info, write may alloc, only admin may reserve, free or set the floor', async (t) => {
  const repo = tmpDir();
  const srv = await startSectorIdServer({ ...base, repo });
  const read = new SectorIdClient({ address: srv.address, token: READ_TOKEN });
  const write = new SectorIdClient({ address: srv.address, token: WRITE_TOKEN });
  const admin = new SectorIdClient({ address: srv.address, token: TOKEN });
  t.is((await read.info()).next, 0);
  let e = (await t.throwsAsync(read.allocate(1))) as SectorIdError;
  t.is(e.code, 'FORBIDDEN');
  t.regex(e.message, /need 'write'/);
  t.deepEqual(await write.allocate(2), [0, 1]);
  for (const [what, call] of [
    ['setFloor', () => write.setFloor(1000)],
    ['reserve', () => write.reserve('mine', [[50, 60]])],
    ['free', () => write.free('mine')],
    ['setFloor', () => read.setFloor(1000)],
  ] as Array<[string, () => Promise<unknown>]>) {
    e = (await t.throwsAsync(call())) as SectorIdError;
    t.is(e.code, 'FORBIDDEN', what);
    t.regex(e.message, new RegExp(`'${what}' \\(need 'admin'\\)`));
  }
  // Nothing changed; a refused request keeps the connection, the next one on it works.
  t.deepEqual((await admin.info()).reservations, {});
  t.deepEqual(await write.allocate(1), [2]);
  await admin.reserve('held', [[10, 12]]);
  t.is((await admin.setFloor(20)).next, 20);
  await admin.free('held');
  // A token of another secret, or a write token whose payload was changed to admin, is no token.
  const other = Auth.random().issue('admin');
  const [h, , sig] = WRITE_TOKEN.split('.');
  const forged = `${h}.${Buffer.from(JSON.stringify({ Allow: ['read', 'write', 'sign', 'admin'] })).toString('base64url')}.${sig}`;
  for (const token of [other, forged]) {
    const r = await rawExchange(srv.address, encodeFrame({ v: 1, id: 'x', token, op: 'setFloor', floor: 5000 }), { end: false });
    t.is(r.replies[0]!.code, 'UNAUTHORIZED');
    t.true(r.closed);
  }
  t.is((await admin.info()).next, 20);
  // The operator command names the level it lacks.
  const cliWrite = await cli(['sectors', 'numbers', 'set-floor', '100', '--connect', srv.address, '--token', WRITE_TOKEN]);
  t.is(cliWrite.code, 1);
  t.regex(cliWrite.stderr, /need 'admin'/);
  t.is((await cli(['sectors', 'numbers', 'info', '--connect', srv.address, '--token', READ_TOKEN, '--json'])).code, 0);
  await Promise.all([read.close(), write.close(), admin.close()]);
  await srv.close();
  cleanup(repo);
});

test('authenticated connections are limited in all and per peer; unauthenticated ones do not count', async (t) => {
  const repo = tmpDir();
  const srv = await startSectorIdServer({ ...base, repo, maxConnections: 3, maxConnectionsPerPeer: 2, maxUnauthenticatedPerPeer: 4 });
  const port = portOf(srv.address);
  // Ten idle connections from 127.0.0.1: only 4 stay (the oldest make room), none is authenticated.
  const idle = await Promise.all(Array.from({ length: 10 }, () => hold(port)));
  // The server's eviction and the clients' close events arrive in their own time on a loaded host.
  await until(() => idle.filter((h) => h.closed).length >= 6, 10_000);
  t.deepEqual(srv.connections(), { authenticated: 0, unauthenticated: 4 });
  t.is(idle.filter((h) => h.closed).length, 6);
  t.true(idle.filter((h) => h.closed).every((h) => h.got[0]?.code === 'TOO_MANY_CONNECTIONS'));
  const ping = (h: { sock: Socket }, id: string) => h.sock.write(encodeFrame({ v: 1, id, token: READ_TOKEN, op: 'ping' }));
  const a = [await hold(port), await hold(port), await hold(port), await hold(port, '127.0.0.2'), await hold(port, '127.0.0.3')];
  for (const [i, h] of a.entries()) {
    ping(h, `p${i}`);
    await until(() => h.got.length > 0, 10_000); // answered (or refused) before the next one tries
  }
  t.is(a[0]!.got[0]!.ok, true);
  t.is(a[1]!.got[0]!.ok, true);
  t.is(a[2]!.got[0]!.code, 'TOO_MANY_CONNECTIONS', 'a third from one address');
  t.regex(String(a[2]!.got[0]!.message), /per client address \(2\)/);
  t.true(a[2]!.closed);
  t.is(a[3]!.got[0]!.ok, true, 'another address still gets in');
  t.is(a[4]!.got[0]!.code, 'TOO_MANY_CONNECTIONS', 'over the global limit');
  t.is(srv.connections().authenticated, 3);
  for (const h of [...idle, ...a]) h.sock.destroy();
  await srv.close();
  cleanup(repo);
});

test('deadlines: a trickle cannot keep a connection alive; idle authenticated connections are closed', async (t) => {
  const repo = tmpDir();
  const srv = await startSectorIdServer({ ...base, repo, authTimeoutMs: 400, frameTimeoutMs: 400, idleMs: 600 });
  const port = portOf(srv.address);
  const frame = encodeFrame({ v: 1, id: 'slow', token: WRITE_TOKEN, op: 'alloc', n: 1 });
  // Unauthenticated: a valid request sent a byte every 50 ms (it would need ~9 s): cut at 400 ms.
  const u = await hold(port);
  const t0 = Date.now();
  let k = 0;
  const tick = setInterval(() => !u.closed && k < frame.length && u.sock.write(frame.subarray(k, ++k)), 50);
  await until(() => u.closed, 10_000);
  clearInterval(tick);
  t.true(u.closed);
  t.is(u.got[0]?.code, 'FRAME_TIMEOUT');
  // Cut near the 400 ms frame deadline, far before the ~9 s the trickle needs (slack for a loaded host).
  t.true(u.closedAt - t0 < 3000, `closed after ${u.closedAt - t0} ms`);
  // Authenticated: a good first request, then the next one trickled: cut 400 ms after its first byte.
  const a = await hold(port);
  a.sock.write(encodeFrame({ v: 1, id: 'first', token: WRITE_TOKEN, op: 'ping' }));
  await until(() => a.got.length > 0, 10_000);
  t.is(a.got[0]?.ok, true);
  const t1 = Date.now();
  k = 0;
  const tick2 = setInterval(() => !a.closed && k < frame.length && a.sock.write(frame.subarray(k, ++k)), 50);
  await until(() => a.closed, 10_000);
  clearInterval(tick2);
  t.true(a.closed);
  t.is(a.got[1]?.code, 'FRAME_TIMEOUT');
  t.true(a.closedAt - t1 < 3000, `closed after ${a.closedAt - t1} ms`);
  // Authenticated and silent: IDLE_TIMEOUT.
  const i = await hold(port);
  i.sock.write(encodeFrame({ v: 1, id: 'first', token: WRITE_TOKEN, op: 'ping' }));
  await until(() => i.closed, 10_000);
  t.true(i.closed);
  t.is(i.got[1]?.code, 'IDLE_TIMEOUT');
  // A client with a persistent connection survives the idle close by reconnecting.
  const c = new SectorIdClient({ address: srv.address, token: WRITE_TOKEN });
  const x = await c.allocate(1);
  await sleep(800);
  const y = await c.allocate(1);
  t.true(y[0]! > x[0]!);
  await c.close();
  await srv.close();
  cleanup(repo);
});

test('a frame the server stopped reading (its requests in flight at the limit) is not cut by the frame deadline', async (t) => {
  const repo = tmpDir();
  // A store whose commits take 1 s (a slow disk or database).
  const file = new FileStore(repo);
  const slow: SectorIdStore = {
    description: 'slow file store',
    open: (o) => file.open(o),
    allocate: async (batch, chain) => {
      await sleep(1000);
      return file.allocate(batch, chain);
    },
    state: () => file.state(),
    reserve: (n, r) => file.reserve(n, r),
    free: (n) => file.free(n),
    setFloor: (f) => file.setFloor(f),
    raiseFloor: (f) => file.raiseFloor(f),
    close: () => file.close(),
  };
  const srv = await startSectorIdServer({ ...base, repo, store: slow, maxInFlightPerConnection: 1, frameTimeoutMs: 400 });
  const h = await hold(portOf(srv.address));
  const f = (id: string) => encodeFrame({ v: 1, id, token: WRITE_TOKEN, op: 'alloc', n: 1 });
  const third = f('c');
  // Two whole requests and half of a third: the second waits unread behind the first (1 s).
  h.sock.write(Buffer.concat([f('a'), f('b'), third.subarray(0, 10)]));
  await until(() => h.got.length >= 1, 5000);
  h.sock.write(third.subarray(10));
  await until(() => h.got.length >= 3 || h.closed, 8000);
  t.deepEqual(
    h.got.map((r) => [r.id, r.ok ?? r.code]),
    [
      ['a', true],
      ['b', true],
      ['c', true],
    ],
  );
  t.false(h.closed);
  h.sock.destroy();
  await srv.close();
  cleanup(repo);
});

test('more requests than the in-flight limit wait unread and are all answered', async (t) => {
  const repo = tmpDir();
  const srv = await startSectorIdServer({ ...base, repo, maxInFlightPerConnection: 2 });
  const frames = Buffer.concat(Array.from({ length: 50 }, (_, i) => encodeFrame({ v: 1, id: `r${i}`, token: WRITE_TOKEN, op: 'alloc', n: 1 })));
  const r = await rawExchange(srv.address, frames);
  t.is(r.replies.length, 50);
  t.true(r.replies.every((x) => x.ok === true));
  assertDistinct(r.replies.flatMap((x) => x.numbers as number[]));
  await srv.close();
  cleanup(repo);
});
