// CBOR parameter layouts of the miner actor methods distminer sends (builtin-actors
// `miner::types`, tuple-encoded structs), with strict decoders for the devnet. Message
// `Params` carry these bytes, base64 in Lotus JSON.
import { type Cid, CborCid, MinerMethod, bigFromCborBytes, cborDecode, cborEncode, isCid, rleDecode, rleEncode } from './types.js';

/** A params blob that does not match the method's layout (exit code 21, ErrSerialization). */
export class ParamsError extends Error {
  override name = 'ParamsError';
}

/** SectorPreCommitInfo (PreCommitSectorBatch2, method 28; also the first 6 fields of method 6). */
export interface PreCommitParams {
  sealProof: number;
  sectorNumber: number;
  sealedCid: Cid;
  sealRandEpoch: number;
  dealIds: number[];
  expiration: number;
  /** CommD as a CID; null for a committed-capacity sector. */
  unsealedCid: Cid | null;
}

export interface ProveCommitParams {
  sectorNumber: number;
  proof: Buffer;
}

export interface PoStPartition {
  index: number;
  /** Sectors the miner skips (they become faulty). */
  skipped: number[];
}

export interface WindowPoStParams {
  deadline: number;
  partitions: PoStPartition[];
  proofs: { postProof: number; proofBytes: Buffer }[];
  chainCommitEpoch: number;
  chainCommitRand: Buffer;
}

/** FaultDeclaration / RecoveryDeclaration. */
export interface FaultDeclaration {
  deadline: number;
  partition: number;
  sectors: number[];
}

// ------------------------------------------------------------------ encoders

const precommitTuple = (p: PreCommitParams) => [
  p.sealProof,
  p.sectorNumber,
  new CborCid(p.sealedCid),
  p.sealRandEpoch,
  p.dealIds,
  p.expiration,
  p.unsealedCid ? new CborCid(p.unsealedCid) : null,
];

/** PreCommitSectorBatch2Params: `[[SectorPreCommitInfo…]]`. */
export function encodePreCommitBatch2(sectors: PreCommitParams[]): Buffer {
  return cborEncode([sectors.map(precommitTuple)]);
}

/** PreCommitSectorParams (method 6, deprecated on mainnet): the 6 fields + replace-capacity fields. */
export function encodePreCommitSector(p: PreCommitParams): Buffer {
  return cborEncode([p.sealProof, p.sectorNumber, new CborCid(p.sealedCid), p.sealRandEpoch, p.dealIds, p.expiration, false, 0, 0, 0]);
}

export function encodeProveCommit(p: ProveCommitParams): Buffer {
  return cborEncode([p.sectorNumber, p.proof]);
}

export function encodeWindowPoSt(p: WindowPoStParams): Buffer {
  return cborEncode([
    p.deadline,
    p.partitions.map((x) => [x.index, rleEncode(x.skipped)]),
    p.proofs.map((x) => [x.postProof, x.proofBytes]),
    p.chainCommitEpoch,
    p.chainCommitRand,
  ]);
}

export function encodeDeclarations(decls: FaultDeclaration[]): Buffer {
  return cborEncode([decls.map((d) => [d.deadline, d.partition, rleEncode(d.sectors)])]);
}

// ------------------------------------------------------------------ decoders

function decode(b: Uint8Array): unknown {
  try {
    return cborDecode(b);
  } catch (e) {
    throw new ParamsError(`params are not valid CBOR: ${(e as Error).message}`);
  }
}

function tuple(v: unknown, n: number | number[], what: string): unknown[] {
  const ns = Array.isArray(n) ? n : [n];
  if (!Array.isArray(v) || !ns.includes(v.length)) throw new ParamsError(`${what}: expected a tuple of ${ns.join(' or ')} fields`);
  return v;
}

function uint(v: unknown, what: string): number {
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new ParamsError(`${what}: expected an unsigned integer`);
  return n;
}

function int(v: unknown, what: string): number {
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new ParamsError(`${what}: expected an integer`);
  return n;
}

function bytes(v: unknown, what: string): Buffer {
  if (!(v instanceof Uint8Array)) throw new ParamsError(`${what}: expected bytes`);
  return Buffer.from(v);
}

function bitfield(v: unknown, what: string): number[] {
  try {
    return rleDecode(bytes(v, what));
  } catch (e) {
    throw new ParamsError(`${what}: ${(e as Error).message}`);
  }
}

function cid(v: unknown, what: string): Cid {
  if (!isCid(v)) throw new ParamsError(`${what}: expected a CID`);
  return v;
}

function precommitFrom(v: unknown, what: string, legacy: boolean): PreCommitParams {
  const t = tuple(v, legacy ? [10, 6] : 7, what);
  const dealIds = t[4];
  if (!Array.isArray(dealIds)) throw new ParamsError(`${what}.DealIDs: expected an array`);
  return {
    sealProof: int(t[0], `${what}.SealProof`),
    sectorNumber: uint(t[1], `${what}.SectorNumber`),
    sealedCid: cid(t[2], `${what}.SealedCID`),
    sealRandEpoch: int(t[3], `${what}.SealRandEpoch`),
    dealIds: dealIds.map((d, i) => uint(d, `${what}.DealIDs[${i}]`)),
    expiration: int(t[5], `${what}.Expiration`),
    unsealedCid: legacy || t[6] === null ? null : cid(t[6], `${what}.UnsealedCid`),
  };
}

export function decodePreCommitBatch2(b: Uint8Array): PreCommitParams[] {
  const [list] = tuple(decode(b), 1, 'PreCommitSectorBatch2Params');
  if (!Array.isArray(list) || list.length === 0) throw new ParamsError('PreCommitSectorBatch2Params.Sectors: expected a non-empty array');
  return list.map((x, i) => precommitFrom(x, `Sectors[${i}]`, false));
}

export function decodePreCommitSector(b: Uint8Array): PreCommitParams {
  return precommitFrom(decode(b), 'PreCommitSectorParams', true);
}

export function decodeProveCommit(b: Uint8Array): ProveCommitParams {
  const t = tuple(decode(b), 2, 'ProveCommitSectorParams');
  return { sectorNumber: uint(t[0], 'SectorNumber'), proof: bytes(t[1], 'Proof') };
}

export function decodeWindowPoSt(b: Uint8Array): WindowPoStParams {
  const t = tuple(decode(b), 5, 'SubmitWindowedPoStParams');
  if (!Array.isArray(t[1])) throw new ParamsError('Partitions: expected an array');
  if (!Array.isArray(t[2])) throw new ParamsError('Proofs: expected an array');
  return {
    deadline: uint(t[0], 'Deadline'),
    partitions: t[1].map((p, i) => {
      const pt = tuple(p, 2, `Partitions[${i}]`);
      return { index: uint(pt[0], `Partitions[${i}].Index`), skipped: bitfield(pt[1], `Partitions[${i}].Skipped`) };
    }),
    proofs: t[2].map((p, i) => {
      const pt = tuple(p, 2, `Proofs[${i}]`);
      return { postProof: int(pt[0], `Proofs[${i}].PoStProof`), proofBytes: bytes(pt[1], `Proofs[${i}].ProofBytes`) };
    }),
    chainCommitEpoch: int(t[3], 'ChainCommitEpoch'),
    chainCommitRand: bytes(t[4], 'ChainCommitRand'),
  };
}

export function decodeDeclarations(b: Uint8Array, what = 'Declarations'): FaultDeclaration[] {
  const [list] = tuple(decode(b), 1, `${what}Params`);
  if (!Array.isArray(list)) throw new ParamsError(`${what}: expected an array`);
  return list.map((d, i) => {
    const t = tuple(d, 3, `${what}[${i}]`);
    return { deadline: uint(t[0], `${what}[${i}].Deadline`), partition: uint(t[1], `${what}[${i}].Partition`), sectors: bitfield(t[2], `${what}[${i}].Sectors`) };
  });
}

/** Human name of a miner method number (for logs and errors). */
export function minerMethodName(m: number): string {
  return MinerMethod[m] ?? `method ${m}`;
}

export { bigFromCborBytes };
