// The chain floor on the real chain: a sector-number server reading the miner actor's
// allocated set from the devnet over the Lotus API starts above every allocated number and
// skips numbers the chain allocates while it runs.
import { Auth } from '../../src/auth/index.js';
import test from 'ava';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { encodePreCommitBatch2 } from '../../src/chain/params.js';
import { MinerMethod } from '../../src/chain/builtin-actors.js';
import { b64 } from '../../src/chain/encoding.js';
import { commRToCid } from '../../src/proofs/index.js';
import { LotusChainFloor, SectorIdClient, startSectorIdServer } from '../../src/sectorid/index.js';
import { type Harness, startDevnet } from '../devnet/_harness.js';

const AUTH = Auth.random();
const TOKEN = AUTH.issue('admin');

async function allocateOnChain(h: Harness, numbers: number[]): Promise<void> {
  const info = await h.client.stateMinerInfo('t01000');
  const head = (await h.client.chainHead()).Height;
  const params = encodePreCommitBatch2(
    numbers.map((n, i) => ({
      sealProof: 5,
      sectorNumber: n,
      sealedCid: { '/': commRToCid(Buffer.alloc(32, i + 1)) },
      sealRandEpoch: Math.max(0, head - 2),
      dealIds: [],
      expiration: 10_000_000,
      unsealedCid: null,
    })),
  );
  const sm = await h.client.mpoolPushMessage({ To: 't01000', From: info.Worker, Method: MinerMethod.PreCommitSectorBatch2, Params: b64(params) });
  const r = await h.client.stateWaitMsg(sm.CID ?? sm.Message.CID!, 0, { timeoutMs: 30_000 });
  if (r.Receipt.ExitCode !== 0) throw new Error(`pre-commit failed: exit ${r.Receipt.ExitCode}`);
}

test("the server starts above the chain's allocated numbers and skips new ones", async (t) => {
  const h = await startDevnet({ autoAdvance: true, blockDelayMs: 100 });
  mkdirSync(join(h.dir, 'sid'));
  try {
    await allocateOnChain(h, [0, 1, 2, 3, 4, 9]);
    t.deepEqual(await h.client.stateMinerAllocated('t01000'), [0, 1, 2, 3, 4, 9]);
    const srv = await startSectorIdServer({ repo: join(h.dir, 'sid'), listen: '127.0.0.1:0', auth: AUTH, minerId: 't01000', chainFloor: new LotusChainFloor(h.client), chainRefreshMs: 200 });
    const c = new SectorIdClient({ address: srv.address, token: TOKEN });
    try {
      t.deepEqual(await c.allocate(2), [10, 11], 'first numbers start above the highest allocated on chain');
      await allocateOnChain(h, [12, 13]);
      await new Promise((r) => setTimeout(r, 600)); // the server refreshes the chain's set
      t.deepEqual(await c.allocate(2), [14, 15], 'numbers the chain allocated meanwhile are skipped');
    } finally {
      await c.close();
      await srv.close();
    }
  } finally {
    await h.close();
  }
});
