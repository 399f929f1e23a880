// The seal pipeline of one seal (or deal) miner: sector numbers from the sector-number
// service, work on this miner's own seal workers (scheduler.ts), messages to the chain, and
// every sector's state persisted in the repo's store at each transition (fsm.ts).
//
// Crash safety: a sector's record is committed (fsync) before the work of its new state
// starts, and each state's work is safe to repeat: tasks are re-run on the same worker
// (files permitting), chain steps first look at the chain (a pre-commit already there is not
// sent again). A sector number is persisted with the sector before any sealing work starts.
import { logger } from '../log.js';
import * as proofs from '../proofs/index.js';
import type { KvStore } from '../store/kv.js';
import { LiveSet, counter, gauge, histogram } from '../metrics/index.js';
import { FAILED_STATES, SECTOR_STATES, SectorEventError, type SectorEvent, type SectorState, TERMINAL_STATES, canTransition, transition } from './fsm.js';
import { type PieceInfoWire, type PieceSource, type SectorId, type TaskInput, type TaskOutput, sectorName } from './protocol.js';
import { type Scheduler, WorkerLostError } from './scheduler.js';

/** A message the chain node sent on: its CID, the value it carried (attoFIL) and the epoch that value was asked at. */
export interface SentMessage {
  cid: string;
  value: string;
  askedAt?: number;
}

/** A deal piece of a sector: activated at prove-commit, the market told the deal id. */
export interface DealPiece {
  commP: Buffer;
  /** Padded size. */
  size: number;
  dealId: number;
}

/**
 * The chain node would not take a message (Lotus runs it in gas estimation first and refuses one
 * the actors would fail): the sector stays in its failed state, not retried blindly, until the
 * operator has fixed the cause (funds, say) and runs `distminer sectors retry N`.
 */
export class MessageRefusedError extends Error {
  override name = 'MessageRefusedError';
  constructor(
    readonly method: string,
    readonly exitCode: number | undefined,
    reason: string,
  ) {
    super(`the chain node refused ${method}${exitCode !== undefined ? ` (exit code ${exitCode})` : ''}: ${reason}`);
  }
}

/** What the pipeline needs from the chain (implemented over the Lotus API in lotus-chain.ts). */
export interface SealChain {
  head(): Promise<number>;
  /** Sealing ticket randomness at `epoch` for this miner. */
  ticket(epoch: number): Promise<Buffer>;
  /** Interactive seal challenge seed at `epoch` for this miner. */
  seed(epoch: number): Promise<Buffer>;
  preCommitChallengeDelay(): Promise<number>;
  /** How far back the ticket epoch is taken from the head (Lotus: SealRandomnessLookback). */
  ticketLookback(): number;
  /** PreCommitSectorBatch2 of one sector, with its deposit (CommD goes in UnsealedCid when it holds data). */
  sendPreCommit(p: { number: number; proof: number; commR: Buffer; commD: Buffer; ticketEpoch: number; hasData: boolean; expiration: number }): Promise<SentMessage>;
  /** ProveCommitSectors3 of one sector, with its pledge; deal pieces notify the market. */
  sendProveCommit(p: { number: number; proof: Buffer; deals: DealPiece[] }): Promise<SentMessage>;
  waitMessage(cid: string): Promise<{ exitCode: number; error?: string; epoch: number }>;
  /** The pre-commit on chain for this sector, if any. */
  preCommitOnChain(number: number): Promise<{ preCommitEpoch: number; commR: Buffer } | null>;
  /** True when the sector is proven on chain (in the miner's sector set). */
  sectorOnChain(number: number): Promise<boolean>;
  /** True when the miner's allocated-sectors set holds this number (StateMinerSectorAllocated). */
  sectorAllocated(number: number): Promise<boolean>;
  /** Sector expiration to request, as an epoch. */
  expiration(head: number): number;
}

/** Gives out sector numbers (the sector-number service, local or remote). */
export interface NumberSource {
  allocate(count: number): Promise<number[]>;
}

export interface SectorLogEntry {
  at: number;
  state: SectorState;
  note?: string;
}

export interface SectorRecord {
  minerId: number;
  number: number;
  proof: number;
  state: SectorState;
  createdAt: number;
  updatedAt: number;
  /** Data pieces (deal sectors); committed-capacity sectors have none. */
  sources?: PieceSource[];
  dealIds?: number[];
  /** The PublishStorageDeals message of each of `dealIds` (same order; null: not known), as lotus-miner's DealInfo.PublishCid. */
  dealPublishCids?: (string | null)[];
  pieces?: PieceInfoWire[];
  worker?: string;
  ticket?: Buffer;
  ticketEpoch?: number;
  pc1?: Buffer;
  commR?: Buffer;
  commD?: Buffer;
  preCommitMsg?: string;
  /** Value (attoFIL) the pre-commit / prove-commit carried, and the epoch it was asked at. */
  preCommitValue?: string;
  commitValue?: string;
  valueAskedAt?: { preCommit?: number; commit?: number };
  /** Expiration epoch requested in the pre-commit. */
  expiration?: number;
  preCommitEpoch?: number;
  seed?: Buffer;
  seedEpoch?: number;
  c1?: Buffer;
  proofBytes?: Buffer;
  commitMsg?: string;
  sealedPath?: string;
  cacheDir?: string;
  retries: number;
  failure?: string;
  /** A chain rejection: retrying the same message would be rejected again. */
  chainRejected?: boolean;
  log: SectorLogEntry[];
}

export interface PipelineOptions {
  minerId: number;
  proof: proofs.RegisteredSealProof;
  store: KvStore;
  scheduler: Scheduler;
  chain: SealChain;
  numbers: NumberSource;
  /** Long-term storage (shared with the PoSt miners); Finalize moves sealed files there. */
  storagePath: string;
  /** Sectors sealing at once; more pledges wait (default 4). */
  maxInFlight?: number;
  /** Automatic retries of a failed step before the sector is left failed (default 3). */
  maxRetries?: number;
  /** Delay before a retry (default 5 s). */
  retryDelayMs?: number;
  /** Poll interval while waiting on the chain (default 1 s). */
  pollMs?: number;
  /**
   * Computes Commit2 on this host through the GPU mailbox (a proof process the mailbox can
   * pause while a PoSt runs) instead of on a seal worker. Used when no connected worker
   * accepts Commit2.
   */
  localCommit2?: (sector: SectorId, c1: Buffer) => Promise<Buffer>;
}

const KEY = (n: number) => `sector/${String(n).padStart(12, '0')}`;

/** The deal pieces of a sector, in order: data sources matched with their deal ids. */
export function dealPieces(r: Pick<SectorRecord, 'sources' | 'pieces' | 'dealIds'>): DealPiece[] {
  const ids = r.dealIds ?? [];
  if (ids.length === 0 || !r.sources) return [];
  const out: DealPiece[] = [];
  r.sources.forEach((src, i) => {
    if (src.kind === 'zero') return;
    const dealId = ids[out.length];
    if (dealId === undefined) throw new Error(`sector has more data pieces than deal ids (${ids.length})`);
    out.push({ commP: src.commP, size: r.pieces?.[i]?.size ?? proofs.paddedSize(src.unpaddedSize), dealId });
  });
  if (out.length !== ids.length) throw new Error(`sector has ${out.length} data pieces for ${ids.length} deal ids`);
  return out;
}

// Metrics (src/metrics; the seal role's thread): sectors by state, from counts each pipeline
// keeps as its sectors change state (no scan of the records at scrape time), and how long
// sectors stayed in each state they left.
const livePipelines = new LiveSet<SealPipeline>();
gauge({
  name: 'distminer_sectors',
  help: "Sectors of this seal miner by state (lotus-miner's sector states)",
  labelNames: ['state'],
  collect() {
    this.reset();
    if (livePipelines.size === 0) return;
    for (const st of SECTOR_STATES) this.set({ state: st }, 0);
    for (const p of livePipelines) for (const [st, n] of p.stateCounts()) if (n > 0) this.inc({ state: st }, n);
  },
});
const stateSeconds = histogram({
  name: 'distminer_seal_state_seconds',
  help: 'Time a sector spent in a state, observed when it leaves it (sealing step durations, queueing and waits for the chain included)',
  labelNames: ['state'],
  buckets: [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14_400, 43_200, 86_400],
});

const eventsRefused = counter({
  name: 'distminer_sector_events_refused_total',
  help: "Sector events refused: not applicable to the sector's state, or meant for a state it had left (each is logged as an error)",
  labelNames: ['state', 'event'],
});

/** When the sector entered its current state (the start of the log's last run of that state). */
function enteredAt(r: SectorRecord): number {
  let at = r.updatedAt;
  for (let i = r.log.length - 1; i >= 0 && r.log[i].state === r.state; i--) at = r.log[i].at;
  return at;
}

export class SealPipeline {
  private readonly log = logger('sealing');
  private readonly unlist: () => void;
  private readonly active = new Map<number, Promise<void>>();
  private readonly waiting: (() => void)[] = [];
  private stopped = false;
  private readonly wakers = new Map<number, () => void>();

  /** Sectors by state, kept as records are written (for the metrics). */
  private readonly counts = new Map<SectorState, number>();

  constructor(private readonly o: PipelineOptions) {
    for (const [, r] of o.store.entries<SectorRecord>('sector/')) this.count(r.state, 1);
    this.unlist = livePipelines.add(this);
  }

  /** How many sectors are in each state. */
  stateCounts(): ReadonlyMap<SectorState, number> {
    return this.counts;
  }

  private count(state: SectorState, by: number): void {
    this.counts.set(state, (this.counts.get(state) ?? 0) + by);
  }

  get sealProof(): proofs.RegisteredSealProof {
    return this.o.proof;
  }

  /** Resumes every unfinished sector found in the store (after a restart). */
  resume(): void {
    for (const [, r] of this.o.store.entries<SectorRecord>('sector/')) {
      if (!TERMINAL_STATES.has(r.state) && !(FAILED_STATES.has(r.state) && r.chainRejected)) this.drive(r.number);
    }
  }

  get(n: number): SectorRecord | undefined {
    return this.o.store.get<SectorRecord>(KEY(n));
  }

  list(): SectorRecord[] {
    return this.o.store.entries<SectorRecord>('sector/').map(([, r]) => r);
  }

  /**
   * Pledges `count` committed-capacity sectors (or one deal sector with `sources`). Numbers
   * are allocated and persisted here; sealing starts when an in-flight slot is free.
   */
  async pledge(count = 1, sources?: PieceSource[], dealIds?: number[], dealPublishCids?: (string | null)[]): Promise<number[]> {
    const numbers = await this.o.numbers.allocate(count);
    const now = Date.now();
    const ops = numbers.map((number) => {
      if (this.get(number)) throw new Error(`sector ${number} already exists in this miner's store: the number service handed out a used number`);
      const r: SectorRecord = {
        minerId: this.o.minerId,
        number,
        proof: this.o.proof,
        state: 'Packing',
        createdAt: now,
        updatedAt: now,
        sources,
        dealIds,
        ...(dealPublishCids?.some((c) => c !== null) ? { dealPublishCids } : {}),
        retries: 0,
        log: [{ at: now, state: 'Packing', note: sources ? 'deal sector' : 'pledged (CC)' }],
      };
      return { key: KEY(number), value: r };
    });
    await this.o.store.commit(ops);
    this.count('Packing', ops.length);
    for (const n of numbers) this.drive(n);
    return numbers;
  }

  /** Marks a sector for removal (its files are left for the operator to delete). */
  async remove(n: number): Promise<void> {
    const r = this.get(n);
    if (!r) throw new Error(`no sector ${n} in this miner`);
    await this.fire(r, { type: 'REMOVE' }, 'removal requested');
    this.wakers.get(n)?.();
    if (!this.active.has(n)) this.drive(n);
  }

  /**
   * Retries a sector left failed by a chain rejection or a refused message (after the operator
   * fixed the cause, e.g. funded the worker): back to the step that failed.
   */
  async retry(n: number): Promise<SectorRecord> {
    const r = this.get(n);
    if (!r) throw new Error(`no sector ${n} in this miner`);
    if (!FAILED_STATES.has(r.state) || r.state === 'FailedUnrecoverable') throw new Error(`sector ${n} is ${r.state}: only a failed sector can be retried`);
    if (this.active.has(n)) throw new Error(`sector ${n} is already being retried`);
    const next = await this.fire(r, { type: 'RETRY' }, 'retry requested', { chainRejected: false, retries: 0 });
    this.drive(n);
    return next;
  }

  private drive(n: number): void {
    if (this.active.has(n) || this.stopped) return;
    const p = this.loop(n).catch((e) => this.log.error({ sector: n, err: e }, 'sector loop crashed'));
    this.active.set(n, p);
    void p.finally(() => this.active.delete(n));
  }

  /**
   * Applies `ev` to the sector and writes the record with `patch`. Throws SectorEventError, and
   * writes nothing, when the event does not apply to the sector's state or when `r` is stale
   * (the stored sector has left r's state since: the event was meant for that state).
   */
  private async fire(r: SectorRecord, ev: SectorEvent, note?: string, patch: Partial<SectorRecord> = {}): Promise<SectorRecord> {
    const stored = this.get(r.number)?.state ?? r.state;
    if (stored !== r.state || !canTransition(r.state, ev)) {
      const err = new SectorEventError(r.number, stored, ev.type, stored !== r.state ? r.state : undefined);
      eventsRefused.inc({ state: stored, event: ev.type });
      // A step overtaken by `sectors remove`, or a remove of a sector already going, is an
      // operator's doing; any other event that does not apply is a bug.
      this.log[err.meantFor || ev.type === 'REMOVE' ? 'warn' : 'error']({ sector: r.number, state: stored, event: ev.type, note, err }, 'sector event refused');
      throw err;
    }
    const next = transition(r.state, ev);
    const now = Date.now();
    const updated: SectorRecord = { ...r, ...patch, state: next, updatedAt: now, log: [...r.log, { at: now, state: next, note }].slice(-100) };
    await this.o.store.put(KEY(r.number), updated);
    this.count(r.state, -1);
    this.count(next, 1);
    this.log.info({ sector: r.number, from: r.state, to: next, note }, 'sector state');
    stateSeconds.observe({ state: r.state }, Math.max(0, now - enteredAt(r)) / 1000);
    return updated;
  }

  /** Writes `patch` into the sector without a state change; refused (SectorEventError) when `r` is stale. */
  private async save(r: SectorRecord, patch: Partial<SectorRecord>): Promise<SectorRecord> {
    const stored = this.get(r.number)?.state ?? r.state;
    if (stored !== r.state) throw new SectorEventError(r.number, stored, 'SAVE', r.state);
    const updated = { ...r, ...patch, updatedAt: Date.now() };
    await this.o.store.put(KEY(r.number), updated);
    return updated;
  }

  private sleep(n: number, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wakers.set(n, done);
    });
  }

  private sector(r: SectorRecord): SectorId {
    return { minerId: r.minerId, number: r.number, proof: r.proof };
  }

  private async task(r: SectorRecord, input: TaskInput, affinity?: string): Promise<{ output: TaskOutput; workerId: string }> {
    if (affinity && !this.o.scheduler.isKnown(affinity)) {
      // Not connected yet after a miner restart: give it the grace period to come back.
      const deadline = Date.now() + 30_000;
      while (!this.o.scheduler.isKnown(affinity) && Date.now() < deadline && !this.stopped) await this.sleep(r.number, 500);
      if (!this.o.scheduler.isKnown(affinity)) throw new WorkerLostError(affinity, input.type);
    }
    return this.o.scheduler.run(this.sector(r), input, affinity);
  }

  private slotsUsed = 0;

  /** Back-pressure: at most maxInFlight sectors are worked on at once; others wait here. */
  private async acquireSlot(): Promise<void> {
    while (this.slotsUsed >= (this.o.maxInFlight ?? 4) && !this.stopped) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.slotsUsed++;
  }

  private releaseSlot(): void {
    this.slotsUsed--;
    this.waiting.shift()?.();
  }

  private async loop(n: number): Promise<void> {
    await this.acquireSlot();
    try {
      await this.work(n);
    } finally {
      this.releaseSlot();
    }
  }

  private async work(n: number): Promise<void> {
    let r: SectorRecord | undefined = this.get(n)!;
    while (r && !this.stopped && !TERMINAL_STATES.has(r.state)) {
      try {
        r = await this.advance(r);
      } catch (e) {
        if (!(e instanceof SectorEventError)) throw e;
        // Logged and counted by fire. A step overtaken by another change (`sectors remove`)
        // goes on from the stored state; an event that does not apply to a current record is
        // a bug: the sector stays where it is (and the error says where).
        if (e.meantFor === undefined) return;
        r = this.get(n);
      }
    }
  }

  /**
   * One step of the sector and what follows a failure; undefined when the loop should stop. A
   * sector found in a failed state (after a restart, a crash during the retry wait) goes
   * straight to its retry.
   */
  private async advance(r: SectorRecord): Promise<SectorRecord | undefined> {
    const n = r.number;
    if (!FAILED_STATES.has(r.state)) {
      try {
        r = await this.step(r);
      } catch (e) {
        const err = e as Error;
        if (this.stopped) return undefined;
        if (err instanceof SectorEventError) throw err;
        // The stored record, not the step's copy (the step may have saved outputs before it
        // failed), unless the sector has left the step's state meanwhile.
        const cur = this.get(n);
        if (!cur || cur.state !== r.state) throw new SectorEventError(n, cur?.state ?? r.state, 'FAIL', r.state);
        r = cur;
        if (err instanceof WorkerLostError) return this.fire(r, { type: 'FILES_LOST' }, err.message, { worker: undefined, failure: err.message });
        if (err instanceof MessageRefusedError) {
          // Sending it again unchanged would be refused again: keep the reason, wait for `sectors retry`.
          r = await this.fire(r, { type: 'FAIL' }, err.message, { failure: err.message, chainRejected: true });
        } else {
          r = await this.fire(r, { type: 'FAIL' }, err.message, { failure: err.message });
        }
      }
    }
    if (FAILED_STATES.has(r.state) && r.state !== 'FailedUnrecoverable') {
      if (r.chainRejected) return undefined; // stays failed, with the chain's reason, until removed
      if (r.retries >= (this.o.maxRetries ?? 3)) {
        await this.fire(r, { type: 'GIVE_UP' }, `giving up after ${r.retries} retries: ${r.failure}`);
        return undefined;
      }
      await this.sleep(n, this.o.retryDelayMs ?? 5000);
      return this.fire(r, { type: 'RETRY' }, `retry ${r.retries + 1}`, { retries: r.retries + 1 });
    }
    return r;
  }

  private async drawTicket(): Promise<{ ticket: Buffer; ticketEpoch: number }> {
    const head = await this.o.chain.head();
    const ticketEpoch = Math.max(0, head - this.o.chain.ticketLookback());
    return { ticket: await this.o.chain.ticket(ticketEpoch), ticketEpoch };
  }

  /** Performs the work of the record's current state and returns the record after it. */
  private async step(r: SectorRecord): Promise<SectorRecord> {
    const pollMs = this.o.pollMs ?? 1000;
    switch (r.state) {
      case 'Packing': {
        const size = proofs.sealProofSectorSize(r.proof);
        const sources: PieceSource[] = r.sources ?? [{ kind: 'zero', unpaddedSize: proofs.unpaddedSize(size) }];
        const { output, workerId } = await this.task(r, { type: 'AddPiece', pieces: sources });
        if (output.type !== 'AddPiece') throw new Error('unexpected AddPiece output');
        return this.fire(r, { type: 'DONE' }, `pieces added on ${workerId}`, { pieces: output.pieces, worker: workerId });
      }
      case 'GetTicket': {
        // A sector already pre-committed (files rebuilt after losing a worker) reuses its
        // ticket: PC1 is deterministic, so the same data and ticket give the same CommR.
        if (r.ticket && r.ticketEpoch !== undefined) return this.fire(r, { type: 'DONE' }, `reusing ticket of epoch ${r.ticketEpoch}`);
        const t = await this.drawTicket();
        return this.fire(r, { type: 'DONE' }, `ticket at epoch ${t.ticketEpoch}`, t);
      }
      case 'PreCommit1': {
        // A failed GetTicket is retried here (its failure state retries PreCommit1): draw it first.
        if (!r.ticket || r.ticketEpoch === undefined) r = await this.save(r, await this.drawTicket());
        const { output } = await this.task(r, { type: 'PreCommit1', ticket: r.ticket!, pieces: r.pieces! }, r.worker);
        if (output.type !== 'PreCommit1') throw new Error('unexpected PreCommit1 output');
        return this.fire(r, { type: 'DONE' }, undefined, { pc1: output.pc1 });
      }
      case 'PreCommit2': {
        const { output } = await this.task(r, { type: 'PreCommit2', pc1: r.pc1! }, r.worker);
        if (output.type !== 'PreCommit2') throw new Error('unexpected PreCommit2 output');
        if (r.commR && !r.commR.equals(output.commR)) {
          throw new Error(`rebuilt sector has CommR ${proofs.commRToCid(output.commR)}, the pre-commit has ${proofs.commRToCid(r.commR)}`);
        }
        const patch = { commR: output.commR, commD: output.commD, pc1: undefined };
        if (r.preCommitEpoch !== undefined) {
          // Files rebuilt for an already pre-committed sector: carry on where it was.
          return this.fire(r, { type: 'SKIP_TO_WAIT_SEED' }, 'files rebuilt; pre-commit already on chain', patch);
        }
        return this.fire(r, { type: 'DONE' }, `CommR ${proofs.commRToCid(output.commR)}`, patch);
      }
      case 'PreCommitting': {
        const onChain = await this.o.chain.preCommitOnChain(r.number);
        if (onChain) {
          if (!onChain.commR.equals(r.commR!)) {
            return this.fire(r, { type: 'FAIL' }, 'a different pre-commit of this number is on chain', {
              failure: `sector ${r.number} is pre-committed on chain with another CommR`,
              chainRejected: true,
            });
          }
          return this.fire(r, { type: 'SKIP_TO_WAIT_SEED' }, `pre-commit already on chain at epoch ${onChain.preCommitEpoch}`, { preCommitEpoch: onChain.preCommitEpoch });
        }
        if (await this.o.chain.sectorAllocated(r.number)) {
          // The actor would reject the message ("already allocated"): say so without paying for it.
          const reason = `sector number ${r.number} is already allocated on chain for this miner`;
          return this.fire(r, { type: 'FAIL' }, reason, { failure: reason, chainRejected: true });
        }
        const head = await this.o.chain.head();
        const expiration = this.o.chain.expiration(head);
        const sent = await this.o.chain.sendPreCommit({
          number: r.number,
          proof: r.proof,
          commR: r.commR!,
          commD: r.commD!,
          ticketEpoch: r.ticketEpoch!,
          hasData: (r.dealIds?.length ?? 0) > 0,
          expiration,
        });
        return this.fire(r, { type: 'DONE' }, `PreCommitSectorBatch2 message ${sent.cid} (deposit ${sent.value} attoFIL)`, {
          preCommitMsg: sent.cid,
          expiration,
          preCommitValue: sent.value,
          valueAskedAt: { ...r.valueAskedAt, preCommit: sent.askedAt },
        });
      }
      case 'PreCommitWait': {
        const rec = await this.o.chain.waitMessage(r.preCommitMsg!);
        if (rec.exitCode !== 0) {
          const reason = `chain rejected PreCommitSectorBatch2 (exit code ${rec.exitCode}): ${rec.error ?? 'no reason given'}`;
          this.log.error({ sector: r.number, method: 'PreCommitSectorBatch2', exitCode: rec.exitCode, msg: r.preCommitMsg, error: rec.error }, 'pre-commit failed on chain');
          return this.fire(r, { type: 'REJECTED' }, reason, { failure: reason, chainRejected: true });
        }
        const on = await this.o.chain.preCommitOnChain(r.number);
        return this.fire(r, { type: 'DONE' }, `pre-committed at epoch ${on?.preCommitEpoch ?? rec.epoch}`, { preCommitEpoch: on?.preCommitEpoch ?? rec.epoch });
      }
      case 'WaitSeed': {
        const delay = await this.o.chain.preCommitChallengeDelay();
        const seedEpoch = r.preCommitEpoch! + delay;
        // The seed must be final: wait a little past it (150 epochs on mainnet: 75 minutes).
        for (;;) {
          const head = await this.o.chain.head();
          if (head > seedEpoch) break;
          await this.sleep(r.number, pollMs);
          if (this.stopped) throw new Error('stopping');
          // `sectors remove` (which wakes this sleep) does not wait for the seed.
          const cur = this.get(r.number);
          if (cur?.state !== r.state) throw new SectorEventError(r.number, cur?.state ?? r.state, 'DONE', r.state);
        }
        const seed = await this.o.chain.seed(seedEpoch);
        return this.fire(r, { type: 'DONE' }, `seed at epoch ${seedEpoch}`, { seed, seedEpoch });
      }
      case 'Committing': {
        let c1 = r.c1;
        if (!c1) {
          const { output } = await this.task(r, { type: 'Commit1', commR: r.commR!, commD: r.commD!, ticket: r.ticket!, seed: r.seed!, pieces: r.pieces! }, r.worker);
          if (output.type !== 'Commit1') throw new Error('unexpected Commit1 output');
          c1 = output.c1;
          r = await this.save(r, { c1 });
        }
        // Commit2 may run on any worker (a GPU one when there is one): it needs only C1's
        // output. With no worker taking Commit2, the miner's own GPU mailbox computes it.
        let output: TaskOutput;
        let workerId: string;
        if (this.o.localCommit2 && !this.o.scheduler.acceptsAnywhere('Commit2')) {
          output = { type: 'Commit2', proof: await this.o.localCommit2(this.sector(r), c1) };
          workerId = 'mailbox';
        } else {
          ({ output, workerId } = await this.task(r, { type: 'Commit2', c1 }));
        }
        if (output.type !== 'Commit2') throw new Error('unexpected Commit2 output');
        const v = await proofs.verifySeal({
          proof: r.proof,
          commR: r.commR!,
          commD: r.commD!,
          proverId: proofs.proverIdFromMinerId(r.minerId),
          ticket: r.ticket!,
          seed: r.seed!,
          sectorNumber: r.number,
          proofBytes: output.proof,
        });
        if (!v.valid) throw new Error(`Commit2 from ${workerId} does not verify (${v.reason})`);
        return this.fire(r, { type: 'DONE' }, `proof computed on ${workerId}`, { proofBytes: output.proof, c1: undefined });
      }
      case 'SubmitCommit': {
        // A record written before Finalize moved ahead of the ProveCommit: move the files first.
        if (!r.sealedPath) return this.fire(r, { type: 'FINALIZE_FIRST' }, 'files not yet in long-term storage');
        if (await this.o.chain.sectorOnChain(r.number)) return this.fire(r, { type: 'SKIP_TO_PROVING' }, 'already proven on chain');
        const sent = await this.o.chain.sendProveCommit({ number: r.number, proof: r.proofBytes!, deals: dealPieces(r) });
        return this.fire(r, { type: 'DONE' }, `ProveCommitSectors3 message ${sent.cid} (pledge ${sent.value} attoFIL)`, {
          commitMsg: sent.cid,
          commitValue: sent.value,
          valueAskedAt: { ...r.valueAskedAt, commit: sent.askedAt },
        });
      }
      case 'CommitWait': {
        const rec = await this.o.chain.waitMessage(r.commitMsg!);
        if (rec.exitCode !== 0) {
          const reason = `chain rejected ProveCommitSectors3 (exit code ${rec.exitCode}): ${rec.error ?? 'no reason given'}`;
          this.log.error({ sector: r.number, method: 'ProveCommitSectors3', exitCode: rec.exitCode, msg: r.commitMsg, error: rec.error }, 'prove-commit failed on chain');
          return this.fire(r, { type: 'REJECTED' }, reason, { failure: reason, chainRejected: true });
        }
        if (!r.sealedPath) return this.fire(r, { type: 'FINALIZE_FIRST' }, `proven at epoch ${rec.epoch}; files not yet in long-term storage`);
        return this.fire(r, { type: 'DONE' }, `proven at epoch ${rec.epoch}`);
      }
      case 'FinalizeSector': {
        // Before the ProveCommit (see fsm.ts): the sector goes live only with its files in place.
        const name = sectorName(r);
        const { output } = await this.task(r, { type: 'Finalize', sealedDest: `${this.o.storagePath}/sealed/${name}`, cacheDest: `${this.o.storagePath}/cache/${name}` }, r.worker);
        if (output.type !== 'Finalize') throw new Error('unexpected Finalize output');
        return this.fire(r, { type: 'DONE' }, `moved to ${output.sealedPath}`, { sealedPath: output.sealedPath, cacheDir: output.cacheDir, failure: undefined });
      }
      case 'Removing':
        return this.fire(r, { type: 'DONE' }, 'removed from the pipeline');
      default:
        throw new Error(`no work for state ${r.state}`);
    }
  }

  /** Stops starting new work (loops then exit at their next step). */
  async stopping(): Promise<void> {
    this.stopped = true;
    for (const w of this.wakers.values()) w();
    for (const w of this.waiting.splice(0)) w();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unlist();
    for (const w of this.wakers.values()) w();
    for (const w of this.waiting.splice(0)) w();
    await Promise.allSettled(this.active.values());
  }
}
