// Market escrow on a real chain: what a storage client and a deal miner put into the storage
// market actor (f05) before a deal can be published. The market actor checks, at
// PublishStorageDeals, that the client's escrow covers its collateral and the whole storage fee
// and that the provider's covers its collateral, and locks them; a deal whose party is short is
// refused for the whole batch.
//
// - The client funds its own escrow with AddBalance (market method 2) from its own key: the
//   message is built here, its gas estimated by the node (GasEstimateMessageGas), signed with
//   the client's key as Lotus's wallet signs (secp256k1: blake2b-256 of the message CID's bytes,
//   recoverable; BLS: the CID's bytes) and pushed with MpoolPush, so any node serves, and the
//   client's key never leaves the client.
// - The provider's side (its collateral, funded from its worker, and the checks at proposal
//   time) is not done yet: the deal role publishes on the embedded devnet, whose market keeps
//   no escrow.
import type { ChainClient } from '../chain/client.js';
import { messageCid } from '../chain/crypto.js';
import { DEAL_MAX_DURATION, DEAL_MIN_DURATION, MARKET_ACTOR_ID, MarketMethod } from '../chain/market.js';
import { formatFil } from '../chain/fees.js';
import { type Cid, type Message, type MessageSendSpec, addressBytes, b64, cborEncode, cidBytes, idAddress, type Network } from '../chain/types.js';
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
  if (t.startEpoch <= t.head) return `start epoch ${t.startEpoch} is not after the chain head ${t.head}`;
  const d = t.endEpoch - t.startEpoch;
  if (d < DEAL_MIN_DURATION || d > DEAL_MAX_DURATION) return `a deal lasts ${DEAL_MIN_DURATION} to ${DEAL_MAX_DURATION} epochs (180 to 1278 days); this one ${d}`;
  if (t.available < t.cost) return `the client's available escrow is ${formatFil(t.available)}; this deal needs ${formatFil(t.cost)}: add ${formatFil(t.cost - t.available)} with \`distminer client market add\``;
  return undefined;
}
