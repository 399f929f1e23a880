// Every proof job kind, in one table: what the GPU mailbox (class, lanes, pause policy), the
// proof processes and the in-process executor (the src/proofs function) and `distminer run`
// (which executor runs it) know about it. Before, these facts lived in three tables and an
// if-chain that had to be kept in step by hand.
//
// Seal workers' tasks (AddPiece … Finalize, Lotus's task types) are not mailbox jobs: a seal
// worker runs them itself, and their resources and order are the seal scheduler's
// (src/sealing/scheduler.ts taskNeeds).

/** Mailbox classes, most urgent first (a job kind's class is its index here). */
export const JOB_CLASSES = ['winning-post', 'window-post', 'commit2', 'seal'] as const;
export type JobClass = (typeof JOB_CLASSES)[number];

/**
 * Which executor runs a kind on a miner (src/cli/run.ts builds one of each):
 * - winning: warm proof processes with a started spare, never held back;
 * - window: on a CPU host, a warm proof process the mailbox can stop while a Winning PoSt
 *   runs; on a GPU host, in process;
 * - seal: the sealing proof processes, held back (stopped or at nice 19) while any PoSt runs.
 */
export type ProcessKind = 'winning' | 'window' | 'seal';

/**
 * What holds a running job of this kind back on a CPU host (the mailbox's `throttle`):
 * - never: nothing (a Winning PoSt);
 * - winning: a running Winning PoSt, while the job can afford it (a Window PoSt, until half its
 *   time to the deadline is gone or it would no longer have twice its last run time left);
 * - post: any running PoSt (sealing work).
 */
export type PausePolicy = 'never' | 'winning' | 'post';

export interface TaskKind {
  /** The mailbox class: the queue's first key, and which lanes take the job (lanes take up to a class). */
  class: JobClass;
  /** The src/proofs function that computes it (in a proof process or in the miner). */
  proofOp: string;
  process: ProcessKind;
  pause: PausePolicy;
}

export const TASK_KINDS = {
  'winning-post': { class: 'winning-post', proofOp: 'generateWinningPoSt', process: 'winning', pause: 'never' },
  'window-post': { class: 'window-post', proofOp: 'generateWindowPoSt', process: 'window', pause: 'winning' },
  commit2: { class: 'commit2', proofOp: 'sealCommitPhase2', process: 'seal', pause: 'post' },
  commit1: { class: 'seal', proofOp: 'sealCommitPhase1', process: 'seal', pause: 'post' },
  precommit2: { class: 'seal', proofOp: 'sealPreCommitPhase2', process: 'seal', pause: 'post' },
  precommit1: { class: 'seal', proofOp: 'sealPreCommitPhase1', process: 'seal', pause: 'post' },
} as const satisfies Record<string, TaskKind>;

export type TaskKindName = keyof typeof TASK_KINDS;

/** A kind not in the table (a test double's) is other sealing work. */
const OTHER: TaskKind = { class: 'seal', proofOp: '', process: 'seal', pause: 'post' };

export function taskKind(kind: string): TaskKind {
  return Object.hasOwn(TASK_KINDS, kind) ? TASK_KINDS[kind as TaskKindName] : OTHER;
}

/** The mailbox class number of a kind (0 most urgent). */
export function classOf(kind: string): number {
  return JOB_CLASSES.indexOf(taskKind(kind).class);
}

/** The src/proofs function of a kind, or undefined for a kind no proof function computes. */
export function proofOpOf(kind: string): string | undefined {
  return Object.hasOwn(TASK_KINDS, kind) ? TASK_KINDS[kind as TaskKindName].proofOp : undefined;
}
