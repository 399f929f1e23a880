// How the PoSt roles get their proofs computed. The role actors plug in the host's GPU
// mailbox (Winning PoSt on its reserved top-priority lane, Window PoSt on the PoSt lanes);
// tests and single-process tools use DirectRunner, which just calls the proofs library.
import * as proofs from '../proofs/index.js';

export type ProofKind = 'window-post' | 'winning-post';

export interface ProofJob {
  kind: ProofKind;
  /** Absolute time (ms since the Unix epoch) after which the proof is useless. */
  deadlineMs?: number;
  /** Aborted when the proof became useless before its deadline (a Winning PoSt whose round was decided without it). */
  signal?: AbortSignal;
  /**
   * The positional arguments of the src/proofs call the job stands for
   * (`generateWindowPoSt` / `generateWinningPoSt`: randomness, replicas, proverId), so a
   * runner that computes proofs elsewhere (the mailbox's executors) can run it without `fn`.
   */
  args: [randomness: Buffer, replicas: proofs.PrivateReplicaInfo[], proverId: Buffer];
}

export interface ProofRunner {
  /** Runs one proof job; `fn` computes it in this process. */
  run<T>(job: ProofJob, fn: () => Promise<T>): Promise<T>;
}

/** The error a runner throws when the job's signal aborted before it produced a proof. */
export class ProofCancelledError extends Error {
  override name = 'ProofCancelledError';
}

/** The error a runner throws when a job's deadline passed before it produced a proof. */
export class ProofDeadlineError extends Error {
  override name = 'ProofDeadlineError';
}

/** Computes proofs in this process, in the order asked; a passed deadline rejects at once. */
export class DirectRunner implements ProofRunner {
  /** Jobs run so far, by kind (for status and tests). */
  readonly counts: Record<ProofKind, number> = { 'window-post': 0, 'winning-post': 0 };

  private readonly enforceDeadlines: boolean;

  /** `enforceDeadlines: false` for a chain without a wall clock (a devnet advanced by hand). */
  constructor(opts: { enforceDeadlines?: boolean } = {}) {
    this.enforceDeadlines = opts.enforceDeadlines ?? true;
  }

  async run<T>(job: ProofJob, fn: () => Promise<T>): Promise<T> {
    if (this.enforceDeadlines && job.deadlineMs !== undefined && Date.now() > job.deadlineMs) {
      throw new ProofDeadlineError(`${job.kind} job missed its deadline by ${Date.now() - job.deadlineMs} ms before it started`);
    }
    this.counts[job.kind]++;
    // job.signal is not honoured: an in-process proof cannot be stopped, and a caller that
    // stopped waiting would start the next proof beside it, on the same cores. (The miner's
    // mailbox runs Winning PoSt in a process it kills: actors/executors.ts.)
    return fn();
  }
}

/** Sector numbers a failed Window PoSt names as unreadable (FaultySectorsError or a relayed copy of it). */
export function faultySectorsOf(e: unknown): number[] {
  const err = e as { sectors?: unknown; faultySectors?: unknown; name?: string; kind?: string; message?: string } | undefined;
  for (const list of [err?.sectors, err?.faultySectors]) {
    if (Array.isArray(list) && list.length > 0 && list.every((x) => Number.isSafeInteger(x))) return list as number[];
  }
  // Through a process boundary only the message may survive.
  const msg = err?.message ?? '';
  if (err?.name === 'FaultySectorsError' || err?.kind === 'faulty-sectors') {
    const m = /sectors? ([\d, ]+)/.exec(msg);
    if (m) return m[1].split(/[ ,]+/).filter(Boolean).map(Number);
  }
  const id = /SectorId\((\d+)\)/.exec(msg);
  return id ? [Number(id[1])] : [];
}
