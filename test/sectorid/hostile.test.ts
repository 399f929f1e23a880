// Hostile clients against a real server on loopback: hundreds of connections that trickle
// bytes and never finish a request, authenticated ones that trickle their next frame, peers
// that never read their answers. A good client must still get numbers within a short time,
// and the server must shed the hostile connections by itself. The attack is bounded: fixed
// connection counts, a reconnect pause, and it stops when the test ends.
// (Other source addresses than 127.0.0.1 — 127.0.0.2… — are used to act as other peers.)
import test from 'ava';
import { type Socket, connect } from 'node:net';
import { SectorIdClient, startSectorIdServer } from '../../src/sectorid/index.js';
import { FrameReader, encodeFrame } from '../../src/sectorid/protocol.js';
import { AUTH, READ_TOKEN, TOKEN, WRITE_TOKEN, assertDistinct, cleanup, sleep, tmpDir } from './helpers.js';

interface Attack {
  stop(): Promise<void>;
  connects: () => number;
}

/** `n` connections from `from` that each run `behave` and reconnect `pauseMs` after a close. */
function attack(port: number, n: number, from: (i: number) => string, behave: (s: Socket) => () => void, pauseMs: number): Attack {
  let stopped = false;
  let connects = 0;
  const socks = new Set<Socket>();
  const loops = Array.from({ length: n }, async (_, i) => {
    while (!stopped) {
      await new Promise<void>((resolve) => {
        const s = connect({ host: '127.0.0.1', port, localAddress: from(i) });
        connects++;
        socks.add(s);
        let undo = () => {};
        s.on('connect', () => {
          undo = behave(s);
        });
        s.on('error', () => {});
        s.on('close', () => {
          undo();
          socks.delete(s);
          resolve();
        });
      });
      if (!stopped) await sleep(pauseMs);
    }
  });
  return {
    connects: () => connects,
    async stop() {
      stopped = true;
      for (const s of socks) s.destroy();
      await Promise.all(loops);
    },
  };
}

/** Trickle `bytes` one byte every `everyMs`, then keep trickling spaces (never a whole frame). */
const trickle = (bytes: Buffer, everyMs: number) => (s: Socket) => {
  let k = 0;
  const t = setInterval(() => {
    if (!s.destroyed) s.write(Buffer.from([k < bytes.length ? bytes[k]! : 0x20]));
    k++;
  }, everyMs);
  return () => clearInterval(t);
};

test('slowloris: 300 trickling connections, authenticated tricklers and non-readers do not keep a good client from its numbers', async (t) => {
  const repo = tmpDir();
  const srv = await startSectorIdServer({ repo, listen: '127.0.0.1:0', auth: AUTH, minerId: 'f01000', authTimeoutMs: 1000, frameTimeoutMs: 1000, idleMs: 3000, writeTimeoutMs: 1500 });
  const port = Number(srv.address.slice(srv.address.lastIndexOf(':') + 1));
  // A big reservation makes every `info` answer ~40 KB, so non-readers fill their queues fast.
  const admin = new SectorIdClient({ address: srv.address, token: TOKEN });
  await admin.reserve(
    'big',
    Array.from({ length: 4000 }, (_, i): [number, number] => [1_000_000 + i * 3, 1_000_000 + i * 3 + 1]),
  );
  await admin.close();

  // 300 connections that claim a 60 KB frame and send it a byte every 100 ms, from three
  // addresses (one of them the good client's own), reconnecting 250 ms after being closed.
  const unauth = attack(port, 300, (i) => `127.0.0.${1 + (i % 3)}`, trickle(Buffer.from([0, 0, 0xf0, 0]), 100), 250);
  // 20 that authenticate with a valid write token, then trickle their next frame.
  const authed = attack(
    port,
    20,
    () => '127.0.0.4',
    (s) => {
      s.write(encodeFrame({ v: 1, id: `p-${Math.random()}`, token: WRITE_TOKEN, op: 'ping' }));
      return trickle(Buffer.from([0, 0, 0x01, 0]), 100)(s);
    },
    250,
  );
  // 3 that ask for 1000 answers of ~40 KB each and never read them.
  const nonReaders = await Promise.all(
    [0, 1, 2].map(
      () =>
        new Promise<{ sock: Socket; replies: number; closed: boolean }>((resolve) => {
          const h = { sock: connect({ host: '127.0.0.1', port, localAddress: '127.0.0.5' }), replies: 0, closed: false };
          const reader = new FrameReader(1 << 20);
          h.sock.on('error', () => {});
          h.sock.on('close', () => {
            h.closed = true;
          });
          h.sock.on('data', (d: Buffer) => {
            h.replies += reader.push(d).length;
          });
          h.sock.on('connect', () => {
            h.sock.pause();
            for (let i = 0; i < 1000; i++) h.sock.write(encodeFrame({ v: 1, id: `i${i}`, token: READ_TOKEN, op: 'info' }));
            resolve(h);
          });
        }),
    ),
  );
  await sleep(1000); // the attack is in full swing (and the non-readers' queues are full)

  const good = new SectorIdClient({ address: srv.address, token: WRITE_TOKEN, deadlineMs: 3000 });
  // A second good client shares an address with 100 of the tricklers.
  const neighbour = new SectorIdClient({ address: srv.address, token: WRITE_TOKEN, deadlineMs: 3000, backoffMinMs: 20 });
  const got: number[] = [];
  const latencies: number[] = [];
  // Each call must finish within its 3 s deadline (typically tens of ms; the first may wait
  // behind the encoding of the non-readers' answers on a loaded machine).
  const failures: string[] = [];
  for (let i = 0; i < 10; i++) {
    for (const c of [good, neighbour]) {
      const t0 = Date.now();
      try {
        got.push(...(await c.allocate(1)));
        latencies.push(Date.now() - t0);
        if (Date.now() - t0 > 300) t.log(`slow: ${c === good ? 'good' : 'neighbour'} #${i} ${Date.now() - t0} ms retries ${c.retries}`);
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
    await sleep(150);
  }
  // The non-readers were disconnected: after reading again they see the end, well short of 1000 answers.
  for (const h of nonReaders) h.sock.resume();
  await sleep(500);
  const conns = srv.connections();
  await Promise.all([unauth.stop(), authed.stop()]);
  await Promise.all([good.close(), neighbour.close()]);
  await srv.close();
  cleanup(repo);

  t.log(
    `good clients: ${latencies.length} allocations, max ${Math.max(...latencies)} ms, median ${latencies.sort((a, b) => a - b)[latencies.length >> 1]} ms; attack: ${unauth.connects()} + ${authed.connects()} connections; server held ${JSON.stringify(conns)} at the end`,
  );
  t.deepEqual(failures, []);
  t.is(got.length, 20);
  assertDistinct(got);
  for (const h of nonReaders) {
    t.true(h.closed, 'a peer that never read its answers was disconnected');
    t.true(h.replies < 1000, `it got ${h.replies} of 1000 answers`);
  }
  t.true(conns.unauthenticated <= 64, 'the unauthenticated budget held');
});
