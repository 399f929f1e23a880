// CBOR parameter layouts of the miner actor methods distminer sends (builtin-actors
// `miner::types`, tuple-encoded structs), with strict decoders for the devnet. Message
// `Params` carry these bytes, base64 in Lotus JSON.
import { type Network, addressBytes, addressFromBytes } from './address.js';
import { rleDecode, rleEncode } from './bitfield.js';
import { MinerMethod } from './builtin-actors.js';
import { cborDecode, cborEncode } from './cbor.js';
import { type Cid, CborCid, isCid } from './cid.js';
import { bigFromCborBytes } from './encoding.js';

/** A params blob that does not match the method's layout (exit code 21, ErrSerialization). */
export class ParamsError extends Error {
  override name = 'ParamsError';
}

/** SectorPreCommitInfo (PreCommitSectorBatch2, method 28). */
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

/** DataActivationNotification: an actor told of the activated piece (the market, f05, with a deal id). */
export interface DataActivationNotification {
  address: string;
  payload: Buffer;
}

/** PieceActivationManifest: one data piece of a sector, as ProveCommitSectors3 activates it. */
export interface PieceActivationManifest {
  cid: Cid;
  /** Padded size. */
  size: number;
  /** FIL+ allocation (client actor id, allocation id); distminer sends none. */
  verifiedAllocationKey: { client: number; id: number } | null;
  notify: DataActivationNotification[];
}

/** SectorActivationManifest: a sector and every data piece in it (none for committed capacity). */
export interface SectorActivationManifest {
  sectorNumber: number;
  pieces: PieceActivationManifest[];
}

/**
 * ProveCommitSectors3Params (miner method 34, network version 23 on). Exactly one of
 * `sectorProofs` (one proof per activation) or `aggregateProof` is non-empty.
 */
export interface ProveCommitSectors3Params {
  sectorActivations: SectorActivationManifest[];
  sectorProofs: Buffer[];
  aggregateProof: Buffer;
  /** RegisteredAggregationProof (SnarkPackV2 = 1) with an aggregate; null with per-sector proofs. */
  aggregateProofType: number | null;
  requireActivationSuccess: boolean;
  requireNotificationSuccess: boolean;
}

/** Storage power CreateMinerParams (f04 method 2). */
export interface CreateMinerParams {
  owner: string;
  worker: string;
  windowPoStProofType: number;
  /** libp2p peer id bytes (may be empty). */
  peer: Buffer;
  multiaddrs: Buffer[];
}

export interface CreateMinerReturn {
  idAddress: string;
  robustAddress: string;
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

const precommitTuple = (p: PreCommitParams) => [p.sealProof, p.sectorNumber, new CborCid(p.sealedCid), p.sealRandEpoch, p.dealIds, p.expiration, p.unsealedCid ? new CborCid(p.unsealedCid) : null];

/** PreCommitSectorBatch2Params: `[[SectorPreCommitInfo…]]`. */
export function encodePreCommitBatch2(sectors: PreCommitParams[]): Buffer {
  return cborEncode([sectors.map(precommitTuple)]);
}

/** ProveCommitSectors3 of one committed-capacity sector with its own proof (as tests and tools send it). */
export function encodeProveCommitOne(sectorNumber: number, proof: Buffer, pieces: PieceActivationManifest[] = []): Buffer {
  return encodeProveCommitSectors3({
    sectorActivations: [{ sectorNumber, pieces }],
    sectorProofs: [proof],
    aggregateProof: Buffer.alloc(0),
    aggregateProofType: null,
    requireActivationSuccess: true,
    requireNotificationSuccess: true,
  });
}

/** The notification payload the market actor reads: the deal id as a CBOR unsigned integer. */
export function dealIdPayload(dealId: number): Buffer {
  return cborEncode(dealId);
}

export function encodeProveCommitSectors3(p: ProveCommitSectors3Params): Buffer {
  return cborEncode([
    p.sectorActivations.map((a) => [
      a.sectorNumber,
      a.pieces.map((x) => [
        new CborCid(x.cid),
        x.size,
        x.verifiedAllocationKey ? [x.verifiedAllocationKey.client, x.verifiedAllocationKey.id] : null,
        x.notify.map((n) => [addressBytes(n.address), n.payload]),
      ]),
    ]),
    p.sectorProofs,
    p.aggregateProof,
    p.aggregateProofType,
    p.requireActivationSuccess,
    p.requireNotificationSuccess,
  ]);
}

export function encodeCreateMiner(p: CreateMinerParams): Buffer {
  return cborEncode([addressBytes(p.owner), addressBytes(p.worker), p.windowPoStProofType, p.peer, p.multiaddrs]);
}

export function encodeCreateMinerReturn(r: CreateMinerReturn): Buffer {
  return cborEncode([addressBytes(r.idAddress), addressBytes(r.robustAddress)]);
}

export function encodeWindowPoSt(p: WindowPoStParams): Buffer {
  return cborEncode([p.deadline, p.partitions.map((x) => [x.index, rleEncode(x.skipped)]), p.proofs.map((x) => [x.postProof, x.proofBytes]), p.chainCommitEpoch, p.chainCommitRand]);
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

function precommitFrom(v: unknown, what: string): PreCommitParams {
  const t = tuple(v, 7, what);
  const dealIds = t[4];
  if (!Array.isArray(dealIds)) throw new ParamsError(`${what}.DealIDs: expected an array`);
  return {
    sealProof: int(t[0], `${what}.SealProof`),
    sectorNumber: uint(t[1], `${what}.SectorNumber`),
    sealedCid: cid(t[2], `${what}.SealedCID`),
    sealRandEpoch: int(t[3], `${what}.SealRandEpoch`),
    dealIds: dealIds.map((d, i) => uint(d, `${what}.DealIDs[${i}]`)),
    expiration: int(t[5], `${what}.Expiration`),
    unsealedCid: t[6] === null ? null : cid(t[6], `${what}.UnsealedCid`),
  };
}

export function decodePreCommitBatch2(b: Uint8Array): PreCommitParams[] {
  const [list] = tuple(decode(b), 1, 'PreCommitSectorBatch2Params');
  if (!Array.isArray(list) || list.length === 0) throw new ParamsError('PreCommitSectorBatch2Params.Sectors: expected a non-empty array');
  return list.map((x, i) => precommitFrom(x, `Sectors[${i}]`));
}

function address(v: unknown, what: string, network: Network): string {
  try {
    return addressFromBytes(bytes(v, what), network);
  } catch (e) {
    throw new ParamsError(`${what}: ${(e as Error).message}`);
  }
}

function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') throw new ParamsError(`${what}: expected a boolean`);
  return v;
}

function array(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new ParamsError(`${what}: expected an array`);
  return v;
}

export function decodeProveCommitSectors3(b: Uint8Array, network: Network = 'testnet'): ProveCommitSectors3Params {
  const t = tuple(decode(b), 6, 'ProveCommitSectors3Params');
  return {
    sectorActivations: array(t[0], 'SectorActivations').map((a, i) => {
      const w = `SectorActivations[${i}]`;
      const at = tuple(a, 2, w);
      return {
        sectorNumber: uint(at[0], `${w}.SectorNumber`),
        pieces: array(at[1], `${w}.Pieces`).map((p, j) => {
          const pw = `${w}.Pieces[${j}]`;
          const pt = tuple(p, 4, pw);
          let vak: PieceActivationManifest['verifiedAllocationKey'] = null;
          if (pt[2] !== null) {
            const vt = tuple(pt[2], 2, `${pw}.VerifiedAllocationKey`);
            vak = { client: uint(vt[0], `${pw}.VerifiedAllocationKey.Client`), id: uint(vt[1], `${pw}.VerifiedAllocationKey.ID`) };
          }
          return {
            cid: cid(pt[0], `${pw}.CID`),
            size: uint(pt[1], `${pw}.Size`),
            verifiedAllocationKey: vak,
            notify: array(pt[3], `${pw}.Notify`).map((n, k) => {
              const nt = tuple(n, 2, `${pw}.Notify[${k}]`);
              return { address: address(nt[0], `${pw}.Notify[${k}].Address`, network), payload: bytes(nt[1], `${pw}.Notify[${k}].Payload`) };
            }),
          };
        }),
      };
    }),
    sectorProofs: array(t[1], 'SectorProofs').map((x, i) => bytes(x, `SectorProofs[${i}]`)),
    aggregateProof: bytes(t[2], 'AggregateProof'),
    aggregateProofType: t[3] === null ? null : int(t[3], 'AggregateProofType'),
    requireActivationSuccess: bool(t[4], 'RequireActivationSuccess'),
    requireNotificationSuccess: bool(t[5], 'RequireNotificationSuccess'),
  };
}

export function decodeCreateMiner(b: Uint8Array, network: Network = 'testnet'): CreateMinerParams {
  const t = tuple(decode(b), 5, 'CreateMinerParams');
  return {
    owner: address(t[0], 'Owner', network),
    worker: address(t[1], 'Worker', network),
    windowPoStProofType: int(t[2], 'WindowPoStProofType'),
    peer: t[3] === null ? Buffer.alloc(0) : bytes(t[3], 'Peer'),
    multiaddrs: t[4] === null ? [] : array(t[4], 'Multiaddrs').map((x, i) => bytes(x, `Multiaddrs[${i}]`)),
  };
}

export function decodeCreateMinerReturn(b: Uint8Array, network: Network = 'testnet'): CreateMinerReturn {
  const t = tuple(decode(b), 2, 'CreateMinerReturn');
  return { idAddress: address(t[0], 'IDAddress', network), robustAddress: address(t[1], 'RobustAddress', network) };
}

/** A market notification payload: the deal id (CBOR unsigned integer). */
export function decodeDealIdPayload(b: Uint8Array): number {
  return uint(decode(b), 'deal id payload');
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
