// Winning PoSt miner against the devnet with REAL proofs: with the only powered miner it wins
// almost every round; each won block passes the devnet's checks (election VRF, win count,
// ticket, real Winning PoSt) and lands in the chain; the last mined epoch is persisted and a
// restarted miner refuses to mine that epoch again.
import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WindowPoStScheduler } from '../../src/post/window.js';
import { WinningPoStMiner, readLastMined } from '../../src/post/winning.js';
import { DirectRunner } from '../../src/post/runner.js';
import { MINER, setupPoSt } from './_setup.js';
import type { DevnetOptions } from '../../src/devnet/state.js';

// Epochs advance by hand here, slower than their timestamps say: no wall-clock cutoff applies.
const runner = new DirectRunner({ enforceDeadlines: false });

/**
 * The devnet of setupPoSt (2 sectors, epochs by hand) with the sectors' power: a Window PoSt
 * scheduler proves their first deadline. Stopped, with the miner the test sets, at teardown.
 */
async function powered(t: ExecutionContext, opts: Partial<DevnetOptions> = {}) {
  const s = await setupPoSt(2, opts);
  const d = s.h.devnet;
  const c = s.h.client;
  const win = new WindowPoStScheduler({ client: c, miner: MINER, storage: [s.storage], confidence: 1 });
  await win.start();
  const run: { s: typeof s; d: typeof d; c: typeof c; win: typeof win; miner?: WinningPoStMiner } = { s, d, c, win };
  t.teardown(async () => {
    await run.miner?.stop();
    await win.stop();
    await s.h.close();
    rmSync(s.storage, { recursive: true, force: true });
  });
  for (let i = 0; i < 30 && (await c.stateMinerPower(MINER)).MinerPower.RawBytePower === '0'; i++) {
    const ts = await d.advance();
    await win.settled(ts.Height);
    await new Promise((r) => setTimeout(r, 100));
  }
  t.is((await c.stateMinerPower(MINER)).MinerPower.RawBytePower, '4096');
  return run;
}

test('slash-filter file: missing = never mined, unreadable = error, other miner = error', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-slash-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const f = join(dir, 'last-mined.json');
  t.is(readLastMined(f, 't01000'), -1);
  writeFileSync(f, '{"miner":"t01000","lastMinedEpoch":');
  t.throws(() => readLastMined(f, 't01000'), { message: /cannot read the last mined epoch/ });
  writeFileSync(f, '{"miner":"t01001","lastMinedEpoch":5}');
  t.throws(() => readLastMined(f, 't01000'), { message: /belongs to miner t01001/ });
});

test.serial('wins blocks that verify, never mines an epoch twice across a restart', async (t) => {
  const run = await powered(t);
  const { s, d, c, win } = run;
  const stateFile = join(s.storage, 'winning', 'last-mined.json');

  const miner = (run.miner = new WinningPoStMiner({ client: c, miner: MINER, storage: [s.storage], stateFile, expectedLeaders: d.expectedLeaders, runner }));
  await miner.start();
  const mined: number[] = [];
  for (let i = 0; i < 4; i++) {
    const head = d.head();
    const r = await miner.settled(head.Height + 1, 60_000);
    t.truthy(r, `round ${head.Height + 1} decided`);
    t.not(r!.outcome, 'failed', r!.error);
    if (r!.outcome === 'mined') {
      t.true(r!.sentMs! >= r!.proofMs! && r!.proofMs! >= r!.baseMs!);
      mined.push(r!.round);
    }
    const ts = await d.advance();
    await win.settled(ts.Height);
    if (r!.outcome === 'mined') {
      t.is(ts.Blocks.length, 1);
      t.is(ts.Blocks[0].Miner, MINER);
      t.is(ts.Blocks[0].Height, r!.round);
      t.true(ts.Blocks[0].ElectionProof!.WinCount >= 1);
    } else t.is(ts.Blocks[0].Miner, 't00');
  }
  // With all the power, λ = 5 per round: losing 4 rounds in a row has odds e^-20.
  t.true(mined.length >= 2, `mined ${mined.length} of 4`);
  const last = mined[mined.length - 1];
  t.is(readLastMined(stateFile, MINER), Math.max(...mined));

  // Wait for a won round that is not yet in the chain, then "restart": a new miner on the same file.
  let round = 0;
  for (let i = 0; i < 5 && !round; i++) {
    const head = d.head();
    const r = await miner.settled(head.Height + 1, 60_000);
    t.not(r?.outcome, 'failed', r?.error);
    if (r?.outcome === 'mined') round = r.round;
    else {
      const ts = await d.advance();
      await win.settled(ts.Height);
    }
  }
  t.true(round > last);
  await miner.stop();
  const again = new WinningPoStMiner({ client: c, miner: MINER, storage: [s.storage], stateFile, expectedLeaders: d.expectedLeaders, runner });
  t.is(again.lastMinedEpoch, round);
  const r = await again.mineOn(d.head());
  t.is(r.round, round);
  t.is(r.outcome, 'slash-filter');
  t.is(JSON.parse(readFileSync(stateFile, 'utf8')).lastMinedEpoch, round);
  const ts = await d.advance();
  t.is(ts.Blocks.length, 1, 'one block for the round, from before the restart');
  t.is(ts.Blocks[0].Miner, MINER);
  run.miner = again;
});

test.serial('mines across null rounds: a block after rounds nobody made a block for carries their beacon entries and extends the old head', async (t) => {
  // λ = 1 (one block expected per round, all the power here): about a third of the rounds have
  // no winner, and with the null-round chance at 1 they stay null, as on a Lotus devnet whose
  // only miner is this one. The chain runs a day behind the wall clock, so the miner tries
  // each next round at once, before the devnet has formed the null one (it forms it then).
  const run = await powered(t, { expectedLeaders: 1, genesisTimeMs: Date.now() - 86_400_000 });
  const { s, d, c } = run;
  d.setNullRoundChance(1);

  const miner = (run.miner = new WinningPoStMiner({ client: c, miner: MINER, storage: [s.storage], stateFile: join(s.storage, 'last-mined.json'), expectedLeaders: 1, runner }));
  await miner.start();
  let afterNull = 0;
  let nulls = 0;
  for (let i = 0; i < 40 && afterNull < 2; i++) {
    const head = d.head();
    const round = d.nextRound();
    const r = await miner.settled(round, 60_000, head.Height);
    t.truthy(r, `round ${round} on base ${head.Height} decided`);
    t.not(r!.outcome, 'failed', r!.error);
    if (r!.outcome !== 'mined') {
      t.is(r!.outcome, 'lost');
      // Nobody's block: the round is null — no tipset, the head stays.
      if (d.nextRound() === round) await d.advance();
      t.is(d.head(), head);
      t.is(await c.chainHead().then((x) => x.Height), head.Height);
      t.is(r!.nullRounds, round - head.Height - 1);
      nulls++;
      continue;
    }
    t.is(r!.nullRounds, round - head.Height - 1);
    const ts = await d.advance();
    t.is(ts.Height, round);
    t.is(ts.Blocks.length, 1);
    const b = ts.Blocks[0];
    t.is(b.Miner, MINER);
    t.deepEqual(b.Parents, head.Cids, 'built on the last tipset, across the null rounds');
    t.deepEqual(
      b.BeaconEntries.map((e) => e.Round),
      Array.from({ length: round - head.Height }, (_, k) => head.Height + 1 + k),
      'one beacon entry per round since the parent',
    );
    if (round > head.Height + 1) {
      afterNull++;
      // Lotus's reading of a null round: its tipset is the one before it.
      t.deepEqual((await c.chainGetTipSetByHeight(round - 1)).Cids, head.Cids);
    }
  }
  t.true(afterNull >= 1, `blocks mined after null rounds: ${afterNull} (${nulls} null rounds)`);
  t.is(d.stats.nullRounds, nulls);
});
