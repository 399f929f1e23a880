// The seal pipeline against the real chain path: a seal-miner process speaking the Lotus
// API (lotus-chain.ts) to the embedded devnet, which verifies the prove-commit with the real
// verify_seal; a real worker process; the real sector-number service.
import { Auth } from '../../src/auth/index.js';
import test from 'ava';
import { mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSectorIdServer } from '../../src/sectorid/index.js';
import type { SectorView } from '../../src/sealing/service.js';
import { startDevnet } from '../devnet/_harness.js';
import { MAIN, Proc, killAll, rpc, until } from '../helpers/procs.js';

const MINER_SCRIPT = fileURLToPath(new URL('../helpers/seal-miner.js', import.meta.url));
// The miners' API secret (as their repository's keystore holds it): the operator calls with an
// admin token, the seal workers hold only a write token.
const SECRET = randomBytes(32);
const auth = new Auth(SECRET);
const TOKEN = auth.issue('admin');
const WORKER_TOKEN = auth.issue('write');


test.after.always(killAll);

test('a pledged sector is pre-committed, proven and listed on the devnet', async (t) => {
  const h = await startDevnet({ autoAdvance: true, blockDelayMs: 300 });
  mkdirSync(join(h.dir, 'sid'));
  const sid = await startSectorIdServer({ repo: join(h.dir, 'sid'), listen: '127.0.0.1:0', auth, minerId: 'f01000' });
  try {
    const m = new Proc('miner', [MINER_SCRIPT, '--repo', join(h.dir, 'miner'), '--chain-api', h.apiInfo, '--sectorid', sid.address, '--token', TOKEN, '--secret', SECRET.toString('hex'), '--port', '0', '--storage', join(h.dir, 'storage')]);
    const port = Number((await m.waitFor(/^READY \d+/)).split(' ')[1]);
    new Proc('worker', [MAIN, 'worker', '--miner-api', `${WORKER_TOKEN}:/ip4/127.0.0.1/tcp/${port}/http`, '--dir', join(h.dir, 'worker'), '--cores', '2', '--memory', '8GiB', '--nice', '0']);
    const [n] = await rpc<number[]>(`http://127.0.0.1:${port}`, TOKEN, 'SectorsPledge', [1]);
    const s = await until(async () => {
      const v = await rpc<SectorView>(`http://127.0.0.1:${port}`, TOKEN, 'SectorsStatus', [n]);
      if (v.failure && v.state.endsWith('Failed')) throw new Error(`sector failed: ${v.failure}`);
      return v.state === 'Proving' && v;
    }, 300_000, 'sector proving');
    const onChain = await h.client.stateSectorGetInfo('t01000', n);
    t.truthy(onChain, 'the devnet holds the proven sector');
    t.is(onChain!.SealedCID['/'], s.sealedCid ?? '');
    t.deepEqual(await h.client.stateMinerAllocated('t01000'), [n]);
    t.true(s.log.some((l) => /ProveCommitSectors3 message/.test(l.note ?? '')));
  } finally {
    await killAll();
    await sid.close();
    await h.close();
  }
});
