// Deal proposals in Lotus's shapes: `market.DealProposal` (JSON field names, CBOR tuple order)
// and `market.ClientDealProposal` (proposal + the client's signature over the proposal's CBOR).
// The deal request a client POSTs wraps one with the transfer size, like Boost's DealParams.
import { type ClientDealProposal, type DealProposal, dealProposalCbor } from '../chain/market.js';
import { AddressProtocol, parseAddress } from '../chain/address.js';
import { cborCid } from '../chain/cid.js';
import { bigFromJson } from '../chain/encoding.js';
import { cidToCommP, commPToCid } from '../proofs/cid.js';
import { unpaddedSize } from '../proofs/types.js';
import { type Signature, verifySignature } from './keys.js';

export type { ClientDealProposal, DealProposal } from '../chain/market.js';

/** What a client POSTs to /deals/proposal. */
export interface DealRequest {
  deal: ClientDealProposal;
  /** Bytes the client will upload (≤ the unpadded piece size; the rest is zero fill). */
  transferSize: number;
}

/** A rejected request: an HTTP status and a reason meant for the person who sent it. */
export class DealRejected extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'DealRejected';
  }
}

/** The bytes the client signs: the proposal's CBOR, field order as Lotus's DealProposal. */
export const proposalCbor = dealProposalCbor;

/** The proposal CID (dag-cbor, blake2b-256), as Lotus names a proposal. */
export function proposalCid(p: DealProposal): string {
  return cborCid(proposalCbor(p))['/'];
}

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x);
const isPow2 = (n: number) => n > 0 && 2 ** Math.round(Math.log2(n)) === n;

function sameActor(a: string, b: string): boolean {
  try {
    const pa = parseAddress(a);
    const pb = parseAddress(b);
    return pa.protocol === pb.protocol && pa.payload.equals(pb.payload);
  } catch {
    return false;
  }
}

export interface ValidationContext {
  /** The miner this deal server takes deals for (f0…/t0…). */
  minerId: string;
  /** Sector size in bytes: the largest piece one deal may hold. */
  sectorSize: number;
}

export interface CheckedDeal {
  proposal: DealProposal;
  signature: Signature;
  proposalCid: string;
  commP: Buffer;
  pieceCid: string;
  pieceSize: number;
  transferSize: number;
}

/**
 * Checks a deal request completely (shape, sizes, provider, signature) and returns it typed,
 * or throws DealRejected with the reason. Nothing is stored before this passes.
 */
export function checkDealRequest(body: unknown, ctx: ValidationContext): CheckedDeal {
  const bad = (msg: string, status = 400): never => {
    throw new DealRejected(status, msg);
  };
  const req = body as DealRequest;
  if (!req || typeof req !== 'object' || !req.deal || typeof req.deal !== 'object') bad('the body must be {"deal": ClientDealProposal, "transferSize": N}');
  const p = req.deal.Proposal;
  const sig = req.deal.ClientSignature;
  if (!p || typeof p !== 'object') bad('deal.Proposal is missing');
  if (!sig || typeof sig !== 'object') bad('deal.ClientSignature is missing');
  if (!p.PieceCID || typeof p.PieceCID['/'] !== 'string') bad('Proposal.PieceCID must be {"/": "baga…"}');
  let commP: Buffer = Buffer.alloc(0);
  try {
    commP = cidToCommP(p.PieceCID['/']);
  } catch (e) {
    bad(`Proposal.PieceCID is not a piece CID: ${(e as Error).message}`);
  }
  if (!isInt(p.PieceSize) || p.PieceSize < 128 || !isPow2(p.PieceSize)) bad(`Proposal.PieceSize ${JSON.stringify(p.PieceSize)} is not a padded piece size (a power of two ≥ 128)`);
  if (p.PieceSize > ctx.sectorSize) {
    bad(`Proposal.PieceSize ${p.PieceSize} is larger than this miner's sector size ${ctx.sectorSize}: one deal must fit one sector`, 413);
  }
  if (typeof p.VerifiedDeal !== 'boolean') bad('Proposal.VerifiedDeal must be true or false');
  for (const f of ['Client', 'Provider'] as const) {
    if (typeof p[f] !== 'string') bad(`Proposal.${f} must be an address string`);
    try {
      parseAddress(p[f]);
    } catch (e) {
      bad(`Proposal.${f}: ${(e as Error).message}`);
    }
  }
  if (parseAddress(p.Provider).protocol !== AddressProtocol.ID) bad(`Proposal.Provider ${p.Provider} must be an ID address (f0…)`);
  if (!sameActor(p.Provider, ctx.minerId)) bad(`this deal server takes deals for miner ${ctx.minerId}, not ${p.Provider}`, 404);
  if (typeof p.Label !== 'string' || Buffer.byteLength(p.Label) > 256) bad('Proposal.Label must be a string of at most 256 bytes');
  if (!isInt(p.StartEpoch) || p.StartEpoch < 0) bad('Proposal.StartEpoch must be a non-negative integer');
  if (!isInt(p.EndEpoch) || p.EndEpoch <= p.StartEpoch) bad('Proposal.EndEpoch must be an integer after StartEpoch');
  for (const f of ['StoragePricePerEpoch', 'ProviderCollateral', 'ClientCollateral'] as const) {
    let v = -1n;
    try {
      v = bigFromJson(p[f], f);
    } catch (e) {
      bad(`Proposal.${(e as Error).message}`);
    }
    if (v < 0n) bad(`Proposal.${f} must not be negative`);
  }
  const unpadded = unpaddedSize(p.PieceSize);
  if (!isInt(req.transferSize) || req.transferSize < 1 || req.transferSize > unpadded) {
    bad(`transferSize must be an integer from 1 to ${unpadded} (the unpadded size of a ${p.PieceSize}-byte piece), got ${JSON.stringify(req.transferSize)}`);
  }
  const sigErr = verifySignature(p.Client, proposalCbor(p), sig);
  if (sigErr) bad(`bad client signature: ${sigErr}`, 401);
  return {
    proposal: p,
    signature: sig,
    proposalCid: proposalCid(p),
    commP,
    pieceCid: commPToCid(commP),
    pieceSize: p.PieceSize,
    transferSize: req.transferSize,
  };
}
