// distminer mining and proving on a real Lotus devnet (v1.36.2, 2k): the genesis holds t01000
// for lotus-miner and t01001 for distminer (scripts/test-lotus.sh sets up.sh's
// DEVNET_DISTMINER_MINER), whose pre-sealed sectors distminer adopts from their storage path.
// `distminer post all` runs beside lotus-miner with real Lotus as its only chain node:
// - every tier: its Winning PoSt blocks end up in the heaviest chain Lotus follows (counted by
//   miner walking ChainGetTipSet parents), beside lotus-miner's;
// - the long tier (`npm run test:lotus:long`, DISTMINER_LOTUS_TIER=long): t01001's deadline 0
//   (opens at epoch 154) is proven, every SubmitWindowedPoSt with exit code 0 and at most 3
//   partitions, while a sector file removed beforehand is left out, so that StateMinerFaults
//   holds exactly that sector.
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ChainClient } from '../../src/chain/client.js';
import { addressBytes } from '../../src/chain/address.js';
import type { TipSet } from '../../src/chain/api-types.js';
import { bitfieldFromJson } from '../../src/chain/bitfield.js';
import { ExitCode, MinerMethod } from '../../src/chain/builtin-actors.js';
import { cborEncode } from '../../src/chain/cbor.js';
import type { Cid } from '../../src/chain/cid.js';
import { b64, fromB64 } from '../../src/chain/encoding.js';
import { decodeWindowPoSt } from '../../src/chain/params.js';
import { MAIN, Proc, killAll, until } from '../helpers/procs.js';

const API = process.env.FULLNODE_API_INFO;
const DM = process.env.DISTMINER_MINER;
const STORAGE = process.env.DISTMINER_STORAGE;
const LONG = process.env.DISTMINER_LOTUS_TIER === 'long';
if (!API || !DM || !STORAGE)
  throw new Error('run this file through `npm run test:lotus` (scripts/test-lotus.sh): it needs FULLNODE_API_INFO and a devnet with a distminer genesis miner (DISTMINER_MINER, DISTMINER_STORAGE)');
const chain = new ChainClient(API, { timeoutMs: 30_000, retryAfterMs: 1000 });
const figures: Record<string, unknown> = {};
const work = mkdtempSync(join(tmpdir(), 'distminer-lotus-post-'));
let post: Proc | undefined;
let startHeight = 0;

test.before(async () => {
  startHeight = (await chain.chainHead()).Height;
  // Both PoSt loops for t01001, as an operator runs them; fee caps from a config.toml [Fees].
  writeFileSync(join(work, 'config.toml'), '[Fees]\nMaxWindowPoStGasFee = "0.5 FIL"\n');
  post = new Proc(
    'distminer post',
    [MAIN, 'post', 'all', '--miner', DM, '--storage', STORAGE, '--state-file', join(work, 'last-mined.json'), '--config', join(work, 'config.toml'), '--chain-api', API],
    { DISTMINER_LOG_LEVEL: 'info' },
  );
  await post.waitFor(/winning PoSt miner started/, 60_000);
});

test.after.always(async () => {
  await post?.stop();
  await handBack().catch((e: Error) => console.error(`the chain after ${DM} stopped: ${e.message}`));
  await killAll();
  rmSync(work, { recursive: true, force: true });
  // Figures for bench/results/lotus-interop.json: merged into what the tier's other files wrote.
  const out = process.env.DISTMINER_LOTUS_FIGURES;
  if (out) {
    mkdirSync(dirname(out), { recursive: true });
    const prev = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>) : {};
    const merged = { ...prev, ...figures };
    writeFileSync(`${out}.tmp`, JSON.stringify(merged));
    renameSync(`${out}.tmp`, out);
  }
});

/**
 * Leaves the chain to lotus-miner (t01000) alone, moving. lotus-miner's slash filter will not
 * mine on a tipset at a height where its own block lost the race (its "parent grinding" check:
 * its block at the base's height is not among the parents), and while ${DM} mined, its blocks
 * often lost (above). With ${DM} gone, nobody else moves such a head: the chain stopped for
 * good, and the next test file's messages never landed (a CI run: CreateMiner waited 10 min).
 * So: wait for a t01000 block above the head ${DM} left; if none comes, ${DM} mines once more
 * (a base without a losing t01000 block at its height) and the wait starts again.
 */
async function handBack(): Promise<void> {
  const lotusBlockAbove = (h: number) => async () => {
    const ts = await chain.chainHead();
    return ts.Height > h && ts.Blocks.some((b) => b.Miner === 't01000');
  };
  for (let i = 0; i < 3; i++) {
    const left = (await chain.chainHead()).Height;
    try {
      await until(lotusBlockAbove(left), 90_000, `a t01000 block above ${left}`);
      return;
    } catch {
      console.error(`no t01000 block above ${left} in 90 s (lotus-miner's slash filter on a head where its block lost): ${DM} mines one more epoch`);
    }
    const again = new Proc('distminer post winning (hand back)', [MAIN, 'post', 'winning', '--miner', DM!, '--storage', STORAGE!, '--state-file', join(work, 'last-mined.json'), '--chain-api', API!], {
      DISTMINER_LOG_LEVEL: 'info',
    });
    try {
      await until(async () => (await chain.chainHead()).Height > left || undefined, 120_000, `an epoch above ${left}`);
    } finally {
      await again.stop();
    }
  }
  throw new Error(`lotus-miner did not mine again after ${DM} stopped (3 tries)`);
}

/** Blocks per miner in the heaviest chain from the head down to `from` (ChainGetTipSet parents). */
async function blocksByMiner(from: number): Promise<{ byMiner: Map<string, number>; head: number; nullRounds: number }> {
  let ts: TipSet = await chain.chainHead();
  const head = ts.Height;
  const byMiner = new Map<string, number>();
  let nullRounds = 0;
  while (ts.Height > from) {
    for (const b of ts.Blocks) byMiner.set(b.Miner, (byMiner.get(b.Miner) ?? 0) + 1);
    const parent = await chain.chainGetTipSet(ts.Blocks[0].Parents);
    nullRounds += ts.Height - parent.Height - 1;
    ts = parent;
  }
  return { byMiner, head, nullRounds };
}

const rounds = () => post!.logs((o) => o.msg === 'winning PoSt round');

test.serial("distminer's Winning PoSt blocks end up in the heaviest chain Lotus follows, beside lotus-miner's", async (t) => {
  t.timeout(10 * 60_000);
  const t0 = Date.now();
  let seen = { byMiner: new Map<string, number>(), head: startHeight, nullRounds: 0 };
  for (const end = Date.now() + 8 * 60_000; Date.now() < end; await new Promise((r) => setTimeout(r, 5000))) {
    seen = await blocksByMiner(startHeight);
    // lotus-miner takes part too, but on 2 busy cores its rounds take ~14 s against distminer's
    // few: its blocks mostly lose the race to the next height (measured); a few minutes for one.
    if ((seen.byMiner.get(DM) ?? 0) >= 4 && ((seen.byMiner.get('t01000') ?? 0) >= 1 || Date.now() - t0 > 3 * 60_000)) break;
  }
  const mined = rounds().filter((o) => o.outcome === 'mined');
  const ours = seen.byMiner.get(DM) ?? 0;
  figures.blocks_mined = mined.length;
  figures.blocks_in_heaviest_chain = ours;
  figures.lotus_miner_blocks_in_heaviest_chain = seen.byMiner.get('t01000') ?? 0;
  figures.mining_epochs = seen.head - startHeight;
  figures.mining_seconds = Math.round((Date.now() - t0) / 1000);
  figures.null_rounds = seen.nullRounds;
  t.log(
    `epochs ${startHeight}..${seen.head} in ${figures.mining_seconds} s: ${ours} blocks by ${DM} (${mined.length} mined), ${figures.lotus_miner_blocks_in_heaviest_chain} by t01000, ${seen.nullRounds} null rounds`,
  );
  t.true(ours >= 4, `${DM} has ${ours} blocks in the heaviest chain`);
  t.true(mined.length >= ours);
  const failed = rounds().filter((o) => o.outcome === 'failed');
  t.deepEqual(failed, [], 'no round failed');
  t.deepEqual(
    post!.logs((o) => o.component === 'window-post' && (o.level as number) >= 50),
    [],
    'the Window PoSt loop runs without an error',
  );
});

/** Waits for a message's receipt on the real chain. */
async function landed(cid: Cid, what: string): Promise<number> {
  const l = await chain.stateWaitMsg(cid, 0, { timeoutMs: 5 * 60_000 });
  if (l.Receipt.ExitCode !== ExitCode.Ok) throw new Error(`${what}: exit code ${l.Receipt.ExitCode}`);
  return l.Height;
}

/**
 * The sector whose sealed file the tests remove: the last of deadline 0 (Lotus's genesis puts
 * t01001's sectors 2 per partition into deadlines 0, 1, 2, 3; deadline 0 opens at 154).
 */
async function goneSector(): Promise<number> {
  const parts = await chain.stateMinerPartitions(DM!, 0);
  return Math.max(...parts.flatMap((p) => bitfieldFromJson(p.LiveSectors, 'LiveSectors')));
}

// Written against Lotus's API but not yet run to completion on the real devnet (its first run
// removed a sector of deadline 1 instead, whose cutoff is 144): in the long tier until it has.
(LONG ? test.serial : test.skip)('PoSt messages go from the control address set on chain, with the [Fees] cap: a lost sector is declared faulty ahead of its deadline', async (t) => {
  t.timeout(12 * 60_000);
  // Like `lotus-miner actor control set`: a new funded key, then ChangeWorkerAddress from the owner.
  const info = await chain.stateMinerInfo(DM);
  const control = await chain.call<string>('WalletNew', ['bls']);
  const funder = await chain.call<string>('WalletDefaultAddress', []);
  const fund = await chain.mpoolPushMessage({ From: funder, To: control, Method: 0, Value: (10n ** 18n).toString() });
  await landed(fund.CID!, 'funding the control address');
  const params = cborEncode([addressBytes(info.Worker), [addressBytes(control)]]);
  const owner = await chain.stateAccountKey(info.Owner);
  const set = await chain.mpoolPushMessage({ From: owner, To: DM, Method: 3 /* ChangeWorkerAddress */, Params: b64(params) });
  await landed(set.CID!, 'ChangeWorkerAddress');
  const ctl = (await chain.stateMinerInfo(DM)).ControlAddresses;
  t.is(ctl.length, 1);
  const controlId = ctl[0];
  // Deadline 0 (opens at 154, cutoff 84) is declared for once it is 2 deadlines ahead (epoch ≥ 34).
  const dl = await chain.stateMinerProvingDeadline(DM);
  t.log(`head ${dl.CurrentEpoch}, current deadline ${dl.Index}, control address ${controlId} (${control})`);
  const GONE = await goneSector();
  rmSync(join(STORAGE, 'sealed', `s-${DM}-${GONE}`));
  const line = JSON.parse(await post!.waitFor(/"msg":"declaring unreadable sectors faulty"/, 10 * 60_000)) as { sectors: number[]; cid: string; deadline: number; cutoff: number };
  t.deepEqual(line.sectors, [GONE]);
  t.is(line.deadline, 0);
  const cid = { '/': line.cid };
  const at = await landed(cid, 'DeclareFaults');
  t.true(at < line.cutoff, `landed at ${at}, cutoff ${line.cutoff}`);
  const m = await chain.chainGetMessage(cid);
  t.is(m.Method, MinerMethod.DeclareFaults);
  t.true(m.From === controlId || m.From === control, `sent from ${m.From}, the control address is ${controlId}`);
  t.deepEqual(await chain.stateMinerFaults(DM), [GONE]);
  figures.fault_declared_from_control_address = true;
});

if (LONG) {
  test.serial("t01001's deadline 0 is proven on the real chain; a sector whose file was removed is skipped and faulty", async (t) => {
    t.timeout(45 * 60_000);
    const dl0 = await chain.stateMinerProvingDeadline(DM);
    // The next occurrence of deadline 0.
    let open = dl0.PeriodStart;
    while (open + dl0.WPoStChallengeWindow <= dl0.CurrentEpoch) open += dl0.WPoStProvingPeriod;
    const close = open + dl0.WPoStChallengeWindow;
    t.log(`head ${dl0.CurrentEpoch}; ${DM}'s deadline 0 opens at ${open}, closes at ${close}`);
    const parts = await chain.stateMinerPartitions(DM, 0);
    t.true(parts.length >= 1);
    // One sector's sealed file is gone before the deadline (removed by the test before).
    const gone = await goneSector();
    rmSync(join(STORAGE, 'sealed', `s-${DM}-${gone}`), { force: true });
    figures.deadlines_due = 1;
    let proven = false;
    for (let end = Date.now() + 40 * 60_000; !proven; await new Promise((r) => setTimeout(r, 10_000))) {
      if (Date.now() > end) break;
      const head = (await chain.chainHead()).Height;
      if (head >= close) break;
      const dls = await chain.stateMinerDeadlines(DM);
      const subs = new Set(bitfieldFromJson(dls[0]?.PostSubmissions ?? [0], 'PostSubmissions'));
      proven = head >= open && parts.every((_, i) => subs.has(i));
    }
    const submits = post!.logs((o) => o.msg === 'SubmitWindowedPoSt pushed');
    t.true(submits.length >= 1, 'SubmitWindowedPoSt sent');
    for (const s of submits) {
      const l = await chain.stateSearchMsg({ '/': s.cid as string });
      t.is(l?.Receipt.ExitCode, 0, `SubmitWindowedPoSt ${s.cid}: ${JSON.stringify(l?.Receipt)}`);
      const m = await chain.chainGetMessage({ '/': s.cid as string });
      t.is(m.Method, MinerMethod.SubmitWindowedPoSt);
      t.true(decodeWindowPoSt(fromB64(m.Params!)).partitions.length <= 3, 'at most 3 partitions per message');
    }
    t.true(proven, 'deadline 0 has PostSubmissions');
    figures.deadlines_proven = proven ? 1 : 0;
    t.deepEqual(await chain.stateMinerFaults(DM), [gone], 'exactly the removed sector is faulty');
  });
}
