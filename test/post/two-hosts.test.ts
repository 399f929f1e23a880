// Window PoSt on two hosts of one miner id (src/post/window-lease.ts): two real
// `distminer post window` processes share deadline leases in a real PostgreSQL, against the
// devnet on a real-time epoch clock. While both run, each deadline occurrence is proven and
// submitted by exactly one of them; when the one proving an occurrence is killed (kill -9)
// before it submits, the other takes the lease over once it expires and the deadline is still
// proven inside its window: no fault, full power. A holder stopped cleanly (SIGTERM) before it
// submits gives its lease back at once: under a lease longer than the window, the other host
// takes it and proves the deadline in time. A database that hangs through a deadline leaves
// both hosts without an answer: each proves anyway, sending at different epochs by rank, the
// later one only what is neither proven on chain nor on its way: the deadline is proven in time,
// by one message. A holder that hangs (SIGSTOP) past its lease's time to live loses it: the
// other host takes it over and proves the deadline; the old holder, thawed, learns on its next
// renewal that the lease is gone and sends nothing for that deadline. Fault and recovery
// declarations are leased too: a sector file lost while both run is declared faulty by one
// host, once, and declared recovered once when it is back.
//
// Run under scripts/proof-lock.sh (both processes prove real 2KiB sectors).
import test, { type ExecutionContext } from 'ava';
import { renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MAIN, Proc, killAll, until } from '../helpers/procs.js';
import { startPostgres } from '../sectorid/helpers.js';
import { MINER, POST_POLICY, type PoStSetup, setupPoSt } from './_setup.js';

/** 8-epoch windows of 2.5 s: 20 s per deadline, room for a 4 s lease to expire and the proof to be made again. */
const POLICY = { ...POST_POLICY, wpostChallengeWindow: 8 };
const LEASE = '4s';

type Pushed = { deadline: number; open: number; close: number };

test.after.always(() => killAll());

const pushedBy = (p: Proc, open: number) => p.logs((o) => o.msg === 'SubmitWindowedPoSt pushed' && o.open === open) as unknown as Pushed[];

/**
 * A devnet on a real-time clock with 2 proven-to-be sectors, a real PostgreSQL, and two
 * `distminer post window` hosts sharing it with leases of `lease`; all stopped at teardown
 * (a frozen host thawed first). Confidence 2 = the lookback: proving starts when the window opens.
 */
async function twoHosts(t: ExecutionContext, lease: string) {
  const pg = await startPostgres();
  const s = await setupPoSt(2, { autoAdvance: true, blockDelayMs: 2500, policy: POLICY });
  const { h } = s;
  const hosts: Proc[] = [];
  t.teardown(async () => {
    for (const p of hosts) p.thaw();
    await killAll();
    await h.close();
    await pg.stop();
    rmSync(s.storage, { recursive: true, force: true });
  });
  const args = [MAIN, 'post', 'window', '--chain-api', h.apiInfo, '--miner', MINER, '--storage', s.storage, '--confidence', '2', '--shared-db', pg.url, '--window-lease', lease];
  const env = { DISTMINER_LOG_LEVEL: 'info' };
  hosts.push(new Proc('window-post A', args, env), new Proc('window-post B', args, env));
  t.teardown(() => {
    if (!t.passed) for (const p of hosts) t.log(p.describe(40));
  });
  return { pg, s, h, hosts };
}

const openOf = (lease: string) => Number(/@(\d+)$/.exec(lease)![1]);

/**
 * The host holding the prove lease of the first occurrence of the sectors' deadline (others have
 * no partitions) whose window opens after both hosts are up (not one they joined midway).
 */
async function firstHolder(hosts: Proc[], s: PoStSetup): Promise<readonly [Proc, string]> {
  const h0 = s.h.devnet.head().Height;
  return until(
    async () => {
      for (const p of hosts) {
        const l = p.logs((o) => o.msg === 'Window PoSt lease held by this host').find((o) => (o.lease as string).startsWith(`prove/${s.deadline}@`) && openOf(o.lease as string) > h0 + 2);
        if (l) return [p, l.lease as string] as const;
      }
      return undefined;
    },
    120_000,
    'a host to take the lease of an occurrence opening after start',
  );
}

test.serial('two window-post hosts: one submission per deadline while both run; both prove while the database hangs; the survivor proves the deadline when the prover is killed', async (t) => {
  t.timeout(6 * 60_000);
  const { pg, s, h, hosts } = await twoHosts(t, LEASE);
  const c = h.client;
  const leaseLines = (p: Proc, msg: string, lease: string) => p.logs((o) => o.msg === msg && o.lease === lease);

  // ---- both up: the first occurrence either proves is submitted once (a host that came up
  // late finds the lease held, or done).
  const o1 = (JSON.parse(await Promise.any(hosts.map((p) => p.waitFor(/"msg":"proving deadline"/, 120_000)))) as Pushed).open;
  await until(async () => h.devnet.head().Height >= o1 + POLICY.wpostChallengeWindow, 120_000, `occurrence ${s.deadline}@${o1} to close`);
  const subs1 = hosts.map((p) => pushedBy(p, o1).length);
  t.is(subs1[0] + subs1[1], 1, `one SubmitWindowedPoSt for ${s.deadline}@${o1} between the two hosts (A ${subs1[0]}, B ${subs1[1]})`);
  const other1 = hosts[subs1[0] === 1 ? 1 : 0];
  t.true(leaseLines(other1, 'Window PoSt lease held by another host: leaving this work to it', `prove/${s.deadline}@${o1}`).length > 0, 'the other host left it to the holder');
  t.deepEqual(await c.stateMinerFaults(MINER), []);

  // ---- the shared database hangs (SIGSTOP) through the next occurrence: neither host can
  // learn who holds its lease; each proves anyway (sending late in the window only what the
  // chain lacks) and the deadline is proven in its window.
  const period = POLICY.wpostChallengeWindow * POLICY.wpostPeriodDeadlines;
  const oh = o1 + period;
  const closeH = oh + POLICY.wpostChallengeWindow;
  t.true(h.devnet.head().Height < oh - POLICY.wpostChallengeLookback - 2, 'the database hangs before the next occurrence is looked at');
  await pg.freeze();
  const blindLines = (p: Proc) => p.logs((o) => o.msg === 'Window PoSt leases unknown: proving anyway, sending late in the window what the chain does not have yet' && o.open === oh);
  const acceptedIn = (open: number) =>
    hosts.flatMap((p) => p.logs((o) => o.msg === 'Window PoSt accepted' && o.deadline === s.deadline && (o.epoch as number) >= open)) as unknown as { epoch: number }[];
  try {
    await until(async () => acceptedIn(oh).length > 0 || undefined, 120_000, `${s.deadline}@${oh} proven while the database hangs`);
    await until(async () => h.devnet.head().Height >= closeH, 60_000, 'the window to close');
  } finally {
    await pg.thaw();
  }
  const blind = hosts.filter((p) => blindLines(p).length > 0);
  t.true(blind.length >= 1, 'a host said it proves without knowing the lease');
  const acceptedH = acceptedIn(oh)[0];
  t.true(acceptedH.epoch >= oh && acceptedH.epoch < closeH, `accepted at ${acceptedH.epoch}, window ${oh}..${closeH}`);
  const pushedH = hosts.map((p) => pushedBy(p, oh).length);
  const sendAt = blind.map((p) => `${p.name} from ${(blindLines(p)[0] as { sendAt?: number }).sendAt}`).join(', ');
  // What held the later host back: the partitions proven on chain, or a message on its way (head tipset, mpool).
  const heldBack = hosts.flatMap((p) =>
    p
      .logs(
        (o) =>
          ((o.msg as string).startsWith('leases unknown: ') && (o.head as number) >= oh && (o.head as number) < closeH) ||
          (['partitions already proven on chain: not submitting them again', 'deadline already proven on chain'].includes(o.msg as string) && o.open === oh),
      )
      .map((o) => `${p.name}: ${o.msg as string}`),
  );
  t.log(
    `${s.deadline}@${oh} with the database hung: leases unknown to ${blind.map((p) => p.name).join(' and ')} (sending ${sendAt}); SubmitWindowedPoSt pushed A ${pushedH[0]}, B ${pushedH[1]}; accepted at ${acceptedH.epoch} (closes ${closeH}); held back: ${heldBack.join('; ') || 'nothing logged'}`,
  );
  // Blind hosts send at different epochs (by rank, window-plan.test.ts), and the later one
  // finds the partitions proven on chain or on their way: one message for the deadline.
  t.is(pushedH[0] + pushedH[1], 1, `one SubmitWindowedPoSt for ${s.deadline}@${oh} with the database hung (A ${pushedH[0]}, B ${pushedH[1]})`);
  t.deepEqual(await c.stateMinerFaults(MINER), []);

  // ---- the prover of the next occurrence is killed before it submits; the other takes over.
  const o2 = oh + period;
  const lease2 = `prove/${s.deadline}@${o2}`;
  const holderLine = await Promise.any(hosts.map((p) => p.waitFor(new RegExp(`"lease":"${lease2.replace('/', '\\/')}".*"msg":"Window PoSt lease held by this host"`), 120_000).then(() => p)));
  const killedAt = h.devnet.head().Height;
  await holderLine.kill9();
  t.is(pushedBy(holderLine, o2).length, 0, `${holderLine.name} was killed before it submitted (head ${killedAt})`);
  const survivor = hosts.find((p) => p !== holderLine)!;
  // Its proof of this occurrence (the survivor may have proven the first one too: not that line).
  const acceptedNow = () => survivor.logs((o) => o.msg === 'Window PoSt accepted' && o.deadline === s.deadline && (o.epoch as number) >= o2)[0] as { epoch: number } | undefined;
  await until(async () => acceptedNow() !== undefined, 60_000, `${survivor.name} to prove ${s.deadline}@${o2}`);
  const accepted = acceptedNow()!;
  const close2 = o2 + POLICY.wpostChallengeWindow;
  const took = leaseLines(survivor, 'Window PoSt lease held by this host', lease2);
  t.is(took.length, 1, `${survivor.name} took the lease over`);
  t.is(pushedBy(survivor, o2).length, 1, `${survivor.name} submitted ${s.deadline}@${o2}`);
  t.true(accepted.epoch >= o2 && accepted.epoch < close2, `accepted at ${accepted.epoch}, window ${o2}..${close2}`);
  t.log(
    `${s.deadline}@${o1}: submitted by ${hosts[subs1[0] === 1 ? 0 : 1].name}; ${s.deadline}@${o2}: ${holderLine.name} killed at head ${killedAt}, ${survivor.name} proved it, accepted at ${accepted.epoch} (closes ${close2})`,
  );
  await until(async () => h.devnet.head().Height >= close2, 60_000, 'the window to close');
  t.deepEqual(await c.stateMinerFaults(MINER), []);
  t.is((await c.stateMinerPower(MINER)).MinerPower.RawBytePower, '4096');
  await survivor.stop();
});

test.serial('a window-post host stopped (SIGTERM) before it submits gives its lease back: the other proves the deadline in time though the lease would outlast the window', async (t) => {
  t.timeout(4 * 60_000);
  // 60 s: three windows. Only a lease given back can be taken over before this one closes.
  const { s, h, hosts } = await twoHosts(t, '60s');
  const [holder, lease] = await firstHolder(hosts, s);
  const dlIndex = /^prove\/(\d+)@/.exec(lease)![1];
  const open = openOf(lease);
  const close = open + POLICY.wpostChallengeWindow;
  const stoppedAt = h.devnet.head().Height;
  await holder.stop();
  t.is((await holder.exited).code, 0);
  const pushed = holder.logs((o) => o.msg === 'SubmitWindowedPoSt pushed' && o.open === open);
  t.is(pushed.length, 0, `${holder.name} was stopped before it submitted (head ${stoppedAt}, submit from ${open + 2})`);
  t.is(holder.logs((o) => o.msg === 'Window PoSt lease given back (stopping before its proof was sent)' && o.lease === lease).length, 1, 'it gave the lease back');
  const survivor = hosts.find((p) => p !== holder)!;
  const acceptedNow = () => survivor.logs((o) => o.msg === 'Window PoSt accepted' && o.deadline === Number(dlIndex) && (o.epoch as number) >= open)[0] as { epoch: number } | undefined;
  await until(async () => acceptedNow() !== undefined, 60_000, `${survivor.name} to prove ${lease}`);
  const accepted = acceptedNow()!;
  t.is(survivor.logs((o) => o.msg === 'Window PoSt lease held by this host' && o.lease === lease).length, 1, `${survivor.name} took the lease`);
  t.true(accepted.epoch >= open && accepted.epoch < close, `accepted at ${accepted.epoch}, window ${open}..${close}`);
  t.log(`${lease}: ${holder.name} stopped at head ${stoppedAt}; ${survivor.name} took the lease and proved it, accepted at ${accepted.epoch} (closes ${close})`);
  await until(async () => h.devnet.head().Height >= close, 60_000, 'the window to close');
  t.deepEqual(await h.client.stateMinerFaults(MINER), []);
  await survivor.stop();
});

test.serial('a window-post host that hangs past its lease loses it: the other proves the deadline; the old holder, thawed, learns it on renewal and sends nothing', async (t) => {
  t.timeout(4 * 60_000);
  const { s, h, hosts } = await twoHosts(t, LEASE);
  // Its holder hangs as soon as it holds the lease (its proof, in a child process, runs on).
  const [holder, lease] = await firstHolder(hosts, s);
  holder.freeze();
  const frozenAt = h.devnet.head().Height;
  const open = openOf(lease);
  const close = open + POLICY.wpostChallengeWindow;
  const survivor = hosts.find((p) => p !== holder)!;
  try {
    await until(
      async () => survivor.logs((o) => o.msg === 'Window PoSt lease held by this host' && o.lease === lease).length > 0 || undefined,
      60_000,
      `${survivor.name} to take ${lease} over once it expired`,
    );
  } finally {
    holder.thaw();
  }
  const thawedAt = h.devnet.head().Height;
  const lost = await until(
    async () => holder.logs((o) => o.msg === 'Window PoSt lease lost to another host (not renewed in time): leaving this work to it' && o.lease === lease)[0],
    30_000,
    `${holder.name} to learn on renewal that ${lease} is gone`,
  );
  t.is(lost.holder, survivor.logs((o) => o.msg === 'Window PoSt lease held by this host' && o.lease === lease)[0]!.host, 'it names the host that holds it now');
  const accepted = await until(
    async () => survivor.logs((o) => o.msg === 'Window PoSt accepted' && o.deadline === s.deadline && (o.epoch as number) >= open)[0] as { epoch: number } | undefined,
    60_000,
    `${survivor.name} to prove ${lease}`,
  );
  t.true(accepted.epoch >= open && accepted.epoch < close, `accepted at ${accepted.epoch}, window ${open}..${close}`);
  await until(async () => h.devnet.head().Height >= close, 60_000, 'the window to close');
  t.is(pushedBy(holder, open).length, 0, `${holder.name} (hung at head ${frozenAt}, thawed at ${thawedAt}) sent nothing for ${lease}`);
  t.is(pushedBy(survivor, open).length, 1, `${survivor.name} sent ${lease} once`);
  t.deepEqual(await h.client.stateMinerFaults(MINER), []);
  t.log(`${lease}: ${holder.name} hung at head ${frozenAt}, thawed at ${thawedAt}; ${survivor.name} took the lease and proved it, accepted at ${accepted.epoch} (closes ${close})`);
  for (const p of hosts) await p.stop();
});

test.serial('two window-post hosts and a lost sector file: declared faulty once, by one host, before the cutoff; back, declared recovered once; proven again', async (t) => {
  t.timeout(6 * 60_000);
  const { s, h, hosts } = await twoHosts(t, LEASE);
  const c = h.client;
  const period = POLICY.wpostChallengeWindow * POLICY.wpostPeriodDeadlines;
  const accepted = (from: number) =>
    hosts.flatMap((p) => p.logs((o) => o.msg === 'Window PoSt accepted' && o.deadline === s.deadline && (o.epoch as number) >= from)) as unknown as { epoch: number }[];
  const declared = (msg: string) => hosts.flatMap((p) => p.logs((o) => o.msg === msg && o.deadline === s.deadline).map((o) => ({ host: p.name, ...(o as { sectors: number[]; cutoff: number }) })));
  const FAULTY = 'declaring unreadable sectors faulty';
  const RECOVERED = 'declaring sectors recovered';

  // ---- both sectors proven once (their power active), then sector 2's sealed file goes away.
  await until(async () => accepted(0)[0], 120_000, `a first proof of deadline ${s.deadline}`);
  const name2 = `s-t0${s.fixture[1].minerId}-${s.fixture[1].sectorNumber}`;
  const sealed2 = join(s.storage, 'sealed', name2);
  renameSync(sealed2, `${sealed2}.away`);
  const goneAt = h.devnet.head().Height;
  await until(async () => (await c.stateMinerFaults(MINER)).includes(s.fixture[1].sectorNumber) || undefined, 2 * period * 2500, `sector ${s.fixture[1].sectorNumber} declared faulty`);
  const faults = declared(FAULTY);
  t.is(faults.length, 1, `one DeclareFaults between the two hosts: ${JSON.stringify(faults)}`);
  t.deepEqual(faults[0].sectors, [s.fixture[1].sectorNumber]);
  t.is((await c.stateMinerPower(MINER)).MinerPower.RawBytePower, '2048');

  // ---- the file is back: one DeclareFaultsRecovered, and the next occurrence proves both sectors.
  renameSync(`${sealed2}.away`, sealed2);
  const backAt = h.devnet.head().Height;
  await until(async () => ((await c.stateMinerFaults(MINER)).length === 0 && (await c.stateMinerRecoveries(MINER)).length === 0) || undefined, 3 * period * 2500, 'the sector recovered and proven');
  const recoveries = declared(RECOVERED);
  t.is(recoveries.length, 1, `one DeclareFaultsRecovered between the two hosts: ${JSON.stringify(recoveries)}`);
  t.deepEqual(recoveries[0].sectors, [s.fixture[1].sectorNumber]);
  t.is((await c.stateMinerPower(MINER)).MinerPower.RawBytePower, '4096');
  t.deepEqual(declared(FAULTY).length, 1, 'declared faulty only once');
  t.log(
    `sector ${s.fixture[1].sectorNumber}: file gone at ${goneAt}, declared faulty by ${faults[0].host} (cutoff ${faults[0].cutoff}); back at ${backAt}, declared recovered by ${recoveries[0].host} (cutoff ${recoveries[0].cutoff})`,
  );
  for (const p of hosts) await p.stop();
});
