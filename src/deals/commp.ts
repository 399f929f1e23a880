// Piece commitments (CommP) of deal data, two ways:
//  - native: rust-fil-proofs' generate_piece_commitment through the proofs addon, on a file of
//    exactly the unpadded piece size (off the JS thread). Measured ~20× faster than the JS
//    library here (bench/deals.ts), so the deal server uses it on the staged file.
//  - JS streaming: @web3-storage/data-segment's FRC-0058 hasher (fr32 + sha256-trunc254 tree),
//    fed chunk by chunk; used by clients without the native addon and as a cross-check.
// Data shorter than the piece is zero-filled up to the unpadded piece size, as Lotus/Boost do.
import * as PieceHasher from '@web3-storage/data-segment/multihash';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, rmSync, statSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { generatePieceCommitment } from '../proofs/index.js';
import { type RegisteredSealProof, unpaddedSize } from '../proofs/types.js';

/** The smallest padded piece size (power of two ≥ 128) whose unpadded size holds `bytes`. */
export function pieceSizeFor(bytes: number): number {
  let padded = 128;
  while (unpaddedSize(padded) < bytes) padded *= 2;
  return padded;
}

/** CommP of a file holding exactly the unpadded piece bytes, with the native proofs. */
export async function nativeCommP(proof: RegisteredSealProof, path: string, pieceSize: number): Promise<Buffer> {
  const r = await generatePieceCommitment(proof, path, unpaddedSize(pieceSize));
  return r.commP;
}

/** Padded size of the sub-pieces chunkedNativeCommP works on (128 MiB: ~70 MiB of RAM each). */
export const COMMP_CHUNK = 128 * 2 ** 20;

/**
 * The native CommP with memory bounded by `chunk` whatever the piece size. The native call
 * keeps every leaf hash of the piece and then the tree (measured: ~0.55× the piece size in
 * RSS, 600 MiB for 1 GiB, so ~18 GiB for a 32 GiB piece). A piece's tree is a tree of its
 * aligned sub-pieces (fr32 maps 127·2^k input bytes to exactly 128·2^k), so this copies
 * each sub-piece range to a temporary file (`tmpPrefix`…, from the page cache), takes its
 * native CommP, and hashes the sub-roots up to the root. Ranges past the data (the zero fill
 * of a sparse staged file, from `dataBytes` on) are zero pieces and are not read at all.
 */
export async function chunkedNativeCommP(proof: RegisteredSealProof, path: string, pieceSize: number, opts: { tmpPrefix: string; dataBytes?: number; chunk?: number }): Promise<Buffer> {
  const chunk = opts.chunk ?? COMMP_CHUNK;
  if (pieceSize <= chunk) return nativeCommP(proof, path, pieceSize);
  const u = unpaddedSize(chunk);
  const dataBytes = opts.dataBytes ?? unpaddedSize(pieceSize);
  let level: Buffer[] = [];
  const tmp = `${opts.tmpPrefix}.commp-chunk`;
  try {
    for (let i = 0; i < pieceSize / chunk; i++) {
      if (i * u >= dataBytes) {
        level.push(zeroCommP(chunk));
        continue;
      }
      await pipeline(createReadStream(path, { start: i * u, end: (i + 1) * u - 1, highWaterMark: 1 << 20 }), createWriteStream(tmp));
      level.push(await nativeCommP(proof, tmp, chunk));
    }
  } finally {
    rmSync(tmp, { force: true });
  }
  while (level.length > 1) {
    const up: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) up.push(nodeHash(level[i], level[i + 1]));
    level = up;
  }
  return level[0];
}

/** A Merkle node of the piece tree: sha256 of the two children, top two bits cleared. */
function nodeHash(a: Buffer, b: Buffer): Buffer {
  const h = createHash('sha256').update(a).update(b).digest();
  h[31] &= 0x3f;
  return h;
}

/** A streaming CommP: write the data in chunks, then `digest(pieceSize)`. */
export class StreamingCommP {
  private h = PieceHasher.create();
  private n = 0;

  write(chunk: Uint8Array): void {
    this.h.write(chunk);
    this.n += chunk.length;
  }

  get bytes(): number {
    return this.n;
  }

  /** Zero-fills to the unpadded size of `pieceSize` and returns the 32-byte CommP. */
  digest(pieceSize: number): Buffer {
    const target = unpaddedSize(pieceSize);
    if (this.n > target) throw new RangeError(`${this.n} bytes do not fit a ${pieceSize}-byte piece`);
    const zeros = new Uint8Array(Math.min(1 << 20, target - this.n));
    while (this.n < target) this.write(zeros.subarray(0, Math.min(zeros.length, target - this.n)));
    const d = this.h.digest().bytes;
    return Buffer.from(d.subarray(d.length - 32));
  }
}

/** CommP of a file's bytes (zero-filled to `pieceSize`) with the JS streaming hasher. */
export async function jsFileCommP(path: string, pieceSize: number): Promise<Buffer> {
  const h = new StreamingCommP();
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.write(chunk as Buffer);
  return h.digest(pieceSize);
}

/**
 * CommP of a client's file for the piece size that holds it: native when the file is exactly
 * the unpadded piece size and the addon is built, JS streaming otherwise.
 */
export async function fileCommP(path: string, proof: RegisteredSealProof, pieceSize = pieceSizeFor(statSync(path).size)): Promise<{ commP: Buffer; pieceSize: number; how: 'native' | 'js' }> {
  const size = statSync(path).size;
  if (size === unpaddedSize(pieceSize)) {
    try {
      return { commP: await nativeCommP(proof, path, pieceSize), pieceSize, how: 'native' };
    } catch (e) {
      if (!/addon is not built|cannot find|Cannot find/i.test((e as Error).message)) throw e;
    }
  }
  return { commP: await jsFileCommP(path, pieceSize), pieceSize, how: 'js' };
}

// Zero-piece commitments: the root of an all-zero tree is the same at every node of a level.
const zeroLevels: Buffer[] = [Buffer.alloc(32)];

/** CommP of a piece of `paddedSize` zero bytes (the filler pieces of a sector). */
export function zeroCommP(paddedSize: number): Buffer {
  unpaddedSize(paddedSize); // checks it is a piece size
  const level = Math.round(Math.log2(paddedSize / 32));
  while (zeroLevels.length <= level) {
    const prev = zeroLevels[zeroLevels.length - 1];
    zeroLevels.push(nodeHash(prev, prev));
  }
  return zeroLevels[level];
}
