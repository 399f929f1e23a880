// Moving a real lotus-miner to distminer: the devnet's t01000 is a miner that the real
// lotus-miner v1.36.2 made (`lotus-miner init --genesis-miner`) and has been running. The test
// reserves sector numbers with lotus-miner's own CLI, stops it, adopts its repository with
// `distminer init --from-lotus-miner`, compares what distminer took with what lotus-miner's API
// said, and runs distminer as t01000 against real Lotus: its blocks must enter the heaviest
// chain above the last epoch lotus-miner mined, and a sector number it hands out must be one
// lotus-miner never used, and lotus-miner's own CLI (`info`, `proving info`, `proving deadlines`,
// `sectors list`, `sectors status N`) works against distminer with the same MINER_API_INFO,
// showing the sectors as lotus-miner itself showed them before it stopped. The long tier also waits for t01000's deadline with
// its sectors, to see real Lotus accept distminer's Window PoSt for them. At the end lotus-miner is started
// again on its repository (which the adoption left as it was), for the tier's other files.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChainClient } from '../../src/chain/client.js';
import type { TipSet } from '../../src/chain/api-types.js';
import { bitfieldFromJson } from '../../src/chain/bitfield.js';
import { mergeFigures } from '../helpers/lotus-figures.js';
import { MAIN, Proc, exec, killAll, rpc, until } from '../helpers/procs.js';

const API = process.env.FULLNODE_API_INFO;
const MINER_API = process.env.MINER_API_INFO;
const LOTUS_REPO = process.env.LOTUS_MINER_PATH;
const DEVNET = process.env.LOTUS_DEVNET_DIR;
const LONG = process.env.DISTMINER_LOTUS_TIER === 'long';
if (!API || !MINER_API || !LOTUS_REPO || !DEVNET)
  throw new Error("run this file through `npm run test:lotus` (scripts/test-lotus.sh): it needs the devnet's FULLNODE_API_INFO, MINER_API_INFO, LOTUS_MINER_PATH and LOTUS_DEVNET_DIR");
const MINER = 't01000';
const chain = new ChainClient(API, { timeoutMs: 30_000, retryAfterMs: 1000 });
const [minerToken, minerAddr] = [MINER_API.slice(0, MINER_API.indexOf(':')), MINER_API.slice(MINER_API.indexOf(':') + 1)];
const minerUrl = `http://${/\/ip4\/([^/]+)\/tcp\/(\d+)/.exec(minerAddr)!.slice(1, 3).join(':')}`;
const lotusMiner = <T>(method: string, params: unknown[] = []) => rpc<T>(minerUrl, minerToken, `Filecoin.${method}`, params);
const work = mkdtempSync(join(tmpdir(), 'distminer-lotus-migrate-'));
const repo = join(work, 'repo');
let dm: Proc | undefined;
const figures: Record<string, unknown> = {};
/** The sector numbers distminer handed out as t01000 (first test), for going back (second). */
let handedOut: { from: number; to: number } | undefined;

test.afterEach.always((t) => {
  if (!t.passed && dm) t.log(dm.describe());
});

test.after.always(async () => {
  mergeFigures(figures);
  await dm?.stop();
  await killAll();
  // lotus-miner back on its own repository, as scripts/lotus-devnet/up.sh starts it (by pid file).
  if (!alive()) execFileSync(join(process.cwd(), 'scripts/lotus-devnet/up.sh'), [DEVNET], { stdio: ['ignore', 'ignore', 'inherit'] });
  rmSync(work, { recursive: true, force: true });
});

function alive(): boolean {
  const pidFile = join(DEVNET!, 'miner.pid');
  if (!existsSync(pidFile)) return false;
  try {
    process.kill(Number(readFileSync(pidFile, 'utf8')), 0);
    return true;
  } catch {
    return false;
  }
}

// Not spawnSync, in this file: while a child runs, the event loop must go on (see exec()).
async function distminer(...args: string[]): Promise<{ status: number | null; out: string }> {
  const r = await exec(process.execPath, [MAIN, ...args], { env: { ...process.env, DISTMINER_LOG_LEVEL: 'warn' } });
  return { status: r.status, out: r.stdout + r.stderr };
}

/** lotus-miner's CLI, with the devnet's MINER_API_INFO (lotus-miner itself, or distminer once it has taken over). */
function lotusMinerCli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return exec('lotus-miner', args, { timeoutMs: 60_000 });
}

/** CLI output without what changes from one epoch to the next: the "(in 3 days)" / "(2 hours ago)" beside epochs. */
const comparable = (out: string) =>
  out
    .split('\n')
    .map((l) =>
      l
        .replace(/\([^)]*\)/g, '')
        .replace(/\s+/g, ' ')
        .trim(),
    )
    .filter(Boolean);

/** t01000's blocks in the heaviest chain above `from`, by height. */
async function minerBlocks(from: number): Promise<number[]> {
  let ts: TipSet = await chain.chainHead();
  const out: number[] = [];
  while (ts.Height > from) {
    if (ts.Blocks.some((b) => b.Miner === MINER)) out.push(ts.Height);
    ts = await chain.chainGetTipSet(ts.Blocks[0].Parents);
  }
  return out.reverse();
}

interface NumAssignerMeta {
  Allocated: number[];
  Reserved: number[];
  InUse: number[];
  Next: number;
}

test.serial('a real lotus-miner repository is adopted (numbers, paths, keys, slash filter), and distminer then mines and numbers sectors as t01000', async (t) => {
  t.timeout(LONG ? 100 * 60_000 : 12 * 60_000);
  // What lotus-miner says about itself, with a reservation made by its own CLI.
  // (Refused when a run before this one on the same devnet made it already: checked below.)
  spawnSync('lotus-miner', ['sectors', 'numbers', 'reserve', 'distminer-migration-test', '1000-1002'], { stdio: 'ignore' });
  const meta = await lotusMiner<NumAssignerMeta>('SectorNumAssignerMeta');
  figures.migration_lotus_next_number = meta.Next;
  t.true(
    [1000, 1001, 1002].every((n) => bitfieldFromJson(meta.Reserved).includes(n)),
    'lotus-miner reserved 1000-1002',
  );
  const storage = await lotusMiner<Record<string, string>>('StorageLocal');
  const peerId = (await chain.stateMinerInfo(MINER)).PeerId; // set on chain by lotus-miner init, from its libp2p key
  const sectors = await lotusMiner<number[]>('SectorsList');
  t.log(`lotus-miner: sectors ${sectors.join(',')}, next number ${meta.Next}, storage ${Object.values(storage).join(', ')}, peer ${peerId}`);
  // What lotus-miner shows of its sectors (its API and its CLI), for distminer to show the same.
  const lmStatus = await Promise.all(sectors.map((n) => lotusMiner<Record<string, unknown>>('SectorsStatus', [n, false])));
  const lmList = await lotusMinerCli('sectors', 'list');
  const lmSectorStatus: Awaited<ReturnType<typeof lotusMinerCli>>[] = [];
  for (const n of sectors) lmSectorStatus.push(await lotusMinerCli('sectors', 'status', '--on-chain-info', String(n)));
  for (const c of [lmList, ...lmSectorStatus]) t.is(c.status, 0, `lotus-miner's own: ${c.stderr}`);

  // Refused while it runs: it holds its datastore.
  let r = await distminer('init', '--from-lotus-miner', LOTUS_REPO!, '--repo', repo);
  t.is(r.status, 1);
  t.regex(r.out, /lotus-miner is running/);
  t.false(existsSync(repo));

  execFileSync('lotus-miner', ['stop'], { stdio: 'ignore' });
  await until(async () => !alive(), 60_000, 'lotus-miner to exit');
  const stoppedAt = (await chain.chainHead()).Height;
  const lotusBlocks = await minerBlocks(0);

  const api = `/ip4/127.0.0.1/tcp/${Number(/tcp\/(\d+)/.exec(minerAddr)![1])}/http`; // where lotus-miner listened
  r = await distminer('init', '--from-lotus-miner', LOTUS_REPO!, '--repo', repo, '--miner', MINER, '--api', api);
  t.is(r.status, 0, r.out);
  t.log(r.out.trim());
  const cfg = readFileSync(join(repo, 'config.toml'), 'utf8');
  t.deepEqual(
    JSON.parse(/StoragePaths = (.*)/.exec(cfg)![1]).sort(),
    Object.values(storage)
      .map((p) => p.replace(/\/$/, ''))
      .sort(),
    "lotus-miner's storage paths",
  );
  t.true(Number(readFileSync(join(repo, 'sectorid'), 'utf8')) >= meta.Next, 'numbering continues above what lotus-miner handed out');
  t.deepEqual(JSON.parse(readFileSync(join(repo, 'sectorid.reservations.json'), 'utf8')).reservations['distminer-migration-test'], [[1000, 1002]]);
  t.truthy(peerId);
  t.regex(r.out, new RegExp(`peer id ${peerId}`), 'the libp2p key: its peer id is the one on chain');
  const lastMined = JSON.parse(readFileSync(join(repo, 'winning-post', 'last-mined.json'), 'utf8')).lastMinedEpoch as number;
  t.true(lotusBlocks.length > 0 && lastMined >= lotusBlocks[lotusBlocks.length - 1]!, `last mined epoch ${lastMined} covers lotus-miner's last block in the chain (${lotusBlocks.at(-1)})`);

  // distminer as t01000, on lotus-miner's API address, with lotus-miner's token.
  dm = new Proc('distminer run', [MAIN, 'run', '--repo', repo, '--roles', 'winning-post,window-post,seal', '--sctype', 'alloce', '--sclisten', '127.0.0.1:0'], {
    DISTMINER_LOG_LEVEL: 'info',
    FULLNODE_API_INFO: API,
  });
  await dm.waitFor(/"msg":"miner running"/, 120_000);
  const status = await rpc<{ miner: string }>(minerUrl, minerToken, 'Distminer.Status');
  t.is(status.miner, MINER, "lotus-miner's MINER_API_INFO reaches distminer");
  // Its roles running (the seal service listening) before lotus-miner's CLI asks for sectors and workers.
  await until(
    async () => {
      const st = await rpc<{ actors: { status: string }[] }>(minerUrl, minerToken, 'Distminer.Status');
      return st.actors.every((a) => a.status === 'running') && existsSync(join(repo, 'sealing-api')) ? true : undefined;
    },
    120_000,
    'every role of distminer running',
  );
  // The provider's habits: lotus-miner's own CLI, with the same MINER_API_INFO, against distminer.
  const cliOk: string[] = [];
  const info = await lotusMinerCli('info');
  t.is(info.status, 0, `lotus-miner info: ${info.stderr}`);
  t.log(info.stdout.trim());
  t.regex(info.stdout, /Enabled subsystems: \[Mining Sealing SectorStorage\]/);
  t.regex(info.stdout, new RegExp(`Miner: ${MINER} \\(2 KiB sectors\\)`));
  t.regex(info.stdout, /Proving: 2/, 'its two sectors, proving');
  t.regex(info.stdout, /Workers: Seal\(0\) WdPoSt\(1\) WinPoSt\(1\)/, 'the PoSt roles of this host as PoSt workers, no seal worker connected');
  t.notRegex(info.stdout + info.stderr, /ERROR/, 'every method info calls is answered');
  if (info.status === 0 && !/ERROR/.test(info.stdout + info.stderr)) cliOk.push('info');
  const provingInfo = await lotusMinerCli('proving', 'info');
  t.is(provingInfo.status, 0, `lotus-miner proving info: ${provingInfo.stderr}`);
  const pi = await exec(process.execPath, [MAIN, 'proving', 'info', '--json', '--miner', MINER], { env: { ...process.env, DISTMINER_LOG_LEVEL: 'warn' } });
  t.is(pi.status, 0, pi.stderr);
  const dmProving = JSON.parse(pi.stdout) as { faults: number; recovering: number; periodStart: number; nextPeriodStart: number };
  const provingFacts = [
    new RegExp(`Miner: ${MINER}`),
    new RegExp(`Faults: +${dmProving.faults} `),
    new RegExp(`Recovering: +${dmProving.recovering}\\n`),
    new RegExp(`Proving Period Boundary: ${dmProving.periodStart % (dmProving.nextPeriodStart - dmProving.periodStart)}\\n`),
  ];
  for (const re of provingFacts) t.regex(provingInfo.stdout, re, "as distminer's own proving info says");
  if (provingInfo.status === 0 && provingFacts.every((re) => re.test(provingInfo.stdout))) cliOk.push('proving info');
  const deadlines = await lotusMinerCli('proving', 'deadlines');
  t.is(deadlines.status, 0, `lotus-miner proving deadlines: ${deadlines.stderr}`);
  t.regex(deadlines.stdout, new RegExp(`Miner: ${MINER}`));
  if (deadlines.status === 0) cliOk.push('proving deadlines');
  // Sectors: what lotus-miner showed of them before it stopped (epochs' "(in …)" aside).
  const list = await lotusMinerCli('sectors', 'list');
  t.is(list.status, 0, `lotus-miner sectors list: ${list.stderr}`);
  t.log(list.stdout.trim());
  t.deepEqual(comparable(list.stdout), comparable(lmList.stdout), 'sectors list: as lotus-miner listed them');
  const inStates = await lotusMinerCli('sectors', 'list', '--states', 'Proving');
  t.is(inStates.status, 0, `lotus-miner sectors list --states Proving: ${inStates.stderr}`);
  t.deepEqual(comparable(inStates.stdout), comparable(list.stdout), 'both sectors are Proving (SectorsListInStates)');
  if (list.status === 0 && comparable(list.stdout).join() === comparable(lmList.stdout).join()) cliOk.push('sectors list');
  let statusSame = true;
  for (const [i, n] of sectors.entries()) {
    const st = await lotusMinerCli('sectors', 'status', '--on-chain-info', String(n));
    t.is(st.status, 0, `lotus-miner sectors status ${n}: ${st.stderr}`);
    t.deepEqual(comparable(st.stdout), comparable(lmSectorStatus[i]!.stdout), `sectors status ${n}: as lotus-miner showed it`);
    t.deepEqual(await rpc(minerUrl, minerToken, 'Filecoin.SectorsStatus', [n, false]), lmStatus[i], `SectorsStatus(${n}): lotus-miner's own answer`);
    statusSame &&= st.status === 0 && comparable(st.stdout).join() === comparable(lmSectorStatus[i]!.stdout).join();
  }
  if (statusSame) cliOk.push('sectors status');
  figures.migration_lotus_miner_cli = cliOk;
  figures.lotus_miner_cli_commands_ok = cliOk.length;

  // A new sector number: above every number lotus-miner used, outside its reservation.
  const sc = JSON.parse(await dm.waitFor(/"msg":"sector-number server listening"/, 60_000)).address as string;
  const got = await distminer('sectorid', 'alloc', '--connect', sc, '--token', minerToken, '--count', '1');
  t.is(got.status, 0, got.out);
  const n = Number(/\d+/.exec(got.out)![0]);
  figures.migration_first_distminer_number = n;
  handedOut = { from: meta.Next, to: n };
  const allocatedBefore = new Set(bitfieldFromJson(meta.Allocated));
  const onChain = new Set(await chain.stateMinerAllocated(MINER));
  t.true(n >= meta.Next && !allocatedBefore.has(n) && !onChain.has(n) && (n < 1000 || n > 1002), `number ${n}: lotus-miner's next was ${meta.Next}`);

  // Its blocks enter the heaviest chain, none at an epoch lotus-miner had mined.
  const ours = await until(
    async () => {
      const b = await minerBlocks(stoppedAt);
      return b.length >= 2 ? b : undefined;
    },
    6 * 60_000,
    `two blocks of ${MINER} mined by distminer in the heaviest chain`,
  );
  t.true(
    ours.every((h) => h > lastMined),
    `blocks at ${ours.join(', ')}, all after ${lastMined}`,
  );
  t.deepEqual(
    dm.logs((o) => (o.level as number) >= 50),
    [],
    'no error logged',
  );
  figures.migration_blocks_in_heaviest_chain = ours.length;
  figures.migration_first_block_epochs_after_stop = ours[0]! - stoppedAt;
  t.log(`distminer mined ${MINER} at ${ours.join(', ')} (lotus-miner stopped at ${stoppedAt}, had mined up to ${lastMined})`);

  // The deadline that holds t01000's sectors: proven by distminer on real Lotus.
  const pd = await chain.stateMinerProvingDeadline(MINER);
  let di = -1;
  for (let k = 1; k <= pd.WPoStPeriodDeadlines && di < 0; k++) {
    const idx = (pd.Index + k) % pd.WPoStPeriodDeadlines;
    if ((await chain.stateMinerPartitions(MINER, idx)).some((p) => bitfieldFromJson(p.LiveSectors).length > 0)) di = idx;
  }
  t.true(di >= 0, `${MINER} has sectors in some deadline`);
  let open = pd.PeriodStart + di * pd.WPoStChallengeWindow;
  while (open + pd.WPoStChallengeWindow <= pd.CurrentEpoch) open += pd.WPoStProvingPeriod;
  const close = open + pd.WPoStChallengeWindow;
  if (!LONG && open > pd.CurrentEpoch + 20) {
    t.log(`${MINER}'s deadline ${di} opens at ${open} (head ${pd.CurrentEpoch}): its Window PoSt is checked in the long tier`);
    return;
  }
  const parts = await chain.stateMinerPartitions(MINER, di);
  await until(
    async () => {
      const dls = await chain.stateMinerDeadlines(MINER);
      const subs = new Set(bitfieldFromJson(dls[di]?.PostSubmissions ?? [0]));
      return parts.every((_, i) => subs.has(i)) || (await chain.chainHead()).Height >= close + 1 ? true : undefined;
    },
    95 * 60_000,
    `deadline ${di} (${open}..${close}) to be proven or to close`,
  );
  const dls = await chain.stateMinerDeadlines(MINER);
  t.true(
    parts.every((_, i) => new Set(bitfieldFromJson(dls[di]?.PostSubmissions ?? [0])).has(i)),
    `deadline ${di}: every partition proven`,
  );
  t.deepEqual(await chain.stateMinerFaults(MINER), [], 'no sector faulty');
  figures.migration_deadline_proven = true;
  figures.migrated_sectors_proven = parts.flatMap((p) => bitfieldFromJson(p.LiveSectors)).length;
  const seenAt = (await chain.chainHead()).Height;
  figures.migration_deadline = { index: di, open, close, proven_by: seenAt };
  t.log(`${MINER}'s deadline ${di} (${open}..${close}): ${figures.migrated_sectors_proven} sectors proven by distminer, seen at ${seenAt}`);
});

test.serial('going back: lotus-miner on its repository, as the adoption left it, with the numbers distminer handed out reserved, mines again and numbers above them', async (t) => {
  t.timeout(8 * 60_000);
  if (!handedOut) return t.fail('the adoption test did not get as far as a sector number');
  await dm?.stop();
  dm = undefined;
  const stoppedAt = (await chain.chainHead()).Height;
  execFileSync(join(process.cwd(), 'scripts/lotus-devnet/up.sh'), [DEVNET!], { stdio: ['ignore', 'ignore', 'inherit'] });
  t.true(alive(), 'lotus-miner runs again');
  // As the README says: before lotus-miner seals anything, reserve what distminer handed out.
  const range = `${handedOut.from}-${handedOut.to}`;
  const reserve = await lotusMinerCli('sectors', 'numbers', 'reserve', 'distminer', range);
  t.is(reserve.status, 0, `lotus-miner sectors numbers reserve distminer ${range}: ${reserve.stderr}`);
  const meta = await lotusMiner<NumAssignerMeta>('SectorNumAssignerMeta');
  t.true(meta.Next > handedOut.to || meta.Next < handedOut.from, `lotus-miner's next number ${meta.Next} is outside distminer's ${range}`);
  t.true(bitfieldFromJson(meta.InUse).includes(handedOut.to), "distminer's numbers are in use for lotus-miner");
  const blocks = await until(
    async () => {
      const b = await minerBlocks(stoppedAt);
      return b.length >= 1 ? b : undefined;
    },
    5 * 60_000,
    `a block of ${MINER} mined by lotus-miner again`,
  );
  figures.going_back_lotus_miner_blocks = blocks.length;
  t.log(`lotus-miner mined ${MINER} again at ${blocks.join(', ')}; its next sector number ${meta.Next}, distminer's ${range} reserved`);
});
