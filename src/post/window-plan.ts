// The Window PoSt role's decisions, as pure functions of chain facts (deadline info, partition
// bitfields, what is posted, what a reorg took away) and storage facts (each sector's check
// outcome): which deadlines to prove at a head, which sectors go in a proof, which to declare
// faulty or recovered and when, when a proof is sent, what to do with a submission after a
// revert. No chain, no files, no clock: window.ts feeds these from the node and the disks, and
// test/post/window-plan.test.ts runs them through reverts, null rounds and faults in
// milliseconds.
import { type DeadlineInfo, nextDeadline, nextNotElapsed } from '../chain/deadlines.js';
import type { FaultDeclaration } from '../chain/params.js';
import type { PartitionJson } from '../chain/api-types.js';
import { bitfieldFromJson } from '../chain/bitfield.js';

/** Failed proving attempts of one deadline occurrence before it is left for its window to close. */
export const MAX_PROOF_ATTEMPTS = 3;

/** One deadline occurrence: its index and the epoch it opens (a deadline index recurs every proving period). */
export const occurrenceKey = (d: Pick<DeadlineInfo, 'Index' | 'Open'>): string => `${d.Index}@${d.Open}`;

const bits = (j: unknown): number[] => bitfieldFromJson(j, 'bitfield');

/** A partition's bitfields, decoded. */
export interface PartitionSets {
  live: number[];
  faulty: Set<number>;
  recovering: Set<number>;
  active: Set<number>;
}

export function partitionSets(p: PartitionJson): PartitionSets {
  return { live: bits(p.LiveSectors), faulty: new Set(bits(p.FaultySectors)), recovering: new Set(bits(p.RecoveringSectors)), active: new Set(bits(p.ActiveSectors)) };
}

/** The sectors a proof of the partition covers: live and not faulty, or faulty and declared recovering. */
export function provableSectors(p: PartitionJson): number[] {
  const s = partitionSets(p);
  return s.live.filter((n) => !s.faulty.has(n) || s.recovering.has(n));
}

/** The partitions of a deadline that still need a proof: something provable, not posted yet. */
export function partitionsToProve(parts: PartitionJson[], posted: ReadonlySet<number>): { index: number; p: PartitionJson }[] {
  return parts.map((p, index) => ({ index, p })).filter(({ index, p }) => !posted.has(index) && provableSectors(p).length > 0);
}

/**
 * The deadline occurrences to start proving at head `height`: the current one and the next,
 * each once its challenge is `confidence` epochs deep and while a message can still land in its
 * window (at the latest in its last epoch). A head that arrives after null rounds is judged by
 * its height alone, so a window that closed during them is not started. `skip` answers for the
 * occurrences the caller has done, is proving, or has given up on.
 */
export function deadlinesToProve(cur: DeadlineInfo, height: number, confidence: number, skip: (key: string) => boolean): DeadlineInfo[] {
  return [cur, nextDeadline(cur)].map((d) => ({ ...d, CurrentEpoch: height })).filter((d) => height >= d.Challenge + confidence && height + 1 < d.Close && !skip(occurrenceKey(d)));
}

/** A failed occurrence is missed once a message sent now could no longer land in its window. */
export const windowClosedFor = (d: DeadlineInfo, height: number): boolean => height + 1 >= d.Close;

/** Epochs between two readability checks of one coming occurrence: a quarter challenge window unless configured. */
export const recheckEpochs = (d: DeadlineInfo, configured?: number): number => configured ?? Math.max(1, Math.floor(d.WPoStChallengeWindow / 4));

/**
 * The coming deadline occurrences whose faults and recoveries are checked at head `height`: the
 * `ahead` deadlines after the current one (skipping any already elapsed, as after null rounds;
 * from the `first`th on) whose fault cutoff a declaration can still beat, each at most once per
 * `recheck` epochs (`lastChecked`: the head height of its last check).
 */
export function declarationTargets(
  cur: DeadlineInfo,
  height: number,
  ahead: number,
  recheck: (d: DeadlineInfo) => number,
  lastChecked: (key: string) => number | undefined,
  first = 1,
): DeadlineInfo[] {
  const out: DeadlineInfo[] = [];
  let dl = cur;
  for (let i = 1; i <= ahead; i++) {
    dl = nextNotElapsed({ ...nextDeadline(dl), CurrentEpoch: height });
    if (i < first || height + 1 >= dl.FaultCutoff) continue;
    const last = lastChecked(occurrenceKey(dl));
    if (last !== undefined && height - last < recheck(dl)) continue;
    out.push(dl);
  }
  return out;
}

/** A storage check's answer, as the decisions need it. */
export interface StorageFact {
  ok: boolean;
  outcome: 'ok' | 'gone' | 'slow';
  reason?: string;
}

export interface DeclarationPlan {
  /** Sectors to declare faulty now (gone), per partition. */
  faults: FaultDeclaration[];
  /** Sectors to declare recovered now (readable again), per partition. */
  recoveries: FaultDeclaration[];
  /** Why each sector in `faults` is declared. */
  reasons: Record<number, string>;
  /** Sectors that would be declared faulty but answered "slow": not declared yet (see slowFaultStep). */
  slow: { s: number; partition: number }[];
}

/**
 * The deadlines after the `ahead` nearest whose recoveries may be declared at `height`: every
 * other one of the period whose cutoff has not passed — not the current deadline's next
 * occurrence (the actor counts an open deadline's declaration as late for it until it closes).
 * A file that comes back is declared recovered at once, not only in the 50 or so epochs
 * between its deadline coming within `ahead` and its cutoff: on a chain whose tipsets are many
 * epochs apart that range can pass between two heads.
 */
export const recoveryTargets = (cur: DeadlineInfo, height: number, ahead: number, recheck: (d: DeadlineInfo) => number, lastChecked: (key: string) => number | undefined): DeadlineInfo[] =>
  declarationTargets(cur, height, cur.WPoStPeriodDeadlines - 1, recheck, lastChecked, ahead + 1);

/**
 * Faults and recoveries for one coming occurrence of deadline `deadline`, from its partitions
 * and the storage facts of their live sectors (with `recoveriesOnly`, of its faulty sectors not
 * yet recovering, and recoveries only):
 * - a provable sector (not faulty, or recovering) that is gone is declared faulty, a slow one
 *   is set aside for a later check; a sector never proven yet (live, not active, not faulty) is
 *   not declared ahead of its first window — its files may still be on their way from the seal
 *   worker, and the proof skips it if they are still missing then;
 * - a faulty sector (not recovering) that is readable again is declared recovered, unless it
 *   failed in a proof and its file has not changed since (`sameDamagedFile`);
 * - nothing already declared for this occurrence (`sent`) is declared again.
 */
export function planDeclarations(
  deadline: number,
  parts: PartitionJson[],
  storage: ReadonlyMap<number, StorageFact>,
  sent: { faults: ReadonlySet<number>; recoveries: ReadonlySet<number> },
  sameDamagedFile: (sector: number) => boolean = () => false,
  recoveriesOnly = false,
): DeclarationPlan {
  const plan: DeclarationPlan = { faults: [], recoveries: [], reasons: {}, slow: [] };
  parts.forEach((p, partition) => {
    const { live, faulty, recovering, active } = partitionSets(p);
    const faults: number[] = [];
    const recoveries: number[] = [];
    for (const s of live) {
      if (recoveriesOnly && !(faulty.has(s) && !recovering.has(s))) continue;
      const r = storage.get(s);
      if (!r) throw new Error(`no storage fact for live sector ${s} of deadline ${deadline}`);
      if (!r.ok && (!faulty.has(s) || recovering.has(s))) {
        if (!faulty.has(s) && !active.has(s)) continue; // never proven yet
        if (sent.faults.has(s)) continue; // declared for this occurrence; not landed yet
        if (r.outcome === 'slow') {
          plan.slow.push({ s, partition });
          continue;
        }
        faults.push(s);
        plan.reasons[s] = `${r.outcome}: ${r.reason ?? 'unreadable'}`;
      } else if (r.ok && faulty.has(s) && !recovering.has(s)) {
        if (sameDamagedFile(s) || sent.recoveries.has(s)) continue;
        recoveries.push(s);
      }
    }
    if (faults.length > 0) plan.faults.push({ deadline, partition, sectors: faults });
    if (recoveries.length > 0) plan.recoveries.push({ deadline, partition, sectors: recoveries });
  });
  return plan;
}

/**
 * What to do with slow sectors found at head `height` for an occurrence: 'defer' while a later
 * check (recheck epochs on) still comes before the fault cutoff; else 'retry-now' — re-check
 * them until a declaration can no longer land and declare those still unreadable.
 */
export const slowFaultStep = (d: DeadlineInfo, height: number, recheck: number): 'defer' | 'retry-now' => (height + recheck + 1 < d.FaultCutoff ? 'defer' : 'retry-now');

/** Clock time (ms) until which slow sectors are re-checked before a declaration: pushed before the epoch before the cutoff, a quarter block kept for pushing. */
export const declarationChecksUntil = (startedMs: number, d: DeadlineInfo, height: number, blockDelayMs: number): number => startedMs + (d.FaultCutoff - 1 - height) * blockDelayMs - blockDelayMs / 4;

/** A declaration can still land for the occurrence at head `height` (it must execute before the cutoff). */
export const beforeFaultCutoff = (d: DeadlineInfo, height: number): boolean => height + 1 < d.FaultCutoff;

/**
 * Clock time (ms) by which the storage checks for a proof must end: the window's end less one
 * epoch (the message must land in it) and the time the proof needs — `reserveMs` if set, else
 * twice the longest recent proof, else half the time left.
 */
export function proofChecksUntil(nowMs: number, d: DeadlineInfo, height: number, blockDelayMs: number, recentProofMs: number[], reserveMs?: number): number {
  const leftMs = Math.max(0, d.Close - 1 - height) * blockDelayMs;
  const measured = Math.max(0, ...recentProofMs);
  return nowMs + leftMs - (reserveMs ?? (measured > 0 ? 2 * measured : leftMs / 2));
}

/** The epoch a proof of the occurrence is sent at: `submitConfidence` epochs after it opens (Lotus's 4), at most a quarter window. */
export const submitEpoch = (d: DeadlineInfo, submitConfidence: number): number => d.Open + Math.min(submitConfidence, Math.floor(d.WPoStChallengeWindow / 4));

/**
 * When the hosts' shared leases cannot be read, each host proves on its own and sends at half
 * the window (or the submit epoch, if later): a host that knows it holds the deadline has sent
 * by then, and its partitions show in PostSubmissions, which the late host checks first.
 * Hosts that are all blind are told apart by `rank` (blindRank): each rank sends
 * BLIND_STEP_EPOCHS later than the one before (one epoch for the earlier message to land, one
 * to be seen), so the next host finds those partitions proven (or the message on its way:
 * pendingSubmission) and sends nothing. In a window too short for ranks 0..BLIND_RANKS_FIT
 * after its half, every rank starts earlier by the same amount (a host's start never depends
 * on what it has seen, so ranks keep apart); none later than the last epoch whose message can
 * still land in the window.
 */
export const BLIND_STEP_EPOCHS = 2;
/** The ranks (0, 1, 2: two hosts, whichever has seen the other) a short window makes room for. */
export const BLIND_RANKS_FIT = 2;
export function blindSubmitEpoch(d: DeadlineInfo, submitConfidence: number, rank = 0): number {
  const last = d.Close - 2;
  const first = Math.max(submitEpoch(d, submitConfidence), Math.min(d.Open + Math.floor(d.WPoStChallengeWindow / 2), last - BLIND_RANKS_FIT * BLIND_STEP_EPOCHS));
  return Math.max(first, Math.min(first + rank * BLIND_STEP_EPOCHS, last));
}

/**
 * This host's rank among the window-post hosts it has seen hold a lease (`peers`, by host id):
 * 0 while it has seen none, else 1 + its place among them all in order — so two hosts always
 * get different ranks, whichever of them has seen the other.
 */
export function blindRank(self: string, peers: Iterable<string>): number {
  const all = new Set(peers);
  all.delete(self);
  if (all.size === 0) return 0;
  return 1 + [...all, self].sort().indexOf(self);
}

/** A SubmitWindowedPoSt seen on its way (in the node's mpool, or in the head tipset, not yet executed). */
export interface SeenSubmission {
  cid: string;
  to: string;
  method: number;
  /** The message's deadline and partition indexes (decoded params), or undefined when they do not decode. */
  deadline?: number;
  partitions?: number[];
}

/**
 * The first submission on its way that proves any of `indices` of `deadline` for `miner`:
 * a blind host waits for it to land instead of sending the same partitions again. `own` are
 * this host's own messages (a resend after a revert is not another host's proof).
 */
export function pendingSubmission(
  seen: Iterable<SeenSubmission>,
  miner: string,
  method: number,
  deadline: number,
  indices: number[],
  own: ReadonlySet<string> = new Set(),
): SeenSubmission | undefined {
  const want = new Set(indices);
  for (const m of seen) {
    if (m.to !== miner || m.method !== method || own.has(m.cid) || m.deadline !== deadline) continue;
    if ((m.partitions ?? []).some((i) => want.has(i))) return m;
  }
  return undefined;
}

/** A ready proof at head `height`: 'closed' (too late to land: missed), 'wait' (before the submit epoch) or 'send'. */
export function submitStep(d: DeadlineInfo, height: number, submitConfidence: number): 'closed' | 'wait' | 'send' {
  if (windowClosedFor(d, height)) return 'closed';
  return height < submitEpoch(d, submitConfidence) ? 'wait' : 'send';
}

/**
 * A proven batch against the partitions already posted on chain (by this miner before a
 * restart, or another instance): 'send' (none posted), 'posted' (all: nothing to send) or
 * 'reprove' (some: the proof covers the whole batch, so the rest needs a new one).
 */
export function batchAgainstPosted(indices: number[], posted: ReadonlySet<number>): 'send' | 'posted' | 'reprove' {
  const already = indices.filter((i) => posted.has(i)).length;
  return already === 0 ? 'send' : already === indices.length ? 'posted' : 'reprove';
}

/** A submission may have been taken out by a revert back to `from` unless it is known to have landed below it. */
export const mayBeReverted = (sub: { epoch?: number }, from: number): boolean => sub.epoch === undefined || sub.epoch >= from;

/**
 * A submission a revert may have taken out, given what the new chain and the node say: found in
 * the chain ('landed'), back in the node's mpool ('pending': it lands again), or neither
 * ('resend': the cached proof goes again, as lotus-miner re-submits).
 */
export const afterRevert = (inChain: boolean, inMpool: boolean): 'landed' | 'pending' | 'resend' => (inChain ? 'landed' : inMpool ? 'pending' : 'resend');

/** Sectors left out of a proof, grouped by partition index and sorted (the PoStPartition.skipped lists). */
export function skippedByPartition(skipped: Iterable<number>, partitionOf: ReadonlyMap<number, number>): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const s of skipped) {
    const p = partitionOf.get(s);
    if (p === undefined) throw new Error(`skipped sector ${s} is in none of the batch's partitions`);
    out.set(p, [...(out.get(p) ?? []), s]);
  }
  for (const v of out.values()) v.sort((a, b) => a - b);
  return out;
}

/** SubmitWindowedPoSt messages a deadline needs: its partitions with live sectors, `maxPerMessage` a message. */
export const messagesFor = (parts: PartitionJson[], maxPerMessage: number): number => Math.ceil(parts.filter((p) => bits(p.LiveSectors).length > 0).length / maxPerMessage);
