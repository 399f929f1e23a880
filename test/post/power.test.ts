// Two miners of different power on one devnet, each mined by its own real
// `distminer run --roles=winning-post` process: every round, each miner produces a block
// exactly when the chain's election says it won (recomputed here from the chain and the
// worker's deterministic BLS VRF, same win count), every block verifies (the devnet checked it;
// the test checks its Winning PoSt again), and the election hands out wins in proportion to
// power. Then two hosts of one miner id mine it at once for availability, sharing a slash
// filter in PostgreSQL (src/post/slash-filter.ts): one block per epoch, and when one host is
// killed the other mines on.
//
// The devnet's genesis seed and BLS keys are random per run, so the election is not
// deterministic across runs: the proportion is a statistical check, with the bound below.
// The setup (sectors committed, first Window PoSts) is advanced by hand on a chain whose
// genesis lies in the past; once it has caught up with the wall clock the devnet's own clock
// runs it, because the miners mine like lotus-miner: a round once its base's time (plus the
// propagation delay) has come, a block broadcast at its timestamp. The block delay leaves room
// for both miners' Winning PoSts at once on 2 cores; timing under sealing load is what
// cluster.test.ts checks.
//
// Run under scripts/proof-lock.sh.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as proofs from '../../src/proofs/index.js';
import { encodeProveCommitOne } from '../../src/chain/params.js';
import { winningPoStRandomness, randomnessBeacon } from '../../src/chain/mining.js';
import { ExitCode, MinerMethod } from '../../src/chain/builtin-actors.js';
import { b64 } from '../../src/chain/encoding.js';
import { WindowPoStScheduler } from '../../src/post/window.js';
import { startDevnet } from '../devnet/_harness.js';
import { electionWins, logLines, minerRepo, runMiner, workerKey } from '../helpers/cluster.js';
import { type Proc, killAll, until } from '../helpers/procs.js';
import { startPostgres } from '../sectorid/helpers.js';
import { type SealedSector, pieceManifest, preCommitFixture, sealedSectors } from '../helpers/sealed.js';
import { POST_POLICY, placeSector } from './_setup.js';

const A = 't01000'; // 2 sectors: 2/3 of the power
const B = 't01001'; // 1 sector: 1/3
/** Rounds the two processes mine. */
const MINED_ROUNDS = 6;
/** Two Winning PoSts at once (≈ 7.5 s each alone on 2 cores) and a Window PoSt may share an epoch. */
const BLOCK_DELAY_MS = 25_000;
/** Genesis this many epochs in the past: the setup by hand ends at about epoch 16 (measured), behind the clock. */
const SETUP_EPOCHS = 36;
/**
 * Rounds 1..100 of the chain for the proportion check: with λ = 5 expected wins per round,
 * A's wins ~ Poisson(333.3) and B's ~ Poisson(166.7) over 100 rounds; given their sum T, A's
 * share is Binomial(T, 2/3). |share − 2/3| > 0.12 has probability 1.95e-8 (computed exactly:
 * sum over T of Poisson(500; T) × the binomial tails); an election blind to power (share 1/2)
 * fails the check with probability 0.98.
 */
const STAT_ROUNDS = 100;
/** Rounds each phase of the two-host (HA) part mines: both hosts up, then one killed. */
const HA_ROUNDS = 3;
const SHARE_TOLERANCE = 0.12;

test.after.always(killAll);

test.serial('two miners win blocks in proportion to their power; every block verifies; two hosts of one miner sharing a slash filter send one block per epoch and survive a kill -9', async (t) => {
  t.timeout(16 * 60_000);
  const fa = await sealedSectors(2);
  const fb = await sealedSectors(1, 1001);
  const pin = (s: SealedSector) => ({ miner: s.minerId, sector: s.sectorNumber, ticket: s.ticket.toString('hex'), seed: s.seed.toString('hex') });
  const h = await startDevnet({
    miners: 2,
    policy: POST_POLICY,
    blockDelayMs: BLOCK_DELAY_MS,
    autoAdvance: false,
    genesisTimeMs: Date.now() - SETUP_EPOCHS * BLOCK_DELAY_MS,
    pinnedSealRandomness: [...fa, ...fb].map(pin),
  });
  const d = h.devnet;
  const c = h.client;
  const root = mkdtempSync(join(tmpdir(), 'distminer-power-'));
  const schedulers: WindowPoStScheduler[] = [];
  t.teardown(async () => {
    await killAll();
    await Promise.all(schedulers.map((s) => s.stop()));
    await h.close();
    rmSync(root, { recursive: true, force: true });
  });

  // ---- both miners' sectors pre-committed and prove-committed (pinned seal randomness)
  await d.advanceTo(2);
  const miners = [
    { addr: A, fixture: fa, storage: join(root, 'storage-a') },
    { addr: B, fixture: fb, storage: join(root, 'storage-b') },
  ];
  const push = async (to: string, method: number, params: Buffer) => (await c.mpoolPushMessage({ To: to, From: (await c.stateMinerInfo(to)).Worker, Method: method, Params: b64(params) })).CID!;
  const pcs = await Promise.all(miners.map((m) => push(m.addr, MinerMethod.PreCommitSectorBatch2, preCommitFixture(m.fixture, 1))));
  await d.advance();
  for (const cid of pcs) t.is(d.lookup(cid)?.Receipt.ExitCode, ExitCode.Ok, JSON.stringify(d.lookup(cid)?.ReturnDec));
  await d.advanceTo(d.head().Height + POST_POLICY.preCommitChallengeDelay);
  const prs = await Promise.all(miners.flatMap((m) => m.fixture.map((s) => push(m.addr, MinerMethod.ProveCommitSectors3, encodeProveCommitOne(s.sectorNumber, s.proofBytes, pieceManifest(s))))));
  await d.advance();
  for (const cid of prs) t.is(d.lookup(cid)?.Receipt.ExitCode, ExitCode.Ok, JSON.stringify(d.lookup(cid)?.ReturnDec));

  // ---- power: each miner's first Window PoSt (in-process schedulers, kept on to hold it)
  for (const m of miners) {
    for (const s of m.fixture) placeSector(s, m.storage);
    const w = new WindowPoStScheduler({ client: c, miner: m.addr, storage: [m.storage], confidence: 1 });
    await w.start();
    schedulers.push(w);
  }
  const settle = async (height: number) => Promise.all(schedulers.map((w) => w.settled(height)));
  const power = async (m: string) => BigInt((await c.stateMinerPower(m)).MinerPower.RawBytePower);
  for (let i = 0; i < 40 && ((await power(A)) === 0n || (await power(B)) === 0n); i++) {
    await settle((await d.advance()).Height);
    await new Promise((r) => setTimeout(r, 100)); // receipts polled by the schedulers
  }
  const pa = await power(A);
  const pb = await power(B);
  t.is(pa, 4096n);
  t.is(pb, 2048n);
  const total = pa + pb;

  // ---- up to the wall clock by hand (the schedulers keep the power), then the devnet's clock,
  // then the two Winning PoSt processes
  const setupHeight = d.head().Height;
  if (d.timestampOf(setupHeight) * 1000 > Date.now()) throw new Error(`the setup ended at epoch ${setupHeight}, ahead of the wall clock: raise SETUP_EPOCHS`);
  while ((d.timestampOf(d.head().Height + 1) + BLOCK_DELAY_MS / 1000) * 1000 <= Date.now()) await settle((await d.advance()).Height);
  d.startClock();
  await until(async () => d.timestampOf(d.head().Height + 1) * 1000 > Date.now(), 2 * BLOCK_DELAY_MS, 'the clock catching up');
  const procs = miners.map((m) => {
    const repo = minerRepo(join(root, `repo-${m.addr}`), m.addr, { chainApi: h.apiInfo, storage: m.storage });
    return runMiner(`winning-post ${m.addr}`, repo.path, ['--roles=winning-post']);
  });
  await Promise.all(procs.map((p) => p.waitFor(/"msg":"winning PoSt miner started"/, 60_000)));
  // A miner's first round starts wherever in its epoch the process came up, and a proof runs to
  // its end (≈ 15 s with both miners proving at once): the round after it can start late too.
  // Counted from the third round on, every round starts on time.
  const first = d.head().Height + 3;
  const last = first + MINED_ROUNDS - 1;
  await until(async () => d.head().Height >= last, (MINED_ROUNDS + 4) * BLOCK_DELAY_MS, `head ${last}`);
  d.stopClock();
  await Promise.all(procs.map((p) => p.stop()));
  t.is(await power(A), pa, 'power held');
  t.is(await power(B), pb, 'power held');

  for (const [i, m] of miners.entries()) {
    const rounds = logLines<{ round: number; base: number; outcome: string; proofMs?: number; slackMs?: number }>(procs[i], 'winning PoSt round');
    t.log(`${m.addr} rounds (round/base:outcome): ${rounds.map((r) => `${r.round}/${r.base}:${r.outcome}${r.slackMs !== undefined ? `(${r.proofMs} ms, slack ${r.slackMs} ms)` : ''}`).join(' ')}`);
  }
  t.log(`setup by hand to epoch ${setupHeight}; miners up at head ${first - 3}: rounds ${first}..${last} counted`);

  // ---- every round: a block exactly when elected, with the elected win count; every block verifies
  const workers = new Map(await Promise.all(miners.map(async (m) => [m.addr, await workerKey(c, m.addr)] as const)));
  const blocks = new Map<string, number>();
  const wins = new Map<string, number>();
  for (let r = first; r <= last; r++) {
    const ts = await c.chainGetTipSetByHeight(r, null);
    const parent = await c.chainGetTipSetByHeight(r - 1, null);
    for (const [i, m] of miners.entries()) {
      const w = await electionWins(c, m.addr, workers.get(m.addr)!, r, m.addr === A ? pa : pb, total, d.expectedLeaders);
      const mine = ts.Blocks.filter((b) => b.Miner === m.addr);
      const lines = logLines<{ round: number; base: number; outcome: string; wins?: number; error?: string }>(procs[i], 'winning PoSt round').filter((x) => x.round === r);
      const line = lines.find((x) => x.base === r - 1);
      t.is(line?.outcome, w >= 1 ? 'mined' : 'lost', `${m.addr} round ${r} on ${r - 1}: ${JSON.stringify(lines)}`);
      t.is(mine.length, w >= 1 ? 1 : 0, `${m.addr} round ${r}: elected with ${w} wins, ${mine.length} block(s)`);
      if (mine.length !== 1) continue;
      const b = mine[0];
      t.is(b.ElectionProof?.WinCount, w);
      blocks.set(m.addr, (blocks.get(m.addr) ?? 0) + 1);
      wins.set(m.addr, (wins.get(m.addr) ?? 0) + w);
      // The Winning PoSt again, here: the challenged sectors from the chain, the proof from the block.
      const base = await c.minerGetBaseInfo(m.addr, r, parent.Cids);
      const rand = winningPoStRandomness(randomnessBeacon(base!.PrevBeaconEntry, b.BeaconEntries), r, m.addr);
      const replicas = base!.Sectors.map((s) => ({
        sectorNumber: s.SectorNumber,
        commR: proofs.cidToCommR(s.SealedCID['/']),
        postProof: proofs.winningPoStProofFor(s.SealProof as proofs.RegisteredSealProof),
      }));
      const v = await proofs.verifyWinningPoSt(
        rand,
        replicas,
        b.WinPoStProof.map((p) => ({ postProof: p.PoStProof, proofBytes: Buffer.from(p.ProofBytes, 'base64') })),
        proofs.proverIdFromMinerId(Number(m.addr.slice(2))),
      );
      t.true(v.valid, `${m.addr} block at ${r}: ${v.reason ?? ''}`);
    }
  }
  t.log(`rounds ${first}..${last}: blocks ${A} ${blocks.get(A) ?? 0} (wins ${wins.get(A) ?? 0}), ${B} ${blocks.get(B) ?? 0} (wins ${wins.get(B) ?? 0})`);
  // P(B, with λ = 5/3 per round, never elected in 6 rounds) = e^-10 = 4.5e-5.
  t.true((blocks.get(A) ?? 0) >= 1 && (blocks.get(B) ?? 0) >= 1, 'both miners mined');

  // ---- two Winning PoSt hosts of one miner id (A), for availability, sharing a slash filter in
  // PostgreSQL: both prove every round A wins, exactly one block goes out per epoch (the other
  // host's is dropped by the filter, never refused by the chain as a second block), and when
  // one host is killed the other mines the very next round it wins.
  const pg = await startPostgres();
  t.teardown(() => pg.stop());
  const catchUp = async () => {
    while ((d.timestampOf(d.head().Height + 1) + BLOCK_DELAY_MS / 1000) * 1000 <= Date.now()) await settle((await d.advance()).Height);
  };
  await catchUp();
  d.startClock();
  const haRepo = (name: string) => minerRepo(join(root, name), A, { chainApi: h.apiInfo, storage: miners[0].storage });
  const hosts = ['ha-1', 'ha-2'].map((name) => runMiner(`winning-post ${A} ${name}`, haRepo(name).path, ['--roles=winning-post'], { DISTMINER_SLASH_FILTER: pg.url }));
  await Promise.all(hosts.map((p) => p.waitFor(/"msg":"winning PoSt miner started"/, 60_000)));
  const haFirst = d.head().Height + 3; // as above: from the third round on, every round starts on time
  const haKill = haFirst + HA_ROUNDS;
  await until(async () => d.head().Height >= haKill - 1, (HA_ROUNDS + 4) * BLOCK_DELAY_MS, `head ${haKill - 1}`);
  // The host that sent the last block is killed: the other must take over.
  const sent = (p: Proc) => logLines<{ round: number; outcome: string }>(p, 'winning PoSt round').filter((x) => x.outcome === 'mined');
  const lastSent = (p: Proc) => Math.max(-1, ...sent(p).map((x) => x.round));
  const victim = lastSent(hosts[0]) >= lastSent(hosts[1]) ? 0 : 1;
  await hosts[victim].kill9();
  const killedAt = d.head().Height;
  const haLast = killedAt + 1 + HA_ROUNDS;
  await until(async () => d.head().Height >= haLast, (HA_ROUNDS + 4) * BLOCK_DELAY_MS, `head ${haLast}`);
  d.stopClock();
  await hosts[1 - victim].stop();
  const haLines = hosts.map((p) => logLines<{ round: number; base: number; outcome: string; err?: string }>(p, 'winning PoSt round'));
  for (const [i, lines] of haLines.entries())
    t.log(
      `${A} host ${i + 1}${i === victim ? ' (killed after head ' + killedAt + ')' : ''}: ${lines.map((r) => `${r.round}/${r.base}:${r.outcome}${r.outcome === 'failed' ? `(${r.err})` : ''}`).join(' ')}`,
    );
  let elected = 0;
  let dropped = 0;
  for (let r = haFirst; r <= haLast; r++) {
    const w = await electionWins(c, A, workers.get(A)!, r, pa, total, d.expectedLeaders);
    const mine = (await c.chainGetTipSetByHeight(r, null)).Blocks.filter((b) => b.Miner === A);
    t.true(mine.length <= 1, `round ${r}: ${mine.length} blocks of ${A}`);
    if (w < 1) continue;
    elected++;
    // The round right after the kill may have been proven by the victim alone; from the next one on, the survivor's.
    if (r === killedAt + 1) continue;
    t.is(mine.length, 1, `round ${r}: elected with ${w} wins: ${JSON.stringify(haLines.map((l) => l.filter((x) => x.round === r)))}`);
    const outcomes = haLines.map((l) => l.find((x) => x.round === r && x.base === r - 1)?.outcome);
    if (r < killedAt) {
      t.deepEqual([...outcomes].sort(), ['mined', 'other-host'], `round ${r}: one host sent, the other's block was dropped by the shared filter: ${JSON.stringify(outcomes)}`);
      dropped++;
    } else if (r > killedAt + 1) t.is(outcomes[1 - victim], 'mined', `round ${r}: the surviving host mined`);
  }
  for (const lines of haLines) for (const x of lines) t.notRegex(x.err ?? '', /already has a block/, `round ${x.round}: a second block reached the chain node`);
  t.log(`HA rounds ${haFirst}..${haLast}: ${A} elected in ${elected}; ${dropped} second blocks dropped by the shared slash filter before the kill`);
  t.true(dropped >= 1, 'the shared filter dropped a second block at least once');

  // ---- the election's proportion: rounds 1..100 at these powers (epochs beyond the mined
  // ones are advanced without miners; only their beacons matter here)
  await Promise.all(schedulers.map((s) => s.stop()));
  await d.advanceTo(STAT_ROUNDS);
  let wa = 0;
  let wb = 0;
  for (let r = 1; r <= STAT_ROUNDS; r++) {
    wa += await electionWins(c, A, workers.get(A)!, r, pa, total, d.expectedLeaders);
    wb += await electionWins(c, B, workers.get(B)!, r, pb, total, d.expectedLeaders);
  }
  const share = wa / (wa + wb);
  t.log(`election over ${STAT_ROUNDS} rounds: ${A} ${wa} wins, ${B} ${wb} wins: share ${share.toFixed(3)} for 2/3 of the power`);
  t.true(Math.abs(share - 2 / 3) <= SHARE_TOLERANCE, `share ${share.toFixed(3)} within ${SHARE_TOLERANCE} of 2/3`);
});
