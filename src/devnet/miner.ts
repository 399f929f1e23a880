// The devnet's miner actor: pre-commits, prove-commits, deadlines and partitions, Window PoSt,
// faults and recoveries, with the rules (and exit codes) of builtin-actors' miner actor and
// real proof verification. State lives in memory (Sets and Maps); toJSON/fromJSON give the
// snapshot form.
import {
  type DeadlineInfo,
  type ProvingPolicy,
  assignDeadlines,
  currentDeadlineIndex,
  currentProvingPeriodStart,
  deadlineInfoFromOffsetAndEpoch,
  deadlineIsMutable,
  faultCutoffPassed,
  isOpen,
  newDeadlineInfo,
  maxPoStPartitions,
  nextNotElapsed,
  provingPeriod,
} from '../chain/deadlines.js';
import type { FaultDeclaration, PreCommitParams, WindowPoStParams } from '../chain/params.js';
import { addressBytes } from '../chain/address.js';
import { ExitCode } from '../chain/builtin-actors.js';
import type { Cid } from '../chain/cid.js';
import { blake2b } from '@noble/hashes/blake2.js';

/** A failed actor call: the receipt's exit code and the reason (Lotus shows it in the error). */
export class ActorError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
    this.name = 'ActorError';
  }
}

const illegal = (m: string) => new ActorError(ExitCode.ErrIllegalArgument, m);

export interface SectorRecord {
  number: number;
  sealProof: number;
  sealedCid: Cid;
  unsealedCid: Cid | null;
  dealIds: number[];
  activation: number;
  expiration: number;
  deadline: number;
  partition: number;
  /** attoFIL (decimal); absent in older snapshots. */
  initialPledge?: string;
}

export interface PreCommitRecord {
  info: PreCommitParams;
  precommitEpoch: number;
  /** attoFIL locked by the pre-commit (decimal; absent in snapshots from before balances: 0). */
  deposit?: string;
}

/**
 * The miner actor's funds (attoFIL), as the actor keeps them: the balance, and what of it is
 * locked by the creation deposit, by pre-commits and as initial pledge. What is left over is
 * available for new deposits and pledges; message value adds to the balance first.
 */
export interface MinerFunds {
  balance: bigint;
  locked: bigint;
  preCommitDeposits: bigint;
  initialPledge: bigint;
}

const insufficient = (m: string) => new ActorError(ExitCode.ErrInsufficientFunds, m);

export interface PartitionState {
  sectors: Set<number>;
  faults: Set<number>;
  recoveries: Set<number>;
  /** Activated but not yet proven by a Window PoSt: no power yet. */
  unproven: Set<number>;
}

export interface DeadlineState {
  partitions: PartitionState[];
  postSubmissions: Set<number>;
}

export interface MinerInit {
  id: number;
  address: string;
  owner: string;
  worker: string;
  sealProof: number;
  windowPoStProof: number;
  winningPoStProof: number;
  sectorSize: number;
  partitionSectors: number;
}

const newPartition = (): PartitionState => ({ sectors: new Set(), faults: new Set(), recoveries: new Set(), unproven: new Set() });

const sorted = (s: Iterable<number>) => [...s].sort((a, b) => a - b);

/** assign_proving_period_offset: blake2b(address bytes ‖ BE u64 epoch), first 8 bytes mod period. */
export function provingPeriodOffset(policy: ProvingPolicy, address: string, epoch: number): number {
  const e = Buffer.alloc(8);
  e.writeBigUInt64BE(BigInt(epoch));
  const h = Buffer.from(blake2b(Buffer.concat([addressBytes(address), e]), { dkLen: 32 }));
  return Number(h.readBigUInt64BE(0) % BigInt(provingPeriod(policy)));
}

/** Devnet limits that on mainnet come from the actor policy. */
export interface ActorLimits {
  maxPreCommitRandomnessLookback: number;
  maxProveCommitDuration: number;
  maxPartitionsPerDeadline: number;
}

/** The proof checks the actor delegates to the proofs library (real ones in the devnet). */
export interface ProofVerifier {
  verifySeal(m: MinerActor, s: PreCommitRecord, proof: Buffer, ticket: Buffer, seed: Buffer): Promise<{ valid: boolean; reason: string }>;
  verifyWindowPoSt(m: MinerActor, randomness: Buffer, sectors: SectorRecord[], proofs: { postProof: number; proofBytes: Buffer }[]): Promise<{ valid: boolean; reason: string }>;
}

export class MinerActor {
  readonly info: MinerInit;
  provingPeriodStart = 0;
  currentDeadline = 0;
  deadlines: DeadlineState[] = [];
  sectors = new Map<number, SectorRecord>();
  precommits = new Map<number, PreCommitRecord>();
  allocated = new Set<number>();
  funds: MinerFunds = { balance: 0n, locked: 0n, preCommitDeposits: 0n, initialPledge: 0n };

  /** Balance not locked as creation deposit, pre-commit deposits or pledge. */
  availableBalance(): bigint {
    const f = this.funds;
    return f.balance - f.locked - f.preCommitDeposits - f.initialPledge;
  }

  /**
   * PreCommitSectorBatch2's funds check, after `value` joined the balance: every sector locks
   * `deposit`; less available gives the actor's exit code 19. Nothing changes on a refusal.
   */
  lockPreCommitDeposits(value: bigint, deposit: bigint, count: number): void {
    const need = deposit * BigInt(count);
    const available = this.availableBalance() + value;
    if (available < need) throw insufficient(`insufficient funds ${available} for pre-commit deposit: ${need}`);
    this.funds.balance += value;
    this.funds.preCommitDeposits += need;
  }

  /**
   * ProveCommitSectors3's funds check: the proven sectors' deposits are released into the
   * unlocked balance, which (with `value`) must cover their initial pledge, else exit code 19.
   */
  lockInitialPledge(value: bigint, released: bigint, pledge: bigint): void {
    const unlocked = this.availableBalance() + value + released;
    if (unlocked < pledge) throw insufficient(`insufficient funds for aggregate initial pledge requirement ${pledge}, available: ${unlocked}`);
    this.funds.balance += value;
    this.funds.preCommitDeposits -= released;
    this.funds.initialPledge += pledge;
  }

  constructor(
    info: MinerInit,
    readonly policy: ProvingPolicy,
    readonly limits: ActorLimits,
  ) {
    this.info = info;
    this.deadlines = Array.from({ length: policy.wpostPeriodDeadlines }, () => ({ partitions: [], postSubmissions: new Set<number>() }));
  }

  /** The constructor's proving-period assignment at `epoch`. */
  static create(info: MinerInit, policy: ProvingPolicy, limits: ActorLimits, epoch: number): MinerActor {
    const m = new MinerActor(info, policy, limits);
    const offset = provingPeriodOffset(policy, info.address, epoch);
    m.provingPeriodStart = currentProvingPeriodStart(policy, epoch, offset);
    m.currentDeadline = currentDeadlineIndex(policy, epoch, m.provingPeriodStart);
    return m;
  }

  deadlineInfo(epoch: number): DeadlineInfo {
    return deadlineInfoFromOffsetAndEpoch(this.policy, this.provingPeriodStart, epoch);
  }

  /** Can `addr` act for this miner (owner, worker)? */
  isController(addr: string): boolean {
    // Compare without the network prefix (f/t name the same key).
    const a = addr.slice(1);
    return a === this.info.worker.slice(1) || a === this.info.owner.slice(1);
  }

  // ------------------------------------------------------------------ queries

  /** Sectors with power: live, not faulty, proven at least once. */
  activeSectors(): number[] {
    const out: number[] = [];
    for (const d of this.deadlines) for (const p of d.partitions) for (const s of p.sectors) if (!p.faults.has(s) && !p.unproven.has(s)) out.push(s);
    return out.sort((a, b) => a - b);
  }

  power(): bigint {
    return BigInt(this.activeSectors().length) * BigInt(this.info.sectorSize);
  }

  faults(): number[] {
    return sorted(this.deadlines.flatMap((d) => d.partitions.flatMap((p) => [...p.faults])));
  }

  /** Deal IDs named by this miner's live pre-commits. */
  preCommittedDeals(): Set<number> {
    const out = new Set<number>();
    for (const pc of this.precommits.values()) for (const d of pc.info.dealIds) out.add(d);
    return out;
  }

  recoveries(): number[] {
    return sorted(this.deadlines.flatMap((d) => d.partitions.flatMap((p) => [...p.recoveries])));
  }

  // ------------------------------------------------------------------ pre-commit

  preCommit(epoch: number, list: PreCommitParams[], commRValid: (c: Cid) => boolean, funds: { value: bigint; deposit: bigint } = { value: 0n, deposit: 0n }): void {
    const seen = new Set<number>();
    for (const p of list) {
      if (p.sealProof !== this.info.sealProof) throw illegal(`unsupported seal proof type ${p.sealProof} (miner uses ${this.info.sealProof})`);
      if (p.sectorNumber > Number.MAX_SAFE_INTEGER) throw illegal(`sector number ${p.sectorNumber} out of range`);
      if (seen.has(p.sectorNumber) || this.allocated.has(p.sectorNumber)) throw illegal(`sector number ${p.sectorNumber} already allocated`);
      seen.add(p.sectorNumber);
      if (p.sealRandEpoch >= epoch) throw illegal(`seal challenge epoch ${p.sealRandEpoch} must be before now ${epoch}`);
      if (p.sealRandEpoch < epoch - this.limits.maxPreCommitRandomnessLookback)
        throw illegal(`seal challenge epoch ${p.sealRandEpoch} too old, must be after ${epoch - this.limits.maxPreCommitRandomnessLookback}`);
      if (p.expiration <= epoch) throw illegal(`sector expiration ${p.expiration} must be after now ${epoch}`);
      // Deals are checked by the market actor before this (MarketActor.checkPreCommit).
      if (!commRValid(p.sealedCid)) throw illegal(`sealed CID ${p.sealedCid['/']} is not a sealed commitment CID`);
    }
    this.lockPreCommitDeposits(funds.value, funds.deposit, list.length);
    for (const p of list) {
      this.allocated.add(p.sectorNumber);
      this.precommits.set(p.sectorNumber, { info: p, precommitEpoch: epoch, deposit: funds.deposit.toString() });
    }
  }

  // ------------------------------------------------------------------ prove-commit

  /** The interactive epoch: seed drawn here, proof accepted only after it. */
  interactiveEpoch(pc: PreCommitRecord): number {
    return pc.precommitEpoch + this.policy.preCommitChallengeDelay;
  }

  checkProveCommit(epoch: number, sectorNumber: number): PreCommitRecord {
    const pc = this.precommits.get(sectorNumber);
    if (!pc) throw new ActorError(ExitCode.ErrNotFound, `no pre-committed sector ${sectorNumber}`);
    // ProveCommitSectors3 does not take pre-committed deals (builtin-actors: allow_deals = false).
    if (pc.info.dealIds.length > 0) throw illegal(`sector ${sectorNumber}: precommit has deal ids which are disallowed`);
    if (epoch > pc.precommitEpoch + this.limits.maxProveCommitDuration)
      throw illegal(`commitment proof for ${sectorNumber} too late at ${epoch}, due ${pc.precommitEpoch + this.limits.maxProveCommitDuration}`);
    if (epoch <= this.interactiveEpoch(pc)) throw new ActorError(ExitCode.ErrForbidden, `too early to prove sector ${sectorNumber}: seed epoch ${this.interactiveEpoch(pc)}, now ${epoch}`);
    return pc;
  }

  /** Activates proven sectors into deadlines/partitions the way the actor assigns them. */
  activate(epoch: number, pcs: PreCommitRecord[], pledgeOf: (pc: PreCommitRecord) => bigint = () => 0n): void {
    const start = this.deadlineInfo(epoch).PeriodStart;
    const loads = this.deadlines.map((d, i) => {
      if (!deadlineIsMutable(this.policy, start, i, epoch)) return null;
      let total = 0;
      for (const p of d.partitions) total += p.sectors.size;
      return { liveSectors: total, totalSectors: total };
    });
    const ordered = [...pcs].sort((a, b) => a.info.sectorNumber - b.info.sectorNumber);
    const assignment = assignDeadlines(this.limits.maxPartitionsPerDeadline, this.info.partitionSectors, loads, ordered.length);
    assignment.forEach((idxs, dl) => {
      const parts = this.deadlines[dl].partitions;
      for (const i of idxs) {
        const pc = ordered[i];
        let last = parts[parts.length - 1];
        if (!last || last.sectors.size >= this.info.partitionSectors) {
          last = newPartition();
          parts.push(last);
        }
        const n = pc.info.sectorNumber;
        last.sectors.add(n);
        last.unproven.add(n);
        this.precommits.delete(n);
        this.sectors.set(n, {
          number: n,
          sealProof: pc.info.sealProof,
          sealedCid: pc.info.sealedCid,
          unsealedCid: pc.info.unsealedCid,
          dealIds: pc.info.dealIds,
          activation: epoch,
          expiration: pc.info.expiration,
          deadline: dl,
          partition: parts.length - 1,
          initialPledge: pledgeOf(pc).toString(),
        });
      }
    });
  }

  // ------------------------------------------------------------------ Window PoSt

  /**
   * The timing checks of SubmitWindowedPoSt at `epoch` (the deadline open, the commitment
   * epoch at or after its challenge and before `epoch`); the devnet's gas estimation runs them
   * at the head's epoch, as Lotus's does.
   */
  checkWindowPoStTiming(epoch: number, p: Pick<WindowPoStParams, 'deadline' | 'chainCommitEpoch'>): ReturnType<MinerActor['deadlineInfo']> {
    const dl = this.deadlineInfo(epoch);
    if (p.deadline >= this.policy.wpostPeriodDeadlines) throw illegal(`invalid deadline ${p.deadline} of ${this.policy.wpostPeriodDeadlines}`);
    if (!isOpen(dl)) throw new ActorError(ExitCode.ErrIllegalState, `proving period ${dl.PeriodStart} not yet open at ${epoch}`);
    if (p.deadline !== dl.Index) throw illegal(`invalid deadline ${p.deadline} at epoch ${epoch}, expected ${dl.Index}`);
    if (p.chainCommitEpoch < dl.Challenge) throw illegal(`expected chain commit epoch ${p.chainCommitEpoch} to be after ${dl.Challenge}`);
    if (p.chainCommitEpoch >= epoch) throw illegal(`chain commit epoch ${p.chainCommitEpoch} must be less than the current epoch ${epoch}`);
    return dl;
  }

  /**
   * SubmitWindowedPoSt: the deadline must be the open one, the commitment epoch inside it,
   * the partitions real and not yet proven; the proof is checked over every non-faulty,
   * non-skipped sector of those partitions (recovering ones included).
   */
  async submitWindowPoSt(epoch: number, p: WindowPoStParams, ticketRandomness: (epoch: number) => Buffer, challengeRandomness: (epoch: number) => Buffer, verifier: ProofVerifier): Promise<void> {
    const dl = this.checkWindowPoStTiming(epoch, p);
    if (!ticketRandomness(p.chainCommitEpoch).equals(p.chainCommitRand)) throw illegal('post commit randomness mismatched');
    if (p.proofs.length !== 1) throw illegal(`expected exactly one proof, got ${p.proofs.length}`);
    if (p.proofs[0].postProof !== this.info.windowPoStProof) throw illegal(`expected proof of type ${this.info.windowPoStProof}, got ${p.proofs[0].postProof}`);
    if (p.partitions.length === 0) throw illegal('no partitions proven');
    const partitionsMax = maxPoStPartitions(this.info.partitionSectors);
    if (p.partitions.length > partitionsMax) throw illegal(`too many partitions ${p.partitions.length}, limit ${partitionsMax}`);
    const dstate = this.deadlines[p.deadline];
    const seen = new Set<number>();
    const toProve: number[] = [];
    for (const part of p.partitions) {
      if (seen.has(part.index)) throw illegal(`duplicate partition ${part.index}`);
      seen.add(part.index);
      const ps = dstate.partitions[part.index];
      if (!ps) throw new ActorError(ExitCode.ErrNotFound, `no such partition ${p.deadline}:${part.index}`);
      if (dstate.postSubmissions.has(part.index)) throw illegal(`partition ${p.deadline}:${part.index} already proven in this deadline`);
      for (const s of part.skipped) if (!ps.sectors.has(s)) throw illegal(`skipped sector ${s} is not in partition ${p.deadline}:${part.index}`);
      const skipped = new Set(part.skipped);
      for (const s of ps.sectors) if (!skipped.has(s) && (!ps.faults.has(s) || ps.recoveries.has(s))) toProve.push(s);
    }
    if (toProve.length > 0) {
      const rand = challengeRandomness(dl.Challenge);
      const infos = sorted(toProve).map((n) => this.sectors.get(n)!);
      const v = await verifier.verifyWindowPoSt(this, rand, infos, p.proofs);
      if (!v.valid) throw illegal(`invalid PoSt: ${v.reason}`);
    }
    // Apply: skipped become faulty, proven recoveries and unproven sectors become active.
    for (const part of p.partitions) {
      const ps = dstate.partitions[part.index];
      for (const s of part.skipped) {
        ps.faults.add(s);
        ps.recoveries.delete(s);
        ps.unproven.delete(s);
      }
      for (const s of ps.recoveries) ps.faults.delete(s);
      ps.recoveries.clear();
      for (const s of [...ps.unproven]) if (!ps.faults.has(s)) ps.unproven.delete(s);
      dstate.postSubmissions.add(part.index);
    }
  }

  // ------------------------------------------------------------------ faults and recoveries

  private declarationTarget(epoch: number, d: FaultDeclaration): PartitionState {
    if (d.deadline >= this.policy.wpostPeriodDeadlines) throw illegal(`invalid deadline ${d.deadline}`);
    const start = this.deadlineInfo(epoch).PeriodStart;
    const target = nextNotElapsed(newDeadlineInfo(this.policy, start, d.deadline, epoch));
    if (faultCutoffPassed(target)) throw illegal(`late fault or recovery declaration for deadline ${d.deadline} at ${epoch} (cutoff ${target.FaultCutoff})`);
    const ps = this.deadlines[d.deadline].partitions[d.partition];
    if (!ps) throw new ActorError(ExitCode.ErrNotFound, `no such partition ${d.deadline}:${d.partition}`);
    for (const s of d.sectors) if (!ps.sectors.has(s)) throw illegal(`sector ${s} is not in partition ${d.deadline}:${d.partition}`);
    return ps;
  }

  declareFaults(epoch: number, decls: FaultDeclaration[]): void {
    const targets = decls.map((d) => this.declarationTarget(epoch, d));
    decls.forEach((d, i) => {
      for (const s of d.sectors) {
        targets[i].faults.add(s);
        targets[i].recoveries.delete(s);
      }
    });
  }

  declareRecoveries(epoch: number, decls: FaultDeclaration[]): void {
    const targets = decls.map((d) => this.declarationTarget(epoch, d));
    decls.forEach((d, i) => {
      // Only faulty sectors can recover; others are ignored as the actor ignores them.
      for (const s of d.sectors) if (targets[i].faults.has(s)) targets[i].recoveries.add(s);
    });
  }

  // ------------------------------------------------------------------ cron

  /**
   * End of `epoch`: if it is the last epoch of the current deadline, every partition without
   * a proof loses its unproven and active sectors to faults (recoveries are dropped), then the
   * deadline advances (and the proving period at the wrap). Returns the sectors newly faulted.
   */
  cron(epoch: number): number[] {
    const dl = newDeadlineInfo(this.policy, this.provingPeriodStart, this.currentDeadline, epoch);
    if (epoch < dl.Close - 1) return [];
    const faulted: number[] = [];
    const d = this.deadlines[this.currentDeadline];
    d.partitions.forEach((ps, i) => {
      if (d.postSubmissions.has(i)) return;
      for (const s of ps.sectors) {
        if (!ps.faults.has(s)) {
          ps.faults.add(s);
          faulted.push(s);
        }
        // An unproven sector that misses its first proof is simply faulty from now on.
        ps.unproven.delete(s);
      }
      ps.recoveries.clear();
    });
    d.postSubmissions.clear();
    this.currentDeadline = (this.currentDeadline + 1) % this.policy.wpostPeriodDeadlines;
    if (this.currentDeadline === 0) this.provingPeriodStart += provingPeriod(this.policy);
    return faulted;
  }

  // ------------------------------------------------------------------ snapshot

  toJSON(): unknown {
    return {
      info: this.info,
      provingPeriodStart: this.provingPeriodStart,
      currentDeadline: this.currentDeadline,
      deadlines: this.deadlines.map((d) => ({
        postSubmissions: sorted(d.postSubmissions),
        partitions: d.partitions.map((p) => ({ sectors: sorted(p.sectors), faults: sorted(p.faults), recoveries: sorted(p.recoveries), unproven: sorted(p.unproven) })),
      })),
      sectors: [...this.sectors.values()],
      precommits: [...this.precommits.values()],
      allocated: sorted(this.allocated),
      funds: Object.fromEntries(Object.entries(this.funds).map(([k, v]) => [k, v.toString()])),
    };
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a snapshot this class wrote (toJSON), read back field by field
  static fromJSON(j: any, policy: ProvingPolicy, limits: ActorLimits, defaultBalance = 0n): MinerActor {
    const m = new MinerActor(j.info, policy, limits);
    m.provingPeriodStart = j.provingPeriodStart;
    m.currentDeadline = j.currentDeadline;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    m.deadlines = j.deadlines.map((d: any) => ({
      postSubmissions: new Set<number>(d.postSubmissions),
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      partitions: d.partitions.map((p: any) => ({ sectors: new Set(p.sectors), faults: new Set(p.faults), recoveries: new Set(p.recoveries), unproven: new Set(p.unproven) })),
    }));
    if (m.deadlines.length !== policy.wpostPeriodDeadlines) throw new Error(`snapshot has ${m.deadlines.length} deadlines, policy says ${policy.wpostPeriodDeadlines}`);
    for (const s of j.sectors as SectorRecord[]) m.sectors.set(s.number, s);
    for (const p of j.precommits as PreCommitRecord[]) m.precommits.set(p.info.sectorNumber, p);
    m.allocated = new Set(j.allocated);
    // Snapshots from before the devnet kept balances: the miner starts with `defaultBalance`.
    if (j.funds) m.funds = { balance: BigInt(j.funds.balance), locked: BigInt(j.funds.locked), preCommitDeposits: BigInt(j.funds.preCommitDeposits), initialPledge: BigInt(j.funds.initialPledge) };
    else m.funds.balance = defaultBalance;
    return m;
  }
}
