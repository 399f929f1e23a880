// The slash filter shared by every Winning PoSt host of one miner id. Two blocks from one miner
// at one epoch (double-fork mining), or two blocks on the same parents at different epochs
// (time-offset mining), are consensus faults: the miner is slashed. One host guards itself
// with its repo's last-mined file (src/post/winning.ts); an operator who runs the Winning PoSt
// role on two hosts for availability needs one record both consult before a block leaves
// either, in a store that survives losing either host: PostgreSQL, as the sector-number
// store's HA option (and as Lotus's slash filter keeps epochs and parents, and Curio keeps
// them in its database). Both hosts prove every round they win; the first to claim the epoch
// sends its block, the other drops its own, so exactly one block goes out per epoch and the
// second host takes over at the next epoch when the first dies.
//
// A claim that cannot be made (the database does not answer) mines nothing: a lost block costs
// one reward, a double block the miner's collateral.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import pg from 'pg';
import { redactUrl } from '../util/redact.js';
import { logger } from '../log.js';

const log = logger('winning-post');

const SCHEMA = `
CREATE TABLE IF NOT EXISTS winning_slash_filter (
  miner_id text NOT NULL,
  epoch bigint NOT NULL,
  parents text NOT NULL,
  host text NOT NULL,
  mined_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (miner_id, epoch)
);
CREATE UNIQUE INDEX IF NOT EXISTS winning_slash_filter_parents ON winning_slash_filter (miner_id, parents);
`;

export interface ClaimRefused {
  reason: string;
  /** Another host of the miner id sent this epoch's block: the miner lost nothing. */
  otherHost?: string;
}

export interface SharedSlashFilter {
  readonly description: string;
  /**
   * Creates what it needs and checks that it answers. Called at start; a filter that does not
   * answer yet is logged, not fatal: every claim until it answers is refused (no block sent).
   */
  open(): Promise<void>;
  /**
   * Claims `epoch` on `parents` for this host: undefined when this host may send its block,
   * else why not (another host mined this epoch, or these parents at another epoch, or the
   * filter did not answer); `otherHost` names the host that sent this epoch's block.
   */
  claim(epoch: number, parents: string): Promise<ClaimRefused | undefined>;
  close(): Promise<void>;
}

export class PostgresSlashFilter implements SharedSlashFilter {
  readonly description: string;
  private readonly pool: pg.Pool;
  private readonly host: string;
  private schema: Promise<void> | undefined;
  private readonly deadlineMs: number;

  constructor(
    url: string,
    private readonly minerId: string,
    o: { host?: string; statementTimeoutMs?: number } = {},
  ) {
    this.description = `PostgreSQL slash filter ${redactUrl(url)}`;
    // One id per process (not per pid: a restarted process is another claimant).
    this.host = o.host ?? `${hostname()}#${randomUUID().slice(0, 8)}`;
    // A claim is on the path of a block that must leave within its epoch: a database that does
    // not answer within the timeout means no block, never a wait past the epoch. The whole claim
    // (connection, table check, insert, lookup) has this one deadline.
    const timeout = o.statementTimeoutMs ?? 2000;
    this.deadlineMs = timeout;
    this.pool = new pg.Pool({ connectionString: url, max: 2, statement_timeout: timeout, query_timeout: timeout + 500, connectionTimeoutMillis: timeout });
    this.pool.on('error', (err) => log.warn({ err }, 'slash filter database connection lost (reconnected on the next claim)'));
  }

  async open(): Promise<void> {
    try {
      await this.ready();
      log.info({ filter: this.description, host: this.host }, 'shared slash filter ready');
    } catch (err) {
      log.error({ err, filter: this.description }, 'the shared slash filter does not answer: no block is sent until it does');
    }
  }

  /**
   * The table: created when missing (once; again after a failure). A database user with only
   * SELECT and INSERT on an existing table is enough: nothing is created then.
   */
  private ready(): Promise<void> {
    this.schema ??= (async () => {
      const { rows } = await this.pool.query<{ ok: boolean }>("SELECT to_regclass('winning_slash_filter') IS NOT NULL AND to_regclass('winning_slash_filter_parents') IS NOT NULL AS ok");
      if (rows[0]?.ok) return;
      try {
        await this.pool.query(SCHEMA);
      } catch (e) {
        // Two hosts creating the table at the same instant: one CREATE loses a catalog race.
        if (!['23505', '42P07'].includes((e as { code?: string }).code ?? '')) throw e;
      }
    })().catch((e: unknown) => {
      this.schema = undefined;
      throw e;
    });
    return this.schema;
  }

  async claim(epoch: number, parents: string): Promise<ClaimRefused | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<ClaimRefused>((resolve) => {
      timer = setTimeout(
        () => resolve({ reason: `the ${this.description} did not answer within ${this.deadlineMs} ms; not mined: a block two hosts both send is a consensus fault` }),
        this.deadlineMs,
      );
    });
    try {
      return await Promise.race([this.tryClaim(epoch, parents), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async tryClaim(epoch: number, parents: string): Promise<ClaimRefused | undefined> {
    try {
      await this.ready();
      const ins = await this.pool.query('INSERT INTO winning_slash_filter (miner_id, epoch, parents, host) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING epoch', [
        this.minerId,
        epoch,
        parents,
        this.host,
      ]);
      if (ins.rowCount === 1) return undefined;
      // What holds it: this epoch's record first, else the one on these parents.
      const held = await this.pool.query<{ epoch: string; host: string }>(
        'SELECT epoch, host FROM winning_slash_filter WHERE miner_id = $1 AND (epoch = $2 OR parents = $3) ORDER BY (epoch = $2) DESC LIMIT 1',
        [this.minerId, epoch, parents],
      );
      const r = held.rows[0];
      if (!r) return { reason: `epoch ${epoch} could not be claimed (a conflicting record was removed meanwhile); not mined` };
      const who = r.host === this.host ? 'this host' : r.host;
      if (Number(r.epoch) === epoch) return { reason: `epoch ${epoch} was already mined by ${who} (shared slash filter)`, ...(r.host !== this.host ? { otherHost: r.host } : {}) };
      return { reason: `these parents were already mined on at epoch ${r.epoch} by ${who} (time-offset mining; shared slash filter)` };
    } catch (e) {
      log.error({ err: e, epoch }, 'the shared slash filter did not answer: this round is not mined');
      return { reason: `the ${this.description} did not answer (${(e as Error).message}); not mined: a block two hosts both send is a consensus fault` };
    }
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}

/** The shared filter a `[Distminer] SlashFilter` setting names (a postgres:// URL), or none. */
export function sharedSlashFilter(spec: string | undefined, minerId: string): SharedSlashFilter | undefined {
  if (spec === undefined || spec === '' || spec === 'file') return undefined;
  if (spec.startsWith('postgres://') || spec.startsWith('postgresql://')) return new PostgresSlashFilter(spec, minerId);
  throw new Error(`unknown slash filter "${spec}" (use "file", the default, or a postgres:// URL)`);
}
