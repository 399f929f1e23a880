// The sector state machine's order and its upgrade path for records written before Finalize
// moved ahead of the ProveCommit.
import test from 'ava';
import { type SectorEvent, type SectorState, canTransition, transition } from '../../src/sealing/fsm.js';

const walk = (from: SectorState, events: SectorEvent['type'][]) => events.reduce<SectorState>((s, type) => transition(s, { type } as SectorEvent), from);

test('the happy path finalizes before the ProveCommit is sent', (t) => {
  const path: SectorState[] = ['Packing'];
  let s: SectorState = 'Packing';
  while (s !== 'Proving') path.push((s = transition(s, { type: 'DONE' })));
  t.deepEqual(path, ['Packing', 'GetTicket', 'PreCommit1', 'PreCommit2', 'PreCommitting', 'PreCommitWait', 'WaitSeed', 'Committing', 'FinalizeSector', 'SubmitCommit', 'CommitWait', 'Proving']);
});

test('a sector already proven on chain goes from SubmitCommit straight to Proving', (t) => {
  t.is(transition('SubmitCommit', { type: 'SKIP_TO_PROVING' }), 'Proving');
  t.false(canTransition('CommitWait', { type: 'SKIP_TO_PROVING' }));
});

test('records from the old order (commit before finalize) finalize first and are not committed twice', (t) => {
  // Old SubmitCommit / CommitWait records have no files in long-term storage yet.
  t.is(transition('SubmitCommit', { type: 'FINALIZE_FIRST' }), 'FinalizeSector');
  t.is(transition('CommitWait', { type: 'FINALIZE_FIRST' }), 'FinalizeSector');
  // An old FinalizeSector record: DONE leads to SubmitCommit, which finds it on chain.
  t.is(walk('FinalizeSector', ['DONE', 'SKIP_TO_PROVING']), 'Proving');
  t.false(canTransition('Committing', { type: 'FINALIZE_FIRST' }));
});

test('failures keep the sector and retry the step that failed', (t) => {
  t.is(walk('FinalizeSector', ['FAIL', 'RETRY']), 'FinalizeSector');
  t.is(walk('SubmitCommit', ['FAIL', 'RETRY']), 'SubmitCommit');
  t.is(walk('CommitWait', ['REJECTED']), 'CommitFailed');
  t.is(walk('FinalizeSector', ['FILES_LOST']), 'Packing');
  t.is(walk('CommitFailed', ['GIVE_UP']), 'FailedUnrecoverable');
});
