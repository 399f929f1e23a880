// What a role module provides and what it gets from the runtime.
import type { AnyStateMachine } from 'xstate';
import type { Logger } from '../../src/log.js';
import type { JobReport } from '../mailbox.js';

export interface ProofOptions {
  priority?: number;
  /** Absolute time (ms since epoch) after which the proof is useless. */
  deadline?: number;
  /** Aborting it cancels the job in the mailbox (queued: dropped; running: its process stopped). */
  signal?: AbortSignal;
}

export interface RoleContext {
  /** The actor id (e.g. "winning-post"). */
  id: string;
  /** Role settings from the miner's configuration. */
  options: Record<string, unknown>;
  /** Submits a proof job to the host's GPU mailbox (through the supervisor). */
  submitProof<T = unknown>(kind: string, args: unknown[], opts?: ProofOptions): Promise<{ value: T; report: JobReport }>;
  log: Logger;
}

export interface RoleDefinition {
  machine: AnyStateMachine;
  /** Bumped when the machine's shape changes: an older persisted snapshot is then set aside. */
  version: number;
}

export type CreateRole = (ctx: RoleContext) => RoleDefinition | Promise<RoleDefinition>;
