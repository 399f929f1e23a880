// Market escrow on a real chain: what a storage client and a deal miner put into the storage
// market actor (f05) before a deal can be published. The market actor checks, at
// PublishStorageDeals, that the client's escrow covers its collateral and the whole storage fee
// and that the provider's covers its collateral, and locks them; a deal whose party is short is
// dropped from the batch (the provider still pays the message's gas).
//
// - The client funds its own escrow with AddBalance (market method 2) from its own key: the
//   message is built here, its gas estimated by the node (GasEstimateMessageGas), signed with
//   the client's key as Lotus's wallet signs (secp256k1: blake2b-256 of the message CID's bytes,
//   recoverable; BLS: the CID's bytes) and pushed with MpoolPush, so any node serves, and the
//   client's key never leaves the client.
// - The provider's side: a proposal is refused when the client's available escrow does not
//   cover it together with the client's deals not yet published, or when its provider
//   collateral is outside the market's bounds or above twice its minimum (`proposalProblem`,
//   asked by the deal server);
//   before publishing, the deal flow tops up the miner's own escrow from its worker
//   (AddBalance through the node's wallet, as lotus-miner's and Boost's fund managers do) and
//   fails the deals whose client's escrow no longer covers them, so no gas goes on a deal the
//   actor would drop (src/deals/coordinator.ts).
import { type ChainClient, RpcError } from '../chain/client.js';
import { messageCid } from '../chain/crypto.js';
import { DEAL_MAX_DURATION, DEAL_MIN_DURATION, type DealProposal, MARKET_ACTOR_ID, MarketMethod } from '../chain/market.js';
import { formatFil } from '../chain/fees.js';
import { addressBytes, idAddress, type Network } from '../chain/address.js';
import type { Message, MessageSendSpec } from '../chain/api-types.js';
import { cborEncode } from '../chain/cbor.js';
import { type Cid, cidBytes } from '../chain/cid.js';
import { b64 } from '../chain/encoding.js';
import { type ClientKey, sign } from './keys.js';

export interface MarketBalance {
  /** attoFIL in escrow, locked included. */
  escrow: bigint;
  /** attoFIL locked by published deals. */
  locked: bigint;
}

export async function marketBalance(chain: ChainClient, address: string): Promise<MarketBalance> {
  const b = await chain.call<{ Escrow: string; Locked: string }>('Filecoin.StateMarketBalance', [address, null]);
  return { escrow: BigInt(b.Escrow), locked: BigInt(b.Locked) };
}

/** AddBalance's params: the address whose escrow is credited. */
export function addBalanceParams(address: string): Buffer {
  return cborEncode(addressBytes(address));
}

/**
 * Sends a message from `key`'s own address, signed here: nonce from the node's message pool,
 * gas from its estimate (bounded by `spec.MaxFee`), pushed with MpoolPush. Returns the CID that
 * StateWaitMsg follows (a secp256k1-signed message's is that of the signed message).
 */
export async function pushSigned(chain: ChainClient, key: ClientKey, m: Pick<Message, 'To' | 'Method'> & { value: bigint; params: Buffer }, spec: MessageSendSpec | null = null): Promise<Cid> {
  const nonce = await chain.call<number>('Filecoin.MpoolGetNonce', [key.address]);
  const draft: Message = { Version: 0, To: m.To, From: key.address, Nonce: nonce, Value: m.value.toString(), GasLimit: 0, GasFeeCap: '0', GasPremium: '0', Method: m.Method, Params: b64(m.params) };
  const est = await chain.call<Message>('Filecoin.GasEstimateMessageGas', [draft, spec, null]);
  // Only the gas is the node's: the rest is what the client meant to send.
  const msg: Message = { ...draft, GasLimit: est.GasLimit, GasFeeCap: est.GasFeeCap, GasPremium: est.GasPremium };
  const signature = sign(key, cidBytes(messageCid(msg)));
  return chain.call<Cid>('Filecoin.MpoolPush', [{ Message: msg, Signature: signature }]);
}

/** The client's AddBalance of `amount` attoFIL into its own escrow; the message CID. */
export function clientAddBalance(chain: ChainClient, key: ClientKey, amount: bigint, network: Network, spec: MessageSendSpec | null = null): Promise<Cid> {
  if (amount <= 0n) throw new Error('the amount to add must be positive');
  return pushSigned(chain, key, { To: idAddress(MARKET_ACTOR_ID, network), Method: MarketMethod.AddBalance, value: amount, params: addBalanceParams(key.address) }, spec);
}

/** StateDealProviderCollateralBounds: what the market actor accepts as ProviderCollateral for a deal of this size. */
export async function providerCollateralBounds(chain: ChainClient, pieceSize: number, verified: boolean): Promise<{ min: bigint; max: bigint }> {
  const b = await chain.call<{ Min: string; Max: string }>('Filecoin.StateDealProviderCollateralBounds', [pieceSize, verified, null]);
  return { min: BigInt(b.Min), max: BigInt(b.Max) };
}

/** What the client pays for a deal out of its escrow: its collateral and the whole storage fee. */
export const clientDealCost = (pricePerEpoch: bigint, startEpoch: number, endEpoch: number, clientCollateral = 0n): bigint => clientCollateral + pricePerEpoch * BigInt(endEpoch - startEpoch);

/**
 * Why the market actor would refuse these terms at PublishStorageDeals — and the provider pay
 * the gas of a refused batch — or undefined. A client checks before it proposes.
 */
export function dealTermsProblem(t: { head: number; startEpoch: number; endEpoch: number; cost: bigint; available: bigint }): string | undefined {
  const terms = epochsProblem(t.head, t.startEpoch, t.endEpoch);
  if (terms) return terms;
  if (t.available < t.cost)
    return `the client's available escrow is ${formatFil(t.available)}; this deal needs ${formatFil(t.cost)}: add ${formatFil(t.cost - t.available)} with \`distminer client market add\``;
  return undefined;
}

/** A start not after the head, or a duration outside the market's bounds: why the actor would refuse the deal. */
function epochsProblem(head: number, startEpoch: number, endEpoch: number): string | undefined {
  if (startEpoch <= head) return `start epoch ${startEpoch} is not after the chain head ${head}`;
  const d = endEpoch - startEpoch;
  if (d < DEAL_MIN_DURATION || d > DEAL_MAX_DURATION) return `a deal lasts ${DEAL_MIN_DURATION} to ${DEAL_MAX_DURATION} epochs (180 to 1278 days); this one ${d}`;
  return undefined;
}

/** What a deal's terms cost each party, out of their escrow. */
export function dealCosts(p: Pick<DealProposal, 'StoragePricePerEpoch' | 'StartEpoch' | 'EndEpoch' | 'ClientCollateral' | 'ProviderCollateral'>): { client: bigint; provider: bigint } {
  return { client: clientDealCost(BigInt(p.StoragePricePerEpoch), p.StartEpoch, p.EndEpoch, BigInt(p.ClientCollateral)), provider: BigInt(p.ProviderCollateral) };
}

/**
 * The most provider collateral a proposal may ask, as a multiple of the market's minimum (Boost's
 * MaxProviderCollateralMultiplier, whose default is also 2).
 */
export const MAX_COLLATERAL_MULTIPLIER = 2;

/** The market as the deal server asks it about a proposal (the deal flow's DealChain is one). */
export interface ProposalMarket {
  head(): Promise<number>;
  balance(address: string): Promise<MarketBalance>;
  collateralBounds(pieceSize: number, verified: boolean): Promise<{ min: bigint; max: bigint }>;
}

/**
 * Why a provider should refuse this proposal on this chain, or undefined: the terms the market
 * actor would refuse at publication (start, duration, provider collateral out of bounds) and a
 * client whose available escrow does not cover this deal on top of `pendingCost` (its deals
 * accepted here and not yet published, whose funds the actor locks only at publication).
 * `status`: 402 when the client must add funds, 400 for terms.
 */
export async function proposalProblem(
  market: ProposalMarket,
  p: DealProposal,
  pendingCost: bigint,
  maxCollateralMultiplier = MAX_COLLATERAL_MULTIPLIER,
): Promise<{ status: number; reason: string } | undefined> {
  const head = await market.head();
  const cost = dealCosts(p);
  const terms = epochsProblem(head, p.StartEpoch, p.EndEpoch);
  if (terms) return { status: 400, reason: terms };
  const bounds = await market.collateralBounds(p.PieceSize, p.VerifiedDeal);
  if (cost.provider < bounds.min || cost.provider > bounds.max) {
    return { status: 400, reason: `ProviderCollateral ${cost.provider} is outside the market's bounds for a ${p.PieceSize}-byte piece: ${bounds.min}..${bounds.max} attoFIL` };
  }
  // The market's maximum is all the FIL there is: a client that asks for more than a small
  // multiple of the minimum would have the provider lock (and risk being slashed) its funds.
  const most = bounds.min * BigInt(maxCollateralMultiplier);
  if (cost.provider > most) {
    return {
      status: 400,
      reason: `ProviderCollateral ${cost.provider} is more than this provider puts up for a ${p.PieceSize}-byte piece: at most ${maxCollateralMultiplier} × the market's minimum, ${most} attoFIL`,
    };
  }
  let b: MarketBalance;
  try {
    b = await market.balance(p.Client);
  } catch (e) {
    // The node's answer for an address it cannot resolve (no actor: never funded) — no escrow.
    if (e instanceof RpcError) return { status: 402, reason: `the market has no escrow for client ${p.Client}: ${e.message}` };
    throw e;
  }
  const free = b.escrow - b.locked;
  if (free - pendingCost < cost.client) {
    const held = pendingCost > 0n ? `, of which ${formatFil(pendingCost)} is held for its deals here not yet published` : '';
    return {
      status: 402,
      reason: `the client's available escrow is ${formatFil(free)}${held}; this deal needs ${formatFil(cost.client)}: add ${formatFil(cost.client - free + pendingCost)} with \`distminer client market add\``,
    };
  }
  return undefined;
}
