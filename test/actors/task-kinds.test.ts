// The task-kind table (actors/task-kinds.ts): every kind names a function src/proofs exports,
// classes are in urgency order, and only sealing work pauses for any PoSt.
import test from 'ava';
import * as proofs from '../../src/proofs/index.js';
import { JOB_CLASSES, TASK_KINDS, classOf, proofOpOf, taskKind } from '../../actors/task-kinds.js';

test('every job kind is computed by a function src/proofs exports', (t) => {
  for (const [kind, k] of Object.entries(TASK_KINDS)) {
    t.is(typeof (proofs as unknown as Record<string, unknown>)[k.proofOp], 'function', `${kind}: proofs.${k.proofOp}`);
    t.is(proofOpOf(kind), k.proofOp);
  }
  t.is(proofOpOf('no-such-kind'), undefined);
  t.is(proofOpOf('constructor'), undefined, 'not a property of every object');
});

test('classes: Winning PoSt, Window PoSt, Commit2, then other sealing work (also any unknown kind)', (t) => {
  t.deepEqual([...JOB_CLASSES], ['winning-post', 'window-post', 'commit2', 'seal']);
  t.deepEqual(['winning-post', 'window-post', 'commit2', 'precommit1', 'precommit2', 'commit1', 'test-double'].map(classOf), [0, 1, 2, 3, 3, 3, 3]);
});

test('pause policy and process: a Winning PoSt is never held back; a Window PoSt only by a Winning PoSt; sealing by any PoSt', (t) => {
  t.is(taskKind('winning-post').pause, 'never');
  t.is(taskKind('window-post').pause, 'winning');
  for (const k of ['commit2', 'commit1', 'precommit2', 'precommit1', 'test-double']) t.is(taskKind(k).pause, 'post', k);
  t.deepEqual(
    Object.values(TASK_KINDS).map((k) => k.process),
    ['winning', 'window', 'seal', 'seal', 'seal', 'seal'],
  );
});
