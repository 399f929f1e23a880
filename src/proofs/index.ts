// The typed proofs API: real Filecoin proofs (filecoin-proofs-api via the native addon),
// each call a Promise computed on the addon's own thread pool, off the JS thread and off
// libuv's pool. Names follow filecoin-ffi / Lotus; commitments are 32-byte Buffers; sector
// numbers are numbers (bigint accepted); CIDs where Lotus shows CIDs (see ./cid.ts).
import { stat } from 'node:fs/promises';
import { uvarint } from '../chain/encoding.js';
import { type NativeAddon, type RawError, type RawPiece, type RawPoStProof } from './native.js';
import { configuredAddon, ensureParamsFor } from './params.js';
import {
  FaultySectorsError,
  type PieceInfo,
  type PoStProof,
  type PrivateReplicaInfo,
  ProofsError,
  type PublicReplicaInfo,
  RegisteredPoStProof,
  RegisteredSealProof,
  type SectorNumber,
  type Verdict,
  assertPoStProof,
  assertSealProof,
  isWinningPoSt,
  postProofSectorSize,
  paddedSize,
  toSectorNumber,
  unpaddedSize,
} from './types.js';

export * from './types.js';
export * from './cid.js';
import { commDToCid, commPToCid, commRToCid } from './cid.js';
export { parameterCacheDir } from './params.js';

/** Marker the native layer puts on a verify error whose proof could not be decoded. */
const INVALID_PROOF_MARKER = 'invalid proof (does not decode): ';

/** The addon, configured with the parameter cache before the first proof call. */
const addon = configuredAddon;

const STATUS_KIND: Record<number, ProofsError['kind']> = { 1: 'unclassified', 2: 'caller', 3: 'receiver' };

/** Maps an addon rejection onto ProofsError (or FaultySectorsError). */
function wrap(e: unknown): never {
  const err = e as RawError;
  if (err instanceof ProofsError) throw err;
  if (err?.faultySectors && err.faultySectors.length > 0) {
    throw new FaultySectorsError(err.message, err.faultySectors);
  }
  const msg = err?.message ?? String(e);
  if (/No cached parameters|failure finding|parameter/i.test(msg) && /cache|param/i.test(msg)) {
    throw new ProofsError(msg, 'params', 'run `distminer params` to generate the 2KiB parameters, or install the official ones for production sizes');
  }
  throw new ProofsError(msg, STATUS_KIND[err?.statusCode ?? 1] ?? 'unclassified');
}

async function call<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    wrap(e);
  }
}

async function verdict(f: () => Promise<boolean>, what: string): Promise<Verdict> {
  try {
    const ok = await f();
    return ok ? { valid: true, reason: '' } : { valid: false, reason: `${what} does not verify` };
  } catch (e) {
    const msg = (e as Error)?.message ?? String(e);
    const i = msg.indexOf(INVALID_PROOF_MARKER);
    if (i >= 0) return { valid: false, reason: `${what} does not decode: ${msg.slice(i + INVALID_PROOF_MARKER.length)}` };
    wrap(e);
  }
}

/**
 * Byte arguments as Buffers: a Uint8Array (what msgpackr or structured clone hand over between
 * processes and threads) is viewed as a Buffer without copying.
 */
function asBuffer(b: unknown): Buffer | undefined {
  if (Buffer.isBuffer(b)) return b;
  if (b instanceof Uint8Array) return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return undefined;
}

function bytes32(b: Buffer, what: string): Buffer {
  const v = asBuffer(b);
  if (!v || v.length !== 32) {
    throw new ProofsError(`${what} must be 32 bytes, got ${v ? v.length : typeof b}`, 'caller');
  }
  return v;
}

function bytesArg(b: Buffer, what: string): Buffer {
  const v = asBuffer(b);
  if (!v || v.length === 0) throw new ProofsError(`${what} is empty`, 'caller');
  return v;
}

/** PoSt randomness must be a BLS12-381 scalar: clear the top two bits as Lotus does. */
export function postRandomness(r: Buffer): Buffer {
  const out = Buffer.from(bytes32(r, 'randomness'));
  out[31] &= 0x3f;
  return out;
}

/**
 * Prover id of a miner: the payload of its ID address (the uvarint of the actor id),
 * zero-padded to 32 bytes. Accepts 1234, 1234n, "f01234" or "t01234".
 */
export function proverIdFromMinerId(miner: number | bigint | string): Buffer {
  let id: bigint;
  if (typeof miner === 'string') {
    const m = /^[ft]0(\d+)$/.exec(miner);
    if (!m) throw new ProofsError(`"${miner}" is not an ID address (f0… or t0…)`, 'caller');
    id = BigInt(m[1]);
  } else {
    id = BigInt(miner);
  }
  if (id < 0n || id >= 2n ** 63n) throw new ProofsError(`actor id ${id} out of range`, 'caller');
  const out = Buffer.alloc(32);
  uvarint(id).copy(out);
  return out;
}

function rawPieces(pieces: PieceInfo[]): RawPiece[] {
  return pieces.map((p, i) => ({ numBytes: unpaddedSize(p.size), commP: bytes32(p.commP, `pieces[${i}].commP`) }));
}

function sealCheck(proof: RegisteredSealProof): void {
  assertSealProof(proof);
  ensureParamsFor({ seal: proof });
}

function postCheck(proof: RegisteredPoStProof): void {
  assertPoStProof(proof);
  ensureParamsFor({ post: proof });
}

// ------------------------------------------------------------------ pieces

export interface AddPieceResult {
  /** Piece commitment and padded size of the piece just written. */
  piece: PieceInfo;
  pieceCid: string;
  leftAlignmentUnpadded: number;
  totalWriteUnpadded: number;
}

/**
 * Appends a piece (unpadded size 127·2^k) to a staged sector file, with the alignment
 * padding its position requires (`existingPieceSizes` are the unpadded sizes already there).
 */
export async function addPiece(proof: RegisteredSealProof, piecePath: string, unpaddedPieceSize: number, stagedPath: string, existingPieceSizes: number[] = []): Promise<AddPieceResult> {
  assertSealProof(proof);
  const padded = paddedSize(unpaddedPieceSize);
  const r = await call(() => addon().writeWithAlignment(proof, piecePath, unpaddedPieceSize, stagedPath, existingPieceSizes));
  return {
    piece: { size: padded, commP: r.commP },
    pieceCid: commPToCid(r.commP),
    leftAlignmentUnpadded: r.leftAlignmentUnpadded,
    totalWriteUnpadded: r.totalWriteUnpadded,
  };
}

/** CommP of a piece file of `unpaddedPieceSize` bytes (127·2^k). */
export async function generatePieceCommitment(proof: RegisteredSealProof, piecePath: string, unpaddedPieceSize: number): Promise<PieceInfo> {
  assertSealProof(proof);
  paddedSize(unpaddedPieceSize);
  const r = await call(() => addon().generatePieceCommitment(proof, piecePath, unpaddedPieceSize));
  return { size: paddedSize(r.numBytesAligned), commP: r.commP };
}

/** CommD of a sector holding `pieces` (zero pieces fill the rest). */
export async function generateDataCommitment(proof: RegisteredSealProof, pieces: PieceInfo[]): Promise<Buffer> {
  assertSealProof(proof);
  return call(() => addon().generateDataCommitment(proof, rawPieces(pieces)));
}

// ------------------------------------------------------------------ sealing

export interface SectorRef {
  proof: RegisteredSealProof;
  sectorNumber: SectorNumber;
  proverId: Buffer;
}

/** PreCommit1: SDR layers. Returns the opaque phase-1 output to hand to PreCommit2. */
export async function sealPreCommitPhase1(s: SectorRef, paths: { cacheDir: string; stagedPath: string; sealedPath: string }, ticket: Buffer, pieces: PieceInfo[]): Promise<Buffer> {
  assertSealProof(s.proof);
  const n = toSectorNumber(s.sectorNumber);
  return call(() => addon().sealPreCommitPhase1(s.proof, paths.cacheDir, paths.stagedPath, paths.sealedPath, n, bytes32(s.proverId, 'proverId'), bytes32(ticket, 'ticket'), rawPieces(pieces)));
}

export interface PreCommit2Result {
  commR: Buffer;
  commD: Buffer;
  sealedCid: string;
  unsealedCid: string;
}

/** PreCommit2: tree building; yields CommR and CommD. */
export async function sealPreCommitPhase2(pc1Output: Buffer, paths: { cacheDir: string; sealedPath: string }): Promise<PreCommit2Result> {
  const pc1 = bytesArg(pc1Output, 'pre-commit phase 1 output');
  const r = await call(() => addon().sealPreCommitPhase2(pc1, paths.cacheDir, paths.sealedPath));
  return { commR: r.commR, commD: r.commD, sealedCid: commRToCid(r.commR), unsealedCid: commDToCid(r.commD) };
}

/** Commit1: vanilla proofs for the interactive seed. Returns the opaque phase-1 output. */
export async function sealCommitPhase1(s: SectorRef, c: { commR: Buffer; commD: Buffer; cacheDir: string; sealedPath: string; ticket: Buffer; seed: Buffer }, pieces: PieceInfo[]): Promise<Buffer> {
  assertSealProof(s.proof);
  const n = toSectorNumber(s.sectorNumber);
  return call(() =>
    addon().sealCommitPhase1(
      s.proof,
      bytes32(c.commR, 'commR'),
      bytes32(c.commD, 'commD'),
      c.cacheDir,
      c.sealedPath,
      n,
      bytes32(s.proverId, 'proverId'),
      bytes32(c.ticket, 'ticket'),
      bytes32(c.seed, 'seed'),
      rawPieces(pieces),
    ),
  );
}

/** Commit2: the SNARK (the expensive, GPU-able step). Returns the proof bytes (192 per partition). */
export async function sealCommitPhase2(c1Arg: Buffer, sectorNumber: SectorNumber, proverId: Buffer): Promise<Buffer> {
  const c1Output = bytesArg(c1Arg, 'commit phase 1 output');
  const n = toSectorNumber(sectorNumber);
  // The proof type is inside the C1 output; check the parameters of the one it names.
  const m = /"registered_proof":"(\w+)"/.exec(c1Output.subarray(0, 256).toString('latin1'));
  if (m && m[1] in RegisteredSealProof) ensureParamsFor({ seal: RegisteredSealProof[m[1] as keyof typeof RegisteredSealProof] });
  return call(() => addon().sealCommitPhase2(c1Output, n, bytes32(proverId, 'proverId')));
}

export interface VerifySealInput {
  proof: RegisteredSealProof;
  commR: Buffer;
  commD: Buffer;
  proverId: Buffer;
  ticket: Buffer;
  seed: Buffer;
  sectorNumber: SectorNumber;
  proofBytes: Buffer;
}

export async function verifySeal(v: VerifySealInput): Promise<Verdict> {
  sealCheck(v.proof);
  const n = toSectorNumber(v.sectorNumber);
  const args = [bytes32(v.commR, 'commR'), bytes32(v.commD, 'commD'), bytes32(v.proverId, 'proverId'), bytes32(v.ticket, 'ticket'), bytes32(v.seed, 'seed')] as const;
  const proofBytes = asBuffer(v.proofBytes) ?? Buffer.alloc(0);
  return verdict(() => addon().verifySeal(v.proof, ...args, n, proofBytes), 'seal proof');
}

/** Removes the layer and tree files a sealed sector no longer needs (Finalize). */
export async function clearCache(sectorSize: number, cacheDir: string): Promise<void> {
  await call(() => addon().clearCache(sectorSize, cacheDir));
}

// ------------------------------------------------------------------ PoSt

/** Indices (into the sorted proving set) of the sectors a Winning PoSt must prove. */
export async function generateWinningPoStSectorChallenge(proof: RegisteredPoStProof, randomness: Buffer, eligibleSectorCount: number, proverId: Buffer): Promise<number[]> {
  assertPoStProof(proof);
  if (!isWinningPoSt(proof)) throw new ProofsError(`${RegisteredPoStProof[proof]} is not a Winning PoSt type`, 'caller');
  return call(() => addon().generateWinningPoStSectorChallenge(proof, postRandomness(randomness), eligibleSectorCount, bytes32(proverId, 'proverId')));
}

function privateReplicas(replicas: PrivateReplicaInfo[], winning: boolean) {
  if (replicas.length === 0) throw new ProofsError('no sectors to prove', 'caller');
  return replicas.map((r, i) => {
    postCheck(r.postProof);
    if (isWinningPoSt(r.postProof) !== winning) throw new ProofsError(`replicas[${i}]: ${RegisteredPoStProof[r.postProof]} is not a ${winning ? 'Winning' : 'Window'} PoSt type`, 'caller');
    return { postProof: r.postProof, cacheDir: r.cacheDir, commR: bytes32(r.commR, `replicas[${i}].commR`), sealedPath: r.sealedPath, sectorId: toSectorNumber(r.sectorNumber) };
  });
}

function publicReplicas(replicas: PublicReplicaInfo[]) {
  return replicas.map((r, i) => {
    postCheck(r.postProof);
    return { postProof: r.postProof, commR: bytes32(r.commR, `replicas[${i}].commR`), sectorId: toSectorNumber(r.sectorNumber) };
  });
}

const toProofs = (p: RawPoStProof[]): PoStProof[] => p.map((x) => ({ postProof: x.postProof, proofBytes: x.proof }));
const fromProofs = (p: PoStProof[]): RawPoStProof[] =>
  p.map((x, i) => {
    assertPoStProof(x.postProof);
    const proof = asBuffer(x.proofBytes);
    if (!proof) throw new ProofsError(`proofs[${i}].proofBytes is not a Buffer`, 'caller');
    return { postProof: x.postProof, proof };
  });

/** Winning PoSt over the challenged sectors. */
export async function generateWinningPoSt(randomness: Buffer, replicas: PrivateReplicaInfo[], proverId: Buffer): Promise<PoStProof[]> {
  const reps = privateReplicas(replicas, true);
  return toProofs(await call(() => addon().generateWinningPoSt(postRandomness(randomness), reps, bytes32(proverId, 'proverId'))));
}

export async function verifyWinningPoSt(randomness: Buffer, replicas: PublicReplicaInfo[], proofs: PoStProof[], proverId: Buffer): Promise<Verdict> {
  const reps = publicReplicas(replicas);
  if (proofs.length !== 1) return { valid: false, reason: `a Winning PoSt is one proof, got ${proofs.length}` };
  const raw = fromProofs(proofs);
  return verdict(() => addon().verifyWinningPoSt(postRandomness(randomness), reps, raw, bytes32(proverId, 'proverId')), 'winning PoSt');
}

/** Challenged leaf indices per sector, for a Window PoSt over `sectorNumbers`. */
export async function generateFallbackSectorChallenges(proof: RegisteredPoStProof, randomness: Buffer, sectorNumbers: SectorNumber[], proverId: Buffer): Promise<Map<number, number[]>> {
  assertPoStProof(proof);
  const ids = sectorNumbers.map((n) => toSectorNumber(n));
  const r = await call(() => addon().generateFallbackSectorChallenges(proof, postRandomness(randomness), ids, bytes32(proverId, 'proverId')));
  return new Map(r.ids.map((id, i) => [id, r.challenges[i]]));
}

/**
 * Window PoSt over the sectors of one or more partitions. Sectors whose files cannot be read
 * reject with {@link FaultySectorsError} listing them, so the caller can skip and declare them.
 */
export async function generateWindowPoSt(randomness: Buffer, replicas: PrivateReplicaInfo[], proverId: Buffer): Promise<PoStProof[]> {
  const reps = privateReplicas(replicas, false);
  // The library reports a missing replica without saying which; look first, so the caller
  // learns every missing sector at once and can skip and declare them.
  const missing: number[] = [];
  await Promise.all(
    reps.map(async (r) => {
      const ok = await Promise.all(
        [stat(r.sealedPath), stat(r.cacheDir)].map((p) =>
          p.then(
            () => true,
            () => false,
          ),
        ),
      );
      if (!ok.every(Boolean)) missing.push(r.sectorId);
    }),
  );
  if (missing.length > 0) {
    missing.sort((a, b) => a - b);
    throw new FaultySectorsError(`generate_window_post: sealed or cache files missing for sectors ${missing.join(', ')}`, missing);
  }
  try {
    const r = await addon().generateWindowPoSt(postRandomness(randomness), reps, bytes32(proverId, 'proverId'));
    return toProofs(r.proofs);
  } catch (e) {
    // A tree that fails to load names its sector as "SectorId(N)": report it as faulty too.
    const m = /SectorId\((\d+)\)/.exec((e as Error)?.message ?? '');
    if (m && !(e as RawError).faultySectors?.length) throw new FaultySectorsError((e as Error).message, [Number(m[1])]);
    wrap(e);
  }
}

export async function verifyWindowPoSt(randomness: Buffer, replicas: PublicReplicaInfo[], proofs: PoStProof[], proverId: Buffer): Promise<Verdict> {
  const reps = publicReplicas(replicas);
  const raw = fromProofs(proofs);
  return verdict(() => addon().verifyWindowPoSt(postRandomness(randomness), reps, raw, bytes32(proverId, 'proverId')), 'window PoSt');
}

export async function numPartitionsForWindowPoSt(proof: RegisteredPoStProof, sectorCount: number): Promise<number> {
  assertPoStProof(proof);
  return call(() => addon().getNumPartitionForFallbackPoSt(proof, sectorCount));
}

/**
 * Sectors per Window PoSt partition, as the network sets them (go-state-types'
 * WindowPoStPartitionSectors): 2 up to 512MiB, 2349 at 32GiB, 2300 at 64GiB.
 */
export function windowPoStPartitionSectors(proof: RegisteredPoStProof): number {
  const size = postProofSectorSize(proof);
  return size >= 64 * 1024 ** 3 ? 2300 : size >= 32 * 1024 ** 3 ? 2349 : 2;
}

/** Addon status: pool size, running and queued native jobs, build flavour. */
export function nativeInfo(): ReturnType<NativeAddon['info']> {
  return addon().info();
}

/**
 * Makes this process die with its parent, `parentPid`, however the parent dies — also while
 * stopped (SIGSTOP during a PoSt) — and with `newSession` puts it in a session (and scheduler
 * autogroup) of its own. See the addon's OwnSession. Returns the session id.
 */
export function ownSession(parentPid: number, newSession: boolean): number {
  return addon().ownSession(parentPid, newSession);
}

/** Diagnostic: a panic inside the native wrapper, to show it becomes a rejected promise. */
export async function debugPanic(message: string): Promise<void> {
  await call(() => addon().debugPanic(message));
}
