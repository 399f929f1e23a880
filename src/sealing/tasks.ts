// What a seal worker does for each task type, with the real proofs, on its local sealing
// paths: <dir>/unsealed/<sector>, <dir>/sealed/<sector>, <dir>/cache/<sector>/.
//
// Tasks are written to be re-run safely after a crash: AddPiece starts the staged file over,
// PC1/PC2 rewrite their outputs, and Finalize copies into long-term storage through a temp
// name and a rename, so a killed Finalize never leaves a half-copied sealed file under the
// name PoSt miners read.
import { createWriteStream, existsSync } from 'node:fs';
import { copyFile, mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as proofs from '../proofs/index.js';
import { type PieceInfoWire, type PieceSource, type SectorId, type TaskInput, type TaskOutput, sectorName } from './protocol.js';

export interface SectorPaths {
  unsealed: string;
  sealed: string;
  cache: string;
}

export function localPaths(dir: string, s: { minerId: number; number: number }): SectorPaths {
  const n = sectorName(s);
  return { unsealed: join(dir, 'unsealed', n), sealed: join(dir, 'sealed', n), cache: join(dir, 'cache', n) };
}

/** Sectors whose sealing files are on this worker's disk (reported in hello). */
export async function localSectors(dir: string, proofOf: (name: string) => number | undefined): Promise<SectorId[]> {
  const out: SectorId[] = [];
  const names = existsSync(join(dir, 'unsealed')) ? await readdir(join(dir, 'unsealed')) : [];
  for (const n of names) {
    const m = /^s-t0(\d+)-(\d+)$/.exec(n);
    if (!m) continue;
    const proof = proofOf(n) ?? proofs.RegisteredSealProof.StackedDrg2KiBV1_1;
    out.push({ minerId: Number(m[1]), number: Number(m[2]), proof });
  }
  return out;
}

async function fsyncPath(p: string): Promise<void> {
  const fh = await open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function copyTree(src: string, dst: string): Promise<void> {
  await mkdir(dst, { recursive: true });
  for (const e of await readdir(src, { withFileTypes: true })) {
    const s = join(src, e.name);
    const d = join(dst, e.name);
    if (e.isDirectory()) await copyTree(s, d);
    else {
      await copyFile(s, d);
      await fsyncPath(d);
    }
  }
  await fsyncPath(dst);
}

/** Moves a file or directory to `dest` crash-safely (copy to a temp name, fsync, rename). */
async function moveInto(src: string, dest: string, isDir: boolean): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  try {
    await rename(src, dest); // same filesystem: atomic
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
    const tmp = `${dest}.part-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    if (isDir) await copyTree(src, tmp);
    else {
      await copyFile(src, tmp);
      await fsyncPath(tmp);
    }
    await rm(dest, { recursive: true, force: true });
    await rename(tmp, dest);
    await rm(src, { recursive: true, force: true });
  }
  await fsyncPath(dirname(dest));
}

async function pieceFile(dir: string, p: PieceSource, i: number): Promise<{ path: string; cleanup: boolean }> {
  if (p.kind === 'file') return { path: p.path, cleanup: false };
  const tmp = join(dir, 'tmp', `piece-${process.pid}-${Date.now()}-${i}`);
  await mkdir(dirname(tmp), { recursive: true });
  if (p.kind === 'zero') {
    await writeFile(tmp, Buffer.alloc(0));
    const fh = await open(tmp, 'r+');
    await fh.truncate(p.unpaddedSize); // a sparse file of zeros
    await fh.close();
  } else {
    const res = await fetch(p.url, { headers: p.token ? { Authorization: `Bearer ${p.token}` } : {} });
    if (!res.ok || !res.body) throw new Error(`fetching piece ${p.url}: HTTP ${res.status}`);
    await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), createWriteStream(tmp));
  }
  return { path: tmp, cleanup: true };
}

export async function runTask(dir: string, sector: SectorId, input: TaskInput, storageRoot?: string): Promise<TaskOutput> {
  const paths = localPaths(dir, sector);
  const proverId = proofs.proverIdFromMinerId(sector.minerId);
  const ref = { proof: sector.proof, sectorNumber: sector.number, proverId };
  const pieces = (p: PieceInfoWire[]): proofs.PieceInfo[] => p.map((x) => ({ size: x.size, commP: x.commP }));
  switch (input.type) {
    case 'AddPiece': {
      for (const d of [dirname(paths.unsealed), dirname(paths.sealed), paths.cache]) await mkdir(d, { recursive: true });
      await writeFile(paths.unsealed, Buffer.alloc(0)); // start over: a re-run must not append twice
      const out: PieceInfoWire[] = [];
      const existing: number[] = [];
      for (let i = 0; i < input.pieces.length; i++) {
        const src = input.pieces[i];
        const f = await pieceFile(dir, src, i);
        try {
          const r = await proofs.addPiece(sector.proof, f.path, src.unpaddedSize, paths.unsealed, existing);
          if (src.kind !== 'zero' && !r.piece.commP.equals(src.commP)) {
            throw new Error(`piece ${i} has commitment ${proofs.commPToCid(r.piece.commP)}, the deal says ${proofs.commPToCid(src.commP)}`);
          }
          existing.push(src.unpaddedSize);
          out.push({ size: r.piece.size, commP: r.piece.commP });
        } finally {
          if (f.cleanup) await rm(f.path, { force: true });
        }
      }
      await fsyncPath(paths.unsealed);
      return { type: 'AddPiece', pieces: out };
    }
    case 'PreCommit1': {
      await rm(paths.cache, { recursive: true, force: true });
      await mkdir(paths.cache, { recursive: true });
      await writeFile(paths.sealed, Buffer.alloc(0));
      const pc1 = await proofs.sealPreCommitPhase1(ref, { cacheDir: paths.cache, stagedPath: paths.unsealed, sealedPath: paths.sealed }, input.ticket, pieces(input.pieces));
      return { type: 'PreCommit1', pc1 };
    }
    case 'PreCommit2': {
      const r = await proofs.sealPreCommitPhase2(input.pc1, { cacheDir: paths.cache, sealedPath: paths.sealed });
      await fsyncPath(paths.sealed);
      return { type: 'PreCommit2', commR: r.commR, commD: r.commD };
    }
    case 'Commit1': {
      const c1 = await proofs.sealCommitPhase1(
        ref,
        { commR: input.commR, commD: input.commD, cacheDir: paths.cache, sealedPath: paths.sealed, ticket: input.ticket, seed: input.seed },
        pieces(input.pieces),
      );
      return { type: 'Commit1', c1 };
    }
    case 'Commit2': {
      const proof = await proofs.sealCommitPhase2(input.c1, sector.number, proverId);
      return { type: 'Commit2', proof };
    }
    case 'Finalize': {
      const sealedDest = storageRoot && !input.sealedDest.startsWith('/') ? join(storageRoot, input.sealedDest) : input.sealedDest;
      const cacheDest = storageRoot && !input.cacheDest.startsWith('/') ? join(storageRoot, input.cacheDest) : input.cacheDest;
      // Each half is moved only if it is still here, so a Finalize killed between the two
      // moves (or after both, before reporting) completes on the next run.
      const size = proofs.sealProofSectorSize(sector.proof);
      if (existsSync(paths.cache)) {
        await proofs.clearCache(size, paths.cache);
        await moveInto(paths.cache, cacheDest, true);
      } else if (!existsSync(cacheDest)) {
        throw new Error(`cache of ${sectorName(sector)} is neither in ${paths.cache} nor in ${cacheDest}`);
      }
      if (existsSync(paths.sealed)) {
        const st = await stat(paths.sealed);
        if (st.size !== size) throw new Error(`sealed file ${paths.sealed} has ${st.size} bytes, expected ${size}`);
        await moveInto(paths.sealed, sealedDest, false);
      } else if (!existsSync(sealedDest)) {
        throw new Error(`sealed file of ${sectorName(sector)} is neither in ${paths.sealed} nor in ${sealedDest}`);
      }
      await rm(paths.unsealed, { force: true });
      return { type: 'Finalize', sealedPath: sealedDest, cacheDir: cacheDest };
    }
  }
}
