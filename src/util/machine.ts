// The project's one state-machine idiom: an XState machine declares the states and the events
// between them (the sector machine in src/sealing/fsm.ts, the deal lifecycle in
// src/deals/store.ts; the role actors in actors/roles/ are XState machines too), and a stored
// record's state moves only through it. An event its state does not take leaves the state as
// it is; callers turn that into an error (SectorEventError, DealTransitionError), never a
// silent no-op.
import { type AnyStateMachine, getNextSnapshot } from 'xstate';

/** The state `machine` moves to from `state` on `event` (`state` itself when the event does not apply). */
export function nextState<S extends string>(machine: AnyStateMachine, state: S, event: { type: string }): S {
  return getNextSnapshot(machine, machine.resolveState({ value: state, context: undefined }), event as never).value as S;
}
