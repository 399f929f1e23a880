// The helpers the role actors share (actors/roles/common.ts).
import test from 'ava';
import { countsBy, minerAddress, reportEvery } from '../../actors/roles/common.js';

test('minerAddress: actor number and network of an ID address; anything else is refused', (t) => {
  t.deepEqual(minerAddress('t01000'), { id: 1000, network: 'testnet' });
  t.deepEqual(minerAddress('f02345'), { id: 2345, network: 'mainnet' });
  t.throws(() => minerAddress('x01000'), { message: /network/ });
  t.throws(() => minerAddress('t01x'), { message: /invalid ID address/ });
  t.throws(() => minerAddress('t1abcdefghijklmnopqrstuvwxyz234567abcd'), { instanceOf: TypeError });
});

test('countsBy and reportEvery: a status detail now and on a timer, stopped by the returned function', async (t) => {
  t.is(
    countsBy([{ s: 'Proving' }, { s: 'Packing' }, { s: 'Proving' }], (x) => x.s),
    'Proving 2, Packing 1',
  );
  t.is(countsBy([], String), 'none');
  const sent: string[] = [];
  let n = 0;
  const stop = reportEvery(
    (e) => sent.push((e as { detail: string }).detail),
    () => `tick ${n++}`,
    20,
  );
  t.deepEqual(sent, ['tick 0'], 'sent at once');
  await new Promise((r) => setTimeout(r, 75));
  stop();
  const after = sent.length;
  t.true(after >= 2, `sent again on the timer (${after})`);
  await new Promise((r) => setTimeout(r, 60));
  t.is(sent.length, after, 'nothing after stop');
});
