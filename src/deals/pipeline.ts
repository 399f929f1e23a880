// The hand-off from deals to sealing. Verified pieces (state Publishing) wait in a queue,
// oldest first; the seal pipeline asks for a sector's worth with nextPieces(), seals them
// (AddPiece each piece file in the plan's order, then the zero fillers), and reports back with
// markSealing / markActive / markFailed. nextPieces reserves nothing: markSealing is the
// reservation, and it refuses (changing nothing) if any of the deals was taken meanwhile.
import { existsSync, rmSync } from 'node:fs';
import { commPToCid, cidToCommP } from '../proofs/cid.js';
import type { PieceInfo } from '../proofs/types.js';
import { zeroCommP } from './commp.js';
import { type Sized, packPieces } from './packing.js';
import type { DealRecord, DealSector, DealStore } from './store.js';

export interface PackedPiece extends Sized {
  dealUuid: string;
  /** The market's deal ID (published deals only). */
  dealId?: number;
  pieceCid: string;
  commP: Buffer;
  /** The unsealed piece file: exactly the unpadded piece size (data + zero fill). */
  path: string;
}

export interface DealSectorPlan {
  sectorSize: number;
  /** Deal pieces, in the order to add them (largest first: no alignment padding needed). */
  pieces: PackedPiece[];
  /** Zero pieces to add after them, in order, filling the sector. */
  fillers: { size: number; commP: Buffer; pieceCid: string }[];
  /** Every piece of the sector (deal pieces then fillers), for PreCommit1 / CommD. */
  pieceInfos: PieceInfo[];
  dealUuids: string[];
}

export interface DealPipeline {
  /** Verified pieces that fit one sector of `sectorSize` bytes, or null when none wait. */
  nextPieces(sectorSize: number): DealSectorPlan | null;
  /** The deals are in `sector`, being sealed (all or none; throws if one is not waiting). */
  markSealing(dealUuids: string[], sector: DealSector): Promise<void>;
  /** The sector holding the deals is proving. */
  markActive(dealUuids: string[], sector: DealSector): Promise<void>;
  /** Sealing failed: fail the deals, or with requeue give their pieces back to the queue. */
  markFailed(dealUuids: string[], reason: string, opts?: { requeue?: boolean }): Promise<void>;
}

export class StoreDealPipeline implements DealPipeline {
  constructor(
    private readonly store: DealStore,
    private readonly piecePath: (uuid: string) => string,
    /** Offer only deals published on chain (with a deal ID): the deal role with a chain. */
    private readonly requirePublished = false,
  ) {}

  /** Deals waiting for a sector, oldest verified first. */
  queue(): DealRecord[] {
    return this.store
      .list()
      .filter((d) => d.state === 'Publishing' && (!this.requirePublished || d.publish?.dealId !== undefined))
      .sort((a, b) => (a.verifiedAt ?? 0) - (b.verifiedAt ?? 0) || a.createdAt - b.createdAt);
  }

  nextPieces(sectorSize: number): DealSectorPlan | null {
    const candidates: PackedPiece[] = this.queue()
      .filter((d) => existsSync(this.piecePath(d.uuid)))
      .map((d) => ({ dealUuid: d.uuid, dealId: d.publish?.dealId, pieceCid: d.pieceCid, commP: cidToCommP(d.pieceCid), size: d.pieceSize, path: this.piecePath(d.uuid) }));
    const plan = packPieces(candidates, sectorSize);
    if (!plan) return null;
    const fillers = plan.fillers.map((size) => {
      const commP = zeroCommP(size);
      return { size, commP, pieceCid: commPToCid(commP) };
    });
    return {
      sectorSize,
      pieces: plan.pieces,
      fillers,
      pieceInfos: [...plan.pieces.map((p) => ({ size: p.size, commP: p.commP })), ...fillers.map((f) => ({ size: f.size, commP: f.commP }))],
      dealUuids: plan.pieces.map((p) => p.dealUuid),
    };
  }

  async markSealing(dealUuids: string[], sector: DealSector): Promise<void> {
    await this.store.transition(dealUuids, 'Sealing', { sector });
  }

  async markActive(dealUuids: string[], sector: DealSector): Promise<void> {
    for (const u of dealUuids) {
      const d = this.store.get(u);
      if (d?.sector && d.sector.sectorNumber !== sector.sectorNumber) {
        throw new Error(`deal ${u} is in sector ${d.sector.sectorNumber}, not ${sector.sectorNumber}`);
      }
    }
    await this.store.transition(dealUuids, 'Active', { sector });
  }

  /**
   * A sector that will not carry these deals: back to the queue (`requeue`), or Failed — with
   * their verified pieces deleted, unless `keepData` (the deal failed for want of time, not for
   * its data: the piece stays on disk, dataKept).
   */
  async markFailed(dealUuids: string[], reason: string, opts: { requeue?: boolean; keepData?: boolean } = {}): Promise<void> {
    if (opts.requeue) await this.store.transition(dealUuids, 'Publishing', { sector: undefined }, `requeued: ${reason}`);
    else if (opts.keepData) await this.store.transition(dealUuids, 'Failed', { dataKept: true }, reason);
    else {
      await this.store.transition(dealUuids, 'Failed', {}, reason);
      for (const u of dealUuids) rmSync(this.piecePath(u), { force: true }); // a failed deal keeps no data
    }
  }
}
