// bench/mailbox: (1) Winning PoSt queue wait and latency under a saturating sealing load, with
// the GPU mailbox and with a plain FIFO queue of the same concurrency, in the same run; (2)
// restart latency of a crashed role actor (real worker threads, real role module).
//
// (1) uses simulated jobs with the durations measured on this 2-core CPU host
// (docs/proofs-notes.md): Commit2 45 s, PreCommit2 (2KiB) ~0.03 s but 32GiB-like 10 s is used
// as "other sealing", Winning PoSt 4.1 s alone and 8.35 s beside an unthrottled Commit2 (2.0×),
// Window PoSt 1.3 s. Time is scaled down (DISTMINER_BENCH_SCALE, default 1/200) and reported
// back in real seconds; waits scale linearly, so the ratio is scale-free.
//   node dist/bench/mailbox.js
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Execution, type Executor, Mailbox } from '../actors/mailbox.js';
import { Supervisor } from '../actors/supervisor.js';
import { machine, stats, table, writeResult } from './common.js';

const SCALE = Number(process.env.DISTMINER_BENCH_SCALE ?? 1 / 200);
const WINNING = Number(process.env.DISTMINER_BENCH_WINNING ?? 150);
const REAL = { commit2: 45_000, seal: 10_000, winning: 4_100, winningContended: 8_350, window: 1_300 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Simulated proofs: a PoSt runs 2× slower while an unthrottled sealing job runs beside it. */
class SimExecutor implements Executor {
  runningSealing = new Set<{ throttled: boolean }>();
  start(job: { kind: string }): Execution {
    const sealing = !job.kind.endsWith('-post');
    if (sealing) {
      const h = { throttled: false };
      this.runningSealing.add(h);
      // A throttled job makes no progress: model it by extending its run while paused.
      let remaining = (job.kind === 'commit2' ? REAL.commit2 : REAL.seal) * SCALE;
      let startedAt = Date.now();
      let timer: NodeJS.Timeout;
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      const arm = () =>
        (timer = setTimeout(() => {
          this.runningSealing.delete(h);
          resolve();
        }, remaining));
      arm();
      return {
        done,
        throttle: () => {
          h.throttled = true;
          clearTimeout(timer);
          remaining -= Date.now() - startedAt;
        },
        unthrottle: () => {
          h.throttled = false;
          startedAt = Date.now();
          arm();
        },
      };
    }
    const contended = [...this.runningSealing].some((h) => !h.throttled);
    const ms = job.kind === 'winning-post' ? (contended ? REAL.winningContended : REAL.winning) : REAL.window * (contended ? 2 : 1);
    return { done: sleep(ms * SCALE) };
  }
}

/** The baseline: one FIFO queue, same number of concurrent jobs, no classes, no throttling. */
class Fifo {
  private queue: Array<{ kind: string; submitted: number; resolve(r: { waitMs: number; runMs: number }): void }> = [];
  private running = 0;
  constructor(
    private readonly lanes: number,
    private readonly ex: SimExecutor,
  ) {}
  submit(kind: string): Promise<{ waitMs: number; runMs: number }> {
    return new Promise((resolve) => {
      this.queue.push({ kind, submitted: Date.now(), resolve });
      this.pump();
    });
  }
  private pump(): void {
    while (this.running < this.lanes && this.queue.length) {
      const j = this.queue.shift()!;
      this.running++;
      const started = Date.now();
      void this.ex.start({ kind: j.kind }).done.then(() => {
        this.running--;
        j.resolve({ waitMs: started - j.submitted, runMs: Date.now() - started });
        this.pump();
      });
    }
  }
}

interface Sample {
  waitMs: number;
  runMs: number;
}

/** Keeps `depth` sealing jobs queued at all times; Winning PoSts arrive at random. */
async function workload(submit: (kind: string) => Promise<Sample>, stop: () => boolean): Promise<Sample[]> {
  const depth = 6;
  let outstanding = 0;
  let n = 0;
  const feed = () => {
    while (!stop() && outstanding < depth) {
      outstanding++;
      const kind = n++ % 3 === 2 ? 'precommit2' : 'commit2';
      void submit(kind)
        .catch(() => undefined) // cancelled when the run ends
        .then(() => {
          outstanding--;
          feed();
        });
    }
  };
  feed();
  // Let the sealing queue fill and lanes saturate first.
  await sleep(REAL.commit2 * SCALE * 0.5);
  const samples: Sample[] = [];
  const windows: Promise<unknown>[] = [];
  for (let i = 0; i < WINNING; i++) {
    // Arrivals: exponential gaps, mean one epoch (30 s), so PoSts land at every phase of a C2.
    await sleep(-Math.log(1 - Math.random()) * 30_000 * SCALE);
    if (i % 10 === 5) windows.push(submit('window-post'));
    samples.push(await submit('winning-post'));
  }
  await Promise.all(windows);
  return samples;
}

async function queueing() {
  const lanes = { devices: 1, winningLanes: 1, postLanes: 1, sealLanes: 1 };
  const total = lanes.winningLanes + lanes.postLanes + lanes.sealLanes;
  const toReal = (ms: number) => ms / SCALE / 1000;

  // Mailbox.
  const ex1 = new SimExecutor();
  const mb = new Mailbox({ ...lanes, agingMs: 600_000 * SCALE, throttle: true, executorFor: () => ex1 });
  let stopped1 = false;
  const mbSamples = await workload(
    async (kind) => {
      const r = await mb.submit({ kind, args: [] }).result;
      return { waitMs: r.report.waitMs, runMs: r.report.runMs };
    },
    () => stopped1,
  );
  stopped1 = true;
  const sealingDone = mb.status().totals.done - WINNING - Math.floor((WINNING + 4) / 10);
  await mb.close();

  // Plain FIFO with the same concurrency.
  const ex2 = new SimExecutor();
  const fifo = new Fifo(total, ex2);
  let stopped2 = false;
  const fifoSamples = await workload(
    (kind) => fifo.submit(kind),
    () => stopped2,
  );
  stopped2 = true;

  const summarise = (s: Sample[]) => {
    const w = stats(s.map((x) => toReal(x.waitMs)));
    const l = stats(s.map((x) => toReal(x.waitMs + x.runMs)));
    return { waitP50s: w.p50, waitP99s: w.p99, latencyP50s: l.p50, latencyP99s: l.p99, runs: w.runs };
  };
  const m = summarise(mbSamples);
  const f = summarise(fifoSamples);
  return {
    lanes,
    concurrency: total,
    scale: SCALE,
    sealingJobsCompletedWithMailbox: sealingDone,
    mailbox: m,
    fifo: f,
    waitP99Ratio: f.waitP99s / Math.max(m.waitP99s, 1e-9),
    latencyP99Ratio: f.latencyP99s / m.latencyP99s,
  };
}

async function restartLatency() {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-bench-sup-'));
  const n = Number(process.env.DISTMINER_BENCH_RESTARTS ?? 40);
  const sup = new Supervisor({
    children: [
      { id: 'seal', module: new URL('../actors/roles/seal.js', import.meta.url).href, restart: 'permanent', backoff: { initialMs: 1, maxMs: 1, jitter: 0 } },
      { id: 'deal', module: new URL('../actors/roles/deal.js', import.meta.url).href, restart: 'permanent', backoff: { initialMs: 1, maxMs: 1, jitter: 0 } },
    ],
    intensity: { maxRestarts: n + 10, withinMs: 1000 },
    stateDir: dir,
    allowCrash: true,
  });
  const seal = () => sup.status().actors.find((a) => a.id === 'seal')!;
  sup.start();
  while (sup.status().actors.some((a) => a.status !== 'running')) await sleep(5);
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    sup.sendEvent('seal', { type: 'SET', key: 'i', value: i });
    await sleep(20);
    const t0 = performance.now();
    sup.crash('seal', 'throw');
    while (!(seal().restarts === i + 1 && seal().status === 'running')) await sleep(1);
    samples.push(performance.now() - t0);
  }
  const sibling = await sup.ping('deal');
  await sup.stop();
  rmSync(dir, { recursive: true, force: true });
  const s = stats(samples);
  return { crashes: n, how: 'uncaught exception in the worker', backoffMs: 1, p50ms: s.p50, p99ms: s.p99, min: s.min, max: s.max, siblingStillAnswering: sibling === 'running' };
}

const q = await queueing();
const r = await restartLatency();
process.stdout.write(
  `Winning PoSt under a saturating sealing load (${q.mailbox.runs} PoSts each; times in real seconds, simulated at ${q.scale}×)\n` +
    table(
      ['queue', 'wait p50', 'wait p99', 'latency p50', 'latency p99'],
      [
        ['mailbox', q.mailbox.waitP50s, q.mailbox.waitP99s, q.mailbox.latencyP50s, q.mailbox.latencyP99s],
        ['plain FIFO', q.fifo.waitP50s, q.fifo.waitP99s, q.fifo.latencyP50s, q.fifo.latencyP99s],
      ],
    ) +
    `\nFIFO/mailbox p99 latency ratio: ${q.latencyP99Ratio.toFixed(1)}×  (p99 wait: ${q.mailbox.waitP99s.toFixed(3)} s vs ${q.fifo.waitP99s.toFixed(1)} s)\n\n` +
    `Restart latency of a crashed actor (${r.crashes} crashes, backoff ${r.backoffMs} ms): p50 ${r.p50ms.toFixed(1)} ms, p99 ${r.p99ms.toFixed(1)} ms\n`,
);
const path = writeResult('mailbox', { machine: machine(), winningPoStUnderSealingLoad: q, restartLatency: r });
process.stdout.write(`written ${path}\n`);
