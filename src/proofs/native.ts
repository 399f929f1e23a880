// Loads the N-API addon (build/Release/distminer_proofs.node) and describes its raw surface.
// Everything here is low level; use the typed API in ./index.ts.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProofsError } from './types.js';

export interface RawPiece {
  numBytes: number; // unpadded
  commP: Buffer;
}
export interface RawPrivateReplica {
  postProof: number;
  cacheDir: string;
  commR: Buffer;
  sealedPath: string;
  sectorId: number;
}
export interface RawPublicReplica {
  postProof: number;
  commR: Buffer;
  sectorId: number;
}
export interface RawPoStProof {
  postProof: number;
  proof: Buffer;
}

/** Errors from the addon carry filecoin-ffi's status code. */
export interface RawError extends Error {
  statusCode?: number;
  faultySectors?: number[];
}

export interface NativeAddon {
  configure(opts: { parameterCache?: string; threads?: number }): { parameterCache: string; threads: number; configured: boolean };
  info(): { threads: number; running: number; queued: number; cuda: boolean; filcrypto: string };
  /** setsid() if newSession, PR_SET_PDEATHSIG(SIGKILL), killing itself if parentPid is no longer its parent; returns the session id. */
  ownSession(parentPid: number, newSession: boolean): number;
  /**
   * flock(2) on an open file: exclusive true = LOCK_EX, false = LOCK_SH, null = LOCK_UN.
   * Returns false when `nonblocking` and another open file holds the lock. The kernel drops
   * the lock when the file's last descriptor closes (also when the process dies).
   */
  flock(fd: number, exclusive: boolean | null, nonblocking: boolean): boolean;
  writeWithAlignment(proof: number, srcPath: string, srcSize: number, dstPath: string, existing: number[]): Promise<{ commP: Buffer; leftAlignmentUnpadded: number; totalWriteUnpadded: number }>;
  generatePieceCommitment(proof: number, path: string, unpaddedSize: number): Promise<{ commP: Buffer; numBytesAligned: number }>;
  generateDataCommitment(proof: number, pieces: RawPiece[]): Promise<Buffer>;
  sealPreCommitPhase1(proof: number, cacheDir: string, staged: string, sealed: string, sectorId: number, proverId: Buffer, ticket: Buffer, pieces: RawPiece[]): Promise<Buffer>;
  sealPreCommitPhase2(pc1: Buffer, cacheDir: string, sealed: string): Promise<{ proof: number; commD: Buffer; commR: Buffer }>;
  sealCommitPhase1(
    proof: number,
    commR: Buffer,
    commD: Buffer,
    cacheDir: string,
    sealed: string,
    sectorId: number,
    proverId: Buffer,
    ticket: Buffer,
    seed: Buffer,
    pieces: RawPiece[],
  ): Promise<Buffer>;
  sealCommitPhase2(c1: Buffer, sectorId: number, proverId: Buffer): Promise<Buffer>;
  verifySeal(proof: number, commR: Buffer, commD: Buffer, proverId: Buffer, ticket: Buffer, seed: Buffer, sectorId: number, proofBytes: Buffer): Promise<boolean>;
  generateWinningPoStSectorChallenge(postProof: number, randomness: Buffer, sectorSetLen: number, proverId: Buffer): Promise<number[]>;
  generateWinningPoSt(randomness: Buffer, replicas: RawPrivateReplica[], proverId: Buffer): Promise<RawPoStProof[]>;
  verifyWinningPoSt(randomness: Buffer, replicas: RawPublicReplica[], proofs: RawPoStProof[], proverId: Buffer): Promise<boolean>;
  generateFallbackSectorChallenges(postProof: number, randomness: Buffer, sectorIds: number[], proverId: Buffer): Promise<{ ids: number[]; challenges: number[][] }>;
  generateWindowPoSt(randomness: Buffer, replicas: RawPrivateReplica[], proverId: Buffer): Promise<{ proofs: RawPoStProof[]; faultySectors: number[] }>;
  verifyWindowPoSt(randomness: Buffer, replicas: RawPublicReplica[], proofs: RawPoStProof[], proverId: Buffer): Promise<boolean>;
  getNumPartitionForFallbackPoSt(postProof: number, numSectors: number): Promise<number>;
  clearCache(sectorSize: number, cacheDir: string): Promise<void>;
  sealParamFiles(proof: number): { params: string; vk: string };
  postParamFiles(postProof: number): { params: string; vk: string };
  debugPanic(message: string): Promise<void>;
}

/** Repository root (dist/src/proofs/native.js → three levels up). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

let addon: NativeAddon | undefined;

/** Path of the built addon; DISTMINER_ADDON overrides it (e.g. a CUDA build). */
export function addonPath(): string {
  return process.env.DISTMINER_ADDON ?? join(repoRoot, 'build', 'Release', 'distminer_proofs.node');
}

export function loadAddon(): NativeAddon {
  if (addon) return addon;
  const p = addonPath();
  if (!existsSync(p)) {
    throw new ProofsError(`the native proofs addon is not built (${p} is missing)`, 'caller', 'run `npm run build:native` (or `npm run build`)');
  }
  const require = createRequire(import.meta.url);
  addon = require(p) as NativeAddon;
  return addon;
}
