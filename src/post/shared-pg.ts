// What the PoSt hosts of one miner id share in PostgreSQL (the sector-number store's HA
// option: a store that survives losing either host): the Winning PoSt slash filter
// (slash-filter.ts) and the Window PoSt deadline leases (window-lease.ts). This base holds
// their common plumbing: a small pool whose every statement has one deadline (a database that
// does not answer must cost a round or a retry, never a wait past an epoch), the table made
// once when missing, and a probe that keeps the role's health (trouble()) true between uses.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import pg from 'pg';
import { redactUrl } from '../util/redact.js';
import type { Logger } from '../log.js';

/**
 * The shared database a `[Distminer] SlashFilter` setting (or `--shared-db`) names: a
 * postgres:// URL, or undefined for none ("file", the default: each host alone).
 */
export function sharedDbUrl(spec: string | undefined): string | undefined {
  if (spec === undefined || spec === '' || spec === 'file') return undefined;
  if (spec.startsWith('postgres://') || spec.startsWith('postgresql://')) return spec;
  throw new Error(`unknown shared PoSt database "${spec}" (use "file", the default, or a postgres:// URL)`);
}

export interface SharedPgOptions {
  /** This host's name in the records (default: hostname#random, one per process: a restarted process is another claimant). */
  host?: string;
  /** Bound on each use (connection, table check, statement). Default 2000 ms. */
  statementTimeoutMs?: number;
  /** Between two probes of the database. Default 5000 ms. */
  probeMs?: number;
}

export abstract class SharedPg {
  readonly description: string;
  readonly host: string;
  protected readonly pool: pg.Pool;
  protected readonly deadlineMs: number;
  protected closed = false;
  private readonly probeMs: number;
  private probe: NodeJS.Timeout | undefined;
  private schema: Promise<void> | undefined;
  /** Since when (and why) the database has not answered; undefined while it answers. */
  private down: { since: number; why: string } | undefined = { since: Date.now(), why: 'not opened yet' };

  /**
   * @param what e.g. "PostgreSQL slash filter"
   * @param effect what a database that does not answer costs, for logs and trouble() (e.g. "no block is sent until it does")
   */
  constructor(
    what: string,
    url: string,
    o: SharedPgOptions,
    protected readonly log: Logger,
    private readonly effect: string,
  ) {
    this.description = `${what} ${redactUrl(url)}`;
    this.host = o.host ?? `${hostname()}#${randomUUID().slice(0, 8)}`;
    const timeout = o.statementTimeoutMs ?? 2000;
    this.deadlineMs = timeout;
    this.probeMs = o.probeMs ?? 5000;
    this.pool = new pg.Pool({ connectionString: url, max: 2, statement_timeout: timeout, query_timeout: timeout + 500, connectionTimeoutMillis: timeout });
    this.pool.on('error', (err) => log.warn({ err }, `${what}: database connection lost (reconnected on the next use)`));
  }

  /**
   * Creates the table when missing. A database user with only SELECT, INSERT, UPDATE and DELETE
   * on an existing table is enough: nothing is created then.
   */
  protected abstract createSchema(): Promise<void>;

  /** The schema, made once (again after a failure); two hosts creating it at one instant both go on. */
  protected ready(): Promise<void> {
    this.schema ??= this.createSchema()
      .catch((e: unknown) => {
        // Two hosts creating the table at the same instant: one CREATE loses a catalog race.
        if (!['23505', '42P07', '42701'].includes((e as { code?: string }).code ?? '')) throw e;
      })
      .catch((e: unknown) => {
        this.schema = undefined;
        throw e;
      });
    return this.schema;
  }

  /** Makes the schema and checks that the database answers, then keeps checking (trouble()). A database that does not answer yet is logged, not fatal. */
  async open(): Promise<void> {
    try {
      await this.withDeadline(this.ready());
      this.answered();
      this.log.info({ db: this.description, host: this.host }, `${this.description}: ready`);
    } catch (err) {
      this.failed(err);
      this.log.error({ err, db: this.description }, `${this.description} does not answer: ${this.effect}`);
    }
    this.probe ??= setInterval(() => void this.check(), this.probeMs).unref();
  }

  private async check(): Promise<void> {
    try {
      await this.withDeadline(this.ready().then(() => this.pool.query('SELECT 1')));
      if (this.down) this.log.info({ db: this.description }, `${this.description} answers again`);
      this.answered();
    } catch (err) {
      if (!this.down) this.log.error({ err, db: this.description }, `${this.description} stopped answering: ${this.effect}`);
      this.failed(err);
    }
  }

  protected answered(): void {
    this.down = undefined;
  }

  protected failed(err: unknown): void {
    this.down ??= { since: Date.now(), why: (err as Error).message };
  }

  /** Why the role cannot rely on the database now, or null. */
  trouble(): string | null {
    if (!this.down) return null;
    return `the ${this.description} has not answered for ${Math.round((Date.now() - this.down.since) / 1000)} s (${this.down.why}): ${this.effect}`;
  }

  /** `p`, or a rejection once the deadline has passed (a hung database, a lost packet). */
  protected async withDeadline<T>(p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.deadlineMs} ms`)), this.deadlineMs);
    });
    p.catch(() => undefined); // a late failure after the deadline is not an unhandled rejection
    try {
      return await Promise.race([p, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.probe);
    await this.pool.end().catch(() => undefined);
  }
}
