// Real 2KiB sectors sealed once per test run and shared by every test file that is not about
// sealing itself (a Commit2 costs ~45 s of both cores, so sealing per test would not fit CI).
//
// The run directory comes from scripts/run-tests.mjs (DISTMINER_TEST_RUN_DIR). Sectors are
// sealed lazily by the first test process that asks, under a directory lock, and recorded in
// `sectors.json`; later callers (other ava worker processes) just read it. Tests must treat
// the files as read-only: copy a sector (copySector) before corrupting it.
//
// Across runs the sealed fixtures are kept under ~/.cache/distminer/test-sectors (outside the
// clone, like the Cargo build and the parameters), keyed by the native Cargo.lock and the
// parameter manifest: a warm CI run seals none of them (3 Commit2, 2-4 minutes on 2 cores). A
// cached sector is used only after its seal proof verifies against its commitments; anything
// else is sealed again. DISTMINER_TEST_SECTOR_CACHE=off turns the cache off. The tests about
// sealing itself (test/sealing, test/deals, the demo) always seal their own sectors.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type PieceActivationManifest, encodePreCommitBatch2 } from '../../src/chain/params.js';
import * as proofs from '../../src/proofs/index.js';

export const TEST_MINER_ID = 1000;
export const SEAL_PROOF = proofs.RegisteredSealProof.StackedDrg2KiBV1_1;

export interface SealedSector {
  minerId: number;
  sectorNumber: number;
  proof: proofs.RegisteredSealProof;
  /** The piece data (2032 bytes, deterministic per sector number). */
  piecePath: string;
  piece: proofs.PieceInfo;
  commR: Buffer;
  commD: Buffer;
  ticket: Buffer;
  seed: Buffer;
  proofBytes: Buffer;
  cacheDir: string;
  sealedPath: string;
  stagedPath: string;
}

interface Stored {
  minerId: number;
  sectorNumber: number;
  proof: number;
  piecePath: string;
  piece: { size: number; commP: string };
  commR: string;
  commD: string;
  ticket: string;
  seed: string;
  proofBytes: string;
  cacheDir: string;
  sealedPath: string;
  stagedPath: string;
}

export function runDir(): string {
  const d = process.env.DISTMINER_TEST_RUN_DIR ?? join(tmpdir(), `distminer-test-${process.ppid}`);
  mkdirSync(d, { recursive: true });
  return d;
}

/** Deterministic piece bytes for a sector number (2032 = 2KiB unpadded). */
export function pieceBytes(sectorNumber: number, size = 2032): Buffer {
  const b = Buffer.alloc(size);
  let x = (sectorNumber * 2654435761) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

export function ticketFor(n: number): Buffer {
  return Buffer.alloc(32, n & 0xff);
}

export function seedFor(n: number): Buffer {
  const b = Buffer.alloc(32, (n * 7) & 0xff);
  b[31] &= 0x3f;
  return b;
}

/** Seals one 2KiB sector end to end in `dir` (AddPiece → PC1 → PC2 → C1 → C2) with real proofs. */
export async function sealSector(dir: string, minerId: number, sectorNumber: number): Promise<SealedSector> {
  mkdirSync(join(dir, 'cache'), { recursive: true });
  const piecePath = join(dir, 'piece');
  const stagedPath = join(dir, 'staged');
  const sealedPath = join(dir, 'sealed');
  const cacheDir = join(dir, 'cache');
  writeFileSync(piecePath, pieceBytes(sectorNumber));
  writeFileSync(stagedPath, Buffer.alloc(0));
  writeFileSync(sealedPath, Buffer.alloc(0));
  const proverId = proofs.proverIdFromMinerId(minerId);
  const added = await proofs.addPiece(SEAL_PROOF, piecePath, 2032, stagedPath, []);
  const pieces = [added.piece];
  const ticket = ticketFor(sectorNumber);
  const seed = seedFor(sectorNumber);
  const ref = { proof: SEAL_PROOF, sectorNumber, proverId };
  const pc1 = await proofs.sealPreCommitPhase1(ref, { cacheDir, stagedPath, sealedPath }, ticket, pieces);
  const pc2 = await proofs.sealPreCommitPhase2(pc1, { cacheDir, sealedPath });
  const c1 = await proofs.sealCommitPhase1(ref, { commR: pc2.commR, commD: pc2.commD, cacheDir, sealedPath, ticket, seed }, pieces);
  const proofBytes = await proofs.sealCommitPhase2(c1, sectorNumber, proverId);
  return { minerId, sectorNumber, proof: SEAL_PROOF, piecePath, piece: added.piece, commR: pc2.commR, commD: pc2.commD, ticket, seed, proofBytes, cacheDir, sealedPath, stagedPath };
}

function toStored(s: SealedSector): Stored {
  return {
    ...s,
    piece: { size: s.piece.size, commP: s.piece.commP.toString('hex') },
    commR: s.commR.toString('hex'),
    commD: s.commD.toString('hex'),
    ticket: s.ticket.toString('hex'),
    seed: s.seed.toString('hex'),
    proofBytes: s.proofBytes.toString('hex'),
  };
}

function fromStored(s: Stored): SealedSector {
  const h = (x: string) => Buffer.from(x, 'hex');
  return {
    ...s,
    piece: { size: s.piece.size, commP: h(s.piece.commP) },
    commR: h(s.commR),
    commD: h(s.commD),
    ticket: h(s.ticket),
    seed: h(s.seed),
    proofBytes: h(s.proofBytes),
  };
}

async function withLock<T>(path: string, f: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      mkdirSync(path);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await f();
  } finally {
    rmSync(path, { recursive: true, force: true });
  }
}

/**
 * `count` sealed sectors of miner `minerId` (default TEST_MINER_ID), numbered 1..count, shared
 * by the whole run. Asking for more than exist seals the difference. Each miner id has its own
 * set (the prover id is part of every proof), sealed only when a test asks for it.
 */
export async function sealedSectors(count: number, minerId = TEST_MINER_ID): Promise<SealedSector[]> {
  const root = join(runDir(), minerId === TEST_MINER_ID ? 'sealed-fixture' : `sealed-fixture-t0${minerId}`);
  mkdirSync(root, { recursive: true });
  const index = join(root, 'sectors.json');
  return withLock(join(root, '.lock'), async () => {
    const have: Stored[] = existsSync(index) ? (JSON.parse(readFileSync(index, 'utf8')) as Stored[]) : [];
    for (let n = have.length + 1; n <= count; n++) {
      const dir = join(root, `s-t0${minerId}-${n}`);
      rmSync(dir, { recursive: true, force: true });
      const cached = await fromCache(minerId, n, dir);
      const sector = cached ?? (await sealSector(dir, minerId, n));
      if (!cached) toCache(sector);
      have.push(toStored(sector));
      writeFileSync(index + '.tmp', JSON.stringify(have));
      renameSync(index + '.tmp', index);
    }
    return have.slice(0, count).map(fromStored);
  });
}

// The cache key: what decides the sealed bytes and the proof's validity (proofs library versions,
// parameters) and this file's layout.
const CACHE_FORMAT = 1;
function cacheDir(minerId: number, n: number): string | null {
  if (process.env.DISTMINER_TEST_SECTOR_CACHE === 'off') return null;
  const root = fileURLToPath(new URL('../../../', import.meta.url)); // dist/test/helpers → repo
  const h = createHash('sha256').update(`format ${CACHE_FORMAT} proof ${SEAL_PROOF}\n`);
  for (const f of ['native/Cargo.lock', 'native/params-2k.json']) h.update(readFileSync(join(root, f)));
  const base = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(base, 'distminer', 'test-sectors', h.digest('hex').slice(0, 16), `s-t0${minerId}-${n}`);
}

/** A cached sector copied to `dir`, if there is one whose seal proof verifies; null otherwise. */
async function fromCache(minerId: number, n: number, dir: string): Promise<SealedSector | null> {
  const src = cacheDir(minerId, n);
  if (!src || !existsSync(join(src, 'sector.json'))) return null;
  try {
    cpSync(src, dir, { recursive: true });
    const stored = JSON.parse(readFileSync(join(dir, 'sector.json'), 'utf8')) as Stored;
    const s = fromStored({ ...stored, piecePath: join(dir, 'piece'), stagedPath: join(dir, 'staged'), sealedPath: join(dir, 'sealed'), cacheDir: join(dir, 'cache') });
    const proverId = proofs.proverIdFromMinerId(minerId);
    const v = await proofs.verifySeal({ proof: s.proof, commR: s.commR, commD: s.commD, proverId, ticket: s.ticket, seed: s.seed, sectorNumber: n, proofBytes: s.proofBytes });
    if (s.minerId === minerId && s.sectorNumber === n && v.valid) return s;
  } catch {
    // unreadable or partial: sealed again below
  }
  rmSync(dir, { recursive: true, force: true });
  rmSync(src, { recursive: true, force: true });
  return null;
}

/** Keeps a freshly sealed sector for later runs (copied whole, then renamed into place). */
function toCache(s: SealedSector): void {
  const dst = cacheDir(s.minerId, s.sectorNumber);
  if (!dst) return;
  const tmp = `${dst}.tmp-${process.pid}`;
  try {
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    for (const f of ['piece', 'staged', 'sealed', 'cache']) cpSync(join(s.cacheDir, '..', f), join(tmp, f), { recursive: true });
    writeFileSync(join(tmp, 'sector.json'), JSON.stringify(toStored(s)));
    rmSync(dst, { recursive: true, force: true });
    renameSync(tmp, dst);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // a cache that cannot be written is no cache
  }
}

/** The ProveCommitSectors3 piece manifest of a fixture sector: its one data piece, nobody notified. */
/**
 * PreCommitSectorBatch2 params for fixture sectors: their sealed and unsealed CIDs, no deals,
 * the ticket drawn at `sealRandEpoch` (pinned fixtures: any epoch the chain accepts).
 */
export function preCommitFixture(fixture: Pick<SealedSector, 'sectorNumber' | 'commR' | 'commD'>[], sealRandEpoch: number, expiration = 1_000_000): Buffer {
  return encodePreCommitBatch2(
    fixture.map((s) => ({
      sealProof: SEAL_PROOF,
      sectorNumber: s.sectorNumber,
      sealedCid: { '/': proofs.commRToCid(s.commR) },
      sealRandEpoch,
      dealIds: [],
      expiration,
      unsealedCid: { '/': proofs.commDToCid(s.commD) },
    })),
  );
}

export function pieceManifest(s: Pick<SealedSector, 'piece'>): PieceActivationManifest[] {
  return [{ cid: { '/': proofs.commPToCid(s.piece.commP) }, size: s.piece.size, verifiedAllocationKey: null, notify: [] }];
}

/** A private copy of a sealed sector's files, safe to corrupt or delete. */
export function copySector(s: SealedSector, dir: string): SealedSector {
  mkdirSync(dir, { recursive: true });
  const cacheDir = join(dir, 'cache');
  const sealedPath = join(dir, 'sealed');
  cpSync(s.cacheDir, cacheDir, { recursive: true });
  cpSync(s.sealedPath, sealedPath);
  return { ...s, cacheDir, sealedPath };
}
