// The wire protocol against a real server: tokens, malformed / truncated / oversized frames,
// a fuzz loop of 10^4 hostile inputs, connection and idle limits. After each bad input that
// connection gets an error and is closed, and the server keeps serving everyone else.
import test from 'ava';
import { connect } from 'node:net';
import { SectorIdClient, startSectorIdServer } from '../../src/sectorid/index.js';
import { FrameReader, type SectorIdError, decodeBody, encodeFrame } from '../../src/sectorid/protocol.js';
import { TOKEN, assertDistinct, cleanup, rawExchange, sleep, tmpDir } from './helpers.js';

const base = { listen: '127.0.0.1:0', token: TOKEN, minerId: 'f01000' };

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
  const two = Buffer.concat([
    encodeFrame({ v: 1, id: 'a', token: TOKEN, op: 'alloc', n: 0 }),
    encodeFrame({ v: 1, id: 'b', token: TOKEN, op: 'alloc', n: 2 }),
  ]);
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

test('connection limit and idle timeout answer with an error and close', async (t) => {
  const repo = tmpDir();
  const srv = await startSectorIdServer({ ...base, repo, maxConnections: 3, idleMs: 300 });
  const port = Number(srv.address.slice(srv.address.lastIndexOf(':') + 1));
  // Three idle connections that record what the server tells them.
  const held = await Promise.all(
    [0, 1, 2].map(
      () =>
        new Promise<{ sock: import('node:net').Socket; got: Array<Record<string, unknown>>; closed: boolean }>((resolve) => {
          const reader = new FrameReader(1 << 16);
          const h = { sock: connect({ host: '127.0.0.1', port }, () => resolve(h)), got: [] as Array<Record<string, unknown>>, closed: false };
          h.sock.on('data', (d: Buffer) => {
            for (const b of reader.push(d)) h.got.push(decodeBody(b) as Record<string, unknown>);
          });
          h.sock.on('close', () => {
            h.closed = true;
          });
          h.sock.on('error', () => {});
        }),
    ),
  );
  await sleep(50);
  const r = await rawExchange(srv.address, Buffer.alloc(0), { end: false });
  t.true(r.closed);
  t.is(r.replies[0]!.code, 'TOO_MANY_CONNECTIONS');
  // After 300 ms of silence the held ones are told IDLE_TIMEOUT and closed; slots free up.
  await sleep(700);
  for (const h of held) {
    t.true(h.closed);
    t.is(h.got[0]?.code, 'IDLE_TIMEOUT');
  }
  const r2 = await rawExchange(srv.address, Buffer.alloc(0), { end: false, timeoutMs: 3000 });
  t.true(r2.closed);
  t.is(r2.replies[0]!.code, 'IDLE_TIMEOUT');
  // A client with a persistent connection survives the idle close by reconnecting.
  const c = new SectorIdClient({ address: srv.address, token: TOKEN });
  const a = await c.allocate(1);
  await sleep(500);
  const b = await c.allocate(1);
  t.true(b[0]! > a[0]!);
  await c.close();
  await srv.close();
  cleanup(repo);
});
