// Window PoSt deadline arithmetic, with the formulas of the builtin-actors miner actor
// (deadline_info.rs, policy.rs, QuantSpec, deadline_assignment.rs). Everything takes a
// ProvingPolicy so that tests and the devnet can shrink the period while keeping the same
// formulas: only the constants change, never the arithmetic.

/** The chain-policy constants deadlines depend on (mainnet values in MAINNET_POLICY). */
export interface ProvingPolicy {
  /** WPoStChallengeWindow: epochs per deadline. */
  wpostChallengeWindow: number;
  /** WPoStPeriodDeadlines: deadlines per proving period (48 on every network). */
  wpostPeriodDeadlines: number;
  /** WPoStChallengeLookback: the challenge is drawn this many epochs before a deadline opens. */
  wpostChallengeLookback: number;
  /** FaultDeclarationCutoff: faults/recoveries for a deadline close this many epochs before it opens. */
  faultDeclarationCutoff: number;
  /** PreCommitChallengeDelay: epochs from pre-commit to the interactive seed. */
  preCommitChallengeDelay: number;
}

/** Mainnet: 30 s epochs, 60-epoch (30 min) deadlines, 48 per 2880-epoch (1 day) period. */
export const MAINNET_POLICY: Readonly<ProvingPolicy> = Object.freeze({
  wpostChallengeWindow: 60,
  wpostPeriodDeadlines: 48,
  wpostChallengeLookback: 20,
  faultDeclarationCutoff: 70, // lookback + 50
  preCommitChallengeDelay: 150,
});

/** WPoStProvingPeriod = WPoStChallengeWindow × WPoStPeriodDeadlines. */
export function provingPeriod(p: ProvingPolicy): number {
  return p.wpostChallengeWindow * p.wpostPeriodDeadlines;
}

/** Checks a policy is internally consistent (the actor relies on these relations). */
export function checkPolicy(p: ProvingPolicy): ProvingPolicy {
  const ints = ['wpostChallengeWindow', 'wpostPeriodDeadlines', 'wpostChallengeLookback', 'faultDeclarationCutoff', 'preCommitChallengeDelay'] as const;
  for (const k of ints) {
    if (!Number.isSafeInteger(p[k]) || p[k] < 0) throw new Error(`policy ${k} must be a non-negative integer, got ${p[k]}`);
  }
  if (p.wpostChallengeWindow < 1 || p.wpostPeriodDeadlines < 1) throw new Error('policy: challenge window and deadlines per period must be ≥ 1');
  if (p.faultDeclarationCutoff < p.wpostChallengeLookback) throw new Error('policy: fault declaration cutoff must be ≥ challenge lookback');
  return p;
}

/** dline.Info, field for field as Lotus returns it from StateMinerProvingDeadline. */
export interface DeadlineInfo {
  CurrentEpoch: number;
  PeriodStart: number;
  Index: number;
  Open: number;
  Close: number;
  Challenge: number;
  FaultCutoff: number;
  WPoStPeriodDeadlines: number;
  WPoStProvingPeriod: number;
  WPoStChallengeWindow: number;
  WPoStChallengeLookback: number;
  FaultDeclarationCutoff: number;
}

/**
 * NewInfo(periodStart, deadlineIdx, currentEpoch). An index ≥ deadlines-per-period yields
 * the "after the last deadline" info whose epochs all equal the next period's start.
 */
export function newDeadlineInfo(p: ProvingPolicy, periodStart: number, index: number, currentEpoch: number): DeadlineInfo {
  const pp = provingPeriod(p);
  const base = {
    CurrentEpoch: currentEpoch,
    PeriodStart: periodStart,
    Index: index,
    WPoStPeriodDeadlines: p.wpostPeriodDeadlines,
    WPoStProvingPeriod: pp,
    WPoStChallengeWindow: p.wpostChallengeWindow,
    WPoStChallengeLookback: p.wpostChallengeLookback,
    FaultDeclarationCutoff: p.faultDeclarationCutoff,
  };
  if (index < p.wpostPeriodDeadlines) {
    const open = periodStart + index * p.wpostChallengeWindow;
    return { ...base, Open: open, Close: open + p.wpostChallengeWindow, Challenge: open - p.wpostChallengeLookback, FaultCutoff: open - p.faultDeclarationCutoff };
  }
  const after = periodStart + pp;
  return { ...base, Open: after, Close: after, Challenge: after, FaultCutoff: after };
}

/** Truncating division as Rust's `/` on i64 (toward zero), also for negative operands. */
function tdiv(a: number, b: number): number {
  return Math.trunc(a / b);
}

/** Rust's `%` on i64: the remainder takes the sign of the dividend. */
function trem(a: number, b: number): number {
  return a % b;
}

/** QuantSpec{unit, offset}.quantize_up(e): the least epoch ≥ e congruent to offset mod unit. */
export function quantizeUp(unit: number, offset: number, e: number): number {
  const off = trem(offset, unit);
  const remainder = trem(e - off, unit);
  const quotient = tdiv(e - off, unit);
  if (remainder === 0) return unit * quotient + off;
  // Truncating division of a negative number already rounded up.
  if (e - off < 0) return unit * quotient + off;
  return unit * (quotient + 1) + off;
}

/** QuantSpec{unit, offset}.quantize_down(e): the greatest epoch ≤ e congruent to offset mod unit. */
export function quantizeDown(unit: number, offset: number, e: number): number {
  const next = quantizeUp(unit, offset, e);
  return e === next ? next : next - unit;
}

/** NewInfoFromOffsetAndEpoch: the deadline current at `currentEpoch` for a period-start offset. */
export function deadlineInfoFromOffsetAndEpoch(p: ProvingPolicy, periodStartSeed: number, currentEpoch: number): DeadlineInfo {
  const pp = provingPeriod(p);
  const periodStart = quantizeDown(pp, periodStartSeed, currentEpoch);
  const index = tdiv(currentEpoch - periodStart, p.wpostChallengeWindow);
  return newDeadlineInfo(p, periodStart, index, currentEpoch);
}

/**
 * current_proving_period_start(currentEpoch, offset), used when a miner actor is created:
 * the latest epoch ≤ currentEpoch that is ≡ offset (mod proving period). `offset` must be
 * in [0, proving period).
 */
export function currentProvingPeriodStart(p: ProvingPolicy, currentEpoch: number, offset: number): number {
  const pp = provingPeriod(p);
  const currModulus = trem(currentEpoch, pp);
  const progress = currModulus >= offset ? currModulus - offset : pp - (offset - currModulus);
  return currentEpoch - progress;
}

/** current_deadline_index(currentEpoch, periodStart). */
export function currentDeadlineIndex(p: ProvingPolicy, currentEpoch: number, periodStart: number): number {
  return tdiv(currentEpoch - periodStart, p.wpostChallengeWindow);
}

export const isOpen = (d: DeadlineInfo): boolean => d.CurrentEpoch >= d.Open && d.CurrentEpoch < d.Close;
export const hasElapsed = (d: DeadlineInfo): boolean => d.CurrentEpoch >= d.Close;
export const faultCutoffPassed = (d: DeadlineInfo): boolean => d.CurrentEpoch >= d.FaultCutoff;
/** The deadline's last epoch, at whose end the actor's cron processes it. */
export const lastEpoch = (d: DeadlineInfo): number => d.Close - 1;
export const periodEnd = (d: DeadlineInfo): number => d.PeriodStart + d.WPoStProvingPeriod - 1;
export const nextPeriodStart = (d: DeadlineInfo): number => d.PeriodStart + d.WPoStProvingPeriod;
export const periodStarted = (d: DeadlineInfo): boolean => d.CurrentEpoch >= d.PeriodStart;
export const periodElapsed = (d: DeadlineInfo): boolean => d.CurrentEpoch >= nextPeriodStart(d);

function policyOf(d: DeadlineInfo): ProvingPolicy {
  return {
    wpostChallengeWindow: d.WPoStChallengeWindow,
    wpostPeriodDeadlines: d.WPoStPeriodDeadlines,
    wpostChallengeLookback: d.WPoStChallengeLookback,
    faultDeclarationCutoff: d.FaultDeclarationCutoff,
    preCommitChallengeDelay: 0,
  };
}

/** NextNotElapsed: this deadline if it has not closed yet, else its next occurrence. */
export function nextNotElapsed(d: DeadlineInfo): DeadlineInfo {
  if (!hasElapsed(d)) return d;
  const periods = tdiv(d.CurrentEpoch - d.Close, d.WPoStProvingPeriod) + 1;
  const nextOpen = d.Open + periods * d.WPoStProvingPeriod;
  return newDeadlineInfo(policyOf(d), nextOpen - d.Index * d.WPoStChallengeWindow, d.Index, d.CurrentEpoch);
}

/** The deadline after `d` (index + 1, wrapping into the next period). */
export function nextDeadline(d: DeadlineInfo): DeadlineInfo {
  const p = policyOf(d);
  if (d.Index + 1 >= d.WPoStPeriodDeadlines) return newDeadlineInfo(p, d.PeriodStart + d.WPoStProvingPeriod, 0, d.CurrentEpoch);
  return newDeadlineInfo(p, d.PeriodStart, d.Index + 1, d.CurrentEpoch);
}

/**
 * deadline_is_mutable: sectors may be assigned to (or partitions changed in) a deadline only
 * when at least one challenge window remains before its next opening — never the current
 * or the next deadline.
 */
export function deadlineIsMutable(p: ProvingPolicy, periodStart: number, index: number, currentEpoch: number): boolean {
  const d = nextNotElapsed(newDeadlineInfo(p, periodStart, index, currentEpoch));
  return currentEpoch < d.Open - p.wpostChallengeWindow;
}

/** Per-deadline counts the assignment heuristic looks at. */
export interface DeadlineLoad {
  liveSectors: number;
  totalSectors: number;
}

const divCeil = (a: number, b: number) => Math.floor((a + b - 1) / b);

/**
 * assign_deadlines: distributes `count` new sectors over the assignable deadlines (null =
 * not mutable now), as the actor does: fewest partitions after compaction, then before
 * compaction, then fill an open partition (the fullest), then fewest live sectors, then
 * lowest index. Returns, per deadline index, how many of the sectors (in order) go there.
 */
export function assignDeadlines(maxPartitions: number, partitionSize: number, deadlines: (DeadlineLoad | null)[], count: number): number[][] {
  const infos = deadlines.flatMap((d, index) => (d ? [{ index, live: d.liveSectors, total: d.totalSectors }] : []));
  if (infos.length === 0) throw new Error('no deadline is open for assignment');
  const full = (x: { total: number }) => x.total % partitionSize === 0;
  const cmp = (a: (typeof infos)[0], b: (typeof infos)[0]): number =>
    divCeil(a.live + 1, partitionSize) - divCeil(b.live + 1, partitionSize) ||
    divCeil(a.total + 1, partitionSize) - divCeil(b.total + 1, partitionSize) ||
    Number(full(a)) - Number(full(b)) ||
    (!full(a) && !full(b) ? b.total - a.total : 0) ||
    a.live - b.live ||
    a.index - b.index;
  const out: number[][] = deadlines.map(() => []);
  for (let i = 0; i < count; i++) {
    let best = infos[0];
    for (const x of infos) if (cmp(x, best) < 0) best = x;
    if (best.total >= partitionSize * maxPartitions) throw new Error(`max partitions limit ${maxPartitions} reached for all deadlines`);
    out[best.index].push(i);
    best.live++;
    best.total++;
  }
  return out;
}

/** The network's PoStedPartitionsMax: partitions one SubmitWindowedPoSt may carry. */
export const POSTED_PARTITIONS_MAX = 3;
/** AddressedSectorsMax: sectors one message may address. */
export const ADDRESSED_SECTORS_MAX = 25_000;

/**
 * Partitions one SubmitWindowedPoSt may carry (the actors' load_partitions_sectors_max, Lotus's
 * GetMaxPoStPartitions): the sectors a message may address over the partition size, and never
 * more than PoStedPartitionsMax. The actors refuse a message with more.
 */
export function maxPoStPartitions(partitionSectors: number): number {
  return Math.max(1, Math.min(POSTED_PARTITIONS_MAX, Math.floor(ADDRESSED_SECTORS_MAX / Math.max(1, partitionSectors))));
}
