// The long tier (`npm run test:lotus:long`, DISTMINER_LOTUS_TIER=long; hours of chain, not in
// CI): a miner distminer creates on real Lotus, through a whole proving period.
//
// The tier's devnet (scripts/test-lotus.sh) starts its genesis 12 h in the past and gives most of
// the power to t01002, which mines no block and which a `distminer post window` keeps proven:
// most rounds are null, and a null round costs no wait while the chain is behind the wall clock,
// so its epochs pass as fast as the few winners' Winning PoSts allow (0.7–0.9 epochs a second
// here, against one per 6–10 s in the CI tier) and a proving period of 2,880 epochs takes about
// an hour, not five to eight.
//
// What is checked, against Lotus's state:
// - the new miner (`distminer init --create-miner`, then `distminer run` with the window-post
//   and seal roles and a [Fees] cap) seals 2 sectors; one sector's file is lost before its first
//   Window PoSt;
// - PoSt messages go from the control address set on chain (like `lotus-miner actor control set`);
// - the first Window PoSt of the sectors' deadline (exit code 0, at most 3 partitions) activates
//   the power of the sector it proves; the lost one is faulty (declared with DeclareFaults ahead
//   of the cutoff, or skipped in the proof when the deadline came too soon to declare);
// - the file comes back, distminer declares it recovered at once (DeclareFaultsRecovered, for
//   the deadline's next occurrence a period ahead), and that occurrence proves both: no fault,
//   full power;
// - t01002's sectors (pre-sealed by lotus-seed, proven by distminer) are proven in every deadline
//   occurrence of the run;
// - last (see step 6), `distminer run` with every role: the new miner's blocks, its power long
//   past the election lookback, are in the heaviest chain Lotus follows.
import test from 'ava';
import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addressBytes } from '../../src/chain/address.js';
import { ExitCode, MinerMethod } from '../../src/chain/builtin-actors.js';
import { cborEncode } from '../../src/chain/cbor.js';
import { ChainClient } from '../../src/chain/client.js';
import type { Cid } from '../../src/chain/cid.js';
import { b64, fromB64 } from '../../src/chain/encoding.js';
import { decodeWindowPoSt } from '../../src/chain/params.js';
import type { SectorView } from '../../src/sealing/service.js';
import { mergeFigures } from '../helpers/lotus-figures.js';
import { chainMoving, createMiner, sealWorker } from '../helpers/lotus-miner.js';
import { MAIN, Proc, killAll, rpc, until } from '../helpers/procs.js';

const API = process.env.FULLNODE_API_INFO;
if (!API) throw new Error('run this file through `npm run test:lotus:long` (scripts/test-lotus.sh)');
const LONG = process.env.DISTMINER_LOTUS_TIER === 'long';
const chain = new ChainClient(API, { timeoutMs: 60_000, retryAfterMs: 1000 });
const started = Date.now();
const figures: Record<string, unknown> = {};
const PERIOD = 2880;
/** New miners created to choose from (see step 1), and the epochs from creation to active sectors allowed for (≈450 measured). */
const CANDIDATES = 4;
const SEAL_EPOCHS = 700;

test.after.always(async () => {
  await killAll();
  if (LONG) mergeFigures({ ...figures, seconds: Math.round((Date.now() - started) / 1000) });
});

const head = async () => (await chain.chainHead()).Height;

/** The new miners created (step 1), the one used among them. */
const candidates: string[] = [];

/**
 * Why the chain stopped, for the failure message: every miner's power and what lotus-miner last
 * said about a round. (If t01000 loses its power — a Window PoSt that found no tipset in its
 * window — nobody is left to make blocks: t01002 mines none.)
 */
async function stallReport(): Promise<string> {
  const out: string[] = [];
  for (const m of ['t01000', 't01001', 't01002', ...candidates]) {
    const p = await chain.stateMinerPower(m).catch(() => undefined);
    if (p) out.push(`${m} ${p.MinerPower.QualityAdjPower}/${p.TotalPower.QualityAdjPower}`);
  }
  const dir = process.env.LOTUS_DEVNET_DIR;
  const mineOne = dir
    ? readFileSync(join(dir, 'miner.log'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('mineOne') || l.includes('mining block failed'))
        .slice(-2)
        .join('\n')
    : '';
  return `quality-adjusted power: ${out.join(', ')}\nlotus-miner's last rounds:\n${mineOne.slice(0, 2000)}`;
}

/**
 * Waits until the chain's head reaches `h`, logging progress every few minutes; fails at once
 * when the chain has not moved for STALL_MS (a stopped chain never gets there).
 */
async function reach(h: number, what: string, log: (s: string) => void, timeoutMs = 150 * 60_000): Promise<void> {
  let last = Date.now();
  let seen = -1;
  let movedAt = Date.now();
  await until(
    async () => {
      const now = await head();
      if (now !== seen) [seen, movedAt] = [now, Date.now()];
      else if (Date.now() - movedAt > STALL_MS) throw new Error(`the chain stopped at ${now} for ${STALL_MS / 60_000} min while waiting for ${h} (${what})\n${await stallReport()}`);
      if (Date.now() - last > 180_000) {
        log(`head ${now}, waiting for ${h} (${what})`);
        last = Date.now();
      }
      return now >= h || undefined;
    },
    timeoutMs,
    `epoch ${h} (${what})`,
  );
}
const STALL_MS = 5 * 60_000;

/** The epoch a message executed at: the height of the tipset that carried it (Lotus's lookup names the next one, which holds its receipt). */
async function executedAt(l: { TipSet: Cid[] }): Promise<number> {
  const receiptTs = await chain.chainGetTipSet(l.TipSet);
  return (await chain.chainGetTipSet(receiptTs.Blocks[0].Parents)).Height;
}

/** Waits for a message's receipt on the real chain; its height. */
async function landed(cid: Cid, what: string): Promise<number> {
  const l = await chain.stateWaitMsg(cid, 0, { timeoutMs: 5 * 60_000 });
  if (l.Receipt.ExitCode !== ExitCode.Ok) throw new Error(`${what}: exit code ${l.Receipt.ExitCode}`);
  return l.Height;
}

/** Like `lotus-miner actor control set`: a new funded key, then ChangeWorkerAddress from the owner. */
async function setControlAddress(miner: string): Promise<{ id: string; key: string }> {
  const info = await chain.stateMinerInfo(miner);
  const key = await chain.call<string>('WalletNew', ['bls']);
  const funder = await chain.call<string>('WalletDefaultAddress', []);
  const fund = await chain.mpoolPushMessage({ From: funder, To: key, Method: 0, Value: (10n ** 18n).toString() });
  await landed(fund.CID!, 'funding the control address');
  const params = cborEncode([addressBytes(info.Worker), [addressBytes(key)]]);
  const owner = await chain.stateAccountKey(info.Owner);
  const set = await chain.mpoolPushMessage({ From: owner, To: miner, Method: 3 /* ChangeWorkerAddress */, Params: b64(params) });
  await landed(set.CID!, 'ChangeWorkerAddress');
  const ctl = (await chain.stateMinerInfo(miner)).ControlAddresses;
  if (ctl.length !== 1) throw new Error(`control addresses on chain: ${JSON.stringify(ctl)}`);
  return { id: ctl[0], key };
}

(LONG ? test : test.skip)('a new miner through a whole proving period: first Window PoSt, a lost sector faulty then recovered, blocks after the lookback', async (t) => {
  t.timeout(170 * 60_000);
  const log = (s: string) => t.log(`[${Math.round((Date.now() - started) / 1000)} s] ${s}`);
  figures.lotus_version = (await chain.version()).Version;
  const dir = mkdtempSync(join(tmpdir(), 'distminer-lotus-long-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const env = { ...process.env, FULLNODE_API_INFO: API, DISTMINER_LOG_LEVEL: 'info' };

  // 1. The miner, its control address and fee caps, its seal worker; 2 sectors. A new miner's
  // proving period starts at an offset drawn from its address and creation epoch (builtin-actors
  // assign_proving_period_offset), and an empty miner's sectors go to deadline 0 (its first
  // mutable one): the first Window PoSt can come anywhere up to a whole period after the sectors.
  // Of CANDIDATES miners created at once, the test uses the one whose deadline 0 opens soonest
  // after the sectors can be active (≈ PERIOD / (CANDIDATES + 1) epochs of wait, not PERIOD / 2).
  await chainMoving(chain);
  const inits = await Promise.all(Array.from({ length: CANDIDATES }, (_, i) => createMiner(join(dir, `candidate-${i}`), API, env)));
  for (const init of inits) t.is(init.status, 0, `init --create-miner:\n${init.output}`);
  candidates.push(...inits.map((x) => x.miner));
  const h0 = await head();
  const firstOpen = async (m: string) => {
    const d = await chain.stateMinerProvingDeadline(m);
    const from = h0 + SEAL_EPOCHS;
    return d.PeriodStart + Math.ceil((from - d.PeriodStart) / PERIOD) * PERIOD;
  };
  const opens = await Promise.all(candidates.map(firstOpen));
  const best = opens.indexOf(Math.min(...opens));
  log(`candidates at head ${h0}: ${candidates.map((m, i) => `${m} (deadline 0 at ${opens[i]})`).join(', ')}; using ${candidates[best]}`);
  const repo = join(dir, `candidate-${best}`);
  const miner = candidates[best];
  figures.new_miner = miner;
  const control = await setControlAddress(miner);
  appendFileSync(join(repo, 'config.toml'), '\n[Fees]\nMaxWindowPoStGasFee = "0.5 FIL"\n');
  log(`created ${miner}, control address ${control.id} (${control.key}), head ${await head()}`);
  // Sealing and Window PoSt first. Its Winning PoSt joins once its power can count (below): until
  // then, on a chain this far behind the wall clock, every head would send it through 900 null
  // rounds (as lotus-miner's loop would) for nothing, a load that slows this chain by half.
  // Their logs also go to files in the devnet's directory (scripts/test-lotus.sh keeps them).
  const logTo = (name: string) => (process.env.LOTUS_DEVNET_DIR ? join(process.env.LOTUS_DEVNET_DIR, name) : undefined);
  const run = new Proc('distminer run', [MAIN, 'run', '--repo', repo, '--roles', 'seal,window-post'], env, logTo('long-run.log'));
  t.teardown(() => run.stop());
  const { url, token } = await sealWorker(repo, dir, run, env);
  const numbers = await rpc<number[]>(url, token, 'SectorsPledge', [2]);
  await until(
    async () => {
      const vs = await Promise.all(numbers.map((n) => rpc<SectorView>(url, token, 'SectorsStatus', [n])));
      const failed = vs.find((v) => v.chainRejected || v.state === 'FailedUnrecoverable');
      if (failed) throw new Error(`sector ${failed.number} failed: ${failed.failure}`);
      return vs.every((v) => v.state === 'Proving') || undefined;
    },
    30 * 60_000,
    'both sectors proving',
  );
  const [kept, lost] = numbers;
  const loc = await chain.stateSectorPartition(miner, kept);
  const lostLoc = await chain.stateSectorPartition(miner, lost);
  t.deepEqual(lostLoc, loc, 'both sectors in one partition');
  const dl = await chain.stateMinerProvingDeadline(miner);
  let open = dl.PeriodStart + loc.Deadline * dl.WPoStChallengeWindow;
  while (open + dl.WPoStChallengeWindow <= dl.CurrentEpoch) open += PERIOD;
  const close = open + dl.WPoStChallengeWindow;
  log(`sectors ${numbers.join(', ')} proving at head ${dl.CurrentEpoch}: deadline ${loc.Deadline} partition ${loc.Partition}, opens at ${open}`);

  // 2. One sector's file is lost before the first Window PoSt.
  const sealed = join(repo, 'storage', 'sealed', `s-${miner}-${lost}`);
  renameSync(sealed, `${sealed}.away`);
  await reach(close, `deadline ${loc.Deadline} closes`, log);
  const faults1 = await chain.stateMinerFaults(miner);
  t.deepEqual(faults1, [lost], 'the lost sector is faulty after the first Window PoSt');
  const declared = run.logs((o) => o.msg === 'declaring unreadable sectors faulty');
  const skipped = run.logs((o) => o.msg === 'skipping unreadable sectors in this proof (they become faulty)');
  figures.fault_path = declared.length > 0 ? 'declared' : 'skipped in the proof';
  for (const d of declared) {
    t.deepEqual(d.sectors, [lost]);
    const cid = { '/': d.cid as string };
    const at = await landed(cid, 'DeclareFaults');
    t.true(at < (d.cutoff as number), `DeclareFaults landed at ${at}, cutoff ${String(d.cutoff)}`);
    const m = await chain.chainGetMessage(cid);
    t.is(m.Method, MinerMethod.DeclareFaults);
    t.true(m.From === control.id || m.From === control.key, `DeclareFaults from ${m.From}; the control address is ${control.id}`);
  }
  t.true(declared.length > 0 || skipped.length > 0, 'the lost sector was declared faulty or skipped');
  const power1 = await chain.stateMinerPower(miner);
  t.is(power1.MinerPower.RawBytePower, '2048', 'the first Window PoSt activated the proven sector only');
  log(`deadline ${loc.Deadline} closed at ${close}: faults ${JSON.stringify(faults1)} (${String(figures.fault_path)}), power ${power1.MinerPower.RawBytePower}`);

  // 3. The file is back: declared recovered at once, for the deadline's next occurrence a
  // whole period ahead (not only when it comes near: on this sparse chain the epochs between
  // then and its cutoff can pass between two heads). The deadline's next occurrence proves both
  // sectors.
  const back = await head();
  renameSync(`${sealed}.away`, sealed);
  const recovered = JSON.parse(await run.waitFor(/"msg":"declaring sectors recovered"/, 30 * 60_000)) as { sectors: number[]; cid: string; cutoff: number };
  t.deepEqual(recovered.sectors, [lost]);
  t.is(recovered.cutoff, open + PERIOD - 70, "for the deadline's next occurrence");
  const rcid = { '/': recovered.cid };
  const recoveredAt = await landed(rcid, 'DeclareFaultsRecovered');
  t.true(recoveredAt < recovered.cutoff);
  t.is((await chain.chainGetMessage(rcid)).Method, MinerMethod.DeclareFaultsRecovered);
  t.deepEqual(await chain.stateMinerRecoveries(miner), [lost]);
  log(`file back at head ${back}: DeclareFaultsRecovered landed at ${recoveredAt} (cutoff ${recovered.cutoff})`);
  figures.recovery_declared_epochs_before_cutoff = recovered.cutoff - recoveredAt;
  await reach(close + PERIOD, `deadline ${loc.Deadline} closes again`, log);
  t.deepEqual(await chain.stateMinerFaults(miner), [], 'no fault after the recovery was proven');
  const power2 = await chain.stateMinerPower(miner);
  t.is(power2.MinerPower.RawBytePower, '4096', 'both sectors have power');
  figures.faults_recovered = 1;
  figures.sectors_active = 2;

  // 4. Every SubmitWindowedPoSt: exit code 0, at most 3 partitions, from the control address;
  // one accepted in each of the two occurrences.
  const pushed = run.logs((o) => o.msg === 'SubmitWindowedPoSt pushed');
  const landedAt: number[] = [];
  for (const s of pushed) {
    const cid = { '/': s.cid as string };
    const l = await chain.stateSearchMsg(cid);
    t.is(l?.Receipt.ExitCode, 0, `SubmitWindowedPoSt ${s.cid as string}: ${JSON.stringify(l?.Receipt)}`);
    const m = await chain.chainGetMessage(cid);
    t.is(m.Method, MinerMethod.SubmitWindowedPoSt);
    t.true(decodeWindowPoSt(fromB64(m.Params!)).partitions.length <= 3, 'at most 3 partitions per message');
    t.true(m.From === control.id || m.From === control.key, `SubmitWindowedPoSt from ${m.From}`);
    if (l) landedAt.push(await executedAt(l));
  }
  const inWindow = (o: number) => landedAt.some((h) => h >= o && h < o + dl.WPoStChallengeWindow);
  figures.deadlines_due = 2;
  figures.deadlines_proven = [open, open + PERIOD].filter(inWindow).length;
  t.is(figures.deadlines_proven, 2, `Window PoSts landed at ${JSON.stringify(landedAt)}; occurrences open at ${open}, ${open + PERIOD}`);

  // 5. t01002, the idle power: sectors lotus-seed pre-sealed, proven by `distminer post window`
  // (scripts/test-lotus.sh) in every deadline occurrence of the run until the mining starts.
  const idle = process.env.IDLE_MINER;
  const devnet = process.env.LOTUS_DEVNET_DIR;
  if (idle && devnet) {
    const lines = readFileSync(join(devnet, 'idle-post.log'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const first = lines.find((o) => typeof o.head === 'number')?.head as number | undefined;
    const idleDl = await chain.stateMinerProvingDeadline(idle);
    const w = idleDl.WPoStChallengeWindow;
    const withSectors = new Set<number>();
    for (let i = 0; i < idleDl.WPoStPeriodDeadlines; i++) if ((await chain.stateMinerPartitions(idle, i)).length > 0) withSectors.add(i);
    // Occurrences opened after the prover's first head (plus a window to start) and closed by now.
    const due: number[] = [];
    const base = idleDl.PeriodStart - Math.ceil(idleDl.PeriodStart / PERIOD) * PERIOD;
    for (let o = base; o + w <= idleDl.CurrentEpoch; o += w) {
      if (first === undefined || o < first + w) continue;
      const index = ((((o - idleDl.PeriodStart) % PERIOD) + PERIOD) % PERIOD) / w;
      if (withSectors.has(index)) due.push(o);
    }
    // Each accepted proof names its occurrence (the epoch logged is the receipt's tipset, which can
    // come after the window on this chain of sparse tipsets).
    const provenOpens = new Set(lines.filter((o) => o.msg === 'Window PoSt accepted').map((o) => o.open as number));
    const missed = due.filter((o) => !provenOpens.has(o));
    figures.idle_miner_deadlines_due = due.length;
    figures.idle_miner_deadlines_proven = due.length - missed.length;
    log(`${idle}: ${due.length} deadline occurrences due since epoch ${String(first)}, ${due.length - missed.length} proven`);
    t.deepEqual(missed, [], `${idle}'s deadline occurrences (by their open epoch) without an accepted Window PoSt`);
    t.deepEqual(await chain.stateMinerFaults(idle), [], `${idle} has no faulty sector`);
  }

  // 6. Blocks, last: the power of the first proof passed the election lookback long ago. On this
  // chain behind the wall clock, a miner that evaluates a round in milliseconds mines far ahead
  // (with 2 KiB of power its first win comes ~80 rounds on, and Lotus takes the heavier tipset
  // whatever its height), so deadline windows pass without a tipset and every miner misses them
  // (the run of 2026-12-05 14:13: from epoch 2137 to 3978 in 3 minutes, one tipset in t01012's
  // second window, none to carry its proof). Mining is checked after the proofs, not beside them.
  await run.stop();
  const all = new Proc('distminer run (all roles)', [MAIN, 'run', '--repo', repo, '--roles', 'winning-post,window-post,seal'], env, logTo('long-run-all.log'));
  t.teardown(() => all.stop());
  const from = await head();
  log(`head ${from}: restarted with every role`);
  const firstMined = JSON.parse(await all.waitFor(/"outcome":"mined"/, 30 * 60_000)) as { round: number };
  await reach(firstMined.round + 20, 'a few epochs after the first block mined', log);
  const rounds = all.logs((o) => o.msg === 'winning PoSt round');
  const mined = rounds.filter((o) => o.outcome === 'mined');
  let ts = await chain.chainHead();
  let ours = 0;
  while (ts.Height > from) {
    ours += ts.Blocks.filter((b) => b.Miner === miner).length;
    ts = await chain.chainGetTipSet(ts.Blocks[0].Parents);
  }
  figures.blocks_mined = mined.length;
  figures.blocks_in_heaviest_chain = ours;
  log(`${mined.length} blocks mined by ${miner} (${rounds.length} rounds logged), ${ours} in the heaviest chain above ${from}`);
  t.true(ours >= 1, `${miner} has ${ours} blocks in the heaviest chain after its power passed the lookback`);
  t.deepEqual(
    rounds.filter((o) => o.outcome === 'failed'),
    [],
    'no Winning PoSt round failed',
  );
});
