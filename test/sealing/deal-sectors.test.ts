// SectorsPledgeDeals, the seal service's entry for deal sectors (the deal role calls it over
// JSON-RPC): bad input refused with the reason and nothing stored; a repeated call answered
// with the same sector; a sector that would share only some deals with another refused; each
// deal's PublishStorageDeals message kept with the sector (lotus-miner's DealInfo.PublishCid).
import test from 'ava';
import { cborEncode } from '../../src/chain/cbor.js';
import { cborCid } from '../../src/chain/cid.js';
import { commPToCid } from '../../src/proofs/cid.js';
import { Auth } from '../../src/auth/index.js';
import { rpc } from '../helpers/procs.js';
import { startSealService } from '../helpers/seal-service.js';

const auth = Auth.random();
const TOKEN = auth.issue('write');

test('SectorsPledgeDeals checks its input, is idempotent, and refuses to split deals across sectors', async (t) => {
  const { url } = await startSealService(t, auth);
  const cid = (n: number) => commPToCid(Buffer.alloc(32, n).fill(0, 31));
  const piece = (n: number) => ({ url: `http://127.0.0.1:9/piece/${cid(n)}`, unpaddedSize: 1016, pieceCid: cid(n) });
  const call = (pieces: unknown, ids: unknown, publish?: unknown) => rpc<number>(url, TOKEN, 'SectorsPledgeDeals', publish === undefined ? [pieces, ids] : [pieces, ids, publish]);
  const msg = cborCid(cborEncode(['a PublishStorageDeals message']))['/'];

  await t.throwsAsync(call([], [1]), { message: /pieces must be a non-empty array/ });
  await t.throwsAsync(call([piece(1)], []), { message: /dealIds must be a non-empty array/ });
  await t.throwsAsync(call([piece(1), piece(2)], [1]), { message: /1 deal IDs for 2 data pieces/ });
  await t.throwsAsync(call([piece(1)], [1]), { message: /hold 1016 unpadded bytes; a sector holds exactly 2032/ });
  await t.throwsAsync(call([{ ...piece(1), url: 'file:///etc/passwd' }, { unpaddedSize: 1016 }], [1]), { message: /must be an http\(s\) URL/ });
  await t.throwsAsync(call([{ ...piece(1), pieceCid: 'bafy-nonsense' }, { unpaddedSize: 1016 }], [1]), { message: /pieceCid/ });
  await t.throwsAsync(call([piece(1), { unpaddedSize: -5 }], [1]), { message: /unpaddedSize must be a positive integer/ });
  await t.throwsAsync(call([piece(1), { unpaddedSize: 1016 }], [1], [msg, msg]), { message: /publishCids must be an array as long as dealIds/ });
  await t.throwsAsync(call([piece(1), { unpaddedSize: 1016 }], [1], ['not-a-cid']), { message: /publishCids\[0\]: invalid CID/ });
  t.deepEqual(await rpc(url, TOKEN, 'SectorsList'), [], 'nothing was stored for a refused call');

  const n = await call([piece(1), piece(2)], [10, 11]);
  t.is(await call([piece(1), piece(2)], [11, 10]), n, 'the same deals again: the same sector');
  await t.throwsAsync(call([piece(2), piece(3)], [11, 12]), { message: /deal\(s\) 11 are already in sector/ });
  const m = await call([piece(4), { unpaddedSize: 1016 }], [13], [msg]);
  t.not(m, n);
  const list = await rpc<{ number: number; deals: number[]; dealPublishCids: (string | null)[] }[]>(url, TOKEN, 'SectorsList');
  t.deepEqual(
    list.map((s) => [s.number, s.deals, s.dealPublishCids]),
    [
      [n, [10, 11], [null, null]],
      [m, [13], [msg]],
    ],
  );
});
