// The devnet's storage market actor (t05): enough of builtin-actors' market for deal sectors
// to be real on the devnet. PublishStorageDeals checks each proposal (client signature over its
// CBOR, provider is a miner whose worker/owner sends the message, piece size, epochs, no
// duplicate) and gives the valid ones deal IDs; a pre-commit naming deals is checked against
// them (provider, not activated nor in another pre-commit, start not passed, the sector
// outlives the deal, and the sector's UnsealedCid is the CommD of the deals' pieces). Deals
// are activated as on the network since version 23: ProveCommitSectors3 names each piece and
// notifies the market with the deal id (checked here: provider, piece CID and size, not yet
// active, start not passed, the sector outlives it). Left out: escrow balances and collateral (the devnet has no
// token balances), payments, deal expiry and slashing in cron, verified-registry data caps.
import { type ClientDealProposal, type DealProposal, type MarketDeal, dealProposalCbor } from '../chain/market.js';
import type { PreCommitParams } from '../chain/params.js';
import { ExitCode, cborCid, parseAddress } from '../chain/types.js';
import { verifySignature } from '../deals/keys.js';
import { zeroCommP } from '../deals/commp.js';
import { fillerSizes, placements } from '../deals/packing.js';
import * as proofs from '../proofs/index.js';
import { ActorError } from './miner.js';

/**
 * The CommD of a sector holding `pieces` in order (padded sizes), zero pieces aligning them and
 * filling the rest, as the FVM's compute_unsealed_sector_cid does (the proofs' compute_comm_d
 * alone does not pad up to the sector size). Throws an ActorError when they do not fit.
 */
export async function sectorCommD(sealProof: proofs.RegisteredSealProof, pieces: proofs.PieceInfo[], what: string): Promise<string> {
  const sectorSize = proofs.sealProofSectorSize(sealProof);
  for (const p of pieces) if (!isPow2(p.size) || p.size < 128) throw illegal(`${what}: piece size ${p.size} is not a power of two ≥ 128`);
  const total = pieces.reduce((a, p) => a + p.size, 0);
  if (total > sectorSize) throw illegal(`${what}: pieces hold ${total} bytes, more than the sector's ${sectorSize}`);
  const all = [...pieces];
  const placed = placements(all.map((x) => x.size));
  const end = placed.length ? placed[placed.length - 1].offset + all[all.length - 1].size : 0;
  if (end > sectorSize) throw illegal(`${what}: pieces do not fit the sector's ${sectorSize} bytes once aligned`);
  for (const size of fillerSizes(end, sectorSize)) all.push({ size, commP: zeroCommP(size) });
  return proofs.commDToCid(await proofs.generateDataCommitment(sealProof, all));
}

interface DealEntry {
  proposal: DealProposal;
  proposalCid: string;
  sectorStartEpoch: number;
  sectorNumber: number;
  lastUpdatedEpoch: number;
  slashEpoch: number;
}

const illegal = (m: string) => new ActorError(ExitCode.ErrIllegalArgument, m);
const isPow2 = (n: number) => Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;

/** The miner a deal may name as provider, as the market sees it. */
export interface ProviderView {
  id: number;
  sectorSize: number;
  isController(addr: string): boolean;
}

export class MarketActor {
  private readonly deals = new Map<number, DealEntry>();
  private readonly proposals = new Set<string>();
  private nextId = 0;

  /**
   * PublishStorageDeals: each invalid deal is dropped with its reason (as the actor does);
   * returns the IDs of the valid ones and their indexes. Throws when none is valid.
   */
  publish(epoch: number, caller: string, deals: ClientDealProposal[], provider: (addr: string) => ProviderView | undefined): { ids: number[]; valid: number[]; rejected: string[] } {
    if (deals.length === 0) throw illegal('empty deals parameter');
    const ids: number[] = [];
    const valid: number[] = [];
    const rejected: string[] = [];
    const inBatch = new Set<string>();
    deals.forEach((d, i) => {
      const why = this.check(epoch, caller, d, provider, inBatch);
      if (why) {
        rejected.push(`deal ${i}: ${why}`);
        return;
      }
      const cid = cborCid(dealProposalCbor(d.Proposal))['/'];
      inBatch.add(cid);
      const id = this.nextId++;
      this.deals.set(id, { proposal: d.Proposal, proposalCid: cid, sectorStartEpoch: -1, sectorNumber: -1, lastUpdatedEpoch: -1, slashEpoch: -1 });
      this.proposals.add(cid);
      ids.push(id);
      valid.push(i);
    });
    if (ids.length === 0) throw illegal(`all deals are invalid: ${rejected.join('; ')}`);
    return { ids, valid, rejected };
  }

  private check(epoch: number, caller: string, d: ClientDealProposal, provider: (addr: string) => ProviderView | undefined, inBatch: Set<string>): string | null {
    const p = d.Proposal;
    const miner = provider(p.Provider);
    if (!miner) return `provider ${p.Provider} is not a miner`;
    if (!miner.isController(caller)) return `caller ${caller} is not the worker or owner of provider ${p.Provider}`;
    try {
      proofs.cidToCommP(p.PieceCID['/']);
    } catch (e) {
      return `PieceCID is not a piece commitment: ${(e as Error).message}`;
    }
    if (!isPow2(p.PieceSize) || p.PieceSize < 128) return `piece size ${p.PieceSize} is not a power of two ≥ 128`;
    if (p.PieceSize > miner.sectorSize) return `piece size ${p.PieceSize} exceeds the provider's sector size ${miner.sectorSize}`;
    if (p.StartEpoch <= epoch) return `deal start epoch ${p.StartEpoch} has already elapsed (now ${epoch})`;
    if (p.EndEpoch <= p.StartEpoch) return `deal end epoch ${p.EndEpoch} is not after its start ${p.StartEpoch}`;
    let client;
    try {
      client = parseAddress(p.Client);
    } catch (e) {
      return `client address: ${(e as Error).message}`;
    }
    if (client.protocol !== 1 && client.protocol !== 3) return `client ${p.Client} must be a key address (f1/f3) for the devnet to check its signature`;
    const sigErr = verifySignature(p.Client, dealProposalCbor(p), d.ClientSignature);
    if (sigErr) return `bad client signature: ${sigErr}`;
    const cid = cborCid(dealProposalCbor(p))['/'];
    if (this.proposals.has(cid) || inBatch.has(cid)) return `deal proposal ${cid} is already published`;
    return null;
  }

  /**
   * The pre-commit check of a sector's deals (builtin-actors' VerifyDealsForActivation):
   * returns nothing, throws with the reason. `otherPreCommits` are the deal IDs already in
   * the miner's live pre-commits.
   */
  async checkPreCommit(epoch: number, minerId: number, sealProof: proofs.RegisteredSealProof, p: PreCommitParams, otherPreCommits: Set<number>): Promise<void> {
    if (p.dealIds.length === 0) return;
    if (!p.unsealedCid) throw illegal(`sector ${p.sectorNumber} names deals but no UnsealedCid`);
    const seen = new Set<number>();
    const pieces: proofs.PieceInfo[] = [];
    let total = 0;
    for (const id of p.dealIds) {
      const d = this.deals.get(id);
      if (!d) throw new ActorError(ExitCode.ErrNotFound, `deal ${id} not found`);
      if (seen.has(id)) throw illegal(`deal ${id} is named twice in sector ${p.sectorNumber}`);
      seen.add(id);
      const prov = parseAddress(d.proposal.Provider);
      if (prov.id === undefined || Number(prov.id) !== minerId) throw new ActorError(ExitCode.ErrForbidden, `deal ${id} is with provider ${d.proposal.Provider}, not t0${minerId}`);
      if (d.sectorStartEpoch >= 0) throw illegal(`deal ${id} is already activated in sector ${d.sectorNumber}`);
      if (otherPreCommits.has(id)) throw illegal(`deal ${id} is already in another pre-committed sector`);
      if (epoch > d.proposal.StartEpoch) throw illegal(`deal ${id} start epoch ${d.proposal.StartEpoch} has already elapsed (now ${epoch})`);
      if (d.proposal.EndEpoch > p.expiration) throw illegal(`deal ${id} ends at ${d.proposal.EndEpoch}, after the sector's expiration ${p.expiration}`);
      pieces.push({ size: d.proposal.PieceSize, commP: proofs.cidToCommP(d.proposal.PieceCID['/']) });
      total += d.proposal.PieceSize;
    }
    const sectorSize = proofs.sealProofSectorSize(sealProof);
    if (total > sectorSize) throw illegal(`deals of sector ${p.sectorNumber} hold ${total} bytes, more than the sector's ${sectorSize}`);
    const expected = await sectorCommD(sealProof, pieces, `deals of sector ${p.sectorNumber}`);
    if (expected !== p.unsealedCid['/']) throw illegal(`sector ${p.sectorNumber}: UnsealedCid ${p.unsealedCid['/']} is not the CommD of its deals' pieces (${expected})`);
  }

  /**
   * A piece activation notification (SectorContentChanged from ProveCommitSectors3): the deal
   * named by the payload must be this provider's, not yet active, not started, for exactly this
   * piece, and end before the sector does. Returns nothing; throws with the reason.
   */
  checkNotification(epoch: number, minerId: number, n: { dealId: number; pieceCid: string; pieceSize: number; sectorExpiration: number }, inBatch: Set<number>): void {
    const d = this.deals.get(n.dealId);
    if (!d) throw new ActorError(ExitCode.ErrNotFound, `deal ${n.dealId} not found`);
    const prov = parseAddress(d.proposal.Provider);
    if (prov.id === undefined || Number(prov.id) !== minerId) throw new ActorError(ExitCode.ErrForbidden, `deal ${n.dealId} is with provider ${d.proposal.Provider}, not t0${minerId}`);
    if (d.sectorStartEpoch >= 0 || inBatch.has(n.dealId)) throw illegal(`deal ${n.dealId} is already activated`);
    if (epoch > d.proposal.StartEpoch) throw illegal(`deal ${n.dealId} start epoch ${d.proposal.StartEpoch} has already elapsed (now ${epoch})`);
    if (d.proposal.PieceCID['/'] !== n.pieceCid || d.proposal.PieceSize !== n.pieceSize) throw illegal(`deal ${n.dealId} is for piece ${d.proposal.PieceCID['/']} (${d.proposal.PieceSize} bytes), not ${n.pieceCid} (${n.pieceSize} bytes)`);
    if (d.proposal.EndEpoch > n.sectorExpiration) throw illegal(`deal ${n.dealId} ends at ${d.proposal.EndEpoch}, after the sector's expiration ${n.sectorExpiration}`);
  }

  activate(epoch: number, sectorNumber: number, dealIds: number[]): void {
    for (const id of dealIds) {
      const d = this.deals.get(id)!;
      d.sectorStartEpoch = epoch;
      d.lastUpdatedEpoch = epoch;
      d.sectorNumber = sectorNumber;
    }
  }

  /** StateMarketStorageDeal. */
  deal(id: number): MarketDeal | undefined {
    const d = this.deals.get(id);
    if (!d) return undefined;
    // SectorNumber: 0 until activated, as Lotus shows it.
    return { Proposal: d.proposal, State: { SectorNumber: Math.max(0, d.sectorNumber), SectorStartEpoch: d.sectorStartEpoch, LastUpdatedEpoch: d.lastUpdatedEpoch, SlashEpoch: d.slashEpoch } };
  }

  /** StateMarketDeals: every deal by its ID (as a decimal string key, like Lotus). */
  all(): Record<string, MarketDeal> {
    const out: Record<string, MarketDeal> = {};
    for (const id of this.deals.keys()) out[String(id)] = this.deal(id)!;
    return out;
  }

  toJSON(): unknown {
    return { nextId: this.nextId, deals: [...this.deals.entries()] };
  }

  static fromJSON(j: unknown): MarketActor {
    const m = new MarketActor();
    if (!j) return m; // a chain directory from before the market actor existed
    const o = j as { nextId: number; deals: [number, DealEntry][] };
    m.nextId = o.nextId;
    for (const [id, d] of o.deals) {
      m.deals.set(id, d);
      m.proposals.add(d.proposalCid);
    }
    return m;
  }
}
