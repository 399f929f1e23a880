// Who sends a PoSt message and what it may cost, like lotus-miner: the sender is picked from
// the miner's control addresses (StateMinerInfo.ControlAddresses, set with `lotus-miner actor
// control set`), falling back to the worker, as Lotus's AddressSelector does for PoSt
// messages; the fee is capped with MpoolPushMessage's MessageSendSpec.MaxFee from the
// configured [Fees] limits.
import type { MessageSendSpec, MinerInfo } from '../chain/types.js';
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
 * the node's own error). A candidate whose balance cannot be read is passed over.
 */
export async function pickSender(
  node: BalanceSource,
  mi: Pick<MinerInfo, 'Owner' | 'Worker' | 'ControlAddresses'>,
  goodFunds: bigint,
  minFunds: bigint,
  log?: Logger,
): Promise<{ from: string; balance?: bigint; why: string }> {
  const candidates = postSenders(mi);
  if (candidates.length === 1) return { from: mi.Worker, why: 'worker (no control address set)' };
  let best: { from: string; balance: bigint } | undefined;
  for (const a of candidates) {
    let bal: bigint;
    try {
      bal = BigInt(await node.call<string>('WalletBalance', [a]));
    } catch (e) {
      log?.warn({ address: a, err: (e as Error).message }, 'cannot read the balance of a PoSt sender candidate: passing it over');
      continue;
    }
    if (bal >= goodFunds) return { from: a, balance: bal, why: a === mi.Worker ? 'worker (no control address has the funds)' : 'control address with the funds' };
    if (bal >= minFunds && (!best || bal > best.balance)) best = { from: a, balance: bal };
  }
  if (best) return { ...best, why: 'richest sender above the minimum funds' };
  return { from: mi.Worker, why: 'no candidate has the funds: worker' };
}

/**
 * Fee caps in attoFIL, as lotus-miner's [Fees] (same keys in config.toml, same defaults):
 * a single message's cap, or Base + PerSector × sectors for a batch.
 */
export interface FeeCaps {
  /** SubmitWindowedPoSt, DeclareFaults, DeclareFaultsRecovered (Lotus caps all three with it). */
  windowPoSt: bigint;
  preCommit: bigint;
  commit: bigint;
  terminate: bigint;
  publishDeals: bigint;
  marketBalanceAdd: bigint;
  preCommitBatch: { base: bigint; perSector: bigint };
  commitBatch: { base: bigint; perSector: bigint };
}

export type FeeKind = Exclude<keyof FeeCaps, 'preCommitBatch' | 'commitBatch'>;

const FIL = 10n ** 18n;
const milli = FIL / 1000n;

/** lotus-miner's defaults (node/config/def.go). */
export const DEFAULT_FEE_CAPS: Readonly<FeeCaps> = Object.freeze({
  windowPoSt: 5n * FIL,
  preCommit: 25n * milli,
  commit: 50n * milli,
  terminate: 500n * milli,
  publishDeals: 50n * milli,
  marketBalanceAdd: 7n * milli,
  preCommitBatch: { base: 0n, perSector: 20n * milli },
  commitBatch: { base: 0n, perSector: 30n * milli },
});

/** The MessageSendSpec of one message of a kind. */
export function sendSpec(caps: FeeCaps, kind: FeeKind): MessageSendSpec {
  return { MaxFee: caps[kind].toString() };
}

/** The MessageSendSpec of a batch of `sectors` sectors (Base + PerSector × sectors). */
export function batchSendSpec(caps: FeeCaps, kind: 'preCommitBatch' | 'commitBatch', sectors: number): MessageSendSpec {
  const c = caps[kind];
  return { MaxFee: (c.base + c.perSector * BigInt(sectors)).toString() };
}

const UNITS: Record<string, bigint> = { fil: FIL, millifil: 10n ** 15n, microfil: 10n ** 12n, nanofil: 10n ** 9n, picofil: 10n ** 6n, femtofil: 10n ** 3n, attofil: 1n };

/**
 * Parses an amount as Lotus's types.ParseFIL does: "5 FIL", "0.025 FIL", "5" (FIL),
 * "25 milliFIL", "1000 attoFIL"; at most 18 decimals, never negative. Returns attoFIL.
 */
export function parseFil(text: string): bigint {
  const m = /^\s*(\d+)(?:\.(\d+))?\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) throw new Error(`"${text}" is not an amount of FIL (like "5 FIL", "0.025 FIL", "1000 attoFIL")`);
  const unit = UNITS[(m[3] || 'fil').toLowerCase()];
  if (unit === undefined) throw new Error(`"${text}": unknown unit ${m[3]} (FIL, milliFIL, microFIL, nanoFIL, picoFIL, femtoFIL, attoFIL)`);
  const frac = m[2] ?? '';
  const scale = unit.toString().length - 1; // decimals the unit allows
  if (frac.length > scale) throw new Error(`"${text}": more decimals than an attoFIL allows`);
  return BigInt(m[1]) * unit + (frac ? BigInt(frac.padEnd(scale, '0')) : 0n);
}
