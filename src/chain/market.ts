// The storage market actor's shapes (builtin-actors `market`): the DealProposal a client signs
// (Lotus JSON field names, CBOR tuple order), PublishStorageDeals (method 4 of f05) params and
// return, and the MarketDeal that StateMarketStorageDeal answers. Shared by the deal miner
// (which publishes) and the devnet (which executes and answers).
import { ParamsError } from './params.js';
import { addressBytes, addressFromBytes, type Network } from './address.js';
import { rleDecode, rleEncode } from './bitfield.js';
import { cborDecode, cborEncode } from './cbor.js';
import { CborCid, type Cid, isCid } from './cid.js';
import { bigFromCborBytes, bigFromJson, bigToCborBytes, bigToJson } from './encoding.js';

/** The storage market actor's address (f05 / t05). */
export const MARKET_ACTOR_ID = 5;

export enum MarketMethod {
  /** AddBalance(address): the value goes to that address's escrow (client or provider). */
  AddBalance = 2,
  PublishStorageDeals = 4,
}

export interface DealProposal {
  PieceCID: Cid;
  /** Padded piece size (a power of two ≥ 128). */
  PieceSize: number;
  VerifiedDeal: boolean;
  Client: string;
  Provider: string;
  Label: string;
  StartEpoch: number;
  EndEpoch: number;
  /** attoFIL, decimal strings */
  StoragePricePerEpoch: string;
  ProviderCollateral: string;
  ClientCollateral: string;
}

/** The market actor's deal duration bounds, in epochs (go-state-types market policy: 180 and 1278 days of 2880 epochs, any piece size). */
export const DEAL_MIN_DURATION = 180 * 2880;
export const DEAL_MAX_DURATION = 1278 * 2880;

/** A Filecoin signature in Lotus JSON: Type 1 secp256k1, 2 BLS; Data base64. */
export interface SignatureJson {
  Type: number;
  Data: string;
}

export interface ClientDealProposal {
  Proposal: DealProposal;
  ClientSignature: SignatureJson;
}

/** market.DealState: -1 while not yet activated / never slashed. */
export interface DealStateJson {
  /** The sector the deal was activated in (network version 21 on; sectors no longer list their deals). */
  SectorNumber?: number;
  SectorStartEpoch: number;
  LastUpdatedEpoch: number;
  SlashEpoch: number;
}

/** What StateMarketStorageDeal answers. */
export interface MarketDeal {
  Proposal: DealProposal;
  State: DealStateJson;
}

/** The proposal as a CBOR tuple, field order as Lotus's DealProposal. */
function proposalTuple(p: DealProposal): unknown[] {
  return [
    new CborCid(p.PieceCID),
    p.PieceSize,
    p.VerifiedDeal,
    addressBytes(p.Client),
    addressBytes(p.Provider),
    p.Label,
    p.StartEpoch,
    p.EndEpoch,
    bigToCborBytes(bigFromJson(p.StoragePricePerEpoch, 'StoragePricePerEpoch')),
    bigToCborBytes(bigFromJson(p.ProviderCollateral, 'ProviderCollateral')),
    bigToCborBytes(bigFromJson(p.ClientCollateral, 'ClientCollateral')),
  ];
}

/** The bytes the client signs: the proposal's CBOR. */
export function dealProposalCbor(p: DealProposal): Buffer {
  return cborEncode(proposalTuple(p));
}

/** crypto.Signature's CBOR form: one byte string, the type byte then the signature. */
function signatureBytes(s: SignatureJson): Buffer {
  return Buffer.concat([Buffer.from([s.Type]), Buffer.from(s.Data, 'base64')]);
}

/** PublishStorageDealsParams{Deals []ClientDealProposal}. */
export function encodePublishStorageDeals(deals: ClientDealProposal[]): Buffer {
  return cborEncode([deals.map((d) => [proposalTuple(d.Proposal), signatureBytes(d.ClientSignature)])]);
}

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x);
const num = (v: unknown, what: string, signed = false): number => {
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (!isInt(n) || (!signed && n < 0)) throw new ParamsError(`${what}: expected an ${signed ? '' : 'unsigned '}integer`);
  return n;
};
const bytes = (v: unknown, what: string): Buffer => {
  if (!(v instanceof Uint8Array)) throw new ParamsError(`${what}: expected bytes`);
  return Buffer.from(v);
};

function decode(b: Uint8Array): unknown {
  try {
    return cborDecode(b);
  } catch (e) {
    throw new ParamsError(`params are not valid CBOR: ${(e as Error).message}`);
  }
}

/** Strict decoder of PublishStorageDealsParams (the devnet's market actor). */
export function decodePublishStorageDeals(b: Uint8Array, network: Network = 'testnet'): ClientDealProposal[] {
  const top = decode(b);
  if (!Array.isArray(top) || top.length !== 1 || !Array.isArray(top[0])) throw new ParamsError('PublishStorageDealsParams: expected a tuple of 1 field (Deals)');
  return (top[0] as unknown[]).map((d, i) => {
    const w = `Deals[${i}]`;
    if (!Array.isArray(d) || d.length !== 2) throw new ParamsError(`${w}: expected [Proposal, ClientSignature]`);
    const Proposal = decodeDealProposal(d[0], w, network);
    const sig = bytes(d[1], `${w}.ClientSignature`);
    if (sig.length < 2) throw new ParamsError(`${w}.ClientSignature: too short`);
    return { Proposal, ClientSignature: { Type: sig[0], Data: sig.subarray(1).toString('base64') } };
  });
}

/** A DealProposal from its decoded CBOR tuple (`w` names it in errors), in Lotus JSON. */
export function decodeDealProposal(t: unknown, w: string, network: Network = 'testnet'): DealProposal {
  if (!Array.isArray(t) || t.length !== 11) throw new ParamsError(`${w}.Proposal: expected a tuple of 11 fields`);
  if (!isCid(t[0])) throw new ParamsError(`${w}.PieceCID: expected a CID`);
  if (typeof t[2] !== 'boolean') throw new ParamsError(`${w}.VerifiedDeal: expected a boolean`);
  // Label is a DealLabel: a text string (or, since nv17, bytes); the devnet takes text.
  if (typeof t[5] !== 'string') throw new ParamsError(`${w}.Label: expected a text string`);
  const addr = (v: unknown, f: string) => {
    try {
      return addressFromBytes(bytes(v, `${w}.${f}`), network);
    } catch (e) {
      throw new ParamsError(`${w}.${f}: ${(e as Error).message}`);
    }
  };
  const big = (v: unknown, f: string) => bigToJson(bigFromCborBytes(bytes(v, `${w}.${f}`)));
  return {
    PieceCID: t[0],
    PieceSize: num(t[1], `${w}.PieceSize`),
    VerifiedDeal: t[2],
    Client: addr(t[3], 'Client'),
    Provider: addr(t[4], 'Provider'),
    Label: t[5],
    StartEpoch: num(t[6], `${w}.StartEpoch`, true),
    EndEpoch: num(t[7], `${w}.EndEpoch`, true),
    StoragePricePerEpoch: big(t[8], 'StoragePricePerEpoch'),
    ProviderCollateral: big(t[9], 'ProviderCollateral'),
    ClientCollateral: big(t[10], 'ClientCollateral'),
  };
}

/** PublishStorageDealsReturn{IDs []DealID, ValidDeals bitfield}: IDs of the valid deals, in order. */
export interface PublishReturn {
  IDs: number[];
  /** Indexes (into the params' deals) of the deals that were valid and got the IDs. */
  ValidDeals: number[];
}

export function encodePublishReturn(r: PublishReturn): Buffer {
  return cborEncode([r.IDs, rleEncode(r.ValidDeals)]);
}

export function decodePublishReturn(b: Uint8Array): PublishReturn {
  const t = decode(b);
  if (!Array.isArray(t) || t.length !== 2 || !Array.isArray(t[0])) throw new ParamsError('PublishStorageDealsReturn: expected [IDs, ValidDeals]');
  const ids = (t[0] as unknown[]).map((x, i) => num(x, `IDs[${i}]`));
  const valid = rleDecode(bytes(t[1], 'ValidDeals'));
  if (valid.length !== ids.length) throw new ParamsError(`PublishStorageDealsReturn: ${ids.length} IDs for ${valid.length} valid deals`);
  return { IDs: ids, ValidDeals: valid };
}
