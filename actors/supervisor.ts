// The supervisor: on the main thread, starts each role actor in its own worker thread,
// restarts what crashes (one-for-one), owns the host's GPU mailbox and routes proof jobs
// between the actors and it, and answers status.
//
// Child spec per role: restart type
//   permanent — always restarted, whatever the exit;
//   transient — restarted only after an abnormal exit (crash, non-zero exit, FAIL);
//   temporary — never restarted;
// exponential backoff with jitter between restarts of one child (reset once it has run for
// the intensity window); restart intensity: more than `maxRestarts` restarts (all children
// together) within `withinMs` → escalate: log fatal, stop everything, and let the caller exit
// non-zero so the host's service manager takes over.
//
// A crash is any of: an uncaught exception or unhandled rejection in the worker, the worker
// calling process.exit, exceeding its resourceLimits heap, or missing heartbeats (a role stuck
// in a synchronous loop). None of them touches the other workers.
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type ResourceLimits, Worker } from 'node:worker_threads';
import { logger } from '../src/log.js';
import { decode, encode } from './codec.js';
import { type JobReport, type Mailbox, MailboxError, type MailboxStatus } from './mailbox.js';
import type { CrashHow, FromWorker, ToWorker, WorkerInit } from './protocol.js';
import { LiveSet, type MetricsJson, counter, gauge, withLabels } from '../src/metrics/index.js';

const log = logger('supervisor');

// Every status word (a new one in ChildStatusWord fails to compile until it is listed here).
const STATUS_WORDS = Object.keys({ starting: 1, running: 1, restarting: 1, stopped: 1, done: 1, failed: 1 } satisfies Record<ChildStatusWord, 1>) as ChildStatusWord[];
const live = new LiveSet<Supervisor>();
gauge({
  name: 'distminer_actor_up',
  help: '1 while the role actor is running, else 0',
  labelNames: ['role'],
  collect() {
    this.reset();
    for (const sup of live) for (const a of sup.status().actors) this.set({ role: a.id }, a.status === 'running' ? 1 : 0);
  },
});
gauge({
  name: 'distminer_actor_status',
  help: "The role actor's supervisor status: 1 for its current status word, 0 for the others",
  labelNames: ['role', 'status'],
  collect() {
    this.reset();
    for (const sup of live) for (const a of sup.status().actors) for (const w of STATUS_WORDS) this.set({ role: a.id, status: w }, a.status === w ? 1 : 0);
  },
});
gauge({
  name: 'distminer_actor_degraded',
  help: '1 while a running role actor says it is not doing its job fully (chain node gone, last deadline missed); the reason is in `distminer status`',
  labelNames: ['role'],
  collect() {
    this.reset();
    for (const sup of live) for (const a of sup.status().actors) this.set({ role: a.id }, a.degraded ? 1 : 0);
  },
});
gauge({
  name: 'distminer_actor_heartbeat_age_seconds',
  help: "Seconds the running role actor's thread has left the supervisor's heartbeat (sent every second) unanswered, not counting stalls of the supervisor's own thread; 0 when it answered the last; a stuck thread is terminated at 30 s",
  labelNames: ['role'],
  collect() {
    this.reset();
    for (const sup of live) for (const [role, age] of sup.heartbeatAges()) this.set({ role }, age / 1000);
  },
});
gauge({
  name: 'distminer_supervisor_escalated',
  help: '1 once restart intensity was exceeded and the miner is stopping',
  collect() {
    let e = 0;
    for (const sup of live) if (sup.status().escalated) e = 1;
    this.set(e);
  },
});
const restartsTotal = counter({ name: 'distminer_actor_restarts_total', help: 'Restarts of a role actor by the supervisor', labelNames: ['role'] });
const exitsTotal = counter({ name: 'distminer_actor_exits_total', help: "Exits of a role actor's worker thread, abnormal (crash, failure) or not", labelNames: ['role', 'abnormal'] });
const scrapeMisses = counter({
  name: 'distminer_actor_metrics_timeouts_total',
  help: 'Scrapes in which a role actor did not send its metrics in time (its samples are missing from that scrape)',
  labelNames: ['role'],
});

export type RestartType = 'permanent' | 'transient' | 'temporary';

export interface BackoffSpec {
  initialMs: number;
  maxMs: number;
  /** 0..1: the delay is drawn from [d·(1-jitter), d]. */
  jitter?: number;
}

export interface ChildSpec {
  id: string;
  /** File URL of the role module (exports createRole). */
  module: string;
  restart: RestartType;
  backoff: BackoffSpec;
  options?: Record<string, unknown>;
  resourceLimits?: ResourceLimits;
  /** Time the child gets to persist and stop on shutdown before it is terminated. */
  shutdownMs?: number;
  /** Persist the actor's snapshot (default true). */
  persist?: boolean;
}

export interface SupervisorOptions {
  children: ChildSpec[];
  intensity: { maxRestarts: number; withinMs: number };
  /** Directory of the persisted snapshots (<repo>/actors). */
  stateDir: string;
  mailbox?: Mailbox;
  /** Accept crash drills (tests, benchmarks). */
  allowCrash?: boolean;
  heartbeatMs?: number;
  /** A child that has not answered a heartbeat for this long is terminated and counts as crashed. */
  heartbeatTimeoutMs?: number;
  /**
   * A running child that has not answered a heartbeat for this long is reported as
   * unresponsive in `status()` (and so on the web page and in `distminer status`) until it
   * answers again or is terminated at heartbeatTimeoutMs, and is not asked for its metrics
   * meanwhile. Default 3 s: three missed beats.
   */
  unresponsiveAfterMs?: number;
}

export type ChildStatusWord = 'starting' | 'running' | 'restarting' | 'stopped' | 'done' | 'failed';

export interface ChildStatus {
  id: string;
  restart: RestartType;
  status: ChildStatusWord;
  /** The actor's XState state (e.g. "running"). */
  state: string;
  detail: string;
  /** Why the running actor is degraded (its role said so with HEALTH); absent when healthy. */
  degraded?: string;
  /**
   * How long the running actor's thread has not answered the supervisor's heartbeat (ms);
   * present only past `unresponsiveAfterMs` (a thread stuck in a loop, or starved of CPU).
   */
  unansweredMs?: number;
  /** Since the current incarnation started (ms); 0 if not running. */
  uptimeMs: number;
  restarts: number;
  lastExit?: { at: number; reason: string; abnormal: boolean };
  threadId?: number;
  restoredSnapshot: boolean;
  context?: Record<string, unknown>;
}

export interface SupervisorStatus {
  uptimeMs: number;
  escalated: boolean;
  actors: ChildStatus[];
  mailbox?: MailboxStatus;
}

interface Child {
  spec: ChildSpec;
  worker?: Worker;
  status: ChildStatusWord;
  state: string;
  detail: string;
  context?: Record<string, unknown>;
  startedAt: number;
  restarts: number;
  consecutive: number;
  lastExit?: ChildStatus['lastExit'];
  crashError?: string;
  finished?: 'final' | 'failed';
  restored: boolean;
  restartTimer?: NodeJS.Timeout;
  /**
   * When the oldest heartbeat the thread has not answered yet was sent (undefined: it answered
   * them all). The age of a silent thread is measured from it, less any time the supervisor's
   * own thread was stalled (see lagMs()).
   */
  unansweredSince?: number;
  pings: Map<number, (v: string) => void>;
  /** Questions sent to the worker (metrics, log levels) by id: answered, or undefined when it exits. */
  asks: Map<number, (v: unknown) => void>;
  /** The actor's proof jobs in flight: its own job id → the mailbox's. */
  jobs: Map<number, number>;
  incarnation: number;
}

const WORKER_HOST = new URL('./worker-host.js', import.meta.url);

export class Supervisor extends EventEmitter {
  private readonly children = new Map<string, Child>();
  private readonly restartTimes: number[] = [];
  private readonly startedAt = Date.now();
  private stopping = false;
  private escalated = false;
  private heartbeat?: NodeJS.Timeout;
  private nextPing = 1;
  /** When beat() last ran: a beat overdue by much means this thread, not the actors', stalled. */
  private lastBeat = 0;

  constructor(private readonly opts: SupervisorOptions) {
    super();
    const ids = new Set<string>();
    for (const s of opts.children) {
      if (ids.has(s.id)) throw new Error(`two child specs named "${s.id}"`);
      ids.add(s.id);
      if (!(s.backoff.initialMs > 0) || s.backoff.maxMs < s.backoff.initialMs) throw new Error(`child ${s.id}: backoff needs 0 < initialMs ≤ maxMs`);
    }
    mkdirSync(opts.stateDir, { recursive: true });
  }

  get mailbox(): Mailbox | undefined {
    return this.opts.mailbox;
  }

  start(): void {
    for (const spec of this.opts.children) {
      const c: Child = {
        spec,
        status: 'starting',
        state: 'starting',
        detail: '',
        startedAt: 0,
        restarts: 0,
        consecutive: 0,
        restored: false,
        pings: new Map(),
        asks: new Map(),
        jobs: new Map(),
        incarnation: 0,
      };
      // Zero series from the start, so that rate() and increase() see the first restart.
      restartsTotal.inc({ role: spec.id }, 0);
      this.children.set(spec.id, c);
      this.spawn(c);
    }
    const every = this.opts.heartbeatMs ?? 1000;
    this.heartbeat = setInterval(() => this.beat(), every);
    this.heartbeat.unref();
    this.unlist = live.add(this);
  }

  private unlist?: () => void;

  private snapshotPath(spec: ChildSpec): string | undefined {
    return spec.persist === false ? undefined : join(this.opts.stateDir, `${spec.id}.json`);
  }

  private spawn(c: Child): void {
    const { spec } = c;
    const init: WorkerInit = { id: spec.id, module: spec.module, snapshotPath: this.snapshotPath(spec), options: spec.options ?? {}, allowCrash: !!this.opts.allowCrash };
    const w = new Worker(WORKER_HOST, { workerData: init, resourceLimits: spec.resourceLimits, name: `actor:${spec.id}` });
    c.worker = w;
    c.status = 'starting';
    c.startedAt = Date.now();
    c.unansweredSince = undefined;
    c.crashError = undefined;
    c.finished = undefined;
    c.incarnation++;
    const incarnation = c.incarnation;
    w.on('message', (raw: Uint8Array) => this.onMessage(c, incarnation, decode<FromWorker>(raw)));
    w.on('error', (e: Error & { code?: string }) => {
      c.crashError = e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? `out of memory (resourceLimits): ${e.message}` : e.message;
    });
    w.on('exit', (code) => this.onExit(c, w, code));
  }

  private send(c: Child, m: ToWorker): void {
    c.worker?.postMessage(encode(m));
  }

  private onMessage(c: Child, incarnation: number, m: FromWorker): void {
    if (incarnation !== c.incarnation) return;
    switch (m.t) {
      case 'state':
        c.state = m.value;
        c.context = m.context;
        c.detail = String((m.context as { detail?: unknown }).detail ?? '');
        c.restored = m.restored;
        // Up once its machine left `idle` (started fresh, or resumed from its snapshot).
        if (c.status === 'starting' && m.value !== 'idle') c.status = 'running';
        this.emit('state', c.spec.id, m.value);
        break;
      case 'pong': {
        // Any answer shows the thread's loop turning: nothing is outstanding any more.
        c.unansweredSince = undefined;
        const r = c.pings.get(m.id);
        c.pings.delete(m.id);
        r?.(m.value);
        break;
      }
      case 'done':
        c.finished = m.reason;
        if (m.error) c.crashError = m.error;
        break;
      case 'submit':
        this.submitJob(c, incarnation, m);
        break;
      case 'cancel-job': {
        const mbId = c.jobs.get(m.id);
        if (mbId !== undefined) this.opts.mailbox?.cancel(mbId, `cancelled by ${c.spec.id}: ${m.reason}`);
        break;
      }
      case 'metrics':
      case 'log': {
        const r = c.asks.get(m.id);
        c.asks.delete(m.id);
        r?.(m.t === 'metrics' ? m.json : m);
        break;
      }
      case 'stopped':
        break;
    }
  }

  private submitJob(c: Child, incarnation: number, m: Extract<FromWorker, { t: 'submit' }>): void {
    const reply = (r: Omit<Extract<ToWorker, { t: 'job-result' }>, 't' | 'id'>) => {
      if (c.incarnation === incarnation) this.send(c, { t: 'job-result', id: m.id, ...r });
    };
    const mb = this.opts.mailbox;
    if (!mb) {
      reply({ ok: false, error: 'this miner has no GPU mailbox', code: 'closed' });
      return;
    }
    const { id: mbId, result } = mb.submit({ kind: m.kind, args: m.args, priority: m.priority, deadline: m.deadline, submitter: `${c.spec.id}#${incarnation}` });
    c.jobs.set(m.id, mbId);
    result
      .then(
        (out) => reply({ ok: true, value: out.value, report: out.report }),
        (e: MailboxError) => reply({ ok: false, error: e.message, code: e.code, report: e.report as JobReport, sectors: e.sectors }),
      )
      .finally(() => c.jobs.delete(m.id));
  }

  private onExit(c: Child, w: Worker, code: number): void {
    if (c.worker !== w) return;
    c.worker = undefined;
    for (const r of c.pings.values()) r('exited');
    c.pings.clear();
    for (const r of c.asks.values()) r(undefined);
    c.asks.clear();
    const id = c.spec.id;
    const normal = code === 0 && c.finished === 'final';
    const reason = normal ? 'finished' : (c.crashError ?? (c.finished === 'failed' ? 'failed' : `exited with code ${code}`));
    c.lastExit = { at: Date.now(), reason, abnormal: !normal };
    exitsTotal.inc({ role: id, abnormal: String(!normal) });
    // Its queued proof jobs are of no use to anyone now.
    this.opts.mailbox?.cancelQueued((r) => r.submitter === `${id}#${c.incarnation}`, `actor ${id} exited`);
    if (this.stopping) {
      c.status = 'stopped';
      return;
    }
    const restart = c.spec.restart === 'permanent' || (c.spec.restart === 'transient' && !normal);
    if (!restart) {
      c.status = normal ? 'done' : 'failed';
      (normal ? log.info : log.error).call(log, { actor: id, reason, restart: c.spec.restart }, `actor ${id} ${normal ? 'finished' : 'exited'}; not restarted (${c.spec.restart})`);
      this.emit('exit', id, c.lastExit);
      return;
    }
    const now = Date.now();
    // Intensity: restarts of all children within the window.
    this.restartTimes.push(now);
    while (this.restartTimes.length && this.restartTimes[0] <= now - this.opts.intensity.withinMs) this.restartTimes.shift();
    if (this.restartTimes.length > this.opts.intensity.maxRestarts) {
      this.escalate(`${this.restartTimes.length} restarts within ${this.opts.intensity.withinMs} ms (limit ${this.opts.intensity.maxRestarts}); last: actor ${id} ${reason}`);
      return;
    }
    if (now - c.startedAt >= this.opts.intensity.withinMs) c.consecutive = 0;
    c.consecutive++;
    const b = c.spec.backoff;
    const base = Math.min(b.maxMs, b.initialMs * 2 ** (c.consecutive - 1));
    const jitter = b.jitter ?? 0.5;
    const delay = Math.round(base * (1 - jitter * Math.random()));
    c.status = 'restarting';
    c.restarts++;
    restartsTotal.inc({ role: id });
    log.warn({ actor: id, reason, delayMs: delay, restarts: c.restarts }, `actor ${id} ${normal ? 'finished' : 'crashed'} (${reason}); restarting in ${delay} ms`);
    this.emit('exit', id, c.lastExit);
    c.restartTimer = setTimeout(() => {
      c.restartTimer = undefined;
      if (this.stopping) return;
      this.spawn(c);
      this.emit('restarted', id);
    }, delay);
  }

  private escalate(why: string): void {
    if (this.escalated) return;
    this.escalated = true;
    log.fatal({ why }, `restart intensity exceeded: ${why}; stopping this miner so the service manager can take over`);
    this.emit('escalate', why);
  }

  private beat(): void {
    const timeout = this.opts.heartbeatTimeoutMs ?? 30_000;
    const now = Date.now();
    // This thread stalled (a long synchronous task, a paused process, a starved CPU): the pongs
    // that came meanwhile wait unread in the ports, so that time is not the actors' silence.
    const lag = this.lagMs(now);
    this.lastBeat = now;
    if (lag > 0) for (const c of this.children.values()) if (c.unansweredSince !== undefined) c.unansweredSince += lag;
    for (const c of this.children.values()) {
      if (!c.worker || this.stopping) continue;
      const silent = this.silentMs(c, now);
      if (silent > timeout) {
        c.crashError = `unresponsive: no heartbeat answer for ${silent} ms`;
        log.error({ actor: c.spec.id }, `actor ${c.spec.id} is unresponsive; terminating its worker`);
        void c.worker.terminate();
        continue;
      }
      c.unansweredSince ??= now;
      this.send(c, { t: 'ping', id: this.nextPing++ });
    }
  }

  /** How far the heartbeat timer is overdue now (this thread's own stall), in ms. */
  private lagMs(now = Date.now()): number {
    if (this.lastBeat === 0) return 0;
    return Math.max(0, now - this.lastBeat - (this.opts.heartbeatMs ?? 1000));
  }

  /** How long `c`'s thread has left a heartbeat unanswered, not counting this thread's own stall. */
  private silentMs(c: Child, now = Date.now()): number {
    if (c.unansweredSince === undefined) return 0;
    return Math.max(0, now - c.unansweredSince - this.lagMs(now));
  }

  /** Round trip to one actor: resolves with its state, or rejects after `timeoutMs`. */
  ping(id: string, timeoutMs = 2000): Promise<string> {
    const c = this.children.get(id);
    if (!c?.worker) return Promise.reject(new Error(`actor ${id} is not running`));
    const pid = this.nextPing++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        c.pings.delete(pid);
        reject(new Error(`actor ${id} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      c.pings.set(pid, (v) => {
        clearTimeout(t);
        if (v === 'exited') reject(new Error(`actor ${id} exited`));
        else resolve(v);
      });
      this.send(c, { t: 'ping', id: pid });
    });
  }

  /**
   * Every running actor's own metrics (its thread's registry as JSON), each sample labelled
   * with `role`. An actor that does not answer within `timeoutMs` is left out of this scrape.
   */
  async collectMetrics(timeoutMs = 2000): Promise<MetricsJson[]> {
    const now = Date.now();
    const asks = [...this.children.values()]
      .filter((c) => c.worker)
      .map(async (c) => {
        // A thread the heartbeat already knows to be silent is not asked (it would only cost
        // this scrape, a web page poll or a peer's cluster view the whole timeout): a miss now.
        if (c.status === 'running' && this.silentMs(c, now) > this.unresponsiveAfterMs()) {
          scrapeMisses.inc({ role: c.spec.id });
          return undefined;
        }
        // Only a thread that is there but does not answer counts as a miss; one that exits while
        // asked (a crash, a restart) is counted by the exit metrics.
        const json = await this.ask<MetricsJson>(
          c,
          (id) => ({ t: 'metrics', id }),
          timeoutMs,
          () => scrapeMisses.inc({ role: c.spec.id }),
        );
        return json && withLabels(json, { role: c.spec.id });
      });
    return (await Promise.all(asks)).filter((j): j is MetricsJson => j !== undefined);
  }

  /**
   * Log levels of every running actor's thread: sets them first if `level` is given (all
   * loggers, or one `component`'s), then lists each thread's components and levels. An actor
   * that does not answer within `timeoutMs` is listed with an error.
   */
  async actorLogLevels(o: { level?: string; component?: string } = {}, timeoutMs = 2000): Promise<Record<string, { changed: number; components: Record<string, string[]>; error?: string }>> {
    const running = [...this.children.values()].filter((c) => c.worker);
    const answers = await Promise.all(running.map((c) => this.ask<Extract<FromWorker, { t: 'log' }>>(c, (id) => ({ t: 'log', id, ...o }), timeoutMs)));
    return Object.fromEntries(
      running.map((c, i) => {
        const a = answers[i];
        return [c.spec.id, a ? { changed: a.changed, components: a.components, ...(a.error ? { error: a.error } : {}) } : { changed: 0, components: {}, error: `no answer within ${timeoutMs} ms` }];
      }),
    );
  }

  /** Sends a question to an actor's thread; its answer, or undefined on timeout (`onTimeout` is called) or exit. */
  private ask<T>(c: Child, msg: (id: number) => ToWorker, timeoutMs: number, onTimeout?: () => void): Promise<T | undefined> {
    return new Promise((resolve) => {
      const id = this.nextPing++;
      const t = setTimeout(() => {
        c.asks.delete(id);
        onTimeout?.();
        resolve(undefined);
      }, timeoutMs);
      c.asks.set(id, (v) => {
        clearTimeout(t);
        resolve(v as T | undefined);
      });
      this.send(c, msg(id));
    });
  }

  /** Forwards an event to an actor's machine. */
  sendEvent(id: string, event: { type: string; [k: string]: unknown }): void {
    const c = this.children.get(id);
    if (!c?.worker) throw new Error(`actor ${id} is not running`);
    this.send(c, { t: 'event', event });
  }

  /** Crash drill (only with allowCrash). */
  crash(id: string, how: CrashHow): void {
    if (!this.opts.allowCrash) throw new Error('crash drills are off');
    const c = this.children.get(id);
    if (!c?.worker) throw new Error(`actor ${id} is not running`);
    this.send(c, { t: 'crash', how });
  }

  private unresponsiveAfterMs(): number {
    return this.opts.unresponsiveAfterMs ?? 3000;
  }

  /** Per running actor: ms its thread has left a heartbeat unanswered (0: it answered the last). */
  heartbeatAges(): [string, number][] {
    const now = Date.now();
    return [...this.children.values()].filter((c) => c.worker && c.status === 'running').map((c) => [c.spec.id, this.silentMs(c, now)]);
  }

  status(): SupervisorStatus {
    const now = Date.now();
    const unresponsiveAfter = this.unresponsiveAfterMs();
    return {
      uptimeMs: now - this.startedAt,
      escalated: this.escalated,
      actors: [...this.children.values()].map((c) => ({
        id: c.spec.id,
        restart: c.spec.restart,
        status: c.status,
        state: c.worker ? c.state : c.status,
        detail: c.detail,
        ...(c.worker && c.status === 'running' && typeof c.context?.degraded === 'string' ? { degraded: c.context.degraded } : {}),
        ...(c.worker && c.status === 'running' && this.silentMs(c, now) > unresponsiveAfter ? { unansweredMs: this.silentMs(c, now) } : {}),
        uptimeMs: c.worker && c.status === 'running' ? now - c.startedAt : 0,
        restarts: c.restarts,
        lastExit: c.lastExit,
        threadId: c.worker?.threadId,
        restoredSnapshot: c.restored,
        context: c.context,
      })),
      mailbox: this.opts.mailbox?.status(),
    };
  }

  /** Every actor gets up to its shutdownMs to persist and stop; then it is terminated. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.heartbeat);
    this.unlist?.();
    const waits: Promise<void>[] = [];
    for (const c of this.children.values()) {
      clearTimeout(c.restartTimer);
      const w = c.worker;
      if (!w) {
        if (c.status === 'restarting' || c.status === 'starting') c.status = 'stopped';
        continue;
      }
      waits.push(
        new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            log.warn({ actor: c.spec.id }, `actor ${c.spec.id} did not stop within ${c.spec.shutdownMs ?? 10_000} ms; terminating`);
            void w.terminate();
          }, c.spec.shutdownMs ?? 10_000);
          w.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          this.send(c, { t: 'shutdown' });
        }),
      );
    }
    await Promise.all(waits);
  }
}
