// The life cycle every role actor shares, as an XState machine:
//
//   idle --START--> running --STOP--> stopping --> stopped (final)
//                      |--FINISH--> done (final: the role's work is complete)
//                      `--FAIL----> failed (final: the worker exits non-zero, the supervisor decides)
//
// HEALTH ({degraded: reason | null}) while running: the role is up but not doing its job
// fully (its chain node gone, its last deadline missed); status, metrics and alerts show it.
//
// While `running`, the role's `run` hook is invoked (a callback actor: it may send events back
// and receive the events the supervisor forwards). `stop` gets a bounded time on STOP.
// The context is what survives a restart (persisted snapshot): how often the actor started
// and resumed, and `data`, the role's own durable state (set with SET events).
import { assign, fromCallback, fromPromise, sendTo, setup } from 'xstate';
import type { RoleContext } from './types.js';

export interface RoleMachineContext {
  role: string;
  /** Times the actor was started fresh (START from idle). */
  starts: number;
  /** Times it was brought back from a persisted snapshot. */
  resumes: number;
  firstStartedAt: number | null;
  lastStartedAt: number | null;
  /** Human-readable word on what the role is doing now. */
  detail: string;
  /** The role's durable state. */
  data: Record<string, unknown>;
  error: string | null;
  /** Why the running role is not doing its job fully (null: healthy). */
  degraded?: string | null;
}

export type RoleEvent =
  | { type: 'START' }
  | { type: 'RESUMED' }
  | { type: 'STOP' }
  | { type: 'SET'; key: string; value: unknown }
  | { type: 'PROGRESS'; detail: string }
  | { type: 'FINISH' }
  | { type: 'FAIL'; error: string }
  | { type: 'HEALTH'; degraded: string | null }
  | { type: string; [k: string]: unknown };

export interface RoleHooks {
  /** Runs while the actor is `running`; returns a cleanup function. */
  run?(args: { ctx: RoleContext; data: Record<string, unknown>; sendBack(e: RoleEvent): void; receive(listener: (e: RoleEvent) => void): void }): (() => void) | void;
  /** Orderly stop (flush, close sockets); the supervisor bounds how long it may take. */
  stop?(ctx: RoleContext): Promise<void>;
  /** Detail shown while running before the hook says more. */
  runningDetail?: string;
}

export function roleMachine(ctx: RoleContext, hooks: RoleHooks = {}) {
  return setup({
    types: { context: {} as RoleMachineContext, events: {} as RoleEvent },
    actors: {
      run: fromCallback<RoleEvent, { data: Record<string, unknown> }>(
        ({ sendBack, receive, input }) => hooks.run?.({ ctx, data: input.data, sendBack: (e) => sendBack(e), receive: (l) => receive(l) }) ?? undefined,
      ),
      stop: fromPromise(async () => {
        await hooks.stop?.(ctx);
      }),
    },
  }).createMachine({
    id: ctx.id,
    initial: 'idle',
    context: { role: ctx.id, starts: 0, resumes: 0, firstStartedAt: null, lastStartedAt: null, detail: 'idle', data: {}, error: null },
    states: {
      idle: {
        on: {
          START: {
            target: 'running',
            actions: assign(({ context }) => {
              const now = Date.now();
              return { starts: context.starts + 1, firstStartedAt: context.firstStartedAt ?? now, lastStartedAt: now, detail: hooks.runningDetail ?? 'running' };
            }),
          },
        },
      },
      running: {
        invoke: { id: 'run', src: 'run', input: ({ context }) => ({ data: context.data }) },
        on: {
          RESUMED: { actions: assign(({ context }) => ({ resumes: context.resumes + 1, lastStartedAt: Date.now() })) },
          SET: {
            actions: assign(({ context, event }) => {
              const e = event as { key: string; value: unknown };
              return { data: { ...context.data, [e.key]: e.value } };
            }),
          },
          PROGRESS: { actions: assign(({ event }) => ({ detail: String((event as { detail: string }).detail) })) },
          HEALTH: { actions: assign(({ event }) => ({ degraded: (event as { degraded: string | null }).degraded ?? null })) },
          FINISH: { target: 'done' },
          FAIL: { target: 'failed', actions: assign(({ event }) => ({ error: String((event as { error: string }).error) })) },
          STOP: { target: 'stopping' },
          // Anything else goes to the role's run hook.
          '*': { actions: sendTo('run', ({ event }) => event) },
        },
      },
      stopping: {
        entry: assign({ detail: 'stopping', degraded: null }),
        invoke: { src: 'stop', onDone: 'stopped', onError: 'stopped' },
      },
      stopped: { type: 'final', entry: assign({ detail: 'stopped' }) },
      done: { type: 'final', entry: assign({ detail: 'done' }) },
      failed: { type: 'final', entry: assign({ detail: 'failed' }) },
    },
  });
}
