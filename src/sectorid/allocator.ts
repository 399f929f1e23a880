// The allocator: serialises every store operation, batches concurrent allocation requests
// into one durable commit (group commit), merges concurrent duplicates of one request id,
// and keeps the chain's allocated set fresh.
import { logger } from '../log.js';
import type { ChainFloorSource } from './chain-floor.js';
import { ErrorCode, type InfoReply, SectorIdError } from './protocol.js';
import { type Ranges, maxOf, toNumbers } from './ranges.js';
import type { AllocOutcome, AllocRequest, SectorIdStore } from './store.js';

const log = logger('sectorid');

export interface AllocatorOptions {
  store: SectorIdStore;
  minerId: string;
  chainFloor?: ChainFloorSource;
  /** How old the cached chain set may get before a background refresh (default 30 s). */
  chainRefreshMs?: number;
  /** Most requests in one commit (default 1024). */
  maxBatch?: number;
}

interface Pending {
  req: AllocRequest;
  waiters: Array<{ resolve(n: number[]): void; reject(e: Error): void }>;
}

export class Allocator {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = new Map<string, Pending>();
  private flushScheduled = false;
  private chainSet: Ranges = [];
  private chainCheckedAt: number | null = null;
  private chainRefreshing: Promise<void> | undefined;
  private closed = false;
  readonly store: SectorIdStore;
  readonly minerId: string;
  private readonly chainRefreshMs: number;
  private readonly maxBatch: number;
  commits = 0;
  failedCommits = 0;
  private lastFailLog = 0;

  constructor(private readonly opts: AllocatorOptions) {
    this.store = opts.store;
    this.minerId = opts.minerId;
    this.chainRefreshMs = opts.chainRefreshMs ?? 30_000;
    this.maxBatch = opts.maxBatch ?? 1024;
  }

  /** Reads the chain, opens the store (refusing unusable state), raises next above the chain. */
  async open(o: { extraFloor?: number; noCreate?: string; operatorFloor?: boolean } = {}): Promise<void> {
    const extraFloor = o.extraFloor ?? 0;
    let whyNot: string | undefined = o.noCreate;
    if (this.opts.chainFloor) {
      try {
        await this.refreshChain();
      } catch (e) {
        whyNot = `its first value must come from the chain's allocated sectors, which could not be read (${(e as Error).message}); check the chain node connection, or say where numbering starts with \`sectors numbers set-floor N\``;
        log.warn({ err: e }, "cannot read the chain's allocated sectors at start; using the stored counter");
      }
    }
    const chainNext = (maxOf(this.chainSet) ?? -1) + 1;
    await this.store.open({ initialNext: Math.max(chainNext, extraFloor), mayCreate: whyNot === undefined, whyNot, operatorFloor: o.operatorFloor });
    if (Math.max(chainNext, extraFloor) > 0) await this.store.raiseFloor(Math.max(chainNext, extraFloor));
    // Keep the chain's set fresh even when nobody allocates (allocations also trigger it).
    if (this.opts.chainFloor) {
      this.chainTimer = setInterval(() => this.maybeRefreshChain(), this.chainRefreshMs);
      this.chainTimer.unref();
    }
  }

  private chainTimer: NodeJS.Timeout | undefined;

  private async refreshChain(): Promise<void> {
    const set = await this.opts.chainFloor!.allocatedSectors(this.minerId);
    this.chainSet = set;
    this.chainCheckedAt = Date.now();
  }

  private maybeRefreshChain(): void {
    if (!this.opts.chainFloor || this.chainRefreshing) return;
    if (this.chainCheckedAt !== null && Date.now() - this.chainCheckedAt < this.chainRefreshMs) return;
    this.chainRefreshing = this.refreshChain()
      .then(() => {
        const floor = (maxOf(this.chainSet) ?? -1) + 1;
        return this.exclusive(() => this.store.raiseFloor(floor));
      })
      .catch((e: unknown) => log.warn({ err: e }, 'chain allocated-sectors refresh failed; keeping the last set'))
      .finally(() => {
        this.chainRefreshing = undefined;
      });
  }

  /** Run fn after every earlier store operation, alone. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => {});
    return run;
  }

  /** Allocate n numbers for a request id; concurrent calls with one id share one answer. */
  allocate(requestId: string, n: number): Promise<number[]> {
    if (this.closed) return Promise.reject(new SectorIdError(ErrorCode.ShuttingDown, 'the allocator is shutting down'));
    return new Promise((resolve, reject) => {
      const p = this.pending.get(requestId);
      if (p) {
        if (p.req.n !== n) {
          reject(new SectorIdError(ErrorCode.RequestIdReused, `request id ${requestId} is in flight for ${p.req.n} number(s), not ${n}`));
          return;
        }
        p.waiters.push({ resolve, reject });
        return;
      }
      this.pending.set(requestId, { req: { requestId, n }, waiters: [{ resolve, reject }] });
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.maybeRefreshChain();
    void this.exclusive(() => this.flush());
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const group: Pending[] = [];
    for (const [id, p] of this.pending) {
      group.push(p);
      this.pending.delete(id);
      if (group.length >= this.maxBatch) break;
    }
    if (this.pending.size > 0) this.scheduleFlush();
    if (group.length === 0) return;
    let outcomes: AllocOutcome[];
    try {
      outcomes = await this.store.allocate(
        group.map((g) => g.req),
        this.chainSet,
      );
      this.commits++;
    } catch (e) {
      // Throttled: while a database is down every request fails the same way.
      this.failedCommits++;
      if (Date.now() - this.lastFailLog > 1000) {
        this.lastFailLog = Date.now();
        log.warn(
          { err: e, requests: group.length, failedCommits: this.failedCommits },
          'sector-number commit failed; no answer sent (a retry with the same request id gets the numbers if the commit did land)',
        );
      }
      const err = new SectorIdError(ErrorCode.StoreUnavailable, `the sector-number store failed: ${(e as Error).message}`);
      for (const g of group) for (const w of g.waiters) w.reject(err);
      return;
    }
    group.forEach((g, i) => {
      const o = outcomes[i]!;
      for (const w of g.waiters) {
        if ('error' in o) w.reject(o.error);
        else w.resolve(toNumbers(o.numbers));
      }
    });
  }

  async info(): Promise<InfoReply> {
    const st = await this.exclusive(() => this.store.state());
    return {
      next: st.next,
      reservations: st.reservations,
      chainFloor: this.opts.chainFloor ? (maxOf(this.chainSet) ?? -1) + 1 : null,
      chainCheckedAt: this.chainCheckedAt,
      store: this.store.description,
      minerId: this.minerId,
    };
  }

  reserve(name: string, ranges: Ranges): Promise<void> {
    return this.exclusive(() => this.store.reserve(name, ranges));
  }

  free(name: string): Promise<void> {
    return this.exclusive(() => this.store.free(name));
  }

  setFloor(floor: number): Promise<number> {
    return this.exclusive(() => this.store.setFloor(floor));
  }

  async close(): Promise<void> {
    if (this.chainTimer) clearInterval(this.chainTimer);
    this.closed = true;
    await this.chainRefreshing;
    await this.exclusive(() => this.store.close());
  }
}
