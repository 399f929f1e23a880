// Deal logic without a server: packing with Filecoin's alignment rules, zero-piece and
// streaming CommP against the native proofs, client signatures (secp256k1 and BLS), proposal
// checks, Range parsing, and the deal-miner lease.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as proofs from '../../src/proofs/index.js';
import { DealMinerConflict, FileLeaseArbiter } from '../../src/deals/arbiter.js';
import { buildProposal } from '../../src/deals/client.js';
import { StreamingCommP, chunkedNativeCommP, jsFileCommP, nativeCommP, pieceSizeFor, zeroCommP } from '../../src/deals/commp.js';
import { keyFromKeyInfo, keyInfoOf, newClientKey, sign, verifySignature } from '../../src/deals/keys.js';
import { fillerSizes, packPieces, placements } from '../../src/deals/packing.js';
import { DealRejected, checkDealRequest, proposalCbor } from '../../src/deals/proposal.js';
import { parseRange } from '../../src/deals/server.js';

const P2K = proofs.RegisteredSealProof.StackedDrg2KiBV1_1;
const tmp = () => mkdtempSync(join(tmpdir(), 'dm-deals-'));
const piece = (id: string, size: number) => ({ id, size });

// ---------------------------------------------------------------- packing

test('packing: two 1016-byte pieces (1KiB padded) share one 2KiB sector, no fillers', (t) => {
  const plan = packPieces([piece('a', 1024), piece('b', 1024)], 2048)!;
  t.deepEqual(
    plan.pieces.map((p) => p.id),
    ['a', 'b'],
  );
  t.deepEqual(plan.fillers, []);
  t.is(plan.used, 2048);
});

test('packing: a 2032-byte piece (2KiB padded) fills a sector alone; the next waits', (t) => {
  const plan = packPieces([piece('a', 2048), piece('b', 1024)], 2048)!;
  t.deepEqual(
    plan.pieces.map((p) => p.id),
    ['a'],
  );
  t.deepEqual(plan.fillers, []);
  const next = packPieces([piece('b', 1024)], 2048)!;
  t.deepEqual(
    next.pieces.map((p) => p.id),
    ['b'],
  );
  t.deepEqual(next.fillers, [1024]);
});

test('packing: oldest first, younger small pieces fill the gaps; largest placed first so nothing needs alignment padding', (t) => {
  const q = [piece('a', 256), piece('b', 1024), piece('c', 1024), piece('d', 512), piece('e', 128)];
  const plan = packPieces(q, 2048)!;
  t.deepEqual(
    plan.pieces.map((p) => p.id),
    ['b', 'd', 'a', 'e'],
  ); // c does not fit after a, b
  t.is(plan.used, 1024 + 512 + 256 + 128);
  t.deepEqual(plan.fillers, [128]);
  const sizes = [...plan.pieces.map((p) => p.size), ...plan.fillers];
  t.true(placements(sizes).every((x) => x.padding === 0));
  t.is(
    sizes.reduce((a, b) => a + b, 0),
    2048,
  );
  // In queue order the same pieces would need padding: the reason for the ordering.
  t.true(placements([256, 1024]).some((x) => x.padding > 0));
});

test('packing: fillers fill any remainder of a big sector, aligned, smallest first', (t) => {
  const S = 32 * 2 ** 30;
  for (const used of [128, 2048 + 128, 2 ** 20 + 2 ** 12, S - 128]) {
    const f = fillerSizes(used, S);
    t.is(used + f.reduce((a, b) => a + b, 0), S);
    t.deepEqual(
      [...f].sort((a, b) => a - b),
      f,
    );
  }
  const plan = packPieces([piece('x', 2 ** 31), piece('y', 2 ** 30)], S)!;
  const sizes = [...plan.pieces.map((p) => p.size), ...plan.fillers];
  t.true(placements(sizes).every((x) => x.padding === 0));
  t.is(
    sizes.reduce((a, b) => a + b, 0),
    S,
  );
});

test('packing: empty queue gives null; a piece larger than the sector is never packed; bad sizes throw', (t) => {
  t.is(packPieces([], 2048), null);
  t.is(packPieces([piece('big', 4096)], 2048), null);
  t.throws(() => packPieces([piece('odd', 1000)], 2048), { message: /power of two/ });
  t.throws(() => packPieces([], 3000), { message: /power of two/ });
});

test('pieceSizeFor picks the smallest 127·2^k that holds the data', (t) => {
  t.is(pieceSizeFor(1), 128);
  t.is(pieceSizeFor(127), 128);
  t.is(pieceSizeFor(128), 256);
  t.is(pieceSizeFor(1016), 1024);
  t.is(pieceSizeFor(2032), 2048);
  t.is(pieceSizeFor(2033), 4096);
});

// ---------------------------------------------------------------- CommP

test('zero-piece CommP matches the native proofs', async (t) => {
  const dir = tmp();
  try {
    for (const padded of [128, 1024, 2048]) {
      const p = join(dir, `z${padded}`);
      writeFileSync(p, Buffer.alloc(proofs.unpaddedSize(padded)));
      t.true(zeroCommP(padded).equals(await nativeCommP(P2K, p, padded)), `zero piece ${padded}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('streaming JS CommP (data-segment) equals the native CommP, with zero fill for short data', async (t) => {
  const dir = tmp();
  try {
    const data = randomBytes(1500);
    const full = join(dir, 'full');
    writeFileSync(full, Buffer.concat([data, Buffer.alloc(2032 - 1500)]));
    const native = await nativeCommP(P2K, full, 2048);
    const short = join(dir, 'short');
    writeFileSync(short, data);
    t.true((await jsFileCommP(short, 2048)).equals(native));
    const h = new StreamingCommP();
    for (let i = 0; i < data.length; i += 97) h.write(data.subarray(i, i + 97));
    t.true(h.digest(2048).equals(native));
    t.throws(() => {
      const x = new StreamingCommP();
      x.write(Buffer.alloc(2033));
      x.digest(2048);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('chunked native CommP (bounded memory) equals the one-shot native CommP, zero tail skipped', async (t) => {
  const dir = tmp();
  try {
    const P8M = proofs.RegisteredSealProof.StackedDrg8MiBV1_1;
    const f = join(dir, 'piece');
    for (const dataBytes of [4064, 2500, 900]) {
      writeFileSync(f, Buffer.concat([randomBytes(dataBytes), Buffer.alloc(4064 - dataBytes)]));
      const whole = await nativeCommP(P8M, f, 4096);
      for (const chunk of [128, 1024, 2048]) {
        const c = await chunkedNativeCommP(P8M, f, 4096, { tmpPrefix: join(dir, 'x'), dataBytes, chunk });
        t.true(c.equals(whole), `data ${dataBytes}, chunk ${chunk}`);
      }
    }
    t.deepEqual((await import('node:fs')).readdirSync(dir), ['piece']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- keys and signatures

for (const type of ['secp256k1', 'bls'] as const) {
  test(`${type}: a signature verifies against the address; another key's or a changed message does not`, (t) => {
    const k = newClientKey(type);
    t.true(k.address.startsWith(type === 'bls' ? 't3' : 't1'));
    const msg = Buffer.from('deal proposal bytes');
    const sig = sign(k, msg);
    t.is(verifySignature(k.address, msg, sig), null);
    t.regex(verifySignature(k.address, Buffer.from('other bytes'), sig) ?? '', /not made by/);
    const other = newClientKey(type);
    t.regex(verifySignature(other.address, msg, sig) ?? '', /not made by/);
    const wrongType = { ...sig, Type: sig.Type === 1 ? 2 : 1 };
    t.regex(verifySignature(k.address, msg, wrongType) ?? '', /signs with/);
    // KeyInfo round trip keeps the address.
    t.is(keyFromKeyInfo(keyInfoOf(k)).address, k.address);
  });
}

test('secp256k1 signature is Filecoin-shaped: 65 bytes r‖s‖v', (t) => {
  const k = newClientKey('secp256k1');
  const d = Buffer.from(sign(k, Buffer.from('x')).Data, 'base64');
  t.is(d.length, 65);
  t.true(d[64] <= 3);
  const garbage = { Type: 1, Data: Buffer.alloc(65, 0xff).toString('base64') };
  t.truthy(verifySignature(k.address, Buffer.from('x'), garbage));
  t.regex(verifySignature('t01000', Buffer.from('x'), garbage) ?? '', /cannot sign/);
});

// ---------------------------------------------------------------- proposals

function request(overrides: Record<string, unknown> = {}, transferSize = 2032, key = newClientKey()) {
  const deal = buildProposal({ key, commP: randomBytes(32).fill(1, 31), pieceSize: 2048, provider: 't01000', startEpoch: 100, endEpoch: 1000 });
  Object.assign(deal.Proposal, overrides);
  deal.ClientSignature = sign(key, proposalCbor(deal.Proposal));
  return { deal, transferSize };
}
const ctx = { minerId: 't01000', sectorSize: 2048 };

test('a well-formed, signed proposal passes; f/t prefixes of the provider both match', (t) => {
  const key = newClientKey();
  const ok = request({}, 2032, key);
  const c = checkDealRequest(ok, ctx);
  t.is(c.pieceSize, 2048);
  t.regex(c.proposalCid, /^bafy2bza/);
  t.truthy(checkDealRequest(ok, { ...ctx, minerId: 'f01000' }));
});

test('proposal checks: each bad field is refused with its reason and status', (t) => {
  const rej = (body: unknown, status: number, re: RegExp) => {
    const e = t.throws(() => checkDealRequest(body, ctx), { instanceOf: DealRejected });
    t.is(e?.status, status, e?.message);
    t.regex(e?.message ?? '', re);
  };
  rej({}, 400, /body must be/);
  rej(request({ PieceSize: 4096 }), 413, /larger than this miner's sector size 2048/);
  rej(request({ PieceSize: 1000 }), 400, /power of two/);
  rej(request({ Provider: 't01001' }), 404, /takes deals for miner t01000, not t01001/);
  rej(request({ PieceCID: { '/': 'bafy2bzacea' } }), 400, /not a piece CID/);
  rej(request({ EndEpoch: 50 }), 400, /EndEpoch/);
  rej(request({ StoragePricePerEpoch: '-1' }), 400, /must not be negative/);
  rej(request({}, 2033), 400, /transferSize must be an integer from 1 to 2032/);
  const tampered = request();
  tampered.deal.Proposal.Label = 'changed after signing';
  rej(tampered, 401, /bad client signature: the signature was not made by/);
});

// ---------------------------------------------------------------- ranges

test('Range parsing: forms, clamping, unsatisfiable, ignored multi-range', (t) => {
  t.deepEqual(parseRange('bytes=0-99', 2032), [0, 99]);
  t.deepEqual(parseRange('bytes=2000-', 2032), [2000, 2031]);
  t.deepEqual(parseRange('bytes=-32', 2032), [2000, 2031]);
  t.deepEqual(parseRange('bytes=100-99999', 2032), [100, 2031]);
  t.is(parseRange('bytes=2032-', 2032), 'invalid');
  t.is(parseRange('bytes=5-4', 2032), 'invalid');
  t.is(parseRange('bytes=-0', 2032), 'invalid');
  t.is(parseRange('items=0-1', 2032), 'invalid');
  t.is(parseRange('bytes=0-1,5-6', 2032), null);
});

// ---------------------------------------------------------------- arbiter

test('lease arbiter: a second claim is refused; release frees it; a dead holder on this host is taken over at once', async (t) => {
  const dir = tmp();
  try {
    const a = new FileLeaseArbiter(dir, { leaseMs: 5000 });
    await a.claim('t01000', 'first');
    const b = new FileLeaseArbiter(dir, { leaseMs: 5000 });
    const e = await t.throwsAsync(b.claim('t01000', 'second'), { instanceOf: DealMinerConflict });
    t.regex(e?.message ?? '', /another deal miner for t01000 is running: "first"/);
    await b.claim('t01001', 'other miner'); // other miner ids are independent
    await b.release();
    await a.release();
    t.false(existsSync(join(dir, 'deal-miner-t01000.lease')));
    await b.claim('t01000', 'second');
    await b.release();
    // A claim of a process that no longer exists on this host.
    const lease = {
      minerId: 't01000',
      holder: 'dead',
      host: (await import('node:os')).hostname(),
      pid: 2 ** 22 + 12345,
      nonce: 'x',
      claimedAt: 0,
      renewedAt: Date.now(),
      expiresAt: Date.now() + 60_000,
    };
    writeFileSync(join(dir, 'deal-miner-t01000.lease'), JSON.stringify(lease));
    const c = new FileLeaseArbiter(dir, { leaseMs: 5000 });
    await c.claim('t01000', 'successor');
    await c.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lease arbiter: a claim from another host is honoured until its lease expires, then taken over; the loser hears of it', async (t) => {
  const dir = tmp();
  try {
    let lost = '';
    const remote = new FileLeaseArbiter(dir, { leaseMs: 300, host: 'host-a', onLost: (by) => (lost = by) });
    await remote.claim('t01000', 'remote');
    const local = new FileLeaseArbiter(dir, { leaseMs: 300, host: 'host-b' });
    await t.throwsAsync(local.claim('t01000', 'local'), { message: /on host host-a/ });
    await new Promise((r) => setTimeout(r, 250));
    await t.throwsAsync(local.claim('t01000', 'local'), { message: /another deal miner/ }); // renewed meanwhile
    // The remote host hangs: renewals stop (simulated by stopping its timer without releasing).
    (remote as unknown as { stop(): void }).stop();
    await new Promise((r) => setTimeout(r, 400));
    await local.claim('t01000', 'local');
    t.is(lost, '');
    // A holder that finds its lease taken reports it on its next renewal.
    const dir2 = tmp();
    const x = new FileLeaseArbiter(dir2, { leaseMs: 150, host: 'h1', onLost: (by) => (lost = by) });
    await x.claim('t01000', 'x');
    rmSync(join(dir2, 'deal-miner-t01000.lease'));
    await new Promise((r) => setTimeout(r, 200));
    t.regex(lost, /nobody/);
    await local.release();
    rmSync(dir2, { recursive: true, force: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lease arbiter: claimants racing for one stale lease (12 threads, 150 rounds): exactly one wins each round', async (t) => {
  const dir = tmp();
  const { Worker } = await import('node:worker_threads');
  const mod = new URL('../../src/deals/arbiter.js', import.meta.url).href;
  const sab = new SharedArrayBuffer(4);
  const flag = new Int32Array(sab);
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    (async () => {
      const { FileLeaseArbiter } = await import(workerData.mod);
      const flag = new Int32Array(workerData.sab);
      let a;
      for (let round = 1; round <= workerData.rounds; round++) {
        while (Atomics.load(flag, 0) < round) Atomics.wait(flag, 0, round - 1, 100);
        a = new FileLeaseArbiter(workerData.dir, { leaseMs: 60000, host: 'racer-' + workerData.i });
        let won = false;
        try { await a.claim('t01000', 'racer ' + workerData.i); won = true; } catch (e) { a = undefined; if (e.name !== 'DealMinerConflict') throw e; }
        parentPort.postMessage({ round, won });
        await new Promise((r) => parentPort.once('message', r)); // 'release'
        await a?.release();
        parentPort.postMessage('released');
      }
    })();`;
  const N = 12;
  const ROUNDS = 150;
  const workers = Array.from({ length: N }, (_, i) => new Worker(code, { eval: true, workerData: { mod, sab, dir, i, rounds: ROUNDS } }));
  let failed: ((e: Error) => void) | undefined;
  const crashed = new Promise<never>((_, rej) => (failed = rej));
  for (const w of workers) w.on('error', (e) => failed!(e));
  const next = (w: InstanceType<typeof Worker>) => Promise.race([crashed, new Promise<unknown>((res) => w.once('message', res))]);
  try {
    const doubles: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      // A lease left by a host that stopped renewing: every racer may take it over, one must.
      const now = Date.now();
      writeFileSync(
        join(dir, 'deal-miner-t01000.lease'),
        JSON.stringify({ minerId: 't01000', holder: 'hung', host: 'gone', pid: 1, nonce: `stale${round}`, claimedAt: 0, renewedAt: now - 120_000, expiresAt: now - 60_000 }),
      );
      const results = workers.map(next);
      Atomics.store(flag, 0, round);
      Atomics.notify(flag, 0);
      const won = ((await Promise.all(results)) as Array<{ won: boolean }>).filter((r) => r.won).length;
      if (won !== 1) doubles.push(won);
      const released = workers.map(next);
      for (const w of workers) w.postMessage('release');
      await Promise.all(released);
    }
    t.deepEqual(doubles, [], 'rounds with a winner count other than 1');
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
    rmSync(dir, { recursive: true, force: true });
  }
});
