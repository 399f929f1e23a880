// Deal records, persisted in the crash-safe KV store (src/store/kv.ts): every state change is
// durable before the server answers or acts on it, so a restart loses nothing.
//
// States, as Boost's checkpoints:
//   Accepted      proposal checked and signed; waiting for the upload
//   Transferring  the upload is streaming to a staging file
//   Verifying     the whole body is on disk; its CommP is being checked
//   Publishing    verified: waiting to be published on chain and packed into a sector
//   Sealing       packed into a sector the seal pipeline is sealing
//   Active        the sector is proving
//   Failed        with the reason (nothing staged is left behind, except a verified piece whose
//                 deal failed for want of time or escrow: dataKept)
//   Expired       accepted, but no data arrived in time (the proposal's slot is freed; the
//                 reason says so; the client may propose again)
import { createMachine } from 'xstate';
import { KvStore } from '../store/kv.js';
import { nextState } from '../util/machine.js';
import { LiveSet, counter, gauge } from '../metrics/index.js';
import type { Signature } from './keys.js';
import type { DealProposal } from './proposal.js';

export const DEAL_STATES = ['Accepted', 'Transferring', 'Verifying', 'Publishing', 'Sealing', 'Active', 'Failed', 'Expired'] as const;
export type DealState = (typeof DEAL_STATES)[number];

/** The deal lifecycle: an event names the state a deal moves to; one its state does not take is refused (DealTransitionError). */
export const dealMachine = createMachine({
  id: 'deal',
  initial: 'Accepted',
  states: {
    Accepted: { on: { Transferring: 'Transferring', Failed: 'Failed', Expired: 'Expired' } },
    Transferring: { on: { Verifying: 'Verifying', Failed: 'Failed' } },
    Verifying: { on: { Publishing: 'Publishing', Failed: 'Failed' } },
    Publishing: { on: { Sealing: 'Sealing', Failed: 'Failed' } },
    // Sealing → Publishing: a sector that failed to seal gives its pieces back to the queue.
    Sealing: { on: { Active: 'Active', Publishing: 'Publishing', Failed: 'Failed' } },
    Active: { on: { Failed: 'Failed' } },
    Failed: { type: 'final' },
    Expired: { type: 'final' },
  },
});

const transitionsRefused = counter({
  name: 'distminer_deal_transitions_refused_total',
  help: "Deal state changes refused: not a move the deal's state allows (each is thrown to the caller as DealTransitionError)",
  labelNames: ['from', 'to'],
});

/** Whether a deal in `from` may become `to`. */
export const dealCanBecome = (from: DealState, to: DealState): boolean => from !== to && nextState(dealMachine, from, { type: to }) === to;

export interface DealSector {
  sectorNumber: number;
  /** CommD as an unsealed CID, when known. */
  unsealedCid?: string;
  sealedCid?: string;
}

export interface DealPublication {
  /** Set (durably) just before the message is pushed: after a crash, look on chain first. */
  pushing?: boolean;
  /**
   * The chain head when this deal's first publication was about to be pushed: no message of
   * it can be on chain below this height, so a search for it after a crash starts here.
   */
  since?: number;
  /** The PublishStorageDeals message, once pushed. */
  cid?: string;
  /** The market's deal ID, once the message was executed. */
  dealId?: number;
}

export interface DealRecord {
  uuid: string;
  proposalCid: string;
  proposal: DealProposal;
  signature: Signature;
  pieceCid: string;
  pieceSize: number;
  transferSize: number;
  /** Secret part of the upload URL (never shown by the admin API). */
  uploadToken: string;
  /** The network address the proposal came from (per-address limits). */
  peer?: string;
  state: DealState;
  reason?: string;
  createdAt: number;
  updatedAt: number;
  /** When it became Publishing: the packing queue's order. */
  verifiedAt?: number;
  sector?: DealSector;
  /**
   * A Failed deal whose failure was not its data's (its start epoch passed before publication,
   * its client's escrow ran short): the verified piece stays on disk for the operator to act
   * on (not served at the public /piece URL: a deal that never paid is no free hosting).
   */
  dataKept?: boolean;
  /** When and why a kept piece was deleted (its retention ran out): dataKept is false then. */
  dataRemoved?: { at: number; reason: string };
  /** On-chain publication (PublishStorageDeals): the message, then the deal ID it gave. */
  publish?: DealPublication;
  history: { state: DealState; at: number; reason?: string }[];
}

export class DealTransitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DealTransitionError';
  }
}

// Metrics (src/metrics; the deal role's thread): deals by state, from counts the store keeps.
const liveStores = new LiveSet<DealStore>();
gauge({
  name: 'distminer_deals',
  help: 'Deals by state (Accepted, Transferring, Verifying, Publishing, Sealing, Active, Failed, Expired)',
  labelNames: ['state'],
  collect() {
    this.reset();
    for (const st of DEAL_STATES) this.set({ state: st }, 0);
    for (const ds of liveStores) for (const [st, n] of ds.stateCounts()) this.inc({ state: st }, n);
  },
});

const DEAL = 'deal/';
const PROPOSAL = 'proposal/';
/** The provider-collateral top-up (AddBalance) this miner pushed and has not seen land yet. */
const FUNDING = 'funding';

/**
 * An AddBalance into this miner's own escrow, recorded before it is pushed and kept until it is
 * seen on chain. The push carries `uuid` as MpoolPushMessage's MessageSendSpec.MsgUuid: a node
 * that already signed a message for that uuid returns it instead of sending a second one, so a
 * push whose answer was lost (a crash, a timeout) is simply made again.
 */
export interface PendingFunding {
  /** The push's idempotency key (absent in records from before it existed: they all have a cid). */
  uuid?: string;
  /** The message CID, once the node has answered the push. */
  cid?: string;
  /** attoFIL, as a decimal string. */
  amount: string;
  /** When the node answered the push (absent until it has). */
  pushedAt?: number;
}

/** States of a deal accepted here and not yet published on chain (the market has locked nothing for it). */
const BEFORE_CHAIN: ReadonlySet<DealState> = new Set<DealState>(['Accepted', 'Transferring', 'Verifying', 'Publishing']);

/** States in which a deal waits for its client's data (what the intake caps count, with kept pieces). */
const WAITING: ReadonlySet<DealState> = new Set<DealState>(['Accepted', 'Transferring']);

/** A failed deal whose verified piece is still on disk (see DealRecord.dataKept). */
export const keptAfterFailure = (d: DealRecord): boolean => d.state === 'Failed' && d.dataKept === true;

export class DealStore {
  /** Deals waiting for data, by uuid: who proposed them. Kept beside the store so that a
   *  proposal (a public request) costs no scan of every deal ever made. */
  private readonly waiting = new Map<string, { peer?: string; client: string }>();
  /** Deals accepted and not yet published, by uuid: their client (read by every proposal's escrow check). */
  private readonly beforeChain = new Map<string, string>();
  /** Each deal's state and the count per state (for metrics; no scan at scrape time). */
  private readonly stateOf = new Map<string, DealState>();
  private readonly counts = new Map<DealState, number>();
  private readonly unlist: () => void;

  private constructor(
    private readonly kv: KvStore,
    private readonly clock: () => number,
  ) {
    for (const [, d] of kv.entries<DealRecord>(DEAL)) this.track(d);
    this.unlist = liveStores.add(this);
  }

  /** Deals by state. */
  stateCounts(): Map<DealState, number> {
    return this.counts;
  }

  private track(d: DealRecord): void {
    const was = this.stateOf.get(d.uuid);
    if (was !== d.state) {
      if (was !== undefined) this.counts.set(was, (this.counts.get(was) ?? 1) - 1);
      this.counts.set(d.state, (this.counts.get(d.state) ?? 0) + 1);
      this.stateOf.set(d.uuid, d.state);
    }
    if (WAITING.has(d.state) || keptAfterFailure(d)) this.waiting.set(d.uuid, { peer: d.peer, client: d.proposal.Client });
    else this.waiting.delete(d.uuid);
    if (BEFORE_CHAIN.has(d.state) && d.publish?.dealId === undefined) this.beforeChain.set(d.uuid, d.proposal.Client);
    else this.beforeChain.delete(d.uuid);
  }

  /**
   * How many deals hold intake room: waiting for their data, or failed with their data kept on
   * disk (until its retention runs out); in all, proposed from `peer`, of `client`.
   */
  waitingCounts(peer: string | undefined, client?: string): { total: number; peer: number; client: number } {
    let byPeer = 0;
    let byClient = 0;
    for (const w of this.waiting.values()) {
      if (peer !== undefined && w.peer === peer) byPeer++;
      if (client !== undefined && w.client === client) byClient++;
    }
    return { total: this.waiting.size, peer: byPeer, client: byClient };
  }

  /** `clock`: the time written into records and history (default Date.now; tests move their own). */
  static open(dir: string, clock: () => number = Date.now): DealStore {
    return new DealStore(KvStore.open(dir), clock);
  }

  get(uuid: string): DealRecord | undefined {
    return this.kv.get<DealRecord>(DEAL + uuid);
  }

  list(): DealRecord[] {
    return this.kv
      .entries<DealRecord>(DEAL)
      .map(([, d]) => d)
      .sort((a, b) => a.createdAt - b.createdAt || (a.uuid < b.uuid ? -1 : 1));
  }

  /**
   * Deals accepted and not yet published (no market deal ID), of `client` when given, oldest
   * first. From an index kept beside the store: a proposal costs no scan of every deal ever made.
   */
  unpublished(client?: string): DealRecord[] {
    const out: DealRecord[] = [];
    for (const [uuid, c] of this.beforeChain) if (client === undefined || c === client) out.push(this.get(uuid)!);
    return out.sort((a, b) => a.createdAt - b.createdAt || (a.uuid < b.uuid ? -1 : 1));
  }

  /** The deal that holds this proposal (the newest one, when an earlier attempt failed). */
  byProposal(proposalCid: string): DealRecord | undefined {
    const uuid = this.kv.get<string>(PROPOSAL + proposalCid);
    return uuid ? this.get(uuid) : undefined;
  }

  async insert(d: DealRecord): Promise<void> {
    await this.kv.commit([
      { key: DEAL + d.uuid, value: d },
      { key: PROPOSAL + d.proposalCid, value: d.uuid },
    ]);
    this.track(d);
  }

  /** Moves deals to `state` atomically (all or none), checking each transition is allowed. */
  async transition(uuids: string[], state: DealState, patch: Partial<DealRecord> = {}, reason?: string): Promise<DealRecord[]> {
    const now = this.clock();
    const out: DealRecord[] = [];
    for (const uuid of uuids) {
      const d = this.get(uuid);
      if (!d) throw new DealTransitionError(`unknown deal ${uuid}`);
      if (!dealCanBecome(d.state, state)) {
        transitionsRefused.inc({ from: d.state, to: state });
        throw new DealTransitionError(`deal ${uuid} is ${d.state}${d.reason ? ` (${d.reason})` : ''}; it cannot become ${state}`);
      }
      const history = [...d.history, reason ? { state, at: now, reason } : { state, at: now }].slice(-32);
      out.push({ ...d, ...patch, state, updatedAt: now, history, ...(reason !== undefined ? { reason } : {}) });
    }
    await this.kv.commit(out.map((d) => ({ key: DEAL + d.uuid, value: d })));
    for (const d of out) this.track(d);
    return out;
  }

  /** Changes fields of deals without changing their state (all or none). */
  async update(uuids: string[], patch: (d: DealRecord) => Partial<DealRecord>): Promise<void> {
    const now = this.clock();
    const out = uuids.map((uuid) => {
      const d = this.get(uuid);
      if (!d) throw new DealTransitionError(`unknown deal ${uuid}`);
      return { ...d, ...patch(d), updatedAt: now };
    });
    await this.kv.commit(out.map((d) => ({ key: DEAL + d.uuid, value: d })));
    for (const d of out) this.track(d);
  }

  /** The top-up this miner pushed and has not seen land (survives a restart: never pushed twice). */
  pendingFunding(): PendingFunding | undefined {
    return this.kv.get<PendingFunding>(FUNDING);
  }

  async setPendingFunding(f: PendingFunding | undefined): Promise<void> {
    await this.kv.commit([{ key: FUNDING, value: f }]);
  }

  close(): Promise<void> {
    this.unlist();
    return this.kv.close();
  }
}
