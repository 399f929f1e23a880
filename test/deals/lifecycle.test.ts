// The deal lifecycle (src/deals/store.ts's XState machine): the moves a deal may make, as
// Boost's checkpoints, and every other one refused — including a move to the state it is in.
import test from 'ava';
import { DEAL_STATES, type DealState, dealCanBecome } from '../../src/deals/store.js';

const ALLOWED: [DealState, DealState][] = [
  ['Accepted', 'Transferring'],
  ['Accepted', 'Failed'],
  ['Accepted', 'Expired'],
  ['Transferring', 'Verifying'],
  ['Transferring', 'Failed'],
  ['Verifying', 'Publishing'],
  ['Verifying', 'Failed'],
  ['Publishing', 'Sealing'],
  ['Publishing', 'Failed'],
  ['Sealing', 'Active'],
  ['Sealing', 'Publishing'], // a sector that failed to seal gives its pieces back
  ['Sealing', 'Failed'],
  ['Active', 'Failed'],
];

test('exactly the lifecycle moves are allowed; Failed and Expired take none', (t) => {
  const allowed = new Set(ALLOWED.map(([a, b]) => `${a}>${b}`));
  for (const from of DEAL_STATES) for (const to of DEAL_STATES) t.is(dealCanBecome(from, to), allowed.has(`${from}>${to}`), `${from} → ${to}`);
});
