// `distminer demo` (what `npm start` runs) as a child process: it brings up the devnet, the
// PoSt miner, the seal miner and two workers, the deal miner and its worker; the seal miner's
// pledged sector reaches Proving and its deadline is proven by the PoSt miner (the miner gets
// power on the chain); the demo's client deal is published, sealed by the deal miner's worker
// under a number from the same sector-number server, Active, and proven by the PoSt miner too.
// Then SIGINT: the demo exits 0 and every process it started, and theirs, is gone.
//
// Run under scripts/proof-lock.sh (the sector is sealed for real).
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChainClient } from '../../src/chain/client.js';
import type { MarketDeal } from '../../src/chain/market.js';
import type { SectorView } from '../../src/sealing/service.js';
import { adminGet } from '../../src/deals/client.js';
import type { DealRecord } from '../../src/deals/store.js';
import { alive, descendants, minerMetrics, minerStatus } from '../helpers/cluster.js';
import { MAIN, Proc, killAll, rpc, until } from '../helpers/procs.js';

let demo: Proc | undefined;

// Should the test fail half-way, the demo still gets its Ctrl-C (killing it alone would orphan
// its children), and whatever is left of its process tree is killed after 40 s.
test.after.always(async () => {
  if (demo && demo.child.exitCode === null && demo.child.signalCode === null) {
    const pids = descendants(demo.child.pid!);
    demo.child.kill('SIGINT');
    await Promise.race([demo.exited, new Promise((r) => setTimeout(r, 40_000))]);
    for (const p of pids.filter(alive)) process.kill(p, 'SIGKILL');
  }
  await killAll();
});

test.serial('the demo brings the cluster up, a pledged sector and a deal sector are proven, and Ctrl-C stops every process', async (t) => {
  t.timeout(12 * 60_000);
  const dir = mkdtempSync(join(tmpdir(), 'distminer-demo-test-'));
  // DISTMINER_KEEP_TEST_DIRS=1 keeps the directory, with every process's log under logs/.
  if (process.env.DISTMINER_KEEP_TEST_DIRS) t.log(`kept: ${dir}`);
  else t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // One sector, 5 s epochs and a 3-deadline period (12 epochs) keep it to a few minutes. Winning
  // PoSt (≈ 4 s) does not fit 5 s epochs beside sealing: blocks are the cluster test's business.
  demo = new Proc('demo', [MAIN, 'demo', '--dir', dir, '--sectors', '1', '--deals', '1', '--block-delay', '5s', '--period-deadlines', '3'], { DISTMINER_LOG_LEVEL: 'info' });
  const info = /FULLNODE_API_INFO=(\S+)/.exec(await demo.waitFor(/export FULLNODE_API_INFO=/, 120_000))![1];
  const started = demo.lines
    .map((l) => /^demo: started (\S+) pid (\d+)$/.exec(l))
    .filter((m) => m !== null)
    .map((m) => ({ name: m![1], pid: Number(m![2]) }));
  t.deepEqual(started.map((s) => s.name).sort(), ['deal', 'deal-worker', 'devnet', 'post', 'seal', 'worker-1', 'worker-2']);

  // The sector's first Window PoSt gives the miner its power: the chain lists it active (proven).
  // (The deal sector, sealed meanwhile by the deal miner, may be active first or too.)
  const c = new ChainClient(info, { timeoutMs: 5000, retryAfterMs: 200 });
  // Every host has its own secret and admin token (the demo copies no admin token around).
  const tokenOf = (r: string) => readFileSync(join(dir, r, 'token'), 'utf8').trim();
  const token = tokenOf('seal');
  t.not(tokenOf('post'), token);
  t.is(
    JSON.parse(Buffer.from(readFileSync(join(dir, 'seal', 'sectorid-token'), 'utf8').split('.')[1], 'base64url').toString()).Allow.at(-1),
    'write',
    'the seal host holds a write token of the sector-number server',
  );
  const sealApi = /\/ip4\/([^/]+)\/tcp\/(\d+)/.exec(readFileSync(join(dir, 'seal', 'sealing-api'), 'utf8'))!;
  const sectors = await until(
    async () => {
      const l = await rpc<SectorView[]>(`http://${sealApi[1]}:${sealApi[2]}`, token, 'SectorsList');
      const active = await c.stateMinerActiveSectors('t01000');
      return l.length === 1 && active.some((a) => a.SectorNumber === l[0].number) && l;
    },
    6 * 60_000,
    'the sealed sector to be proven',
  );
  t.true(BigInt((await c.stateMinerPower('t01000')).MinerPower.RawBytePower) > 0n, 'the miner has power');
  await until(async () => (await rpc<SectorView[]>(`http://${sealApi[1]}:${sealApi[2]}`, token, 'SectorsList'))[0].state === 'Proving', 60_000, 'the seal miner to list its sector as Proving').catch(
    () => undefined,
  );
  t.deepEqual(
    (await rpc<SectorView[]>(`http://${sealApi[1]}:${sealApi[2]}`, token, 'SectorsList')).map((s) => s.state),
    ['Proving'],
    'the seal miner lists its sector as Proving',
  );
  t.deepEqual(await c.stateMinerFaults('t01000'), []);
  // The PoSt miner (which never saw the seal miner's database) says so too, once it has read
  // its message's receipt (it polls a few times per epoch).
  const detail = async () => (await minerStatus(join(dir, 'post'), tokenOf('post')))?.actors.find((a) => a.id === 'window-post')?.detail ?? '';
  await until(async () => /[1-9]\d* deadline\(s\) proven/.test(await detail()), 30_000, 'the PoSt miner to report the proven deadline').catch(() => undefined);
  t.regex(await detail(), /[1-9]\d* deadline\(s\) proven/);
  const post = async () => (await minerStatus(join(dir, 'post'), tokenOf('post')))?.actors;
  const margin = (await post())?.find((a) => a.id === 'window-post')?.context?.data as { minMarginEpochs?: number } | undefined;
  t.true(margin?.minMarginEpochs !== undefined && margin.minMarginEpochs >= 0, `the proof's margin is reported: ${JSON.stringify(margin)}`);
  // The demo's view of the Winning PoSt: rounds won, and what became of each (mined or
  // abandoned), as its detail line and its data, the same counts the metrics keep.
  const winning = (await post())?.find((a) => a.id === 'winning-post');
  t.regex(winning?.detail ?? '', /^won \d+: \d+ mined, \d+ abandoned/);
  const w = winning?.context?.data as { roundsWon?: number; blocksMined?: number; roundsAbandoned?: number } | undefined;
  t.is((w?.roundsWon ?? 0) - (w?.blocksMined ?? 0) - (w?.roundsAbandoned ?? 0), 0, `every won round mined or abandoned: ${JSON.stringify(w)}`);

  // What an operator's Prometheus sees (alerts/distminer.rules.yml): the next deadline's gas cap
  // and the balance of the address that would pay it, the storage paths' space, the chain
  // node's lag (from the PoSt miner); the seal workers connected (from the seal miner).
  const pm = await minerMetrics(join(dir, 'post'));
  const wp = { role: 'window-post', miner: 't01000' };
  t.true(pm.find('distminer_windowpost_next_deadline_gas_attofil', wp).length === 1, 'next deadline gas exported');
  const [bal] = pm.find('distminer_wallet_balance_attofil', wp);
  t.true(bal !== undefined && bal.value > 0 && bal.labels.address === (await c.stateMinerInfo('t01000')).Worker, `payer balance: ${JSON.stringify(bal)}`);
  const [free] = pm.find('distminer_storage_free_bytes', { role: 'window-post' });
  const [cap] = pm.find('distminer_storage_capacity_bytes', { role: 'window-post' });
  t.true(free !== undefined && cap !== undefined && free.value > 0 && free.value <= cap.value && free.labels.path === cap.labels.path);
  const lags = pm.find('distminer_chain_head_lag_seconds', { role: 'window-post' });
  t.true(lags.length === 1 && lags[0].value >= 0 && lags[0].value < 60, `head lag: ${JSON.stringify(lags)}`);
  const sm = await minerMetrics(join(dir, 'seal'));
  t.is(sm.value('distminer_seal_workers_connected', { role: 'seal' }), 2, 'both seal workers connected');
  // Sectors by state, and the time its sector spent in each sealing state it went through.
  t.is(sm.value('distminer_sectors', { role: 'seal', state: 'Proving' }), 1);
  t.is(sm.value('distminer_sectors', { role: 'seal', state: 'PreCommit1' }), 0);
  for (const state of ['Packing', 'PreCommit1', 'PreCommit2', 'WaitSeed', 'Committing']) t.true((sm.value('distminer_seal_state_seconds_count', { role: 'seal', state }) ?? 0) >= 1, state);

  // The deal: Active in the deal miner's own sector, whose number no seal-miner sector has.
  const dealApi = readFileSync(join(dir, 'deal', 'deals', 'api'), 'utf8').trim();
  const dealList = async () => (await adminGet<{ deals: DealRecord[] }>(dealApi, tokenOf('deal'), '/deals')).body.deals;
  const [deal] = await until(
    async () => {
      const l = await dealList();
      if (l.some((d) => d.state === 'Failed')) throw new Error(`a demo deal failed: ${JSON.stringify(l.map((d) => [d.state, d.reason]))}`);
      return l.length === 1 && l[0].state === 'Active' && l;
    },
    5 * 60_000,
    "the demo's deal to be Active",
  );
  t.is(typeof deal.publish?.dealId, 'number', 'published on chain');
  const dealSector = deal.sector!.sectorNumber;
  t.false(
    sectors.some((s) => s.number === dealSector),
    `the deal sector ${dealSector} has a number of its own`,
  );
  t.truthy(await c.stateSectorGetInfo('t01000', dealSector), 'the deal sector is on chain');
  t.is((await c.call<MarketDeal>('StateMarketStorageDeal', [deal.publish!.dealId, null])).State.SectorNumber, dealSector, 'the market activated the deal in it');
  // Proven by the PoSt miner as well: both sectors' power.
  await until(async () => BigInt((await c.stateMinerPower('t01000')).MinerPower.RawBytePower) === 4096n, 3 * 60_000, 'the deal sector to be proven');
  t.deepEqual(await c.stateMinerFaults('t01000'), []);
  await demo.waitFor(/^deals: Active 1 /, 45_000);

  // Ctrl-C: everything it started (and what those started) goes, and it exits 0.
  const pids = descendants(demo.child.pid!);
  for (const s of started) t.true(pids.includes(s.pid), `${s.name} (${s.pid}) is the demo's child`);
  demo.child.kill('SIGINT');
  const exit = await demo.exited;
  t.deepEqual(exit, { code: 0, signal: null }, demo.lines.slice(-10).join('\n'));
  t.true(demo.lines.includes('demo: stopped'));
  await until(async () => pids.every((p) => !alive(p)), 10_000, "the demo's processes to go").catch(() => undefined);
  t.deepEqual(pids.filter(alive), [], 'no process left behind');
});
