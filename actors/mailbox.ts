// The GPU mailbox: one per host, owned by the supervisor. Every proof job of every actor goes
// through it, so that a busy sealing pipeline cannot cost a block or a Window PoSt deadline.
//
// Classes, most urgent first: 0 Winning PoSt, 1 Window PoSt, 2 Commit2, 3 other sealing work
// (each job kind's class and pause policy: ./task-kinds.ts).
// Lanes, per device (all counts configurable):
//   winning lanes — Winning PoSt only: a Winning PoSt never waits behind a sealing proof;
//   PoSt lanes    — Winning or Window PoSt: Window PoSt runs beside a sealing proof and never
//                   behind a queue of them;
//   seal lanes    — anything, most urgent first.
// A job goes to the most specific free lane that takes it. Queue order is class, then the
// job's own priority (higher first), then age; a queued sealing job climbs one class per
// `agingMs` of waiting, up to the Window PoSt class (never above), so sealing is not starved
// by a stream of Window PoSts on the seal lanes.
//
// A GPU lane is not a CPU: on a CPU host a sealing proof already running would still halve a
// PoSt's speed. So while any PoSt runs, running sealing jobs are throttled through their
// executor (a separate process: SIGSTOP until the PoSt ends, or a low nice value), see
// ./executors.ts. Likewise a Window PoSt while a Winning PoSt runs (on a CPU host the supervisor
// runs Window PoSt in a proof process for this) — but only while it can afford to: from the
// half of its time to its deadline, or earlier if it would no longer have twice the time the
// last Window PoSt ran, it neither waits for nor is paused by Winning PoSt and shares the
// cores — and where the Winning PoSt's executor can be held (its proof process runs at nice
// -20 in a session of its own, so "sharing" would leave the Window PoSt a few percent of the
// CPU), the Winning PoSt is held until that Window PoSt is done. Otherwise back-to-back Winning PoSts (a miner elected most rounds, each PoSt longer
// than an epoch) would hold it to its deadline: a block is worth one round, a missed deadline
// the power of every sector in it. A job whose deadline passes is cancelled (queued: never
// started; running: its executor is asked to cancel, and its caller gets the deadline error
// at once).
import { EventEmitter } from 'node:events';
import { LiveSet, SECONDS_BUCKETS, counter, gauge, histogram } from '../src/metrics/index.js';

import { JOB_CLASSES, type JobClass, type PausePolicy, classOf, taskKind } from './task-kinds.js';

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface JobSpec {
  kind: string;
  /** Positional arguments for the executor (the proofs API call's arguments). */
  args: unknown[];
  /** Tie-break inside the class: higher first. */
  priority?: number;
  /** Absolute time (ms since epoch) after which the result is useless: cancel instead. */
  deadline?: number;
  /** Who asked (an actor id), for status and for cancelling a dead actor's queued jobs. */
  submitter?: string;
}

export interface JobReport {
  id: number;
  kind: string;
  class: JobClass;
  submitter?: string;
  state: JobState;
  lane?: string;
  pid?: number;
  submittedAt: number;
  startedAt?: number;
  finishedAt?: number;
  /** Time spent queued (so far, if still queued). */
  waitMs: number;
  /** Time from start to end (so far, if running). */
  runMs: number;
  /** Time this job spent throttled because a PoSt was running. */
  throttledMs: number;
  error?: string;
}

export interface JobOutcome<T = unknown> {
  value: T;
  report: JobReport;
}

export type MailboxErrorCode = 'deadline' | 'failed' | 'closed' | 'cancelled';

export class MailboxError extends Error {
  constructor(
    message: string,
    readonly code: MailboxErrorCode,
    readonly report: JobReport,
    readonly causeError?: unknown,
  ) {
    super(message);
    this.name = 'MailboxError';
    const s = (causeError as { sectors?: unknown } | undefined)?.sectors;
    if (Array.isArray(s) && s.every((x) => typeof x === 'number')) this.sectors = s;
  }

  /** The sectors the failed proof named as faulty (a FaultySectorsError), if any. */
  readonly sectors?: number[];
}

/** A job started by an executor. */
export interface Execution {
  done: Promise<unknown>;
  /** The OS process computing it, when it has its own. */
  pid?: number;
  /** Hold a running sealing job back while a PoSt runs (OS-level, see executors.ts). */
  throttle?(): void;
  unthrottle?(): void;
  /** Abandon the job (deadline passed, mailbox closing). Best effort. */
  cancel?(reason: string): void;
}

export interface Executor {
  start(job: { id: number; kind: string; args: unknown[] }): Execution;
  close?(): Promise<void>;
}

export interface LaneCounts {
  devices: number;
  winningLanes: number;
  postLanes: number;
  sealLanes: number;
}

export interface MailboxOptions extends LaneCounts {
  agingMs: number;
  /** false: never throttle (e.g. a GPU host where bellperson's priority lock does the job). */
  throttle: boolean;
  executorFor(kind: string): Executor;
  now?: () => number;
  /** How many finished job reports status keeps. */
  keepFinished?: number;
}

interface Lane {
  name: string;
  device: number;
  /** Highest class number this lane accepts (0: winning only; 1: PoSt; 3: anything). */
  maxClass: number;
  job?: Job;
}

interface Job {
  report: JobReport;
  spec: JobSpec;
  cls: number;
  pause: PausePolicy;
  resolve(v: JobOutcome): void;
  reject(e: MailboxError): void;
  execution?: Execution;
  settled: boolean;
  throttledSince?: number;
}

export interface MailboxStatus {
  queued: Record<JobClass, number>;
  running: JobReport[];
  queue: JobReport[];
  lanes: { name: string; accepts: JobClass[]; job?: number }[];
  recent: JobReport[];
  totals: { submitted: number; done: number; failed: number; cancelled: number };
  throttle: boolean;
  throttledNow: number;
}

// Metrics (src/metrics; the mailbox lives on the main thread). Counters and histograms are
// fed from the mailbox's own events; the gauges are read from the live mailboxes at scrape.
const liveMailboxes = new LiveSet<Mailbox>();
gauge({
  name: 'distminer_mailbox_queued_jobs',
  help: 'Proof jobs waiting in the GPU mailbox, by class',
  labelNames: ['class'],
  collect() {
    this.reset();
    for (const c of JOB_CLASSES) this.set({ class: c }, 0);
    for (const mb of liveMailboxes) for (const [c, n] of Object.entries(mb.queuedByClass())) this.inc({ class: c }, n);
  },
});
gauge({
  name: 'distminer_mailbox_lane_busy',
  help: "1 while a lane of the GPU mailbox runs a job (class: the job's class), else 0",
  labelNames: ['lane', 'class'],
  collect() {
    this.reset();
    for (const mb of liveMailboxes) for (const l of mb.laneJobs()) this.set({ lane: l.lane, class: l.class ?? 'none' }, l.class ? 1 : 0);
  },
});
gauge({
  name: 'distminer_mailbox_throttled_jobs',
  help: 'Running sealing (or Window PoSt) jobs held back now because a PoSt runs',
  collect() {
    let n = 0;
    for (const mb of liveMailboxes) n += mb.throttledNow();
    this.set(n);
  },
});
const mbSubmitted = counter({ name: 'distminer_mailbox_jobs_submitted_total', help: 'Proof jobs submitted to the GPU mailbox', labelNames: ['class'] });
const mbFinished = counter({ name: 'distminer_mailbox_jobs_finished_total', help: 'Proof jobs the GPU mailbox answered, by outcome (done, failed, cancelled)', labelNames: ['class', 'outcome'] });
const mbWait = histogram({ name: 'distminer_mailbox_wait_seconds', help: 'Time a proof job waited in the queue before a lane took it', labelNames: ['class'], buckets: SECONDS_BUCKETS });
const mbRun = histogram({ name: 'distminer_mailbox_run_seconds', help: 'Time a proof job ran on its lane, by outcome', labelNames: ['class', 'outcome'], buckets: SECONDS_BUCKETS });
const mbPauses = counter({ name: 'distminer_mailbox_pauses_total', help: 'Times a running job was held back (throttled) because a PoSt ran', labelNames: ['class'] });
const mbPaused = counter({ name: 'distminer_mailbox_paused_seconds_total', help: 'Time running jobs spent held back because a PoSt ran', labelNames: ['class'] });
for (const c of JOB_CLASSES) {
  mbSubmitted.inc({ class: c }, 0);
  for (const o of ['done', 'failed', 'cancelled']) mbFinished.inc({ class: c, outcome: o }, 0);
}

export class Mailbox extends EventEmitter {
  private readonly lanes: Lane[] = [];
  private readonly queue: Job[] = [];
  private readonly recent: JobReport[] = [];
  private readonly now: () => number;
  private nextId = 1;
  private closed = false;
  private deadlineTimer?: NodeJS.Timeout;
  private readonly totals = { submitted: 0, done: 0, failed: 0, cancelled: 0 };
  private readonly unlist: () => void;
  /** How long the last Window PoSt that finished ran while not held back (ms). */
  private lastWindowPoStMs = 0;

  constructor(private readonly opts: MailboxOptions) {
    super();
    this.now = opts.now ?? Date.now;
    for (const [k, v] of Object.entries({ devices: opts.devices, winningLanes: opts.winningLanes, sealLanes: opts.sealLanes })) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`mailbox: ${k} must be an integer ≥ 1, got ${v}`);
    }
    if (!Number.isInteger(opts.postLanes) || opts.postLanes < 0) throw new Error(`mailbox: postLanes must be an integer ≥ 0, got ${opts.postLanes}`);
    if (!(opts.agingMs > 0)) throw new Error(`mailbox: agingMs must be > 0, got ${opts.agingMs}`);
    this.on('started', (r: JobReport) => mbWait.observe({ class: r.class }, r.waitMs / 1000));
    this.on('finished', (r: JobReport) => {
      mbFinished.inc({ class: r.class, outcome: r.state });
      if (r.startedAt !== undefined) mbRun.observe({ class: r.class, outcome: r.state }, r.runMs / 1000);
    });
    this.on('throttled', (r: JobReport) => mbPauses.inc({ class: r.class }));
    this.unlist = liveMailboxes.add(this);
    // Most specific lanes first: a job takes the first free lane that accepts it.
    for (let d = 0; d < opts.devices; d++) {
      for (let i = 0; i < opts.winningLanes; i++) this.lanes.push({ name: `dev${d}/winning${i}`, device: d, maxClass: 0 });
      for (let i = 0; i < opts.postLanes; i++) this.lanes.push({ name: `dev${d}/post${i}`, device: d, maxClass: 1 });
      for (let i = 0; i < opts.sealLanes; i++) this.lanes.push({ name: `dev${d}/seal${i}`, device: d, maxClass: 3 });
    }
  }

  /** Queues a job; the promise settles with its value and report, or a MailboxError. */
  submit<T = unknown>(spec: JobSpec): { id: number; result: Promise<JobOutcome<T>> } {
    const id = this.nextId++;
    const cls = classOf(spec.kind);
    const report: JobReport = { id, kind: spec.kind, class: JOB_CLASSES[cls], submitter: spec.submitter, state: 'queued', submittedAt: this.now(), waitMs: 0, runMs: 0, throttledMs: 0 };
    let resolve!: (v: JobOutcome) => void;
    let reject!: (e: MailboxError) => void;
    const result = new Promise<JobOutcome<T>>((res, rej) => {
      resolve = res as (v: JobOutcome) => void;
      reject = rej;
    });
    const job: Job = { report, spec, cls, pause: taskKind(spec.kind).pause, resolve, reject, settled: false };
    this.totals.submitted++;
    mbSubmitted.inc({ class: report.class });
    if (this.closed) {
      this.finish(job, 'cancelled', new MailboxError(`job ${id} (${spec.kind}): the mailbox is closed`, 'closed', report));
      return { id, result };
    }
    if (spec.deadline !== undefined && spec.deadline <= report.submittedAt) {
      this.finish(job, 'cancelled', new MailboxError(`job ${id} (${spec.kind}): deadline already passed at submission`, 'deadline', report));
      return { id, result };
    }
    this.queue.push(job);
    this.emit('queued', report);
    this.schedule();
    return { id, result };
  }

  /** Effective class of a queued job: sealing climbs with age, never above Window PoSt. */
  private effectiveClass(j: Job, now: number): number {
    if (j.cls <= 1) return j.cls;
    const steps = Math.floor((now - j.report.submittedAt) / this.opts.agingMs);
    return Math.max(1, j.cls - steps);
  }

  private order(now: number): Job[] {
    return [...this.queue].sort((a, b) => {
      const ea = this.effectiveClass(a, now);
      const eb = this.effectiveClass(b, now);
      if (ea !== eb) return ea - eb;
      // Sealing work aged up to the Window PoSt class competes with it by age alone.
      if (a.cls !== b.cls) return a.report.submittedAt - b.report.submittedAt || a.cls - b.cls;
      const pa = a.spec.priority ?? 0;
      const pb = b.spec.priority ?? 0;
      if (pa !== pb) return pb - pa;
      return a.report.submittedAt - b.report.submittedAt || a.report.id - b.report.id;
    });
  }

  private schedule(): void {
    if (this.closed) return;
    const now = this.now();
    this.expire(now);
    for (const job of this.order(now)) {
      const lane = this.lanes.find((l) => !l.job && job.cls <= l.maxClass);
      if (!lane) continue;
      // CPU host: a Window PoSt (minutes of window) does not start while a Winning PoSt (one
      // epoch) runs on the same device; sharing the cores could cost the block.
      if (this.opts.throttle && job.pause === 'winning' && now < this.yieldsUntil(job) && this.lanes.some((l) => l.device === lane.device && l.job && l.job.cls === 0 && !l.job.settled)) continue;
      this.start(job, lane, now);
    }
    this.updateThrottle();
    this.armTimers(now);
  }

  private start(job: Job, lane: Lane, now: number): void {
    this.queue.splice(this.queue.indexOf(job), 1);
    lane.job = job;
    const r = job.report;
    r.state = 'running';
    r.lane = lane.name;
    r.startedAt = now;
    r.waitMs = now - r.submittedAt;
    this.emit('started', r);
    // Hold sealing (and, for a Winning PoSt, Window PoSt) back before the PoSt's first
    // instruction, not after.
    if (job.cls <= 1) this.updateThrottle();
    let execution: Execution;
    try {
      execution = this.opts.executorFor(job.spec.kind).start({ id: r.id, kind: job.spec.kind, args: job.spec.args });
    } catch (e) {
      execution = { done: Promise.reject(e) };
    }
    job.execution = execution;
    if (execution.pid !== undefined) r.pid = execution.pid;
    execution.done.then(
      (value) => this.ended(job, lane, value, undefined),
      (err) => this.ended(job, lane, undefined, err ?? new Error('job failed')),
    );
  }

  private ended(job: Job, lane: Lane, value: unknown, err: unknown): void {
    const now = this.now();
    if (job.throttledSince !== undefined) {
      job.report.throttledMs += now - job.throttledSince;
      mbPaused.inc({ class: job.report.class }, (now - job.throttledSince) / 1000);
      job.throttledSince = undefined;
    }
    lane.job = undefined;
    const r = job.report;
    r.finishedAt = now;
    r.runMs = now - (r.startedAt ?? now);
    if (job.pause === 'winning' && err === undefined && !job.settled) this.lastWindowPoStMs = Math.max(0, r.runMs - r.throttledMs);
    if (!job.settled) {
      if (err === undefined) {
        this.finish(job, 'done', undefined, value);
      } else {
        const msg = (err as Error)?.message ?? String(err);
        this.finish(job, 'failed', new MailboxError(`job ${r.id} (${r.kind}) failed: ${msg}`, 'failed', r, err));
      }
    } else {
      // Already answered (deadline or close): record the real end for the report.
      this.emit('ended-late', r);
    }
    this.schedule();
  }

  private finish(job: Job, state: JobState, err?: MailboxError, value?: unknown): void {
    if (job.settled) return;
    job.settled = true;
    const r = job.report;
    r.state = state;
    if (err) r.error = err.message;
    if (state === 'done') this.totals.done++;
    else if (state === 'failed') this.totals.failed++;
    else this.totals.cancelled++;
    this.recent.push(r);
    const keep = this.opts.keepFinished ?? 100;
    if (this.recent.length > keep) this.recent.splice(0, this.recent.length - keep);
    this.emit('finished', r);
    if (err) job.reject(err);
    else job.resolve({ value, report: r });
  }

  /** Cancels queued jobs whose deadline passed, and running ones (their callers are answered now). */
  private expire(now: number): void {
    for (const job of [...this.queue]) {
      if (job.spec.deadline !== undefined && job.spec.deadline <= now) {
        this.queue.splice(this.queue.indexOf(job), 1);
        job.report.waitMs = now - job.report.submittedAt;
        this.finish(job, 'cancelled', new MailboxError(`job ${job.report.id} (${job.spec.kind}): deadline passed after ${job.report.waitMs} ms in the queue; not started`, 'deadline', job.report));
      }
    }
    for (const lane of this.lanes) {
      const job = lane.job;
      if (job && !job.settled && job.spec.deadline !== undefined && job.spec.deadline <= now) {
        job.report.runMs = now - (job.report.startedAt ?? now);
        job.execution?.cancel?.('deadline passed');
        this.finish(job, 'cancelled', new MailboxError(`job ${job.report.id} (${job.spec.kind}): deadline passed after ${job.report.runMs} ms of running; abandoned`, 'deadline', job.report));
      }
    }
  }

  /**
   * Until when a Window PoSt gives way to Winning PoSt (waits to start, or is paused): half-way
   * from its submission to its deadline, or its deadline less twice the last Window PoSt's
   * run time if that is sooner. A job without a deadline always gives way.
   */
  private yieldsUntil(j: Job): number {
    const d = j.spec.deadline;
    if (j.pause !== 'winning' || d === undefined) return Infinity;
    return Math.min(j.report.submittedAt + (d - j.report.submittedAt) / 2, d - 2 * this.lastWindowPoStMs);
  }

  /**
   * While any PoSt runs, every running sealing job is throttled; released when none runs. While
   * a Winning PoSt runs, a running Window PoSt is throttled too (it has a window of minutes, the
   * Winning PoSt one epoch), where its executor can pause it (a proof process), until
   * `yieldsUntil`.
   */
  private updateThrottle(): void {
    if (!this.opts.throttle) return;
    const now = this.now();
    const postRunning = this.lanes.some((l) => l.job && l.job.cls <= 1 && !l.job.settled);
    const winningRunning = this.lanes.some((l) => l.job && l.job.cls === 0 && !l.job.settled);
    // A Window PoSt past its yield point runs beside the Winning PoSts, but "beside" is not
    // enough where the Winning PoSt's process outranks it (nice -20 in a session of its own):
    // it would still get a few percent of the CPU and miss its deadline. So then the Winning
    // PoSt is the one held (where its executor can), until no such Window PoSt runs: a block is
    // worth one round, a missed deadline the power of every sector in it.
    const windowDue = this.lanes.some((l) => l.job && l.job.pause === 'winning' && !l.job.settled && now >= this.yieldsUntil(l.job));
    for (const l of this.lanes) {
      const j = l.job;
      // Only what its executor can hold back is counted as throttled (not an in-process proof).
      if (!j || !j.execution?.throttle) continue;
      if (j.pause === 'never' && j.cls !== 0) continue;
      const hold = j.cls === 0 ? windowDue : j.pause === 'winning' ? winningRunning && now < this.yieldsUntil(j) : postRunning;
      if (hold && j.throttledSince === undefined) {
        j.throttledSince = now;
        safe(() => j.execution?.throttle?.());
        this.emit('throttled', j.report);
      } else if (!hold && j.throttledSince !== undefined) {
        j.report.throttledMs += now - j.throttledSince;
        mbPaused.inc({ class: j.report.class }, (now - j.throttledSince) / 1000);
        j.throttledSince = undefined;
        safe(() => j.execution?.unthrottle?.());
        this.emit('unthrottled', j.report);
      }
    }
  }

  private armTimers(now: number): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    let next = Infinity;
    for (const j of this.queue) if (j.spec.deadline !== undefined) next = Math.min(next, j.spec.deadline);
    for (const l of this.lanes) if (l.job && !l.job.settled && l.job.spec.deadline !== undefined) next = Math.min(next, l.job.spec.deadline);
    // A Window PoSt that stops giving way to Winning PoSt is started or resumed then.
    if (this.opts.throttle) {
      for (const j of [...this.queue, ...this.lanes.map((l) => l.job)]) {
        if (j && !j.settled && j.pause === 'winning') {
          const y = this.yieldsUntil(j);
          if (y > now) next = Math.min(next, y);
        }
      }
    }
    if (next < Infinity) {
      // Not unref'd: someone is waiting on that job's answer.
      this.deadlineTimer = setTimeout(() => this.schedule(), Math.max(0, next - now) + 1);
    }
  }

  /** Queued jobs by class (cheap: for metrics at scrape time). */
  queuedByClass(): Record<JobClass, number> {
    const q = Object.fromEntries(JOB_CLASSES.map((c) => [c, 0])) as Record<JobClass, number>;
    for (const j of this.queue) q[JOB_CLASSES[j.cls]]++;
    return q;
  }

  /** Each lane and the class of the job it runs (undefined: idle). */
  laneJobs(): { lane: string; class?: JobClass }[] {
    return this.lanes.map((l) => ({ lane: l.name, class: l.job && !l.job.settled ? JOB_CLASSES[l.job.cls] : undefined }));
  }

  throttledNow(): number {
    return this.lanes.filter((l) => l.job?.throttledSince !== undefined).length;
  }

  /**
   * Cancels one job its submitter no longer wants: a queued one is dropped, a running one's
   * executor is asked to stop (a proof process is killed; its lane is free once it has
   * exited). Its caller gets a 'cancelled' error at once. An executor that cannot stop its
   * work (in-process) keeps the lane until the work ends, so nothing runs beside it unasked.
   * False when the job is not queued or running.
   */
  cancel(id: number, reason: string): boolean {
    const now = this.now();
    const queued = this.queue.find((j) => j.report.id === id);
    const job = queued ?? this.lanes.find((l) => l.job?.report.id === id && !l.job.settled)?.job;
    if (!job) return false;
    if (queued) {
      this.queue.splice(this.queue.indexOf(queued), 1);
      job.report.waitMs = now - job.report.submittedAt;
    } else {
      job.report.runMs = now - (job.report.startedAt ?? now);
      job.execution?.cancel?.(reason);
    }
    this.finish(job, 'cancelled', new MailboxError(`job ${id} (${job.spec.kind}) cancelled${queued ? '' : ` after ${job.report.runMs} ms of running`}: ${reason}`, 'cancelled', job.report));
    this.schedule();
    return true;
  }

  /** Cancels the queued (not running) jobs `pred` selects, e.g. those of an actor that died. */
  cancelQueued(pred: (r: JobReport) => boolean, reason: string): number {
    let n = 0;
    for (const job of [...this.queue]) {
      if (!pred(job.report)) continue;
      this.queue.splice(this.queue.indexOf(job), 1);
      job.report.waitMs = this.now() - job.report.submittedAt;
      this.finish(job, 'cancelled', new MailboxError(`job ${job.report.id} (${job.spec.kind}) cancelled: ${reason}`, 'cancelled', job.report));
      n++;
    }
    return n;
  }

  status(): MailboxStatus {
    const now = this.now();
    const queued = Object.fromEntries(JOB_CLASSES.map((c) => [c, 0])) as Record<JobClass, number>;
    for (const j of this.queue) queued[JOB_CLASSES[j.cls]]++;
    const live = (j: Job): JobReport => {
      const r = { ...j.report };
      if (r.state === 'queued') r.waitMs = now - r.submittedAt;
      if (r.state === 'running') r.runMs = now - (r.startedAt ?? now);
      if (j.throttledSince !== undefined) r.throttledMs += now - j.throttledSince;
      return r;
    };
    const running = this.lanes.filter((l) => l.job).map((l) => live(l.job!));
    return {
      queued,
      running,
      queue: this.order(now).map(live),
      lanes: this.lanes.map((l) => ({ name: l.name, accepts: JOB_CLASSES.filter((_, i) => i <= l.maxClass), job: l.job?.report.id })),
      recent: this.recent.map((r) => ({ ...r })),
      totals: { ...this.totals },
      throttle: this.opts.throttle,
      throttledNow: this.lanes.filter((l) => l.job?.throttledSince !== undefined).length,
    };
  }

  /** Cancels everything queued, abandons running jobs, closes the executors. */
  async close(executors: Executor[] = []): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unlist();
    clearTimeout(this.deadlineTimer);
    for (const job of this.queue.splice(0)) {
      this.finish(job, 'cancelled', new MailboxError(`job ${job.report.id} (${job.spec.kind}) cancelled: the mailbox is closing`, 'closed', job.report));
    }
    for (const l of this.lanes) {
      const j = l.job;
      if (!j) continue;
      safe(() => j.execution?.unthrottle?.());
      safe(() => j.execution?.cancel?.('mailbox closing'));
      this.finish(j, 'cancelled', new MailboxError(`job ${j.report.id} (${j.spec.kind}) abandoned: the mailbox is closing`, 'closed', j.report));
    }
    await Promise.all(executors.map((e) => e.close?.().catch(() => undefined)));
  }
}

function safe(f: () => void): void {
  try {
    f();
  } catch {
    // A process that already exited cannot be signalled; its exit is reported by the executor.
  }
}
