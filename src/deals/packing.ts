// Packing deal pieces into a sector, with Filecoin's alignment rule: a piece of padded size S
// starts at a padded offset that is a multiple of S (AddPiece writes zero padding before it
// otherwise). Piece sizes and sector sizes are powers of two, so pieces placed largest first
// never need padding between them, and a set of pieces fits one sector exactly when their
// sizes sum to at most the sector size. The rest of the sector is filled with zero pieces,
// smallest first (each then lands aligned), as Lotus's filler pieces do.

export interface Sized {
  /** Padded piece size. */
  size: number;
}

export interface PackPlan<T extends Sized> {
  /** The pieces chosen, in the order to add them to the sector (largest first). */
  pieces: T[];
  /** Padded sizes of the zero pieces that fill the rest of the sector, in order. */
  fillers: number[];
  /** Padded bytes of deal data in the sector. */
  used: number;
  sectorSize: number;
}

const isPow2 = (n: number) => Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;

/**
 * Chooses pieces from `queue` (oldest first) for one sector: each piece is taken if it still
 * fits, so the oldest piece always goes in and smaller younger ones fill the gaps. Returns
 * null when the queue is empty. Pure: nothing is reserved.
 */
export function packPieces<T extends Sized>(queue: readonly T[], sectorSize: number): PackPlan<T> | null {
  if (!isPow2(sectorSize) || sectorSize < 128) throw new RangeError(`sector size ${sectorSize} is not a power of two ≥ 128`);
  const chosen: T[] = [];
  let used = 0;
  for (const p of queue) {
    if (!isPow2(p.size) || p.size < 128) throw new RangeError(`piece size ${p.size} is not a power of two ≥ 128`);
    if (p.size > sectorSize) continue; // refused at proposal time; never packable
    if (used + p.size <= sectorSize) {
      chosen.push(p);
      used += p.size;
      if (used === sectorSize) break;
    }
  }
  if (chosen.length === 0) return null;
  // Array.prototype.sort is stable: equal sizes keep their queue order.
  const pieces = [...chosen].sort((a, b) => b.size - a.size);
  return { pieces, fillers: fillerSizes(used, sectorSize), used, sectorSize };
}

/** Zero pieces that fill a sector from padded offset `used` (a sum of descending powers of two). */
export function fillerSizes(used: number, sectorSize: number): number[] {
  const out: number[] = [];
  let rem = sectorSize - used;
  for (let bit = 128; rem > 0; bit *= 2) {
    // arithmetic, not `&`: sector sizes pass 2^31
    if (Math.floor(rem / bit) % 2 === 1) {
      out.push(bit);
      rem -= bit;
    }
  }
  return out;
}

/**
 * Padded offsets at which pieces of these sizes land when added in this order, and the zero
 * padding AddPiece writes before each (so a test can check a plan needs none).
 */
export function placements(sizes: number[]): { offset: number; padding: number }[] {
  let off = 0;
  return sizes.map((s) => {
    const aligned = Math.ceil(off / s) * s;
    const r = { offset: aligned, padding: aligned - off };
    off = aligned + s;
    return r;
  });
}
