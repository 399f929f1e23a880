// Where mailbox jobs run.
//
// - Winning PoSt: in a proof-worker process of its own, kept for good, with a started spare
//   beside it (ProofProcessPool `spares`). A round decided without our block (a tipset above
//   its base arrived) kills its process, so the next round's proof gets the cores at once and
//   starts on the spare without waiting for a process to start (measured: the first proof in
//   a fresh process costs no more than later ones at 2KiB). The process stays in the miner's
//   session and its raised priority. In the supervisor's own process a proof could not be
//   stopped: an abandoned one kept half the cores from the next round's.
// - Window PoSt on a GPU host: in the supervisor's process, on the native addon's own thread
//   pool (src/proofs returns a promise computed off the JS thread); the GPU's priority lock
//   orders it after a Winning PoSt.
// - Window PoSt on a CPU host: in a proof-worker process of its own (kept warm, parameters
//   loaded), so the mailbox can SIGSTOP it for the few seconds a Winning PoSt runs; in-process
//   it would share the cores with the Winning PoSt and could cost the block.
// - Sealing proofs (Commit2, PreCommit2, …): in `distminer proof-worker` child processes,
//   one job per process at a time. A process is what the OS can pause (SIGSTOP/SIGCONT) or run
//   at a low nice value while a PoSt needs the CPU, kill when a deadline passes, and lose
//   alone to a native crash or an out-of-memory kill of a 2.6 GiB Commit2.
import { type ChildProcess, spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { logger } from '../src/log.js';
import { readFrames, writeFrame } from './codec.js';
import type { Execution, Executor } from './mailbox.js';
import type { ProofReply } from './proof-worker.js';
import { proofOpOf } from './task-kinds.js';

const log = logger('mailbox');

/** Runs jobs through src/proofs in this process. */
export class InProcessExecutor implements Executor {
  private proofs?: Promise<Record<string, (...a: unknown[]) => Promise<unknown>>>;

  start(job: { id: number; kind: string; args: unknown[] }): Execution {
    const fname = proofOpOf(job.kind);
    if (!fname) return { done: Promise.reject(new Error(`no proof function for job kind "${job.kind}"`)) };
    this.proofs ??= import('../src/proofs/index.js') as unknown as Promise<Record<string, (...a: unknown[]) => Promise<unknown>>>;
    return { done: this.proofs.then((p) => p[fname](...job.args)) };
  }
}

export type ProcessThrottle = 'stop' | 'nice' | 'none';

export interface ProofProcessPoolOptions {
  /** stop: SIGSTOP while a PoSt runs, SIGCONT after. nice: processes always run at nice 19. none. */
  throttle: ProcessThrottle;
  /** An idle process exits after this long, giving its memory (loaded parameters) back. */
  idleMs?: number;
  /** The command to start (default: this distminer's `proof-worker`). */
  command?: { file: string; args: string[] };
  env?: NodeJS.ProcessEnv;
  /**
   * PoSt work: the processes stay in the miner's session, sharing a PoSt host's raised
   * scheduler priority (actors/priority.ts). Otherwise (sealing) each starts a session of its own.
   */
  post?: boolean;
  /**
   * Winning PoSt only: each process leads a session of its own whose autogroup and threads run
   * at WINNING_NICE (actors/priority.ts), above the miner's own -10; where the host does not
   * allow that nice value it stays in the miner's session like any PoSt process.
   */
  winning?: boolean;
  /**
   * Idle processes kept started (addon loaded) beside the busy ones, so a job never waits for a
   * process to start — also right after a cancelled job's process was killed (Winning PoSt).
   */
  spares?: number;
}

interface Proc {
  child: ChildProcess;
  sock: Socket;
  busy?: { id: number; resolve(v: unknown): void; reject(e: Error): void };
  idleTimer?: NodeJS.Timeout;
  stopped: boolean;
  exited: boolean;
  /** Killed by us (a cancelled job, an idle timeout), not died on its own. */
  killed: boolean;
  startedAt: number;
}

export function distminerMain(): string {
  // dist/actors/executors.js → dist/src/main.js
  return fileURLToPath(new URL('../src/main.js', import.meta.url));
}

/** A pool of proof-worker processes; the mailbox's lanes bound how many are busy at once. */
export class ProofProcessPool implements Executor {
  private readonly procs = new Set<Proc>();
  private closed = false;
  private readonly onExit = () => this.killAll();

  constructor(private readonly opts: ProofProcessPoolOptions) {
    // A paused child must never outlive us paused: on our exit, continue and kill it.
    process.on('exit', this.onExit);
    this.topUp();
  }

  /** Starts processes until `spares` are idle (none while closed). */
  private topUp(): void {
    const want = this.opts.spares ?? 0;
    if (this.closed || want === 0) return;
    let idle = [...this.procs].filter((p) => !p.busy && !p.exited).length;
    for (; idle < want; idle++) this.idle(this.spawnProc());
  }

  /** Process ids of the live worker processes. */
  pids(): number[] {
    return [...this.procs].filter((p) => !p.exited).map((p) => p.child.pid!);
  }

  private spawnProc(): Proc {
    const cmd = this.opts.command ?? { file: process.execPath, args: [distminerMain(), 'proof-worker'] };
    // The pid the worker must die with (it checks it is still its parent once it can; see ownSession).
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...this.opts.env,
      DISTMINER_PROOF_PARENT_PID: String(process.pid),
      DISTMINER_PROOF_WORKER_SESSION: this.opts.winning ? 'winning' : this.opts.post ? 'miner' : 'own',
    };
    if (this.opts.throttle === 'nice') env.DISTMINER_PROOF_WORKER_NICE = '19';
    const child = spawn(cmd.file, cmd.args, { stdio: ['ignore', 'inherit', 'inherit', 'pipe'], env });
    const sock = child.stdio[3] as Socket;
    const p: Proc = { child, sock, stopped: false, exited: false, killed: false, startedAt: Date.now() };
    this.procs.add(p);
    readFrames(sock, (m) => {
      const r = m as ProofReply;
      const busy = p.busy;
      if (!busy || busy.id !== r.id) return;
      p.busy = undefined;
      if (r.ok) busy.resolve(r.value);
      else {
        const e = new Error(r.error?.message ?? 'proof failed') as Error & { kind?: string; sectors?: number[] };
        e.name = r.error?.name ?? 'Error';
        e.kind = r.error?.kind;
        if (r.error?.sectors) e.sectors = r.error.sectors;
        busy.reject(e);
      }
      this.idle(p);
    });
    sock.on('error', () => undefined);
    child.on('error', (e) => log.error({ err: e }, 'proof-worker process failed to start'));
    child.on('exit', (code, signal) => {
      p.exited = true;
      clearTimeout(p.idleTimer);
      this.procs.delete(p);
      if (p.busy) {
        const b = p.busy;
        p.busy = undefined;
        b.reject(new Error(`proof-worker process ${child.pid} exited (${signal ? `signal ${signal}` : `code ${code}`}) while computing job ${b.id}`));
      }
      // A spare that keeps dying right after its start (a broken install) is not restarted in
      // a loop: only a process that lived a while, or one killed on purpose, is replaced now.
      if (p.killed || Date.now() - p.startedAt > 5000) this.topUp();
      else if (!this.closed && (this.opts.spares ?? 0) > 0) setTimeout(() => this.topUp(), 5000).unref();
    });
    return p;
  }

  private idle(p: Proc): void {
    clearTimeout(p.idleTimer);
    if (this.closed) {
      this.kill(p);
      return;
    }
    const ms = this.opts.idleMs ?? 120_000;
    if (!Number.isFinite(ms)) return; // kept for good (a warm Winning PoSt process)
    p.idleTimer = setTimeout(() => {
      if (p.busy) return;
      const idle = [...this.procs].filter((x) => !x.busy && !x.exited).length;
      if (idle > (this.opts.spares ?? 0)) this.kill(p, 'SIGTERM'); // the spares stay
    }, ms);
    p.idleTimer.unref();
  }

  start(job: { id: number; kind: string; args: unknown[] }): Execution {
    if (this.closed) return { done: Promise.reject(new Error('the proof process pool is closed')) };
    let p = [...this.procs].find((x) => !x.busy && !x.exited);
    if (!p) p = this.spawnProc();
    clearTimeout(p.idleTimer);
    const proc = p;
    const done = new Promise<unknown>((resolve, reject) => {
      proc.busy = { id: job.id, resolve, reject };
    });
    writeFrame(proc.sock, { id: job.id, op: job.kind, args: job.args });
    this.topUp(); // the next job finds a started process too
    const pid = proc.child.pid;
    return {
      done,
      pid,
      throttle: () => {
        if (this.opts.throttle === 'stop' && !proc.exited) {
          proc.child.kill('SIGSTOP');
          proc.stopped = true;
        }
      },
      unthrottle: () => {
        if (proc.stopped && !proc.exited) proc.child.kill('SIGCONT');
        proc.stopped = false;
      },
      cancel: (reason: string) => {
        log.warn({ job: job.id, pid, reason }, 'killing proof-worker process');
        this.kill(proc);
      },
    };
  }

  private kill(p: Proc, signal: NodeJS.Signals = 'SIGKILL'): void {
    if (p.exited) return;
    p.killed = true;
    try {
      if (p.stopped) p.child.kill('SIGCONT');
      p.child.kill(signal);
    } catch {
      // already gone
    }
  }

  private killAll(): void {
    for (const p of this.procs) this.kill(p);
  }

  async close(): Promise<void> {
    this.closed = true;
    process.off('exit', this.onExit);
    const waits = [...this.procs].map((p) => (p.exited ? Promise.resolve() : new Promise<void>((r) => p.child.once('exit', () => r()))));
    for (const p of this.procs) {
      if (p.busy) this.kill(p);
      else {
        if (p.stopped) p.child.kill('SIGCONT');
        p.sock.end();
        p.idleTimer = setTimeout(() => this.kill(p), 2000);
      }
    }
    await Promise.all(waits);
  }
}
