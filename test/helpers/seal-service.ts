// A seal service on a temporary repository with an in-memory chain and a local counter for
// sector numbers: the listener and its JSON-RPC without a devnet or workers.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Auth } from '../../src/auth/index.js';
import type { NetLimits } from '../../src/net/http-server.js';
import { SealService } from '../../src/sealing/service.js';
import { MemChain } from './mem-chain.js';

export async function startSealService(t: { teardown(f: () => unknown): void }, auth: Auth, netLimits: Partial<NetLimits> = {}): Promise<{ svc: SealService; port: number; url: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'dm-sealsvc-'));
  let next = 1;
  const svc = new SealService({
    repo: dir,
    minerId: 1000,
    auth,
    netLimits,
    listen: { host: '127.0.0.1', port: 0 },
    chain: new MemChain(join(dir, 'chain.json'), 1000).sealChain(),
    numbers: { allocate: async (n) => Array.from({ length: n }, () => next++) },
    storagePath: join(dir, 'storage'),
  });
  const { port } = await svc.start();
  t.teardown(() => svc.stop());
  return { svc, port, url: `http://127.0.0.1:${port}` };
}
