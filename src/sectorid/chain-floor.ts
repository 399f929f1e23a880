// Where the allocator learns which sector numbers the chain already has allocated for the
// miner (the miner actor's AllocatedSectors bitfield). The Lotus client answers
// `StateMinerAllocated(minerAddr, tsk)` with an RLE+ bitfield; once decoded to runs,
// `fromRleRuns(runs)` turns it into ranges, so wiring it is one line:
//
//   const chainFloor: ChainFloorSource = { allocatedSectors: async (m) => fromRleRuns(await lotus.stateMinerAllocatedRuns(m)) };
import { readFile } from 'node:fs/promises';
import { type Ranges, normalize } from './ranges.js';

export interface ChainFloorSource {
  /** Every sector number the chain has allocated for `minerId`, as sorted inclusive ranges. */
  allocatedSectors(minerId: string): Promise<Ranges>;
}

/** A fixed or test-controlled set (unit and integration tests, and devnets without a chain client). */
export class StaticChainFloor implements ChainFloorSource {
  private ranges: Ranges;
  failing: Error | undefined;
  calls = 0;

  constructor(ranges: Ranges = []) {
    this.ranges = normalize(ranges);
  }

  set(ranges: Ranges): void {
    this.ranges = normalize(ranges);
  }

  async allocatedSectors(): Promise<Ranges> {
    this.calls++;
    if (this.failing) throw this.failing;
    return this.ranges;
  }
}

/**
 * Reads `[[lo,hi],...]` from a JSON file on every call: lets a test (or an operator without a
 * chain client) drive the chain floor of a server running in another process.
 */
export class FileChainFloor implements ChainFloorSource {
  constructor(readonly path: string) {}

  async allocatedSectors(): Promise<Ranges> {
    const text = await readFile(this.path, 'utf8');
    return normalize(JSON.parse(text) as Ranges);
  }
}

/** The real chain: the miner actor's allocated set, read over the Lotus API (a daemon or the devnet). */
export class LotusChainFloor implements ChainFloorSource {
  constructor(private readonly client: { stateMinerAllocated(miner: string): Promise<number[]> }) {}

  async allocatedSectors(minerId: string): Promise<Ranges> {
    const bits = await this.client.stateMinerAllocated(minerId); // sorted sector numbers
    const out: Ranges = [];
    for (const n of bits) {
      const last = out[out.length - 1];
      if (last && last[1] + 1 === n) last[1] = n;
      else out.push([n, n]);
    }
    return normalize(out);
  }
}
