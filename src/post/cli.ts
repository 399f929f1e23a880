// Proving commands with lotus-miner's names, answered from the chain alone (a PoSt miner has
// no sector database): `info`, `proving info|deadlines|deadline N|faults|check N`, and
// `post window|winning|all` to run the PoSt loops on their own (debugging, split hosts).
//   chain: --chain-api TOKEN:/ip4/127.0.0.1/tcp/1234/http (else FULLNODE_API_INFO)
//   miner: --miner f01000
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfigToml } from '../config/settings.js';
import { DEFAULT_FEE_CAPS } from '../chain/fees.js';
import { ChainClient } from '../chain/client.js';
import { type DeadlineInfo, newDeadlineInfo, nextNotElapsed } from '../chain/deadlines.js';
import type { PartitionJson } from '../chain/api-types.js';
import { bitfieldFromJson } from '../chain/bitfield.js';
import { logger } from '../log.js';
import { checkSectors } from './storage.js';
import { WindowPoStScheduler } from './window.js';
import { WinningPoStMiner } from './winning.js';
import { sharedSlashFilter } from './slash-filter.js';
import { windowPoStLeases } from './window-lease.js';
import { sharedDbUrl } from './shared-pg.js';
import { UsageError, chainApiOf } from '../cli/usage.js';

/** The options of `info`, `proving …` and `post …`, parsed by commander (src/cli/program.ts). */
export interface PostCliOptions {
  chainApi?: string;
  miner?: string;
  json?: boolean;
  storage?: string[];
  timeout?: string;
  stateFile?: string;
  confidence?: string;
  checkTimeout?: string;
  expectedLeaders?: string;
  propagationDelay?: string;
  sharedDb?: string;
  windowLease?: string;
  config?: string;
}
type Args = PostCliOptions;

function client(a: Args): ChainClient {
  return new ChainClient(chainApiOf(a.chainApi));
}

function minerOf(a: Args): string {
  const m = a.miner ?? process.env.DISTMINER_MINER;
  if (!m) throw new UsageError('--miner f0… is required');
  if (!/^[ft]0\d+$/.test(m)) throw new UsageError(`--miner ${m}: expected an ID address such as f01000`);
  return m;
}

function ms(v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v);
  if (!m) throw new UsageError(`bad duration "${v}" (e.g. 500ms, 10s, 1m)`);
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
}

const bits = (j: unknown) => bitfieldFromJson(j, 'bitfield');
const pct = (a: bigint, b: bigint) => (b === 0n ? '0%' : `${(Number((a * 10000n) / b) / 100).toFixed(2)}%`);

function sizeStr(n: bigint): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let i = 0;
  let x = Number(n);
  while (x >= 1024 && i < u.length - 1) {
    x /= 1024;
    i++;
  }
  return `${Number.isInteger(x) ? x : x.toFixed(2)} ${u[i]}`;
}

/** The text, or with --json the data. */
function print(a: Args, data: unknown, text: string): void {
  process.stdout.write(a.json ? JSON.stringify(data, null, 2) + '\n' : text);
}

function table(rows: (string | number)[][]): string {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => String(c).padEnd(w[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

interface DeadlineView {
  index: number;
  info: DeadlineInfo;
  partitions: PartitionJson[];
  proven: number[];
}

async function deadlines(c: ChainClient, miner: string): Promise<{ cur: DeadlineInfo; views: DeadlineView[] }> {
  const head = await c.chainHead();
  const [cur, dls] = await Promise.all([c.stateMinerProvingDeadline(miner, head.Cids), c.stateMinerDeadlines(miner, head.Cids)]);
  const policy = {
    wpostChallengeWindow: cur.WPoStChallengeWindow,
    wpostPeriodDeadlines: cur.WPoStPeriodDeadlines,
    wpostChallengeLookback: cur.WPoStChallengeLookback,
    faultDeclarationCutoff: cur.FaultDeclarationCutoff,
    preCommitChallengeDelay: 0,
  };
  const parts = await Promise.all(dls.map((_, i) => c.stateMinerPartitions(miner, i, head.Cids)));
  const views = dls.map((d, i) => ({
    index: i,
    info: nextNotElapsed(newDeadlineInfo(policy, cur.PeriodStart, i, cur.CurrentEpoch)),
    partitions: parts[i],
    proven: i === cur.Index ? bits(d.PostSubmissions) : [],
  }));
  return { cur, views };
}

async function infoCmd(a: Args): Promise<number> {
  const c = client(a);
  const miner = minerOf(a);
  const head = await c.chainHead();
  const [mi, pw, all, active, faults, recs] = await Promise.all([
    c.stateMinerInfo(miner, head.Cids),
    c.stateMinerPower(miner, head.Cids),
    c.stateMinerSectors(miner, null, head.Cids),
    c.stateMinerActiveSectors(miner, head.Cids),
    c.stateMinerFaults(miner, head.Cids),
    c.stateMinerRecoveries(miner, head.Cids),
  ]);
  const { cur, views } = await deadlines(c, miner);
  let balance = '(not offered by this chain node)';
  try {
    const b = await c.call<string>('StateMinerAvailableBalance', [miner, head.Cids]);
    balance = `${b} attoFIL available`;
  } catch {
    // the devnet has no balances
  }
  const mp = BigInt(pw.MinerPower.RawBytePower);
  const tp = BigInt(pw.TotalPower.RawBytePower);
  const faultSet = new Set(faults);
  const activeSet = new Set(active.map((s) => s.SectorNumber));
  const unproven = all.filter((s) => !activeSet.has(s.SectorNumber) && !faultSet.has(s.SectorNumber)).length;
  const withSectors = views.filter((v) => v.partitions.some((p) => bits(p.LiveSectors).length > 0));
  const faultyDls = views.filter((v) => v.partitions.some((p) => bits(p.FaultySectors).length > 0));
  const curView = views[cur.Index];
  const lines = [
    `Chain head: ${head.Height}`,
    `Miner: ${miner} (${mi.SectorSize === 2048 ? '2 KiB' : sizeStr(BigInt(mi.SectorSize))} sectors)`,
    `Worker: ${mi.Worker}  Owner: ${mi.Owner}`,
    `Power: ${sizeStr(mp)} / ${sizeStr(tp)} (${pct(mp, tp)})${pw.HasMinPower ? '' : '  [below minimum power: not eligible to mine]'}`,
    `Balance: ${balance}`,
    '',
    'Sectors (from the chain):',
    `  Total: ${all.length}`,
    `  Active: ${active.length}`,
    `  Unproven (waiting for their first Window PoSt): ${unproven}`,
    `  Faulty: ${faults.length}${faults.length ? ` (${faults.join(', ')})` : ''}`,
    `  Recovering: ${recs.length}`,
    '',
    `Deadlines: ${views.length} per period, ${withSectors.length} with sectors, ${faultyDls.length} with faults`,
    `  Current: ${cur.Index} (open ${cur.Open}..${cur.Close - 1}), partitions proven so far: ${curView.proven.length}/${curView.partitions.length}`,
  ];
  const data = {
    chainHead: head.Height,
    miner,
    sectorSize: mi.SectorSize,
    worker: mi.Worker,
    owner: mi.Owner,
    power: { miner: mp.toString(), total: tp.toString(), hasMinPower: pw.HasMinPower },
    balance,
    sectors: { total: all.length, active: active.length, unproven, faulty: faults, recovering: recs.length },
    deadlines: {
      count: views.length,
      withSectors: withSectors.length,
      withFaults: faultyDls.length,
      current: { index: cur.Index, open: cur.Open, close: cur.Close, partitions: curView.partitions.length, proven: curView.proven.length },
    },
  };
  print(a, data, lines.join('\n') + '\n');
  return 0;
}

async function provingInfoCmd(a: Args): Promise<number> {
  const c = client(a);
  const miner = minerOf(a);
  const { cur, views } = await deadlines(c, miner);
  const faults = await c.stateMinerFaults(miner);
  const recs = await c.stateMinerRecoveries(miner);
  const live = views.reduce((n, v) => n + v.partitions.reduce((m, p) => m + bits(p.LiveSectors).length, 0), 0);
  const curParts = views[cur.Index].partitions;
  const e = cur.CurrentEpoch;
  const rel = (x: number) => (x >= e ? `in ${x - e} epochs` : `${e - x} epochs ago`);
  const lines = [
    `Miner: ${miner}`,
    `Current Epoch:           ${e}`,
    `Proving Period Boundary: ${cur.PeriodStart % cur.WPoStProvingPeriod}`,
    `Proving Period Start:    ${cur.PeriodStart} (${rel(cur.PeriodStart)})`,
    `Next Period Start:       ${cur.PeriodStart + cur.WPoStProvingPeriod} (${rel(cur.PeriodStart + cur.WPoStProvingPeriod)})`,
    '',
    `Faults:      ${faults.length} (${live ? ((faults.length * 100) / live).toFixed(2) : '0.00'}%)`,
    `Recovering:  ${recs.length}`,
    '',
    `Deadline Index:       ${cur.Index}`,
    `Deadline Sectors:     ${curParts.reduce((m, p) => m + bits(p.LiveSectors).length, 0)}`,
    `Deadline Open:        ${cur.Open} (${rel(cur.Open)})`,
    `Deadline Close:       ${cur.Close} (${rel(cur.Close)})`,
    `Deadline Challenge:   ${cur.Challenge} (${rel(cur.Challenge)})`,
    `Deadline FaultCutoff: ${cur.FaultCutoff} (${rel(cur.FaultCutoff)})`,
  ];
  const data = {
    miner,
    currentEpoch: e,
    periodStart: cur.PeriodStart,
    nextPeriodStart: cur.PeriodStart + cur.WPoStProvingPeriod,
    faults: faults.length,
    recovering: recs.length,
    deadline: { index: cur.Index, sectors: curParts.reduce((m, p) => m + bits(p.LiveSectors).length, 0), open: cur.Open, close: cur.Close, challenge: cur.Challenge, faultCutoff: cur.FaultCutoff },
  };
  print(a, data, lines.join('\n') + '\n');
  return 0;
}

async function provingDeadlinesCmd(a: Args): Promise<number> {
  const c = client(a);
  const miner = minerOf(a);
  const { cur, views } = await deadlines(c, miner);
  const rows: (string | number)[][] = [['Deadline', 'Open at', 'Partitions', 'Sectors (Faults)', 'Proven Partitions']];
  const data = [];
  for (const v of views) {
    const sectors = v.partitions.reduce((m, p) => m + bits(p.LiveSectors).length, 0);
    const faults = v.partitions.reduce((m, p) => m + bits(p.FaultySectors).length, 0);
    rows.push([`${v.index}${v.index === cur.Index ? ' (current)' : ''}`, v.info.Open, v.partitions.length, `${sectors} (${faults})`, v.index === cur.Index ? v.proven.length : '-']);
    data.push({ index: v.index, current: v.index === cur.Index, open: v.info.Open, partitions: v.partitions.length, sectors, faults, proven: v.index === cur.Index ? v.proven.length : null });
  }
  print(a, { miner, epoch: cur.CurrentEpoch, deadlines: data }, `Miner: ${miner}  epoch ${cur.CurrentEpoch}\n${table(rows)}\n`);
  return 0;
}

async function provingDeadlineCmd(a: Args, index: string): Promise<number> {
  const n = Number(index);
  const c = client(a);
  const miner = minerOf(a);
  const { cur, views } = await deadlines(c, miner);
  if (!Number.isInteger(n) || n < 0 || n >= views.length) throw new UsageError(`deadline index must be 0..${views.length - 1}, got "${index}"`);
  const v = views[n];
  const lines = [
    `Deadline Index:           ${n}${n === cur.Index ? ' (current)' : ''}`,
    `Open at:                  ${v.info.Open} (closes ${v.info.Close}, fault cutoff ${v.info.FaultCutoff})`,
    `Partitions:               ${v.partitions.length}`,
    `Proven Partitions:        ${n === cur.Index ? v.proven.length : '-'}`,
    `Current:                  ${n === cur.Index}`,
    '',
  ];
  const rows: (string | number)[][] = [['Partition', 'Sectors', 'Active', 'Faulty', 'Recovering', 'Proven', 'Sector numbers']];
  const partitions = v.partitions.map((p, i) => {
    const live = bits(p.LiveSectors);
    const row = { index: i, sectors: live, active: bits(p.ActiveSectors), faulty: bits(p.FaultySectors), recovering: bits(p.RecoveringSectors), proven: n === cur.Index ? v.proven.includes(i) : null };
    rows.push([i, live.length, row.active.length, row.faulty.length, row.recovering.length, row.proven === null ? '-' : String(row.proven), live.join(',')]);
    return row;
  });
  const data = { index: n, current: n === cur.Index, open: v.info.Open, close: v.info.Close, faultCutoff: v.info.FaultCutoff, partitions };
  print(a, data, lines.join('\n') + (v.partitions.length ? table(rows) + '\n' : ''));
  return 0;
}

async function provingFaultsCmd(a: Args): Promise<number> {
  const c = client(a);
  const miner = minerOf(a);
  const { views } = await deadlines(c, miner);
  const rows: (string | number)[][] = [['Deadline', 'Partition', 'Sector', 'Recovering']];
  const data: { deadline: number; partition: number; sector: number; recovering: boolean }[] = [];
  for (const v of views) {
    v.partitions.forEach((p, i) => {
      const rec = new Set(bits(p.RecoveringSectors));
      for (const s of bits(p.FaultySectors)) {
        rows.push([v.index, i, s, String(rec.has(s))]);
        data.push({ deadline: v.index, partition: i, sector: s, recovering: rec.has(s) });
      }
    });
  }
  print(a, data, `Miner: ${miner}\n${rows.length > 1 ? table(rows) : 'no faulty sectors'}\n`);
  return 0;
}

async function provingCheckCmd(a: Args, index: string): Promise<number> {
  const n = Number(index);
  const storage = a.storage ?? [];
  if (storage.length === 0) throw new UsageError('--storage DIR is required (repeat it for several paths)');
  const c = client(a);
  const miner = minerOf(a);
  const mi = await c.stateMinerInfo(miner);
  const dls = await c.stateMinerDeadlines(miner);
  if (!Number.isInteger(n) || n < 0 || n >= dls.length) throw new UsageError(`deadline index must be 0..${dls.length - 1}, got "${index}"`);
  const parts = await c.stateMinerPartitions(miner, n);
  const all = parts.flatMap((p) => bits(p.LiveSectors));
  const res = await checkSectors(storage, Number(miner.slice(2)), all, { sectorSize: mi.SectorSize, timeoutMs: ms(a.timeout, 10_000) });
  const rows: (string | number)[][] = [['Deadline', 'Partition', 'Sector', 'Status', 'Where / why']];
  const data: { deadline: number; partition: number; sector: number; ok: boolean; storage?: string; reason?: string }[] = [];
  let bad = 0;
  parts.forEach((p, i) => {
    for (const s of bits(p.LiveSectors)) {
      const r = res.get(s)!;
      if (!r.ok) bad++;
      rows.push([n, i, s, r.ok ? 'ok' : 'bad', r.ok ? r.files!.storage : (r.reason ?? 'unreadable')]);
      data.push(r.ok ? { deadline: n, partition: i, sector: s, ok: true, storage: r.files!.storage } : { deadline: n, partition: i, sector: s, ok: false, reason: r.reason ?? 'unreadable' });
    }
  });
  print(a, data, `${all.length ? table(rows) : `deadline ${n} has no sectors`}\n${all.length - bad} ok, ${bad} bad\n`);
  return bad > 0 ? 1 : 0;
}

async function postCmd(a: Args, what: string): Promise<number> {
  if (!['window', 'winning', 'all'].includes(what)) throw new UsageError(`post: "${what}" is not one of window, winning, all`);
  const storage = a.storage ?? [];
  if (storage.length === 0) throw new UsageError('--storage DIR is required (repeat it for several paths)');
  const c = client(a);
  const miner = minerOf(a);
  const log = logger('post');
  const stops: (() => Promise<void>)[] = [];
  // [Fees] of a config.toml (lotus-miner's keys): the PoSt messages' fee caps.
  const cfgFile = a.config;
  const cfg = cfgFile ? parseConfigToml(readFileSync(cfgFile, 'utf8')) : undefined;
  const fees = { ...DEFAULT_FEE_CAPS, ...cfg?.fees };
  let sharedDb: string | undefined;
  try {
    sharedDb = sharedDbUrl(a.sharedDb ?? process.env.DISTMINER_SLASH_FILTER);
  } catch (e) {
    throw new UsageError(`--shared-db: ${(e as Error).message}`);
  }
  if (what !== 'winning') {
    const confidence = a.confidence !== undefined ? Number(a.confidence) : undefined;
    const leaseMs = a.windowLease !== undefined ? ms(a.windowLease, 0) : undefined;
    const w = new WindowPoStScheduler({
      client: c,
      miner,
      storage,
      confidence,
      checkTimeoutMs: ms(a.checkTimeout, 10_000),
      fees,
      maximizeFeeCap: cfg?.maximizeWindowPoStFeeCap,
      leases: windowPoStLeases(sharedDb, miner),
      leaseMs,
    });
    await w.start();
    stops.push(() => w.stop());
  }
  if (what !== 'window') {
    const stateFile = a.stateFile ?? join(storage[0], `.distminer-last-mined-${miner.slice(1)}.json`);
    const expectedLeaders = a.expectedLeaders !== undefined ? Number(a.expectedLeaders) : undefined;
    const propagationDelayMs = a.propagationDelay !== undefined ? ms(a.propagationDelay, 0) : undefined;
    const m = new WinningPoStMiner({ client: c, miner, storage, stateFile, expectedLeaders, propagationDelayMs, sharedFilter: sharedSlashFilter(sharedDb, miner) });
    await m.start();
    stops.push(() => m.stop());
  }
  log.info({ miner, roles: what, storage }, 'PoSt loops running (Ctrl-C to stop)');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await Promise.all(stops.map((s) => s()));
  return 0;
}

async function guard(f: () => Promise<number>): Promise<number> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`error: ${e.message} (see --help)\n`);
      return 2;
    }
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 1;
  }
}

// Each command: a bad argument (UsageError) exits 2, any other error 1 with "error: …".
/** `distminer info` */
export const info = (a: Args) => guard(() => infoCmd(a));
/** `distminer proving info` */
export const provingInfo = (a: Args) => guard(() => provingInfoCmd(a));
/** `distminer proving deadlines` */
export const provingDeadlines = (a: Args) => guard(() => provingDeadlinesCmd(a));
/** `distminer proving deadline N` */
export const provingDeadline = (a: Args, index: string) => guard(() => provingDeadlineCmd(a, index));
/** `distminer proving faults` */
export const provingFaults = (a: Args) => guard(() => provingFaultsCmd(a));
/** `distminer proving check N --storage DIR…`: exit 1 when a sector is unreadable. */
export const provingCheck = (a: Args, index: string) => guard(() => provingCheckCmd(a, index));
/** `distminer post window|winning|all …`: runs the PoSt loops until SIGINT/SIGTERM. */
export const post = (a: Args, what: string) => guard(() => postCmd(a, what));
