// lotus-miner's [Fees]: the most each kind of message may cost, as MpoolPushMessage's
// MessageSendSpec.MaxFee, and the FIL amounts config.toml writes them in. Used by the PoSt
// sender (src/post/sender.ts), the seal pipeline (src/sealing/lotus-chain.ts) and the settings.
import type { MessageSendSpec } from './api-types.js';

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

/** attoFIL as Lotus's types.FIL prints it: "1.5 FIL", "0.000000000000000001 FIL", "0 FIL". */
export function formatFil(atto: bigint): string {
  const neg = atto < 0n;
  const a = neg ? -atto : atto;
  const frac = (a % FIL).toString().padStart(18, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${a / FIL}${frac ? `.${frac}` : ''} FIL`;
}
