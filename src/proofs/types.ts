// Proof types, sizes and value shapes, named and numbered as Lotus (go-state-types abi) and
// filecoin-ffi name and number them.

/** abi.RegisteredSealProof */
export enum RegisteredSealProof {
  StackedDrg2KiBV1 = 0,
  StackedDrg8MiBV1 = 1,
  StackedDrg512MiBV1 = 2,
  StackedDrg32GiBV1 = 3,
  StackedDrg64GiBV1 = 4,
  StackedDrg2KiBV1_1 = 5,
  StackedDrg8MiBV1_1 = 6,
  StackedDrg512MiBV1_1 = 7,
  StackedDrg32GiBV1_1 = 8,
  StackedDrg64GiBV1_1 = 9,
}

/**
 * abi.RegisteredPoStProof. The Window PoSt types numbered 10..14 are what the chain calls
 * `StackedDrgWindow*V1_1` and the proofs library calls `StackedDrgWindow*V1_2` (the
 * grinding fix); both names are accepted by {@link parsePoStProof}.
 */
export enum RegisteredPoStProof {
  StackedDrgWinning2KiBV1 = 0,
  StackedDrgWinning8MiBV1 = 1,
  StackedDrgWinning512MiBV1 = 2,
  StackedDrgWinning32GiBV1 = 3,
  StackedDrgWinning64GiBV1 = 4,
  StackedDrgWindow2KiBV1 = 5,
  StackedDrgWindow8MiBV1 = 6,
  StackedDrgWindow512MiBV1 = 7,
  StackedDrgWindow32GiBV1 = 8,
  StackedDrgWindow64GiBV1 = 9,
  StackedDrgWindow2KiBV1_1 = 10,
  StackedDrgWindow8MiBV1_1 = 11,
  StackedDrgWindow512MiBV1_1 = 12,
  StackedDrgWindow32GiBV1_1 = 13,
  StackedDrgWindow64GiBV1_1 = 14,
}

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

const SIZES = [2 * KiB, 8 * MiB, 512 * MiB, 32 * GiB, 64 * GiB] as const;
const SIZE_NAMES = ['2KiB', '8MiB', '512MiB', '32GiB', '64GiB'] as const;

/** Sector size in bytes of a seal proof type. */
export function sealProofSectorSize(p: RegisteredSealProof): number {
  assertSealProof(p);
  return SIZES[p % 5];
}

export function postProofSectorSize(p: RegisteredPoStProof): number {
  assertPoStProof(p);
  return SIZES[p % 5];
}

export function sectorSizeName(bytes: number): string {
  const i = SIZES.indexOf(bytes as (typeof SIZES)[number]);
  if (i < 0) throw new ProofsError(`unsupported sector size ${bytes}`, 'caller');
  return SIZE_NAMES[i];
}

/** Parses "2KiB", "32GiB", "2048", ... into bytes. */
export function parseSectorSize(s: string): number {
  const i = (SIZE_NAMES as readonly string[]).indexOf(s);
  if (i >= 0) return SIZES[i];
  const n = Number(s);
  if (SIZES.includes(n as (typeof SIZES)[number])) return n;
  throw new ProofsError(`unsupported sector size "${s}" (one of ${SIZE_NAMES.join(', ')})`, 'caller');
}

/** The seal proof type Lotus uses today (V1_1) for a sector size. */
export function sealProofForSectorSize(bytes: number): RegisteredSealProof {
  const i = SIZES.indexOf(bytes as (typeof SIZES)[number]);
  if (i < 0) throw new ProofsError(`unsupported sector size ${bytes}`, 'caller');
  return (5 + i) as RegisteredSealProof;
}

export function winningPoStProofFor(seal: RegisteredSealProof): RegisteredPoStProof {
  assertSealProof(seal);
  return (seal % 5) as RegisteredPoStProof;
}

export function windowPoStProofFor(seal: RegisteredSealProof): RegisteredPoStProof {
  assertSealProof(seal);
  return (10 + (seal % 5)) as RegisteredPoStProof;
}

export function isWinningPoSt(p: RegisteredPoStProof): boolean {
  return p >= 0 && p <= 4;
}

export function parseSealProof(name: string | number): RegisteredSealProof {
  if (typeof name === 'number') return assertSealProof(name);
  const v = (RegisteredSealProof as unknown as Record<string, number>)[name];
  if (v === undefined) throw new ProofsError(`unknown seal proof type "${name}"`, 'caller');
  return v;
}

export function parsePoStProof(name: string | number): RegisteredPoStProof {
  if (typeof name === 'number') return assertPoStProof(name);
  const n = name.replace(/^(StackedDrgWindow\w+?)V1_2$/, '$1V1_1');
  const v = (RegisteredPoStProof as unknown as Record<string, number>)[n];
  if (v === undefined) throw new ProofsError(`unknown PoSt proof type "${name}"`, 'caller');
  return v;
}

export function assertSealProof(p: number): RegisteredSealProof {
  if (!Number.isInteger(p) || p < 0 || p > 9) throw new ProofsError(`unknown RegisteredSealProof ${p}`, 'caller');
  return p;
}

export function assertPoStProof(p: number): RegisteredPoStProof {
  if (!Number.isInteger(p) || p < 0 || p > 14) throw new ProofsError(`unknown RegisteredPoStProof ${p}`, 'caller');
  return p;
}

/** Sector numbers: JS numbers (safe integers) out; number or bigint accepted in. */
export type SectorNumber = number | bigint;

export function toSectorNumber(n: SectorNumber, what = 'sector number'): number {
  const v = typeof n === 'bigint' ? Number(n) : n;
  if (!Number.isSafeInteger(v) || v < 0 || (typeof n === 'bigint' && BigInt(v) !== n)) {
    throw new ProofsError(`${what} ${String(n)} is not a non-negative safe integer`, 'caller');
  }
  return v;
}

export interface PieceInfo {
  /** Padded piece size in bytes (a power of two, at least 128). */
  size: number;
  /** Piece commitment (CommP), 32 bytes. */
  commP: Buffer;
}

export interface PrivateReplicaInfo {
  sectorNumber: SectorNumber;
  commR: Buffer;
  cacheDir: string;
  sealedPath: string;
  postProof: RegisteredPoStProof;
}

export interface PublicReplicaInfo {
  sectorNumber: SectorNumber;
  commR: Buffer;
  postProof: RegisteredPoStProof;
}

/** Lotus's proof.PoStProof. */
export interface PoStProof {
  postProof: RegisteredPoStProof;
  proofBytes: Buffer;
}

/** The outcome of a verify call: `reason` says why a proof was rejected. */
export interface Verdict {
  valid: boolean;
  reason: string;
}

/** Where a failure came from, as filecoin-ffi's status codes say it. */
export type ProofsErrorKind = 'caller' | 'receiver' | 'unclassified' | 'params' | 'faulty-sectors';

export class ProofsError extends Error {
  constructor(
    message: string,
    readonly kind: ProofsErrorKind,
    readonly hint?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ProofsError';
  }
}

/** Window PoSt could not read some sectors: the caller should declare them faulty. */
export class FaultySectorsError extends ProofsError {
  constructor(
    message: string,
    readonly sectors: number[],
  ) {
    super(message, 'faulty-sectors');
    this.name = 'FaultySectorsError';
  }
}

/** Unpadded piece sizes are 127·2^k; the padded size is 128·2^k. */
export function paddedSize(unpadded: number): number {
  if (!Number.isSafeInteger(unpadded) || unpadded < 127 || unpadded % 127 !== 0) {
    throw new ProofsError(`unpadded piece size ${unpadded} is not 127·2^k`, 'caller');
  }
  const p = (unpadded / 127) * 128;
  if ((p & (p - 1)) !== 0 && !isPow2(p)) throw new ProofsError(`unpadded piece size ${unpadded} is not 127·2^k`, 'caller');
  return p;
}

export function unpaddedSize(padded: number): number {
  if (!isPow2(padded) || padded < 128) throw new ProofsError(`padded piece size ${padded} is not a power of two ≥ 128`, 'caller');
  return (padded / 128) * 127;
}

function isPow2(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}
