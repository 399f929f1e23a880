// Who sends a PoSt message and what it may cost, like lotus-miner: the sender is picked from
// the miner's control addresses (StateMinerInfo.ControlAddresses, set with `lotus-miner actor
// control set`), falling back to the worker, as Lotus's AddressSelector does for PoSt
// messages; the fee is capped with MpoolPushMessage's MessageSendSpec.MaxFee from the
// configured [Fees] limits (src/chain/fees.ts).
import type { MinerInfo } from '../chain/api-types.js';
import type { Logger } from '../log.js';

/** What sender selection needs from the chain node. */
export interface BalanceSource {
  /** WalletBalance: attoFIL as a decimal string (any address, also not in the wallet). */
  call<T>(method: string, params?: unknown[]): Promise<T>;
}

/**
 * The addresses that may send a PoSt message, in the order Lotus's AddressSelector tries
 * them for PoSt: the control addresses other than the owner and worker, then the worker.
 */
export function postSenders(mi: Pick<MinerInfo, 'Owner' | 'Worker' | 'ControlAddresses'>): string[] {
  const ctl = (mi.ControlAddresses ?? []).filter((a) => a !== mi.Owner && a !== mi.Worker);
  return [...new Set([...ctl, mi.Worker])];
}

/**
 * Picks the sender: the first candidate with at least `goodFunds`, else the richest one with
 * at least `minFunds`, else the worker (the message may then still be refused for funds, with
 * the node's own error). A candidate whose balance cannot be read is passed over. The chosen
 * sender's balance comes with it when it could be read (the wallet-balance metric shows it).
 */
export async function pickSender(
  node: BalanceSource,
  mi: Pick<MinerInfo, 'Owner' | 'Worker' | 'ControlAddresses'>,
  goodFunds: bigint,
  minFunds: bigint,
  log?: Logger,
): Promise<{ from: string; balance?: bigint; why: string }> {
  const candidates = postSenders(mi);
  const only = candidates.length === 1;
  let best: { from: string; balance: bigint } | undefined;
  let worker: bigint | undefined;
  for (const a of candidates) {
    let bal: bigint;
    try {
      bal = BigInt(await node.call<string>('WalletBalance', [a]));
    } catch (e) {
      log?.warn({ address: a, err: e }, only ? "cannot read the worker's balance" : 'cannot read the balance of a PoSt sender candidate: passing it over');
      continue;
    }
    if (only) return { from: a, balance: bal, why: 'worker (no control address set)' };
    if (a === mi.Worker) worker = bal;
    if (bal >= goodFunds) return { from: a, balance: bal, why: a === mi.Worker ? 'worker (no control address has the funds)' : 'control address with the funds' };
    if (bal >= minFunds && (!best || bal > best.balance)) best = { from: a, balance: bal };
  }
  if (only) return { from: mi.Worker, why: 'worker (no control address set)' };
  if (best) return { ...best, why: 'richest sender above the minimum funds' };
  return { from: mi.Worker, balance: worker, why: 'no candidate has the funds: worker' };
}
