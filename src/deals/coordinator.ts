// The deal role's back half: what happens to a verified deal (state Publishing) until it is
// Active. Every few seconds it
//   1. publishes unpublished deals on chain (PublishStorageDeals to the market actor, in
//      batches) and records each deal's market ID. First it fails the deals the actor would
//      drop (start epoch passed, the client's escrow no longer covering them: the gas would be
//      lost) and tops up this miner's own escrow from its worker to cover the provider
//      collateral of every deal not yet published (the AddBalance is recorded and looked up
//      on later passes, never waited for inside one, and never pushed twice across a restart);
//   2. packs published deals into a sector (DealPipeline.nextPieces; a sector they do not fill
//      waits up to waitDealsMs for more deals, as Lotus's WaitDealsDelay) and hands it to this
//      miner's seal service (SectorsPledgeDeals: the workers fetch each piece from the deal
//      server's /piece URL), then marks the deals Sealing in that sector;
//   3. follows the sectors of Sealing deals: Proving → Active; a sector the chain rejected or
//      that failed for good → the deals fail with its reason, or go back to the queue when the
//      failure was not theirs and their start epoch is still ahead.
//
// Crash safety (kill -9 anywhere): the publication intent is recorded before the message is
// pushed and its CID right after, so a restart either waits for that message or, when the
// crash came between the two, looks for the deal on chain before publishing again (and a deal
// a publication refuses, e.g. as a duplicate of a first message that was still pending, is
// looked up on chain before it is failed); a sector
// pledged but not yet recorded on the deals is found again from the seal service's sector
// list (by deal ID) before anything new is packed; SectorsPledgeDeals is idempotent.
import { randomUUID } from 'node:crypto';
import type { ClientDealProposal, DealProposal } from '../chain/market.js';
import { logger } from '../log.js';
import { unpaddedSize } from '../proofs/types.js';
import type { SectorView } from '../sealing/service.js';
import type { StoreDealPipeline } from './pipeline.js';
import type { DealPublication, DealRecord, DealStore, PendingFunding } from './store.js';
import { type ProposalMarket, dealCosts } from './escrow.js';
import { formatFil } from '../chain/fees.js';
import { RpcError } from '../net/json-rpc.js';

/** The chain as the deal role needs it (over the Lotus API in deal-chain.ts). */
export interface DealChain extends ProposalMarket {
  head(): Promise<number>;
  /** This miner's ID address (whose escrow holds the provider collateral). */
  readonly provider: string;
  /**
   * Pushes AddBalance of `amount` into this miner's escrow, from its worker; the message CID (not
   * waited for). `uuid` is the push's idempotency key (Lotus's MsgUuid): pushed again with the
   * same uuid, the node answers with the message it already sent.
   */
  fundProvider(amount: bigint, uuid: string): Promise<string>;
  /** A pushed message's exit code once it is on chain; null while it is not (yet). */
  messageOutcome(cid: string): Promise<{ exitCode: number } | null>;
  /** Pushes PublishStorageDeals for these deals; returns the message CID. */
  publish(deals: ClientDealProposal[]): Promise<string>;
  /** Waits for the message: the market IDs of the valid deals, by index into the batch. */
  waitPublish(cid: string): Promise<{ exitCode: number; error?: string; ids: Map<number, number> }>;
  /**
   * For each proposal, the market ID of a deal already published with exactly it (undefined if
   * none), searching this miner's publications from height `since` on (undefined: a record
   * from before `since` was kept; search the whole market).
   */
  findDeals(ps: DealProposal[], since: number | undefined): Promise<(number | undefined)[]>;
}

/** What the deal flow reads of a sector in the seal service's SectorsList. */
export type SealSectorView = Pick<SectorView, 'number' | 'state' | 'deals' | 'failure' | 'chainRejected' | 'sealedCid' | 'unsealedCid'>;

/** This miner's seal service as the deal role needs it (its JSON-RPC client: src/sealing/client.ts). */
export interface DealSealer {
  /** Pieces in order: deal pieces {url, unpaddedSize, pieceCid}, zero fillers {unpaddedSize}. */
  pledgeDeals(pieces: { url?: string; unpaddedSize: number; pieceCid?: string }[], dealIds: number[], publishCids?: (string | null)[]): Promise<number>;
  sectors(): Promise<SealSectorView[]>;
}

export interface CoordinatorOptions {
  store: DealStore;
  pipeline: StoreDealPipeline;
  chain: DealChain;
  sealer: DealSealer;
  sectorSize: number;
  /** Where the workers fetch a piece: `${pieceBase}/piece/${pieceCid}` (the deal server's URL). */
  pieceBase: string;
  /**
   * A sector the queued deals do not fill is sealed only once its oldest deal has waited this
   * long for company (Lotus's WaitDealsDelay; default 10 min); a full sector goes at once.
   */
  waitDealsMs?: number;
  /** Deals per PublishStorageDeals message (default 8). */
  batch?: number;
  pollMs?: number;
  /** Deals whose start epoch is nearer than this are not requeued after a failed sector. */
  requeueMarginEpochs?: number;
}

const FAILED_FOR_GOOD = new Set(['FailedUnrecoverable', 'Removed', 'Removing']);

/**
 * A record update that sets the deal's publication to `p`, keeping the height of its first
 * attempt (or starting it at `head`): each step replaces what it knew (intent → message → ID),
 * but a search after a crash must start where the first message could have landed.
 */
function publication(p: Omit<DealPublication, 'since'>, head?: number): (d: DealRecord) => Partial<DealRecord> {
  return (d) => ({ publish: { ...p, since: d.publish?.since ?? head } });
}

export class DealCoordinator {
  private readonly log = logger('deal-flow');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** Publish messages being waited on (by CID). */
  private readonly waiting = new Map<string, Promise<void>>();
  private reconciled = false;
  private fundingWarnedAt = 0;

  constructor(private readonly o: CoordinatorOptions) {}

  start(): void {
    const loop = () => {
      if (this.stopped) return;
      this.running = this.tick()
        .catch((e) => this.log.warn({ err: e }, 'deal flow step failed; retrying'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(loop, this.o.pollMs ?? 2000);
        });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One pass of the three steps (exposed for tests). */
  async tick(): Promise<void> {
    // A publication that cannot go on (the worker cannot pay the collateral, the node is down)
    // must not hold up the deals already published: they have start epochs to meet.
    await this.publishPending().catch((e) => this.log.warn({ err: e }, 'publishing deals failed this pass; deals already published go on'));
    let sectors: SealSectorView[];
    try {
      sectors = await this.o.sealer.sectors();
    } catch (e) {
      this.log.warn({ err: e }, 'the seal service of this miner does not answer: deal sectors wait');
      return;
    }
    if (!this.reconciled) {
      await this.reconcile(sectors);
      this.reconciled = true;
    }
    await this.follow(sectors);
    await this.pack();
  }

  private deals(state: DealRecord['state']): DealRecord[] {
    return this.o.store.list().filter((d) => d.state === state);
  }

  // ---------------------------------------------------------------- 1. publish

  private async publishPending(): Promise<void> {
    const unpublished = this.deals('Publishing').filter((d) => d.publish?.dealId === undefined);
    const fresh: DealRecord[] = [];
    const cutShort: DealRecord[] = [];
    for (const d of unpublished) {
      const cid = d.publish?.cid;
      if (cid) {
        if (!this.waiting.has(cid))
          this.track(
            cid,
            unpublished.filter((x) => x.publish?.cid === cid),
          );
      } else if (d.publish?.pushing) cutShort.push(d);
      else fresh.push(d);
    }
    // Crashed between recording the intent and recording the message: are they on chain?
    if (cutShort.length) fresh.push(...(await this.recordPublished(cutShort, 'found the deal published before the restart')));
    if (fresh.length === 0) return;
    const inFlight = unpublished.filter((d) => d.publish?.cid && !fresh.includes(d));
    const ready = await this.affordable(fresh, inFlight);
    if (ready.length === 0) return;
    if (!(await this.fundCollateral([...inFlight, ...ready]))) return;
    const batch = this.o.batch ?? 8;
    for (let i = 0; i < ready.length; i += batch) {
      const group = ready.slice(i, i + batch);
      const uuids = group.map((d) => d.uuid);
      // The earliest intent's height is kept: a message from before a crash may still land.
      const head = await this.o.chain.head();
      await this.o.store.update(uuids, publication({ pushing: true }, head));
      const cid = await this.o.chain.publish(group.map((d) => ({ Proposal: d.proposal, ClientSignature: d.signature })));
      await this.o.store.update(uuids, publication({ cid }));
      this.log.info({ deals: uuids, cid }, 'PublishStorageDeals sent');
      this.track(cid, group);
    }
  }

  /**
   * The deals the market actor would take now: a deal whose start epoch has passed, or whose
   * client's available escrow no longer covers it, fails here with the reason — published, the
   * actor would drop it and the provider would pay the gas. A client with a publication in
   * flight, or whose balance cannot be read, waits for the next pass.
   */
  private async affordable(fresh: DealRecord[], inFlight: DealRecord[]): Promise<DealRecord[]> {
    const head = await this.o.chain.head();
    const ok: DealRecord[] = [];
    // Per client: its available escrow, or null to leave its deals for the next pass — while a
    // publication of its deals is in flight (whether the market has locked their funds yet is
    // not known) or when its balance could not be read.
    const left = new Map<string, bigint | null>();
    const busy = new Set(inFlight.map((x) => x.proposal.Client));
    for (const d of fresh) {
      const p = d.proposal;
      let reason: string | undefined;
      if (p.StartEpoch <= head) reason = `the deal's start epoch ${p.StartEpoch} passed (head ${head}) before it could be published`;
      else {
        if (!left.has(p.Client)) {
          let avail: bigint | null = null;
          if (!busy.has(p.Client)) {
            try {
              const b = await this.o.chain.balance(p.Client);
              avail = b.escrow - b.locked;
            } catch (e) {
              this.log.warn({ err: e, client: p.Client }, "the client's market balance could not be read; its deals wait");
            }
          }
          left.set(p.Client, avail);
        }
        const avail = left.get(p.Client)!;
        if (avail === null) continue;
        const cost = dealCosts(p).client;
        if (avail < cost) reason = `the client's available escrow (${formatFil(avail > 0n ? avail : 0n)}) no longer covers the deal (${formatFil(cost)}); the market actor would drop it`;
        else left.set(p.Client, avail - cost);
      }
      if (reason) {
        await this.o.store.transition([d.uuid], 'Failed', { dataKept: true }, reason);
        this.log.error({ deal: d.uuid, client: p.Client, reason }, 'deal not published; its data is kept');
      } else ok.push(d);
    }
    return ok;
  }

  /**
   * Whether this miner's available escrow covers the provider collateral of `deals` (all not yet
   * published: the actor locks it only at publication). When it does not, records a top-up of the
   * difference, then pushes it (AddBalance from the worker) under the record's uuid: the deals
   * wait, and the passes go on (packing, following sectors) while it lands. The record is written
   * before the push, so no crash can leave a top-up sent and forgotten: a record without a CID is
   * pushed again with the same uuid, and the node answers with the message it already sent, if
   * it did. Throws when the push fails: the deals wait; the next pass pushes it again, or works
   * the need out anew when the node refused it.
   */
  // A publication that landed but whose deal IDs are not recorded yet is counted though its
  // collateral is already locked: the top-up can then exceed the need by that much, which stays
  // in the miner's escrow (withdrawable) — never short.
  private async fundCollateral(deals: DealRecord[]): Promise<boolean> {
    let pending = this.o.store.pendingFunding();
    if (pending && pending.cid === undefined) {
      await this.pushFunding(pending);
      return false;
    }
    if (pending?.cid !== undefined) {
      const r = await this.o.chain.messageOutcome(pending.cid);
      if (r === null) {
        const mins = (Date.now() - (pending.pushedAt ?? Date.now())) / 60_000;
        if (mins >= 10 && Date.now() - this.fundingWarnedAt > 10 * 60_000) {
          this.fundingWarnedAt = Date.now();
          this.log.warn({ cid: pending.cid, minutes: Math.round(mins) }, 'the provider-collateral top-up is still not on chain; deals wait for it (is its fee cap too low?)');
        }
        return false;
      }
      await this.o.store.setPendingFunding(undefined);
      if (r.exitCode === 0) this.log.info({ cid: pending.cid, added: pending.amount }, `provider collateral: ${formatFil(BigInt(pending.amount))} added to the market escrow`);
      else this.log.error({ cid: pending.cid, exitCode: r.exitCode }, 'the provider-collateral top-up failed on chain; trying again');
    }
    const need = deals.reduce((a, d) => a + dealCosts(d.proposal).provider, 0n);
    if (need === 0n) return true;
    const b = await this.o.chain.balance(this.o.chain.provider);
    const available = b.escrow - b.locked;
    if (available >= need) return true;
    const add = need - available;
    this.log.info({ need: need.toString(), available: available.toString(), add: add.toString() }, 'adding provider collateral to the market escrow');
    pending = { uuid: randomUUID(), amount: add.toString() };
    await this.o.store.setPendingFunding(pending);
    await this.pushFunding(pending);
    return false;
  }

  /** Pushes the recorded top-up (again, with the same uuid, if its answer was lost) and records its CID. */
  private async pushFunding(f: PendingFunding): Promise<void> {
    let cid: string;
    try {
      cid = await this.o.chain.fundProvider(BigInt(f.amount), f.uuid!);
    } catch (e) {
      // The node's own refusal (an error answer: not enough funds, gas estimation failed) sent
      // nothing: the record goes, and the next pass works the need out again. No answer at all
      // (a timeout, the node down) may hide a push that happened: kept, pushed again under its uuid.
      const refused = e instanceof RpcError;
      if (refused) await this.o.store.setPendingFunding(undefined);
      this.log.error(
        { err: e, add: f.amount, uuid: f.uuid },
        refused
          ? 'the node refused the provider-collateral top-up (is the worker funded?); deals wait'
          : 'no answer to the provider-collateral top-up; deals wait, and the same top-up is pushed again',
      );
      throw e;
    }
    await this.o.store.setPendingFunding({ ...f, cid, pushedAt: Date.now() });
    this.log.info({ cid, add: f.amount, uuid: f.uuid }, 'AddBalance sent; the deals are published once it is on chain');
  }

  private track(cid: string, group: DealRecord[]): void {
    const uuids = group.map((d) => d.uuid);
    const p = this.o.chain
      .waitPublish(cid)
      .then(async (r) => {
        if (r.exitCode !== 0) {
          await this.failUnlessPublished(group, `PublishStorageDeals ${cid} failed (exit code ${r.exitCode}): ${r.error ?? 'no reason given'}`);
          this.log.error({ deals: uuids, cid, error: r.error }, 'deals rejected by the market actor');
          return;
        }
        const dropped = group.filter((_, i) => !r.ids.has(i));
        if (dropped.length) {
          await this.failUnlessPublished(dropped, `the market actor found the deal invalid in PublishStorageDeals ${cid}`);
          this.log.error({ deals: dropped.map((d) => d.uuid), cid }, 'deals dropped by the market actor');
        }
        // The batch's IDs are recorded together, so packing sees the whole batch at once.
        const ids = new Map(group.map((d, i) => [d.uuid, r.ids.get(i)]));
        const valid = group.filter((_, i) => r.ids.has(i)).map((d) => d.uuid);
        if (valid.length) {
          await this.o.store.update(valid, (d) => publication({ cid, dealId: ids.get(d.uuid)! })(d));
          this.log.info({ deals: Object.fromEntries(valid.map((u) => [u, ids.get(u)])), cid }, 'deals published');
        }
      })
      .catch((e) => this.log.warn({ cid, err: e }, 'waiting for PublishStorageDeals failed; will wait again'))
      .finally(() => this.waiting.delete(cid));
    this.waiting.set(cid, p);
  }

  /**
   * Fails deals a publication did not take, except those already on chain: a deal re-published
   * after a crash while its first message was still in the message pool is refused as a
   * duplicate once the first lands, and is then published, not failed.
   */
  private async failUnlessPublished(deals: DealRecord[], reason: string): Promise<void> {
    const failed = await this.recordPublished(deals, 'deal already published by an earlier message');
    if (failed.length)
      await this.o.store.transition(
        failed.map((d) => d.uuid),
        'Failed',
        {},
        reason,
      );
  }

  /**
   * Looks these deals up on chain in one search, from the earliest first-attempt height among
   * them, records the deal ID of each one found, and returns those not found.
   */
  private async recordPublished(deals: DealRecord[], why: string): Promise<DealRecord[]> {
    const sinces = deals.map((d) => this.o.store.get(d.uuid)?.publish?.since);
    const since = sinces.includes(undefined) ? undefined : Math.min(...(sinces as number[]));
    const ids = await this.o.chain.findDeals(
      deals.map((d) => d.proposal),
      since,
    );
    const notFound: DealRecord[] = [];
    for (const [i, d] of deals.entries()) {
      const id = ids[i];
      if (id === undefined) notFound.push(d);
      else {
        await this.o.store.update([d.uuid], publication({ dealId: id }));
        this.log.info({ deal: d.uuid, dealId: id }, why);
      }
    }
    return notFound;
  }

  // ---------------------------------------------------------------- 2. pack

  /** A sector pledged but not yet recorded on its deals (crash in between): record it. */
  private async reconcile(sectors: SealSectorView[]): Promise<void> {
    const byDeal = new Map<number, SealSectorView>();
    for (const s of sectors) if (!FAILED_FOR_GOOD.has(s.state) && !s.chainRejected) for (const id of s.deals) byDeal.set(id, s);
    for (const d of this.deals('Publishing')) {
      const id = d.publish?.dealId;
      const s = id !== undefined ? byDeal.get(id) : undefined;
      if (s) {
        await this.o.pipeline.markSealing([d.uuid], { sectorNumber: s.number });
        this.log.info({ deal: d.uuid, sector: s.number }, 'deal found in a sector pledged before the restart');
      }
    }
  }

  private async pack(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const plan = this.o.pipeline.nextPieces(this.o.sectorSize);
      if (!plan) return;
      if (plan.fillers.length > 0) {
        const oldest = Math.min(...plan.dealUuids.map((u) => this.o.store.get(u)?.verifiedAt ?? 0));
        if (Date.now() - oldest < (this.o.waitDealsMs ?? 600_000)) return; // wait for more deals to fill it
      }
      const pieces = [
        ...plan.pieces.map((p) => ({ url: `${this.o.pieceBase}/piece/${p.pieceCid}`, unpaddedSize: unpaddedSize(p.size), pieceCid: p.pieceCid })),
        ...plan.fillers.map((f) => ({ unpaddedSize: unpaddedSize(f.size) })),
      ];
      const dealIds = plan.pieces.map((p) => p.dealId!);
      // Each deal's PublishStorageDeals message, for lotus-miner's DealInfo.PublishCid.
      const published = new Map(plan.dealUuids.map((u) => this.o.store.get(u)).flatMap((d) => (d?.publish?.dealId !== undefined ? [[d.publish.dealId, d.publish.cid ?? null] as const] : [])));
      const sector = await this.o.sealer.pledgeDeals(
        pieces,
        dealIds,
        dealIds.map((id) => published.get(id) ?? null),
      );
      await this.o.pipeline.markSealing(plan.dealUuids, { sectorNumber: sector });
      this.log.info({ sector, deals: plan.dealUuids, dealIds }, 'deal sector pledged');
    }
  }

  // ---------------------------------------------------------------- 3. follow

  private async follow(sectors: SealSectorView[]): Promise<void> {
    const byNumber = new Map(sectors.map((s) => [s.number, s]));
    const sealing = this.deals('Sealing');
    const bySector = new Map<number, DealRecord[]>();
    for (const d of sealing) {
      const n = d.sector!.sectorNumber;
      bySector.set(n, [...(bySector.get(n) ?? []), d]);
    }
    let head: number | undefined;
    for (const [n, ds] of bySector) {
      const uuids = ds.map((d) => d.uuid);
      const s = byNumber.get(n);
      if (s?.state === 'Proving') {
        await this.o.pipeline.markActive(uuids, { sectorNumber: n, sealedCid: s.sealedCid ?? undefined, unsealedCid: s.unsealedCid ?? undefined });
        this.log.info({ sector: n, deals: uuids }, 'deals active: their sector is proving');
        continue;
      }
      const gone = !s || FAILED_FOR_GOOD.has(s.state) || s.chainRejected;
      if (!gone) continue;
      const reason = !s ? `sector ${n} is no longer in this miner's seal service` : `sector ${n} ${s.state}${s.failure ? `: ${s.failure}` : ''}`;
      head ??= await this.o.chain.head();
      const margin = this.o.requeueMarginEpochs ?? 10;
      // A chain rejection is most likely about the deals themselves: do not retry them.
      const requeue = !s?.chainRejected && ds.every((d) => d.proposal.StartEpoch > head! + margin);
      // Too late to seal again: the deals fail, but the client's verified data is kept.
      const keepData = !requeue && !s?.chainRejected;
      await this.o.pipeline.markFailed(uuids, keepData ? `${reason}; too near the deal's start epoch to seal again (the data is kept)` : reason, { requeue, keepData });
      this.log.error(
        { sector: n, deals: uuids, requeue, reason },
        requeue ? 'deal sector failed; deals go back to the queue' : keepData ? "deal sector failed too near the deals' start; deals failed, data kept" : 'deal sector failed; deals failed',
      );
    }
  }
}
