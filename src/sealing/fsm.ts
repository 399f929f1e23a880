// The sector state machine, as an XState machine: states and the events that move between
// them, nothing else. The pipeline (pipeline.ts) performs each state's work and reports
// its outcome as an event; every transition is persisted before the next state's work
// begins, so a restart resumes from the last state reached.
//
//   Packing → GetTicket → PreCommit1 → PreCommit2 → PreCommitting → PreCommitWait → WaitSeed
//     → Committing → FinalizeSector → SubmitCommit → CommitWait → Proving
//
// Finalize comes before the ProveCommit (Lotus's FinalizeEarly, Curio's order): Commit2 needs
// only Commit1's output, so the sealed file and cache can move to the long-term storage the
// PoSt miners read before the sector is activated. A sector is therefore never live on chain
// without its files where the Window PoSt miner looks for them; with the other order a
// sector activated just before its deadline's fault check could be declared faulty while its
// files were still on the seal worker.
//
// Failure states keep the sector (and its number): a bounded number of retries go back to
// the step that failed (or, when the worker holding the files is gone, back to Packing to
// rebuild them); past that the sector stays failed with its reason until an operator removes
// it. Chain rejections are not retried blindly: the chain's reason is kept.
import { createMachine } from 'xstate';
import { nextState } from '../util/machine.js';

export const SECTOR_STATES = [
  'Packing',
  'GetTicket',
  'PreCommit1',
  'PreCommit2',
  'PreCommitting',
  'PreCommitWait',
  'WaitSeed',
  'Committing',
  'SubmitCommit',
  'CommitWait',
  'FinalizeSector',
  'Proving',
  'PackingFailed',
  'SealPreCommit1Failed',
  'SealPreCommit2Failed',
  'PreCommitFailed',
  'ComputeProofFailed',
  'CommitFailed',
  'FinalizeFailed',
  'FailedUnrecoverable',
  'Removing',
  'Removed',
] as const;
export type SectorState = (typeof SECTOR_STATES)[number];

export type SectorEvent =
  | { type: 'DONE' }
  | { type: 'FAIL' }
  /** the worker holding the sector's files is gone: rebuild them from the start */
  | { type: 'FILES_LOST' }
  | { type: 'RETRY' }
  | { type: 'GIVE_UP' }
  /** the chain already shows what this state was about to do (e.g. after a crash) */
  | { type: 'SKIP_TO_WAIT_SEED' }
  | { type: 'SKIP_TO_PROVING' }
  /** a record from before FinalizeEarly (files still on the worker) reached the commit steps */
  | { type: 'FINALIZE_FIRST' }
  /** PreCommitWait: the message landed but the chain rejected it */
  | { type: 'REJECTED' }
  | { type: 'REMOVE' };

const fail = (to: SectorState) => ({ FAIL: to, FILES_LOST: 'Packing' as const, REMOVE: 'Removing' as const });
const retry = (back: SectorState) => ({ RETRY: back, GIVE_UP: 'FailedUnrecoverable' as const, REMOVE: 'Removing' as const, FILES_LOST: 'Packing' as const });

export const sectorMachine = createMachine({
  id: 'sector',
  initial: 'Packing',
  states: {
    Packing: { on: { DONE: 'GetTicket', ...fail('PackingFailed') } },
    GetTicket: { on: { DONE: 'PreCommit1', ...fail('SealPreCommit1Failed'), SKIP_TO_WAIT_SEED: 'WaitSeed' } },
    PreCommit1: { on: { DONE: 'PreCommit2', ...fail('SealPreCommit1Failed') } },
    PreCommit2: { on: { DONE: 'PreCommitting', ...fail('SealPreCommit2Failed'), SKIP_TO_WAIT_SEED: 'WaitSeed' } },
    PreCommitting: { on: { DONE: 'PreCommitWait', ...fail('PreCommitFailed'), SKIP_TO_WAIT_SEED: 'WaitSeed' } },
    PreCommitWait: { on: { DONE: 'WaitSeed', REJECTED: 'PreCommitFailed', ...fail('PreCommitFailed') } },
    WaitSeed: { on: { DONE: 'Committing', ...fail('CommitFailed') } },
    Committing: { on: { DONE: 'FinalizeSector', ...fail('ComputeProofFailed') } },
    FinalizeSector: { on: { DONE: 'SubmitCommit', ...fail('FinalizeFailed') } },
    SubmitCommit: { on: { DONE: 'CommitWait', ...fail('CommitFailed'), SKIP_TO_PROVING: 'Proving', FINALIZE_FIRST: 'FinalizeSector' } },
    CommitWait: { on: { DONE: 'Proving', REJECTED: 'CommitFailed', ...fail('CommitFailed'), FINALIZE_FIRST: 'FinalizeSector' } },
    Proving: { on: { REMOVE: 'Removing' } },
    PackingFailed: { on: retry('Packing') },
    SealPreCommit1Failed: { on: retry('PreCommit1') },
    SealPreCommit2Failed: { on: retry('PreCommit2') },
    PreCommitFailed: { on: { ...retry('PreCommitting'), SKIP_TO_WAIT_SEED: 'WaitSeed' } },
    ComputeProofFailed: { on: retry('Committing') },
    CommitFailed: { on: retry('SubmitCommit') },
    FinalizeFailed: { on: retry('FinalizeSector') },
    FailedUnrecoverable: { on: { REMOVE: 'Removing' } },
    Removing: { on: { DONE: 'Removed' } },
    Removed: { type: 'final' },
  },
});

/** Applies `event` to a sector in `state`; returns the new state (unchanged if not allowed). */
export function transition(state: SectorState, event: SectorEvent): SectorState {
  return nextState(sectorMachine, state, event);
}

export function canTransition(state: SectorState, event: SectorEvent): boolean {
  return transition(state, event) !== state;
}

/**
 * An event that does not apply to the sector's state, or that was meant for a state the sector
 * has since left (a step that finished after `sectors remove` moved it on). Lotus's sector FSM
 * refuses such events too ("planner for state X received unexpected event"): nothing is written.
 */
export class SectorEventError extends Error {
  override name = 'SectorEventError';
  constructor(
    readonly sector: number,
    readonly state: SectorState,
    /** The event's type ('SAVE': a write of the record without a state change). */
    readonly event: SectorEvent['type'] | 'SAVE',
    /** The state the event was meant for, when the sector has left it. */
    readonly meantFor?: SectorState,
  ) {
    super(meantFor ? `sector ${sector} left ${meantFor} for ${state} before ${event} came: ${event} is refused` : `sector ${sector} is ${state}: ${event} does not apply`);
  }
}

export const FAILED_STATES: ReadonlySet<SectorState> = new Set([
  'PackingFailed',
  'SealPreCommit1Failed',
  'SealPreCommit2Failed',
  'PreCommitFailed',
  'ComputeProofFailed',
  'CommitFailed',
  'FinalizeFailed',
  'FailedUnrecoverable',
]);

export const TERMINAL_STATES: ReadonlySet<SectorState> = new Set(['Proving', 'Removed', 'FailedUnrecoverable']);
