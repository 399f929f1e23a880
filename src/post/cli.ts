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
import { type PartitionJson, bitfieldFromJson } from '../chain/types.js';
import { logger } from '../log.js';
import { checkSectors } from './storage.js';
import { WindowPoStScheduler } from './window.js';
import { WinningPoStMiner } from './winning.js';

interface Args {
  words: string[];
  one: Map<string, string>;
  many: Map<string, string[]>;
}

const REPEATABLE = new Set(['storage']);
const BOOLEAN = new Set(['help', 'json']);

export function parseArgs(argv: string[]): Args {
  const a: Args = { words: [], one: new Map(), many: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    if (!x.startsWith('--')) {
      a.words.push(x);
      continue;
    }
    const eq = x.indexOf('=');
    const name = eq > 0 ? x.slice(2, eq) : x.slice(2);
    let v: string;
    if (eq > 0) v = x.slice(eq + 1);
    else if (BOOLEAN.has(name)) v = 'true';
    else {
      if (argv[i + 1] === undefined) throw new UsageError(`--${name} needs a value`);
      v = argv[++i];
    }
    if (REPEATABLE.has(name)) a.many.set(name, [...(a.many.get(name) ?? []), ...v.split(',').filter(Boolean)]);
    else a.one.set(name, v);
  }
  return a;
}

class UsageError extends Error {}

const USAGE = `usage:
  distminer info --miner f0… [--chain-api TOKEN:/ip4/…/tcp/…/http]
  distminer proving info|deadlines|faults --miner f0…
  distminer proving deadline N --miner f0…
  distminer proving check N --miner f0… --storage DIR [--storage DIR…] [--timeout 10s]
  distminer post window|winning|all --miner f0… --storage DIR… [--state-file F] [--confidence N]
      [--config config.toml ([Fees] as lotus-miner's)] [--propagation-delay 1s]
The chain API comes from --chain-api or FULLNODE_API_INFO (comma-separated for failover).`;

function client(a: Args): ChainClient {
  const info = a.one.get('chain-api') ?? process.env.FULLNODE_API_INFO;
  if (!info) throw new UsageError('no chain API: pass --chain-api TOKEN:/ip4/127.0.0.1/tcp/1234/http or set FULLNODE_API_INFO');
  return new ChainClient(info);
}

function minerOf(a: Args): string {
  const m = a.one.get('miner') ?? process.env.DISTMINER_MINER;
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

function table(rows: (string | number)[][]): string {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => String(c).padEnd(w[i])).join('  ').trimEnd()).join('\n');
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
  const policy = { wpostChallengeWindow: cur.WPoStChallengeWindow, wpostPeriodDeadlines: cur.WPoStPeriodDeadlines, wpostChallengeLookback: cur.WPoStChallengeLookback, faultDeclarationCutoff: cur.FaultDeclarationCutoff, preCommitChallengeDelay: 0 };
  const parts = await Promise.all(dls.map((_, i) => c.stateMinerPartitions(miner, i, head.Cids)));
  const views = dls.map((d, i) => ({
    index: i,
    info: nextNotElapsed(newDeadlineInfo(policy, cur.PeriodStart, i, cur.CurrentEpoch)),
    partitions: parts[i],
    proven: i === cur.Index ? bits(d.PostSubmissions) : [],
  }));
  return { cur, views };
}

async function info(a: Args): Promise<number> {
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
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

async function provingInfo(a: Args): Promise<number> {
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
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

async function provingDeadlines(a: Args): Promise<number> {
  const c = client(a);
  const miner = minerOf(a);
  const { cur, views } = await deadlines(c, miner);
  const rows: (string | number)[][] = [['Deadline', 'Open at', 'Partitions', 'Sectors (Faults)', 'Proven Partitions']];
  for (const v of views) {
    const sectors = v.partitions.reduce((m, p) => m + bits(p.LiveSectors).length, 0);
    const faults = v.partitions.reduce((m, p) => m + bits(p.FaultySectors).length, 0);
    rows.push([`${v.index}${v.index === cur.Index ? ' (current)' : ''}`, v.info.Open, v.partitions.length, `${sectors} (${faults})`, v.index === cur.Index ? v.proven.length : '-']);
  }
  process.stdout.write(`Miner: ${miner}  epoch ${cur.CurrentEpoch}\n${table(rows)}\n`);
  return 0;
}

async function provingDeadline(a: Args): Promise<number> {
  const n = Number(a.words[2]);
  const c = client(a);
  const miner = minerOf(a);
  const { cur, views } = await deadlines(c, miner);
  if (!Number.isInteger(n) || n < 0 || n >= views.length) throw new UsageError(`deadline index must be 0..${views.length - 1}, got "${a.words[2] ?? ''}"`);
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
  v.partitions.forEach((p, i) => {
    const live = bits(p.LiveSectors);
    rows.push([i, live.length, bits(p.ActiveSectors).length, bits(p.FaultySectors).length, bits(p.RecoveringSectors).length, n === cur.Index ? String(v.proven.includes(i)) : '-', live.join(',')]);
  });
  process.stdout.write(lines.join('\n') + (v.partitions.length ? table(rows) + '\n' : ''));
  return 0;
}

async function provingFaults(a: Args): Promise<number> {
  const c = client(a);
  const miner = minerOf(a);
  const { views } = await deadlines(c, miner);
  const rows: (string | number)[][] = [['Deadline', 'Partition', 'Sector', 'Recovering']];
  for (const v of views) {
    v.partitions.forEach((p, i) => {
      const rec = new Set(bits(p.RecoveringSectors));
      for (const s of bits(p.FaultySectors)) rows.push([v.index, i, s, String(rec.has(s))]);
    });
  }
  process.stdout.write(`Miner: ${miner}\n${rows.length > 1 ? table(rows) : 'no faulty sectors'}\n`);
  return 0;
}

async function provingCheck(a: Args): Promise<number> {
  const n = Number(a.words[2]);
  const storage = a.many.get('storage') ?? [];
  if (storage.length === 0) throw new UsageError('--storage DIR is required (repeat it for several paths)');
  const c = client(a);
  const miner = minerOf(a);
  const mi = await c.stateMinerInfo(miner);
  const dls = await c.stateMinerDeadlines(miner);
  if (!Number.isInteger(n) || n < 0 || n >= dls.length) throw new UsageError(`deadline index must be 0..${dls.length - 1}, got "${a.words[2] ?? ''}"`);
  const parts = await c.stateMinerPartitions(miner, n);
  const all = parts.flatMap((p) => bits(p.LiveSectors));
  const res = await checkSectors(storage, Number(miner.slice(2)), all, { sectorSize: mi.SectorSize, timeoutMs: ms(a.one.get('timeout'), 10_000) });
  const rows: (string | number)[][] = [['Deadline', 'Partition', 'Sector', 'Status', 'Where / why']];
  let bad = 0;
  parts.forEach((p, i) => {
    for (const s of bits(p.LiveSectors)) {
      const r = res.get(s)!;
      if (!r.ok) bad++;
      rows.push([n, i, s, r.ok ? 'ok' : 'bad', r.ok ? r.files!.storage : r.reason ?? 'unreadable']);
    }
  });
  process.stdout.write(`${all.length ? table(rows) : `deadline ${n} has no sectors`}\n${all.length - bad} ok, ${bad} bad\n`);
  return bad > 0 ? 1 : 0;
}

async function runPost(a: Args): Promise<number> {
  const what = a.words[1];
  if (!['window', 'winning', 'all'].includes(what)) throw new UsageError('post window|winning|all');
  const storage = a.many.get('storage') ?? [];
  if (storage.length === 0) throw new UsageError('--storage DIR is required (repeat it for several paths)');
  const c = client(a);
  const miner = minerOf(a);
  const log = logger('post');
  const stops: (() => Promise<void>)[] = [];
  // [Fees] of a config.toml (lotus-miner's keys): the PoSt messages' fee caps.
  const cfgFile = a.one.get('config');
  const cfg = cfgFile ? parseConfigToml(readFileSync(cfgFile, 'utf8')) : undefined;
  const fees = { ...DEFAULT_FEE_CAPS, ...cfg?.fees };
  if (what !== 'winning') {
    const confidence = a.one.has('confidence') ? Number(a.one.get('confidence')) : undefined;
    const w = new WindowPoStScheduler({ client: c, miner, storage, confidence, checkTimeoutMs: ms(a.one.get('check-timeout'), 10_000), fees, maximizeFeeCap: cfg?.maximizeWindowPoStFeeCap });
    await w.start();
    stops.push(() => w.stop());
  }
  if (what !== 'window') {
    const stateFile = a.one.get('state-file') ?? join(storage[0], `.distminer-last-mined-${miner.slice(1)}.json`);
    const expectedLeaders = a.one.has('expected-leaders') ? Number(a.one.get('expected-leaders')) : undefined;
    const propagationDelayMs = a.one.has('propagation-delay') ? ms(a.one.get('propagation-delay'), 0) : undefined;
    const m = new WinningPoStMiner({ client: c, miner, storage, stateFile, expectedLeaders, propagationDelayMs });
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

/** `distminer info …` */
export async function infoMain(args: string[]): Promise<number> {
  return guard(() => info(parseArgs(args)));
}

/** `distminer proving info|deadlines|deadline N|faults|check N …` (args after `proving`). */
export async function provingMain(args: string[]): Promise<number> {
  return guard(async () => {
    const a = parseArgs(args);
    if (a.one.has('help') || a.words.length === 0) {
      process.stdout.write(USAGE + '\n');
      return a.one.has('help') ? 0 : 2;
    }
    a.words = ['proving', ...a.words];
    switch (a.words[1]) {
      case 'info':
        return provingInfo(a);
      case 'deadlines':
        return provingDeadlines(a);
      case 'deadline':
        return provingDeadline(a);
      case 'faults':
        return provingFaults(a);
      case 'check':
        return provingCheck(a);
      default:
        throw new UsageError(`unknown proving command "${a.words[1]}"`);
    }
  });
}

/** `distminer post window|winning|all …` (args after `post`): runs the PoSt loops until SIGINT/SIGTERM. */
export async function postMain(args: string[]): Promise<number> {
  return guard(async () => {
    const a = parseArgs(args);
    a.words = ['post', ...a.words];
    return runPost(a);
  });
}

async function guard(f: () => Promise<number>): Promise<number> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${e.message}\n\n${USAGE}\n`);
      return 2;
    }
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 1;
  }
}
