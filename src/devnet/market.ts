// The devnet's storage market actor (t05): enough of builtin-actors' market for deal sectors
// to be real on the devnet. PublishStorageDeals checks each proposal (client signature over its
// CBOR, provider is a miner whose worker/owner sends the message, piece size, epochs, provider
// collateral within its bounds, escrow, no duplicate) and gives the valid ones deal IDs; a
// pre-commit naming deals is checked against them (provider, not activated nor in another
// pre-commit, start not passed, the sector outlives the deal, and the sector's UnsealedCid is
// the CommD of the deals' pieces). Deals are activated as on the network since version 23:
// ProveCommitSectors3 names each piece and notifies the market with the deal id (checked here:
// provider, piece CID and size, not yet active, start not passed, the sector outlives it).
//
// Escrow as builtin-actors v18 keeps it (escrow and locked tables by actor ID): AddBalance
// (method 2) credits the message value to the escrow of the address in its params (an account
// or a miner; v18 accepts any caller); PublishStorageDeals drops, deal by deal, one whose
// client's available escrow (escrow − locked, less what earlier deals of the batch locked)
// does not cover price × duration + ClientCollateral, or whose provider's does not cover
// ProviderCollateral, and locks those amounts for the deals it accepts. The provider
// collateral floor is builtin-actors' formula (1% of the circulating supply × the deal's
// share of max(network raw power, baseline power)) over devnet stand-ins for the figures the
// actor reads from other actors (DEVNET_CIRCULATING_SUPPLY, DEVNET_BASELINE_POWER below).
//
// Deal durations are bounded as the actor bounds them (180 to 1278 days).
// Left out: WithdrawBalance, payments to the provider over time, unlocking at deal end,
// deal expiry and slashing in cron, verified-registry data caps, price bounds.
import { type ClientDealProposal, DEAL_MAX_DURATION, DEAL_MIN_DURATION, type DealProposal, type MarketDeal, dealProposalCbor } from '../chain/market.js';
import type { PreCommitParams } from '../chain/params.js';
import { parseAddress } from '../chain/address.js';
import { ExitCode } from '../chain/builtin-actors.js';
import { cborCid } from '../chain/cid.js';
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

/** What PublishStorageDeals asks of the rest of the chain. */
export interface PublishEnv {
  provider(addr: string): ProviderView | undefined;
  /** The actor ID a deal's client address resolves to, or undefined (no such actor). */
  clientId(addr: string): number | undefined;
  /** The network's raw byte power (the collateral floor's denominator is at least this). */
  networkRawPower: bigint;
}

const FIL = 10n ** 18n;
/** All the FIL there will ever be (builtin-actors TOTAL_FILECOIN): the collateral bounds' maximum. */
export const TOTAL_FILECOIN = 2_000_000_000n * FIL;
/**
 * The devnet's stand-ins for what the market reads from other actors at PublishStorageDeals:
 * the circulating supply (the FVM's; the devnet has no token supply, its pledge amounts are
 * flat) and the reward actor's baseline power (builtin-actors' BASELINE_INITIAL_VALUE, the
 * baseline at mainnet genesis, in bytes). Fixed, so a deal's collateral floor does not drift.
 */
export const DEVNET_CIRCULATING_SUPPLY = 500_000_000n * FIL;
export const DEVNET_BASELINE_POWER = 2_888_888_880_000_000_000n;
/** builtin-actors PROV_COLLATERAL_PERCENT_SUPPLY_NUM / _DENOM. */
const PROV_COLLATERAL_NUM = 1n;
const PROV_COLLATERAL_DENOM = 100n;

/**
 * builtin-actors' deal_provider_collateral_bounds: the least ProviderCollateral a deal of
 * `pieceSize` may carry is 1% of the circulating supply times the deal's share of the
 * network's power (its size over max(raw byte power, baseline power, its size)); the most is
 * all the FIL there is. Verified or not makes no difference (the actor ignores it).
 */
export function providerCollateralBounds(
  pieceSize: number,
  networkRawPower: bigint,
  baselinePower = DEVNET_BASELINE_POWER,
  circulatingSupply = DEVNET_CIRCULATING_SUPPLY,
): { min: bigint; max: bigint } {
  const size = BigInt(pieceSize);
  let denom = networkRawPower > baselinePower ? networkRawPower : baselinePower;
  if (size > denom) denom = size;
  const min = (size * circulatingSupply * PROV_COLLATERAL_NUM) / (denom * PROV_COLLATERAL_DENOM);
  return { min, max: TOTAL_FILECOIN };
}

/** What a deal takes out of its client's escrow (builtin-actors client_balance_requirement). */
export const clientBalanceRequirement = (p: DealProposal): bigint => BigInt(p.ClientCollateral) + BigInt(p.StoragePricePerEpoch) * BigInt(p.EndEpoch - p.StartEpoch);

/** An escrow table entry: attoFIL held for an actor, and the part of it deals have locked. */
export interface EscrowEntry {
  escrow: bigint;
  locked: bigint;
}

export class MarketActor {
  private readonly deals = new Map<number, DealEntry>();
  private readonly proposals = new Set<string>();
  /** The escrow and locked tables, by actor ID. */
  private readonly escrow = new Map<number, EscrowEntry>();
  private nextId = 0;

  /**
   * PublishStorageDeals, in the actor's order: each deal is validated (signature, provider,
   * piece, epochs, provider collateral bounds), its client resolved, the client's and then the
   * provider's available escrow checked against what the deal and the batch's earlier valid
   * deals need, then duplicates dropped. An invalid deal is dropped with its reason (as the
   * actor does); the valid ones lock their amounts and get IDs, returned with their indexes.
   * Throws when none is valid.
   */
  publish(epoch: number, caller: string, deals: ClientDealProposal[], env: PublishEnv): { ids: number[]; valid: number[]; rejected: string[] } {
    if (deals.length === 0) throw illegal('empty deals parameter');
    const ids: number[] = [];
    const valid: number[] = [];
    const rejected: string[] = [];
    const inBatch = new Set<string>();
    // What the batch's valid deals lock, by actor ID (the actor's total_client_lockup and total_provider_lockup).
    const clientLockups = new Map<number, bigint>();
    const providerLockups = new Map<number, bigint>();
    const lock: [number, bigint][] = [];
    deals.forEach((d, i) => {
      const p = d.Proposal;
      const why = this.check(epoch, caller, d, env);
      if (why) {
        rejected.push(`deal ${i}: ${why}`);
        return;
      }
      const clientId = env.clientId(p.Client);
      if (clientId === undefined) {
        rejected.push(`deal ${i}: failed to resolve proposal.client address ${p.Client} for deal`);
        return;
      }
      const providerId = env.provider(p.Provider)!.id;
      const clientLockup = (clientLockups.get(clientId) ?? 0n) + clientBalanceRequirement(p);
      if (!this.covered(clientId, clientLockup)) {
        rejected.push(`deal ${i}: insufficient client funds to cover proposal cost (client t0${clientId} needs ${clientLockup} attoFIL available in escrow, has ${this.available(clientId)})`);
        return;
      }
      const providerLockup = (providerLockups.get(providerId) ?? 0n) + BigInt(p.ProviderCollateral);
      if (!this.covered(providerId, providerLockup)) {
        rejected.push(
          `deal ${i}: insufficient provider funds to cover proposal cost (provider t0${providerId} needs ${providerLockup} attoFIL available in escrow, has ${this.available(providerId)})`,
        );
        return;
      }
      // As the actor: the proposal is kept with ID addresses (after the signature was checked,
      // before its CID is taken), so StateMarketStorageDeal answers the client as t0….
      const prefix = p.Client[0];
      const stored: DealProposal = { ...p, Client: `${prefix}0${clientId}`, Provider: `${prefix}0${providerId}` };
      const cid = cborCid(dealProposalCbor(stored))['/'];
      if (this.proposals.has(cid) || inBatch.has(cid)) {
        rejected.push(`deal ${i}: cannot publish duplicate deal proposal ${cid}`);
        return;
      }
      clientLockups.set(clientId, clientLockup);
      providerLockups.set(providerId, providerLockup);
      lock.push([clientId, clientBalanceRequirement(p)], [providerId, BigInt(p.ProviderCollateral)]);
      inBatch.add(cid);
      const id = this.nextId++;
      this.deals.set(id, { proposal: stored, proposalCid: cid, sectorStartEpoch: -1, sectorNumber: -1, lastUpdatedEpoch: -1, slashEpoch: -1 });
      this.proposals.add(cid);
      ids.push(id);
      valid.push(i);
    });
    if (ids.length === 0) throw illegal(`all deals are invalid: ${rejected.join('; ')}`);
    for (const [id, amount] of lock) this.entry(id).locked += amount;
    return { ids, valid, rejected };
  }

  /** The stateless checks of a deal (builtin-actors validate_deal, and the caller's control of the provider). */
  private check(epoch: number, caller: string, d: ClientDealProposal, env: PublishEnv): string | null {
    const p = d.Proposal;
    const miner = env.provider(p.Provider);
    if (!miner) return `provider ${p.Provider} is not a miner`;
    if (!miner.isController(caller)) return `caller ${caller} is not the worker or owner of provider ${p.Provider}`;
    try {
      proofs.cidToCommP(p.PieceCID['/']);
    } catch (e) {
      return `PieceCID is not a piece commitment: ${(e as Error).message}`;
    }
    if (!isPow2(p.PieceSize) || p.PieceSize < 128) return `piece size ${p.PieceSize} is not a power of two ≥ 128`;
    if (p.PieceSize > miner.sectorSize) return `piece size ${p.PieceSize} exceeds the provider's sector size ${miner.sectorSize}`;
    if (p.StartEpoch < epoch) return `deal start epoch ${p.StartEpoch} has already elapsed (now ${epoch})`;
    if (p.EndEpoch <= p.StartEpoch) return `deal end epoch ${p.EndEpoch} is not after its start ${p.StartEpoch}`;
    const duration = p.EndEpoch - p.StartEpoch;
    if (duration < DEAL_MIN_DURATION || duration > DEAL_MAX_DURATION) return `deal duration out of bounds: ${duration} is not within ${DEAL_MIN_DURATION}..${DEAL_MAX_DURATION} epochs`;
    let amounts: bigint[];
    try {
      amounts = [BigInt(p.StoragePricePerEpoch), BigInt(p.ProviderCollateral), BigInt(p.ClientCollateral)];
    } catch {
      return 'price and collaterals must be decimal attoFIL amounts';
    }
    if (amounts.some((a) => a < 0n)) return 'price and collaterals must not be negative';
    const bounds = providerCollateralBounds(p.PieceSize, env.networkRawPower);
    if (amounts[1] < bounds.min || amounts[1] > bounds.max) return `Provider collateral out of bounds (${amounts[1]} attoFIL; the bounds for ${p.PieceSize} bytes are ${bounds.min} to ${bounds.max})`;
    if (amounts[2] > TOTAL_FILECOIN) return 'Client collateral out of bounds';
    let client;
    try {
      client = parseAddress(p.Client);
    } catch (e) {
      return `client address: ${(e as Error).message}`;
    }
    if (client.protocol !== 1 && client.protocol !== 3) return `client ${p.Client} must be a key address (f1/f3) for the devnet to check its signature`;
    const sigErr = verifySignature(p.Client, dealProposalCbor(p), d.ClientSignature);
    if (sigErr) return `bad client signature: ${sigErr}`;
    return null;
  }

  // ---------------------------------------------------------------- escrow

  private entry(id: number): EscrowEntry {
    let e = this.escrow.get(id);
    if (!e) this.escrow.set(id, (e = { escrow: 0n, locked: 0n }));
    return e;
  }

  /** builtin-actors balance_covered: locked + amount ≤ escrow. */
  private covered(id: number, amount: bigint): boolean {
    const e = this.escrow.get(id);
    return (e?.locked ?? 0n) + amount <= (e?.escrow ?? 0n);
  }

  private available(id: number): bigint {
    const e = this.escrow.get(id);
    return e ? e.escrow - e.locked : 0n;
  }

  /** AddBalance's credit, once the caller has checked the value and resolved the address to `id`. */
  addBalance(id: number, value: bigint): void {
    if (value <= 0n) throw illegal(`balance to add must be greater than zero was: ${value}`);
    this.entry(id).escrow += value;
  }

  /** StateMarketBalance: zeros for an actor without an entry. */
  balance(id: number): EscrowEntry {
    const e = this.escrow.get(id);
    return { escrow: e?.escrow ?? 0n, locked: e?.locked ?? 0n };
  }

  /** All escrow held (the market actor's own balance: the devnet moves no other funds to it). */
  totalEscrow(): bigint {
    let t = 0n;
    for (const e of this.escrow.values()) t += e.escrow;
    return t;
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
    if (d.proposal.PieceCID['/'] !== n.pieceCid || d.proposal.PieceSize !== n.pieceSize)
      throw illegal(`deal ${n.dealId} is for piece ${d.proposal.PieceCID['/']} (${d.proposal.PieceSize} bytes), not ${n.pieceCid} (${n.pieceSize} bytes)`);
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
    return { nextId: this.nextId, deals: [...this.deals.entries()], escrow: [...this.escrow.entries()].map(([id, e]) => [id, e.escrow.toString(), e.locked.toString()]) };
  }

  static fromJSON(j: unknown): MarketActor {
    const m = new MarketActor();
    if (!j) return m; // a chain directory from before the market actor existed
    // `escrow` is absent in chains from before the market kept escrow.
    const o = j as { nextId: number; deals: [number, DealEntry][]; escrow?: [number, string, string][] };
    m.nextId = o.nextId;
    for (const [id, d] of o.deals) {
      m.deals.set(id, d);
      m.proposals.add(d.proposalCid);
    }
    for (const [id, escrow, locked] of o.escrow ?? []) m.escrow.set(id, { escrow: BigInt(escrow), locked: BigInt(locked) });
    return m;
  }
}
