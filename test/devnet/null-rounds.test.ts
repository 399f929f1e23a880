// Null rounds on the embedded devnet, read as Lotus reads them: no tipset and no message run
// for a round nobody made a block for; the next block carries one beacon entry per round since
// its parent; ChainGetTipSetByHeight answers a null height with the tipset before it; chain
// randomness at a null epoch comes from the ticket of the tipset after it; base info is given for a round
// whose time has come, never for one still ahead nor past the 900-round lookback; a restart reads the null rounds back.
import test from 'ava';
import { rmSync } from 'node:fs';
import { DomainSeparationTag } from '../../src/chain/builtin-actors.js';
import { drawRandomness } from '../../src/chain/crypto.js';
import { WINNING_POST_LOOKBACK, minTicketBlock } from '../../src/chain/mining.js';
import { fromB64 } from '../../src/chain/encoding.js';
import { Devnet } from '../../src/devnet/node.js';
import { startDevnet } from './_harness.js';

test('null rounds: no tipset, messages wait, the next block carries their beacon entries; read back after a restart', async (t) => {
  // 30 s rounds: every round after the head is still ahead of the wall clock during the test.
  const h = await startDevnet({ blockDelayMs: 30_000 });
  let reopened: Devnet | undefined;
  let closed = false;
  t.teardown(async () => {
    await reopened?.close();
    if (!closed) await h.close(true);
    rmSync(h.dir, { recursive: true, force: true });
  });
  const d = h.devnet;
  const c = h.client;
  await d.advanceTo(3);
  const ts3 = await c.chainHead();
  const worker = (await c.stateMinerInfo('t01000')).Worker;
  const sm = await c.mpoolPushMessage({ To: 't01000', From: worker, Method: 0, Value: '1' });

  d.setNullRoundChance(1);
  t.is((await d.advance()).Height, 3); // round 4: null
  await d.advance(); // round 5: null
  t.is(d.nextRound(), 6);
  t.is((await c.chainHead()).Height, 3, 'the head stays at the last tipset');
  t.is(await c.stateSearchMsg(sm.CID!), null, 'no message runs in a null round');
  t.is(d.stats.nullRounds, 2);
  await t.throwsAsync(c.chainGetTipSetByHeight(4), { message: /greater than start point/ }); // above the head, as Lotus
  // Base info: the round being mined (6) is answered; 7 is not out yet (its time is 30 s away).
  t.is(await c.minerGetBaseInfo('t01000', 6, ts3.Cids), null); // no sectors: null, as Lotus
  await t.throwsAsync(c.minerGetBaseInfo('t01000', 7, ts3.Cids), { message: /round 7 is not available yet/ });
  // At most 898 null rounds on one base, as Lotus (GetLookbackTipSetForRound): round 903's
  // lookback (3) is the base itself; round 902's lies below it, so only the clock stops it.
  // Genesis is exempt.
  await t.throwsAsync(c.minerGetBaseInfo('t01000', 3 + WINNING_POST_LOOKBACK, ts3.Cids), { message: /lookback height 3 is at or after base height 3/ });
  await t.throwsAsync(c.minerGetBaseInfo('t01000', 3 + WINNING_POST_LOOKBACK - 1, ts3.Cids), { message: /round 902 is not available yet/ });
  const genesis = await c.chainGetTipSetByHeight(0);
  await t.throwsAsync(c.minerGetBaseInfo('t01000', WINNING_POST_LOOKBACK + 5, genesis.Cids), { message: /not available yet/ });

  d.setNullRoundChance(0);
  const ts6 = await d.advance(); // round 6: a system block on tipset 3
  t.is(ts6.Height, 6);
  t.deepEqual(ts6.Blocks[0].Parents, ts3.Cids);
  t.deepEqual(
    ts6.Blocks[0].BeaconEntries.map((e) => e.Round),
    [4, 5, 6],
  );
  t.is((await c.stateSearchMsg(sm.CID!))?.Height, 6, 'the waiting message runs in the next tipset');
  t.deepEqual((await c.chainGetTipSetByHeight(5)).Cids, ts3.Cids, 'a null height reads as the tipset before it');
  t.deepEqual((await c.chainGetTipSetByHeight(4)).Cids, ts3.Cids);
  t.deepEqual((await c.chainGetTipSetByHeight(6)).Cids, ts6.Cids);
  const entropy = Buffer.from('null-round');
  t.deepEqual(
    await c.stateGetRandomnessFromTickets(DomainSeparationTag.SealRandomness, 5, entropy),
    drawRandomness(fromB64(minTicketBlock(ts6).Ticket!.VRFProof), DomainSeparationTag.SealRandomness, 5, entropy),
    'chain randomness at a null epoch: the ticket of the first tipset after it, drawn for the epoch (Lotus, no lookback)',
  );
  t.deepEqual(
    await c.stateGetRandomnessFromBeacon(DomainSeparationTag.WindowedPoStChallengeSeed, 5, entropy),
    drawRandomness(fromB64(ts6.Blocks[0].BeaconEntries[1].Data), DomainSeparationTag.WindowedPoStChallengeSeed, 5, entropy),
    "beacon randomness at a null epoch: that round's entry, carried by the next block",
  );

  // A restart reads the null rounds back from chain.ndjson.
  closed = true;
  await h.close(true);
  reopened = await Devnet.open({ dir: h.dir, autoAdvance: false });
  t.is(reopened.head().Height, 6);
  t.is(reopened.nextRound(), 7);
  t.deepEqual(reopened.tipsetAt(5).Cids, ts3.Cids);
  t.deepEqual(reopened.tipsetAt(6).Cids, ts6.Cids);
});

test('a head subscription across null rounds: each tipset once, and no call per null round (a gap whose parents are the last head is null rounds)', async (t) => {
  const h = await startDevnet({ blockDelayMs: 30_000 });
  t.teardown(() => h.close());
  const d = h.devnet;
  await d.advanceTo(3);
  const c = h.client;
  let fetched = 0;
  const byKey = c.chainGetTipSet.bind(c);
  const byHeight = c.chainGetTipSetByHeight.bind(c);
  c.chainGetTipSet = (tsk) => (fetched++, byKey(tsk));
  c.chainGetTipSetByHeight = (...a) => (fetched++, byHeight(...a));
  const heights: number[] = [];
  const sub = c.chainNotify((cs) => {
    for (const x of cs) heights.push(x.Val.Height);
  });
  t.teardown(() => sub.close());
  await new Promise<void>((r) => sub.once('endpoint', () => r()));
  const seen = async (height: number) => {
    for (let i = 0; i < 100 && !heights.includes(height); i++) await new Promise((r) => setTimeout(r, 20));
  };
  await seen(3);
  d.setNullRoundChance(1);
  for (let i = 0; i < 20; i++) await d.advance(); // rounds 4..23: null
  d.setNullRoundChance(0);
  const ts24 = await d.advance();
  t.is(ts24.Height, 24);
  await seen(24);
  t.deepEqual(heights, [3, 24]);
  t.is(fetched, 0, 'no tipset fetched for the null rounds');
});

test('the null-round chance is checked', async (t) => {
  await t.throwsAsync(startDevnet({ nullRoundChance: 1.5 }), { message: /null-round chance must be 0\.\.1, got 1\.5/ });
});
