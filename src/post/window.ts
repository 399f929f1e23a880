// The Window PoSt scheduler: follows the chain head and, for each proving deadline, proves the
// deadline's partitions from the sealed files in the storage paths and submits
// SubmitWindowedPoSt before the window closes; declares unreadable sectors faulty (and
// readable ones recovered) before their deadline's fault cutoff.
//
// It keeps no sector metadata: which sectors exist, where they are (deadline/partition), their
// CommR and proof type all come from the chain at each deadline; their files from the storage
// paths. What it remembers in memory (deadlines already submitted, declarations in flight) is
// only an optimisation: after a restart it reads the deadline's PostSubmissions from the chain,
// proves what is not proven yet and submits, so a restart inside a window still makes it.
import { EventEmitter } from 'node:events';
import { stat } from 'node:fs/promises';
import { setTimeout as sleepFor } from 'node:timers/promises';
import * as proofs from '../proofs/index.js';
import { type ChainClient, type HeadSubscription } from '../chain/client.js';
import { type DeadlineInfo, nextDeadline, maxPoStPartitions } from '../chain/deadlines.js';
import { type FaultDeclaration, type PoStPartition, decodeWindowPoSt, encodeDeclarations, encodeWindowPoSt } from '../chain/params.js';
import { actorId, addressCbor } from '../chain/address.js';
import type { HeadChange, Message, MessageSendSpec, MinerInfo, MsgLookup, PartitionJson, TipSet } from '../chain/api-types.js';
import { bitfieldFromJson } from '../chain/bitfield.js';
import { DomainSeparationTag, ExitCode, MinerMethod } from '../chain/builtin-actors.js';
import type { Cid } from '../chain/cid.js';
import { b64 } from '../chain/encoding.js';
import { type Logger, logger } from '../log.js';
import { type ProofRunner, DirectRunner, ProofDeadlineError, faultySectorsOf } from './runner.js';
import { type CheckResult, type SectorCheck, checkSectors, checkWithRetries } from './storage.js';
import { type FeeCaps, DEFAULT_FEE_CAPS, sendSpec } from '../chain/fees.js';
import { pickSender } from './sender.js';
import type { LeaseAnswer, WindowPoStLeases } from './window-lease.js';
import {
  MAX_PROOF_ATTEMPTS,
  afterRevert,
  batchAgainstPosted,
  beforeFaultCutoff,
  blindRank,
  blindSubmitEpoch,
  declarationChecksUntil,
  declarationTargets,
  deadlinesToProve,
  mayBeReverted,
  messagesFor,
  occurrenceKey as key,
  partitionSets,
  partitionsToProve,
  pendingSubmission,
  type SeenSubmission,
  planDeclarations,
  proofChecksUntil,
  provableSectors,
  recheckEpochs,
  recoveryTargets,
  skippedByPartition,
  slowFaultStep,
  submitEpoch,
  submitStep,
  windowClosedFor,
} from './window-plan.js';

export interface WindowPoStOptions {
  client: ChainClient;
  /** The miner actor, e.g. "f01000". */
  miner: string;
  /** Storage paths holding `sealed/` and `cache/` (the shared mount). */
  storage: string[];
  /** Where proofs are computed (the GPU mailbox in a miner; DirectRunner by default). */
  runner?: ProofRunner;
  /** Epochs after a deadline's challenge epoch before proving starts (reorg safety). Default 1 (Lotus's ChallengeConfidence). */
  confidence?: number;
  /**
   * Epochs after a deadline opens before its proof is submitted (Lotus's SubmitConfidence, 4):
   * a message sent before the deadline is open is refused, and one sent at its first epoch
   * could be reorged back before it. At most a quarter of the challenge window (shrunk test
   * policies). Default 4.
   */
  submitConfidence?: number;
  /** Fee caps ([Fees]; the Window PoSt cap covers the declarations too, as in lotus-miner). Default: lotus-miner's. */
  fees?: FeeCaps;
  /** MessageSendSpec.MaximizeFeeCap for SubmitWindowedPoSt ([Fees] MaximizeWindowPoStFeeCap). Default true. */
  maximizeFeeCap?: boolean;
  /**
   * Bound on one storage readability check (per storage path). Default 10 s. A check that
   * times out is "slow", not "gone": it is retried (longer timeouts, backoff) while the
   * deadline's budget allows; see proofReserveMs.
   */
  checkTimeoutMs?: number;
  /**
   * Time a proof (and its submission) needs, left free when slow storage checks are retried
   * before proving. Default: twice the longest of the last 8 Window PoSts this scheduler measured, and
   * before the first one half of the time left in the window.
   */
  proofReserveMs?: number;
  /** Replaces the storage check (tests: a storage double). Default: checkSectors over `storage`. */
  checkStorage?: SectorCheck;
  /** Clock of the storage retries (tests). Default: Date.now and timers. */
  clock?: { now(): number; sleep(ms: number): Promise<void> };
  /** Partitions per SubmitWindowedPoSt message. Default: the network's limit for the proof type. */
  maxPartitionsPerMessage?: number;
  /** How many deadlines ahead faults/recoveries are declared (their cutoff not yet passed). Default 2. */
  declareAhead?: number;
  /**
   * Epochs between two readability checks of one coming deadline occurrence (each is checked
   * when it first comes within declareAhead, then again every this many epochs until its fault
   * cutoff), so a file that comes back or goes missing meanwhile is declared in time.
   * Default: a quarter of a challenge window (15 epochs on mainnet, where an occurrence can be
   * declared for only the 50 epochs between its coming in range and its cutoff).
   */
  declareRecheckEpochs?: number;
  /**
   * The leases this host shares with the other window-post hosts of the miner id
   * (window-lease.ts): each deadline occurrence is proven and submitted by the host holding its
   * lease, and taken over when that host dies. Default: none (this host proves every deadline).
   */
  leases?: WindowPoStLeases;
  /** A lease's time to live, renewed every quarter of it while its holder works. Default: 3 epochs. */
  leaseMs?: number;
  log?: Logger;
}

/** The deadline leases of a window-post host that shares them (`distminer status`). */
export interface WindowLeaseStatus {
  /** This host's name in the lease table. */
  host: string;
  /** Held by this host: renewed (last at `renewedAt`, ms since the epoch) every quarter of the lease's time to live until head `untilHead`. */
  held: { name: string; untilHead: number; renewedAt: number }[];
  /** Seen held by another host (done: its proof landed; nobody takes it over). */
  others: { name: string; holder?: string; done: boolean }[];
}

/**
 * What the storage checks found, counted since start (sector checks, not files): the
 * Window PoSt role reports these in its status.
 */
export interface StorageCheckCounters {
  /** Answers per sector check, by outcome (each retry counts again). */
  ok: number;
  gone: number;
  slow: number;
  /** Re-checks of slow sectors. */
  retries: number;
  /** Sectors slow at first and readable on a retry in time. */
  okAfterRetry: number;
  /** Sectors still slow when the budget ran out (skipped or declared). */
  slowPastBudget: number;
  /** Slow sectors left undeclared for a later check before the fault cutoff. */
  slowDeferred: number;
  /** Sectors left out of a proof, by outcome. */
  skippedGone: number;
  skippedSlow: number;
  /** Sectors declared faulty, by outcome. */
  declaredGone: number;
  declaredSlow: number;
}

const noCounts = (): StorageCheckCounters => ({
  ok: 0,
  gone: 0,
  slow: 0,
  retries: 0,
  okAfterRetry: 0,
  slowPastBudget: 0,
  slowDeferred: 0,
  skippedGone: 0,
  skippedSlow: 0,
  declaredGone: 0,
  declaredSlow: 0,
});

/** One SubmitWindowedPoSt the scheduler sent. */
export interface SubmittedPoSt {
  deadline: number;
  open: number;
  /** The epoch the deadline's challenge window closes: a proof must execute before it. */
  close: number;
  partitions: PoStPartition[];
  provenSectors: number[];
  cid: Cid;
  /** Head height when pushed; the message can execute from the next epoch. */
  pushedAt: number;
  /** Execution epoch and exit code once known. */
  epoch?: number;
  exitCode?: number;
  proofMs: number;
  /** The address that sent it (a control address when one is set, else the worker). */
  from: string;
  /** Set when a revert took it out of the chain and it was sent again (see `resubmitted`). */
  reverted?: boolean;
}

/** A proven batch of partitions waiting for (or done with) its submission. */
/** Quick retries of a refused SubmitWindowedPoSt on one head (see pushBatch). */
const QUICK_RETRIES = 2;

interface ReadyBatch {
  indices: number[];
  partitions: PoStPartition[];
  proof: proofs.PoStProof[];
  proven: number[];
  skipped: number;
  proofMs: number;
  state: 'ready' | 'pushing' | 'pushed';
  /** The last submission of this batch. */
  sub?: SubmittedPoSt;
  pushFailures: number;
  /** Refusals answered by a quick retry on the same head (`retryHead`), at most QUICK_RETRIES. */
  quickRetries?: number;
  retryHead?: number;
}

export interface Declaration {
  kind: 'faults' | 'recoveries';
  deadline: number;
  /** The fault cutoff of the deadline occurrence the declaration is for. */
  cutoff: number;
  decls: FaultDeclaration[];
  cid: Cid;
  pushedAt: number;
  epoch?: number;
  exitCode?: number;
  reasons?: Record<number, string>;
}

/** The open deadline as the chain has it (event 'margin'). */
export interface DeadlineMargin {
  deadline: number;
  /** Provable partitions of the open deadline whose proof has not landed yet. */
  unprovenPartitions: number;
  /** Seconds until the deadline's window closes, from the head. */
  secondsLeft: number;
  /** The whole window's length in seconds (WPoStChallengeWindow epochs): what "at risk" is relative to. */
  windowSeconds: number;
}

/** What the next deadline's proof may cost and who would pay it (event 'funds'). */
export interface DeadlineFunds {
  deadline: number;
  /** The [Fees] MaxWindowPoStGasFee cap times the messages the deadline needs (attoFIL). */
  gas: bigint;
  /** The sender lotus-miner's address selection would pick, and its balance (undefined: unreadable). */
  payer: string;
  balance?: bigint;
}

/** Splits partition indices into message batches of at most `max`. */
export function batchPartitions<T>(parts: T[], max: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < parts.length; i += max) out.push(parts.slice(i, i + max));
  return out;
}

/**
 * Events: 'submitted' (SubmittedPoSt, once pushed), 'proven' (SubmittedPoSt with its receipt),
 * 'reverted' (SubmittedPoSt a reorg took out of the chain; it is sent again),
 * 'declared' (Declaration with its receipt), 'skipped' ({deadline, sectors, reasons, outcomes}),
 * 'missed' ({deadline, open, why}), 'storage' (StorageCheckCounters, after each check),
 * 'margin' (DeadlineMargin, each head), 'funds' (DeadlineFunds, once per deadline),
 * 'error' (Error; the scheduler keeps going).
 */
export class WindowPoStScheduler extends EventEmitter {
  readonly miner: string;
  readonly minerId: number;
  private readonly c: ChainClient;
  private readonly runner: ProofRunner;
  private readonly log: Logger;
  private readonly confidence: number;
  private readonly checkTimeoutMs: number;
  private readonly proofReserveMs: number | undefined;
  private readonly checkStorage: SectorCheck;
  private readonly clock: { now(): number; sleep(ms: number): Promise<void> };
  /** The last Window PoSt proofs' times (ms), for the time a proof needs. */
  private proofTimes: number[] = [];
  /** Storage check outcomes since start. */
  readonly storageChecks: StorageCheckCounters = noCounts();
  private readonly declareAhead: number;
  private maxPartitions: number | undefined;
  private sub: HeadSubscription | undefined;
  private info: MinerInfo | undefined;
  private blockDelayMs = 30_000;
  private head: TipSet | undefined;
  /** Deadline occurrences fully proven (key index@open). */
  private done = new Set<string>();
  /** Proofs made for an occurrence, kept until its window closes (submitted, re-submitted after a revert). */
  private ready = new Map<string, { dl: DeadlineInfo; batches: ReadyBatch[] }>();
  /** Lowest height reverted since the last head was handled (ChainNotify revert). */
  private revertedFrom: number | undefined;
  private readonly submitConfidence: number;
  private readonly fees: FeeCaps;
  private readonly maximizeFeeCap: boolean;
  /** Deadline occurrences being proven now. */
  private running = new Map<string, Promise<void>>();
  /** Failed attempts per occurrence (a few retries while the window is open). */
  private attempts = new Map<string, number>();
  /** Occurrences whose proving failed, with the last error: 'missed' if the window closes before one succeeds. */
  private failing = new Map<string, { dl: DeadlineInfo; why: string }>();
  private observing = false;
  /** The deadline occurrence 'funds' was last sent for. */
  private fundsFor = '';
  /** Target occurrence → head height of its last readability check. */
  private declChecked = new Map<string, number>();
  /** Target occurrence → sectors declared for it, by kind (never declared twice for one occurrence). */
  private declSent = new Map<string, { faults: Set<number>; recoveries: Set<number> }>();
  private readonly declareRecheckEpochs: number | undefined;
  /** The last reading of whether the miner has faults not recovering (see hasUnrecovered). */
  private faultScan?: { height: number; any: boolean };
  private tasks = new Set<Promise<unknown>>();
  /** Sectors that were readable but failed in a proof, with their sealed file's size+mtime then: not declared recovered until the file changes. */
  private failedInProof = new Map<number, string>();
  private handled = -1;
  /** Heads given to onHead and not handled yet (a head re-applied after a revert may be below `handled`). */
  private queuedHeads = 0;
  private headQueue: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly leases: WindowPoStLeases | undefined;
  private readonly leaseMsOpt: number | undefined;
  /** Leases this host holds (name → renewal timer, the head height after which it no longer matters, the last renewal's time). */
  private held = new Map<string, { timer: NodeJS.Timeout; until: number; renewedAt: number; occurrence: string }>();
  /** Occurrences proven while the lease database did not answer: sent late in the window, and only what the chain lacks. */
  private blind = new Set<string>();
  /** The other window-post hosts seen holding a lease (their ids): this host's place among them orders blind sends (blindRank). */
  private readonly peers = new Set<string>();
  /** Leases seen held by another host (status; logged when first seen), until the head passes `until`. */
  private others = new Map<string, { holder?: string; done?: boolean; until: number }>();
  private readonly stopping = new AbortController();
  readonly storage: string[];
  /** Everything submitted since start (most recent last). */
  readonly submissions: SubmittedPoSt[] = [];
  readonly declarations: Declaration[] = [];

  constructor(opts: WindowPoStOptions) {
    super();
    this.c = opts.client;
    this.miner = opts.miner;
    this.minerId = actorId(opts.miner);
    this.storage = [...opts.storage];
    this.runner = opts.runner ?? new DirectRunner();
    this.confidence = opts.confidence ?? 1;
    this.submitConfidence = opts.submitConfidence ?? 4;
    this.fees = opts.fees ?? DEFAULT_FEE_CAPS;
    this.maximizeFeeCap = opts.maximizeFeeCap ?? true;
    this.checkTimeoutMs = opts.checkTimeoutMs ?? 10_000;
    this.proofReserveMs = opts.proofReserveMs;
    this.checkStorage = opts.checkStorage ?? ((sectors, timeoutMs) => checkSectors(this.storage, this.minerId, sectors, { sectorSize: this.info!.SectorSize, timeoutMs }));
    // Retries' waits end early on stop().
    this.clock = opts.clock ?? { now: Date.now, sleep: (ms) => sleepFor(ms, undefined, { signal: this.stopping.signal }).catch(() => undefined) };
    this.declareAhead = opts.declareAhead ?? 2;
    this.declareRecheckEpochs = opts.declareRecheckEpochs;
    this.maxPartitions = opts.maxPartitionsPerMessage;
    this.log = opts.log ?? logger('window-post', { miner: opts.miner });
    this.leases = opts.leases;
    this.leaseMsOpt = opts.leaseMs;
    this.on('error', () => undefined); // errors are logged; listeners are optional
  }

  /** Subscribes to the chain head (ChainNotify, with failover) and runs until stop(). */
  async start(): Promise<void> {
    await this.init();
    await this.leases?.open();
    this.sub = this.c.chainNotify((changes) => this.onHeadChanges(changes));
    this.sub.on('error', (e) => this.fail('head handler', e));
    this.log.info(
      { storage: this.storage, confidence: this.confidence, leases: this.leases?.description, host: this.leases?.host, leaseMs: this.leases ? this.leaseMs() : undefined },
      'window PoSt scheduler started',
    );
  }

  /** Loads the miner's info and the network timing (done by start(); call it when feeding heads by hand). */
  async init(): Promise<void> {
    this.info = await this.c.stateMinerInfo(this.miner);
    this.maxPartitions ??= maxPoStPartitions(this.info.WindowPoStPartitionSectors);
    try {
      this.blockDelayMs = (await this.c.version()).BlockDelay * 1000 || this.blockDelayMs;
    } catch {
      // keep the default
    }
  }

  /** Stops following the chain; proofs in flight finish (their results are dropped if late). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    this.sub?.close();
    await this.headQueue.catch(() => undefined);
    await Promise.allSettled([...this.tasks]);
    // A lease whose proof is not out yet goes back at once, so the other host need not wait for
    // it to expire; one whose proof was sent is left to expire (the other host then finds the
    // partitions posted, or sends them if the message never landed).
    for (const [name, h] of this.held) {
      const sent = this.ready.get(h.occurrence)?.batches.some((b) => b.state === 'pushed');
      this.unhold(name);
      if (!sent) {
        await this.leases!.release(name);
        this.log.info({ lease: name }, 'Window PoSt lease given back (stopping before its proof was sent)');
      }
    }
    await this.leases?.close();
    this.log.info('window PoSt scheduler stopped');
  }

  /** Resolves once head `height` has been handled and every task it started has finished. */
  async settled(height: number, timeoutMs = 120_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.handled < height || this.tasks.size > 0 || this.queuedHeads > 0) {
      if (Date.now() > until) throw new Error(`window PoSt scheduler did not settle at height ${height} within ${timeoutMs} ms`);
      if (this.tasks.size > 0) await Promise.allSettled([...this.tasks]);
      else await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Why the chain looks gone (no head for three epochs), or null; see HeadSubscription.trouble. */
  chainTrouble(): string | null {
    return this.sub?.trouble(this.blockDelayMs) ?? null;
  }

  /** What keeps this role from working as configured: the chain first, then the shared lease database. */
  trouble(): string | null {
    return this.chainTrouble() ?? this.leases?.trouble() ?? null;
  }

  /** A short view for status displays. */
  status(): { head: number; proving: string[]; submitted: number; lastSubmitted?: SubmittedPoSt; storage: StorageCheckCounters; leases?: WindowLeaseStatus } {
    return {
      head: this.head?.Height ?? -1,
      proving: [...this.running.keys()],
      submitted: this.submissions.length,
      lastSubmitted: this.submissions[this.submissions.length - 1],
      storage: { ...this.storageChecks },
      leases: this.leaseStatus(),
    };
  }

  /** The deadline leases this host holds and those it saw another host hold (undefined: no shared leases). */
  leaseStatus(): WindowLeaseStatus | undefined {
    if (!this.leases) return undefined;
    return {
      host: this.leases.host,
      held: [...this.held].map(([name, h]) => ({ name, untilHead: h.until, renewedAt: h.renewedAt })),
      others: [...this.others].map(([name, o]) => ({ name, holder: o.holder, done: o.done === true })),
    };
  }

  /** Status displays learn of a change in the leases ('leases' event). */
  private leasesChanged(): void {
    this.emit('leases', this.leaseStatus());
  }

  /**
   * Handles one ChainNotify batch. A revert is remembered: once the new chain's head is
   * handled, submissions the reverted tipsets may have carried are looked up in the new chain
   * and sent again if it lacks them (Lotus puts reverted messages back in its mpool; a message
   * found neither in the chain nor in the mpool is sent again).
   */
  onHeadChanges(changes: HeadChange[]): void {
    for (const ch of changes) {
      if (ch.Type === 'revert') {
        this.revertedFrom = Math.min(this.revertedFrom ?? Infinity, ch.Val.Height);
        // The new chain may be shorter than the reverted one: its head replaces ours.
        if (this.head && this.head.Height >= ch.Val.Height) this.head = undefined;
        this.log.warn({ height: ch.Val.Height, tipset: ch.Val.Cids.map((c) => c['/']) }, 'chain reorg: tipset reverted');
      } else this.onHead(ch.Val);
    }
  }

  /** Handles a new head (called for each ChainNotify apply/current; tests may call it directly). */
  onHead(ts: TipSet): void {
    if (this.stopped) return;
    if (!this.head || ts.Height >= this.head.Height) this.head = ts;
    // Heads are handled one at a time; proving runs in the background.
    this.queuedHeads++;
    this.headQueue = this.headQueue
      .then(() => this.handleHead(ts))
      .catch((e) => this.fail(`head ${ts.Height}`, e))
      .finally(() => this.queuedHeads--);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.tasks.add(p);
    p.finally(() => this.tasks.delete(p)).catch(() => undefined);
    return p;
  }

  private fail(what: string, e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    this.log.error({ err }, `window PoSt: ${what} failed`);
    this.emit('error', err);
  }

  private async handleHead(ts: TipSet): Promise<void> {
    if (this.stopped) return;
    if (!this.info) await this.init();
    try {
      if (this.head && ts.Height < this.head.Height) return; // a newer head is queued
      if (this.revertedFrom !== undefined) {
        const from = this.revertedFrom;
        this.revertedFrom = undefined;
        await this.afterRevert(from, ts);
      }
      for (const [name, h] of this.held) if (ts.Height >= h.until) this.unhold(name); // its window or cutoff has passed
      let gone = false;
      for (const [name, o] of this.others) if (ts.Height >= o.until) gone = this.others.delete(name);
      if (gone) this.leasesChanged();
      // Proofs ready and waiting for the submit confidence (or a retry after a refusal).
      for (const k of this.ready.keys()) this.track(this.submitReady(k));
      const cur = await this.c.stateMinerProvingDeadline(this.miner, ts.Cids);
      for (const [k, f] of this.failing) {
        if (!windowClosedFor(f.dl, ts.Height)) continue;
        this.failing.delete(k);
        if (this.done.has(k)) continue;
        const why = `no proof made before the window closed at ${f.dl.Close} (${this.attempts.get(k) ?? 1} failed attempt(s); last: ${f.why})`;
        this.log.error({ deadline: f.dl.Index, open: f.dl.Open, why }, 'Window PoSt deadline missed');
        this.emit('missed', { deadline: f.dl.Index, open: f.dl.Open, why });
      }
      this.track(this.observe(cur, ts).catch((e) => this.log.warn({ err: e }, 'reading the deadline state for the metrics failed')));
      // Prove the current deadline, and the next one as soon as its challenge is final.
      const skip = (k: string) => this.done.has(k) || this.running.has(k) || (this.attempts.get(k) ?? 0) >= MAX_PROOF_ATTEMPTS;
      for (const d of deadlinesToProve(cur, ts.Height, this.confidence, skip)) {
        const k = key(d);
        const p = this.track(this.proveDeadline(d, ts).finally(() => this.running.delete(k)));
        this.running.set(k, p);
      }
      // Faults and recoveries for the coming deadlines whose cutoff has not passed; recoveries
      // also for every later deadline of the period while the miner has faults not recovering.
      for (const dl of declarationTargets(
        cur,
        ts.Height,
        this.declareAhead,
        (d) => this.recheckEpochs(d),
        (k) => this.declChecked.get(k),
      )) {
        this.startDeclaring(dl, ts, false);
      }
      const later = recoveryTargets(
        cur,
        ts.Height,
        this.declareAhead,
        (d) => this.recheckEpochs(d),
        (k) => this.declChecked.get(`${RECOVERY_CHECK}${k}`),
      );
      if (later.length > 0 && (await this.hasUnrecovered(ts, this.recheckEpochs(cur)))) for (const dl of later) this.startDeclaring(dl, ts, true);
    } finally {
      this.handled = Math.max(this.handled, ts.Height);
    }
  }

  // ------------------------------------------------------------------ leases (two hosts)

  private leaseMs(): number {
    return this.leaseMsOpt ?? 3 * this.blockDelayMs;
  }

  /**
   * Claims (or renews) the lease `name` on occurrence `k` for this host; while held it is
   * renewed every quarter of its time to live until head `until`. Without shared leases every
   * occurrence is this host's.
   */
  private async hold(name: string, k: string, until: number): Promise<LeaseAnswer> {
    if (!this.leases) return { held: true };
    const a = await this.leases.claim(name, this.leaseMs());
    const h = this.held.get(name);
    if (a.held) {
      if (h) h.renewedAt = Date.now();
      else {
        const timer = setInterval(() => void this.renew(name), Math.max(50, this.leaseMs() / 4));
        timer.unref();
        this.held.set(name, { timer, until, renewedAt: Date.now(), occurrence: k });
        this.others.delete(name);
        this.leasesChanged();
        this.log.info({ lease: name, host: this.leases.host, ttlMs: this.leaseMs() }, 'Window PoSt lease held by this host');
      }
    } else if (!a.unknown) {
      const o = this.others.get(name);
      if (a.holder !== undefined && a.holder !== this.leases.host) this.peers.add(a.holder);
      if (a.holder !== this.leases.host && (o?.holder !== a.holder || o?.done !== a.done)) {
        this.others.set(name, { holder: a.holder, done: a.done, until });
        this.leasesChanged();
        if (!o && !h) this.log.info({ lease: name, holder: a.holder, done: a.done, why: a.reason }, 'Window PoSt lease held by another host: leaving this work to it');
      }
      if (h) this.lostLease(name, a);
    }
    return a;
  }

  private async renew(name: string): Promise<void> {
    const h = this.held.get(name);
    if (!h || this.stopped) return;
    const a = await this.leases!.claim(name, this.leaseMs());
    if (!this.held.has(name)) return;
    if (a.held) {
      h.renewedAt = Date.now();
      this.leasesChanged();
    } else if (!a.unknown) this.lostLease(name, a);
  }

  private lostLease(name: string, a: LeaseAnswer): void {
    this.unhold(name);
    this.log.warn({ lease: name, holder: a.holder, why: a.reason }, 'Window PoSt lease lost to another host (not renewed in time): leaving this work to it');
  }

  private unhold(name: string): void {
    const h = this.held.get(name);
    if (!h) return;
    clearInterval(h.timer);
    this.held.delete(name);
    this.leasesChanged();
  }

  /** The work under lease `name` is finished: nobody takes it over. */
  private leaseDone(name: string): void {
    if (!this.leases || !this.held.has(name)) return;
    this.unhold(name);
    void this.leases.done(name);
  }

  /**
   * May this host send the proof of occurrence `k` now? With shared leases: only while it
   * holds the prove lease (renewed just now, or within half its time to live when the database
   * does not answer); a lease lost to another host drops the proof.
   */
  private async maySend(k: string, dl: DeadlineInfo): Promise<'send' | 'wait' | 'lost'> {
    if (!this.leases || this.blind.has(k)) return 'send';
    const name = `prove/${k}`;
    const a = await this.hold(name, k, dl.Close);
    if (a.held) return 'send';
    if (!a.unknown) return 'lost';
    const h = this.held.get(name);
    if (h && Date.now() - h.renewedAt < this.leaseMs() / 2) return 'send';
    this.blind.add(k); // the database went away: send late, and only what the chain lacks
    return 'wait';
  }

  // ------------------------------------------------------------------ faults and recoveries

  /** Whether the miner has faulty sectors not declared recovering, read at most once per `every` epochs. */
  private async hasUnrecovered(ts: TipSet, every: number): Promise<boolean> {
    const f = this.faultScan;
    if (f && ts.Height >= f.height && ts.Height - f.height < every) return f.any;
    const [faults, recovering] = await Promise.all([this.c.stateMinerFaults(this.miner, ts.Cids), this.c.stateMinerRecoveries(this.miner, ts.Cids)]);
    const rec = new Set(recovering);
    const any = faults.some((s) => !rec.has(s));
    this.faultScan = { height: ts.Height, any };
    return any;
  }

  /**
   * Checks the occurrence `dl` for declarations (`recoveriesOnly`: recoveries only, for a
   * deadline further ahead than declareAhead). A check that fails — most often a declaration
   * refused in the node's gas estimation, whose mpool can lag the head — is tried again shortly
   * on the same head while the cutoff allows, and on the next head.
   */
  private startDeclaring(dl: DeadlineInfo, ts: TipSet, recoveriesOnly: boolean, attempt = 0): void {
    const ck = checkKey(dl, recoveriesOnly);
    this.declChecked.set(ck, ts.Height);
    this.track(
      this.declare(dl, ts, recoveriesOnly).catch((e) => {
        this.declChecked.delete(ck); // try again on the next head
        if (attempt >= QUICK_RETRIES || !beforeFaultCutoff(dl, ts.Height)) {
          this.fail(`declarations for deadline ${dl.Index}`, e);
          return;
        }
        this.log.warn(
          { err: e, deadline: dl.Index, cutoff: dl.FaultCutoff, head: ts.Height },
          `declarations for deadline ${dl.Index} failed: trying again in ${this.quickRetryMs()} ms and on the next head`,
        );
        this.onSameHead(ts, () => this.startDeclaring(dl, ts, recoveriesOnly, attempt + 1));
      }),
    );
  }

  /** The delay of a quick retry on the same head: a quarter block, within 0.2..2 s. */
  private quickRetryMs(): number {
    return Math.max(200, Math.min(2000, this.blockDelayMs / 4));
  }

  /**
   * A quick retry (of a refused submission or declaration): `again` runs after quickRetryMs if
   * `head` is still the head — a new head runs its own checks — and the scheduler still runs.
   */
  private onSameHead(head: TipSet, again: () => void): void {
    setTimeout(() => {
      if (!this.stopped && this.head === head) again();
    }, this.quickRetryMs()).unref();
  }

  private async declare(dl: DeadlineInfo, ts: TipSet, recoveriesOnly = false): Promise<void> {
    // Further ahead, the lease is taken only when there is a recovery to declare (most checks find none).
    const claim = async () => {
      const lease = await this.hold(`declare/${key(dl)}`, key(dl), dl.FaultCutoff);
      if (lease.held || lease.unknown) return true;
      // Near the cutoff, looked at again on the next head in case its holder dies; further
      // ahead, at the next recheck.
      if (!recoveriesOnly) this.declChecked.delete(checkKey(dl, false));
      return false;
    };
    if (!recoveriesOnly && !(await claim())) return;
    const parts = await this.c.stateMinerPartitions(this.miner, dl.Index, ts.Cids);
    if (parts.length === 0) return;
    const live = parts.flatMap((p) => {
      const all = bits(p.LiveSectors);
      if (!recoveriesOnly) return all;
      const { faulty, recovering } = partitionSets(p);
      return all.filter((s) => faulty.has(s) && !recovering.has(s));
    });
    if (live.length === 0) return;
    // One check now; a slow sector is retried only at the last check before the cutoff
    // (until then a later check looks again), and declared only if still slow then.
    const started = this.clock.now();
    const checked = await this.check(live, started, `declarations for deadline ${dl.Index}`, { quiet: recoveriesOnly });
    const stamps = new Map<number, string>();
    for (const s of this.failedInProof.keys()) {
      const r = checked.get(s);
      if (r?.ok) stamps.set(s, await fileStamp(r.files!.sealedPath));
    }
    const k = key(dl);
    const sent = this.declSent.get(k) ?? { faults: new Set<number>(), recoveries: new Set<number>() };
    this.declSent.set(k, sent);
    const {
      faults,
      recoveries,
      reasons,
      slow: slowFaults,
    } = planDeclarations(dl.Index, parts, checked, sent, (s) => this.failedInProof.has(s) && this.failedInProof.get(s) === stamps.get(s), recoveriesOnly);
    if (recoveriesOnly && (recoveries.length === 0 || !(await claim()))) return;
    // Both settle before a failure is thrown: a quick retry must not find one still on its way.
    const pushed = await Promise.allSettled([
      faults.length > 0 ? this.pushDeclaration('faults', dl, faults, ts.Height, reasons) : undefined,
      recoveries.length > 0 ? this.pushDeclaration('recoveries', dl, recoveries, ts.Height) : undefined,
    ]);
    for (const r of pushed) if (r.status === 'rejected') throw r.reason;
    if (slowFaults.length === 0) return;
    const slow = slowFaults.map((x) => x.s);
    if (slowFaultStep(dl, ts.Height, this.recheckEpochs(dl)) === 'defer') {
      this.storageChecks.slowDeferred += slow.length;
      this.log.info({ deadline: dl.Index, cutoff: dl.FaultCutoff, head: ts.Height, sectors: slow }, 'slow sectors not declared faulty: checked again before the cutoff');
      return;
    }
    // The last check before the cutoff: retry while a declaration can still land in time (it
    // must be pushed before the epoch before the cutoff; a quarter block kept for pushing it).
    const untilMs = declarationChecksUntil(started, dl, ts.Height, this.blockDelayMs);
    const again = await this.check(slow, untilMs, `declarations for deadline ${dl.Index}`, { attemptsBefore: 1, startedMs: started });
    const late: FaultDeclaration[] = [];
    const lateReasons: Record<number, string> = {};
    for (const { s, partition } of slowFaults) {
      const r = again.get(s) ?? checked.get(s)!;
      if (r.ok || sent.faults.has(s)) continue;
      if (r.outcome === 'slow') this.storageChecks.slowPastBudget++;
      lateReasons[s] = `${r.outcome}: ${r.reason ?? 'unreadable'} (${r.attempts} checks in ${r.elapsedMs} ms)`;
      const d = late.find((x) => x.partition === partition);
      if (d) d.sectors.push(s);
      else late.push({ deadline: dl.Index, partition, sectors: [s] });
    }
    if (late.length === 0) return;
    const head = this.head?.Height ?? ts.Height;
    if (!beforeFaultCutoff(dl, head)) {
      this.log.warn(
        { deadline: dl.Index, cutoff: dl.FaultCutoff, head, sectors: late.flatMap((x) => x.sectors), reasons: lateReasons },
        'fault cutoff passed while re-checking slow sectors: not declared (the proof skips them if still unreadable)',
      );
      return;
    }
    await this.pushDeclaration('faults', dl, late, head, lateReasons);
  }

  /** Epochs between two readability checks of one coming deadline occurrence. */
  private recheckEpochs(dl: DeadlineInfo): number {
    return recheckEpochs(dl, this.declareRecheckEpochs);
  }

  private async pushDeclaration(kind: Declaration['kind'], dl: DeadlineInfo, decls: FaultDeclaration[], height: number, reasons?: Record<number, string>): Promise<void> {
    const method = kind === 'faults' ? MinerMethod.DeclareFaults : MinerMethod.DeclareFaultsRecovered;
    const from = await this.sender();
    const sm = await this.c.mpoolPushMessage({ To: this.miner, From: from, Method: method, Params: b64(encodeDeclarations(decls)) }, sendSpec(this.fees, 'windowPoSt'));
    const sentFor = this.declSent.get(key(dl));
    const sent = sentFor?.[kind];
    // A sector declared one way may be declared the other way again for this occurrence (a file
    // back, lost again, back again).
    const other = sentFor?.[kind === 'faults' ? 'recoveries' : 'faults'];
    for (const x of decls)
      for (const s of x.sectors) {
        sent?.add(s);
        other?.delete(s);
      }
    if (kind === 'faults') for (const r of Object.values(reasons ?? {})) this.storageChecks[r.startsWith('slow') ? 'declaredSlow' : 'declaredGone']++;
    const d: Declaration = { kind, deadline: dl.Index, cutoff: dl.FaultCutoff, decls, cid: sm.CID!, pushedAt: height, reasons };
    this.declarations.push(d);
    const sectors = decls.flatMap((x) => x.sectors);
    if (kind === 'faults') this.log.warn({ deadline: dl.Index, cutoff: dl.FaultCutoff, sectors, reasons, cid: sm.CID!['/'] }, 'declaring unreadable sectors faulty');
    else this.log.info({ deadline: dl.Index, cutoff: dl.FaultCutoff, sectors, cid: sm.CID!['/'] }, 'declaring sectors recovered');
    // The receipt is awaited in the background: the head loop must not wait for the next epoch.
    // (Until the cutoff: a declaration that executes later is refused, and a dropped one is
    // not polled for a whole period.)
    void this.receipt(sm.CID!, dl.FaultCutoff).then(
      (l) => {
        if (!l) return;
        d.epoch = l.Height;
        d.exitCode = l.Receipt.ExitCode;
        if (l.Receipt.ExitCode !== ExitCode.Ok) {
          this.fail(`${kind} declaration for deadline ${dl.Index}`, new Error(`exit code ${l.Receipt.ExitCode}: ${JSON.stringify(l.ReturnDec)}`));
          this.declChecked.delete(checkKey(dl, false));
          this.declChecked.delete(checkKey(dl, true));
          for (const x of decls) for (const s of x.sectors) sent?.delete(s); // not declared: may be sent again
        }
        this.emit('declared', d);
      },
      (e) => this.fail(`waiting for the ${kind} declaration`, e),
    );
  }

  /** Polls for a message's receipt each quarter epoch until found, `untilHeight` passes, or stop(). */
  private async receipt(cid: Cid, untilHeight: number): Promise<MsgLookup | undefined> {
    for (;;) {
      let l: MsgLookup | null;
      try {
        l = await this.c.stateSearchMsg(cid);
      } catch (e) {
        if (this.stopped) return undefined;
        throw e;
      }
      if (l) return l;
      if (this.stopped || (this.head?.Height ?? 0) > untilHeight + 5) return undefined;
      await new Promise((r) => setTimeout(r, Math.max(50, Math.min(1000, this.blockDelayMs / 4))));
    }
  }

  // ------------------------------------------------------------------ proving

  private windowMs(dl: DeadlineInfo, height: number): number {
    return Math.max(0, dl.Close - height) * this.blockDelayMs;
  }

  /**
   * Checks the sectors' files; re-checks slow ones (backoff, longer timeouts) while a retry can
   * end by `untilMs` (the clock's time). Counts every answer; logs what is not ok, with the
   * outcome ("slow" or "gone"), the file, the attempts and the time taken.
   */
  private async check(sectors: number[], untilMs: number, what: string, more: { attemptsBefore?: number; startedMs?: number; quiet?: boolean } = {}): Promise<Map<number, CheckResult>> {
    const { quiet, ...opts } = more;
    let calls = more.attemptsBefore ?? 0;
    const counted: SectorCheck = async (ss, timeoutMs) => {
      if (calls++ > 0 && !quiet) this.storageChecks.retries += ss.length;
      const r = await this.checkStorage(ss, timeoutMs);
      if (!quiet) for (const s of ss) this.storageChecks[r.get(s)?.outcome ?? 'slow']++;
      return r;
    };
    const res = await checkWithRetries(counted, sectors, { timeoutMs: this.checkTimeoutMs, untilMs, now: this.clock.now, sleep: this.clock.sleep, cancelled: () => this.stopped, ...opts });
    const bad: Record<CheckResult['outcome'], object[]> = { ok: [], gone: [], slow: [] };
    for (const r of res.values()) {
      if (r.ok && r.attempts > 1) {
        this.storageChecks.okAfterRetry++;
        this.log.info({ sector: r.sectorNumber, path: r.path, attempts: r.attempts, elapsedMs: r.elapsedMs, for: what }, 'sector storage readable again after slow checks');
      }
      if (!r.ok) bad[r.outcome].push({ sector: r.sectorNumber, path: r.path, attempts: r.attempts, elapsedMs: r.elapsedMs, reason: r.reason });
    }
    // Quiet: sectors already faulty on chain, looked at for a recovery; still unreadable is no news.
    const level = quiet ? 'debug' : 'warn';
    if (bad.slow.length > 0) this.log[level]({ for: what, sectors: bad.slow }, 'sector storage slow: no answer in time (not known to be lost)');
    if (bad.gone.length > 0) this.log[level]({ for: what, sectors: bad.gone }, 'sector storage gone: files missing or unreadable');
    if (!quiet) this.emit('storage', { ...this.storageChecks });
    return res;
  }

  /**
   * The clock time by which the storage checks for a proof of `dl` must be done: the window's
   * end, less an epoch (the message must land in it) and the time the proof needs.
   */
  private proofChecksUntil(dl: DeadlineInfo, height: number): number {
    return proofChecksUntil(this.clock.now(), dl, height, this.blockDelayMs, this.proofTimes, this.proofReserveMs);
  }

  private async proveDeadline(dl: DeadlineInfo, ts: TipSet): Promise<void> {
    const k = key(dl);
    const started = Date.now();
    try {
      const lease = await this.hold(`prove/${k}`, k, dl.Close);
      if (lease.done) {
        this.markDone(k);
        return;
      }
      if (!lease.held) {
        if (!lease.unknown) return; // another host proves it; looked at again on the next head
        this.blind.add(k);
        this.log.warn(
          { deadline: dl.Index, open: dl.Open, why: lease.reason, sendAt: this.blindSubmitEpoch(dl), peers: [...this.peers] },
          'Window PoSt leases unknown: proving anyway, sending late in the window what the chain does not have yet',
        );
      }
      const [parts, subs] = await Promise.all([this.c.stateMinerPartitions(this.miner, dl.Index, ts.Cids), this.postSubmissions(dl, ts)]);
      const todo = partitionsToProve(parts, subs);
      if (todo.length === 0) {
        this.markDone(k);
        this.leaseDone(`prove/${k}`);
        if (subs.size > 0) this.log.info({ deadline: dl.Index, open: dl.Open, proven: [...subs] }, 'deadline already proven on chain');
        return;
      }
      const rand = await this.c.stateGetRandomnessFromBeacon(DomainSeparationTag.WindowedPoStChallengeSeed, dl.Challenge, addressCbor(this.miner), ts.Cids);
      this.log.info({ deadline: dl.Index, open: dl.Open, close: dl.Close, head: ts.Height, partitions: todo.map((x) => x.index) }, 'proving deadline');
      const batches = batchPartitions(todo, this.maxPartitions ?? 1);
      const results = await Promise.allSettled(batches.map((b) => this.proveBatch(dl, b, rand)));
      const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      if (failed.length > 0) throw failed[0].reason;
      const ready = results.map((r) => (r as PromiseFulfilledResult<ReadyBatch | undefined>).value).filter((b): b is ReadyBatch => b !== undefined);
      this.markDone(k);
      this.log.info({ deadline: dl.Index, open: dl.Open, ms: Date.now() - started, submitAt: this.submitAt(dl) }, 'deadline proven');
      if (ready.length === 0) return;
      this.ready.set(k, { dl, batches: ready });
      await this.submitReady(k);
    } catch (e) {
      const n = (this.attempts.get(k) ?? 0) + 1;
      this.attempts.set(k, n);
      this.failing.set(k, { dl, why: (e as Error).message });
      this.fail(`proving deadline ${dl.Index} (open ${dl.Open})`, e);
      if (n >= MAX_PROOF_ATTEMPTS && this.held.has(`prove/${k}`)) {
        // This host gives up on it (its storage or prover failed): another host may still make it.
        this.unhold(`prove/${k}`);
        await this.leases!.release(`prove/${k}`);
      }
    }
  }

  /**
   * Reads what the metrics and alerts need, one read at a time (a head arriving meanwhile is
   * skipped): each head, the open deadline's partitions not proven yet and the time left
   * ('margin'); once per deadline, the next deadline's gas cap and its payer's balance ('funds').
   */
  private async observe(cur: DeadlineInfo, ts: TipSet): Promise<void> {
    if (this.observing || this.stopped) return;
    this.observing = true;
    try {
      let unproven = 0;
      if (ts.Height >= cur.Open && ts.Height < cur.Close) {
        const [parts, subs] = await Promise.all([this.c.stateMinerPartitions(this.miner, cur.Index, ts.Cids), this.postSubmissions(cur, ts)]);
        unproven = partitionsToProve(parts, subs).length;
      }
      this.emit('margin', {
        deadline: cur.Index,
        unprovenPartitions: unproven,
        secondsLeft: (Math.max(0, cur.Close - ts.Height) * this.blockDelayMs) / 1000,
        windowSeconds: ((cur.Close - cur.Open) * this.blockDelayMs) / 1000,
      } satisfies DeadlineMargin);
      const next = nextDeadline(cur);
      if (key(next) === this.fundsFor || !this.info) return;
      const parts = await this.c.stateMinerPartitions(this.miner, next.Index, ts.Cids);
      const messages = messagesFor(parts, this.maxPartitions ?? 1);
      const gas = this.fees.windowPoSt * BigInt(messages);
      // Who would pay it, as the submission will choose (quietly: a failed read is retried next deadline).
      const payer = await pickSender(this.c, this.info, gas, 1n);
      this.fundsFor = key(next);
      this.emit('funds', { deadline: next.Index, gas, payer: payer.from, balance: payer.balance } satisfies DeadlineFunds);
    } finally {
      this.observing = false;
    }
  }

  private markDone(k: string): void {
    this.done.add(k);
    // Only recent occurrences matter; keep the set small on a long-running miner.
    if (this.done.size > 512) for (const x of [...this.done].slice(0, 256)) this.done.delete(x);
    if (this.declChecked.size > 512) for (const x of [...this.declChecked.keys()].slice(0, 256)) this.declChecked.delete(x);
    if (this.declSent.size > 512) for (const x of [...this.declSent.keys()].slice(0, 256)) this.declSent.delete(x);
    if (this.blind.size > 512) for (const x of [...this.blind].slice(0, 256)) this.blind.delete(x);
  }

  private async postSubmissions(dl: DeadlineInfo, ts: TipSet): Promise<Set<number>> {
    // PostSubmissions describe the open occurrence only (cron clears them at its close).
    if (ts.Height < dl.Open) return new Set();
    const dls = await this.c.stateMinerDeadlines(this.miner, ts.Cids);
    return new Set(bitfieldFromJson(dls[dl.Index]?.PostSubmissions ?? [0], 'PostSubmissions'));
  }

  private async proveBatch(dl: DeadlineInfo, batch: { index: number; p: PartitionJson }[], rand: Buffer): Promise<ReadyBatch | undefined> {
    const info = this.info!;
    const postProof = info.WindowPoStProofType as proofs.RegisteredPoStProof;
    const proverId = proofs.proverIdFromMinerId(this.minerId);
    // To prove: live sectors that are not faulty, or faulty but declared recovering.
    const wanted = new Map<number, number>(); // sector → partition index
    for (const { index, p } of batch) for (const s of provableSectors(p)) wanted.set(s, index);
    const skipped = new Map<number, string>(); // sector → why
    const outcomes: Record<number, 'gone' | 'slow' | 'proof'> = {};
    // Slow sectors are re-checked while the proof still fits in the window after.
    const checked = await this.check([...wanted.keys()], this.proofChecksUntil(dl, this.head?.Height ?? dl.Open), `proof of deadline ${dl.Index}`);
    for (const [s, r] of checked) {
      if (r.ok) continue;
      skipped.set(s, `${r.outcome}: ${r.reason ?? 'unreadable'}${r.attempts > 1 ? ` (${r.attempts} checks in ${r.elapsedMs} ms)` : ''}`);
      outcomes[s] = r.outcome === 'slow' ? 'slow' : 'gone';
      if (r.outcome === 'slow') this.storageChecks.slowPastBudget++;
      this.storageChecks[r.outcome === 'slow' ? 'skippedSlow' : 'skippedGone']++;
    }
    const sectorInfos =
      wanted.size > 0
        ? await this.c.stateMinerSectors(
            this.miner,
            [...wanted.keys()].sort((a, b) => a - b),
          )
        : [];
    const commR = new Map(sectorInfos.map((s) => [s.SectorNumber, proofs.cidToCommR(s.SealedCID['/'])]));
    let proof: proofs.PoStProof[] | undefined;
    let proven: number[] = [];
    let proofMs = 0;
    for (let attempt = 0; attempt < 3 && !proof; attempt++) {
      proven = [...wanted.keys()].filter((s) => !skipped.has(s)).sort((a, b) => a - b);
      if (proven.length === 0) break;
      const replicas: proofs.PrivateReplicaInfo[] = proven.map((s) => {
        const files = checked.get(s)!.files!;
        const cr = commR.get(s);
        if (!cr) throw new Error(`sector ${s} is in deadline ${dl.Index} but StateMinerSectors did not return it`);
        return { sectorNumber: s, commR: cr, cacheDir: files.cacheDir, sealedPath: files.sealedPath, postProof };
      });
      const t0 = Date.now();
      const deadlineMs = Date.now() + this.windowMs(dl, this.head?.Height ?? dl.Open);
      try {
        proof = await this.runner.run({ kind: 'window-post', deadlineMs, args: [rand, replicas, proverId] }, () => proofs.generateWindowPoSt(rand, replicas, proverId));
        proofMs = Date.now() - t0;
        this.proofTimes = [...this.proofTimes.slice(-7), proofMs];
      } catch (e) {
        let bad = faultySectorsOf(e).filter((s) => wanted.has(s) && !skipped.has(s));
        const kind = (e as { kind?: string }).kind;
        if (bad.length === 0 && kind !== 'params' && kind !== 'caller' && !(e instanceof ProofDeadlineError)) {
          // A damaged replica can make the library fail without naming the sector (a panic on a
          // bad field element): prove the sectors one by one to find the culprits.
          this.log.warn({ deadline: dl.Index, err: e, sectors: replicas.length }, 'Window PoSt failed without naming a sector: checking sectors one by one');
          bad = await this.isolate(rand, replicas, proverId, deadlineMs);
        }
        if (bad.length === 0) throw e;
        for (const s of bad) {
          skipped.set(s, `proof generation: ${(e as Error).message}`);
          outcomes[s] = 'proof';
          this.failedInProof.set(s, await fileStamp(checked.get(s)!.files!.sealedPath));
        }
        this.log.warn({ deadline: dl.Index, sectors: bad, err: e }, 'sectors failed in the proof: skipping them');
      }
    }
    const skippedByPart = skippedByPartition(skipped.keys(), wanted);
    if (skipped.size > 0) {
      const reasons = Object.fromEntries(skipped);
      this.log.warn({ deadline: dl.Index, sectors: [...skipped.keys()], reasons }, 'skipping unreadable sectors in this proof (they become faulty)');
      this.emit('skipped', { deadline: dl.Index, sectors: [...skipped.keys()], reasons, outcomes });
    }
    if (!proof) {
      // Nothing provable in these partitions: no proof can be made; the deadline's cron marks them faulty.
      this.emit('missed', { deadline: dl.Index, open: dl.Open, why: 'no provable sector in the partitions' });
      this.log.error({ deadline: dl.Index, partitions: batch.map((b) => b.index) }, 'no provable sector in these partitions: they will be marked faulty');
      return undefined;
    }
    return {
      indices: batch.map((b) => b.index),
      partitions: batch.map((b) => ({ index: b.index, skipped: skippedByPart.get(b.index) ?? [] })),
      proof,
      proven,
      skipped: skipped.size,
      proofMs,
      state: 'ready',
      pushFailures: 0,
    };
  }

  /** Epochs after the deadline opens before its proof is sent: Lotus's 4, at most a quarter window. */
  private submitAt(dl: DeadlineInfo): number {
    return submitEpoch(dl, this.submitConfidence);
  }

  /**
   * Sends the occurrence's proven batches that are not sent yet, once the head has reached the
   * submit epoch and while the window can still take the message; forgets the occurrence
   * once its window has closed.
   */
  private async submitReady(k: string): Promise<void> {
    const r = this.ready.get(k);
    const head = this.head;
    if (!r || !head || this.stopped) return;
    const { dl } = r;
    const step = submitStep(dl, head.Height, this.submitConfidence);
    if (step === 'closed') {
      this.ready.delete(k);
      const unsent = r.batches.filter((b) => b.state !== 'pushed');
      if (unsent.length > 0) {
        const why = `proof ready but not sent before the window closed at ${dl.Close} (head ${head.Height}, ${unsent.reduce((a, b) => a + b.pushFailures, 0)} refused submission(s))`;
        this.emit('missed', { deadline: dl.Index, open: dl.Open, why });
        this.fail(`submitting deadline ${dl.Index} (open ${dl.Open})`, new Error(why));
      }
      return;
    }
    if (step === 'wait') return;
    if (this.blind.has(k) && head.Height < this.blindSubmitEpoch(dl)) return;
    for (const b of r.batches) if (b.state === 'ready') await this.pushBatch(k, dl, b, head);
  }

  /** When a proof made without knowing the lease is sent: half the window, later by this host's rank among the hosts it has seen. */
  private blindSubmitEpoch(dl: DeadlineInfo): number {
    return blindSubmitEpoch(dl, this.submitConfidence, this.leases ? blindRank(this.leases.host, this.peers) : 0);
  }

  /** The sender of a PoSt message: a control address with the funds, else the worker (Lotus's AddressSelector for PoSt). */
  private async sender(): Promise<string> {
    try {
      this.info = await this.c.stateMinerInfo(this.miner); // control addresses may have changed
    } catch (e) {
      this.log.warn({ err: e }, 'cannot refresh the miner info: using the last one read');
    }
    const info = this.info!;
    const picked = await pickSender(this.c, info, this.fees.windowPoSt, 1n, this.log);
    return picked.from;
  }

  private async pushBatch(k: string, dl: DeadlineInfo, b: ReadyBatch, head: TipSet): Promise<void> {
    b.state = 'pushing';
    try {
      // Someone (this miner before a restart, another instance) may have proven these meanwhile.
      const subs = await this.postSubmissions(dl, head);
      const against = batchAgainstPosted(b.indices, subs);
      if (against === 'posted') {
        b.state = 'pushed';
        this.log.info({ deadline: dl.Index, open: dl.Open, partitions: b.indices, head: head.Height }, 'partitions already proven on chain: not submitting them again');
        return;
      }
      if (against === 'reprove') {
        this.log.warn({ deadline: dl.Index, already: b.indices.filter((i) => subs.has(i)) }, 'part of the batch was proven meanwhile: proving the rest again');
        this.ready.delete(k);
        this.done.delete(k);
        return;
      }
      const may = await this.maySend(k, dl);
      if (may === 'lost') {
        this.log.warn({ deadline: dl.Index, partitions: b.indices }, 'not submitting: another host holds this deadline now');
        this.ready.delete(k);
        this.done.delete(k);
        return;
      }
      if (may === 'wait') {
        b.state = 'ready';
        return;
      }
      if (this.blind.has(k) && (await this.otherOnItsWay(k, dl, b, head))) {
        b.state = 'ready';
        return;
      }
      // Like lotus-miner: commit to the deadline's challenge epoch, behind the head and inside
      // the range the actor accepts (challenge ≤ commit epoch < current epoch).
      const commitEpoch = dl.Challenge;
      const commitRand = await this.c.stateGetRandomnessFromTickets(DomainSeparationTag.PoStChainCommit, commitEpoch, Buffer.alloc(0), head.Cids);
      const params = encodeWindowPoSt({ deadline: dl.Index, partitions: b.partitions, proofs: b.proof, chainCommitEpoch: commitEpoch, chainCommitRand: commitRand });
      const from = await this.sender();
      const spec: MessageSendSpec = { ...sendSpec(this.fees, 'windowPoSt'), MaximizeFeeCap: this.maximizeFeeCap };
      const sm = await this.c.mpoolPushMessage({ To: this.miner, From: from, Method: MinerMethod.SubmitWindowedPoSt, Params: b64(params) }, spec);
      const reverted = b.sub !== undefined;
      const sub: SubmittedPoSt = {
        deadline: dl.Index,
        open: dl.Open,
        close: dl.Close,
        partitions: b.partitions,
        provenSectors: b.proven,
        cid: sm.CID!,
        pushedAt: head.Height,
        proofMs: b.proofMs,
        from,
        reverted,
      };
      b.sub = sub;
      b.state = 'pushed';
      this.submissions.push(sub);
      this.log.info(
        {
          deadline: dl.Index,
          partitions: b.indices,
          sectors: b.proven.length,
          skipped: b.skipped,
          proofMs: b.proofMs,
          head: head.Height,
          open: dl.Open,
          close: dl.Close,
          commitEpoch,
          from,
          maxFee: spec.MaxFee,
          resent: reverted || undefined,
          cid: sm.CID!['/'],
        },
        'SubmitWindowedPoSt pushed',
      );
      this.emit('submitted', sub);
      // Not tracked: settled() must not wait for the epoch that carries the receipt.
      void this.watch(k, dl, b, sub);
    } catch (e) {
      if (b.state === 'pushing') b.state = 'ready';
      const err = (e as Error).message;
      // Lotus's estimation runs the sender's pending messages first: "already proven" means a
      // SubmitWindowedPoSt for these partitions is on its way (this miner before a restart,
      // another instance). Nothing is wrong and nothing is retried early: the next head shows
      // them proven on chain (not sent again), or, if that message is dropped, sends them.
      if (/partitions? already proven/.test(err)) {
        this.log.info({ deadline: dl.Index, open: dl.Open, partitions: b.indices, head: head.Height }, 'partitions already proven by a message on its way: not submitting them now');
        return;
      }
      b.pushFailures++;
      // Lotus estimates gas on its mpool's tipset, which can lag the head it announced (the
      // first SubmitWindowedPoSt of a window is then refused as "invalid deadline … at epoch
      // open-1"): tried again shortly on the same head, not only on the next one — on a chain
      // whose tipsets are many epochs apart, waiting for it can cost the window.
      if (b.retryHead !== head.Height) {
        b.retryHead = head.Height;
        b.quickRetries = 0;
      }
      const open = head.Height + 2 < dl.Close;
      const quick = open && b.quickRetries! < QUICK_RETRIES;
      const retryMs = this.quickRetryMs();
      // A refusal a quick retry follows is routine on a busy node (a warning); one that leaves
      // the batch to the next head, or to nobody, is an error.
      const fields = { deadline: dl.Index, partitions: b.indices, head: head.Height, open: dl.Open, close: dl.Close, refusals: b.pushFailures, err };
      const what = `SubmitWindowedPoSt refused by the node (gas estimation or mpool): ${!open ? 'the window closes before a retry can land' : quick ? `retrying in ${retryMs} ms and on the next head` : 'retrying on the next head'}`;
      if (quick) this.log.warn(fields, what);
      else {
        this.log.error(fields, what);
        this.emit('error', e instanceof Error ? e : new Error(err));
      }
      if (quick) {
        b.quickRetries!++;
        this.onSameHead(head, () => {
          if (b.state === 'ready') this.track(this.submitReady(k));
        });
      }
    }
  }

  /** Waits for a submission's receipt: a failure re-proves while the window is open. */
  private async watch(k: string, dl: DeadlineInfo, b: ReadyBatch, sub: SubmittedPoSt): Promise<void> {
    let l: MsgLookup | undefined;
    try {
      l = await this.receipt(sub.cid, dl.Close);
    } catch (e) {
      this.fail('waiting for SubmitWindowedPoSt', e);
      return;
    }
    if (!l || b.sub !== sub) return;
    sub.epoch = l.Height;
    sub.exitCode = l.Receipt.ExitCode;
    if (l.Receipt.ExitCode !== ExitCode.Ok) {
      // Not proven after all: let the next head try again while the window is open.
      this.ready.delete(k);
      this.done.delete(k);
      this.attempts.set(k, (this.attempts.get(k) ?? 0) + 1);
      this.fail(`SubmitWindowedPoSt for deadline ${dl.Index}`, new Error(`exit code ${l.Receipt.ExitCode}: ${JSON.stringify(l.ReturnDec)}`));
      return;
    }
    this.log.info({ deadline: dl.Index, epoch: l.Height, open: dl.Open, partitions: b.indices }, 'Window PoSt accepted');
    if (this.ready.get(k)?.batches.every((x) => x.sub?.exitCode === ExitCode.Ok)) this.leaseDone(`prove/${k}`);
    this.emit('proven', sub);
  }

  /**
   * After a reorg back to `from`: each submission of a still-open window that was not known to
   * have landed below `from` is looked up in the new chain; found = still proven; pending in
   * the node's mpool = it will land again; neither = sent again (the cached proof, no new
   * proving), as lotus-miner re-submits when a revert takes its PoSt away.
   */
  private async afterRevert(from: number, ts: TipSet): Promise<void> {
    let pending: Set<string> | undefined;
    for (const r of this.ready.values()) {
      if (windowClosedFor(r.dl, ts.Height)) continue;
      for (const b of r.batches) {
        const sub = b.sub;
        if (b.state !== 'pushed' || !sub || !mayBeReverted(sub, from)) continue;
        const l = await this.c.stateSearchMsg(sub.cid);
        // The mpool is listed once, and only when a submission is missing from the new chain.
        const inMpool = !l && (pending ??= await this.mpoolPending(ts)).has(sub.cid['/']);
        const step = afterRevert(!!l, inMpool);
        if (step === 'landed') {
          sub.epoch = l!.Height;
          sub.exitCode = l!.Receipt.ExitCode;
          continue;
        }
        if (step === 'pending') {
          sub.epoch = undefined;
          this.log.info({ deadline: r.dl.Index, partitions: b.indices, cid: sub.cid['/'] }, 'reverted SubmitWindowedPoSt is back in the mpool: waiting for it to land again');
          continue;
        }
        this.log.warn(
          { deadline: r.dl.Index, partitions: b.indices, cid: sub.cid['/'], revertedFrom: from, head: ts.Height },
          'SubmitWindowedPoSt reverted and missing from the new chain: sending it again',
        );
        sub.reverted = true;
        b.state = 'ready';
        this.emit('reverted', sub);
      }
    }
  }

  /**
   * Blind (leases unknown): is another host's SubmitWindowedPoSt for these partitions already
   * on its way — in the head tipset (Lotus executes it in the next one, so PostSubmissions do
   * not show it yet) or in the node's mpool? Then this host waits a head and looks again,
   * instead of paying for the same proof twice; a message only pending at the last epoch that
   * can still land does not hold this one back. A node that cannot list them: nothing seen.
   */
  private async otherOnItsWay(k: string, dl: DeadlineInfo, b: ReadyBatch, head: TipSet): Promise<boolean> {
    const own = new Set((this.ready.get(k)?.batches ?? []).map((x) => x.sub?.cid['/']).filter((c): c is string => !!c));
    const seen = (m: Message, cid: string): SeenSubmission => {
      const base = { cid, to: m.To, method: m.Method };
      if (m.To !== this.miner || m.Method !== MinerMethod.SubmitWindowedPoSt || !m.Params) return base;
      try {
        const p = decodeWindowPoSt(Buffer.from(m.Params, 'base64'));
        return { ...base, deadline: p.deadline, partitions: p.partitions.map((x) => x.index) };
      } catch {
        return base;
      }
    };
    const find = (list: SeenSubmission[]) => pendingSubmission(list, this.miner, MinerMethod.SubmitWindowedPoSt, dl.Index, b.indices, own);
    try {
      const cids = (await this.c.stateListMessages({ To: this.miner }, head.Height, head.Cids)) ?? [];
      const inHead = find(await Promise.all(cids.map(async (c) => seen(await this.c.chainGetMessage(c), c['/']))));
      if (inHead) {
        this.log.info(
          { deadline: dl.Index, partitions: b.indices, cid: inHead.cid, head: head.Height },
          'leases unknown: these partitions are proven by a message in the head tipset; not sending them again',
        );
        return true;
      }
      if (head.Height >= dl.Close - 2) return false;
      const pending = await this.c.mpoolPending(head.Cids);
      const inPool = find(pending.map((sm) => seen(sm.Message, sm.CID?.['/'] ?? '')));
      if (inPool) {
        this.log.info(
          { deadline: dl.Index, partitions: b.indices, cid: inPool.cid, head: head.Height },
          'leases unknown: a SubmitWindowedPoSt for these partitions is pending in the mpool; waiting for it to land',
        );
        return true;
      }
    } catch (e) {
      this.log.warn({ err: e, deadline: dl.Index }, 'leases unknown and the node cannot list the messages on their way: sending');
    }
    return false;
  }

  /** CIDs of the messages pending in the node's mpool (empty when the node cannot list them). */
  private async mpoolPending(ts: TipSet): Promise<Set<string>> {
    try {
      const msgs = await this.c.mpoolPending(ts.Cids);
      return new Set(msgs.map((m) => m.CID?.['/']).filter((c): c is string => !!c));
    } catch (e) {
      this.log.warn({ err: e }, 'cannot list the mpool: treating reverted messages as lost');
      return new Set();
    }
  }

  /** The sectors whose single-sector proof fails. */
  private async isolate(rand: Buffer, replicas: proofs.PrivateReplicaInfo[], proverId: Buffer, deadlineMs: number): Promise<number[]> {
    const bad: number[] = [];
    for (const r of replicas) {
      try {
        await this.runner.run({ kind: 'window-post', deadlineMs, args: [rand, [r], proverId] }, () => proofs.generateWindowPoSt(rand, [r], proverId));
      } catch (e) {
        if (e instanceof ProofDeadlineError) throw e;
        bad.push(Number(r.sectorNumber));
      }
    }
    return bad;
  }
}

async function fileStamp(path: string): Promise<string> {
  try {
    const st = await stat(path);
    return `${st.size}:${st.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

/** declChecked's key for an occurrence's checks: faults and recoveries, or recoveries only (further ahead). */
const RECOVERY_CHECK = 'recover:';
const checkKey = (dl: DeadlineInfo, recoveriesOnly: boolean): string => (recoveriesOnly ? RECOVERY_CHECK : '') + key(dl);

function bits(j: unknown): number[] {
  return bitfieldFromJson(j, 'bitfield');
}
