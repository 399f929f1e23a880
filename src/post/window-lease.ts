// Window PoSt on two hosts of one miner id: who proves and submits each deadline occurrence.
// An operator who runs the window-post role on two hosts for availability must not pay for
// every proof twice (two SubmitWindowedPoSt for one deadline's partitions: the second is
// refused or wasted gas), and must still have the deadline proven when the host proving it dies.
//
// Each occurrence (deadline index @ open epoch) and each kind of work on it ("prove",
// "declare") is a lease in the PoSt hosts' shared PostgreSQL (shared-pg.ts, the database of
// the Winning PoSt slash filter): the first host to claim it holds it for a time to live and
// renews it while it works; the other host leaves the occurrence alone while the lease is
// live, and takes it over once it has expired (its holder died or lost the database) and was
// not marked done. The database's clock decides expiry, so the hosts' clocks may differ.
// A takeover reads the deadline's PostSubmissions first, so partitions the dead host proved
// are not proven again.
//
// When the database does not answer, Window PoSt does not stop (the opposite of the slash
// filter: a double Window PoSt wastes gas, a missed one costs power and a fault fee): the host
// proves, and sends only late in the window and only the partitions not yet posted on chain —
// the chain itself is the second line against a double submission (see window.ts).
import { logger } from '../log.js';
import { SharedPg, type SharedPgOptions, sharedDbUrl } from './shared-pg.js';

const log = logger('window-post');

const SCHEMA = `
CREATE TABLE IF NOT EXISTS window_post_lease (
  miner_id text NOT NULL,
  lease text NOT NULL,
  host text NOT NULL,
  expires_at timestamptz NOT NULL,
  done_at timestamptz,
  PRIMARY KEY (miner_id, lease)
);
`;

export interface LeaseAnswer {
  /** This host holds the lease now (claimed, renewed, or taken over). */
  held: boolean;
  /** Who holds it when this host does not. */
  holder?: string;
  /** Its holder marked the work done: nobody takes it over. */
  done?: boolean;
  /** The database did not answer: nobody knows who holds it. */
  unknown?: boolean;
  reason?: string;
}

export interface WindowPoStLeases {
  readonly description: string;
  readonly host: string;
  open(): Promise<void>;
  /**
   * Claims the lease `name` for this host for `ttlMs`, or renews it if this host holds it (also
   * after this host marked it done). Refused while another host's lease is live or done. Never
   * throws: a database that does not answer gives `unknown`.
   */
  claim(name: string, ttlMs: number): Promise<LeaseAnswer>;
  /** Marks this host's lease `name` done (never taken over). Never throws. */
  done(name: string): Promise<void>;
  /** Gives back this host's lease `name` before it expires (stopping cleanly), unless done. Never throws. */
  release(name: string): Promise<void>;
  trouble(): string | null;
  close(): Promise<void>;
}

export class PostgresWindowLeases extends SharedPg implements WindowPoStLeases {
  constructor(
    url: string,
    private readonly minerId: string,
    o: SharedPgOptions = {},
  ) {
    super('PostgreSQL Window PoSt leases', url, o, log, 'each host proves on its own and sends late in the window what the chain does not have yet');
  }

  protected async createSchema(): Promise<void> {
    const { rows } = await this.pool.query<{ ok: boolean }>("SELECT to_regclass('window_post_lease') IS NOT NULL AS ok");
    if (rows[0]?.ok) return;
    await this.pool.query(SCHEMA);
  }

  async claim(name: string, ttlMs: number): Promise<LeaseAnswer> {
    try {
      const r = await this.withDeadline(this.tryClaim(name, ttlMs));
      this.answered();
      return r;
    } catch (err) {
      this.failed(err);
      log.warn({ err, lease: name }, 'the Window PoSt lease database did not answer');
      return { held: false, unknown: true, reason: `the ${this.description} did not answer (${(err as Error).message})` };
    }
  }

  private async tryClaim(name: string, ttlMs: number): Promise<LeaseAnswer> {
    await this.ready();
    // One statement: insert, or take over a lease that is this host's or expired and not done.
    const up = await this.pool.query(
      `INSERT INTO window_post_lease AS l (miner_id, lease, host, expires_at) VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')
       ON CONFLICT (miner_id, lease) DO UPDATE SET host = EXCLUDED.host, expires_at = EXCLUDED.expires_at
       WHERE l.host = EXCLUDED.host OR (l.expires_at < now() AND l.done_at IS NULL)
       RETURNING 1`,
      [this.minerId, name, this.host, Math.max(1, Math.round(ttlMs))],
    );
    if (up.rowCount === 1) return { held: true };
    const q = await this.pool.query<{ host: string; done: boolean; left_ms: number }>(
      'SELECT host, done_at IS NOT NULL AS done, GREATEST(0, EXTRACT(EPOCH FROM expires_at - now()) * 1000)::float8 AS left_ms FROM window_post_lease WHERE miner_id = $1 AND lease = $2',
      [this.minerId, name],
    );
    const row = q.rows[0];
    if (!row) throw new Error(`lease ${name} could not be claimed (its record was removed meanwhile)`);
    return {
      held: false,
      holder: row.host,
      done: row.done,
      reason: row.done ? `${name} was done by ${row.host}` : `${name} is held by ${row.host} for ${Math.round(row.left_ms)} ms more`,
    };
  }

  async done(name: string): Promise<void> {
    try {
      await this.withDeadline(this.pool.query('UPDATE window_post_lease SET done_at = now() WHERE miner_id = $1 AND lease = $2 AND host = $3', [this.minerId, name, this.host]));
    } catch (err) {
      log.warn({ err, lease: name }, 'could not mark a Window PoSt lease done (the other host may prove it again once the lease expires)');
    }
  }

  async release(name: string): Promise<void> {
    try {
      await this.withDeadline(this.pool.query('DELETE FROM window_post_lease WHERE miner_id = $1 AND lease = $2 AND host = $3 AND done_at IS NULL', [this.minerId, name, this.host]));
    } catch (err) {
      log.warn({ err, lease: name }, 'could not give back a Window PoSt lease (the other host takes it over when it expires)');
    }
  }
}

/** The leases a `[Distminer] SlashFilter` postgres:// URL names (the PoSt hosts' shared database), or none. */
export function windowPoStLeases(spec: string | undefined, minerId: string): WindowPoStLeases | undefined {
  const url = sharedDbUrl(spec);
  return url === undefined ? undefined : new PostgresWindowLeases(url, minerId);
}
