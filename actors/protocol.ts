// Messages between the supervisor (main thread) and a role actor's worker thread. Each is
// msgpackr-encoded (./codec.ts) and posted as bytes.
import type { JobReport } from './mailbox.js';
import type { MetricsJson } from '../src/metrics/index.js';

export type CrashHow = 'throw' | 'reject' | 'exit' | 'heap' | 'hang';

export type ToWorker =
  | { t: 'event'; event: { type: string; [k: string]: unknown } }
  | { t: 'ping'; id: number }
  /** Scrape: answer with this thread's prom-client registry as JSON (src/metrics). */
  | { t: 'metrics'; id: number }
  | { t: 'shutdown' }
  /** Log levels of this thread: set (all loggers, or one component's) if `level`, then list. */
  | { t: 'log'; id: number; level?: string; component?: string }
  | { t: 'crash'; how: CrashHow }
  /** sectors: on failure, the sectors a FaultySectorsError named (a Window PoSt skips those). */
  | { t: 'job-result'; id: number; ok: boolean; value?: unknown; error?: string; code?: string; report?: JobReport; sectors?: number[] };

export type FromWorker =
  | { t: 'state'; value: string; status: string; context: Record<string, unknown>; restored: boolean }
  | { t: 'pong'; id: number; value: string }
  | { t: 'metrics'; id: number; json: MetricsJson }
  | { t: 'log'; id: number; changed: number; components: Record<string, string[]>; error?: string }
  | { t: 'submit'; id: number; kind: string; args: unknown[]; priority?: number; deadline?: number }
  /** The actor no longer wants job `id` (its 'submit' id): the mailbox cancels it. */
  | { t: 'cancel-job'; id: number; reason: string }
  | { t: 'done'; reason: 'final' | 'failed'; error?: string }
  | { t: 'stopped' };

/** What a worker thread is started with (workerData). */
export interface WorkerInit {
  id: string;
  /** File URL of the role module (exports `createRole`). */
  module: string;
  /** Where the actor persists its snapshot; none: not persisted. */
  snapshotPath?: string;
  options: Record<string, unknown>;
  allowCrash: boolean;
}
