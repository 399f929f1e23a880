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
// one reward, a double block the miner's collateral. It is tried again while the round has time.
// A claim records its host; the host marks it sent once its node took the block, or gives it
// back when the round was decided without it. A host that finds the epoch claimed but never
// marked sent (its claimant died between claim and send) counts the round as lost, not as
// mined elsewhere, so the abandoned-block alert sees it.
import { logger } from '../log.js';
import { SharedPg, type SharedPgOptions, sharedDbUrl } from './shared-pg.js';

const log = logger('winning-post');

const SCHEMA = `
CREATE TABLE IF NOT EXISTS winning_slash_filter (
  miner_id text NOT NULL,
  epoch bigint NOT NULL,
  parents text NOT NULL,
  host text NOT NULL,
  mined_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz,
  PRIMARY KEY (miner_id, epoch)
);
CREATE UNIQUE INDEX IF NOT EXISTS winning_slash_filter_parents ON winning_slash_filter (miner_id, parents);
`;
/** A table made before `sent_at` existed gets it (the only change since the first version). */
const ADD_SENT = 'ALTER TABLE winning_slash_filter ADD COLUMN IF NOT EXISTS sent_at timestamptz';

export interface ClaimRefused {
  reason: string;
  /** Another host of the miner id sent this epoch's block: the miner lost nothing. */
  otherHost?: string;
  /** The filter did not answer: the claim may be tried again while the round still has time. */
  transient?: boolean;
}

export interface SharedSlashFilter {
  readonly description: string;
  /**
   * Creates what it needs and checks that it answers, then keeps checking (trouble()). Called at
   * start; a filter that does not answer yet is logged, not fatal: every claim until it answers
   * is refused (no block sent).
   */
  open(): Promise<void>;
  /**
   * Claims `epoch` on `parents` for this host: undefined when this host may send its block,
   * else why not (another host mined this epoch, or these parents at another epoch, or the
   * filter did not answer). When another host holds the epoch, waits a little for that host's
   * sent() mark: `otherHost` is set only when its block left, so a claim whose host died
   * before sending counts as a lost block here.
   */
  claim(epoch: number, parents: string): Promise<ClaimRefused | undefined>;
  /** Marks this host's claim of `epoch` as sent (its block left). Never throws. */
  sent(epoch: number): Promise<void>;
  /**
   * Gives back this host's claim of `epoch` when its block did not leave (the round was decided
   * without it), so that another host may still mine the epoch. Only an unsent claim of this
   * host is removed. Never throws.
   */
  release(epoch: number): Promise<void>;
  /** Why no block can be sent now (the filter does not answer), or null. */
  trouble(): string | null;
  close(): Promise<void>;
}

export class PostgresSlashFilter extends SharedPg implements SharedSlashFilter {
  private readonly sentWaitMs: number;

  constructor(
    url: string,
    private readonly minerId: string,
    o: SharedPgOptions & { sentWaitMs?: number } = {},
  ) {
    // A claim is on the path of a block that must leave within its epoch: a database that does
    // not answer within the statement timeout means no block, never a wait past the epoch.
    super('PostgreSQL slash filter', url, o, log, 'no block is sent until it does');
    // The other host marks its claim sent right after its node took the block (milliseconds).
    this.sentWaitMs = o.sentWaitMs ?? 3000;
  }

  protected async createSchema(): Promise<void> {
    const { rows } = await this.pool.query<{ ok: boolean; sent: boolean }>(
      "SELECT to_regclass('winning_slash_filter') IS NOT NULL AND to_regclass('winning_slash_filter_parents') IS NOT NULL AS ok, " +
        "EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'winning_slash_filter' AND column_name = 'sent_at') AS sent",
    );
    if (rows[0]?.ok && rows[0].sent) return;
    await this.pool.query(rows[0]?.ok ? ADD_SENT : SCHEMA);
  }

  async claim(epoch: number, parents: string, again = true): Promise<ClaimRefused | undefined> {
    let held: { epoch: number; host: string; sent: boolean } | undefined;
    try {
      held = await this.withDeadline(this.tryClaim(epoch, parents));
      this.answered();
    } catch (e) {
      this.failed(e);
      log.error({ err: e, epoch }, 'the shared slash filter did not answer: this round is not mined unless it answers within the round');
      return {
        reason: `the ${this.description} did not answer (${(e as Error).message}); not mined: a block two hosts both send is a consensus fault`,
        transient: true,
      };
    }
    if (held === undefined) return undefined;
    const who = held.host === this.host ? 'this host' : held.host;
    if (held.epoch !== epoch) return { reason: `these parents were already mined on at epoch ${held.epoch} by ${who} (time-offset mining; shared slash filter)` };
    if (held.host === this.host) return { reason: `epoch ${epoch} was already mined by this host (shared slash filter)` };
    // Another host holds the epoch: it sends its block a moment after its claim. Until its mark
    // is seen this host cannot tell a block that left from a host that died holding the claim.
    const state = held.sent ? 'sent' : await this.waitSent(epoch, held.host);
    // Given back while this host waited (its block did not leave): the epoch is free; once more.
    if (state === 'released' && again) return this.claim(epoch, parents, false);
    if (state === 'sent') return { reason: `epoch ${epoch} was already mined by ${held.host} (shared slash filter)`, otherHost: held.host };
    return {
      reason: `epoch ${epoch} was claimed by ${held.host}, which has not marked its block sent within ${this.sentWaitMs} ms (stopped or died after its claim?); this host's block for it is dropped, and the round is lost unless that host's block left`,
    };
  }

  /** The claim, or what holds the epoch or the parents (undefined: claimed by this call). */
  private async tryClaim(epoch: number, parents: string): Promise<{ epoch: number; host: string; sent: boolean } | undefined> {
    await this.ready();
    const ins = await this.pool.query('INSERT INTO winning_slash_filter (miner_id, epoch, parents, host) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING epoch', [
      this.minerId,
      epoch,
      parents,
      this.host,
    ]);
    if (ins.rowCount === 1) return undefined;
    // What holds it: this epoch's record first, else the one on these parents.
    const q = await this.pool.query<{ epoch: string; host: string; parents: string; sent: boolean }>(
      'SELECT epoch, host, parents, sent_at IS NOT NULL AS sent FROM winning_slash_filter WHERE miner_id = $1 AND (epoch = $2 OR parents = $3) ORDER BY (epoch = $2) DESC LIMIT 1',
      [this.minerId, epoch, parents],
    );
    const r = q.rows[0];
    if (!r) throw new Error(`epoch ${epoch} could not be claimed (a conflicting record was removed meanwhile)`);
    // This host's own claim of this very block, made by an attempt whose answer came too late
    // (the insert committed after the deadline): it is this host's still.
    if (Number(r.epoch) === epoch && r.host === this.host && r.parents === parents && !r.sent) return undefined;
    return { epoch: Number(r.epoch), host: r.host, sent: r.sent };
  }

  private async waitSent(epoch: number, host: string): Promise<'sent' | 'released' | 'unsent'> {
    const until = Date.now() + this.sentWaitMs;
    while (!this.closed && Date.now() < until) {
      await new Promise((res) => setTimeout(res, 50));
      try {
        const q = await this.withDeadline(
          this.pool.query<{ sent: boolean }>('SELECT sent_at IS NOT NULL AS sent FROM winning_slash_filter WHERE miner_id = $1 AND epoch = $2 AND host = $3', [this.minerId, epoch, host]),
        );
        if (!q.rows[0]) return 'released';
        if (q.rows[0].sent) return 'sent';
      } catch (err) {
        log.warn({ err, epoch }, 'the shared slash filter did not answer while waiting for the other host to send');
      }
    }
    return 'unsent';
  }

  async sent(epoch: number): Promise<void> {
    try {
      await this.withDeadline(this.pool.query('UPDATE winning_slash_filter SET sent_at = now() WHERE miner_id = $1 AND epoch = $2 AND host = $3', [this.minerId, epoch, this.host]));
    } catch (err) {
      // The block left; only the other host's count of lost blocks is affected.
      log.warn({ err, epoch }, 'could not mark the block sent in the shared slash filter (the other host will count it lost)');
    }
  }

  async release(epoch: number): Promise<void> {
    try {
      await this.withDeadline(this.pool.query('DELETE FROM winning_slash_filter WHERE miner_id = $1 AND epoch = $2 AND host = $3 AND sent_at IS NULL', [this.minerId, epoch, this.host]));
    } catch (err) {
      log.warn({ err, epoch }, 'could not give back an unsent claim in the shared slash filter (the epoch stays taken)');
    }
  }
}

/** The shared filter a `[Distminer] SlashFilter` setting names (a postgres:// URL), or none. */
export function sharedSlashFilter(spec: string | undefined, minerId: string): SharedSlashFilter | undefined {
  const url = sharedDbUrl(spec);
  return url === undefined ? undefined : new PostgresSlashFilter(url, minerId);
}
