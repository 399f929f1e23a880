// The seal pipeline end to end: real seal-miner processes, real worker processes, real
// proofs, the real sector-number service over TCP, and the embedded devnet as the chain
// (it verifies every prove-commit with verify_seal).
import { Auth } from '../../src/auth/index.js';
import test from 'ava';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSectorIdServer } from '../../src/sectorid/index.js';
import type { SectorView } from '../../src/sealing/service.js';
import { encodePreCommitBatch2 } from '../../src/chain/params.js';
import { MinerMethod } from '../../src/chain/builtin-actors.js';
import { b64 } from '../../src/chain/encoding.js';
import { commRToCid } from '../../src/proofs/index.js';
import { type Harness, startDevnet } from '../devnet/_harness.js';
import { MAIN, Proc, killAll, rpc, until } from '../helpers/procs.js';

const MINER_SCRIPT = fileURLToPath(new URL('../helpers/seal-miner.js', import.meta.url));
// The miners' API secret (as their repository's keystore holds it): the operator calls with an
// admin token, the seal workers hold only a write token.
const SECRET = randomBytes(32);
const auth = new Auth(SECRET);
const TOKEN = auth.issue('admin');
const WORKER_TOKEN = auth.issue('write');

test.after.always(killAll);

interface Cluster {
  dir: string;
  apiInfo: string;
  chain: Harness['client'];
  sectorid: string;
  close(): Promise<void>;
}

async function cluster(): Promise<Cluster> {
  const h = await startDevnet({ autoAdvance: true, blockDelayMs: 250 });
  mkdirSync(join(h.dir, 'sid'), { recursive: true });
  const sid = await startSectorIdServer({ repo: join(h.dir, 'sid'), listen: '127.0.0.1:0', auth, minerId: 'f01000' });
  return {
    dir: h.dir,
    apiInfo: h.apiInfo,
    chain: h.client,
    sectorid: sid.address,
    close: async () => {
      await sid.close();
      await h.close();
    },
  };
}

/** Pre-commits `n` with a made-up CommR from the miner's worker: the number is then allocated on chain. */
async function forgeAllocation(c: Cluster, n: number): Promise<void> {
  const info = await c.chain.stateMinerInfo('t01000');
  const params = encodePreCommitBatch2([
    {
      sealProof: 5,
      sectorNumber: n,
      sealedCid: { '/': commRToCid(Buffer.alloc(32, 7)) },
      sealRandEpoch: Math.max(0, (await c.chain.chainHead()).Height - 2),
      dealIds: [],
      expiration: 10_000_000,
      unsealedCid: null,
    },
  ]);
  const sm = await c.chain.mpoolPushMessage({ To: 't01000', From: info.Worker, Method: MinerMethod.PreCommitSectorBatch2, Params: b64(params) });
  const r = await c.chain.stateWaitMsg(sm.CID ?? sm.Message.CID!, 0, { timeoutMs: 30_000 });
  if (r.Receipt.ExitCode !== 0) throw new Error(`forged pre-commit failed with exit code ${r.Receipt.ExitCode}`);
}

function miner(c: Cluster, name: string, port = 0, grace = 5000): Proc {
  return new Proc(name, [
    MINER_SCRIPT,
    '--repo',
    join(c.dir, name),
    '--chain-api',
    c.apiInfo,
    '--sectorid',
    c.sectorid,
    '--token',
    TOKEN,
    '--secret',
    SECRET.toString('hex'),
    '--port',
    String(port),
    '--storage',
    join(c.dir, 'storage'),
    '--grace',
    String(grace),
  ]);
}

function worker(c: Cluster, name: string, port: number, extra: string[] = []): Proc {
  // Info level: the tests count the worker's 'task started' lines.
  return new Proc(name, [MAIN, 'worker', '--miner-api', `${WORKER_TOKEN}:/ip4/127.0.0.1/tcp/${port}/http`, '--dir', join(c.dir, name), '--cores', '2', '--memory', '8GiB', '--nice', '0', ...extra], {
    DISTMINER_LOG_LEVEL: 'info',
  });
}

const portOf = async (m: Proc) => Number((await m.waitFor(/^READY \d+/)).split(' ')[1]);
const list = (port: number) => rpc<SectorView[]>(`http://127.0.0.1:${port}`, TOKEN, 'SectorsList');

test.serial('two seal miners of one miner id seal with distinct numbers, each listing only its own', async (t) => {
  const c = await cluster();
  try {
    const a = miner(c, 'miner-a');
    const b = miner(c, 'miner-b');
    const [pa, pb] = await Promise.all([portOf(a), portOf(b)]);
    worker(c, 'worker-a', pa);
    worker(c, 'worker-b', pb);
    const [na, nb] = await Promise.all([rpc<number[]>(`http://127.0.0.1:${pa}`, TOKEN, 'SectorsPledge', [1]), rpc<number[]>(`http://127.0.0.1:${pb}`, TOKEN, 'SectorsPledge', [1])]);
    t.is(new Set([...na, ...nb]).size, 2, 'distinct numbers across the two miners');
    // Finalize comes before the ProveCommit: whenever a sector is live on chain, its sealed file
    // is already in the long-term storage the PoSt miners read (checked from the chain side).
    const liveWithoutFile: string[] = [];
    const seen = new Set<number>();
    let watching = true;
    const watch = { rounds: 0, slowestMs: 0, errors: [] as string[] };
    const watcher = (async () => {
      while (watching && seen.size < na.length + nb.length) {
        watch.rounds++;
        for (const n of [...na, ...nb]) {
          if (seen.has(n)) continue;
          const t0 = Date.now();
          const info = await c.chain.stateSectorGetInfo('t01000', n).catch((e: Error) => void watch.errors.push(e.message));
          watch.slowestMs = Math.max(watch.slowestMs, Date.now() - t0);
          if (!info) continue;
          seen.add(n);
          if (!existsSync(join(c.dir, 'storage', 'sealed', `s-t01000-${n}`))) liveWithoutFile.push(`sector ${n} live on chain before its sealed file reached the storage`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    for (const [port, nums] of [
      [pa, na],
      [pb, nb],
    ] as const) {
      const done = await until(
        async () => {
          const l = await list(port);
          return l.length === nums.length && l.every((s) => s.state === 'Proving') && l;
        },
        240_000,
        `sectors ${nums.join(',')} proving`,
      );
      t.deepEqual(
        done.map((s) => s.number),
        nums,
        'each miner lists only its own sectors',
      );
      for (const s of done) {
        t.truthy(s.sealedCid?.startsWith('bagboea4b5abc'));
        t.is(statSync(s.sealedPath!).size, 2048, 'sealed file moved to long-term storage');
        t.true(existsSync(join(c.dir, 'storage', 'cache', `s-t01000-${s.number}`, 'p_aux')));
      }
    }
    for (const [port, nums] of [
      [pa, na],
      [pb, nb],
    ] as const) {
      for (const n of nums) {
        const v = await rpc<SectorView>(`http://127.0.0.1:${port}`, TOKEN, 'SectorsStatus', [n]);
        const onChain = await c.chain.stateSectorGetInfo('t01000', n);
        t.truthy(onChain, `sector ${n} proven on the devnet`);
        t.is(onChain!.SealedCID['/'], v.sealedCid ?? '', 'the chain holds the CommR the miner sealed');
        t.true(
          v.log.some((l) => /ProveCommitSectors3 message/.test(l.note ?? '')),
          'proven with ProveCommitSectors3',
        );
      }
    }
    t.deepEqual(
      [...(await c.chain.stateMinerAllocated('t01000'))].sort((x, y) => x - y),
      [...na, ...nb].sort((x, y) => x - y),
      'exactly these numbers allocated on chain',
    );
    // The watcher stops once it has seen every sector live; it may have been mid-call when they
    // landed, so it gets a little longer than this loop to see them.
    await Promise.race([watcher, new Promise((r) => setTimeout(r, 20_000))]);
    watching = false;
    await watcher;
    t.is(seen.size, 2, `the chain watcher saw ${[...seen].join(',') || 'no sector'} live: ${JSON.stringify({ ...watch, errors: watch.errors.slice(-5) })}`);
    t.deepEqual(liveWithoutFile, []);
    for (const [port, [n]] of [
      [pa, na],
      [pb, nb],
    ] as const) {
      const v = await rpc<SectorView>(`http://127.0.0.1:${port}`, TOKEN, 'SectorsStatus', [n]);
      const states = v.log.map((x) => x.state);
      t.true(states.indexOf('FinalizeSector') < states.indexOf('SubmitCommit'), `finalized before the ProveCommit: ${states.join(' → ')}`);
    }
    const workers = await rpc<{ id: string; connected: boolean }[]>(`http://127.0.0.1:${pa}`, TOKEN, 'SealingWorkers');
    t.is(workers.length, 1, 'a worker belongs to one miner');
  } finally {
    await killAll();
    await c.close();
  }
});

test.serial('a chain rejection stops that sector with the reason; the others go on past their pre-commit', async (t) => {
  const c = await cluster();
  try {
    const m = miner(c, 'miner');
    const port = await portOf(m);
    worker(c, 'worker', port);
    // Forge: the next number the allocator gives is already allocated on chain.
    const [first] = await rpc<number[]>(`http://127.0.0.1:${port}`, TOKEN, 'SectorsPledge', [1]);
    await forgeAllocation(c, first + 1);
    const [second] = await rpc<number[]>(`http://127.0.0.1:${port}`, TOKEN, 'SectorsPledge', [1]);
    t.is(second, first + 1);
    const failed = await until(
      async () => {
        const s = await rpc<SectorView>(`http://127.0.0.1:${port}`, TOKEN, 'SectorsStatus', [second]);
        return s.state === 'PreCommitFailed' && s;
      },
      120_000,
      'the forged sector to fail',
    );
    // The chain's word for it: a pre-commit of this number with another CommR is on chain.
    t.regex(failed.failure!, /already allocated|pre-committed on chain with another CommR/);
    // The other sector goes on: its pre-commit lands and it waits for its seed (the rest of its
    // way, through Commit2 to Proving, is the first test's).
    const past = ['WaitSeed', 'Committing', 'SubmitCommit', 'CommitWait', 'FinalizeSector', 'Proving'];
    await until(async () => past.includes((await rpc<SectorView>(`http://127.0.0.1:${port}`, TOKEN, 'SectorsStatus', [first])).state), 120_000, 'the other sector past its pre-commit');
    t.is((await rpc<SectorView>(`http://127.0.0.1:${port}`, TOKEN, 'SectorsStatus', [second])).state, 'PreCommitFailed', 'not retried blindly');
  } finally {
    await killAll();
    await c.close();
  }
});

test.serial('kill -9 of the seal miner at random points: every sector resumes, none lost, none sealed twice', async (t) => {
  const c = await cluster();
  try {
    let m = miner(c, 'miner');
    const port = await portOf(m);
    const w = worker(c, 'worker', port);
    const numbers = await rpc<number[]>(`http://127.0.0.1:${port}`, TOKEN, 'SectorsPledge', [2]);
    const seen = new Set<string>();
    let kills = 0;
    for (let round = 0; round < 12; round++) {
      // Early rounds land in the quick steps and chain waits, later ones in Commit2.
      await new Promise((r) => setTimeout(r, round < 3 ? 200 + Math.random() * 800 : 1500 + Math.random() * 4000));
      const l = await list(port).catch(() => []);
      l.forEach((s) => seen.add(s.state));
      if (l.length === 2 && l.every((s) => s.state === 'Proving')) break;
      await m.kill9();
      kills++;
      m = miner(c, 'miner', port);
      await portOf(m);
    }
    const done = await until(
      async () => {
        const l = await list(port);
        return l.every((s) => s.state === 'Proving') && l;
      },
      300_000,
      'every sector proving after the kills',
    );
    t.true(kills >= 2, `killed ${kills} times`);
    t.deepEqual(done.map((s) => s.number).sort(), [...numbers].sort(), 'exactly the pledged sectors, none lost, none added');
    for (const n of numbers) t.truthy(await c.chain.stateSectorGetInfo('t01000', n), `sector ${n} proven on the devnet`);
    // The worker computed each step of each sector once, whatever the miner re-sent.
    for (const n of numbers) {
      for (const task of ['PreCommit1', 'PreCommit2', 'Commit2']) {
        const runs = w.logs((o) => o.msg === 'task started' && o.task === task && o.sector === n).length;
        t.is(runs, 1, `${task} of sector ${n} ran ${runs} times`);
      }
    }
    t.log(`states seen between kills: ${[...seen].join(', ')}`);
  } finally {
    await killAll();
    await c.close();
  }
});

test.serial('a worker killed mid-task: the task is reassigned and the sector completes', async (t) => {
  const c = await cluster();
  try {
    const m = miner(c, 'miner', 0, 1500);
    const port = await portOf(m);
    // w1 does everything but Commit2 is only on w2 — and w2 dies in the middle of it.
    worker(c, 'w1', port, ['--tasks', 'AddPiece,PreCommit1,PreCommit2,Commit1,Finalize']);
    const w2 = worker(c, 'w2', port, ['--tasks', 'Commit2']);
    const [n] = await rpc<number[]>(`http://127.0.0.1:${port}`, TOKEN, 'SectorsPledge', [1]);
    await w2.waitFor(/"task":"Commit2".*"msg":"task started"|"msg":"task started".*"task":"Commit2"/, 120_000);
    await w2.kill9();
    const w3 = worker(c, 'w3', port, ['--tasks', 'Commit2']);
    await until(async () => (await rpc<SectorView>(`http://127.0.0.1:${port}`, TOKEN, 'SectorsStatus', [n])).state === 'Proving', 240_000, 'sector proving');
    t.is(w3.logs((o) => o.msg === 'task done' && o.task === 'Commit2').length, 1, 'the replacement worker computed the proof');
    const status = await rpc<SectorView>(`http://127.0.0.1:${port}`, TOKEN, 'SectorsStatus', [n]);
    t.true(status.log.some((l) => l.state === 'Proving'));
  } finally {
    await killAll();
    await c.close();
  }
});
