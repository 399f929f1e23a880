// Sector numbers for the seal pipeline from the sector-number service (src/sectorid): the
// server of this miner (alloce / local mode: its address is in <repo>/sectorid-api) or of
// another miner (--sctype=get --sclisten=IP:PORT). Numbers are never invented here: when
// the server cannot be reached the pledge fails with the client's error and can be retried.
// The token sent is the one this host was given; `alloc` needs only the write permission.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SectorIdClient } from '../sectorid/index.js';
import type { NumberSource } from './pipeline.js';

export const SECTORID_API_FILE = 'sectorid-api';

export class SectorIdNumbers implements NumberSource {
  private client: SectorIdClient | undefined;
  private address: string | undefined;

  constructor(private readonly o: { token: string; repo: string; mode: 'alloce' | 'get' | 'local'; address?: string; waitMs?: number }) {}

  private async resolve(): Promise<string> {
    if (this.o.mode === 'get') return this.o.address!;
    // Served by this miner's sector-id actor, which writes its address once listening.
    const f = join(this.o.repo, SECTORID_API_FILE);
    const deadline = Date.now() + (this.o.waitMs ?? 30_000);
    while (!existsSync(f)) {
      if (Date.now() > deadline) throw new Error(`the sector-number server of this miner has not started (${f} is missing)`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const a = readFileSync(f, 'utf8').trim();
    // A server listening on every interface is reached on loopback from its own host.
    return a.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:');
  }

  async allocate(count: number): Promise<number[]> {
    const address = await this.resolve();
    if (!this.client || address !== this.address) {
      await this.client?.close();
      this.client = new SectorIdClient({ address, token: this.o.token });
      this.address = address;
    }
    return this.client.allocate(count);
  }

  async close(): Promise<void> {
    await this.client?.close();
  }
}
