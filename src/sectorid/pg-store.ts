// The HA store: PostgreSQL. Each group commit is one transaction that locks the miner's
// counter row (SELECT … FOR UPDATE), so any number of allocator servers can serve one miner
// id active/active against one database: the row lock orders them, and the request table
// (checked after the lock is held) makes a retry on either server return the same numbers.
// See README.md for the scale-out path (YugabyteDB / CockroachDB speak the same SQL).
import pg from 'pg';
import { redactUrl } from '../util/redact.js';
import { logger } from '../log.js';
import { ErrorCode, SectorIdError } from './protocol.js';
import { type Ranges, formatRanges, normalize, overlaps, takeNumbers } from './ranges.js';
import type { AllocOutcome, AllocRequest, OpenOptions, SectorIdStore, StoreState } from './store.js';

const log = logger('sectorid');

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sectorid_counter (
  miner_id text PRIMARY KEY,
  next bigint NOT NULL CHECK (next >= 0)
);
CREATE TABLE IF NOT EXISTS sectorid_reservation (
  miner_id text NOT NULL,
  name text NOT NULL,
  ranges jsonb NOT NULL,
  PRIMARY KEY (miner_id, name)
);
CREATE TABLE IF NOT EXISTS sectorid_request (
  miner_id text NOT NULL,
  request_id text NOT NULL,
  n integer NOT NULL,
  numbers jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (miner_id, request_id)
);
CREATE INDEX IF NOT EXISTS sectorid_request_age ON sectorid_request (miner_id, created_at);
`;

export interface PostgresStoreOptions {
  /** How long request ids are remembered for retries (default 24 h). */
  rememberMs?: number;
  /** Pool size (default 4). */
  poolSize?: number;
  /** Per-statement timeout in ms (default 10 s). */
  statementTimeoutMs?: number;
}

export class PostgresStore implements SectorIdStore {
  readonly description: string;
  readonly pool: pg.Pool;
  private readonly rememberMs: number;
  private lastPrune = 0;

  constructor(
    url: string,
    readonly minerId: string,
    opts: PostgresStoreOptions = {},
  ) {
    this.description = redactUrl(url);
    this.rememberMs = opts.rememberMs ?? 24 * 3600_000;
    this.pool = new pg.Pool({
      connectionString: url,
      max: opts.poolSize ?? 4,
      connectionTimeoutMillis: 5_000,
      statement_timeout: opts.statementTimeoutMs ?? 10_000,
      query_timeout: (opts.statementTimeoutMs ?? 10_000) + 2_000,
    });
    // An idle pooled connection dies when the database restarts: log it, the pool replaces it.
    this.pool.on('error', (e) => log.warn({ err: e }, 'idle PostgreSQL connection lost'));
  }

  /** A pooled client with an error listener: a checked-out connection that dies between
   * queries emits 'error' on the client, which would otherwise crash the process. */
  private async checkout(): Promise<{ c: pg.PoolClient; done(broken?: boolean): void }> {
    const c = await this.pool.connect();
    let lost = false;
    const onError = (e: Error) => {
      lost = true;
      log.warn({ err: e }, 'PostgreSQL connection lost');
    };
    c.on('error', onError);
    return {
      c,
      done: (broken = false) => {
        c.off('error', onError);
        c.release(broken || lost);
      },
    };
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const { c, done } = await this.checkout();
    let broken = false;
    try {
      await c.query('BEGIN');
      const r = await fn(c);
      await c.query('COMMIT');
      return r;
    } catch (e) {
      try {
        await c.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw e;
    } finally {
      done(broken);
    }
  }

  private async lockCounter(c: pg.PoolClient): Promise<number> {
    const r = await c.query<{ next: string }>('SELECT next FROM sectorid_counter WHERE miner_id = $1 FOR UPDATE', [this.minerId]);
    if (r.rowCount === 0) throw new Error(`no counter row for miner ${this.minerId} (was the table emptied?)`);
    return Number(r.rows[0]!.next);
  }

  private async loadReservations(c: pg.PoolClient): Promise<Map<string, Ranges>> {
    const r = await c.query<{ name: string; ranges: Ranges }>('SELECT name, ranges FROM sectorid_reservation WHERE miner_id = $1', [this.minerId]);
    return new Map(r.rows.map((row) => [row.name, normalize(row.ranges)]));
  }

  async open(opts: OpenOptions): Promise<void> {
    try {
      await this.tx(async (c) => {
        // Two servers starting at once must not race on CREATE TABLE IF NOT EXISTS.
        await c.query("SELECT pg_advisory_xact_lock(hashtext('distminer-sectorid-schema'))");
        await c.query(SCHEMA);
        const r = await c.query<{ next: string }>('SELECT next FROM sectorid_counter WHERE miner_id = $1', [this.minerId]);
        if (r.rowCount === 0) {
          if (!opts.mayCreate) {
            throw new Error(`no sector-number counter for miner ${this.minerId} in the database yet, and it is not created now: ${opts.whyNot}`);
          }
          await c.query('INSERT INTO sectorid_counter (miner_id, next) VALUES ($1, $2)', [this.minerId, opts.initialNext]);
          log.info({ minerId: this.minerId, next: opts.initialNext }, 'created the sector-number counter row');
        } else if (!Number.isSafeInteger(Number(r.rows[0]!.next))) {
          throw new Error(`the counter row for miner ${this.minerId} holds ${r.rows[0]!.next}, beyond the numbers this allocator handles`);
        }
      });
    } catch (e) {
      await this.pool.end().catch(() => {});
      throw new Error(`cannot open the PostgreSQL sector-number store ${this.description}: ${(e as Error).message}`, { cause: e });
    }
  }

  async allocate(batch: AllocRequest[], chainAllocated: Ranges): Promise<AllocOutcome[]> {
    const out = await this.tx(async (c) => {
      // The row lock first: a concurrent transaction on another server that holds it commits
      // before we read the request table, so we see its answers (READ COMMITTED snapshot per statement).
      let next = await this.lockCounter(c);
      const ids = batch.map((b) => b.requestId);
      const seenR = await c.query<{ request_id: string; n: number; numbers: Ranges }>('SELECT request_id, n, numbers FROM sectorid_request WHERE miner_id = $1 AND request_id = ANY($2::text[])', [
        this.minerId,
        ids,
      ]);
      const seen = new Map(seenR.rows.map((r) => [r.request_id, r]));
      const res = await this.loadReservations(c);
      const excluded = normalize([...[...res.values()].flat(), ...chainAllocated]);
      const outcomes: AllocOutcome[] = [];
      const fresh: Array<{ id: string; n: number; numbers: Ranges }> = [];
      for (const req of batch) {
        const s = seen.get(req.requestId);
        if (s) {
          outcomes.push(
            s.n === req.n
              ? { numbers: normalize(s.numbers), replayed: true }
              : { error: new SectorIdError(ErrorCode.RequestIdReused, `request id ${req.requestId} was used before for ${s.n} number(s), not ${req.n}`) },
          );
          continue;
        }
        const t = takeNumbers(next, req.n, excluded);
        next = t.next;
        fresh.push({ id: req.requestId, n: req.n, numbers: t.taken });
        outcomes.push({ numbers: t.taken, replayed: false });
      }
      if (fresh.length > 0) {
        await c.query(
          `WITH u AS (UPDATE sectorid_counter SET next = $2 WHERE miner_id = $1)
           INSERT INTO sectorid_request (miner_id, request_id, n, numbers)
           SELECT $1, id, n, numbers FROM unnest($3::text[], $4::int[], $5::jsonb[]) AS t(id, n, numbers)`,
          [this.minerId, next, fresh.map((f) => f.id), fresh.map((f) => f.n), fresh.map((f) => JSON.stringify(f.numbers))],
        );
      }
      return outcomes;
    });
    void this.maybePrune();
    return out;
  }

  private async maybePrune(): Promise<void> {
    const now = Date.now();
    if (now - this.lastPrune < 60_000) return;
    this.lastPrune = now;
    try {
      await this.pool.query("DELETE FROM sectorid_request WHERE miner_id = $1 AND created_at < now() - ($2::bigint * interval '1 millisecond')", [this.minerId, this.rememberMs]);
    } catch (e) {
      log.warn({ err: e }, 'pruning old sector-number request ids failed');
    }
  }

  async state(): Promise<StoreState> {
    const { c, done } = await this.checkout();
    try {
      const r = await c.query<{ next: string }>('SELECT next FROM sectorid_counter WHERE miner_id = $1', [this.minerId]);
      const res = await this.loadReservations(c);
      return { next: Number(r.rows[0]?.next ?? 0), reservations: Object.fromEntries(res) };
    } finally {
      done();
    }
  }

  async reserve(name: string, ranges: Ranges): Promise<void> {
    await this.tx(async (c) => {
      const next = await this.lockCounter(c);
      const res = await this.loadReservations(c);
      if (res.has(name)) throw new SectorIdError(ErrorCode.ReservationConflict, `a reservation named "${name}" exists (${formatRanges(res.get(name)!)}); free it first`);
      if (ranges[0]![0] < next) {
        throw new SectorIdError(ErrorCode.ReservationConflict, `numbers below ${next} are already behind the counter and may be in use; reserve only numbers >= ${next}`);
      }
      if (overlaps(ranges, normalize([...res.values()].flat()))) {
        throw new SectorIdError(ErrorCode.ReservationConflict, `${formatRanges(ranges)} overlaps an existing reservation`);
      }
      await c.query('INSERT INTO sectorid_reservation (miner_id, name, ranges) VALUES ($1, $2, $3)', [this.minerId, name, JSON.stringify(ranges)]);
    });
  }

  async free(name: string): Promise<void> {
    await this.tx(async (c) => {
      await this.lockCounter(c);
      const r = await c.query('DELETE FROM sectorid_reservation WHERE miner_id = $1 AND name = $2', [this.minerId, name]);
      if (r.rowCount === 0) throw new SectorIdError(ErrorCode.NotFound, `no reservation named "${name}"`);
    });
  }

  async setFloor(floor: number): Promise<number> {
    return this.tx(async (c) => {
      const next = await this.lockCounter(c);
      if (floor < next) {
        throw new SectorIdError(ErrorCode.FloorDown, `refusing to lower the counter from ${next} to ${floor}: numbers below ${next} may already be in use`);
      }
      await c.query('UPDATE sectorid_counter SET next = $2 WHERE miner_id = $1', [this.minerId, floor]);
      return floor;
    });
  }

  async raiseFloor(floor: number): Promise<void> {
    await this.pool.query('UPDATE sectorid_counter SET next = GREATEST(next, $2) WHERE miner_id = $1', [this.minerId, floor]);
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {});
  }
}
